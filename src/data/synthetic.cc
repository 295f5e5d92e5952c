// Synthetic interactions with the structure recommenders exploit.
//
// Model (all randomness derives from options.seed; see the stream tags below):
//  * Items have a global Zipf popularity: item at popularity rank r (a seeded permutation) gets
//    weight (r + 1)^-popularity_exponent.
//  * Each of `clusters` taste clusters owns items / (2 * clusters) items (at least 20), drawn
//    with probability ~ sqrt(global weight) so blockbusters sit in many tastes, with its own Zipf
//    weights over a seeded order: clusters disagree about what is popular, so co-occurrence
//    carries signal beyond global popularity. The sizes are tuned, not arbitrary: larger tastes
//    (or membership ~ full global weight) make a user's history say little about the next item,
//    and item-item co-occurrence then barely beats popularity in leave-last-out tests; as set,
//    it hits about 1.4-2x as often while the top 1% of items hold 10-15% of interactions at
//    realistic sizes (MovieLens: 7% in ml-100k, 16% in ml-latest-small).
//  * Users get a uniform random cluster. Interactions per user follow a Zipf law over a seeded
//    user ranking, water-filled so that every user has >= 5 and at most `cap` (about half the
//    catalogue) and the total is exactly options.interactions.
//  * A user's items are drawn without replacement from the mixture
//    cluster_affinity * cluster + (1 - cluster_affinity) * global: rejection sampling on alias
//    tables for most users, Efraimidis-Spirakis weighted sampling for the few heavy users
//    whose draws would otherwise be mostly rejections.
//  * Times start at a random moment in 2015-2016 and increase strictly along the draw order,
//    with exponential gaps spreading each user's history over 30 days to 3 years.
//  * Ratings (if enabled) = round(3.2 + user bias + item quality + 0.9 in-cluster / -0.5
//    out-of-cluster + noise), clamped to 1..5.
// Ids are "u1".."uN" and "i1".."iM" (1-based, like MovieLens). Every user's stream is seeded
// from (seed, user), so the output does not depend on the thread count.
#include "data/synthetic.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "marquee/error.h"

namespace marquee {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Stream tags keep the generator's independent random streams apart.
enum Stream : uint64_t {
  kItemOrder = 1,
  kUserOrder = 2,
  kCluster = 3,
  kUser = 4,
  kItemQuality = 5,
};

uint64_t StreamSeed(uint64_t seed, uint64_t stream, uint64_t index) {
  return SplitMix64(SplitMix64(seed ^ SplitMix64(stream)) ^ SplitMix64(index + 0x51ED27ULL));
}

// xoshiro256** (Blackman & Vigna): small, fast and statistically strong.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (uint64_t& w : s_) {
      seed = SplitMix64(seed);
      w = seed;
    }
  }
  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, n) (multiply-shift; the bias is below 2^-32 for our n).
  uint64_t Below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }
  // Uniform in (0, 1): never 0, so log() is finite.
  double Open01() { return (static_cast<double>(Next() >> 11) + 0.5) * 0x1.0p-53; }
  double Normal() {
    // Box-Muller; one of the pair is discarded to keep each call's consumption fixed.
    const double u1 = Open01(), u2 = Open01();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

template <typename T>
void Shuffle(std::vector<T>& v, Rng& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.Below(i)]);
}

// Walker/Vose alias table over `items` with `weights` (O(1) sampling).
class AliasTable {
 public:
  AliasTable(std::vector<uint32_t> items, const std::vector<double>& weights)
      : items_(std::move(items)), prob_(items_.size()), alias_(items_.size()) {
    const size_t n = items_.size();
    const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
    std::vector<double> scaled(n);
    std::vector<uint32_t> small, large;
    for (size_t i = 0; i < n; ++i) {
      scaled[i] = weights[i] * static_cast<double>(n) / total;
      (scaled[i] < 1.0 ? small : large).push_back(static_cast<uint32_t>(i));
    }
    while (!small.empty() && !large.empty()) {
      const uint32_t s = small.back(), l = large.back();
      small.pop_back();
      prob_[s] = scaled[s];
      alias_[s] = l;
      scaled[l] = (scaled[l] + scaled[s]) - 1.0;
      if (scaled[l] < 1.0) {
        large.pop_back();
        small.push_back(l);
      }
    }
    for (uint32_t i : large) prob_[i] = 1.0, alias_[i] = i;
    for (uint32_t i : small) prob_[i] = 1.0, alias_[i] = i;  // rounding leftovers
  }
  uint32_t Sample(Rng& rng) const {
    const uint64_t k = rng.Below(items_.size());
    return items_[rng.Open01() < prob_[k] ? k : alias_[k]];
  }
  const std::vector<uint32_t>& items() const { return items_; }

 private:
  std::vector<uint32_t> items_;
  std::vector<double> prob_;
  std::vector<uint32_t> alias_;
};

// Interactions per user: a Zipf law over `rank` water-filled into [5, cap] summing to `total`.
std::vector<uint32_t> UserCounts(const std::vector<uint32_t>& rank_of_user, uint64_t total,
                                 uint32_t cap, double exponent) {
  constexpr uint32_t kMin = 5;
  const size_t n = rank_of_user.size();
  const double extra = static_cast<double>(total - kMin * static_cast<uint64_t>(n));
  const double cap_extra = static_cast<double>(cap - kMin);
  std::vector<double> w(n);  // by rank, decreasing
  for (size_t r = 0; r < n; ++r) w[r] = std::pow(static_cast<double>(r + 1), -exponent);
  std::vector<double> suffix(n + 1, 0.0);
  for (size_t r = n; r-- > 0;) suffix[r] = suffix[r + 1] + w[r];
  // The capped users are a prefix of the ranking; find the smallest prefix that makes the rest
  // fit under the cap.
  size_t capped = 0;
  double lambda = 0;
  for (;; ++capped) {
    if (capped == n) break;
    lambda = (extra - static_cast<double>(capped) * cap_extra) / suffix[capped];
    if (lambda * w[capped] <= cap_extra) break;
  }
  std::vector<uint64_t> by_rank(n);
  uint64_t assigned = 0;
  for (size_t r = 0; r < n; ++r) {
    const double a = r < capped ? cap_extra : std::min(cap_extra, lambda * w[r]);
    by_rank[r] = static_cast<uint64_t>(std::floor(a));
    assigned += by_rank[r];
  }
  // Hand out the rounding remainder one by one in rank order (never past the cap).
  uint64_t left = total - kMin * static_cast<uint64_t>(n) - assigned;
  for (size_t pass = 0; left > 0 && pass < 2 * n + 2; ++pass) {
    for (size_t r = 0; r < n && left > 0; ++r) {
      if (by_rank[r] < static_cast<uint64_t>(cap - kMin)) {
        ++by_rank[r];
        --left;
      }
    }
  }
  if (left > 0) Fail(ErrorCode::kInternal, "synthetic: could not distribute interactions");
  std::vector<uint32_t> counts(n);
  for (size_t u = 0; u < n; ++u) {
    counts[u] = kMin + static_cast<uint32_t>(by_rank[rank_of_user[u]]);
  }
  return counts;
}

// --- The stages of GenerateSynthetic.

void CheckOptions(const SyntheticOptions& o) {
  const uint64_t U = o.users, I = o.items;
  if (o.users == 0 || o.items < 5) {
    Fail(ErrorCode::kInvalidArgument,
         "synthetic data needs at least 1 user and 5 items (got {} users, {} items)", o.users,
         o.items);
  }
  if (o.users >= UINT32_MAX || o.items >= UINT32_MAX) {
    Fail(ErrorCode::kInvalidArgument, "synthetic data supports fewer than 2^32-1 users and items");
  }
  if (o.interactions < 5 * U) {
    Fail(ErrorCode::kInvalidArgument,
         "synthetic data gives every user at least 5 interactions: {} users need at least {} "
         "interactions, got {}",
         U, 5 * U, o.interactions);
  }
  if (o.interactions > U * I) {
    Fail(ErrorCode::kInvalidArgument,
         "{} interactions do not fit in {} users x {} items without duplicate pairs",
         o.interactions, U, I);
  }
  if (o.clusters == 0 || o.clusters > o.items) {
    Fail(ErrorCode::kInvalidArgument, "clusters must be in [1, items], got {}", o.clusters);
  }
  if (!std::isfinite(o.popularity_exponent) || o.popularity_exponent < 0 ||
      !std::isfinite(o.user_activity_exponent) || o.user_activity_exponent < 0) {
    Fail(ErrorCode::kInvalidArgument, "exponents must be finite and >= 0");
  }
  if (!(o.cluster_affinity >= 0 && o.cluster_affinity <= 1)) {
    Fail(ErrorCode::kInvalidArgument, "cluster_affinity must be in [0, 1], got {}",
         o.cluster_affinity);
  }
}

// Global popularity: Zipf weights over a seeded order of the items.
std::vector<double> GlobalWeights(const SyntheticOptions& o) {
  const uint32_t ni = o.items;
  std::vector<double> global_w(ni);
  std::vector<uint32_t> order(ni);
  std::iota(order.begin(), order.end(), 0u);
  Rng rng(StreamSeed(o.seed, kItemOrder, 0));
  Shuffle(order, rng);
  for (uint32_t r = 0; r < ni; ++r) {
    global_w[order[r]] = std::pow(static_cast<double>(r + 1), -o.popularity_exponent);
  }
  return global_w;
}

AliasTable AllItems(const std::vector<double>& global_w) {
  std::vector<uint32_t> all_items(global_w.size());
  std::iota(all_items.begin(), all_items.end(), 0u);
  return AliasTable(std::move(all_items), global_w);
}

// Cluster tastes: a random subset each, Zipf-weighted in a random order.
struct Tastes {
  uint32_t size = 0;  // items per taste
  size_t words = 0;   // per cluster in `membership`
  std::vector<uint64_t> membership;
  std::vector<AliasTable> tables;
  std::vector<double> totals;  // sum of each taste's weights

  bool Contains(uint32_t c, uint32_t i) const {
    return (membership[c * words + i / 64] >> (i % 64)) & 1;
  }
};

Tastes MakeTastes(const SyntheticOptions& o, const std::vector<double>& global_w) {
  const uint64_t I = o.items;
  const uint32_t ni = o.items, nc = o.clusters;
  Tastes t;
  t.size = static_cast<uint32_t>(std::clamp<uint64_t>(I / (2 * nc), std::min<uint64_t>(I, 20), I));
  t.words = (ni + 63) / 64;
  t.membership.assign(static_cast<size_t>(nc) * t.words, 0);
  t.totals.resize(nc);
  t.tables.reserve(nc);
  for (uint32_t c = 0; c < nc; ++c) {
    Rng rng(StreamSeed(o.seed, kCluster, c));
    // Members are drawn without replacement with probability ~ sqrt(global weight)
    // (Efraimidis-Spirakis keys), so blockbusters belong to many tastes, then shuffled so each
    // cluster ranks its members in its own order.
    std::vector<std::pair<double, uint32_t>> keys(ni);
    for (uint32_t i = 0; i < ni; ++i) {
      keys[i] = {std::log(rng.Open01()) / std::sqrt(global_w[i]), i};
    }
    std::partial_sort(keys.begin(), keys.begin() + t.size, keys.end(),
                      [](const auto& a, const auto& b) {
                        return a.first != b.first ? a.first > b.first : a.second < b.second;
                      });
    std::vector<uint32_t> pick(t.size);
    for (uint32_t k = 0; k < t.size; ++k) pick[k] = keys[k].second;
    Shuffle(pick, rng);
    std::vector<double> w(t.size);
    for (uint32_t r = 0; r < t.size; ++r) {
      w[r] = std::pow(static_cast<double>(r + 1), -o.popularity_exponent);
      t.membership[c * t.words + pick[r] / 64] |= uint64_t{1} << (pick[r] % 64);
    }
    t.totals[c] = std::accumulate(w.begin(), w.end(), 0.0);
    t.tables.emplace_back(std::move(pick), w);
  }
  return t;
}

// Item quality for ratings (empty without ratings).
std::vector<float> ItemQuality(const SyntheticOptions& o) {
  std::vector<float> quality;
  if (o.ratings) {
    quality.resize(o.items);
    Rng rng(StreamSeed(o.seed, kItemQuality, 0));
    for (float& q : quality) q = static_cast<float>(0.5 * rng.Normal());
  }
  return quality;
}

// What users draw from: global popularity, the cluster tastes and the items' quality.
struct ItemModel {
  explicit ItemModel(const SyntheticOptions& o)
      : global_w(GlobalWeights(o)),
        global(AllItems(global_w)),
        global_total(std::accumulate(global_w.begin(), global_w.end(), 0.0)),
        tastes(MakeTastes(o, global_w)),
        quality(ItemQuality(o)) {}

  std::vector<double> global_w;
  AliasTable global;
  double global_total;
  Tastes tastes;
  std::vector<float> quality;
};

// Activity per user: a Zipf law over a seeded ranking of the users.
std::vector<uint32_t> ActivityPerUser(const SyntheticOptions& o) {
  const uint64_t U = o.users, I = o.items;
  const uint32_t nu = o.users;
  const uint32_t cap = static_cast<uint32_t>(
      std::min<uint64_t>(I, std::max<uint64_t>({5, I / 2, (o.interactions + U - 1) / U})));
  std::vector<uint32_t> rank_of_user(nu);
  std::vector<uint32_t> order(nu);
  std::iota(order.begin(), order.end(), 0u);
  Rng rng(StreamSeed(o.seed, kUserOrder, 0));
  Shuffle(order, rng);
  for (uint32_t r = 0; r < nu; ++r) rank_of_user[order[r]] = r;
  return UserCounts(rank_of_user, o.interactions, cap, o.user_activity_exponent);
}

// The interactions as columns, users' rows contiguous in user order.
struct Columns {
  std::vector<uint32_t> users, items;
  std::vector<float> values;
  std::vector<int64_t> times;
};

// Per-thread buffers of DrawInteractions.
struct Scratch {
  std::vector<uint32_t> mark;  // mark[i] == user + 1 when user already has item i
  std::vector<std::pair<double, uint32_t>> keys;
  std::vector<double> cluster_weight;
};

// Efraimidis-Spirakis: key = log(U) / w; the largest keys, in decreasing order, are a weighted
// sample without replacement in draw order.
void DrawWeighted(const SyntheticOptions& o, const ItemModel& m, uint32_t c, uint64_t count,
                  Rng& rng, Scratch& sc, uint32_t* out) {
  const uint32_t ni = o.items;
  const double aff = o.cluster_affinity;
  sc.keys.resize(ni);
  const double tc = m.tastes.totals[c];
  std::vector<double>& cw = sc.cluster_weight;
  cw.assign(ni, 0.0);
  const AliasTable& taste = m.tastes.tables[c];
  for (uint32_t r = 0; r < m.tastes.size; ++r) {
    cw[taste.items()[r]] = std::pow(static_cast<double>(r + 1), -o.popularity_exponent);
  }
  for (uint32_t i = 0; i < ni; ++i) {
    const double w = aff * cw[i] / tc + (1 - aff) * m.global_w[i] / m.global_total;
    sc.keys[i] = {w > 0 ? std::log(rng.Open01()) / w : -HUGE_VAL, i};
  }
  auto greater = [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  };
  std::partial_sort(sc.keys.begin(), sc.keys.begin() + static_cast<ptrdiff_t>(count), sc.keys.end(),
                    greater);
  for (uint64_t k = 0; k < count; ++k) out[k] = sc.keys[k].second;
}

// Rejection sampling on the alias tables of the mixture.
void DrawByRejection(const SyntheticOptions& o, const ItemModel& m, uint32_t u, uint32_t c,
                     uint64_t count, Rng& rng, Scratch& sc, uint32_t* out) {
  const uint32_t ni = o.items;
  if (sc.mark.size() != ni) sc.mark.assign(ni, 0);
  const uint32_t tag = u + 1;
  for (uint64_t k = 0; k < count; ++k) {
    uint32_t item = 0;
    for (int attempt = 0;; ++attempt) {
      // After repeated collisions the cluster is nearly exhausted for this user: fall back
      // to global popularity, and finally to the next free item, so the loop terminates.
      const bool from_cluster = attempt < 32 && rng.Open01() < o.cluster_affinity;
      item = from_cluster ? m.tastes.tables[c].Sample(rng) : m.global.Sample(rng);
      if (sc.mark[item] != tag) break;
      if (attempt > 1000) {
        while (sc.mark[item] == tag) item = item + 1 == ni ? 0 : item + 1;
        break;
      }
    }
    sc.mark[item] = tag;
    out[k] = item;
  }
}

// Every user's items, times and ratings, from the user's own stream (so the result does not
// depend on the thread count).
Columns DrawInteractions(const SyntheticOptions& o, const ItemModel& m,
                         const std::vector<uint32_t>& counts, int threads) {
  const uint32_t nu = o.users, nc = o.clusters;
  std::vector<uint64_t> offsets(static_cast<size_t>(nu) + 1, 0);
  for (uint32_t u = 0; u < nu; ++u) offsets[u + 1] = offsets[u] + counts[u];

  const uint64_t n = o.interactions;
  Columns cols;
  cols.users.resize(n);
  cols.items.resize(n);
  cols.values.resize(o.ratings ? n : 0);
  cols.times.resize(n);
  // Users drawing more than this share of the catalogue use weighted sampling without
  // replacement over all items instead of rejection.
  const uint64_t heavy = std::max<uint64_t>(16, uint64_t{o.items} / 8);
  std::vector<Scratch> scratch(static_cast<size_t>(threads));

  ParallelForDynamic(nu, threads, 256, [&](size_t uu, int t) {
    const uint32_t u = static_cast<uint32_t>(uu);
    Scratch& sc = scratch[static_cast<size_t>(t)];
    Rng rng(StreamSeed(o.seed, kUser, u));
    const uint32_t c = static_cast<uint32_t>(rng.Below(nc));
    const double user_bias = 0.4 * rng.Normal();
    int64_t time = 1420070400 + static_cast<int64_t>(rng.Below(2 * 365 * 86400));
    // Each user's history spans 30 days to 3 years, whatever its length.
    const double span = 30.0 * 86400 + static_cast<double>(rng.Below(1065 * 86400));
    const uint64_t begin = offsets[u], count = counts[u];
    uint32_t* out = cols.items.data() + begin;
    if (count > heavy) {
      DrawWeighted(o, m, c, count, rng, sc, out);
    } else {
      DrawByRejection(o, m, u, c, count, rng, sc, out);
    }
    const double mean_gap = span / static_cast<double>(count + 1);
    for (uint64_t k = 0; k < count; ++k) {
      cols.users[begin + k] = u;
      time += 1 + static_cast<int64_t>(-mean_gap * std::log(rng.Open01()));
      cols.times[begin + k] = time;
      if (o.ratings) {
        const uint32_t i = out[k];
        const double score = 3.2 + user_bias + m.quality[i] +
                             (m.tastes.Contains(c, i) ? 0.9 : -0.5) + 0.6 * rng.Normal();
        cols.values[begin + k] = static_cast<float>(std::clamp(std::round(score), 1.0, 5.0));
      }
    }
  });
  return cols;
}

// The dataset: ids "u1".."uN" and "i1".."iM", and a source naming every option.
Dataset Assemble(const SyntheticOptions& o, Columns cols) {
  std::vector<std::string> user_ids(o.users), item_ids(o.items);
  for (uint32_t u = 0; u < o.users; ++u) user_ids[u] = "u" + std::to_string(u + 1);
  for (uint32_t i = 0; i < o.items; ++i) item_ids[i] = "i" + std::to_string(i + 1);
  const std::string source = fmt::format(
      "synthetic:users={},items={},interactions={},clusters={},popularity_exponent={},"
      "user_activity_exponent={},cluster_affinity={},ratings={},seed={}",
      o.users, o.items, o.interactions, o.clusters, o.popularity_exponent, o.user_activity_exponent,
      o.cluster_affinity, o.ratings, o.seed);
  return Dataset::FromColumns(std::move(user_ids), std::move(item_ids), std::move(cols.users),
                              std::move(cols.items), std::move(cols.values), std::move(cols.times),
                              source);
}

}  // namespace

Dataset GenerateSynthetic(const SyntheticOptions& o, int threads) {
  CheckOptions(o);
  const ItemModel items(o);
  const std::vector<uint32_t> counts = ActivityPerUser(o);
  return Assemble(o, DrawInteractions(o, items, counts, std::max(threads, 1)));
}

}  // namespace marquee

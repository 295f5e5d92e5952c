// Evaluation protocols (see split.h).
//
//   strong-generalization  Liang et al. 2018 / Steck 2019: `test_users` users, drawn uniformly
//                          among those with >= min_items positives, are removed from training;
//                          a random `fold_in` share of each one's positives is the input (the
//                          fold-in history), the rest are the targets.
//   leave-last-out         every user with >= min_items positives: the latest positive (by
//                          time, ties by row order) is the target, the rest are train and input.
//   random-holdout         every user with >= min_items positives: a random `test_fraction`
//                          share of the positives are targets (removed from train); the rest
//                          are train and input.
//   temporal               a global cut at the (1 - test_fraction) quantile of the positives'
//                          times: train is every positive at or before the cut; each user with a
//                          positive before the cut is evaluated on the new items after it.
//
// "Positives" are the distinct (user, item) pairs of Dataset::ToCsr(threshold). Randomness
// comes from one std::mt19937_64 seeded with config.seed, drawn in a fixed order (users in
// ascending index), with a portable bounded draw, so a seed gives the same split everywhere.
//
// Distributed training (a SplitShard, issue #18): each rank keeps only its share of the
// training matrix (BuildShard). Strong generalization then never holds the positives whole: it
// streams the dataset's rows (counts, the held-out users' rows, then the share); the others
// assemble from the positives held whole and keep the share (temporal cuts it afterwards).
#include "eval/split.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <string_view>
#include <unordered_map>

#include "common/shard.h"
#include "marquee/error.h"

namespace marquee {
namespace {

constexpr std::string_view kProtocols =
    "strong-generalization, leave-last-out, random-holdout, temporal (and 'given', through "
    "MakeGivenSplit)";

// Uniform integer in [0, n) by rejection sampling: unlike std::uniform_int_distribution its
// output is specified, so splits are identical across standard libraries.
uint64_t UniformBelow(std::mt19937_64& rng, uint64_t n) {
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  const uint64_t reject_from = max - ((max % n) + 1) % n;  // accept r <= reject_from
  uint64_t r = rng();
  while (r > reject_from) r = rng();
  return r % n;
}

// Moves a uniformly random m-subset of v to its front (partial Fisher-Yates).
template <typename T>
void PartialShuffle(std::vector<T>& v, size_t m, std::mt19937_64& rng) {
  for (size_t i = 0; i < m && i + 1 < v.size(); ++i) {
    const size_t j = i + static_cast<size_t>(UniformBelow(rng, v.size() - i));
    std::swap(v[i], v[j]);
  }
}

// Marks `n_target` of user u's positives (rows of `pos`), chosen uniformly at random, as
// targets. `entries` is scratch space reused across users.
void MarkRandomTargets(const CsrMatrix& pos, uint32_t u, uint32_t n_target, std::mt19937_64& rng,
                       std::vector<uint64_t>& entries, std::vector<char>& is_target) {
  const uint32_t n = pos.row_size(u);
  entries.resize(n);
  for (uint32_t k = 0; k < n; ++k) entries[k] = pos.indptr[u] + k;
  PartialShuffle(entries, n_target, rng);
  for (uint32_t k = 0; k < n_target; ++k) is_target[entries[k]] = 1;
}

// How many of n items form one side of a split at `share`, keeping >= 1 on each side (n >= 2).
uint32_t ShareOf(uint32_t n, double share) {
  const auto k = static_cast<int64_t>(std::llround(share * static_cast<double>(n)));
  return static_cast<uint32_t>(std::clamp<int64_t>(k, 1, static_cast<int64_t>(n) - 1));
}

void CheckOpenUnit(double v, std::string_view name, std::string_view protocol) {
  if (!(v > 0.0 && v < 1.0)) {
    Fail(ErrorCode::kInvalidArgument, "{} must be in (0, 1) for protocol '{}' (got {})", name,
         protocol, v);
  }
}

void CheckMinItems(uint32_t min_items, uint32_t least, std::string_view protocol) {
  if (min_items < least) {
    Fail(ErrorCode::kInvalidArgument, "min_items must be at least {} for protocol '{}' (got {}){}",
         least, protocol, min_items,
         least == 2 ? ": an evaluated user needs one input item and one target" : "");
  }
}

nlohmann::json ThresholdJson(std::optional<double> t) {
  return t ? nlohmann::json(*t) : nlohmann::json(nullptr);
}

uint32_t NonEmptyRows(const CsrMatrix& m) {
  uint32_t n = 0;
  for (uint32_t r = 0; r < m.rows; ++r) n += m.row_size(r) > 0 ? 1 : 0;
  return n;
}

// Splits the positives `pos` given, per stored entry, whether it is a target and, per user,
// whether the user is evaluated and whether their rows are withheld from training.
//   train:  entries that are not targets, of users that are not withheld
//   input:  an evaluated user's non-target entries (original values)
//   target: an evaluated user's target entries (value 1)
// `is_target` empty: no entry is a target.
void AssembleTrain(const CsrMatrix& pos, std::span<const char> is_target,
                   const std::vector<char>& withheld, CsrMatrix& train) {
  train.rows = pos.rows;
  train.cols = pos.cols;
  train.indptr.assign(static_cast<size_t>(pos.rows) + 1, 0);
  // Reserved, not filled: no regrowth (which briefly holds two copies); untouched pages past
  // the rows kept cost no memory.
  train.indices.reserve(pos.nnz());
  train.values.reserve(pos.nnz());
  for (uint32_t u = 0; u < pos.rows; ++u) {
    if (!withheld[u]) {
      for (uint64_t p = pos.indptr[u]; p < pos.indptr[u + 1]; ++p) {
        if (!is_target.empty() && is_target[p]) continue;
        train.indices.push_back(pos.indices[p]);
        train.values.push_back(pos.values[p]);
      }
    }
    train.indptr[u + 1] = train.indices.size();
  }
}

void AssembleEval(const CsrMatrix& pos, const std::vector<char>& is_target,
                  const std::vector<uint32_t>& eval_users, EvalSet& eval) {
  eval.input.cols = pos.cols;
  eval.target.cols = pos.cols;
  eval.users = eval_users;
  std::vector<uint32_t> in_items, tg_items;
  std::vector<float> in_vals, tg_vals;
  for (uint32_t u : eval_users) {
    in_items.clear();
    in_vals.clear();
    tg_items.clear();
    for (uint64_t p = pos.indptr[u]; p < pos.indptr[u + 1]; ++p) {
      if (is_target[p]) {
        tg_items.push_back(pos.indices[p]);
      } else {
        in_items.push_back(pos.indices[p]);
        in_vals.push_back(pos.values[p]);
      }
    }
    tg_vals.assign(tg_items.size(), 1.0f);
    eval.input.AppendRow(in_items, in_vals);
    eval.target.AppendRow(tg_items, tg_vals);
  }
}

// With `shard`, train is only the rank's share of it (BuildShard, two passes over the rows).
Split Assemble(const CsrMatrix& pos, const std::vector<char>& is_target,
               const std::vector<uint32_t>& eval_users, const std::vector<char>& withheld,
               const SplitShard* shard) {
  Split s;
  if (shard != nullptr) {
    s.shard = std::make_shared<InteractionShard>(BuildShard(
        pos.rows, pos.cols, shard->rank, shard->ranks, shard->plan,
        [&](const RowVisitor& visit) {
          std::vector<uint32_t> cols;
          std::vector<float> vals;
          for (uint32_t u = 0; u < pos.rows; ++u) {
            if (withheld[u]) continue;
            cols.clear();
            vals.clear();
            for (uint64_t p = pos.indptr[u]; p < pos.indptr[u + 1]; ++p) {
              if (is_target[p]) continue;
              cols.push_back(pos.indices[p]);
              vals.push_back(pos.values[p]);
            }
            visit(u, cols, vals);
          }
        },
        s.train));
  } else {
    AssembleTrain(pos, is_target, withheld, s.train);
  }
  AssembleEval(pos, is_target, eval_users, s.eval);
  return s;
}

void FillCommonDetails(Split& s, std::optional<double> threshold) {
  s.details["protocol"] = s.protocol;
  s.details["positive_threshold"] = ThresholdJson(threshold);
  s.details["train_users"] = s.shard != nullptr ? s.shard->nonempty_users : NonEmptyRows(s.train);
  s.details["train_interactions"] = s.shard != nullptr ? s.shard->nnz : s.train.nnz();
  s.details["eval_users"] = s.eval.input.rows;
  s.details["input_interactions"] = s.eval.input.nnz();
  s.details["target_interactions"] = s.eval.target.nnz();
}

std::vector<uint32_t> EligibleUsers(const CsrMatrix& pos, uint32_t min_items) {
  std::vector<uint32_t> users;
  for (uint32_t u = 0; u < pos.rows; ++u) {
    if (pos.row_size(u) >= min_items) users.push_back(u);
  }
  return users;
}

void RequireEvalUsers(const Split& s, std::string_view why) {
  if (s.eval.input.rows == 0) {
    Fail(ErrorCode::kInvalidArgument, "split '{}' has no users to evaluate: {}", s.protocol, why);
  }
}

// The positives a split draws from: a matrix held whole, or a dataset's rows streamed
// (Dataset::ForEachPositiveRow), so that a rank of a distributed training never holds them all.
struct Positives {
  const CsrMatrix* whole = nullptr;
  const Dataset* ds = nullptr;  // when !whole
  std::optional<double> threshold;

  uint32_t rows() const { return whole != nullptr ? whole->rows : ds->num_users(); }
  uint32_t cols() const { return whole != nullptr ? whole->cols : ds->num_items(); }
  void ForEach(const RowVisitor& visit) const {
    if (whole == nullptr) return ds->ForEachPositiveRow(threshold, visit);
    for (uint32_t u = 0; u < whole->rows; ++u) {
      visit(u, whole->row_indices(u), whole->row_values(u));
    }
  }
};

// With a shard, the held-out users' rows are the only ones held whole (for the eval set): the
// positives are streamed once for the counts and twice for the rank's share (BuildShard; its
// first pass also collects the held-out users' rows).
Split StrongGeneralization(const Positives& pos, std::optional<double> threshold,
                           const SplitConfig& c, const SplitShard* shard) {
  CheckOpenUnit(c.fold_in, "fold_in", c.protocol);
  CheckMinItems(c.min_items, 2, c.protocol);
  std::vector<uint32_t> sizes(pos.rows(), 0);
  if (pos.whole != nullptr) {
    for (uint32_t u = 0; u < pos.rows(); ++u) sizes[u] = pos.whole->row_size(u);
  } else {
    pos.ForEach([&](uint32_t u, std::span<const uint32_t> items, std::span<const float>) {
      sizes[u] = static_cast<uint32_t>(items.size());
    });
  }
  std::vector<uint32_t> eligible;
  uint32_t active = 0;
  for (uint32_t u = 0; u < sizes.size(); ++u) {
    if (sizes[u] >= c.min_items) eligible.push_back(u);
    active += sizes[u] > 0 ? 1 : 0;
  }
  uint32_t n_test = c.test_users;
  if (n_test == 0) {
    // Default: 10% of the users with any positive, as far as there are eligible ones.
    n_test = std::min<uint32_t>(std::max<uint32_t>(1, active / 10),
                                static_cast<uint32_t>(eligible.size()));
  } else if (n_test > eligible.size()) {
    Fail(ErrorCode::kInvalidArgument,
         "test_users = {} but only {} users have at least min_items = {} positives", n_test,
         eligible.size(), c.min_items);
  }
  if (n_test == 0) {
    Fail(ErrorCode::kInvalidArgument,
         "split 'strong-generalization' has no users with at least min_items = {} positives",
         c.min_items);
  }
  std::mt19937_64 rng(c.seed);
  PartialShuffle(eligible, n_test, rng);
  std::vector<uint32_t> held(eligible.begin(), eligible.begin() + n_test);
  std::sort(held.begin(), held.end());

  std::vector<char> withheld(pos.rows(), 0);
  for (uint32_t u : held) withheld[u] = 1;
  // Training: every positive of the other users. The held-out users' rows are kept aside.
  Split s;
  CsrMatrix held_rows;
  if (shard != nullptr) {
    held_rows.cols = pos.cols();
    size_t passes = 0;
    s.shard = std::make_shared<InteractionShard>(BuildShard(
        pos.rows(), pos.cols(), shard->rank, shard->ranks, shard->plan,
        [&](const RowVisitor& visit) {
          pos.ForEach([&](uint32_t u, std::span<const uint32_t> cols, std::span<const float> v) {
            if (!withheld[u]) {
              visit(u, cols, v);
            } else if (passes == 0) {
              held_rows.AppendRow(cols, v);  // users ascending, as `held`
            }
          });
          ++passes;
        },
        s.train));
  } else {
    held_rows = pos.whole->SelectRows(held);
    AssembleTrain(*pos.whole, {}, withheld, s.train);
  }
  // A random fold_in share of each held-out user's positives is the input, the rest targets.
  std::vector<char> is_target(held_rows.nnz(), 0);
  std::vector<uint64_t> entries;
  for (uint32_t h = 0; h < held.size(); ++h) {
    const uint32_t n = held_rows.row_size(h);
    MarkRandomTargets(held_rows, h, n - ShareOf(n, c.fold_in), rng, entries, is_target);
  }
  std::vector<uint32_t> rows_of_held(held.size());
  std::iota(rows_of_held.begin(), rows_of_held.end(), 0u);
  AssembleEval(held_rows, is_target, rows_of_held, s.eval);
  s.eval.users = held;
  s.protocol = c.protocol;
  FillCommonDetails(s, threshold);
  s.details["seed"] = c.seed;
  s.details["test_users"] = n_test;
  s.details["fold_in"] = c.fold_in;
  s.details["min_items"] = c.min_items;
  s.details["eligible_users"] = eligible.size();
  return s;
}

Split LeaveLastOut(const Dataset& ds, const CsrMatrix& pos, std::optional<double> threshold,
                   const SplitConfig& c, const SplitShard* shard) {
  CheckMinItems(c.min_items, 1, c.protocol);
  const auto offsets = ds.user_offsets();
  const auto items = ds.items();
  const auto values = ds.values();
  std::vector<char> is_target(pos.nnz(), 0);
  std::vector<char> withheld(pos.rows, 0);
  std::vector<uint32_t> eval_users;
  for (uint32_t u = 0; u < pos.rows; ++u) {
    if (pos.row_size(u) < c.min_items) continue;  // min_items >= 1: the row is not empty
    // Rows are sorted by (user, time, item): the user's last positive row is the latest one
    // (equal times: the last in row order).
    for (uint64_t k = offsets[u + 1]; k-- > offsets[u];) {
      if (threshold && !(static_cast<double>(values[k]) > *threshold)) continue;
      const auto row = pos.row_indices(u);
      const auto it = std::lower_bound(row.begin(), row.end(), items[k]);
      is_target[pos.indptr[u] + static_cast<uint64_t>(it - row.begin())] = 1;
      eval_users.push_back(u);
      break;
    }
  }
  Split s = Assemble(pos, is_target, eval_users, withheld, shard);
  s.protocol = c.protocol;
  RequireEvalUsers(s, fmt::format("no user has at least min_items = {} positives", c.min_items));
  FillCommonDetails(s, threshold);
  s.details["seed"] = c.seed;
  s.details["min_items"] = c.min_items;
  s.details["has_times"] = ds.info().has_times;
  return s;
}

Split RandomHoldout(const CsrMatrix& pos, std::optional<double> threshold, const SplitConfig& c,
                    const SplitShard* shard) {
  CheckOpenUnit(c.test_fraction, "test_fraction", c.protocol);
  CheckMinItems(c.min_items, 2, c.protocol);
  std::mt19937_64 rng(c.seed);
  std::vector<char> is_target(pos.nnz(), 0);
  std::vector<char> withheld(pos.rows, 0);
  std::vector<uint32_t> eval_users = EligibleUsers(pos, c.min_items);
  std::vector<uint64_t> entries;
  for (uint32_t u : eval_users) {
    MarkRandomTargets(pos, u, ShareOf(pos.row_size(u), c.test_fraction), rng, entries, is_target);
  }
  Split s = Assemble(pos, is_target, eval_users, withheld, shard);
  s.protocol = c.protocol;
  RequireEvalUsers(s, fmt::format("no user has at least min_items = {} positives", c.min_items));
  FillCommonDetails(s, threshold);
  s.details["seed"] = c.seed;
  s.details["test_fraction"] = c.test_fraction;
  s.details["min_items"] = c.min_items;
  return s;
}

Split Temporal(const Dataset& ds, const CsrMatrix& pos, std::optional<double> threshold,
               const SplitConfig& c) {
  CheckOpenUnit(c.test_fraction, "test_fraction", c.protocol);
  CheckMinItems(c.min_items, 1, c.protocol);
  if (!ds.info().has_times) {
    Fail(ErrorCode::kInvalidArgument,
         "protocol 'temporal' needs interaction times, but dataset '{}' has none (import it with "
         "a time column, or use another protocol)",
         ds.info().name.empty() ? ds.info().source : ds.info().name);
  }
  const auto users = ds.users();
  const auto items = ds.items();
  const auto values = ds.values();
  const auto times = ds.times();
  auto positive = [&](uint64_t k) {
    return !threshold || static_cast<double>(values[k]) > *threshold;
  };
  std::vector<int64_t> ts;
  ts.reserve(ds.num_interactions());
  for (uint64_t k = 0; k < ds.num_interactions(); ++k) {
    if (positive(k)) ts.push_back(times[k]);
  }
  if (ts.size() < 2) {
    Fail(ErrorCode::kInvalidArgument, "protocol 'temporal' needs at least 2 positives (got {})",
         ts.size());
  }
  // The cut is the time of the last training row when the earliest (1 - test_fraction) share of
  // the positives is training; rows at the cut's time stay in training.
  const uint32_t n_train = ShareOf(static_cast<uint32_t>(std::min<size_t>(ts.size(), UINT32_MAX)),
                                   1.0 - c.test_fraction);
  std::nth_element(ts.begin(), ts.begin() + (n_train - 1), ts.end());
  const int64_t cut = ts[n_train - 1];

  std::vector<uint32_t> tr_u, tr_i, af_u, af_i;
  std::vector<float> tr_v;
  for (uint64_t k = 0; k < ds.num_interactions(); ++k) {
    if (!positive(k)) continue;
    if (times[k] <= cut) {
      tr_u.push_back(users[k]);
      tr_i.push_back(items[k]);
      tr_v.push_back(values[k]);
    } else {
      af_u.push_back(users[k]);
      af_i.push_back(items[k]);
    }
  }
  Split s;
  s.protocol = c.protocol;
  s.train = CsrMatrix::FromTriplets(ds.num_users(), ds.num_items(), tr_u, tr_i, tr_v);
  const CsrMatrix after = CsrMatrix::FromTriplets(ds.num_users(), ds.num_items(), af_u, af_i, {});
  s.eval.input.cols = ds.num_items();
  s.eval.target.cols = ds.num_items();
  uint64_t repeats = 0;  // after-cut items the user already had before it (not targets)
  std::vector<uint32_t> targets;
  std::vector<float> ones;
  for (uint32_t u = 0; u < ds.num_users(); ++u) {
    const auto before = s.train.row_indices(u);
    if (before.empty() || after.row_size(u) == 0 || pos.row_size(u) < c.min_items) continue;
    targets.clear();
    for (uint32_t i : after.row_indices(u)) {
      if (std::binary_search(before.begin(), before.end(), i)) {
        ++repeats;
      } else {
        targets.push_back(i);
      }
    }
    if (targets.empty()) continue;
    ones.assign(targets.size(), 1.0f);
    s.eval.users.push_back(u);
    s.eval.input.AppendRow(before, s.train.row_values(u));
    s.eval.target.AppendRow(targets, ones);
  }
  RequireEvalUsers(s, fmt::format("no user has positives both before and after the cut at time "
                                  "{} (test_fraction = {})",
                                  cut, c.test_fraction));
  FillCommonDetails(s, threshold);
  s.details["seed"] = c.seed;
  s.details["test_fraction"] = c.test_fraction;
  s.details["min_items"] = c.min_items;
  s.details["cut_time"] = cut;
  s.details["interactions_after_cut"] = after.nnz();
  s.details["repeat_items_not_targets"] = repeats;
  return s;
}

}  // namespace

Split MakeSplit(const Dataset& ds, std::optional<double> positive_threshold,
                const SplitConfig& config, const SplitShard* shard) {
  const std::string& p = config.protocol;
  if (p == "given") {
    Fail(ErrorCode::kInvalidArgument,
         "protocol 'given' needs the input and target rows: call MakeGivenSplit (CLI: pass the "
         "input and target files)");
  }
  if (p != "strong-generalization" && p != "leave-last-out" && p != "random-holdout" &&
      p != "temporal") {
    Fail(ErrorCode::kInvalidArgument, "unknown split protocol '{}'; valid protocols: {}", p,
         kProtocols);
  }
  if (p == "strong-generalization" && shard != nullptr) {  // never held whole
    return StrongGeneralization({nullptr, &ds, positive_threshold}, positive_threshold, config,
                                shard);
  }
  const CsrMatrix pos = ds.ToCsr(positive_threshold);
  if (p == "strong-generalization") {
    return StrongGeneralization({&pos, nullptr, positive_threshold}, positive_threshold, config,
                                nullptr);
  }
  if (p == "leave-last-out") return LeaveLastOut(ds, pos, positive_threshold, config, shard);
  if (p == "random-holdout") return RandomHoldout(pos, positive_threshold, config, shard);
  Split s = Temporal(ds, pos, positive_threshold, config);
  if (shard != nullptr) ShardTrain(s, *shard);
  return s;
}

void ShardTrain(Split& s, const SplitShard& shard) {
  if (s.shard != nullptr) return;  // already the rank's share
  CsrMatrix local;
  s.shard = std::make_shared<InteractionShard>(
      BuildShard(s.train, shard.rank, shard.ranks, shard.plan, local));
  s.train = std::move(local);
}

Split MakeGivenSplit(const Dataset& ds, std::optional<double> positive_threshold,
                     const std::vector<RawInteraction>& input,
                     const std::vector<RawInteraction>& target) {
  Split s;
  s.protocol = "given";
  s.train = ds.ToCsr(positive_threshold);
  const uint32_t n_items = ds.num_items();

  // Evaluated users: the distinct users of `target`, in order of first appearance.
  std::unordered_map<std::string_view, uint32_t> row_of;
  std::vector<std::string_view> row_user;
  std::vector<std::vector<uint32_t>> tg, in;  // per evaluated user: target and input items
  std::vector<std::vector<float>> in_v;
  uint64_t unknown_target = 0, unknown_input = 0, input_rows_ignored = 0;
  for (const auto& r : target) {
    auto [it, fresh] = row_of.try_emplace(r.user, static_cast<uint32_t>(row_user.size()));
    if (fresh) {
      row_user.push_back(r.user);
      tg.emplace_back();
      in.emplace_back();
      in_v.emplace_back();
    }
    const auto item = ds.find_item(r.item);
    if (!item) {
      ++unknown_target;
      continue;
    }
    tg[it->second].push_back(*item);
  }
  for (const auto& r : input) {
    const auto it = row_of.find(r.user);
    if (it == row_of.end()) {
      ++input_rows_ignored;  // a user with no target rows is not evaluated
      continue;
    }
    const auto item = ds.find_item(r.item);
    if (!item) {
      ++unknown_input;
      continue;
    }
    in[it->second].push_back(*item);
    in_v[it->second].push_back(r.value);
  }

  s.eval.input.cols = n_items;
  s.eval.target.cols = n_items;
  uint64_t dropped_users = 0, targets_in_input = 0, unknown_users = 0;
  std::vector<uint32_t> kept;
  std::vector<float> ones;
  for (uint32_t row = 0; row < row_user.size(); ++row) {
    // Targets are kept unique and apart from the input: an item the user already has is masked
    // from their ranking, so it could never be found.
    std::vector<uint32_t> history = in[row];
    std::sort(history.begin(), history.end());
    std::vector<uint32_t>& t = tg[row];
    std::sort(t.begin(), t.end());
    t.erase(std::unique(t.begin(), t.end()), t.end());
    kept.clear();
    for (uint32_t i : t) {
      if (std::binary_search(history.begin(), history.end(), i)) {
        ++targets_in_input;
      } else {
        kept.push_back(i);
      }
    }
    if (kept.empty()) {
      ++dropped_users;
      continue;
    }
    const auto u = ds.find_user(row_user[row]);
    if (!u) ++unknown_users;
    s.eval.users.push_back(u ? *u : UINT32_MAX);
    s.eval.input.AppendRow(in[row], in_v[row]);
    ones.assign(kept.size(), 1.0f);
    s.eval.target.AppendRow(kept, ones);
  }
  if (s.eval.input.rows == 0) {
    Fail(ErrorCode::kInvalidArgument,
         "given split has no users to evaluate: {} target rows, {} with items unknown to the "
         "training data, {} users left without targets",
         target.size(), unknown_target, dropped_users);
  }
  FillCommonDetails(s, positive_threshold);
  s.details["dropped_unknown_items"] = unknown_target + unknown_input;
  s.details["dropped_unknown_target_items"] = unknown_target;
  s.details["dropped_unknown_input_items"] = unknown_input;
  s.details["dropped_users"] = dropped_users;
  s.details["dropped_targets_in_input"] = targets_in_input;
  s.details["users_not_in_training"] = unknown_users;
  s.details["input_rows_without_target_user"] = input_rows_ignored;
  return s;
}

Split CarveValidation(const Split& s, double share, double fold_in, uint32_t min_items,
                      uint64_t seed) {
  if (!(share > 0.0 && share < 1.0)) {
    Fail(ErrorCode::kInvalidArgument, "[split] validation must be in (0, 1) (got {})", share);
  }
  if (s.shard != nullptr) {
    Fail(ErrorCode::kInternal, "[split] validation needs the whole training matrix, not a shard");
  }
  const uint32_t eligible = static_cast<uint32_t>(EligibleUsers(s.train, min_items).size());
  if (eligible < 2) {
    Fail(ErrorCode::kInvalidArgument,
         "[split] validation: only {} training users have at least min_items = {} positives",
         eligible, min_items);
  }
  SplitConfig c;
  c.protocol = "strong-generalization";
  c.fold_in = fold_in;
  c.min_items = min_items;
  c.seed = seed;
  c.test_users = ShareOf(eligible, share);
  Split v = StrongGeneralization({&s.train, nullptr, std::nullopt}, std::nullopt, c, nullptr);
  v.protocol = s.protocol + "+validation";
  v.details["protocol"] = v.protocol;
  v.details["positive_threshold"] = s.details.value("positive_threshold", nlohmann::json());
  v.details["validation"] = share;
  v.details["validation_users"] = c.test_users;
  v.details["test"] = s.details;
  return v;
}

}  // namespace marquee

// BPR-MF: Bayesian personalised ranking with matrix factorisation (Rendle, Freudenthaler,
// Gantner & Schmidt-Thieme 2009, "BPR: Bayesian Personalized Ranking from Implicit Feedback").
// Scores are x̂_ui = ⟨w_u, h_i⟩ + b_i (the item bias b is optional); SGD maximises
//
//   Σ_{(u,i,j)} ln σ(x̂_ui − x̂_uj) − reg·(‖w_u‖² + ‖h_i‖² + ‖h_j‖² + b_i² + b_j²)
//
// over triples of a positive (u,i) and a sampled negative j ∉ I_u. Every stored entry of the
// training matrix is a positive (values are not used).
//
// Deterministic parallel SGD (a DSGD schedule, Gemulla et al. 2011, "Large-scale matrix
// factorization with distributed stochastic gradient descent"): users are split into T blocks of
// about equal interaction count and items into T blocks by a seeded random permutation. An epoch
// has T sub-epochs; in sub-epoch s, thread t takes the positives (u,i) of its user block t whose
// item lies in item block (t+s) mod T, and samples each negative uniformly from that same item
// block (rejecting the user's positives, at most kMaxRejections redraws, else the triple is
// skipped). Within a sub-epoch threads touch disjoint users and disjoint items, so there are no
// races; every (epoch, s, t) has its own RNG stream and shuffles its positives, and sub-epochs
// are separated by a barrier. The result is a function of (seed, T); with T = 1 this is plain
// BPR with uniform negatives over all items.
//
// Distributed (Context::comm, under mpirun; issue #18): synchronous data-parallel SGD. Each rank
// owns a contiguous block of users of about equal interaction count (PartitionRows) and runs the
// schedule above on its own positives only (its RNG streams also keyed by its rank), each
// sub-epoch in kSyncRounds rounds; after every round the ranks' changes to the item factors and
// biases are summed (one allreduce of items x (k + 1) floats) onto the factors they all started
// the round from, so every rank starts the next round from the same item factors and each
// positive's update counts once, as in one process (averaging the ranks' factors instead would
// divide the item step by the rank count).
// A user's factors change only on the rank that owns the user; they are allgathered at the end.
// The result is a function of (seed, threads, rank count); with one rank it is the schedule
// above exactly.
//
// Fold-in (ScoreBatch): BPR has no closed-form user solve, so a history is folded in with the
// exact ridge problem of the iALS user step (Hu et al. 2008; Rendle et al. 2022) against the
// learned item representations f_i = [h_i, b_i] (the bias as one more factor; just h_i without
// bias), see models/ials/factor_math.h:
//
//   w̃ = argmin Σ_{i∈hist} (⟨w̃, f_i⟩ − 1)² + α0·Σ_{all i} ⟨w̃, f_i⟩² + λ·(tr(G)/d)·‖w̃‖²,  G = FᵀF,
//
// with α0 = foldin_unobserved_weight and λ = foldin_reg relative to the mean eigenvalue tr(G)/d
// of G, which makes the fold-in invariant to the scale of the factors. Scores are ⟨w̃, f_i⟩: the
// weight on the bias is fitted per user instead of fixed at 1, so the bias keeps the right
// proportion to the folded-in factor (fixing it at 1 with target 1 − b_i halves recall@20 on
// ML-100K). Deterministic, O(|hist|d² + d³) per query.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <bit>
#include <cmath>

#include "common/communicator.h"
#include "common/log.h"
#include "common/shard.h"
#include "common/thread_pool.h"
#include "marquee/error.h"
#include "marquee/recommender.h"
#include "models/artifact.h"
#include "models/ials/factor_math.h"
#include "models/params.h"

namespace marquee {
namespace {

constexpr int kMaxRejections = 16;
constexpr size_t kChunk = 4096;       // positives whose negatives are drawn ahead
constexpr size_t kPrefetch = 8;       // triples prefetched ahead of the update
constexpr uint32_t kSyncRounds = 16;  // item-update sums per sub-epoch across ranks

struct Triple {
  uint32_t u, i, j;
};

// A blocked Bloom filter over the (user, item) positives, 16 bits per positive: each pair sets
// two bits of one 64-bit word, so a lookup is still one random memory access, and about 2% of
// non-positives pass (a single bit let 6% through, and each of those costs a binary search in
// the user's row, which took 14% of the epoch). MayContain(u, j) == false proves that j is not a
// positive of u; the filter never changes which negatives are accepted, only how fast.
class PairFilter {
 public:
  explicit PairFilter(const CsrMatrix& x) {
    uint64_t words = 1;
    while (words * 64 < 16 * x.nnz()) words <<= 1;
    shift_ = 64 - std::countr_zero(words);
    words_.assign(words, 0);
    // The writes land anywhere in the filter: hashes are taken 64 at a time and their words
    // prefetched before the writes.
    constexpr size_t kBatch = 64;
    uint64_t hashes[kBatch];
    size_t pending = 0;
    auto flush = [&] {
      for (size_t q = 0; q < pending; ++q) words_[Word(hashes[q])] |= Mask(hashes[q]);
      pending = 0;
    };
    for (uint32_t u = 0; u < x.rows; ++u) {
      for (uint32_t j : x.row_indices(u)) {
        hashes[pending] = Hash(u, j);
        __builtin_prefetch(&words_[Word(hashes[pending])], 1);
        if (++pending == kBatch) flush();
      }
    }
    flush();
  }
  bool MayContain(uint32_t u, uint32_t j) const {
    const uint64_t h = Hash(u, j), m = Mask(h);
    return (words_[Word(h)] & m) == m;
  }
  void Prefetch(uint32_t u, uint32_t j) const { __builtin_prefetch(&words_[Word(Hash(u, j))]); }

 private:
  static uint64_t Hash(uint32_t u, uint32_t j) {
    return Mix64((static_cast<uint64_t>(u) << 32) | j);
  }
  // The word from the top bits, the two bits from the lowest twelve.
  uint64_t Word(uint64_t h) const { return shift_ == 64 ? 0 : h >> shift_; }
  static uint64_t Mask(uint64_t h) {
    return (uint64_t{1} << (h & 63)) | (uint64_t{1} << ((h >> 6) & 63));
  }
  int shift_ = 64;
  std::vector<uint64_t> words_;
};

// Whether the sorted `row` holds `key`: a branch-free binary search (conditional moves instead of
// unpredictable branches; it dominated the epoch time as std::binary_search).
inline bool Contains(std::span<const uint32_t> row, uint32_t key) {
  size_t n = row.size();
  if (n == 0) return false;
  const uint32_t* base = row.data();
  while (n > 1) {
    const size_t half = n / 2;
    base = base[half] <= key ? base + half : base;
    n -= half;
  }
  return *base == key;
}

class Bpr final : public Recommender {
 public:
  explicit Bpr(const nlohmann::json& params) {
    ParamReader p("bpr", params);
    // Defaults tuned on MovieLens-100K strong generalisation (recall@20, averaged over splits);
    // more epochs help a little (+0.005 at 100) at twice the cost.
    factors_ = static_cast<int>(p.Integer("factors", 64, 1, 4096));
    epochs_ = static_cast<int>(p.Integer("epochs", 50, 0, 100000));
    learning_rate_ = p.Number("learning_rate", 0.05, 0.0, 100.0);
    reg_ = p.Number("reg", 0.002, 0.0, 1e3);
    use_bias_ = p.Bool("use_bias", true);
    init_stddev_ = p.Number("init_stddev", 0.1, 0.0, 1e3);
    negatives_ = static_cast<int>(p.Integer("negatives_per_positive", 1, 1, 1000));
    foldin_reg_ = p.Number("foldin_reg", 1.0, 0.0, 1e9);
    foldin_unobserved_weight_ = p.Number("foldin_unobserved_weight", 0.3, 0.0, 1e9);
    p.Finish();
    params_ = p.resolved();
  }
  std::string_view family() const override { return "bpr"; }
  nlohmann::json params() const override { return params_; }
  uint32_t num_items() const override { return static_cast<uint32_t>(h_.rows()); }
  bool distributed_fit() const override { return true; }

  void Fit(const CsrMatrix& x, const Context& ctx) override {
    const uint32_t users = x.rows, items = x.cols;
    const int k = factors_;
    const uint32_t t_count =
        static_cast<uint32_t>(std::max<int64_t>(1, std::min<int64_t>({ctx.threads, users, items})));
    // Item blocks: a seeded random permutation cut into T equal parts (spreads popular items).
    Stopwatch setup_time;
    Rng setup(DeriveSeed(ctx.seed, 0xB9B0));
    std::vector<uint32_t> perm(items);
    for (uint32_t i = 0; i < items; ++i) perm[i] = i;
    setup.Shuffle(perm);
    std::vector<uint32_t> item_block(items);
    std::vector<std::vector<uint32_t>> block_items(t_count);
    for (uint32_t p = 0; p < items; ++p) {
      const auto b = static_cast<uint32_t>(static_cast<uint64_t>(p) * t_count / items);
      item_block[perm[p]] = b;
      block_items[b].push_back(perm[p]);
    }
    for (auto& v : block_items) std::sort(v.begin(), v.end());
    // This rank's users (all of them in one process): a contiguous block of about nnz/ranks
    // interactions.
    const int rank = ctx.comm != nullptr ? ctx.comm->rank() : 0;
    const int ranks = ctx.comm != nullptr ? ctx.comm->size() : 1;
    // With a shard, x holds only these users' rows (the negatives' filter below then covers
    // only them too, which is all this rank asks it).
    CheckShard(ctx);
    const std::vector<uint64_t> user_offsets =
        ctx.shard != nullptr ? ctx.shard->user_offsets
                             : PartitionRows(x.indptr, ranks, shard_plan().row_cost);
    const auto first_user = static_cast<uint32_t>(user_offsets[static_cast<size_t>(rank)]);
    const auto end_user = static_cast<uint32_t>(user_offsets[static_cast<size_t>(rank) + 1]);
    // User blocks: the rank's users cut into contiguous ranges with about nnz/T interactions
    // each. Bucket (t, b) holds the positives of user block t in item block b, in row order.
    std::vector<std::vector<std::pair<uint32_t, uint32_t>>> buckets(static_cast<size_t>(t_count) *
                                                                    t_count);
    {
      // Two passes: count each bucket, then fill it (no regrowth copies of 8-byte pairs).
      const uint64_t base = x.indptr[first_user];
      const uint64_t nnz = x.indptr[end_user] - base;
      for (int pass = 0; pass < 2; ++pass) {
        std::vector<size_t> counts(buckets.size(), 0);
        uint32_t t = 0;
        for (uint32_t u = first_user; u < end_user; ++u) {
          while (t + 1 < t_count && x.indptr[u] - base >= nnz * (t + 1) / t_count) ++t;
          for (uint32_t i : x.row_indices(u)) {
            const size_t b = static_cast<size_t>(t) * t_count + item_block[i];
            if (pass == 0) {
              ++counts[b];
            } else {
              buckets[b].emplace_back(u, i);
            }
          }
        }
        if (pass == 0) {
          for (size_t b = 0; b < buckets.size(); ++b) buckets[b].reserve(counts[b]);
        }
      }
    }
    // Initialisation: W, H ~ N(0, init_stddev²) drawn sequentially; biases 0.
    const double blocks_s = setup_time.Seconds();
    Rng init(DeriveSeed(ctx.seed, 0x1417));
    w_.resize(users, k);
    h_.resize(items, k);
    FillNormal(w_, init_stddev_, init);
    FillNormal(h_, init_stddev_, init);
    bias_.assign(items, 0.0f);

    const auto lr = static_cast<float>(learning_rate_);
    const auto reg = static_cast<float>(reg_);
    std::vector<uint64_t> skipped(t_count, 0);
    std::vector<std::vector<Triple>> chunk_triples(t_count);
    const double init_s = setup_time.Seconds();
    const PairFilter filter(x);
    spdlog::debug("bpr: setup {:.2f}s (blocks {:.2f}s, init {:.2f}s, filter {:.2f}s)",
                  setup_time.Seconds(), blocks_s, init_s - blocks_s, setup_time.Seconds() - init_s);
    ctx.Report("bpr", 0.0);
    Stopwatch total;
    RowMatrixXf h_start;  // several ranks: the item factors and biases the round started from
    std::vector<float> bias_start;
    // Several ranks sum their item updates kSyncRounds times per sub-epoch: summing the changes
    // of a whole epoch at once overshot (recall@20 0.047 against one process's 0.120 after 2
    // epochs on the 2M-interaction ML-20M-shape set, bench/mpi_train.sh).
    const uint32_t rounds = ranks > 1 ? kSyncRounds : 1;
    std::vector<Rng> rngs(t_count, Rng(0));  // each thread's stream, kept across rounds
    for (int epoch = 0; epoch < epochs_; ++epoch) {
      Stopwatch sw;
      if (ranks > 1) {
        h_start = h_;
        bias_start = bias_;
      }
      for (uint32_t s = 0; s < t_count; ++s) {
        for (uint32_t round = 0; round < rounds; ++round) {
          ParallelFor(t_count, static_cast<int>(t_count), [&](size_t begin, size_t end, int) {
            for (size_t t = begin; t < end; ++t) {
              const uint32_t b = static_cast<uint32_t>((t + s) % t_count);
              auto& bucket = buckets[t * t_count + b];
              const auto& candidates = block_items[b];
              if (bucket.empty() || candidates.empty()) continue;
              Rng& rng = rngs[t];
              if (round == 0) {
                rng = Rng(DeriveSeed(ctx.seed, static_cast<uint64_t>(epoch) + 1, s + 1,
                                     (t + 1) | (static_cast<uint64_t>(rank) << 32)));
                rng.Shuffle(bucket);
              }
              // This round's share of the bucket (all of it in one process).
              const size_t lo = bucket.size() * round / rounds;
              const size_t hi = bucket.size() * (round + 1) / rounds;
              // Triples are drawn a chunk at a time (the draws do not depend on the model, so they
              // can be made ahead, in a fixed order) and the rows of upcoming triples are
              // prefetched: sampling and updates are bound by random memory access.
              std::vector<Triple>& triples = chunk_triples[t];
              auto draw = [&] { return candidates[rng.Uniform(candidates.size())]; };
              for (size_t first = lo; first < hi; first += kChunk) {
                const size_t last = std::min(hi, first + kChunk);
                // First candidate negative of every (positive, n); its filter word is prefetched.
                triples.clear();
                for (size_t q = first; q < last; ++q) {
                  for (int n = 0; n < negatives_; ++n) {
                    triples.push_back({bucket[q].first, bucket[q].second, draw()});
                    filter.Prefetch(triples.back().u, triples.back().j);
                  }
                }
                // Rejection of the user's positives: the filter clears most candidates with one
                // cached lookup; the rest are checked exactly and redrawn.
                size_t kept = 0;
                for (Triple tr : triples) {
                  auto ok = [&] {
                    return !filter.MayContain(tr.u, tr.j) || !Contains(x.row_indices(tr.u), tr.j);
                  };
                  bool accepted = ok();
                  for (int tries = 0; !accepted && tries < kMaxRejections; ++tries) {
                    tr.j = draw();
                    accepted = ok();
                  }
                  if (accepted) {
                    triples[kept++] = tr;
                  } else {
                    ++skipped[t];
                  }
                }
                triples.resize(kept);
                for (size_t q = 0; q < triples.size(); ++q) {
                  if (q + kPrefetch < triples.size()) Prefetch(triples[q + kPrefetch]);
                  Step(triples[q].u, triples[q].i, triples[q].j, lr, reg);
                }
              }
            }
          });
          if (ranks > 1) {
            SumItemUpdates(h_start, bias_start, *ctx.comm);
            h_start = h_;
            bias_start = bias_;
          }
        }
      }
      ctx.Report("bpr", static_cast<double>(epoch + 1) / epochs_);
      spdlog::debug("bpr: epoch {}/{} took {:.2f}s", epoch + 1, epochs_, sw.Seconds());
    }
    if (ranks > 1) {  // every rank gets every user's factors
      std::vector<uint64_t> floats(user_offsets);
      for (auto& o : floats) o *= static_cast<uint64_t>(k);
      ctx.comm->AllGather({w_.data(), static_cast<size_t>(w_.size())}, floats);
    }
    uint64_t skipped_total = 0;
    for (uint64_t v : skipped) skipped_total += v;
    const double secs = total.Seconds();
    spdlog::info(
        "bpr: {} users x {} items, {} nnz, k={}, {} epochs on {} blocks in {:.2f}s ({:.2f}s/epoch, "
        "{} triples skipped)",
        users, items, ctx.shard != nullptr ? ctx.shard->nnz : x.nnz(), k, epochs_, t_count, secs,
        epochs_ > 0 ? secs / epochs_ : 0.0, skipped_total);
    Stopwatch foldin_time;
    PrepareFoldIn(ctx.threads);
    spdlog::debug("bpr: fold-in preparation {:.2f}s", foldin_time.Seconds());
  }

  void ScoreBatch(const CsrMatrix& hist, std::span<float> out, const Context& ctx) const override {
    ScoreByFoldIn(hist, f_, out, ctx,
                  [&](size_t begin, size_t end, float* w) { FoldInRows(hist, begin, end, w); });
  }

  // The fold-in representations [h_i, b_i]: a query's last coordinate weighs the bias.
  ItemFactors item_factors() const override {
    return {f_.data(), static_cast<uint32_t>(f_.rows()), static_cast<uint32_t>(f_.cols())};
  }

  void FoldIn(const CsrMatrix& hist, std::span<float> out, const Context& ctx) const override {
    FoldInByRanges(hist, f_.cols(), out, ctx,
                   [&](size_t begin, size_t end, float* w) { FoldInRows(hist, begin, end, w); });
  }

  void Save(ArtifactWriter& w) const override {
    const auto k = static_cast<uint64_t>(factors_);
    w.Add<float>("item_factors", {h_.data(), static_cast<size_t>(h_.size())},
                 {static_cast<uint64_t>(h_.rows()), k});
    w.Add<float>("item_bias", bias_);
    w.Add<float>("user_factors", {w_.data(), static_cast<size_t>(w_.size())},
                 {static_cast<uint64_t>(w_.rows()), k});
  }

  void Load(const ArtifactReader& r) override {
    LoadFactors(r, "item_factors", h_);
    LoadFactors(r, "user_factors", w_);
    bias_ = r.GetVector<float>("item_bias");
    if (bias_.size() != static_cast<size_t>(h_.rows())) {
      Fail(ErrorCode::kCorruption, "bpr artifact: {} item biases for {} items", bias_.size(),
           h_.rows());
    }
    PrepareFoldIn(1);
  }

 private:
  void Prefetch(const Triple& tr) const {
    const size_t bytes = static_cast<size_t>(factors_) * sizeof(float);
    for (size_t off = 0; off < bytes; off += 64) {
      __builtin_prefetch(reinterpret_cast<const char*>(w_.row(tr.u).data()) + off, 1);
      __builtin_prefetch(reinterpret_cast<const char*>(h_.row(tr.i).data()) + off, 1);
      __builtin_prefetch(reinterpret_cast<const char*>(h_.row(tr.j).data()) + off, 1);
    }
    if (use_bias_) {
      __builtin_prefetch(&bias_[tr.i], 1);
      __builtin_prefetch(&bias_[tr.j], 1);
    }
  }

  // One SGD step on the triple (u, i, j).
  void Step(uint32_t u, uint32_t i, uint32_t j, float lr, float reg) {
    const Eigen::Index k = factors_;
    Eigen::Map<Eigen::VectorXf> wu(w_.row(u).data(), k);
    Eigen::Map<Eigen::VectorXf> hi(h_.row(i).data(), k);
    Eigen::Map<Eigen::VectorXf> hj(h_.row(j).data(), k);
    float x = wu.dot(hi - hj);
    if (use_bias_) x += bias_[i] - bias_[j];
    // d/dx ln σ(x) = σ(−x) = 1 / (1 + e^x); saturates to 0 or 1 without overflow issues.
    const float g = 1.0f / (1.0f + std::exp(x));
    for (Eigen::Index f = 0; f < k; ++f) {
      const float wf = wu[f], hif = hi[f], hjf = hj[f];
      wu[f] = wf + lr * (g * (hif - hjf) - reg * wf);
      hi[f] = hif + lr * (g * wf - reg * hif);
      hj[f] = hjf + lr * (-g * wf - reg * hjf);
    }
    if (use_bias_) {
      bias_[i] += lr * (g - reg * bias_[i]);
      bias_[j] += lr * (-g - reg * bias_[j]);
    }
  }

  // h_ = start + Σ over ranks of (h_ − start), and the same for the biases: every rank's epoch of
  // updates applied to the factors all ranks started the epoch from.
  void SumItemUpdates(const RowMatrixXf& h_start, const std::vector<float>& bias_start,
                      Communicator& comm) {
    h_ -= h_start;
    comm.AllReduceSum({h_.data(), static_cast<size_t>(h_.size())});
    h_ += h_start;
    for (size_t i = 0; i < bias_.size(); ++i) bias_[i] -= bias_start[i];
    comm.AllReduceSum(std::span<float>(bias_));
    for (size_t i = 0; i < bias_.size(); ++i) bias_[i] += bias_start[i];
  }

  // The fold-in of history rows [begin, end) into out (rows x d floats, d = f_.cols()).
  void FoldInRows(const CsrMatrix& hist, size_t begin, size_t end, float* out) const {
    const size_t ni = static_cast<size_t>(f_.rows());
    const size_t d = static_cast<size_t>(f_.cols());
    const double a0 = foldin_unobserved_weight_;
    const double lambda = foldin_reg_ * gram_.trace() / static_cast<double>(std::max<size_t>(d, 1));
    RidgeScratch scratch;
    std::vector<uint32_t> items;
    for (size_t r = begin; r < end; ++r) {
      items.clear();
      for (uint32_t i : hist.row_indices(static_cast<uint32_t>(r))) {
        if (i < ni) items.push_back(i);  // items unknown to the model carry no signal
      }
      RidgeSolve(
          f_, items, [](size_t, double& c, double& t) { c = t = 1.0; }, gram_, a0, lambda, scratch,
          out + (r - begin) * d);
    }
  }

  // F = [H, b] (or H without bias) and G = FᵀF for the fold-in.
  void PrepareFoldIn(int threads) {
    const Eigen::Index k = h_.cols();
    f_.resize(h_.rows(), use_bias_ ? k + 1 : k);
    f_.leftCols(k) = h_;
    if (use_bias_) {
      f_.col(k) = Eigen::Map<const Eigen::VectorXf>(bias_.data(), h_.rows());
    }
    gram_ = Gramian(f_, threads);
  }

  void LoadFactors(const ArtifactReader& r, const std::string& name, RowMatrixXf& m) const {
    const auto shape = r.Shape(name);
    if (shape.size() != 2 || shape[1] != static_cast<uint64_t>(factors_)) {
      Fail(ErrorCode::kCorruption, "bpr artifact: {} is not an n x {} matrix", name, factors_);
    }
    const auto data = r.Get<float>(name);
    if (data.size() != shape[0] * shape[1]) {
      Fail(ErrorCode::kCorruption, "bpr artifact: {} has {} values, shape says {}", name,
           data.size(), shape[0] * shape[1]);
    }
    m = Eigen::Map<const RowMatrixXf>(data.data(), static_cast<Eigen::Index>(shape[0]),
                                      static_cast<Eigen::Index>(shape[1]));
  }

  int factors_ = 64;
  int epochs_ = 50;
  double learning_rate_ = 0.05;
  double reg_ = 0.002;
  bool use_bias_ = true;
  double init_stddev_ = 0.1;
  int negatives_ = 1;
  double foldin_reg_ = 1.0;
  double foldin_unobserved_weight_ = 0.3;
  nlohmann::json params_;
  RowMatrixXf w_;  // users x k
  RowMatrixXf h_;  // items x k
  std::vector<float> bias_;
  RowMatrixXf f_;         // fold-in item representations [H, b] (items x d)
  Eigen::MatrixXd gram_;  // FᵀF
};

}  // namespace

std::unique_ptr<Recommender> NewBpr(const nlohmann::json& params) {
  return std::make_unique<Bpr>(params);
}

}  // namespace marquee

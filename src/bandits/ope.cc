#include "bandits/ope.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <sstream>
#include <unordered_map>

#include <Eigen/Dense>

#include "bandits/features.h"
#include "bandits/typed_log.h"
#include "marquee/error.h"

namespace marquee {
namespace {

const std::vector<std::string>& KnownEstimators() {
  static const std::vector<std::string> k = {"ips",  "snips",     "dm",    "dr",
                                             "sndr", "switch-dr", "replay"};
  return k;
}

std::string PairKey(const std::string& id, int32_t pos) {
  return pos >= 0 ? fmt::format("{}@{}", id, pos) : id;
}

// Per-row quantities every estimator is a function of.
struct RowTerms {
  double w, r, dm, qa;
  bool match;  // replay: the deterministic candidate's action is the logged one
};

struct Sums {
  double n = 0, w = 0, wr = 0, dm = 0, wres = 0, sw_res = 0, match = 0, match_r = 0;
};

double Value(const std::string& est, const Sums& s) {
  if (est == "ips") return s.wr / s.n;
  if (est == "snips") return s.w > 0 ? s.wr / s.w : 0.0;
  if (est == "dm") return s.dm / s.n;
  if (est == "dr") return (s.dm + s.wres) / s.n;
  if (est == "sndr") return s.dm / s.n + (s.w > 0 ? s.wres / s.w : 0.0);
  if (est == "switch-dr") return (s.dm + s.sw_res) / s.n;
  if (est == "replay") return s.match > 0 ? s.match_r / s.match : 0.0;
  return 0.0;
}

void Accumulate(Sums& s, const RowTerms& t, double tau, double m) {
  s.n += m;
  s.w += m * t.w;
  s.wr += m * (t.w * t.r);
  s.dm += m * t.dm;
  const double res = t.w * (t.r - t.qa);
  s.wres += m * res;
  if (t.w <= tau) s.sw_res += m * res;
  if (t.match) {
    s.match += m;
    s.match_r += m * t.r;
  }
}

double Percentile(std::vector<double>& v, double q) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  const double f = pos - static_cast<double>(lo);
  return v[lo] * (1 - f) + v[hi] * f;
}

const std::vector<std::string>& KnownRewardModels() {
  static const std::vector<std::string> k = {"auto", "mean", "ridge"};
  return k;
}

constexpr double kRidgeRefitLimit = 2e9;

using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Ridge fits, one per fold: fold f's theta is fitted on the rows of the other folds (every row
// with one fold), each row weighted by its multiplicity. `phi` holds the rows' features of the
// logged (context, chosen action) pairs.
std::vector<Eigen::VectorXd> FitRidge(const RowMatrixF& phi, const BanditLog& log,
                                      const std::vector<int>& fold, size_t nf,
                                      const std::vector<double>& mult, double l2) {
  const Eigen::Index d = phi.cols();
  const size_t n = log.size();
  std::vector<Eigen::MatrixXd> gram(nf, Eigen::MatrixXd::Zero(d, d));  // lower triangle
  std::vector<Eigen::VectorXd> xty(nf, Eigen::VectorXd::Zero(d));
  constexpr Eigen::Index kBlock = 256;
  Eigen::MatrixXd xb(kBlock, d);
  Eigen::VectorXd yb(kBlock);
  for (size_t f = 0; f < nf; ++f) {
    Eigen::Index fill = 0;
    auto flush = [&] {
      if (fill == 0) return;
      gram[f].selfadjointView<Eigen::Lower>().rankUpdate(xb.topRows(fill).transpose());
      xty[f].noalias() += xb.topRows(fill).transpose() * yb.head(fill);
      fill = 0;
    };
    for (size_t i = 0; i < n; ++i) {
      if (mult[i] == 0 || static_cast<size_t>(fold[i]) != f) continue;
      const double s = std::sqrt(mult[i]);
      xb.row(fill) = phi.row(static_cast<Eigen::Index>(i)).cast<double>() * s;
      yb(fill) = s * log.row(i).reward;
      if (++fill == kBlock) flush();
    }
    flush();
  }
  std::vector<Eigen::VectorXd> theta(nf);
  for (size_t f = 0; f < nf; ++f) {
    Eigen::MatrixXd a = Eigen::MatrixXd::Zero(d, d);
    Eigen::VectorXd b = Eigen::VectorXd::Zero(d);
    for (size_t g = 0; g < nf; ++g) {
      if (nf > 1 && g == f) continue;
      a += gram[g];
      b += xty[g];
    }
    a.diagonal().array() += l2;
    Eigen::LLT<Eigen::MatrixXd, Eigen::Lower> llt(a);
    if (llt.info() != Eigen::Success) {
      Fail(ErrorCode::kInvalidArgument,
           "reward model: the ridge system is not positive definite "
           "(l2 {})",
           l2);
    }
    theta[f] = llt.solve(b);
  }
  return theta;
}

// --- The stages of EvaluateOffPolicy.

void CheckOptions(const BanditLog& log, const CandidateDistributions& pi, const OpeOptions& o) {
  const size_t n = log.size();
  if (n == 0) Fail(ErrorCode::kInvalidArgument, "the log has no rows");
  if (pi.size() != n) {
    Fail(ErrorCode::kInvalidArgument, "candidate: {} distributions for {} rows", pi.size(), n);
  }
  if (o.bootstrap < 0) Fail(ErrorCode::kInvalidArgument, "bootstrap must be >= 0");
  if (o.folds < 1) Fail(ErrorCode::kInvalidArgument, "folds must be >= 1");
  if (!(o.tau > 0)) Fail(ErrorCode::kInvalidArgument, "tau must be > 0");
  if (!(o.smoothing >= 0)) Fail(ErrorCode::kInvalidArgument, "smoothing must be >= 0");
  if (!(o.reward_l2 > 0) || !std::isfinite(o.reward_l2)) {
    Fail(ErrorCode::kInvalidArgument, "reward l2 must be a finite number > 0, got {}", o.reward_l2);
  }
  if (o.reward_dim < 1 || o.reward_dim > 4096) {
    Fail(ErrorCode::kInvalidArgument, "reward dim must be in 1..4096, got {}", o.reward_dim);
  }
  for (const auto& e : o.estimators) {
    const auto& k = KnownEstimators();
    if (std::find(k.begin(), k.end(), e) == k.end()) {
      Fail(ErrorCode::kInvalidArgument, "estimators: unknown estimator '{}'", e);
    }
  }
}

// The result's settings: sizes, bootstrap, and the reward model ("auto" resolved).
OpeResult NewResult(const BanditLog& log, const OpeOptions& o) {
  OpeResult res;
  res.n = log.size();
  res.bootstrap = o.bootstrap;
  res.seed = o.seed;
  res.tau = o.tau;
  res.reward_model = ResolveRewardModel(o.reward_model, log);
  if (res.reward_model == "ridge") {
    res.reward_l2 = o.reward_l2;
    res.reward_dim = o.reward_dim;
  }
  return res;
}

// Checks each row's distribution (one finite probability >= 0 per offered action, summing to
// 1); returns whether the candidate is deterministic.
bool CheckDistributions(const BanditLog& log, const CandidateDistributions& pi) {
  bool deterministic = true;
  for (size_t i = 0; i < log.size(); ++i) {
    const size_t k = log.action_sets[log.row(i).action_set].size();
    if (pi[i].size() != k) {
      Fail(ErrorCode::kInvalidArgument, "candidate: row {} has {} probabilities for {} actions", i,
           pi[i].size(), k);
    }
    double s = 0;
    for (double p : pi[i]) {
      if (!(p >= 0.0) || !std::isfinite(p)) {
        Fail(ErrorCode::kInvalidArgument, "candidate: row {} has a probability {}", i, p);
      }
      s += p;
      if (p != 0.0 && p != 1.0) deterministic = false;
    }
    if (std::abs(s - 1.0) > 1e-6) {
      Fail(ErrorCode::kInvalidArgument, "candidate: row {} probabilities sum to {}", i, s);
    }
  }
  return deterministic;
}

// Support: (action, position) pairs the logging policy chose at least once. Warns about the
// candidate's probability mass outside it.
void WarnUnsupportedMass(const BanditLog& log, const CandidateDistributions& pi, OpeResult* res) {
  const size_t n = log.size();
  std::set<std::string> support;
  for (size_t i = 0; i < n; ++i) {
    support.insert(PairKey(log.ChosenAction(i).id, log.row(i).position));
  }
  double unsupported = 0;
  std::set<std::string> unsupported_pairs;
  for (size_t i = 0; i < n; ++i) {
    const BanditLog::RowRef r = log.row(i);
    const auto& set = log.action_sets[r.action_set];
    for (size_t a = 0; a < set.size(); ++a) {
      if (pi[i][a] <= 0) continue;
      const std::string key = PairKey(set[a].id, r.position);
      if (!support.count(key)) {
        unsupported += pi[i][a];
        unsupported_pairs.insert(key);
      }
    }
  }
  if (unsupported > 0) {
    std::string ex;
    size_t shown = 0;
    for (const auto& p : unsupported_pairs) {
      if (shown++ == 5) break;
      ex += (ex.empty() ? "" : ", ") + p;
    }
    res->warnings.push_back(fmt::format(
        "the candidate puts {:.2f}% of its probability on {} (action{}) pairs the logging policy "
        "never chose (e.g. {}); importance-weighted estimators cannot see that mass",
        100.0 * unsupported / static_cast<double>(n), unsupported_pairs.size(),
        log.has_positions() ? "@position" : "", ex));
  }
}

// The per-row terms of every estimator given row multiplicities (all 1: the data as logged; a
// bootstrap resample otherwise), with the reward model, cross-fitted over folds, refitted on the
// weighted rows each time: smoothed per-(action, position) means, or ridge over the hashed
// features.
class RowTermModel {
 public:
  RowTermModel(const BanditLog& log, const CandidateDistributions& pi, const OpeOptions& o,
               bool ridge, bool deterministic)
      : log_(log),
        pi_(pi),
        o_(o),
        ridge_(ridge),
        deterministic_(deterministic),
        n_(log.size()),
        nf_(static_cast<size_t>(o.folds)),
        fold_(AssignFolds()),
        terms_(n_) {
    IndexCells();
    if (ridge_) Featurize();
    csum_.resize(nf_ * ncell_);
    ccount_.resize(nf_ * ncell_);
    q_.resize(nf_ * ncell_);
  }

  const std::vector<RowTerms>& Compute(const std::vector<double>& mult) {
    if (ridge_) {
      RidgeTerms(mult);
    } else {
      MeanTerms(mult);
    }
    return terms_;
  }

  Sums SumsOf(const std::vector<double>& mult) const {
    Sums s;
    for (size_t i = 0; i < n_; ++i) {
      if (mult[i] != 0) Accumulate(s, terms_[i], o_.tau, mult[i]);
    }
    return s;
  }

 private:
  std::vector<int> AssignFolds() const {
    std::vector<int> fold(n_, 0);
    if (o_.folds > 1) {
      std::mt19937_64 frng(o_.seed ^ 0x9e3779b97f4a7c15ULL);
      for (size_t i = 0; i < n_; ++i) {
        fold[i] = static_cast<int>(frng() % static_cast<uint64_t>(o_.folds));
      }
    }
    return fold;
  }

  // Cells are (action id, position) pairs, numbered once; each row lists the cells of its
  // actions.
  void IndexCells() {
    std::unordered_map<std::string, uint32_t> cell_ids;
    std::unordered_map<uint64_t, uint32_t> set_pos_index;
    row_cells_.resize(n_);
    for (size_t i = 0; i < n_; ++i) {
      const BanditLog::RowRef r = log_.row(i);
      const uint64_t key =
          (static_cast<uint64_t>(r.action_set) << 32) ^ static_cast<uint32_t>(r.position);
      auto [it, added] = set_pos_index.try_emplace(key, static_cast<uint32_t>(set_cells_.size()));
      if (added) {
        std::vector<uint32_t> cells;
        for (const auto& a : log_.action_sets[r.action_set]) {
          auto [c, fresh] = cell_ids.try_emplace(PairKey(a.id, r.position),
                                                 static_cast<uint32_t>(cell_ids.size()));
          cells.push_back(c->second);
        }
        set_cells_.push_back(std::move(cells));
      }
      row_cells_[i] = it->second;
    }
    ncell_ = cell_ids.size();
  }

  // Ridge: the features of each row's logged pair and the candidate's expected features
  // sum_a pi(a|x) phi(x, a) (q is linear, so dm_i = theta . phi_bar_i).
  void Featurize() {
    FeatureSpec spec;
    spec.dim = o_.reward_dim;
    const Featurizer feat(spec);
    const Eigen::Index d = spec.dim;
    phi_c_ = RowMatrixF::Zero(static_cast<Eigen::Index>(n_), d);
    phi_bar_ = RowMatrixF::Zero(static_cast<Eigen::Index>(n_), d);
    std::vector<float> v(spec.dim);
    // Keyed rows, as the learners read them (Featurizer's keyed Joint is bit-identical to the
    // FeatureMap form): no FeatureMap is built per row.
    KeyedScratch scratch;
    for (size_t i = 0; i < n_; ++i) {
      const size_t chosen = log_.row(i).chosen;
      const KeyedInput& in = log_.Keyed(i, &scratch);
      const auto row = static_cast<Eigen::Index>(i);
      for (size_t a = 0; a < in.actions.size(); ++a) {
        if (pi_[i][a] <= 0 && a != chosen) continue;
        feat.Joint(in.context, in.actions[a], v.data());
        const Eigen::Map<const Eigen::RowVectorXf> vm(v.data(), d);
        if (a == chosen) phi_c_.row(row) = vm;
        if (pi_[i][a] > 0) phi_bar_.row(row) += static_cast<float>(pi_[i][a]) * vm;
      }
      if ((i + 1) % kReleaseRows == 0) log_.ReleasePages(i + 1 - kReleaseRows, i + 1);
    }
  }

  // Row i's terms with the reward model's dm (the candidate's expected reward) and qa (the
  // logged action's).
  RowTerms Term(size_t i, double dm, double qa) const {
    const BanditLog::RowRef r = log_.row(i);
    RowTerms t;
    t.r = r.reward;
    t.w = pi_[i][r.chosen] / r.propensity;
    t.dm = dm;
    t.qa = qa;
    t.match = deterministic_ && pi_[i][r.chosen] == 1.0;
    return t;
  }

  void RidgeTerms(const std::vector<double>& mult) {
    const std::vector<Eigen::VectorXd> theta =
        FitRidge(phi_c_, log_, fold_, nf_, mult, o_.reward_l2);
    for (size_t i = 0; i < n_; ++i) {
      if (mult[i] == 0) continue;
      const Eigen::VectorXd& th = theta[static_cast<size_t>(fold_[i])];
      const auto row = static_cast<Eigen::Index>(i);
      terms_[i] = Term(i, phi_bar_.row(row).cast<double>().dot(th.transpose()),
                       phi_c_.row(row).cast<double>().dot(th.transpose()));
    }
  }

  // q for fold f: the smoothed cell means over every other fold (all rows with one fold).
  void FitMeans(const std::vector<double>& mult) {
    std::fill(csum_.begin(), csum_.end(), 0.0);
    std::fill(ccount_.begin(), ccount_.end(), 0.0);
    std::vector<double> fsum(nf_, 0.0), fcount(nf_, 0.0);
    for (size_t i = 0; i < n_; ++i) {
      if (mult[i] == 0) continue;
      const size_t f = static_cast<size_t>(fold_[i]);
      const BanditLog::RowRef r = log_.row(i);
      const uint32_t c = set_cells_[row_cells_[i]][r.chosen];
      csum_[f * ncell_ + c] += mult[i] * r.reward;
      ccount_[f * ncell_ + c] += mult[i];
      fsum[f] += mult[i] * r.reward;
      fcount[f] += mult[i];
    }
    for (size_t f = 0; f < nf_; ++f) {
      double tsum = 0, tcount = 0;
      for (size_t g = 0; g < nf_; ++g) {
        if (nf_ > 1 && g == f) continue;
        tsum += fsum[g];
        tcount += fcount[g];
      }
      const double global = tcount > 0 ? tsum / tcount : 0.0;
      for (size_t c = 0; c < ncell_; ++c) {
        double s = 0, k = 0;
        for (size_t g = 0; g < nf_; ++g) {
          if (nf_ > 1 && g == f) continue;
          s += csum_[g * ncell_ + c];
          k += ccount_[g * ncell_ + c];
        }
        const double denom = k + o_.smoothing;
        q_[f * ncell_ + c] = denom > 0 ? (s + o_.smoothing * global) / denom : global;
      }
    }
  }

  void MeanTerms(const std::vector<double>& mult) {
    FitMeans(mult);
    for (size_t i = 0; i < n_; ++i) {
      if (mult[i] == 0) continue;
      const double* qf = q_.data() + static_cast<size_t>(fold_[i]) * ncell_;
      const std::vector<uint32_t>& cells = set_cells_[row_cells_[i]];
      double dm = 0;
      for (size_t a = 0; a < cells.size(); ++a) {
        if (pi_[i][a] > 0) dm += pi_[i][a] * qf[cells[a]];
      }
      terms_[i] = Term(i, dm, qf[cells[log_.row(i).chosen]]);
    }
  }

  const BanditLog& log_;
  const CandidateDistributions& pi_;
  const OpeOptions& o_;
  const bool ridge_, deterministic_;
  const size_t n_, nf_;
  const std::vector<int> fold_;
  std::vector<std::vector<uint32_t>> set_cells_;  // per (action set, position): cell per action
  std::vector<uint32_t> row_cells_;               // index into set_cells_
  size_t ncell_ = 0;
  RowMatrixF phi_c_, phi_bar_;             // ridge
  std::vector<double> csum_, ccount_, q_;  // mean: per (fold, cell)
  std::vector<RowTerms> terms_;
};

// ESS, the logged reward and the largest weight, from the terms on the log as logged. Returns
// whether any importance weight is > 0 (and warns when none is).
bool SummariseWeights(const std::vector<RowTerms>& terms, OpeResult* res) {
  double sw = 0, sw2 = 0, rsum = 0;
  for (const RowTerms& t : terms) {
    sw += t.w;
    sw2 += t.w * t.w;
    rsum += t.r;
    res->max_weight = std::max(res->max_weight, t.w);
  }
  res->ess = sw2 > 0 ? sw * sw / sw2 : 0.0;
  res->logged_reward = rsum / static_cast<double>(terms.size());
  if (sw == 0) {
    res->warnings.push_back(
        "no logged action has candidate probability > 0: every importance weight is 0");
  }
  return sw != 0;
}

// The estimators reported (replay added for a deterministic candidate when asked) and their
// values on the log as logged.
void PointEstimates(const OpeOptions& o, const Sums& full, OpeResult* res) {
  res->order = o.estimators;
  if (res->deterministic && o.replay &&
      std::find(res->order.begin(), res->order.end(), "replay") == res->order.end()) {
    res->order.push_back("replay");
  }
  res->replay_matches = static_cast<size_t>(full.match);
  if (std::find(res->order.begin(), res->order.end(), "replay") != res->order.end()) {
    if (!res->deterministic) {
      res->warnings.push_back("replay needs a deterministic candidate; its value is meaningless");
    } else if (full.match == 0) {
      res->warnings.push_back("replay: the candidate never picks the logged action");
    }
  }
  for (const auto& e : res->order) res->estimates[e].value = Value(e, full);
}

// Percentile intervals over bootstrap resamples of the rows (none: the point estimates).
// Refitting the ridge model costs O(n d^2) per resample: above kRidgeRefitLimit the resamples
// reuse the model fitted on the log (and say so).
void BootstrapIntervals(RowTermModel& model, const OpeOptions& o, bool ridge, OpeResult* res) {
  const size_t n = res->n;
  const bool refit =
      !ridge || static_cast<double>(n) * o.reward_dim * o.reward_dim <= kRidgeRefitLimit;
  if (o.bootstrap > 0 && !refit) {
    res->warnings.push_back(fmt::format(
        "the ridge reward model was fitted once and not refitted per bootstrap resample (n d^2 = "
        "{:.2g} > {:.2g}): dm intervals omit its fitting variance",
        static_cast<double>(n) * o.reward_dim * o.reward_dim, kRidgeRefitLimit));
  }
  if (o.bootstrap == 0) {
    for (const auto& e : res->order) {
      res->estimates[e].lo = res->estimates[e].hi = res->estimates[e].value;
    }
    return;
  }
  std::mt19937_64 rng(o.seed);
  std::map<std::string, std::vector<double>> samples;
  std::vector<double> mult(n);
  for (int b = 0; b < o.bootstrap; ++b) {
    std::fill(mult.begin(), mult.end(), 0.0);
    for (size_t j = 0; j < n; ++j) mult[rng() % n] += 1;
    if (refit) model.Compute(mult);  // refit the reward model on the resample
    const Sums s = model.SumsOf(mult);
    for (const auto& e : res->order) samples[e].push_back(Value(e, s));
  }
  for (const auto& e : res->order) {
    res->estimates[e].lo = Percentile(samples[e], 0.025);
    res->estimates[e].hi = Percentile(samples[e], 0.975);
  }
}

void WarnLowEss(bool any_weight, OpeResult* res) {
  if (res->ess < 0.01 * static_cast<double>(res->n) && any_weight) {
    res->warnings.push_back(fmt::format(
        "effective sample size {:.1f} is under 1% of the {} rows: estimates are high-variance",
        res->ess, res->n));
  }
}

}  // namespace

void CheckRewardModel(const std::string& name) {
  const auto& k = KnownRewardModels();
  if (std::find(k.begin(), k.end(), name) == k.end()) {
    Fail(ErrorCode::kInvalidArgument, "reward model: unknown '{}' (known: {})", name,
         fmt::format("{}", fmt::join(k, ", ")));
  }
}

std::string ResolveRewardModel(const std::string& name, const BanditLog& log) {
  CheckRewardModel(name);
  if (name != "auto") return name;
  for (size_t i = 0; i < log.size(); ++i) {
    if (!log.Context(i).empty()) return "ridge";
  }
  for (const auto& set : log.action_sets) {
    for (const auto& a : set) {
      if (!a.features.empty()) return "ridge";
    }
  }
  return "mean";
}

std::vector<std::string> ParseEstimators(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream ss(list);
  std::string e;
  while (std::getline(ss, e, ',')) {
    e.erase(0, e.find_first_not_of(' '));
    e.erase(e.find_last_not_of(' ') + 1);
    if (e.empty()) continue;
    const auto& k = KnownEstimators();
    if (std::find(k.begin(), k.end(), e) == k.end()) {
      Fail(ErrorCode::kInvalidArgument, "estimators: unknown estimator '{}' (known: {})", e,
           fmt::format("{}", fmt::join(k, ", ")));
    }
    if (std::find(out.begin(), out.end(), e) == out.end()) out.push_back(e);
  }
  if (out.empty()) Fail(ErrorCode::kInvalidArgument, "estimators: the list is empty");
  return out;
}

OpeResult EvaluateOffPolicy(const BanditLog& log, const CandidateDistributions& pi,
                            const OpeOptions& o) {
  CheckOptions(log, pi, o);
  OpeResult res = NewResult(log, o);
  res.deterministic = CheckDistributions(log, pi);
  WarnUnsupportedMass(log, pi, &res);
  // The ridge model costs O(n d^2) to fit; only the model-based estimators read it (ips, snips
  // and replay do not), so it is fitted only when one of them is asked for.
  const bool needs_model = std::any_of(o.estimators.begin(), o.estimators.end(), [](const auto& e) {
    return e == "dm" || e == "dr" || e == "sndr" || e == "switch-dr";
  });
  const bool ridge = res.reward_model == "ridge" && needs_model;
  RowTermModel model(log, pi, o, ridge, res.deterministic);
  const std::vector<double> ones(log.size(), 1.0);
  const bool any_weight = SummariseWeights(model.Compute(ones), &res);
  PointEstimates(o, model.SumsOf(ones), &res);
  BootstrapIntervals(model, o, ridge, &res);
  WarnLowEss(any_weight, &res);
  return res;
}

nlohmann::json OpeResult::ToJson() const {
  nlohmann::json est = nlohmann::json::object();
  for (const auto& e : order) {
    const auto& v = estimates.at(e);
    est[e] = {{"value", v.value}, {"ci", {v.lo, v.hi}}};
  }
  return {{"estimates", est},
          {"estimator_order", order},
          {"n", n},
          {"ess", ess},
          {"max_weight", max_weight},
          {"logged_reward", logged_reward},
          {"deterministic", deterministic},
          {"replay_matches", replay_matches},
          {"bootstrap", bootstrap},
          {"seed", seed},
          {"tau", tau},
          {"reward_model", reward_model},
          {"reward_l2", reward_l2},
          {"reward_dim", reward_dim},
          {"warnings", warnings}};
}

std::string OpeResult::Format() const {
  std::string out = fmt::format(
      "{} logged decisions, effective sample size {:.1f}, max weight "
      "{:.3g}; logged mean reward {:.6f}\nreward model (dm, dr, sndr, switch-dr): {}\n\n",
      n, ess, max_weight, logged_reward,
      reward_model == "ridge"
          ? fmt::format("ridge (l2 {:g}, hashed dimension {})", reward_l2, reward_dim)
          : std::string("smoothed mean per action[, position]"));
  out += fmt::format("  {:<10} {:>12}   {}\n", "estimator", "value",
                     bootstrap > 0 ? fmt::format("95% bootstrap CI ({} resamples)", bootstrap)
                                   : std::string("(no bootstrap)"));
  for (const auto& e : order) {
    const auto& v = estimates.at(e);
    out += fmt::format("  {:<10} {:>12.6f}   [{:.6f}, {:.6f}]\n", e, v.value, v.lo, v.hi);
  }
  for (const auto& w : warnings) out += "warning: " + w + "\n";
  return out;
}

CandidateDistributions PolicyDistributions(const Policy& policy, const BanditLog& log,
                                           uint64_t seed) {
  std::mt19937_64 rng(seed);
  CandidateDistributions out(log.size());
  // The keyed rows of a typed log: no FeatureMap is rebuilt per row (the log was validated when
  // it was imported, which is what the DecisionInput form would check again).
  KeyedScratch scratch;
  for (size_t i = 0; i < log.size(); ++i) {
    out[i] = policy.Probabilities(log.Keyed(i, &scratch), rng);
    if ((i + 1) % kReleaseRows == 0) log.ReleasePages(i + 1 - kReleaseRows, i + 1);
  }
  return out;
}

CandidateDistributions EmpiricalDistributions(const BanditLog& cand, const BanditLog& log,
                                              std::vector<std::string>* warnings) {
  if (cand.size() == 0) Fail(ErrorCode::kInvalidArgument, "the candidate log has no rows");
  const bool per_position = cand.has_positions() && log.has_positions();
  std::unordered_map<std::string, double> counts;  // PairKey(id, pos) or id
  for (size_t i = 0; i < cand.size(); ++i) {
    const int32_t pos = per_position ? cand.row(i).position : -1;
    counts[PairKey(cand.ChosenAction(i).id, pos)] += 1;
    if (per_position) counts[PairKey(cand.ChosenAction(i).id, -1)] += 1;
  }
  CandidateDistributions out(log.size());
  size_t uniform_rows = 0, fallback_rows = 0;
  for (size_t i = 0; i < log.size(); ++i) {
    const BanditLog::RowRef r = log.row(i);
    const auto& set = log.action_sets[r.action_set];
    const int32_t pos = per_position ? r.position : -1;
    auto mass = [&](int32_t p, std::vector<double>& v) {
      double total = 0;
      for (size_t a = 0; a < set.size(); ++a) {
        auto it = counts.find(PairKey(set[a].id, p));
        v[a] = it == counts.end() ? 0.0 : it->second;
        total += v[a];
      }
      return total;
    };
    std::vector<double> v(set.size());
    double total = mass(pos, v);
    if (total == 0 && pos >= 0) {
      ++fallback_rows;
      total = mass(-1, v);
    }
    if (total == 0) {
      ++uniform_rows;
      std::fill(v.begin(), v.end(), 1.0 / static_cast<double>(set.size()));
    } else {
      for (double& x : v) x /= total;
    }
    out[i] = std::move(v);
  }
  if (warnings != nullptr) {
    if (fallback_rows > 0) {
      warnings->push_back(fmt::format(
          "{} rows have a position the candidate log never used: its overall distribution was "
          "used",
          fallback_rows));
    }
    if (uniform_rows > 0) {
      warnings->push_back(fmt::format(
          "{} rows offer only actions the candidate log never chose: uniform there", uniform_rows));
    }
  }
  return out;
}

}  // namespace marquee

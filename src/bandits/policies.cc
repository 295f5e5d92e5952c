// The policy families behind policy.h: uniform, epsilon-greedy, softmax, linucb, lints (and
// cb-adf, in cb_adf.cc, which epsilon-greedy and softmax also use with model = "online").
//
// All learned families share one reward model (RewardModel): importance-weighted ridge
// regression kept as (A^-1, b) with Sherman-Morrison updates, in one of three layouts:
//   shared      one model over the joint (context, action) vector (features.h)
//   disjoint    one model per action id over the context-only vector
//   per-action  a running (weighted) mean per action id (ridge on a constant feature)
// An action id never seen has the prior: mean 0, variance |x|^2 / lambda.
#include <fmt/ranges.h>
#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>

#include "bandits/features.h"
#include "bandits/policy.h"
#include "bandits/policy_util.h"
#include "common/thread_pool.h"
#include "marquee/error.h"
#include "models/artifact.h"

namespace marquee {
namespace {

using namespace policy_internal;  // NOLINT: the families' shared helpers

// The reward model of epsilon-greedy and softmax when params.model is not given.
constexpr const char* kDefaultModel = "online";

// --- the reward model

enum class Layout { kShared, kDisjoint, kPerAction };

struct Ridge {
  Eigen::MatrixXd ainv;   // (lambda I + sum w x x^T)^-1
  Eigen::VectorXd b;      // sum w r x
  Eigen::VectorXd theta;  // ainv b
  double sum_w = 0;
  uint64_t count = 0;

  void Init(int d, double lambda) {
    ainv = Eigen::MatrixXd::Identity(d, d) / lambda;
    b = Eigen::VectorXd::Zero(d);
    theta = Eigen::VectorXd::Zero(d);
  }
  void Update(const Eigen::VectorXd& x, double r, double w) {
    const Eigen::VectorXd u = ainv * x;
    const double denom = 1.0 + w * x.dot(u);
    ainv.noalias() -= (w / denom) * u * u.transpose();
    b += (w * r) * x;
    theta.noalias() = ainv * b;
    sum_w += w;
    ++count;
  }
};

class RewardModel {
 public:
  RewardModel(Layout layout, double lambda, const FeatureSpec& spec, std::string weighting,
              double max_weight)
      : layout_(layout),
        lambda_(lambda),
        fz_(spec),
        weighting_(std::move(weighting)),
        max_weight_(max_weight) {
    if (layout_ == Layout::kShared) shared_.Init(static_cast<int>(spec.dim), lambda_);
  }

  Layout layout() const { return layout_; }
  const Featurizer& featurizer() const { return fz_; }

  // The rows of X (K x d) for the input: joint vectors (shared) or the context vector repeated
  // (disjoint). Unused for per-action.
  Eigen::MatrixXd Design(const KeyedInput& in) const {
    const int d = static_cast<int>(fz_.dim());
    const int k = static_cast<int>(in.actions.size());
    Eigen::MatrixXd x(k, d);
    std::vector<float> buf(static_cast<size_t>(d));
    if (layout_ == Layout::kShared) {
      for (int a = 0; a < k; ++a) {
        fz_.Joint(in.context, in.actions[static_cast<size_t>(a)], buf.data());
        for (int j = 0; j < d; ++j) x(a, j) = buf[static_cast<size_t>(j)];
      }
    } else if (layout_ == Layout::kDisjoint) {
      fz_.ContextOnly(in.context, buf.data());
      for (int a = 0; a < k; ++a) {
        for (int j = 0; j < d; ++j) x(a, j) = buf[static_cast<size_t>(j)];
      }
    }
    return x;
  }

  // Posterior means and the score covariance (K x K) of the actions (covariance only when
  // `cov` is not null; diagonal for disjoint and per-action).
  void Scores(const KeyedInput& in, Eigen::VectorXd* mean, Eigen::MatrixXd* cov) const {
    const int k = static_cast<int>(in.actions.size());
    mean->resize(k);
    if (cov != nullptr) cov->setZero(k, k);
    if (layout_ == Layout::kPerAction) {
      for (int a = 0; a < k; ++a) {
        auto it = index_.find(std::string(in.actions[static_cast<size_t>(a)].id));
        double sw = 0, swr = 0;
        if (it != index_.end()) {
          sw = means_[it->second].first;
          swr = means_[it->second].second;
        }
        (*mean)(a) = swr / (lambda_ + sw);
        if (cov != nullptr) (*cov)(a, a) = 1.0 / (lambda_ + sw);
      }
      return;
    }
    const Eigen::MatrixXd x = Design(in);
    if (layout_ == Layout::kShared) {
      *mean = x * shared_.theta;
      if (cov != nullptr) {
        const Eigen::MatrixXd xa = x * shared_.ainv;
        *cov = xa * x.transpose();
      }
      return;
    }
    for (int a = 0; a < k; ++a) {
      const Eigen::VectorXd row = x.row(a).transpose();
      auto it = index_.find(std::string(in.actions[static_cast<size_t>(a)].id));
      if (it == index_.end()) {
        (*mean)(a) = 0;
        if (cov != nullptr) (*cov)(a, a) = row.squaredNorm() / lambda_;
      } else {
        const Ridge& m = models_[it->second];
        (*mean)(a) = row.dot(m.theta);
        if (cov != nullptr) (*cov)(a, a) = row.dot(m.ainv * row);
      }
    }
  }

  double Weight(double propensity) const {
    if (weighting_ == "none") return 1.0;
    return std::min(1.0 / propensity, max_weight_);
  }

  void Update(const KeyedInput& in, size_t chosen, double reward, double propensity) {
    const double w = Weight(propensity);
    const KeyedAction& act = in.actions[chosen];
    if (layout_ == Layout::kPerAction) {
      auto& m = means_[Slot(std::string(act.id))];
      m.first += w;
      m.second += w * reward;
      return;
    }
    const int d = static_cast<int>(fz_.dim());
    std::vector<float> buf(static_cast<size_t>(d));
    if (layout_ == Layout::kShared) {
      fz_.Joint(in.context, act, buf.data());
    } else {
      fz_.ContextOnly(in.context, buf.data());
    }
    Eigen::VectorXd x(d);
    for (int j = 0; j < d; ++j) x(j) = buf[static_cast<size_t>(j)];
    if (layout_ == Layout::kShared) {
      shared_.Update(x, reward, w);
    } else {
      models_[Slot(std::string(act.id))].Update(x, reward, w);
    }
  }

  void Save(ArtifactWriter& w, std::vector<double>& store) const {
    // `store` owns the copied numbers until Write (the writer keeps spans).
    nlohmann::json& h = w.header();
    h["model"] = {{"layout", LayoutName(layout_)},
                  {"lambda", lambda_},
                  {"weighting", weighting_},
                  {"max_weight", max_weight_},
                  {"actions", ids_}};
    const size_t d = fz_.dim();
    store.clear();
    if (layout_ == Layout::kPerAction) {
      for (const auto& [sw, swr] : means_) {
        store.push_back(sw);
        store.push_back(swr);
      }
      store.shrink_to_fit();
      w.Add<double>("means", std::span<const double>(store), {means_.size(), 2});
      return;
    }
    const std::vector<const Ridge*> ms = Models();
    store.reserve(ms.size() * (d * d + d + 2));
    for (const Ridge* m : ms) {
      store.insert(store.end(), m->ainv.data(), m->ainv.data() + d * d);
      store.insert(store.end(), m->b.data(), m->b.data() + d);
      store.push_back(m->sum_w);
      store.push_back(static_cast<double>(m->count));
    }
    w.Add<double>("ridge", std::span<const double>(store), {ms.size(), d * d + d + 2});
  }

  void Load(const ArtifactReader& r, const std::string& path) {
    const nlohmann::json& m = r.header().at("model");
    ids_ = m.at("actions").get<std::vector<std::string>>();
    index_.clear();
    for (size_t i = 0; i < ids_.size(); ++i) index_[ids_[i]] = i;
    const size_t d = fz_.dim();
    if (layout_ == Layout::kPerAction) {
      auto v = r.Get<double>("means");
      if (v.size() != 2 * ids_.size()) {
        Fail(ErrorCode::kCorruption, "'{}': means has {} values for {} actions", path, v.size(),
             ids_.size());
      }
      for (size_t k = 0; k < v.size(); ++k) {
        if (!std::isfinite(v[k])) {
          Fail(ErrorCode::kCorruption, "'{}': means value {} is {}", path, k, v[k]);
        }
      }
      means_.resize(ids_.size());
      for (size_t i = 0; i < ids_.size(); ++i) means_[i] = {v[2 * i], v[2 * i + 1]};
      return;
    }
    const size_t nm = layout_ == Layout::kShared ? 1 : ids_.size();
    auto v = r.Get<double>("ridge");
    const size_t stride = d * d + d + 2;
    if (v.size() != nm * stride) {
      Fail(ErrorCode::kCorruption, "'{}': ridge has {} values, expected {}", path, v.size(),
           nm * stride);
    }
    // Learned state is always finite; a NaN or infinity here (a damaged file, found by the
    // artifact fuzzer) would turn every score and probability into NaN.
    for (size_t k = 0; k < v.size(); ++k) {
      if (!std::isfinite(v[k])) {
        Fail(ErrorCode::kCorruption, "'{}': ridge value {} is {}", path, k, v[k]);
      }
    }
    models_.assign(layout_ == Layout::kShared ? 0 : nm, Ridge{});
    for (size_t i = 0; i < nm; ++i) {
      Ridge& m = layout_ == Layout::kShared ? shared_ : models_[i];
      const double* p = v.data() + i * stride;
      m.ainv = Eigen::Map<const Eigen::MatrixXd>(p, static_cast<int>(d), static_cast<int>(d));
      m.b = Eigen::Map<const Eigen::VectorXd>(p + d * d, static_cast<int>(d));
      m.theta = m.ainv * m.b;
      if (!m.theta.allFinite()) {
        Fail(ErrorCode::kCorruption, "'{}': ridge model {} has weights that overflow", path, i);
      }
      m.sum_w = p[d * d + d];
      // A damaged file may hold any double here; casting one outside uint64's range is UB
      // (found by the artifact fuzzer), so check it first.
      const double count = p[d * d + d + 1];
      if (!(count >= 0 && count <= 9007199254740992.0)) {  // 2^53; false for NaN
        Fail(ErrorCode::kCorruption, "'{}': ridge model {} has an update count of {}", path, i,
             count);
      }
      m.count = static_cast<uint64_t>(count);
    }
  }

  static const char* LayoutName(Layout l) {
    switch (l) {
      case Layout::kShared:
        return "shared";
      case Layout::kDisjoint:
        return "disjoint";
      case Layout::kPerAction:
        return "per-action";
    }
    return "?";
  }

 private:
  size_t Slot(const std::string& id) {
    auto [it, added] = index_.try_emplace(id, ids_.size());
    if (added) {
      ids_.push_back(id);
      if (layout_ == Layout::kPerAction) {
        means_.emplace_back(0.0, 0.0);
      } else if (layout_ == Layout::kDisjoint) {
        models_.emplace_back();
        models_.back().Init(static_cast<int>(fz_.dim()), lambda_);
      }
    }
    return it->second;
  }
  std::vector<const Ridge*> Models() const {
    std::vector<const Ridge*> out;
    if (layout_ == Layout::kShared) {
      out.push_back(&shared_);
    } else {
      for (const auto& m : models_) out.push_back(&m);
    }
    return out;
  }

  Layout layout_;
  double lambda_;
  Featurizer fz_;
  std::string weighting_;
  double max_weight_;
  Ridge shared_;
  std::vector<std::string> ids_;  // per-action / disjoint: ids in first-seen order
  std::unordered_map<std::string, size_t> index_;
  std::vector<Ridge> models_;                     // disjoint
  std::vector<std::pair<double, double>> means_;  // per-action: (sum w, sum w r)
};

std::vector<double> ArgmaxOf(const Eigen::VectorXd& s) {
  return ArgmaxDistribution(std::span<const double>(s.data(), static_cast<size_t>(s.size())));
}

// --- families

class UniformPolicy final : public PolicyBase {
 public:
  explicit UniformPolicy(PolicyConfig c) : PolicyBase(std::move(c)) {}
  std::vector<double> Probabilities(const KeyedInput& in, std::mt19937_64&) const override {
    CheckActions(in);
    return std::vector<double>(in.actions.size(), 1.0 / static_cast<double>(in.actions.size()));
  }
  void Update(const KeyedInput& in, size_t chosen, double reward, double propensity) override {
    CheckUpdate(in, chosen, reward, propensity);
  }
  std::unique_ptr<Policy> Clone() const override { return std::make_unique<UniformPolicy>(*this); }
};

// Families with a reward model; `Dist` turns posterior scores into the distribution.
class ModelPolicy : public PolicyBase {
 public:
  ModelPolicy(PolicyConfig c, Layout layout, double lambda, std::string weighting,
              double max_weight)
      : PolicyBase(std::move(c)),
        model_(layout, lambda, FeatureSpec::FromJson(config_.features), std::move(weighting),
               max_weight) {}
  void Update(const KeyedInput& in, size_t chosen, double reward, double propensity) override {
    CheckUpdate(in, chosen, reward, propensity);
    model_.Update(in, chosen, reward, propensity);
  }
  void SaveState(ArtifactWriter& w, std::vector<double>& store) const override {
    model_.Save(w, store);
  }
  void LoadState(const ArtifactReader& r, const std::string& path) override {
    model_.Load(r, path);
  }

 protected:
  RewardModel model_;
};

class EpsilonGreedyPolicy final : public ModelPolicy {
 public:
  EpsilonGreedyPolicy(PolicyConfig c, Layout l, double lambda, std::string wt, double mw,
                      double eps)
      : ModelPolicy(std::move(c), l, lambda, std::move(wt), mw), epsilon_(eps) {}
  std::vector<double> Probabilities(const KeyedInput& in, std::mt19937_64&) const override {
    CheckActions(in);
    Eigen::VectorXd mean;
    model_.Scores(in, &mean, nullptr);
    std::vector<double> p = ArgmaxOf(mean);
    MixUniform(p, epsilon_);
    return p;
  }
  std::unique_ptr<Policy> Clone() const override {
    return std::make_unique<EpsilonGreedyPolicy>(*this);
  }

 private:
  double epsilon_;
};

class SoftmaxPolicy final : public ModelPolicy {
 public:
  SoftmaxPolicy(PolicyConfig c, Layout l, double lambda, std::string wt, double mw, double temp)
      : ModelPolicy(std::move(c), l, lambda, std::move(wt), mw), temperature_(temp) {}
  std::vector<double> Probabilities(const KeyedInput& in, std::mt19937_64&) const override {
    CheckActions(in);
    Eigen::VectorXd mean;
    model_.Scores(in, &mean, nullptr);
    const double mx = mean.maxCoeff();
    std::vector<double> p(in.actions.size());
    double z = 0;
    for (size_t i = 0; i < p.size(); ++i) {
      p[i] = std::exp((mean(static_cast<int>(i)) - mx) / temperature_);
      z += p[i];
    }
    for (double& x : p) x /= z;
    return p;
  }
  std::unique_ptr<Policy> Clone() const override { return std::make_unique<SoftmaxPolicy>(*this); }

 private:
  double temperature_;
};

class LinUcbPolicy final : public ModelPolicy {
 public:
  LinUcbPolicy(PolicyConfig c, Layout l, double lambda, std::string wt, double mw, double alpha,
               double eps)
      : ModelPolicy(std::move(c), l, lambda, std::move(wt), mw), alpha_(alpha), epsilon_(eps) {}
  std::vector<double> Probabilities(const KeyedInput& in, std::mt19937_64&) const override {
    CheckActions(in);
    Eigen::VectorXd mean;
    Eigen::MatrixXd cov;
    model_.Scores(in, &mean, &cov);
    Eigen::VectorXd ucb = mean;
    for (int a = 0; a < ucb.size(); ++a) ucb(a) += alpha_ * std::sqrt(std::max(0.0, cov(a, a)));
    std::vector<double> p = ArgmaxOf(ucb);
    MixUniform(p, epsilon_);
    return p;
  }
  std::unique_ptr<Policy> Clone() const override { return std::make_unique<LinUcbPolicy>(*this); }

 private:
  double alpha_, epsilon_;
};

class LinTsPolicy final : public ModelPolicy {
 public:
  LinTsPolicy(PolicyConfig c, Layout l, double lambda, std::string wt, double mw, double v,
              int draws)
      : ModelPolicy(std::move(c), l, lambda, std::move(wt), mw), v_(v), draws_(draws) {}
  std::vector<double> Probabilities(const KeyedInput& in, std::mt19937_64& rng) const override {
    CheckActions(in);
    Eigen::VectorXd mean;
    Eigen::MatrixXd cov;
    model_.Scores(in, &mean, &cov);
    const int k = static_cast<int>(mean.size());
    // Scores of a posterior draw are jointly Gaussian: mean + v * R z with R R^T = cov.
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(cov);
    Eigen::VectorXd sq = es.eigenvalues().cwiseMax(0.0).cwiseSqrt();
    const Eigen::MatrixXd root = es.eigenvectors() * sq.asDiagonal();
    std::mt19937_64 mc(rng());
    std::vector<double> p(static_cast<size_t>(k), 0.0);
    Eigen::VectorXd z(k), s(k);
    for (int t = 0; t < draws_; ++t) {
      for (int i = 0; i < k; i += 2) {  // Box-Muller gives two normals per pair of uniforms
        double u1 = Uniform01(mc);
        if (u1 < 1e-300) u1 = 1e-300;
        const double rad = std::sqrt(-2.0 * std::log(u1)), ang = 2.0 * M_PI * Uniform01(mc);
        z(i) = rad * std::cos(ang);
        if (i + 1 < k) z(i + 1) = rad * std::sin(ang);
      }
      s = mean + v_ * (root * z);
      Eigen::Index best = 0;
      s.maxCoeff(&best);
      p[static_cast<size_t>(best)] += 1.0;
    }
    for (double& x : p) x /= draws_;
    return p;
  }
  std::unique_ptr<Policy> Clone() const override { return std::make_unique<LinTsPolicy>(*this); }

 private:
  double v_;
  int draws_;
};

}  // namespace

namespace policy_internal {

void PolicyBase::Save(const std::string& path, Env* env) const {
  const PolicyConfig& c = config();
  ArtifactWriter w(kArtifactFamily, {{"bandit_version", kPolicyFormatVersion},
                                     {"policy_family", c.family},
                                     {"params", c.params},
                                     {"features", c.features},
                                     {"seed", c.seed}});
  std::vector<double> store;
  SaveState(w, store);
  w.Write(path, env != nullptr ? env : Env::Default());
}

}  // namespace policy_internal

namespace {

Layout LayoutFor(const std::string& name) {
  if (name == "shared" || name == "linear") return Layout::kShared;
  if (name == "disjoint") return Layout::kDisjoint;
  return Layout::kPerAction;
}

}  // namespace

std::vector<double> Policy::Probabilities(const DecisionInput& in, std::mt19937_64& rng) const {
  ValidateInput(in);
  thread_local KeyedScratch scratch;
  return Probabilities(scratch.Key(in.context, in.actions), rng);
}

std::pair<size_t, std::vector<double>> Policy::Decide(const DecisionInput& in,
                                                      std::mt19937_64& rng) const {
  std::vector<double> p = Probabilities(in, rng);
  const size_t i = SampleIndex(p, rng);
  return {i, std::move(p)};
}

std::pair<size_t, std::vector<double>> Policy::Decide(const KeyedInput& in,
                                                      std::mt19937_64& rng) const {
  std::vector<double> p = Probabilities(in, rng);
  const size_t i = SampleIndex(p, rng);
  return {i, std::move(p)};
}

void Policy::Update(const DecisionInput& in, size_t chosen, double reward, double propensity) {
  ValidateInput(in);
  thread_local KeyedScratch scratch;
  Update(scratch.Key(in.context, in.actions), chosen, reward, propensity);
}

void Policy::Learn(size_t n, int passes, const RowSource& row, int /*threads*/,
                   const std::function<void(size_t)>& progress) {
  KeyedScratch scratch;
  size_t done = 0;
  for (int pass = 0; pass < passes; ++pass) {
    for (size_t i = 0; i < n; ++i) {
      const LoggedRow r = row(i, &scratch);
      Update(*r.input, r.chosen, r.reward, r.propensity);
      if (++done % 4096 == 0 && progress) progress(done);
    }
  }
  if (progress) progress(done);
}

std::vector<std::string> PolicyFamilies() {
  return {"uniform", "epsilon-greedy", "softmax", "linucb", "lints", "cb-adf"};
}

std::unique_ptr<Policy> MakePolicy(const PolicyConfig& given) {
  PolicyConfig c = given;
  // Validate features first (kInvalidArgument naming features.KEY), then store them resolved.
  c.features = FeatureSpec::FromJson(given.features).ToJson();
  const std::string& f = c.family;
  Params ps(f, given.params);
  if (f == "uniform") {
    c.params = ps.Finish();
    return std::make_unique<UniformPolicy>(std::move(c));
  }
  if (f == "cb-adf") return NewCbAdfPolicy(std::move(c), ps, "");
  const bool ucb_like = f == "linucb" || f == "lints";
  if (!ucb_like && f != "epsilon-greedy" && f != "softmax") {
    Fail(ErrorCode::kInvalidArgument, "family: unknown bandit policy '{}' (known: {})", f,
         fmt::format("{}", fmt::join(PolicyFamilies(), ", ")));
  }
  std::string layout =
      ucb_like ? ps.Choice("mode", "disjoint", {"disjoint", "shared"})
               : ps.Choice("model", kDefaultModel, {"online", "linear", "disjoint", "per-action"});
  if (layout == "online") {
    // Decided before the call: `f` refers to c.family, which moving `c` into the parameter
    // empties, and the order in which arguments are evaluated is unspecified (clang moves first).
    const std::string explore = f == "softmax" ? "softmax" : "epsilon";
    return NewCbAdfPolicy(std::move(c), ps, explore);
  }
  const double lambda = ps.Number("lambda", 1.0, 1e-9, 1e12);
  std::string weighting = ps.Choice("weighting", "none", {"none", "inverse-propensity"});
  const double max_weight = ps.Number("max_weight", 100.0, 1.0, 1e12);
  const Layout l = LayoutFor(layout);
  if (f == "epsilon-greedy") {
    const double eps = ps.Number("epsilon", 0.1, 0.0, 1.0);
    c.params = ps.Finish();
    return std::make_unique<EpsilonGreedyPolicy>(std::move(c), l, lambda, weighting, max_weight,
                                                 eps);
  }
  if (f == "softmax") {
    const double t = ps.Number("temperature", 0.1, 1e-9, 1e9);
    c.params = ps.Finish();
    return std::make_unique<SoftmaxPolicy>(std::move(c), l, lambda, weighting, max_weight, t);
  }
  if (f == "linucb") {
    const double alpha = ps.Number("alpha", 1.0, 0.0, 1e9);
    const double eps = ps.Number("epsilon", 0.0, 0.0, 1.0);
    c.params = ps.Finish();
    return std::make_unique<LinUcbPolicy>(std::move(c), l, lambda, weighting, max_weight, alpha,
                                          eps);
  }
  const double v = ps.Number("v", 0.5, 0.0, 1e9);
  const int draws = static_cast<int>(ps.Integer("draws", 256, 1, 1000000));
  c.params = ps.Finish();
  return std::make_unique<LinTsPolicy>(std::move(c), l, lambda, weighting, max_weight, v, draws);
}

std::unique_ptr<Policy> LoadPolicy(const std::string& path, Env* env) {
  auto r = ArtifactReader::Open(path, env != nullptr ? env : Env::Default());
  if (r->family() != kArtifactFamily) {
    Fail(ErrorCode::kInvalidArgument, "'{}' is a {} artifact, not a bandit policy", path,
         r->family());
  }
  const nlohmann::json& h = r->header();
  PolicyConfig c;
  try {
    const uint32_t v = h.at("bandit_version").get<uint32_t>();
    if (v > kPolicyFormatVersion) {
      Fail(ErrorCode::kUnimplemented,
           "'{}': bandit policy version {} is newer than this build ({})", path, v,
           kPolicyFormatVersion);
    }
    c.family = h.at("policy_family").get<std::string>();
    c.params = h.at("params");
    c.features = h.at("features");
    c.seed = h.at("seed").get<uint64_t>();
  } catch (const nlohmann::json::exception& e) {
    Fail(ErrorCode::kCorruption, "'{}': damaged bandit policy header: {}", path, e.what());
  }
  std::unique_ptr<Policy> p = MakePolicy(c);
  try {
    static_cast<PolicyBase*>(p.get())->LoadState(*r, path);
  } catch (const nlohmann::json::exception& e) {
    Fail(ErrorCode::kCorruption, "'{}': damaged bandit model: {}", path, e.what());
  }
  return p;
}

}  // namespace marquee

// The policy families behind policy.h: uniform, epsilon-greedy, softmax, linucb, lints.
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
#include "marquee/error.h"
#include "models/artifact.h"

namespace marquee {
namespace {

constexpr uint32_t kPolicyFormatVersion = 1;
constexpr const char* kArtifactFamily = "bandit-policy";

double Uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

size_t SampleIndex(const std::vector<double>& p, std::mt19937_64& rng) {
  const double u = Uniform01(rng);
  double acc = 0;
  size_t last = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] <= 0) continue;
    last = i;
    acc += p[i];
    if (u < acc) return i;
  }
  return last;  // rounding: the last action with mass
}

// --- parameters

// Reads the family's parameters from `given`, rejecting unknown ones; records the resolved
// values (defaults filled in) in `resolved`.
class Params {
 public:
  Params(const std::string& family, const nlohmann::json& given) : family_(family), j_(given) {
    if (j_.is_null()) j_ = nlohmann::json::object();
    if (!j_.is_object()) Fail(ErrorCode::kInvalidArgument, "params must be an object");
  }
  double Number(const std::string& k, double def, double lo, double hi) {
    known_.insert(k);
    double v = def;
    if (j_.contains(k)) {
      if (!j_[k].is_number()) {
        Fail(ErrorCode::kInvalidArgument, "params.{}: must be a number for {}", k, family_);
      }
      v = j_[k].get<double>();
    }
    if (!(v >= lo && v <= hi)) {
      Fail(ErrorCode::kInvalidArgument, "params.{}: must be in [{}, {}] for {}, got {}", k, lo, hi,
           family_, v);
    }
    resolved_[k] = v;
    return v;
  }
  int64_t Integer(const std::string& k, int64_t def, int64_t lo, int64_t hi) {
    known_.insert(k);
    int64_t v = def;
    if (j_.contains(k)) {
      if (!j_[k].is_number_integer()) {
        Fail(ErrorCode::kInvalidArgument, "params.{}: must be an integer for {}", k, family_);
      }
      v = j_[k].get<int64_t>();
    }
    if (v < lo || v > hi) {
      Fail(ErrorCode::kInvalidArgument, "params.{}: must be in [{}, {}] for {}, got {}", k, lo, hi,
           family_, v);
    }
    resolved_[k] = v;
    return v;
  }
  std::string Choice(const std::string& k, const std::string& def,
                     const std::vector<std::string>& allowed) {
    known_.insert(k);
    std::string v = def;
    if (j_.contains(k)) {
      if (!j_[k].is_string()) {
        Fail(ErrorCode::kInvalidArgument, "params.{}: must be a string for {}", k, family_);
      }
      v = j_[k].get<std::string>();
    }
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
      Fail(ErrorCode::kInvalidArgument, "params.{}: '{}' is not one of {} for {}", k, v,
           fmt::format("{}", fmt::join(allowed, ", ")), family_);
    }
    resolved_[k] = v;
    return v;
  }
  nlohmann::json Finish() {
    for (const auto& [k, v] : j_.items()) {
      if (!known_.count(k)) {
        Fail(ErrorCode::kInvalidArgument, "params.{}: unknown parameter for {} (known: {})", k,
             family_, fmt::format("{}", fmt::join(known_, ", ")));
      }
    }
    return resolved_;
  }

 private:
  std::string family_;
  nlohmann::json j_;
  std::set<std::string> known_;
  nlohmann::json resolved_ = nlohmann::json::object();
};

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
  Eigen::MatrixXd Design(const DecisionInput& in) const {
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
  void Scores(const DecisionInput& in, Eigen::VectorXd* mean, Eigen::MatrixXd* cov) const {
    const int k = static_cast<int>(in.actions.size());
    mean->resize(k);
    if (cov != nullptr) cov->setZero(k, k);
    if (layout_ == Layout::kPerAction) {
      for (int a = 0; a < k; ++a) {
        auto it = index_.find(in.actions[static_cast<size_t>(a)].id);
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
      auto it = index_.find(in.actions[static_cast<size_t>(a)].id);
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

  void Update(const DecisionInput& in, size_t chosen, double reward, double propensity) {
    const double w = Weight(propensity);
    const Action& act = in.actions[chosen];
    if (layout_ == Layout::kPerAction) {
      auto& m = means_[Slot(act.id)];
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
      models_[Slot(act.id)].Update(x, reward, w);
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

// Probability mass split evenly over the maxima of `s` (ties within 1e-12 relative).
std::vector<double> ArgmaxDistribution(const Eigen::VectorXd& s) {
  const double best = s.maxCoeff();
  const double tol = 1e-12 * std::max(1.0, std::abs(best));
  std::vector<double> p(static_cast<size_t>(s.size()), 0.0);
  int ties = 0;
  for (int i = 0; i < s.size(); ++i) ties += s(i) >= best - tol ? 1 : 0;
  for (int i = 0; i < s.size(); ++i) {
    if (s(i) >= best - tol) p[static_cast<size_t>(i)] = 1.0 / ties;
  }
  return p;
}

void MixUniform(std::vector<double>& p, double epsilon) {
  if (epsilon <= 0) return;
  const double u = epsilon / static_cast<double>(p.size());
  for (double& x : p) x = (1.0 - epsilon) * x + u;
}

void CheckUpdate(const DecisionInput& in, size_t chosen, double reward, double propensity) {
  ValidateInput(in);
  if (chosen >= in.actions.size()) {
    Fail(ErrorCode::kInvalidArgument, "chosen: index {} is outside the {} actions", chosen,
         in.actions.size());
  }
  if (!std::isfinite(reward)) Fail(ErrorCode::kInvalidArgument, "reward: not a finite number");
  if (!(propensity > 0.0 && propensity <= 1.0)) {
    Fail(ErrorCode::kInvalidArgument, "propensity: must be in (0, 1], got {}", propensity);
  }
}

// --- families

class PolicyBase : public Policy {
 public:
  explicit PolicyBase(PolicyConfig c) : config_(std::move(c)) {}
  std::string family() const override { return config_.family; }
  const PolicyConfig& config() const override { return config_; }

 protected:
  PolicyConfig config_;
};

class UniformPolicy final : public PolicyBase {
 public:
  explicit UniformPolicy(PolicyConfig c) : PolicyBase(std::move(c)) {}
  std::vector<double> Probabilities(const DecisionInput& in, std::mt19937_64&) const override {
    ValidateInput(in);
    return std::vector<double>(in.actions.size(), 1.0 / static_cast<double>(in.actions.size()));
  }
  void Update(const DecisionInput& in, size_t chosen, double reward, double propensity) override {
    CheckUpdate(in, chosen, reward, propensity);
  }
  void Save(const std::string& path, Env* env) const override;
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
  void Update(const DecisionInput& in, size_t chosen, double reward, double propensity) override {
    CheckUpdate(in, chosen, reward, propensity);
    model_.Update(in, chosen, reward, propensity);
  }
  void Save(const std::string& path, Env* env) const override;
  RewardModel& model() { return model_; }

 protected:
  RewardModel model_;
};

class EpsilonGreedyPolicy final : public ModelPolicy {
 public:
  EpsilonGreedyPolicy(PolicyConfig c, Layout l, double lambda, std::string wt, double mw,
                      double eps)
      : ModelPolicy(std::move(c), l, lambda, std::move(wt), mw), epsilon_(eps) {}
  std::vector<double> Probabilities(const DecisionInput& in, std::mt19937_64&) const override {
    ValidateInput(in);
    Eigen::VectorXd mean;
    model_.Scores(in, &mean, nullptr);
    std::vector<double> p = ArgmaxDistribution(mean);
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
  std::vector<double> Probabilities(const DecisionInput& in, std::mt19937_64&) const override {
    ValidateInput(in);
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
  std::vector<double> Probabilities(const DecisionInput& in, std::mt19937_64&) const override {
    ValidateInput(in);
    Eigen::VectorXd mean;
    Eigen::MatrixXd cov;
    model_.Scores(in, &mean, &cov);
    Eigen::VectorXd ucb = mean;
    for (int a = 0; a < ucb.size(); ++a) ucb(a) += alpha_ * std::sqrt(std::max(0.0, cov(a, a)));
    std::vector<double> p = ArgmaxDistribution(ucb);
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
  std::vector<double> Probabilities(const DecisionInput& in, std::mt19937_64& rng) const override {
    ValidateInput(in);
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

// --- save / load

void WritePolicy(const Policy& p, const RewardModel* model, const std::string& path, Env* env) {
  const PolicyConfig& c = p.config();
  ArtifactWriter w(kArtifactFamily, {{"bandit_version", kPolicyFormatVersion},
                                     {"policy_family", c.family},
                                     {"params", c.params},
                                     {"features", c.features},
                                     {"seed", c.seed}});
  std::vector<double> store;
  if (model != nullptr) model->Save(w, store);
  w.Write(path, env != nullptr ? env : Env::Default());
}

void UniformPolicy::Save(const std::string& path, Env* env) const {
  WritePolicy(*this, nullptr, path, env);
}
void ModelPolicy::Save(const std::string& path, Env* env) const {
  WritePolicy(*this, &model_, path, env);
}

Layout LayoutFor(const std::string& name) {
  if (name == "shared" || name == "linear") return Layout::kShared;
  if (name == "disjoint") return Layout::kDisjoint;
  return Layout::kPerAction;
}

}  // namespace

std::pair<size_t, std::vector<double>> Policy::Decide(const DecisionInput& in,
                                                      std::mt19937_64& rng) const {
  std::vector<double> p = Probabilities(in, rng);
  const size_t i = SampleIndex(p, rng);
  return {i, std::move(p)};
}

std::vector<std::string> PolicyFamilies() {
  return {"uniform", "epsilon-greedy", "softmax", "linucb", "lints"};
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
  const bool ucb_like = f == "linucb" || f == "lints";
  if (!ucb_like && f != "epsilon-greedy" && f != "softmax") {
    Fail(ErrorCode::kInvalidArgument, "family: unknown bandit policy '{}' (known: {})", f,
         fmt::format("{}", fmt::join(PolicyFamilies(), ", ")));
  }
  std::string layout = ucb_like
                           ? ps.Choice("mode", "disjoint", {"disjoint", "shared"})
                           : ps.Choice("model", "linear", {"linear", "disjoint", "per-action"});
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
  if (auto* mp = dynamic_cast<ModelPolicy*>(p.get())) {
    try {
      mp->model().Load(*r, path);
    } catch (const nlohmann::json::exception& e) {
      Fail(ErrorCode::kCorruption, "'{}': damaged bandit model: {}", path, e.what());
    }
  }
  return p;
}

}  // namespace marquee

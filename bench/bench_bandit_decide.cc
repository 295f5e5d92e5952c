// In-process decisions per second of every bandit policy family (src/bandits/policy.h) for
// 10 actions x 32 context features (+ 8 features per action), hashed into 64 dimensions, after
// learning from 2,000 simulated decisions. Decide = validate + hash features + score + sample.
//
// References, measured in the same run: BM_ReferenceDisjointUcbMath does only the arithmetic a
// disjoint LinUCB decision needs on pre-hashed vectors (10 x: a 64 x 64 matrix-vector product
// and two dot products) in plain loops, BM_ReferenceDisjointUcbEigen the same with Eigen: the
// compute floor the library (which also validates, hashes and allocates) is compared to.
//
//   bench_bandit_decide [--benchmark_min_time=0.5]
#include <benchmark/benchmark.h>
#include <Eigen/Dense>

#include <random>

#include "bandits/policy.h"
#include "bandits/simulator.h"

namespace {

using namespace marquee;

SimOptions Options() {
  SimOptions o;
  o.actions = 10;
  o.features = 32;
  o.action_features = 8;
  o.dim = 64;
  return o;
}

void BM_Decide(benchmark::State& state, const std::string& family, nlohmann::json params) {
  const SimOptions o = Options();
  SimProblem problem(o);
  PolicyConfig c = SimPolicyConfig(family, o);
  for (auto& [k, v] : params.items()) c.params[k] = v;
  auto policy = MakePolicy(c);
  std::mt19937_64 rng(1);
  std::vector<double> truth;
  for (int t = 0; t < 2000; ++t) {
    DecisionInput in = problem.Sample(rng, &truth);
    auto [a, p] = policy->Decide(in, rng);
    policy->Update(in, a, (rng() >> 11) * 0x1.0p-53 < truth[a] ? 1.0 : 0.0, p[a]);
  }
  std::vector<DecisionInput> inputs;
  for (int i = 0; i < 256; ++i) inputs.push_back(problem.Sample(rng, nullptr));
  size_t i = 0;
  for (auto _ : state) {
    auto d = policy->Decide(inputs[i++ & 255], rng);
    benchmark::DoNotOptimize(d);
  }
  state.counters["decisions_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_ReferenceDisjointUcbMath(benchmark::State& state) {
  constexpr int d = 64, k = 10;
  std::mt19937_64 rng(3);
  std::vector<double> a(static_cast<size_t>(k * d * d)), theta(static_cast<size_t>(k * d)), x(d),
      u(d);
  for (double& v : a) v = static_cast<double>(rng() % 1000) / 1e5;
  for (double& v : theta) v = static_cast<double>(rng() % 1000) / 1e3;
  for (double& v : x) v = static_cast<double>(rng() % 1000) / 1e3;
  for (auto _ : state) {
    double best = -1e300;
    int arg = 0;
    for (int j = 0; j < k; ++j) {
      const double* m = a.data() + static_cast<size_t>(j) * d * d;
      for (int r = 0; r < d; ++r) {
        double s = 0;
        for (int c = 0; c < d; ++c) s += m[r * d + c] * x[static_cast<size_t>(c)];
        u[static_cast<size_t>(r)] = s;
      }
      double var = 0, mean = 0;
      for (int c = 0; c < d; ++c) {
        var += x[static_cast<size_t>(c)] * u[static_cast<size_t>(c)];
        mean += x[static_cast<size_t>(c)] * theta[static_cast<size_t>(j * d + c)];
      }
      const double score = mean + 0.5 * std::sqrt(std::abs(var));
      if (score > best) {
        best = score;
        arg = j;
      }
    }
    benchmark::DoNotOptimize(arg);
  }
  state.counters["decisions_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// The same arithmetic with Eigen (the library's own kernels), on pre-hashed vectors.
void BM_ReferenceDisjointUcbEigen(benchmark::State& state) {
  constexpr int d = 64, k = 10;
  std::vector<Eigen::MatrixXd> a(k, Eigen::MatrixXd::Random(d, d));
  std::vector<Eigen::VectorXd> theta(k, Eigen::VectorXd::Random(d));
  const Eigen::VectorXd x = Eigen::VectorXd::Random(d);
  for (auto _ : state) {
    double best = -1e300;
    int arg = 0;
    for (int j = 0; j < k; ++j) {
      const double score = x.dot(theta[static_cast<size_t>(j)]) +
                           0.5 * std::sqrt(std::abs(x.dot(a[static_cast<size_t>(j)] * x)));
      if (score > best) {
        best = score;
        arg = j;
      }
    }
    benchmark::DoNotOptimize(arg);
  }
  state.counters["decisions_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK_CAPTURE(BM_Decide, uniform, std::string("uniform"), nlohmann::json::object());
BENCHMARK_CAPTURE(BM_Decide, epsilon_greedy, std::string("epsilon-greedy"),
                  nlohmann::json::object());
BENCHMARK_CAPTURE(BM_Decide, softmax, std::string("softmax"), nlohmann::json::object());
BENCHMARK_CAPTURE(BM_Decide, linucb_disjoint, std::string("linucb"), nlohmann::json::object());
BENCHMARK_CAPTURE(BM_Decide, linucb_shared, std::string("linucb"),
                  nlohmann::json({{"mode", "shared"}}));
BENCHMARK_CAPTURE(BM_Decide, lints_disjoint_64draws, std::string("lints"),
                  nlohmann::json::object());
BENCHMARK_CAPTURE(BM_Decide, lints_shared_64draws, std::string("lints"),
                  nlohmann::json({{"mode", "shared"}}));
BENCHMARK(BM_ReferenceDisjointUcbMath);
BENCHMARK(BM_ReferenceDisjointUcbEigen);
BENCHMARK_MAIN();

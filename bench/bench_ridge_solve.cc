// The exact ridge solve of iALS (solver = cholesky) and of the iALS / BPR fold-in, one row per
// call: RidgeSolve on the portable and the AVX-512 kernels of models/ials/ridge_kernels.h against
// the Eigen code it replaced (kept here only, as the reference: the system formed with Eigen's
// rankUpdate in double, factorised by Eigen's LLT, as compiled with this build's -march).
//
// A fixed side of 20000 rows (k floats each, larger than L2 at k = 128 as in a real catalogue),
// and 64 histories of n random rows with confidences 1 + (r mod 5) that the calls cycle through.
// Every benchmark is one solve per iteration; k ∈ {64, 128}, n ∈ {20, 200, 2000}.
// Usage: bench_ridge_solve --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true
// (the min / max rows next to Google Benchmark's median give the spread over repetitions).
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_stats.h"
#include "models/ials/factor_math.h"
#include "models/ials/ridge_kernels.h"

using namespace marquee;

namespace {

// The reference: RidgeSolve as it was before the kernels (Eigen rankUpdate + LLT in double).
struct EigenScratch {
  Eigen::MatrixXd a;
  Eigen::VectorXd b;
  Eigen::MatrixXd rows;
  Eigen::VectorXd rhs;
  Eigen::LLT<Eigen::MatrixXd, Eigen::Lower> llt;
};

template <typename EntryFn>
void EigenRidgeSolve(const RowMatrixXf& h, std::span<const uint32_t> items, EntryFn entry,
                     const Eigen::MatrixXd& gram, double a0, double reg, EigenScratch& s,
                     float* out) {
  const Eigen::Index k = h.cols();
  constexpr Eigen::Index kBlock = 128;
  s.a.noalias() = a0 * gram;
  s.a.diagonal().array() += reg;
  s.b.setZero(k);
  s.rows.resize(kBlock, k);
  s.rhs.resize(kBlock);
  const Eigen::Index n = static_cast<Eigen::Index>(items.size());
  for (Eigen::Index first = 0; first < n; first += kBlock) {
    const Eigen::Index m = std::min(kBlock, n - first);
    for (Eigen::Index r = 0; r < m; ++r) {
      double c = 1.0, t = 1.0;
      entry(static_cast<size_t>(first + r), c, t);
      const double sc = std::sqrt(c);
      s.rows.row(r) = sc * h.row(items[static_cast<size_t>(first + r)]).cast<double>();
      s.rhs(r) = sc * t;
    }
    s.a.selfadjointView<Eigen::Lower>().rankUpdate(s.rows.topRows(m).transpose());
    s.b.noalias() += s.rows.topRows(m).transpose() * s.rhs.head(m);
  }
  Eigen::Map<Eigen::VectorXf> w(out, k);
  s.llt.compute(s.a);
  if (s.llt.info() == Eigen::Success) {
    w = s.llt.solve(s.b).cast<float>();
  } else {
    s.a.triangularView<Eigen::StrictlyUpper>() = s.a.transpose();
    w = s.a.ldlt().solve(s.b).cast<float>();
  }
}

struct Problem {
  RowMatrixXf h;
  Eigen::MatrixXd gram;
  std::vector<std::vector<uint32_t>> histories;
};

std::shared_ptr<const Problem> MakeProblem(int k, size_t n) {
  auto p = std::make_shared<Problem>();
  std::mt19937_64 rng(static_cast<uint64_t>(k) * 100003 + n);
  std::normal_distribution<float> nd(0.0f, 0.1f);
  p->h.resize(20000, k);
  for (Eigen::Index i = 0; i < p->h.size(); ++i) p->h.data()[i] = nd(rng);
  p->gram = Gramian(p->h, 1);
  p->histories.resize(64);
  for (auto& hist : p->histories) {
    for (size_t r = 0; r < n; ++r) hist.push_back(static_cast<uint32_t>(rng() % 20000));
  }
  return p;
}

const auto kEntry = [](size_t n, double& c, double& t) {
  c = 1.0 + static_cast<double>(n % 5);
  t = 1.0;
};

void Register(int k, size_t n) {
  const auto p = MakeProblem(k, n);
  const double a0 = 0.1, reg = 0.01 * static_cast<double>(n + 20000 / 10);
  const std::string suffix = "/k:" + std::to_string(k) + "/n:" + std::to_string(n);
  const auto add = [](benchmark::internal::Benchmark* b) {
    b->Unit(benchmark::kMicrosecond)
        ->ComputeStatistics("min", bench::Min)
        ->ComputeStatistics("max", bench::Max);
  };
  add(benchmark::RegisterBenchmark(
      ("ridge_solve/eigen" + suffix).c_str(), [p, a0, reg, k](benchmark::State& state) {
        EigenScratch s;
        std::vector<float> w(static_cast<size_t>(k));
        size_t i = 0;
        for (auto _ : state) {
          EigenRidgeSolve(p->h, p->histories[i++ % 64], kEntry, p->gram, a0, reg, s, w.data());
          benchmark::DoNotOptimize(w.data());
        }
      }));
  std::vector<const ridge::Kernels*> paths = {&ridge::PortableKernels()};
  if (ridge::Avx512Kernels() != nullptr) paths.push_back(ridge::Avx512Kernels());
  for (const ridge::Kernels* kern : paths) {
    add(benchmark::RegisterBenchmark(("ridge_solve/" + std::string(kern->name) + suffix).c_str(),
                                     [p, a0, reg, k, kern](benchmark::State& state) {
                                       RidgeScratch s;
                                       s.kernels = kern;
                                       std::vector<float> w(static_cast<size_t>(k));
                                       size_t i = 0;
                                       for (auto _ : state) {
                                         RidgeSolve(p->h, p->histories[i++ % 64], kEntry, p->gram,
                                                    a0, reg, s, w.data());
                                         benchmark::DoNotOptimize(w.data());
                                       }
                                     }));
  }
}

}  // namespace

int main(int argc, char** argv) {
  for (int k : {64, 128}) {
    for (size_t n : {20, 200, 2000}) Register(k, n);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

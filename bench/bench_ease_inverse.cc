// EASE's dense core on a real-size Gram matrix, against the machine's GEMM peak measured in the
// same run:
//   1. GEMM peak: OpenBLAS sgemm/dgemm on 4096x4096 (best of 3), in GFLOP/s.
//   2. The Gram matrix XᵀX + λI of a dataset snapshot restricted to its N most popular items.
//   3. Its inverse through Cholesky (potrf + potri, ~n³ flops), in float32 and float64, as
//      GFLOP/s and as a fraction of the same-precision GEMM peak.
//   4. Optionally the float64 Gram matrix as .npy, so bench/reference/numpy_inv.py can time
//      numpy.linalg.inv on exactly the same matrix.
// Usage: bench_ease_inverse --snapshot FILE.mqds [--items 20000] [--lambda 500] [--threads N]
//                           [--npy OUT.npy] [--skip-f64] [--benchmark_...]
// Google Benchmark: gemm_peak/{sgemm,dgemm}_4096 are 3 single-call repetitions each (the peak is
// their "max" GFLOP/s row, best of 3 as before); sparse_gram/float32 and
// cholesky_inverse/{float32,float64} are one call each (a minute or two; --benchmark_repetitions
// gives their spread), the inverse with the Gram matrix rebuilt untimed before it and reporting
// GFLOP/s and fraction_of_gemm_peak (against the best GEMM of the same precision measured
// earlier in the same run). --benchmark_format=json gives the JSON bench/ml20m_shape.sh keeps.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "bench_stats.h"
#include "common/log.h"
#include "marquee/context.h"
#include "marquee/dataset.h"
#include "marquee/env.h"
#include "models/linalg.h"

using namespace marquee;

namespace {

// Best GEMM rate (GFLOP/s) of the run so far, float32 and float64: the reference of the
// inverse's rate.
double best_gemm_gflops[2] = {0, 0};

template <typename T>
void BM_GemmPeak(benchmark::State& state, int n, int threads) {
  SetBlasThreads(threads);
  std::vector<T> a(static_cast<size_t>(n) * n), b(a.size()), c(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = static_cast<T>((i % 97) * 0.01);
    b[i] = static_cast<T>((i % 89) * 0.01);
  }
  const double gflop = 2.0 * n * static_cast<double>(n) * n / 1e9;
  for (auto _ : state) {
    Stopwatch sw;
    if constexpr (sizeof(T) == 4) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(),
                  n, 0.0f, c.data(), n);
    } else {
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a.data(), n, b.data(), n,
                  0.0, c.data(), n);
    }
    const double s = sw.Seconds();
    state.SetIterationTime(s);
    double& best = best_gemm_gflops[sizeof(T) == 8];
    best = std::max(best, gflop / s);
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(gflop, benchmark::Counter::kIsIterationInvariantRate);
}

// The problem: the binarized interactions, and the columns of its `items` most popular items.
struct Problem {
  CsrMatrix x;
  std::vector<int32_t> col_map;
  uint32_t items = 0;
  double lambda = 0;
  int threads = 1;

  template <typename T>
  std::vector<T> Gram() const {
    std::vector<T> g(static_cast<size_t>(items) * items);
    SparseGram<T>(x, col_map, items, g.data(), threads);
    return g;
  }
  template <typename T>
  void AddRidge(std::vector<T>& g) const {
    for (uint32_t i = 0; i < items; ++i)
      g[static_cast<size_t>(i) * items + i] += static_cast<T>(lambda);
  }
};

void BM_SparseGram(benchmark::State& state, const Problem* p) {
  for (auto _ : state) benchmark::DoNotOptimize(p->Gram<float>().data());
}

// Cholesky inverse (potrf + potri, n³ flops) of XᵀX + λI, rebuilt untimed before each call.
template <typename T>
void BM_CholeskyInverse(benchmark::State& state, const Problem* p) {
  const double gflop = static_cast<double>(p->items) * p->items * p->items / 1e9;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<T> g = p->Gram<T>();
    p->AddRidge(g);
    state.ResumeTiming();
    InvertSpdInPlace<T>(g.data(), p->items, p->threads);
  }
  const auto rate = benchmark::Counter::kIsIterationInvariantRate;
  state.counters["GFLOP/s"] = benchmark::Counter(gflop, rate);
  const double peak = best_gemm_gflops[sizeof(T) == 8];
  if (peak > 0) state.counters["fraction_of_gemm_peak"] = benchmark::Counter(gflop / peak, rate);
}

void WriteNpy(const std::string& path, const double* data, uint32_t n) {
  std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (" + std::to_string(n) +
                       ", " + std::to_string(n) + "), }";
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  uint16_t len = static_cast<uint16_t>(header.size());
  out.write(reinterpret_cast<const char*>(&len), 2);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(data),
            static_cast<std::streamsize>(sizeof(double)) * n * n);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  std::string snapshot, npy;
  uint32_t items = 20000;
  double lambda = 500.0;
  int threads = Context::DefaultThreads();
  bool skip_f64 = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--snapshot")
      snapshot = next();
    else if (a == "--items")
      items = static_cast<uint32_t>(std::stoul(next()));
    else if (a == "--lambda")
      lambda = std::stod(next());
    else if (a == "--threads")
      threads = std::stoi(next());
    else if (a == "--npy")
      npy = next();
    else if (a == "--skip-f64")
      skip_f64 = true;
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (snapshot.empty()) {
    std::fprintf(stderr,
                 "usage: bench_ease_inverse --snapshot FILE.mqds [--items N] [--npy OUT]\n");
    return 2;
  }
  Problem p;
  p.threads = threads;
  p.lambda = lambda;
  Dataset ds = Dataset::Open(snapshot, Env::Default());
  p.x = ds.ToCsr(std::nullopt).Binarized();
  CsrMatrix xt = p.x.Transpose();
  std::vector<uint32_t> order(p.x.cols);
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return xt.row_size(a) > xt.row_size(b); });
  p.items = std::min(items, p.x.cols);
  p.col_map.assign(p.x.cols, -1);
  std::vector<uint32_t> kept(order.begin(), order.begin() + p.items);
  std::sort(kept.begin(), kept.end());
  for (uint32_t r = 0; r < p.items; ++r) p.col_map[kept[r]] = static_cast<int32_t>(r);
  benchmark::AddCustomContext("threads", std::to_string(threads));
  benchmark::AddCustomContext("items", std::to_string(p.items));
  benchmark::AddCustomContext("interactions", std::to_string(p.x.nnz()));

  auto timed_once = [](benchmark::internal::Benchmark* b) {
    b->Iterations(1)->UseRealTime()->Unit(benchmark::kSecond);
  };
  bench::PerCall(
      benchmark::RegisterBenchmark("gemm_peak/sgemm_4096", BM_GemmPeak<float>, 4096, threads), 3)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  bench::PerCall(
      benchmark::RegisterBenchmark("gemm_peak/dgemm_4096", BM_GemmPeak<double>, 4096, threads), 3)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  timed_once(benchmark::RegisterBenchmark("sparse_gram/float32", BM_SparseGram, &p));
  timed_once(
      benchmark::RegisterBenchmark("cholesky_inverse/float32", BM_CholeskyInverse<float>, &p));
  if (!skip_f64) {
    timed_once(
        benchmark::RegisterBenchmark("cholesky_inverse/float64", BM_CholeskyInverse<double>, &p));
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (!npy.empty()) {
    std::fprintf(stderr, "writing %s...\n", npy.c_str());
    std::vector<double> g = p.Gram<double>();
    p.AddRidge(g);
    WriteNpy(npy, g.data(), p.items);
  }
  return 0;
}

// EASE's dense core on a real-size Gram matrix, against the machine's GEMM peak measured in the
// same run:
//   1. GEMM peak: OpenBLAS sgemm/dgemm on 4096x4096 (best of 3), in GFLOP/s.
//   2. The Gram matrix XᵀX + λI of a dataset snapshot restricted to its N most popular items.
//   3. Its inverse through Cholesky (potrf + potri, ~n³ flops), in float32 and float64, as
//      GFLOP/s and as a fraction of the same-precision GEMM peak.
//   4. Optionally the float64 Gram matrix as .npy, so bench/reference/numpy_inv.py can time
//      numpy.linalg.inv on exactly the same matrix.
// Usage: bench_ease_inverse --snapshot FILE.mqds [--items 20000] [--lambda 500] [--threads N]
//                           [--npy OUT.npy] [--skip-f64]
// Prints one JSON object on stdout.
#include <cblas.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "marquee/context.h"
#include "marquee/dataset.h"
#include "marquee/env.h"
#include "models/linalg.h"

using namespace marquee;

namespace {

template <typename T>
double GemmGflops(int n, int threads) {
  SetBlasThreads(threads);
  std::vector<T> a(static_cast<size_t>(n) * n), b(a.size()), c(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = static_cast<T>((i % 97) * 0.01);
    b[i] = static_cast<T>((i % 89) * 0.01);
  }
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    Stopwatch sw;
    if constexpr (sizeof(T) == 4) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(),
                  n, 0.0f, c.data(), n);
    } else {
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a.data(), n, b.data(), n,
                  0.0, c.data(), n);
    }
    best = std::min(best, sw.Seconds());
  }
  return 2.0 * n * static_cast<double>(n) * n / best / 1e9;
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
  nlohmann::json out;
  out["threads"] = threads;
  std::fprintf(stderr, "measuring GEMM peak...\n");
  out["sgemm_gflops"] = GemmGflops<float>(4096, threads);
  out["dgemm_gflops"] = GemmGflops<double>(4096, threads);

  Dataset ds = Dataset::Open(snapshot, Env::Default());
  CsrMatrix x = ds.ToCsr(std::nullopt).Binarized();
  CsrMatrix xt = x.Transpose();
  std::vector<uint32_t> order(x.cols);
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return xt.row_size(a) > xt.row_size(b); });
  items = std::min(items, x.cols);
  std::vector<int32_t> col_map(x.cols, -1);
  std::vector<uint32_t> kept(order.begin(), order.begin() + items);
  std::sort(kept.begin(), kept.end());
  for (uint32_t r = 0; r < items; ++r) col_map[kept[r]] = static_cast<int32_t>(r);
  out["items"] = items;
  out["interactions"] = x.nnz();

  const double flops = static_cast<double>(items) * items * items;  // potrf n³/3 + potri 2n³/3
  {
    std::vector<float> g(static_cast<size_t>(items) * items);
    std::fprintf(stderr, "gram (float32)...\n");
    Stopwatch sw;
    SparseGram<float>(x, col_map, items, g.data(), threads);
    out["gram_seconds"] = sw.Seconds();
    for (uint32_t i = 0; i < items; ++i)
      g[static_cast<size_t>(i) * items + i] += static_cast<float>(lambda);
    std::fprintf(stderr, "inverse (float32)...\n");
    Stopwatch inv;
    InvertSpdInPlace<float>(g.data(), items, threads);
    double s = inv.Seconds();
    out["inverse_f32_seconds"] = s;
    out["inverse_f32_gflops"] = flops / s / 1e9;
    out["inverse_f32_fraction_of_sgemm_peak"] = flops / s / 1e9 / out["sgemm_gflops"].get<double>();
  }
  if (!skip_f64 || !npy.empty()) {
    std::vector<double> g(static_cast<size_t>(items) * items);
    SparseGram<double>(x, col_map, items, g.data(), threads);
    for (uint32_t i = 0; i < items; ++i) g[static_cast<size_t>(i) * items + i] += lambda;
    if (!npy.empty()) {
      std::fprintf(stderr, "writing %s...\n", npy.c_str());
      WriteNpy(npy, g.data(), items);
    }
    if (!skip_f64) {
      std::fprintf(stderr, "inverse (float64)...\n");
      Stopwatch inv;
      InvertSpdInPlace<double>(g.data(), items, threads);
      double s = inv.Seconds();
      out["inverse_f64_seconds"] = s;
      out["inverse_f64_gflops"] = flops / s / 1e9;
      out["inverse_f64_fraction_of_dgemm_peak"] =
          flops / s / 1e9 / out["dgemm_gflops"].get<double>();
    }
  }
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}

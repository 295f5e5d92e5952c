// Scoring microbenchmark for serving: how close one /v1/recommend's scoring comes to the
// machine's memory bandwidth, measured in the same run.
//
//   1. STREAM triad a[i] = b[i] + s*c[i] over 3 x 64 MiB arrays (bytes counted: 3 x 4 per i),
//      1 thread and every core; the best of 10 repetitions (STREAM's rule).
//   2. iALS fold-in scoring on a synthetic 100,000-item catalogue with 128 factors (the item
//      factors are 51.2 MB): ScoreBatch of a 10-item history, then top-10 with a bounded heap
//      and the history excluded in place. Bytes counted: the item factor matrix once per call
//      (the tiled kernel reads it once for the whole batch). "Cold" evicts every cache before
//      each call, so the matrix comes from DRAM (the figure to hold against the triad); "warm"
//      repeats calls back to back, so part of it may be served by a large last-level cache.
//
// Each measurement is a Google Benchmark of single-call repetitions: the triad 10 per thread
// count, the cold call 10, the warm calls and their top-10 max(5, 200 / batch); "max" of the
// rates (counter GB/s) and "min" of the times are the best repetition (STREAM's rule, and what
// this benchmark always reported), median and stddev the spread. The triad is measured first in
// the same run, and every ScoreBatch repetition reports its rate as a fraction of the best triad
// (counters of_triad_1t and of_triad_nt: 1 thread and every core).
//
//   build/h-serve/bench/bench_serve_scoring [ITEMS] [FACTORS] [--benchmark_...]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench_stats.h"
#include "eval/metrics.h"
#include "marquee/env.h"
#include "marquee/recommender.h"
#include "models/artifact.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a) {
  return std::chrono::duration<double>(Clock::now() - a).count();
}

// Best triad rate (GB/s) of the run so far, per thread count: the reference of the scoring
// rates (index 0: 1 thread, 1: every core).
double best_triad_gbs[2] = {0, 0};

void BM_Triad(benchmark::State& state, int threads, int slot) {
  const size_t n = (64u << 20) / sizeof(float);
  std::vector<float> a(n), b(n, 1.0f), c(n, 2.0f);
  const float s = 3.0f;
  double gbs = 0;  // of the (single) iteration
  for (auto _ : state) {
    auto t0 = Clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        const size_t lo = n * t / threads, hi = n * (t + 1) / threads;
        for (size_t i = lo; i < hi; ++i) a[i] = b[i] + s * c[i];
      });
    }
    for (auto& t : ts) t.join();
    const double sec = Seconds(t0);
    state.SetIterationTime(sec);
    gbs = 3.0 * n * sizeof(float) / sec / 1e9;
    best_triad_gbs[slot] = std::max(best_triad_gbs[slot], gbs);
  }
  if (a[n / 2] != 7.0f) std::abort();
  state.counters["GB/s"] = gbs;
}

// Times one call of `fn` as the iteration's (manual) time, and reports GB/s of the `bytes` it
// streams and that rate as a fraction of the best triads measured earlier in the run.
template <typename Fn>
void TimeStreamingCall(benchmark::State& state, double bytes, Fn&& fn) {
  const auto t0 = Clock::now();
  fn();
  const double sec = Seconds(t0);
  state.SetIterationTime(sec);
  const double gbs = bytes / sec / 1e9;
  state.counters["GB/s"] = gbs;
  if (best_triad_gbs[0] > 0) state.counters["of_triad_1t"] = gbs / best_triad_gbs[0];
  if (best_triad_gbs[1] > 0) state.counters["of_triad_nt"] = gbs / best_triad_gbs[1];
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const uint64_t items = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
  const uint64_t factors = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 128;
  const int cores = static_cast<int>(std::thread::hardware_concurrency());

  for (int slot = 0; slot < 2; ++slot) {
    const int threads = slot == 0 ? 1 : cores;
    marquee::bench::PerCall(
        benchmark::RegisterBenchmark(("triad_64MiB/threads:" + std::to_string(threads)).c_str(),
                                     BM_Triad, threads, slot),
        10)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
  // A trained-shape iALS model: random factors, loaded through the artifact path serving uses.
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 0.1f);
  std::vector<float> h(items * factors), w(factors);
  for (auto& x : h) x = nd(rng);
  for (auto& x : w) x = nd(rng);
  const std::string path =
      (std::filesystem::temp_directory_path() / "marquee-bench-ials.mqm").string();
  {
    marquee::ArtifactWriter wr("ials", {{"params", {{"factors", factors}}},
                                        {"meta", nlohmann::json::object()},
                                        {"num_items", items}});
    wr.Add<float>("item_factors", h, {items, factors});
    wr.Add<float>("user_factors", w, {1, factors});
    wr.Write(path, marquee::Env::Default());
  }
  auto reader = marquee::ArtifactReader::Open(path, marquee::Env::Default());
  auto model = marquee::CreateRecommender("ials", {{"factors", factors}});
  model->Load(*reader);
  h.clear();
  h.shrink_to_fit();

  marquee::Context ctx;
  ctx.threads = 1;
  const double bytes = static_cast<double>(items * factors * sizeof(float));
  auto history = [&](uint32_t batch) {
    marquee::CsrMatrix hist;
    hist.cols = static_cast<uint32_t>(items);
    std::uniform_int_distribution<uint32_t> pick(0, static_cast<uint32_t>(items - 1));
    for (uint32_t r = 0; r < batch; ++r) {
      std::vector<uint32_t> idx;
      for (int k = 0; k < 10; ++k) idx.push_back(pick(rng));
      std::vector<float> ones(idx.size(), 1.0f);
      hist.AppendRow(idx, ones);
    }
    return hist;
  };
  const std::string shape = "iALS_" + std::to_string(items) + "x" + std::to_string(factors);
  // Cold: before each call, stream through 256 MiB so no part of the 51.2 MB factor matrix is
  // left in any cache; the call then reads it from DRAM, which is what the triad measures.
  marquee::bench::PerCall(
      benchmark::RegisterBenchmark((shape + "/ScoreBatch/batch:1/cold").c_str(),
                                   [&, hist = history(1)](benchmark::State& state) {
                                     std::vector<float> evict((256u << 20) / sizeof(float), 1.0f);
                                     std::vector<float> scores(items);
                                     for (auto _ : state) {
                                       for (size_t i = 0; i < evict.size(); i += 16)
                                         evict[i] += 1.0f;
                                       TimeStreamingCall(state, bytes, [&] {
                                         model->ScoreBatch(hist, scores, ctx);
                                       });
                                       benchmark::DoNotOptimize(scores.data());
                                     }
                                   }),
      10)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  // Warm: calls back to back (after one untimed call); ScoreBatch and the top-10 of each row
  // (history excluded) are separate benchmarks over the same scores.
  for (uint32_t batch : {1u, 8u, 32u}) {
    auto hist = std::make_shared<marquee::CsrMatrix>(history(batch));
    auto scores = std::make_shared<std::vector<float>>(static_cast<size_t>(batch) * items);
    const int reps = std::max(5, static_cast<int>(200 / batch));
    auto named = [&](const std::string& what) {
      return shape + "/" + what + "/batch:" + std::to_string(batch) + "/warm";
    };
    auto warmed = std::make_shared<bool>(false);
    marquee::bench::PerCall(
        benchmark::RegisterBenchmark(named("ScoreBatch").c_str(),
                                     [&, hist, scores, warmed](benchmark::State& state) {
                                       if (!*warmed) model->ScoreBatch(*hist, *scores, ctx);
                                       *warmed = true;
                                       for (auto _ : state) {
                                         TimeStreamingCall(state, bytes, [&] {
                                           model->ScoreBatch(*hist, *scores, ctx);
                                         });
                                         benchmark::DoNotOptimize(scores->data());
                                       }
                                     }),
        reps)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
    marquee::bench::PerCall(benchmark::RegisterBenchmark(
                                named("top10").c_str(),
                                [&, hist, scores, batch](benchmark::State& state) {
                                  std::vector<uint32_t> top;
                                  for (auto _ : state) {
                                    for (uint32_t r = 0; r < batch; ++r) {
                                      std::vector<uint32_t> ex(hist->row_indices(r).begin(),
                                                               hist->row_indices(r).end());
                                      std::sort(ex.begin(), ex.end());
                                      marquee::TopK(
                                          {scores->data() + static_cast<size_t>(r) * items, items},
                                          ex, 10, top);
                                    }
                                    benchmark::DoNotOptimize(top.data());
                                  }
                                }),
                            reps)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::filesystem::remove(path);
  return 0;
}

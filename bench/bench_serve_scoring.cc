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
//   build/h-serve/bench/bench_serve_scoring [ITEMS] [FACTORS]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>
#include <vector>

#include "eval/metrics.h"
#include "marquee/env.h"
#include "marquee/recommender.h"
#include "models/artifact.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a) {
  return std::chrono::duration<double>(Clock::now() - a).count();
}

double TriadGBs(int threads) {
  const size_t n = (64u << 20) / sizeof(float);
  std::vector<float> a(n), b(n, 1.0f), c(n, 2.0f);
  const float s = 3.0f;
  double best = 1e30;
  for (int rep = 0; rep < 10; ++rep) {
    auto t0 = Clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        const size_t lo = n * t / threads, hi = n * (t + 1) / threads;
        for (size_t i = lo; i < hi; ++i) a[i] = b[i] + s * c[i];
      });
    }
    for (auto& t : ts) t.join();
    best = std::min(best, Seconds(t0));
  }
  if (a[n / 2] != 7.0f) std::abort();
  return 3.0 * n * sizeof(float) / best / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t items = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
  const uint64_t factors = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 128;
  const int cores = static_cast<int>(std::thread::hardware_concurrency());

  const double triad1 = TriadGBs(1);
  const double triadn = TriadGBs(cores);
  std::printf("STREAM triad (64 MiB arrays): 1 thread %.2f GB/s, %d threads %.2f GB/s\n", triad1,
              cores, triadn);

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
  // Cold: before each call, stream through 256 MiB so no part of the 51.2 MB factor matrix is
  // left in any cache; the call then reads it from DRAM, which is what the triad measures.
  {
    std::vector<float> evict((256u << 20) / sizeof(float), 1.0f);
    marquee::CsrMatrix hist;
    hist.cols = static_cast<uint32_t>(items);
    std::uniform_int_distribution<uint32_t> pick(0, static_cast<uint32_t>(items - 1));
    std::vector<uint32_t> idx;
    for (int k = 0; k < 10; ++k) idx.push_back(pick(rng));
    std::vector<float> ones(idx.size(), 1.0f);
    hist.AppendRow(idx, ones);
    std::vector<float> scores(items);
    double best = 1e30;
    float sink = 0.0f;
    for (int rep = 0; rep < 10; ++rep) {
      for (size_t i = 0; i < evict.size(); i += 16) evict[i] += 1.0f;
      auto t0 = Clock::now();
      model->ScoreBatch(hist, scores, ctx);
      best = std::min(best, Seconds(t0));
      sink += scores[rep];
    }
    const double gbs = static_cast<double>(items * factors * sizeof(float)) / best / 1e9;
    std::printf(
        "iALS %lu items x %lu factors, batch  1, 1 thread, caches evicted before each call: "
        "ScoreBatch %.3f ms = %.2f GB/s of item factors = %.0f%% of 1-thread triad (%.0f%% of "
        "%d-thread triad)%s\n",
        static_cast<unsigned long>(items), static_cast<unsigned long>(factors), best * 1e3, gbs,
        100.0 * gbs / triad1, 100.0 * gbs / triadn, cores, sink == 12345.0f ? " " : "");
  }
  for (uint32_t batch : {1u, 8u, 32u}) {
    marquee::CsrMatrix hist;
    hist.cols = static_cast<uint32_t>(items);
    std::uniform_int_distribution<uint32_t> pick(0, static_cast<uint32_t>(items - 1));
    for (uint32_t r = 0; r < batch; ++r) {
      std::vector<uint32_t> idx;
      for (int k = 0; k < 10; ++k) idx.push_back(pick(rng));
      std::vector<float> ones(idx.size(), 1.0f);
      hist.AppendRow(idx, ones);
    }
    std::vector<float> scores(static_cast<size_t>(batch) * items);
    std::vector<uint32_t> top;
    model->ScoreBatch(hist, scores, ctx);  // warm
    const int reps = std::max(5, static_cast<int>(200 / batch));
    double score_best = 1e30, topk_best = 1e30;
    for (int rep = 0; rep < reps; ++rep) {
      auto t0 = Clock::now();
      model->ScoreBatch(hist, scores, ctx);
      score_best = std::min(score_best, Seconds(t0));
      t0 = Clock::now();
      for (uint32_t r = 0; r < batch; ++r) {
        std::vector<uint32_t> ex(hist.row_indices(r).begin(), hist.row_indices(r).end());
        std::sort(ex.begin(), ex.end());
        marquee::TopK({scores.data() + static_cast<size_t>(r) * items, items}, ex, 10, top);
      }
      topk_best = std::min(topk_best, Seconds(t0));
    }
    const double bytes = static_cast<double>(items * factors * sizeof(float));
    const double gbs = bytes / score_best / 1e9;
    std::printf(
        "iALS %lu items x %lu factors, batch %2u, 1 thread, warm: ScoreBatch %.3f ms (%.2f GB/s of "
        "item factors = %.0f%% of 1-thread triad), top-10 %.3f ms, %.3f ms per request\n",
        static_cast<unsigned long>(items), static_cast<unsigned long>(factors), batch,
        score_best * 1e3, gbs, 100.0 * gbs / triad1, topk_best * 1e3,
        (score_best + topk_best) * 1e3 / batch);
  }
  std::filesystem::remove(path);
  return 0;
}

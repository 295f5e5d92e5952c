// TopK (common/top_k.h), the one ranking step of serving, evaluation and the replay simulator,
// against the scan it replaced, on the same scores in the same run.
//
//   reference: TopKUnseeded, a bounded heap filled with the first k eligible items, then a scan
//              that compares 16 scores at once against the heap's worst and pushes each item
//              that beats it (TopK before the seeded start);
//   TopK:      the same scan, but the heap starts as the exact top k of a prefix of the catalogue,
//              found from the maxima of its 16-score pieces, so the early items stop paying a
//              heap push each.
//
// Scores: independent N(0, 1) draws (the order a model gives a catalogue it knows nothing
// about; "random"), or the same plus a rise of 3 standard deviations from the first item to the
// last ("rising": later items score higher, so a scan in index order keeps finding better ones,
// as when a catalogue's ids follow its popularity), with 20 excluded items (a history) among the
// best-scoring ones, as a served request has. Both
// functions must return the same list (checked before timing). Sizes: ML-100K (1,682 items),
// ML-20M (27,278) and 100,000 items; k 10 and 100.
//
//   build/release/bench/bench_top_k --benchmark_repetitions=9
//     --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true
//   (one command line)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "common/top_k.h"

namespace {

struct Case {
  std::vector<std::vector<float>> scores;  // several requests, so no single one stays in L1
  std::vector<std::vector<uint32_t>> excluded;
};

const Case& MakeCase(size_t n, bool rising) {
  static std::vector<std::pair<size_t, Case>> cases;
  const size_t key = n * 2 + (rising ? 1 : 0);
  for (auto& [size, c] : cases) {
    if (size == key) return c;
  }
  Case c;
  std::mt19937 rng(static_cast<uint32_t>(n));
  std::normal_distribution<float> normal(0, 1);
  for (int r = 0; r < 64; ++r) {
    std::vector<float> s(n);
    for (size_t i = 0; i < n; ++i) {
      s[i] = normal(rng) + (rising ? 3.0f * static_cast<float>(i) / static_cast<float>(n) : 0.0f);
    }
    std::vector<uint32_t> order(n);
    for (uint32_t i = 0; i < n; ++i) order[i] = i;
    std::partial_sort(order.begin(), order.begin() + 200, order.end(),
                      [&](uint32_t a, uint32_t b) { return s[a] > s[b]; });
    std::vector<uint32_t> ex;
    for (int j = 0; j < 20; ++j) ex.push_back(order[rng() % 200]);  // a history scores high
    std::sort(ex.begin(), ex.end());
    ex.erase(std::unique(ex.begin(), ex.end()), ex.end());
    c.scores.push_back(std::move(s));
    c.excluded.push_back(std::move(ex));
  }
  cases.emplace_back(key, std::move(c));
  return cases.back().second;
}

template <bool kReference>
void BM_TopK(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const uint32_t k = static_cast<uint32_t>(state.range(1));
  const Case& c = MakeCase(n, state.range(2) != 0);
  state.SetLabel(state.range(2) != 0 ? "rising" : "random");
  std::vector<uint32_t> a, b;
  for (size_t r = 0; r < c.scores.size(); ++r) {  // the same answer, or the timing means nothing
    marquee::TopKUnseeded(c.scores[r], c.excluded[r], k, a);
    marquee::TopK(c.scores[r], c.excluded[r], k, b);
    if (a != b) {
      std::fprintf(stderr, "bench_top_k: TopK and the reference differ (n %zu, k %u)\n", n, k);
      std::exit(1);
    }
  }
  size_t r = 0;
  std::vector<uint32_t> out;
  for (auto _ : state) {
    if (kReference) {
      marquee::TopKUnseeded(c.scores[r], c.excluded[r], k, out);
    } else {
      marquee::TopK(c.scores[r], c.excluded[r], k, out);
    }
    benchmark::DoNotOptimize(out.data());
    r = (r + 1) % c.scores.size();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}

void Sizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"items", "k", "rising"});
  for (int64_t n : {1682, 27278, 100000}) {
    for (int64_t k : {10, 100}) {
      for (int64_t rising : {0, 1}) b->Args({n, k, rising});
    }
  }
}

BENCHMARK(BM_TopK<true>)->Name("reference_heap_scan")->Apply(Sizes);
BENCHMARK(BM_TopK<false>)->Name("top_k")->Apply(Sizes);

}  // namespace

BENCHMARK_MAIN();

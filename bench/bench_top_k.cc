// TopK (common/top_k.h), the one ranking step of serving, evaluation and the replay simulator,
// against the scan it replaced, on the same scores in the same run.
//
//   reference: TopKUnseeded, a bounded heap filled with the first k eligible items, then a scan
//              that compares 16 scores at once against the heap's worst and pushes each item
//              that beats it (TopK before the seeded start);
//   TopK:      the same scan, but the heap starts as the exact top k of the catalogue (up to
//              8,192 items) or of a prefix, picked from the maxima of its 16-score pieces, so the
//              early items stop paying a heap push each.
//
// Scores ("scores" argument):
//   0 random  independent N(0, 1) draws, 20 excluded items among the 200 best (a history);
//   1 rising  the same plus a rise of 3 standard deviations from the first item to the last
//             (later items score higher, so a scan in index order keeps finding better ones);
//   2 ease    EASE (lambda 300) fitted on MovieLens-100K (every rating a positive), scoring what
//             the issue #18 serving mix sends: anonymous 20-item histories drawn from
//             members' rows and members' whole rows (half each), each history excluded. Needs
//             $MARQUEE_SHARED_DATA (default ../shared/data)/movielens-100k/u.data; skipped
//             without it. Catalogue 1,682 items whatever the items argument says.
// Each case cycles through many requests' scores (1,024 at 1,682 items; at most 16M scores in
// all, and never fewer than 64): a pool of 64 is learnt by the branch predictor, which then
// hides the mispredictions a server pays on scores it has never seen (at 1,682 items the
// reference took 0.6-0.7 us a call over 64 EASE requests and 2.0-2.7 us over 300 captured from
// a running server). Both
// functions must return the same list (checked before timing). Sizes: ML-100K (1,682 items),
// ML-20M (27,278) and 100,000 items; k 10 and 100.
//
//   build/release/bench/bench_top_k --benchmark_repetitions=9
//     --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true
//   (one command line, from the repository root)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/top_k.h"
#include "marquee/recommender.h"
#include "marquee/sparse.h"

namespace {

// How many requests a case cycles through for a catalogue of n items.
size_t Requests(size_t n) { return std::clamp<size_t>((size_t{16} << 20) / n, 64, 1024); }

struct Case {
  std::vector<std::vector<float>> scores;  // Requests(n) requests' scores

  std::vector<std::vector<uint32_t>> excluded;
  bool available = true;
};

// MovieLens-100K's u.data (user, item, rating, time; tab-separated) as a binary users x items
// matrix, users and items numbered in order of first appearance as `marquee train` numbers them
// (so the served catalogue's order); empty when the file is absent.
marquee::CsrMatrix ReadMl100k() {
  const char* env = std::getenv("MARQUEE_SHARED_DATA");
  std::ifstream f(std::string(env != nullptr ? env : "../shared/data") + "/movielens-100k/u.data");
  std::unordered_map<uint32_t, uint32_t> users, items;
  std::vector<uint32_t> r, c;
  uint32_t u = 0, i = 0;
  double rating = 0, ts = 0;
  while (f >> u >> i >> rating >> ts) {
    r.push_back(users.emplace(u, static_cast<uint32_t>(users.size())).first->second);
    c.push_back(items.emplace(i, static_cast<uint32_t>(items.size())).first->second);
  }
  return marquee::CsrMatrix::FromTriplets(static_cast<uint32_t>(users.size()),
                                          static_cast<uint32_t>(items.size()), r, c, {});
}

// The "ease" case: a fitted EASE's scores for the serving mix's two kinds of history.
Case MakeEaseCase() {
  Case c;
  const marquee::CsrMatrix x = ReadMl100k();
  if (x.nnz() == 0) {
    c.available = false;
    return c;
  }
  auto ease = marquee::CreateRecommender("ease", {{"lambda", 300.0}});
  marquee::Context ctx;
  ctx.threads = 2;
  ease->Fit(x, ctx);
  std::mt19937 rng(18);
  std::vector<std::vector<uint32_t>> histories;
  while (histories.size() < Requests(x.cols)) {
    const uint32_t u = rng() % x.rows;
    std::vector<uint32_t> row(x.row_indices(u).begin(), x.row_indices(u).end());
    if (histories.size() % 2 == 0) {  // anonymous: 20 items of a member's row
      if (row.size() < 20) continue;
      std::shuffle(row.begin(), row.end(), rng);
      row.resize(20);
      std::sort(row.begin(), row.end());
    }
    histories.push_back(std::move(row));
  }
  std::vector<uint32_t> r, cols;
  for (uint32_t q = 0; q < histories.size(); ++q) {
    for (uint32_t i : histories[q]) {
      r.push_back(q);
      cols.push_back(i);
    }
  }
  const auto h = marquee::CsrMatrix::FromTriplets(static_cast<uint32_t>(histories.size()), x.cols,
                                                  r, cols, {});
  std::vector<float> all(static_cast<size_t>(h.rows) * x.cols);
  ease->ScoreBatch(h, all, ctx);
  for (uint32_t q = 0; q < h.rows; ++q) {
    c.scores.emplace_back(all.begin() + static_cast<std::ptrdiff_t>(q) * x.cols,
                          all.begin() + static_cast<std::ptrdiff_t>(q + 1) * x.cols);
    c.excluded.push_back(histories[q]);
  }
  return c;
}

const Case& MakeCase(size_t n, int kind) {
  static std::vector<std::pair<size_t, Case>> cases;
  const size_t key = kind == 2 ? 2 : n * 4 + static_cast<size_t>(kind);
  for (auto& [size, c] : cases) {
    if (size == key) return c;
  }
  if (kind == 2) {
    cases.emplace_back(key, MakeEaseCase());
    return cases.back().second;
  }
  const bool rising = kind == 1;
  Case c;
  std::mt19937 rng(static_cast<uint32_t>(n));
  std::normal_distribution<float> normal(0, 1);
  for (size_t r = 0; r < Requests(n); ++r) {
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

enum class Variant { kReference, kTopK, kCopyOnly };

template <Variant kVariant>
void BM_TopK(benchmark::State& state) {
  size_t n = static_cast<size_t>(state.range(0));
  const uint32_t k = static_cast<uint32_t>(state.range(1));
  const int kind = static_cast<int>(state.range(2));
  const Case& c = MakeCase(n, kind);
  if (!c.available) {
    state.SkipWithError("no movielens-100k/u.data under $MARQUEE_SHARED_DATA or ../shared/data");
    return;
  }
  state.SetLabel(kind == 2 ? "ease" : kind == 1 ? "rising" : "random");
  n = c.scores.front().size();  // the ease case has its own catalogue
  std::vector<uint32_t> a, b;
  for (size_t r = 0; r < c.scores.size(); ++r) {  // the same answer, or the timing means nothing
    marquee::TopKUnseeded(c.scores[r], c.excluded[r], k, a);
    marquee::TopK(c.scores[r], c.excluded[r], k, b);
    if (a != b) {
      std::fprintf(stderr, "bench_top_k: TopK and the reference differ (n %zu, k %u)\n", n, k);
      std::exit(1);
    }
  }
  // Each call first copies its request's scores into one buffer, as a server ranks scores it
  // has just computed (in cache); copy_only times that copy alone, to subtract.
  size_t r = 0;
  std::vector<uint32_t> out;
  std::vector<float> hot(n);
  for (auto _ : state) {
    std::copy(c.scores[r].begin(), c.scores[r].end(), hot.begin());
    benchmark::DoNotOptimize(hot.data());
    if (kVariant == Variant::kReference) marquee::TopKUnseeded(hot, c.excluded[r], k, out);
    if (kVariant == Variant::kTopK) marquee::TopK(hot, c.excluded[r], k, out);
    benchmark::DoNotOptimize(out.data());
    r = (r + 1) % c.scores.size();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}

void Sizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"items", "k", "scores"});
  for (int64_t n : {1682, 27278, 100000}) {
    for (int64_t k : {10, 100}) {
      for (int64_t kind : {0, 1}) b->Args({n, k, kind});
      if (n == 1682) b->Args({n, k, 2});
    }
  }
}

BENCHMARK(BM_TopK<Variant::kReference>)->Name("reference_heap_scan")->Apply(Sizes);
BENCHMARK(BM_TopK<Variant::kTopK>)->Name("top_k")->Apply(Sizes);
BENCHMARK(BM_TopK<Variant::kCopyOnly>)->Name("copy_only")->Apply(Sizes);

}  // namespace

BENCHMARK_MAIN();

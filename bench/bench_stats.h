// Shared Google Benchmark helpers for bench/*.cc: the spread statistics every benchmark reports
// next to Google Benchmark's own mean / median / stddev / cv over repetitions.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace marquee::bench {

// The q-quantile of the repetitions as the benchmarks here always computed it: the value at
// index floor(q * n) of the sorted values (the largest for q * n >= n).
inline double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<size_t>(q * static_cast<double>(v.size()));
  return v[std::min(v.size() - 1, i)];
}

inline double Min(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::min_element(v.begin(), v.end());
}
inline double Max(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::max_element(v.begin(), v.end());
}
inline double P95(const std::vector<double>& v) { return Quantile(v, 0.95); }
inline double P99(const std::vector<double>& v) { return Quantile(v, 0.99); }

// `repetitions` single-iteration repetitions: each repetition is one timed call, so the
// aggregates (median, p95, p99, min, max next to mean / stddev / cv) are those of the calls'
// latencies. Only the aggregates are reported.
inline benchmark::internal::Benchmark* PerCall(benchmark::internal::Benchmark* b, int repetitions) {
  return b->Iterations(1)
      ->Repetitions(repetitions)
      ->ReportAggregatesOnly(true)
      ->ComputeStatistics("min", Min)
      ->ComputeStatistics("max", Max)
      ->ComputeStatistics("p95", P95)
      ->ComputeStatistics("p99", P99);
}

// Registers `name` as PerCall(calls) repetitions of one call of `fn` each, timed on the wall
// clock, after `warm_up` untimed calls made once, before the first repetition.
inline benchmark::internal::Benchmark* RegisterPerCall(const std::string& name,
                                                       std::function<void()> fn, int calls,
                                                       int warm_up) {
  auto warmed = std::make_shared<bool>(false);
  auto* b = benchmark::RegisterBenchmark(
      name.c_str(), [fn = std::move(fn), warmed, warm_up](benchmark::State& state) {
        if (!*warmed) {
          for (int i = 0; i < warm_up; ++i) fn();
          *warmed = true;
        }
        for (auto _ : state) fn();
      });
  return PerCall(b, calls)->UseRealTime();
}

}  // namespace marquee::bench

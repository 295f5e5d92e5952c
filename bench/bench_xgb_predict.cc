// Predict latency of Marquee's tabular Predictor (XGBoost C API, in-process), on 1 row and on
// 1,000 rows, compared in bench/xgb_predict.sh with python3-xgboost's inplace_predict
// (bench/reference/xgb_inplace_predict.py) on the same model file and rows.
//
//   bench_xgb_predict MODEL.json ROWS.csv [NTHREAD] [--benchmark_...]
//
// Every case is a Google Benchmark of single-call repetitions (after 50 warm-up calls, once):
// 3,000 calls for 1 row, 300 for 1,000 rows, 1,000 for 1 row with SHAP; the aggregates give the
// per-call median (p50), p99, mean and spread in microseconds.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_stats.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "tabular/predictor.h"
#include "tabular/table.h"

namespace {

using marquee::Predictor;

void RegisterCase(const std::string& name, std::function<void()> fn, int calls) {
  marquee::bench::RegisterPerCall(name, std::move(fn), calls, std::min(50, calls))
      ->Unit(benchmark::kMicrosecond);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL.json ROWS.csv [NTHREAD] [--benchmark_...]\n", argv[0]);
    return 2;
  }
  try {
    marquee::Env* env = marquee::Env::Default();
    const std::string bytes = env->ReadFile(argv[1]);
    marquee::XgbModel model;
    marquee::TabularModelInfo info = marquee::DescribeImportedModel(
        {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, &model);
    const int nthread = argc > 3 ? std::atoi(argv[3]) : 1;
    model.SetParam("nthread", std::to_string(nthread));
    Predictor p(std::move(model), info);

    marquee::TabularReadOptions ro;
    ro.require_label = false;
    marquee::TabularData d = marquee::ReadTabularCsv(argv[2], ro, env);
    // Rows in the model's feature order, as JSON objects and as a dense matrix.
    const size_t nf = p.num_features();
    nlohmann::json rows = nlohmann::json::array();
    std::vector<float> dense(d.rows * nf);
    for (uint64_t r = 0; r < d.rows; ++r) {
      nlohmann::json row = nlohmann::json::object();
      for (size_t f = 0; f < nf; ++f) {
        const int c = d.schema.Find(info.feature_names[f]);
        if (c < 0)
          marquee::Fail(marquee::ErrorCode::kInvalidArgument, "no column {}",
                        info.feature_names[f]);
        const float v = d.columns[static_cast<size_t>(c)][r];
        dense[r * nf + f] = v;
        row[info.feature_names[f]] = static_cast<double>(v);
      }
      rows.push_back(std::move(row));
    }
    const size_t n = std::min<uint64_t>(1000, d.rows);
    nlohmann::json one = nlohmann::json::array({rows[0]});
    nlohmann::json thousand = nlohmann::json::array();
    for (size_t i = 0; i < n; ++i) thousand.push_back(rows[i]);
    std::vector<float> dense1(dense.begin(), dense.begin() + static_cast<std::ptrdiff_t>(nf));
    std::vector<float> dense_n(dense.begin(), dense.begin() + static_cast<std::ptrdiff_t>(n * nf));

    benchmark::AddCustomContext("impl", "marquee Predictor (XGBoost C API)");
    benchmark::AddCustomContext("xgboost", marquee::XgboostVersion());
    benchmark::AddCustomContext("nthread", std::to_string(nthread));
    benchmark::AddCustomContext("rows_1000_count", std::to_string(n));
    volatile float sink = 0;
    RegisterCase(
        "dense_rows_1", [&] { sink = p.PredictMatrix(dense1, 1, false).scores[0]; }, 3000);
    RegisterCase(
        "dense_rows_1000", [&] { sink = p.PredictMatrix(dense_n, n, false).scores[0]; }, 300);
    RegisterCase(
        "json_rows_1", [&] { sink = p.PredictRows(one, false).scores[0]; }, 3000);
    RegisterCase(
        "json_rows_1000", [&] { sink = p.PredictRows(thousand, false).scores[0]; }, 300);
    RegisterCase(
        "explain_rows_1", [&] { sink = p.PredictMatrix(dense1, 1, true).scores[0]; }, 1000);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    (void)sink;
  } catch (const marquee::Error& e) {
    std::fprintf(stderr, "bench_xgb_predict: %s\n", e.what());
    return 1;
  }
  return 0;
}

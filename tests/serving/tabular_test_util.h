// Helpers for the serving suites: register a small XGBoost model as a registry version.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "marquee/env.h"
#include "registry/registry.h"
#include "tabular/predictor.h"
#include "tabular/xgb_model.h"

namespace marquee::testing {

// Trains a small binary XGBoost model on two features (a, b) and registers it as the next
// version of `model`; returns the version.
inline int64_t RegisterTabular(const std::string& home, const std::string& model, int rounds) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<float> u(0, 1);
  const uint64_t rows = 200;
  std::vector<float> x, y;
  for (uint64_t i = 0; i < rows; ++i) {
    const float a = u(rng), b = u(rng);
    x.insert(x.end(), {a, b});
    y.push_back(a + b > 1.0f ? 1.0f : 0.0f);
  }
  XgbDMatrix m(x, rows, 2);
  m.SetLabels(y);
  m.SetFeatureNames({"a", "b"});
  XgbModel trained =
      XgbModel::Train({{"objective", "binary:logistic"}, {"nthread", "1"}, {"verbosity", "0"}}, m,
                      nullptr, rounds, 0, nullptr);
  const std::string bytes = trained.Save("ubj");
  XgbModel loaded;
  TabularModelInfo info = DescribeImportedModel(
      {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, &loaded);
  Registry reg(home);  // first: a home with artifacts but no registry is refused as damaged
  std::string digest;
  SaveTabularModel(bytes, info, {{"rounds", rounds}}, home, Env::Default(), &digest);
  NewVersion nv;
  nv.model_name = model;
  nv.artifact = digest;
  nv.family = "xgboost";
  nv.created_at = 1;
  return reg.store().RegisterVersion(nv).version;
}

}  // namespace marquee::testing

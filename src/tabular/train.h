// The tabular train job behind `marquee train` for [model] family = "xgboost" (docs/config.md):
// load a tabular dataset (a snapshot or a CSV file) -> split (stratified holdout, k-fold,
// temporal) -> train with XGBoost (early stopping on a validation split of the training rows)
// -> evaluate -> refit on every row (unless [split] refit = false) -> save the artifact.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "marquee/context.h"

namespace marquee {

struct TabularTrainConfig {
  // [data]
  std::string dataset;  // a tabular snapshot name, or
  std::string train;    // a CSV file (relative paths resolved against the config's folder)
  std::string label;
  std::vector<std::string> drop, categorical;
  std::string time_col, id_col;
  // [split]
  std::string protocol = "stratified-holdout";  // | "holdout" | "kfold" | "temporal"
  double test_fraction = 0.2;
  int folds = 5;
  uint64_t seed = 98765;
  double valid_fraction = 0.1;  // of the training rows, when early_stopping_rounds > 0
  // A share of the training rows evaluated instead of the test rows (tuning), 0: off. The
  // test rows are then neither trained on nor evaluated.
  double validation = 0;
  bool refit = true;
  // [model]
  std::string model_name;
  std::string objective = "binary:logistic";
  int num_round = 100;
  int early_stopping_rounds = 0;
  int nthread = 0;  // 0: [run] threads, else all cores
  // XGBoost parameters as strings (max_depth, eta, subsample, min_child_weight, ...).
  std::vector<std::pair<std::string, std::string>> xgb_params;
  nlohmann::json params = nlohmann::json::object();  // [model] as given minus family/name
  // [eval]
  std::vector<std::string> metrics;
  int threads = 0;  // [run]

  bool classification() const;
  nlohmann::json ToJson() const;
};

// Parses the config document (TOML already turned into JSON, overrides applied). `base_dir`
// resolves [data] train; `stem` names the model by default. Unknown keys are kInvalidArgument.
TabularTrainConfig ParseTabularConfig(const nlohmann::json& root, const std::string& base_dir,
                                      const std::string& stem);

// Runs the job; returns the result JSON (what `marquee train --json` prints, and what the
// registry records): dataset, protocol, split, params, metrics, metric_order, reliability,
// feature_importance, timings, artifact, artifact_sha256. Throws marquee::Error.
nlohmann::json RunTabularTraining(const TabularTrainConfig& config, const std::string& home,
                                  const Context& ctx);

std::string FormatTabularReport(const nlohmann::json& result);

}  // namespace marquee

// TrainConfig: the one config file that drives `marquee train` (docs/config.md). Parsed from
// TOML; `--set section.key=value` overrides are applied before validation. Unknown sections or
// keys and wrong types are kInvalidArgument errors that name the key.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bandits/train.h"
#include "data/readers.h"
#include "eval/split.h"
#include "tabular/train.h"

namespace marquee {

struct DataConfig {
  std::string dataset;  // a catalog name or id, or:
  std::string train;    // a file any reader accepts (relative to the config file's folder)
  ReadOptions read;     // format, columns, header, delimiter for `train` and the eval files
  std::optional<double> positive_threshold;
};

struct TrainConfig {
  DataConfig data;
  SplitConfig split;
  std::string eval_input, eval_target;  // protocol "given" (relative to the config's folder)
  bool refit = true;
  std::string family;
  std::string model_name;       // [model] name; default: the config file's stem
  nlohmann::json model_params;  // [model] minus family/name
  uint64_t model_seed = 0;      // [model] seed; default: [split] seed
  std::vector<std::string> metrics;
  int threads = 0;          // [run] threads; 0: all cores
  nlohmann::json as_given;  // the whole config (after overrides) as JSON, for records
  // Set for [model] family = "xgboost": the tabular job's own config (src/tabular/train.h).
  // The fields above then carry only what the registry records: family, model_name,
  // model_params, metrics, data.dataset / data.train, split.protocol and split.seed.
  std::shared_ptr<const TabularTrainConfig> tabular;
  // Set for a bandit policy family (uniform, epsilon-greedy, softmax, linucb, lints): the
  // bandit job's config (src/bandits/train.h); the fields above carry what the registry records.
  std::shared_ptr<const bandit::BanditTrainConfig> bandit;
};

// Parses TOML text. `origin` (the file path, or "<string>") resolves relative paths and names
// the model by default. `overrides` are "section.key=value" with a TOML value (strings may be
// bare).
TrainConfig ParseTrainConfig(const std::string& toml_text, const std::string& origin,
                             const std::vector<std::string>& overrides);
TrainConfig LoadTrainConfig(const std::string& path, const std::vector<std::string>& overrides);

}  // namespace marquee

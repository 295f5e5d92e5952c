// The recommender kind: top-N recommenders over implicit feedback (families in src/models/,
// created by CreateRecommender). Trains with the offline protocol of src/eval (split, fit,
// evaluate, refit), saves a model bundle (model_bundle.h), and answers "recommend" and
// "similar-items" when served.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/model_kind.h"
#include "data/readers.h"
#include "eval/split.h"

namespace marquee {

struct DataConfig {
  std::string dataset;  // a catalog name or id, or:
  std::string train;    // a file any reader accepts (relative to the config file's folder)
  ReadOptions read;     // format, columns, header, delimiter for `train` and the eval files
  std::optional<double> positive_threshold;
};

// A recommender's `marquee train` config (docs/config.md).
struct RecommenderConfig final : KindConfig {
  DataConfig data;
  SplitConfig split;
  std::string eval_input, eval_target;  // protocol "given" (relative to the config's folder)
  bool refit = true;
  // [split] validation: a share of the training users evaluated instead of the test users
  // (tuning; eval/split.h CarveValidation). 0: off.
  double validation = 0;
  std::string family;
  std::string model_name;       // [model] name; default: the config file's stem
  nlohmann::json model_params;  // [model] minus family/name/seed/description
  uint64_t model_seed = 0;      // [model] seed; default: [split] seed
  std::vector<std::string> metrics;
  int threads = 0;          // [run] threads; 0: all cores
  nlohmann::json as_given;  // the whole config (after overrides), kept in the artifact

  nlohmann::json Resolved() const override;
};

std::unique_ptr<ModelKind> NewRecommenderKind();

}  // namespace marquee

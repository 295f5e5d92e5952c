// Tabular model artifacts and the Predictor the CLI and the HTTP layer call.
//
// A tabular model artifact is an ordinary Marquee artifact (docs/formats/model-artifact.md) of
// family "xgboost": the XGBoost model bytes (JSON or UBJSON, exactly as trained or imported) in
// the tensor "xgboost.model", and in the header what serving needs to turn JSON rows into a
// feature matrix: feature names and types, category dictionaries, the objective
// (docs/formats/tabular.md).
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tabular/xgb_model.h"

namespace marquee {

class Env;

struct TabularModelInfo {
  std::vector<std::string> feature_names;
  // XGBoost feature types: "q" / "float" / "int" (numeric), "i" (indicator: booleans),
  // "c" (categorical).
  std::vector<std::string> feature_types;
  // Categorical features whose values are strings: the code of a value is its index here.
  std::map<std::string, std::vector<std::string>> categories;
  std::string objective;             // e.g. "binary:logistic"
  std::string label;                 // the training label's name ("" for imported models)
  std::string source;                // "marquee train" | "import"
  std::string model_format = "ubj";  // of the stored XGBoost bytes: "json" | "ubj"
  nlohmann::json meta = nlohmann::json::object();
  nlohmann::json ToJson() const;
  static TabularModelInfo FromJson(const nlohmann::json& j);
};

// Writes the artifact atomically under $home/artifacts/<sha256>.mqm; returns its path.
// `model_bytes` are the XGBoost model bytes in info.model_format.
std::string SaveTabularModel(std::string_view model_bytes, const TabularModelInfo& info,
                             const nlohmann::json& params, const std::string& home, Env* env,
                             std::string* digest);

// Feature names and types of an XGBoost model file's bytes ("json" or "ubj"), checked: the
// model must carry feature names. kInvalidArgument naming the problem otherwise.
TabularModelInfo DescribeImportedModel(std::span<const uint8_t> bytes, XgbModel* model);

class Predictor {
 public:
  struct Result {
    uint64_t rows = 0;
    uint64_t width = 1;           // outputs per row (1 unless multi-class)
    std::vector<float> scores;    // rows x width (probabilities for binary:logistic)
    std::vector<float> margins;   // rows x width, with explain only
    std::vector<float> contribs;  // rows x (features + 1), with explain only; last: bias
  };

  // Loads a tabular artifact. kNotFound / kCorruption name the path.
  static std::unique_ptr<Predictor> Load(const std::string& path, Env* env);
  Predictor(XgbModel model, TabularModelInfo info);

  const TabularModelInfo& info() const { return info_; }
  const XgbModel& model() const { return model_; }
  uint64_t num_features() const { return info_.feature_names.size(); }

  // Turns a JSON array of row objects into a dense row-major matrix (NaN: missing). Absent
  // features and null are missing; an unknown feature name, a value of the wrong type, or a
  // row that is not an object is kInvalidArgument naming the field ("rows[3].PAY_0: ...").
  // More than kMaxRows rows is kResourceExhausted.
  std::vector<float> EncodeRows(const nlohmann::json& rows) const;
  static constexpr size_t kMaxRows = 100000;

  // Scores `rows` rows of a dense matrix (num_features() floats each, NaN missing); with
  // `explain`, also XGBoost's SHAP contributions (type=contribs). Thread-safe.
  Result PredictMatrix(std::span<const float> matrix, uint64_t rows, bool explain) const;
  Result PredictRows(const nlohmann::json& rows, bool explain) const;
  // [{"score": s, "contributions": {"feature": c, ..., "bias": b}}, ...]
  nlohmann::json ToJson(const Result& r) const;

 private:
  XgbModel model_;
  TabularModelInfo info_;
  std::vector<int> kind_;  // per feature: 0 numeric, 1 boolean, 2 categorical
  std::vector<std::map<std::string, float, std::less<>>> codes_;  // categorical dictionaries
  std::map<std::string, size_t, std::less<>> index_;
};

// Rows of a CSV file (header = column names) as PredictRows takes them, read the way the model
// needs each feature: numeric features as numbers, indicator ("i") features as booleans
// (true/false/yes/no/0/1), categorical features as their category strings (a number is also
// tried as the training code's spelling, "1.0" as "1"), or as integer codes when the model has
// no dictionary. Columns the model does not use (an id, the label) are skipped and their names
// appended to *ignored, so the CSV a model was trained on can be scored as it is. A feature
// with no column is a missing value in every row (as in a JSON row that leaves it out), and its
// name is appended to *absent (when not null); a header that names no feature at all is
// kInvalidArgument (the wrong file). A bad cell is kInvalidArgument naming file:line and the
// column. Empty and NA-like cells are missing values.
std::vector<nlohmann::json> CsvRowsForModel(std::string_view text, const std::string& origin,
                                            const TabularModelInfo& info,
                                            std::vector<std::string>* ignored,
                                            std::vector<std::string>* absent = nullptr);

// The body of POST /v1/predict: {"model": "name@alias", "rows": [{...}, ...], "explain": false}.
// kInvalidArgument naming the field for a missing/mistyped field or an unknown one.
struct PredictRequest {
  std::string model;
  nlohmann::json rows;
  bool explain = false;
};
PredictRequest ParsePredictRequest(const nlohmann::json& body);

// The registry's publish check for an xgboost version: load the artifact, score one all-missing
// row, require a finite score. Returns what was checked; throws marquee::Error otherwise.
std::vector<std::string> TabularSmokeTest(const std::string& artifact_path, Env* env);

}  // namespace marquee

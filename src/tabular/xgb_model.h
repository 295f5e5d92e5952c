// XgbModel: RAII over XGBoost's C API (Debian's libxgboost, 1.7). Every call's return code is
// checked; a failure throws marquee::Error whose message names the call and carries
// XGBGetLastError(). Training and prediction use float32 dense row-major matrices with NaN as
// the missing value.
//
// Thread-safety: prediction (PredictDense, Contributions) may be called from several threads
// at once (XGBoost's CPU predictor is thread-safe and its output buffers are thread-local; we
// copy them before returning). Training, SetParam and loading need exclusive access.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace marquee {

// A dense float32 matrix in XGBoost's DMatrix form. Move-only.
class XgbDMatrix {
 public:
  // `data` is rows x cols row-major; NaN marks a missing value. The data is copied.
  XgbDMatrix(std::span<const float> data, uint64_t rows, uint64_t cols);
  XgbDMatrix(XgbDMatrix&& o) noexcept
      : h_(std::exchange(o.h_, nullptr)),
        names_(std::move(o.names_)),
        types_(std::move(o.types_)) {}
  XgbDMatrix& operator=(XgbDMatrix&&) = delete;
  XgbDMatrix(const XgbDMatrix&) = delete;
  ~XgbDMatrix();

  void SetLabels(std::span<const float> labels);
  void SetFeatureNames(const std::vector<std::string>& names);
  // "q" (numeric), "c" (categorical), "i" (indicator), "float", "int".
  void SetFeatureTypes(const std::vector<std::string>& types);
  void* handle() const { return h_; }
  const std::vector<std::string>& feature_names() const { return names_; }
  const std::vector<std::string>& feature_types() const { return types_; }

 private:
  void* h_ = nullptr;
  std::vector<std::string> names_, types_;
};

struct XgbEvalLog {
  int best_iteration = -1;  // with early stopping: the round with the best validation score
  double best_score = 0;
  std::string metric;                // the validation metric early stopping watched
  std::vector<double> valid_scores;  // one per round
};

class XgbModel {
 public:
  XgbModel();  // an empty booster
  XgbModel(XgbModel&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  XgbModel& operator=(XgbModel&& o) noexcept;
  XgbModel(const XgbModel&) = delete;
  ~XgbModel();

  // Loads an XGBoost model saved as JSON or UBJSON (XGBoost tells them apart by the first two
  // bytes). The bytes are first checked by CheckXgbModelBytes, so a damaged file is refused with
  // a message naming the problem instead of reaching XGBoost's unchecked readers.
  // kInvalidArgument (bad structure, or XGBoost's own message) if it cannot.
  static XgbModel FromBuffer(std::span<const uint8_t> bytes);

  // Trains `num_round` rounds on `train` with `params` (XGBoost names: objective, max_depth,
  // eta, ...; values as strings); the booster takes `train`'s feature names and types. With `valid`
  // and `early_stopping_rounds` > 0, stops when the validation metric has not improved for that
  // many rounds and keeps the best rounds only.
  static XgbModel Train(const std::vector<std::pair<std::string, std::string>>& params,
                        const XgbDMatrix& train, const XgbDMatrix* valid, int num_round,
                        int early_stopping_rounds, XgbEvalLog* log,
                        const std::function<void(double)>& progress = {});

  void SetParam(const std::string& key, const std::string& value);
  // "json" or "ubj".
  std::string Save(std::string_view format) const;
  int BoostedRounds() const;
  uint64_t NumFeatures() const;
  std::vector<std::string> FeatureNames() const;
  std::vector<std::string> FeatureTypes() const;
  void SetFeatureNames(const std::vector<std::string>& names);
  void SetFeatureTypes(const std::vector<std::string>& types);
  // The learner's configuration (objective, base_score, ...), as XGBoosterSaveJsonConfig.
  nlohmann::json Config() const;

  // Predictions for `rows` rows of NumFeatures() floats (row-major, NaN missing), via
  // XGBoost's in-place predictor (no DMatrix). `margin`: untransformed scores. Returns
  // rows x width values; width is 1 except for multi-class models.
  std::vector<float> PredictDense(const float* data, uint64_t rows, bool margin,
                                  uint64_t* width = nullptr) const;
  // SHAP contributions (TreeSHAP), rows x (NumFeatures() + 1); the last column is the bias.
  // Each row sums to the margin. kUnimplemented for multi-output models.
  std::vector<float> Contributions(const XgbDMatrix& m, uint64_t rows) const;
  // Feature importance by `type` ("gain", "total_gain", "weight", ...): feature -> score.
  std::vector<std::pair<std::string, double>> Importance(const std::string& type) const;

  void* handle() const { return h_; }

 private:
  explicit XgbModel(void* h) : h_(h) {}
  void* h_ = nullptr;
};

// Structural check of an XGBoost model file's bytes before XGBoost parses them. libxgboost's
// UBJSON reader trusts every length and count (it reads past the buffer, recurses without a
// limit and loops forever on an unterminated array) and its JSON reader recurses without a
// limit, so a damaged or hostile file could crash the process. Accepts exactly:
//   - JSON ('{' then '"'): valid UTF-8 JSON (nlohmann's syntax check) nested at most
//     kMaxModelDepth deep, one object and nothing after it but whitespace;
//   - UBJSON ('{' then 'L' or '}'): the subset XGBoost reads (objects with 'L'-sized keys;
//     arrays plain, '#L'-counted or '$'-typed with d/U/l/L elements; Z T F i U I l L d C S
//     values), nested at most kMaxModelDepth deep, every length and count inside the bytes
//     left, one object and no trailing bytes.
// Then, on the parsed document, everything libxgboost indexes without a bounds check or throws
// inside an OpenMP region (which aborts the process): booster parameters, tree count, groups and
// ids, and per tree the node arrays (count and typed/plain kind), parents, deleted-node count,
// categorical segments, and from the root two in-range children per split reached once and
// split features below num_feature (docs/formats/tabular.md). The legacy binary format is
// refused (its reader is not checked either). Throws kInvalidArgument naming the problem (and
// for syntax its byte offset). Pure; thread-safe. A damaged float still loads.
inline constexpr int kMaxModelDepth = 64;
void CheckXgbModelBytes(std::span<const uint8_t> bytes);

// XGBoost's version string ("1.7.4").
std::string XgboostVersion();

}  // namespace marquee

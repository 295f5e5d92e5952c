#include "tabular/xgb_model.h"

#include <xgboost/c_api.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "marquee/error.h"

namespace marquee {
namespace {

// Checks an XGBoost return code; `code` is the error code a failure maps to.
void Check(int rc, const char* call, ErrorCode code = ErrorCode::kInternal) {
  if (rc != 0) Fail(code, "xgboost {} failed: {}", call, XGBGetLastError());
}

std::vector<const char*> CStrings(const std::vector<std::string>& v) {
  std::vector<const char*> out;
  out.reserve(v.size());
  for (const auto& s : v) out.push_back(s.c_str());
  return out;
}

std::string ArrayInterface(const float* data, uint64_t rows, uint64_t cols) {
  return fmt::format(R"({{"data": [{}, true], "shape": [{}, {}], "typestr": "<f4", "version": 3}})",
                     reinterpret_cast<uintptr_t>(data), rows, cols);
}

// Parses "[12]\tvalid-logloss:0.4321" (the last metric on the line).
double ParseEvalLine(const std::string& line, std::string* metric) {
  const size_t colon = line.rfind(':');
  const size_t tab = line.rfind('\t', colon);
  if (colon == std::string::npos || tab == std::string::npos) {
    Fail(ErrorCode::kInternal, "cannot parse XGBoost's evaluation line '{}'", line);
  }
  const std::string name = line.substr(tab + 1, colon - tab - 1);
  *metric = name.substr(name.find('-') + 1);
  return std::strtod(line.c_str() + colon + 1, nullptr);
}

bool HigherIsBetter(const std::string& metric) {
  return metric.rfind("auc", 0) == 0 || metric.rfind("aucpr", 0) == 0 ||
         metric.rfind("map", 0) == 0 || metric.rfind("ndcg", 0) == 0 || metric.rfind("pre", 0) == 0;
}

}  // namespace

std::string XgboostVersion() {
  int major = 0, minor = 0, patch = 0;
  XGBoostVersion(&major, &minor, &patch);
  return fmt::format("{}.{}.{}", major, minor, patch);
}

// --- XgbDMatrix

XgbDMatrix::XgbDMatrix(std::span<const float> data, uint64_t rows, uint64_t cols) {
  if (data.size() != rows * cols) {
    Fail(ErrorCode::kInternal, "dense matrix of {}x{} given {} values", rows, cols, data.size());
  }
  DMatrixHandle h = nullptr;
  Check(
      XGDMatrixCreateFromMat(data.data(), rows, cols, std::numeric_limits<float>::quiet_NaN(), &h),
      "XGDMatrixCreateFromMat");
  h_ = h;
}

XgbDMatrix::~XgbDMatrix() {
  if (h_ != nullptr) XGDMatrixFree(h_);
}

void XgbDMatrix::SetLabels(std::span<const float> labels) {
  Check(XGDMatrixSetFloatInfo(h_, "label", labels.data(), labels.size()), "XGDMatrixSetFloatInfo");
}

void XgbDMatrix::SetFeatureNames(const std::vector<std::string>& names) {
  auto c = CStrings(names);
  Check(XGDMatrixSetStrFeatureInfo(h_, "feature_name", c.data(), c.size()),
        "XGDMatrixSetStrFeatureInfo(feature_name)", ErrorCode::kInvalidArgument);
  names_ = names;
}

void XgbDMatrix::SetFeatureTypes(const std::vector<std::string>& types) {
  auto c = CStrings(types);
  Check(XGDMatrixSetStrFeatureInfo(h_, "feature_type", c.data(), c.size()),
        "XGDMatrixSetStrFeatureInfo(feature_type)", ErrorCode::kInvalidArgument);
  types_ = types;
}

// --- XgbModel

XgbModel::XgbModel() {
  BoosterHandle h = nullptr;
  Check(XGBoosterCreate(nullptr, 0, &h), "XGBoosterCreate");
  h_ = h;
}

XgbModel& XgbModel::operator=(XgbModel&& o) noexcept {
  if (this != &o) {
    if (h_ != nullptr) XGBoosterFree(h_);
    h_ = std::exchange(o.h_, nullptr);
  }
  return *this;
}

XgbModel::~XgbModel() {
  if (h_ != nullptr) XGBoosterFree(h_);
}

XgbModel XgbModel::FromBuffer(std::span<const uint8_t> bytes) {
  if (bytes.empty()) Fail(ErrorCode::kInvalidArgument, "the XGBoost model is empty");
  XgbModel m;
  Check(XGBoosterLoadModelFromBuffer(m.h_, bytes.data(), bytes.size()),
        "XGBoosterLoadModelFromBuffer", ErrorCode::kInvalidArgument);
  return m;
}

XgbModel XgbModel::Train(const std::vector<std::pair<std::string, std::string>>& params,
                         const XgbDMatrix& train, const XgbDMatrix* valid, int num_round,
                         int early_stopping_rounds, XgbEvalLog* log,
                         const std::function<void(double)>& progress) {
  if (num_round < 1) Fail(ErrorCode::kInvalidArgument, "[model] num_round must be >= 1");
  DMatrixHandle cache[2] = {train.handle(), valid != nullptr ? valid->handle() : nullptr};
  BoosterHandle h = nullptr;
  Check(XGBoosterCreate(cache, valid != nullptr ? 2 : 1, &h), "XGBoosterCreate");
  XgbModel m(h);
  for (const auto& [k, v] : params) {
    Check(XGBoosterSetParam(h, k.c_str(), v.c_str()),
          fmt::format("XGBoosterSetParam({}={})", k, v).c_str(), ErrorCode::kInvalidArgument);
  }
  // As python's Booster does: the model carries its training data's feature names and types.
  if (!train.feature_names().empty()) m.SetFeatureNames(train.feature_names());
  if (!train.feature_types().empty()) m.SetFeatureTypes(train.feature_types());
  XgbEvalLog local;
  XgbEvalLog& lg = log != nullptr ? *log : local;
  int since_best = 0;
  for (int it = 0; it < num_round; ++it) {
    Check(XGBoosterUpdateOneIter(h, it, train.handle()), "XGBoosterUpdateOneIter",
          ErrorCode::kInvalidArgument);
    if (valid != nullptr) {
      DMatrixHandle dm[1] = {valid->handle()};
      const char* names[1] = {"valid"};
      const char* out = nullptr;
      Check(XGBoosterEvalOneIter(h, it, dm, names, 1, &out), "XGBoosterEvalOneIter");
      const double score = ParseEvalLine(out, &lg.metric);
      lg.valid_scores.push_back(score);
      const bool better =
          lg.best_iteration < 0 ||
          (HigherIsBetter(lg.metric) ? score > lg.best_score : score < lg.best_score);
      if (better) {
        lg.best_iteration = it;
        lg.best_score = score;
        since_best = 0;
      } else if (early_stopping_rounds > 0 && ++since_best >= early_stopping_rounds) {
        break;
      }
    }
    if (progress) progress(static_cast<double>(it + 1) / num_round);
  }
  if (valid != nullptr && early_stopping_rounds > 0 && lg.best_iteration + 1 < m.BoostedRounds()) {
    BoosterHandle sliced = nullptr;
    Check(XGBoosterSlice(h, 0, lg.best_iteration + 1, 1, &sliced), "XGBoosterSlice");
    XgbModel best(sliced);
    // A slice shares the parameters; round-trip through the model format so the result is a
    // standalone booster that serializes exactly the kept trees.
    const std::string bytes = best.Save("ubj");
    XgbModel clean = FromBuffer({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
    for (const auto& [k, v] : params) {
      if (k == "nthread") clean.SetParam(k, v);
    }
    if (!train.feature_names().empty()) clean.SetFeatureNames(train.feature_names());
    if (!train.feature_types().empty()) clean.SetFeatureTypes(train.feature_types());
    return clean;
  }
  return m;
}

void XgbModel::SetParam(const std::string& key, const std::string& value) {
  Check(XGBoosterSetParam(h_, key.c_str(), value.c_str()),
        fmt::format("XGBoosterSetParam({}={})", key, value).c_str(), ErrorCode::kInvalidArgument);
}

std::string XgbModel::Save(std::string_view format) const {
  const std::string config = fmt::format(R"({{"format": "{}"}})", format);
  bst_ulong len = 0;
  const char* out = nullptr;
  Check(XGBoosterSaveModelToBuffer(h_, config.c_str(), &len, &out), "XGBoosterSaveModelToBuffer");
  return std::string(out, len);
}

int XgbModel::BoostedRounds() const {
  int n = 0;
  Check(XGBoosterBoostedRounds(h_, &n), "XGBoosterBoostedRounds");
  return n;
}

uint64_t XgbModel::NumFeatures() const {
  bst_ulong n = 0;
  Check(XGBoosterGetNumFeature(h_, &n), "XGBoosterGetNumFeature");
  return n;
}

namespace {
std::vector<std::string> GetStrInfo(void* h, const char* field) {
  bst_ulong len = 0;
  const char** out = nullptr;
  Check(XGBoosterGetStrFeatureInfo(h, field, &len, &out), "XGBoosterGetStrFeatureInfo");
  std::vector<std::string> v;
  for (bst_ulong i = 0; i < len; ++i) v.emplace_back(out[i]);
  return v;
}
}  // namespace

std::vector<std::string> XgbModel::FeatureNames() const { return GetStrInfo(h_, "feature_name"); }
std::vector<std::string> XgbModel::FeatureTypes() const { return GetStrInfo(h_, "feature_type"); }

void XgbModel::SetFeatureNames(const std::vector<std::string>& names) {
  auto c = CStrings(names);
  Check(XGBoosterSetStrFeatureInfo(h_, "feature_name", c.data(), c.size()),
        "XGBoosterSetStrFeatureInfo(feature_name)", ErrorCode::kInvalidArgument);
}

void XgbModel::SetFeatureTypes(const std::vector<std::string>& types) {
  auto c = CStrings(types);
  Check(XGBoosterSetStrFeatureInfo(h_, "feature_type", c.data(), c.size()),
        "XGBoosterSetStrFeatureInfo(feature_type)", ErrorCode::kInvalidArgument);
}

nlohmann::json XgbModel::Config() const {
  bst_ulong len = 0;
  const char* out = nullptr;
  Check(XGBoosterSaveJsonConfig(h_, &len, &out), "XGBoosterSaveJsonConfig");
  return nlohmann::json::parse(std::string_view(out, len), nullptr, false);
}

std::vector<float> XgbModel::PredictDense(const float* data, uint64_t rows, bool margin,
                                          uint64_t* width) const {
  const uint64_t cols = NumFeatures();
  const std::string values = ArrayInterface(data, rows, cols);
  const std::string config =
      fmt::format(R"({{"type": {}, "training": false, "iteration_begin": 0, "iteration_end": 0, )"
                  R"("strict_shape": false, "missing": NaN, "cache_id": 0}})",
                  margin ? 1 : 0);
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* out = nullptr;
  Check(XGBoosterPredictFromDense(h_, values.c_str(), config.c_str(), nullptr, &shape, &dim, &out),
        "XGBoosterPredictFromDense", ErrorCode::kInvalidArgument);
  uint64_t total = 1;
  for (bst_ulong i = 0; i < dim; ++i) total *= shape[i];
  if (width != nullptr) *width = rows > 0 ? total / rows : 1;
  return std::vector<float>(out, out + total);
}

std::vector<float> XgbModel::Contributions(const XgbDMatrix& m, uint64_t rows) const {
  const char* config =
      R"({"type": 2, "training": false, "iteration_begin": 0, "iteration_end": 0, )"
      R"("strict_shape": false})";
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* out = nullptr;
  Check(XGBoosterPredictFromDMatrix(h_, m.handle(), config, &shape, &dim, &out),
        "XGBoosterPredictFromDMatrix(contribs)", ErrorCode::kInvalidArgument);
  if (dim != 2) {
    Fail(ErrorCode::kUnimplemented, "explanations are supported for single-output models only");
  }
  const uint64_t total = static_cast<uint64_t>(shape[0]) * shape[1];
  if (shape[0] != rows) Fail(ErrorCode::kInternal, "contribs for {} rows of {}", shape[0], rows);
  return std::vector<float>(out, out + total);
}

std::vector<std::pair<std::string, double>> XgbModel::Importance(const std::string& type) const {
  const std::string config = fmt::format(R"({{"importance_type": "{}"}})", type);
  bst_ulong n = 0, dim = 0;
  const char** names = nullptr;
  const bst_ulong* shape = nullptr;
  const float* scores = nullptr;
  Check(XGBoosterFeatureScore(h_, config.c_str(), &n, &names, &dim, &shape, &scores),
        "XGBoosterFeatureScore");
  std::vector<std::pair<std::string, double>> out;
  for (bst_ulong i = 0; i < n; ++i) out.emplace_back(names[i], scores[i]);
  return out;
}

}  // namespace marquee

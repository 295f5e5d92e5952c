#include "tabular/predictor.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <random>

#include "common/text.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "models/artifact.h"
#include "tabular/table.h"

namespace marquee {
namespace {

constexpr uint32_t kTabularModelVersion = 1;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

int KindOf(const std::string& type) {
  if (type == "c") return 2;
  if (type == "i") return 1;
  return 0;
}

std::string TypeName(const nlohmann::json& v) {
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return "null";
}

}  // namespace

nlohmann::json TabularModelInfo::ToJson() const {
  return {{"tabular_model_version", kTabularModelVersion},
          {"feature_names", feature_names},
          {"feature_types", feature_types},
          {"categories", categories},
          {"objective", objective},
          {"label", label},
          {"source", source},
          {"model_format", model_format},
          {"meta", meta}};
}

TabularModelInfo TabularModelInfo::FromJson(const nlohmann::json& j) {
  TabularModelInfo i;
  try {
    const uint32_t v = j.at("tabular_model_version").get<uint32_t>();
    if (v > kTabularModelVersion) {
      Fail(ErrorCode::kUnimplemented, "tabular model version {} is newer than this build ({})", v,
           kTabularModelVersion);
    }
    i.feature_names = j.at("feature_names").get<std::vector<std::string>>();
    i.feature_types = j.at("feature_types").get<std::vector<std::string>>();
    i.categories = j.value("categories", std::map<std::string, std::vector<std::string>>{});
    i.objective = j.value("objective", "");
    i.label = j.value("label", "");
    i.source = j.value("source", "");
    i.model_format = j.value("model_format", "ubj");
    i.meta = j.value("meta", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    Fail(ErrorCode::kCorruption, "malformed tabular model header: {}", e.what());
  }
  if (i.feature_types.size() != i.feature_names.size()) {
    Fail(ErrorCode::kCorruption, "tabular model header: {} feature types for {} features",
         i.feature_types.size(), i.feature_names.size());
  }
  return i;
}

std::string SaveTabularModel(std::string_view model_bytes, const TabularModelInfo& info,
                             const nlohmann::json& params, const std::string& home, Env* env,
                             std::string* digest) {
  if (env == nullptr) env = Env::Default();
  nlohmann::json header = info.ToJson();
  header["params"] = params;
  header["xgboost_version"] = XgboostVersion();
  ArtifactWriter w("xgboost", header);
  w.Add<uint8_t>("xgboost.model",
                 std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(model_bytes.data()),
                                          model_bytes.size()));
  const std::string dir = home + "/artifacts";
  env->CreateDirs(dir);
  // As SaveModelBundle: a unique temporary name, renamed to the digest.
  std::random_device rd;
  const std::string tmp = fmt::format("{}/incoming-{}-{:08x}.mqm", dir, ::getpid(), rd());
  const std::string sha = w.Write(tmp, env);
  const std::string path = dir + "/" + sha + ".mqm";
  env->RenameFile(tmp, path);
  if (digest != nullptr) *digest = sha;
  return path;
}

TabularModelInfo DescribeImportedModel(std::span<const uint8_t> bytes, XgbModel* out) {
  XgbModel m = XgbModel::FromBuffer(bytes);
  TabularModelInfo info;
  info.source = "import";
  info.model_format = !bytes.empty() && bytes[0] == '{' && bytes.size() > 1 &&
                              (bytes[1] == '"' || bytes[1] == ' ' || bytes[1] == '\n')
                          ? "json"
                          : "ubj";
  info.feature_names = m.FeatureNames();
  const uint64_t n = m.NumFeatures();
  if (info.feature_names.empty()) {
    Fail(ErrorCode::kInvalidArgument,
         "the model has no feature names (it has {} features): train it on a DMatrix with "
         "feature_names (or a pandas DataFrame) so rows can be matched by name",
         n);
  }
  if (info.feature_names.size() != n) {
    Fail(ErrorCode::kInvalidArgument, "the model names {} features but uses {}",
         info.feature_names.size(), n);
  }
  info.feature_types = m.FeatureTypes();
  if (info.feature_types.empty()) info.feature_types.assign(n, "q");
  nlohmann::json config = m.Config();
  if (config.is_object() && config.contains("learner")) {
    info.objective =
        config["learner"].value("objective", nlohmann::json::object()).value("name", "");
  }
  *out = std::move(m);
  return info;
}

// --- Predictor

std::unique_ptr<Predictor> Predictor::Load(const std::string& path, Env* env) {
  auto r = ArtifactReader::Open(path, env != nullptr ? env : Env::Default());
  if (r->family() != "xgboost") {
    Fail(ErrorCode::kInvalidArgument, "'{}' holds a {} model, not an xgboost model", path,
         r->family());
  }
  TabularModelInfo info = TabularModelInfo::FromJson(r->header());
  XgbModel m = XgbModel::FromBuffer(r->Get<uint8_t>("xgboost.model"));
  if (m.NumFeatures() != info.feature_names.size()) {
    Fail(ErrorCode::kCorruption, "'{}': the model uses {} features, the header names {}", path,
         m.NumFeatures(), info.feature_names.size());
  }
  return std::make_unique<Predictor>(std::move(m), std::move(info));
}

Predictor::Predictor(XgbModel model, TabularModelInfo info)
    : model_(std::move(model)), info_(std::move(info)) {
  kind_.resize(info_.feature_names.size());
  codes_.resize(info_.feature_names.size());
  for (size_t f = 0; f < info_.feature_names.size(); ++f) {
    kind_[f] = KindOf(info_.feature_types[f]);
    index_[info_.feature_names[f]] = f;
    auto it = info_.categories.find(info_.feature_names[f]);
    if (it != info_.categories.end()) {
      for (size_t k = 0; k < it->second.size(); ++k) {
        codes_[f][it->second[k]] = static_cast<float>(k);
      }
    }
  }
}

std::vector<float> Predictor::EncodeRows(const nlohmann::json& rows) const {
  if (!rows.is_array()) {
    Fail(ErrorCode::kInvalidArgument, "rows: expected an array of objects, got {}", TypeName(rows));
  }
  if (rows.size() > kMaxRows) {
    Fail(ErrorCode::kResourceExhausted, "rows: {} rows exceed the limit of {} per request",
         rows.size(), kMaxRows);
  }
  const size_t nf = num_features();
  std::vector<float> out(rows.size() * nf, kNaN);
  for (size_t r = 0; r < rows.size(); ++r) {
    const auto& row = rows[r];
    if (!row.is_object()) {
      Fail(ErrorCode::kInvalidArgument, "rows[{}]: expected an object, got {}", r, TypeName(row));
    }
    for (const auto& [key, v] : row.items()) {
      auto it = index_.find(key);
      if (it == index_.end()) {
        Fail(ErrorCode::kInvalidArgument, "rows[{}].{}: unknown feature (the model has {}: {}{})",
             r, key, nf,
             fmt::join(
                 info_.feature_names.begin(),
                 info_.feature_names.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(nf, 8)),
                 ", "),
             nf > 8 ? ", ..." : "");
      }
      const size_t f = it->second;
      float& cell = out[r * nf + f];
      if (v.is_null()) continue;
      switch (kind_[f]) {
        case 0:
          if (!v.is_number()) {
            Fail(ErrorCode::kInvalidArgument, "rows[{}].{}: expected a number or null, got {}", r,
                 key, TypeName(v));
          }
          cell = static_cast<float>(v.get<double>());
          break;
        case 1:
          if (v.is_boolean()) {
            cell = v.get<bool>() ? 1.0f : 0.0f;
          } else if (v.is_number() && (v.get<double>() == 0 || v.get<double>() == 1)) {
            cell = static_cast<float>(v.get<double>());
          } else {
            Fail(ErrorCode::kInvalidArgument,
                 "rows[{}].{}: expected true, false, 0, 1 or null, got {}", r, key,
                 v.is_number() ? v.dump() : TypeName(v));
          }
          break;
        default:
          if (v.is_string()) {
            auto c = codes_[f].find(v.get<std::string>());
            // A category never seen in training is treated as missing, as XGBoost would.
            if (c != codes_[f].end()) cell = c->second;
          } else if (v.is_number_integer() && v.get<int64_t>() >= 0 && codes_[f].empty()) {
            cell = static_cast<float>(v.get<int64_t>());
          } else {
            Fail(ErrorCode::kInvalidArgument, "rows[{}].{}: expected {}, got {}", r, key,
                 codes_[f].empty() ? "a category code (integer >= 0)" : "a category (string)",
                 v.is_number() ? v.dump() : TypeName(v));
          }
      }
      if (std::isinf(cell)) {
        Fail(ErrorCode::kInvalidArgument, "rows[{}].{}: {} does not fit in a float32", r, key,
             v.dump());
      }
    }
  }
  return out;
}

Predictor::Result Predictor::PredictMatrix(std::span<const float> matrix, uint64_t rows,
                                           bool explain) const {
  const uint64_t nf = num_features();
  if (matrix.size() != rows * nf) {
    Fail(ErrorCode::kInvalidArgument, "the matrix has {} values; {} rows of {} features need {}",
         matrix.size(), rows, nf, rows * nf);
  }
  Result r;
  r.rows = rows;
  if (rows == 0) return r;
  r.scores = model_.PredictDense(matrix.data(), rows, /*margin=*/false, &r.width);
  if (explain) {
    if (r.width != 1) {
      Fail(ErrorCode::kUnimplemented,
           "explain: contributions are supported for single-output models only (this one has {} "
           "outputs per row)",
           r.width);
    }
    r.margins = model_.PredictDense(matrix.data(), rows, /*margin=*/true);
    XgbDMatrix dm(matrix, rows, nf);
    dm.SetFeatureNames(info_.feature_names);
    dm.SetFeatureTypes(info_.feature_types);
    r.contribs = model_.Contributions(dm, rows);
  }
  return r;
}

Predictor::Result Predictor::PredictRows(const nlohmann::json& rows, bool explain) const {
  std::vector<float> m = EncodeRows(rows);
  return PredictMatrix(m, rows.size(), explain);
}

nlohmann::json Predictor::ToJson(const Result& r) const {
  nlohmann::json out = nlohmann::json::array();
  const size_t nf = num_features();
  for (uint64_t i = 0; i < r.rows; ++i) {
    nlohmann::json p = nlohmann::json::object();
    if (r.width == 1) {
      p["score"] = r.scores[i];
    } else {
      p["scores"] =
          std::vector<float>(r.scores.begin() + static_cast<std::ptrdiff_t>(i * r.width),
                             r.scores.begin() + static_cast<std::ptrdiff_t>((i + 1) * r.width));
    }
    if (!r.contribs.empty()) {
      nlohmann::json c = nlohmann::json::object();
      const float* row = r.contribs.data() + i * (nf + 1);
      for (size_t f = 0; f < nf; ++f) c[info_.feature_names[f]] = row[f];
      p["contributions"] = c;
      p["bias"] = row[nf];
      p["margin"] = r.margins[i];
    }
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<nlohmann::json> CsvRowsForModel(std::string_view text, const std::string& origin,
                                            const TabularModelInfo& info,
                                            std::vector<std::string>* ignored,
                                            std::vector<std::string>* absent) {
  const std::vector<std::string> header = ParseTabularCsvHeader(text, origin, std::nullopt);
  std::map<std::string, size_t> feature;
  for (size_t f = 0; f < info.feature_names.size(); ++f) feature[info.feature_names[f]] = f;
  TabularReadOptions o;
  o.require_label = false;
  std::vector<bool> seen(info.feature_names.size(), false);
  for (const std::string& name : header) {
    auto it = feature.find(name);
    if (it == feature.end()) {
      if (!name.empty()) o.types[name] = "ignore";  // an unnamed column fails in the parser
      if (ignored != nullptr) ignored->push_back(name);
      continue;
    }
    seen[it->second] = true;
    const std::string& type = info.feature_types[it->second];
    const bool has_dictionary = info.categories.count(name) > 0;
    o.types[name] = type == "i"                     ? "boolean"
                    : type == "c" && has_dictionary ? "categorical"
                                                    : "numeric";
  }
  std::vector<std::string> missing;
  for (size_t f = 0; f < seen.size(); ++f) {
    if (!seen[f]) missing.push_back(info.feature_names[f]);
  }
  if (missing.size() == seen.size()) {
    Fail(ErrorCode::kInvalidArgument,
         "{}: no column names a feature of the model (it uses {}; the header has {})", origin,
         QuoteForMessage(fmt::format("{}", fmt::join(info.feature_names, ", "))),
         QuoteForMessage(fmt::format("{}", fmt::join(header, ", "))));
  }
  if (absent != nullptr) *absent = std::move(missing);
  const TabularData d = ParseTabularCsv(text, origin, o);
  std::vector<nlohmann::json> rows;
  rows.reserve(d.rows);
  for (uint64_t r = 0; r < d.rows; ++r) {
    nlohmann::json row = nlohmann::json::object();
    for (size_t c = 0; c < d.schema.columns.size(); ++c) {
      const ColumnSchema& cs = d.schema.columns[c];
      if (cs.role != ColumnRole::kFeature) continue;
      const float v = d.columns[c][r];
      if (std::isnan(v)) continue;
      const std::string& type = info.feature_types[feature.at(cs.name)];
      if (cs.type == ColumnType::kBoolean) {
        row[cs.name] = v != 0;
      } else if (cs.type == ColumnType::kCategorical) {
        const std::string& value = cs.categories[static_cast<size_t>(v)];
        const auto& dict = info.categories.at(cs.name);
        if (std::find(dict.begin(), dict.end(), value) == dict.end()) {
          // Numbers made categories in training are spelled as fmt prints the float ("1").
          if (auto x = ParseTabularNumber(value)) {
            row[cs.name] = fmt::format("{}", static_cast<float>(*x));
            continue;
          }
        }
        row[cs.name] = value;
      } else if (type == "c" && v == std::floor(v) && v >= 0) {
        row[cs.name] = static_cast<int64_t>(v);  // a category code
      } else {
        row[cs.name] = static_cast<double>(v);
      }
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

PredictRequest ParsePredictRequest(const nlohmann::json& body) {
  if (!body.is_object()) {
    Fail(ErrorCode::kInvalidArgument, "the request body must be a JSON object, got {}",
         TypeName(body));
  }
  PredictRequest r;
  for (const auto& [k, v] : body.items()) {
    if (k == "model") {
      if (!v.is_string() || v.get<std::string>().empty()) {
        Fail(ErrorCode::kInvalidArgument, "model: expected a model reference string, got {}",
             TypeName(v));
      }
      r.model = v.get<std::string>();
    } else if (k == "rows") {
      if (!v.is_array()) {
        Fail(ErrorCode::kInvalidArgument, "rows: expected an array of objects, got {}",
             TypeName(v));
      }
      r.rows = v;
    } else if (k == "explain") {
      if (!v.is_boolean()) {
        Fail(ErrorCode::kInvalidArgument, "explain: expected true or false, got {}", TypeName(v));
      }
      r.explain = v.get<bool>();
    } else {
      Fail(ErrorCode::kInvalidArgument, "{}: unknown field (known: model, rows, explain)", k);
    }
  }
  if (r.model.empty()) Fail(ErrorCode::kInvalidArgument, "model: required");
  if (r.rows.is_null()) Fail(ErrorCode::kInvalidArgument, "rows: required");
  return r;
}

std::vector<std::string> TabularSmokeTest(const std::string& artifact_path, Env* env) {
  std::vector<std::string> checks;
  auto p = Predictor::Load(artifact_path, env);
  checks.push_back(fmt::format("loaded (xgboost {}, {} features, {} rounds)", p->info().objective,
                               p->num_features(), p->model().BoostedRounds()));
  std::vector<float> row(p->num_features(), kNaN);
  Predictor::Result r = p->PredictMatrix(row, 1, /*explain=*/false);
  for (float s : r.scores) {
    if (!std::isfinite(s)) {
      Fail(ErrorCode::kFailedPrecondition, "the smoke request (one all-missing row) scored {}", s);
    }
  }
  checks.push_back("smoke request (one all-missing row) scored, finite");
  return checks;
}

}  // namespace marquee

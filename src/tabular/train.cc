#include "tabular/train.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "common/config_section.h"
#include "common/log.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "tabular/metrics.h"
#include "tabular/predictor.h"
#include "tabular/split.h"
#include "tabular/table.h"

namespace marquee {
namespace {

std::string ParamText(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "1" : "0";
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  return fmt::format("{}", v.get<double>());
}

// Drops and categorical overrides applied to a loaded table.
void ApplyOverrides(TabularData& d, const TabularTrainConfig& c) {
  for (const auto& name : c.drop) {
    const int i = d.schema.Find(name);
    if (i < 0) Fail(ErrorCode::kInvalidArgument, "[data] drop: no column '{}'", name);
    if (d.schema.columns[i].role == ColumnRole::kLabel) {
      Fail(ErrorCode::kInvalidArgument, "[data] drop: '{}' is the label", name);
    }
    if (d.schema.columns[i].role == ColumnRole::kFeature) {
      d.schema.columns[i].role = ColumnRole::kIgnored;
    }
  }
  for (const auto& name : c.categorical) {
    const int i = d.schema.Find(name);
    if (i < 0) Fail(ErrorCode::kInvalidArgument, "[data] categorical: no column '{}'", name);
    ColumnSchema& cs = d.schema.columns[i];
    if (cs.role != ColumnRole::kFeature) {
      Fail(ErrorCode::kInvalidArgument, "[data] categorical: '{}' is not a feature", name);
    }
    if (cs.type == ColumnType::kCategorical) continue;
    // Numbers (or booleans) become categories named by their value.
    std::vector<float>& col = d.columns[i];
    std::set<float> distinct;
    for (float v : col) {
      if (!std::isnan(v)) distinct.insert(v);
    }
    std::vector<float> values(distinct.begin(), distinct.end());
    cs.categories.clear();
    for (float v : values) cs.categories.push_back(fmt::format("{}", v));
    for (float& v : col) {
      if (std::isnan(v)) continue;
      v = static_cast<float>(std::lower_bound(values.begin(), values.end(), v) - values.begin());
    }
    cs.type = ColumnType::kCategorical;
  }
}

std::vector<float> Gather(const std::vector<float>& m, size_t nf,
                          const std::vector<uint32_t>& rows) {
  std::vector<float> out(rows.size() * nf);
  for (size_t r = 0; r < rows.size(); ++r) {
    std::copy_n(m.begin() + static_cast<std::ptrdiff_t>(rows[r] * nf), nf,
                out.begin() + static_cast<std::ptrdiff_t>(r * nf));
  }
  return out;
}

std::vector<float> GatherLabels(const std::vector<float>& y, const std::vector<uint32_t>& rows) {
  std::vector<float> out(rows.size());
  for (size_t r = 0; r < rows.size(); ++r) out[r] = y[rows[r]];
  return out;
}

struct Features {
  std::vector<std::string> names, types;
  std::map<std::string, std::vector<std::string>> categories;
  std::vector<float> matrix;  // rows x names.size()
};

Features BuildFeatures(const TabularData& d) {
  Features f;
  const std::vector<int> cols = d.FeatureColumns();
  for (int c : cols) {
    const ColumnSchema& cs = d.schema.columns[c];
    f.names.push_back(cs.name);
    f.types.push_back(cs.type == ColumnType::kCategorical ? "c"
                      : cs.type == ColumnType::kBoolean   ? "i"
                                                          : "q");
    if (cs.type == ColumnType::kCategorical) f.categories[cs.name] = cs.categories;
  }
  const size_t nf = cols.size();
  f.matrix.resize(d.rows * nf);
  for (size_t j = 0; j < nf; ++j) {
    const auto& col = d.columns[cols[j]];
    for (size_t r = 0; r < d.rows; ++r) f.matrix[r * nf + j] = col[r];
  }
  return f;
}

XgbDMatrix MakeMatrix(const Features& f, const std::vector<float>& x, const std::vector<float>& y) {
  XgbDMatrix m(x, y.size(), f.names.size());
  m.SetLabels(y);
  m.SetFeatureNames(f.names);
  m.SetFeatureTypes(f.types);
  return m;
}

struct FitResult {
  XgbModel model;
  XgbEvalLog log;
  int rounds = 0;
};

FitResult Fit(const TabularTrainConfig& c,
              const std::vector<std::pair<std::string, std::string>>& params, const Features& f,
              const std::vector<float>& y, const std::vector<uint32_t>& rows, int num_round,
              bool early_stop, const Context& ctx, const std::string& stage) {
  FitResult out;
  auto progress = [&](double frac) { ctx.Report(stage, frac); };
  if (early_stop && c.early_stopping_rounds > 0) {
    std::vector<float> ysub = GatherLabels(y, rows);
    RowSplit inner = StratifiedHoldout(ysub, c.valid_fraction, c.seed + 1, c.classification());
    std::vector<uint32_t> tr, va;
    for (uint32_t i : inner.train) tr.push_back(rows[i]);
    for (uint32_t i : inner.test) va.push_back(rows[i]);
    XgbDMatrix dtr = MakeMatrix(f, Gather(f.matrix, f.names.size(), tr), GatherLabels(y, tr));
    XgbDMatrix dva = MakeMatrix(f, Gather(f.matrix, f.names.size(), va), GatherLabels(y, va));
    out.model =
        XgbModel::Train(params, dtr, &dva, num_round, c.early_stopping_rounds, &out.log, progress);
  } else {
    XgbDMatrix dtr = MakeMatrix(f, Gather(f.matrix, f.names.size(), rows), GatherLabels(y, rows));
    out.model = XgbModel::Train(params, dtr, nullptr, num_round, 0, &out.log, progress);
  }
  out.rounds = out.model.BoostedRounds();
  return out;
}

std::vector<float> PredictRows(const XgbModel& m, const Features& f,
                               const std::vector<uint32_t>& rows) {
  std::vector<float> x = Gather(f.matrix, f.names.size(), rows);
  return m.PredictDense(x.data(), rows.size(), false);
}

}  // namespace

bool TabularTrainConfig::classification() const {
  return objective.rfind("binary:", 0) == 0 || objective == "reg:logistic";
}

nlohmann::json TabularTrainConfig::ToJson() const {
  nlohmann::json p = nlohmann::json::object();
  for (const auto& [k, v] : xgb_params) p[k] = v;
  return {{"data",
           {{"dataset", dataset},
            {"train", train},
            {"label", label},
            {"drop", drop},
            {"categorical", categorical},
            {"time_col", time_col},
            {"id_col", id_col}}},
          {"split",
           {{"protocol", protocol},
            {"test_fraction", test_fraction},
            {"folds", folds},
            {"seed", seed},
            {"valid_fraction", valid_fraction},
            {"refit", refit}}},
          {"model",
           {{"family", "xgboost"},
            {"name", model_name},
            {"objective", objective},
            {"num_round", num_round},
            {"early_stopping_rounds", early_stopping_rounds},
            {"nthread", nthread},
            {"xgboost", p}}},
          {"eval", {{"metrics", metrics}}},
          {"run", {{"threads", threads}}}};
}

TabularTrainConfig ParseTabularConfig(const nlohmann::json& root, const std::string& base_dir,
                                      const std::string& stem) {
  TabularTrainConfig c;
  for (const auto& [k, v] : root.items()) {
    static const std::set<std::string> kSections = {"data", "split", "model", "eval", "run"};
    if (!kSections.count(k)) {
      Fail(ErrorCode::kInvalidArgument,
           "unknown section [{}] (known: data, split, model, eval, run)", k);
    }
  }
  {
    ConfigSection s(root, "data", " for family \"xgboost\"");
    c.dataset = s.String("dataset", "");
    c.train = s.String("train", "");
    if (!c.train.empty() && c.train[0] != '/' && !base_dir.empty()) {
      c.train = (std::filesystem::path(base_dir) / c.train).lexically_normal().string();
    }
    c.label = s.String("label", "");
    c.drop = s.Strings("drop");
    c.categorical = s.Strings("categorical");
    c.time_col = s.String("time_col", "");
    c.id_col = s.String("id_col", "");
    const std::string format = s.String("format", "tabular");
    if (format != "tabular" && format != "csv") {
      Fail(ErrorCode::kInvalidArgument, "[data] format for family \"xgboost\" must be \"tabular\"");
    }
    s.Finish();
    if (c.dataset.empty() == c.train.empty()) {
      Fail(ErrorCode::kInvalidArgument,
           "[data] needs exactly one of dataset = \"NAME\" (a tabular snapshot) or train = "
           "\"FILE.csv\"");
    }
    if (!c.train.empty() && c.label.empty()) {
      Fail(ErrorCode::kInvalidArgument, "[data] label = \"COLUMN\" is required with train = FILE");
    }
  }
  {
    ConfigSection s(root, "split", " for family \"xgboost\"");
    c.protocol = s.String("protocol", "stratified-holdout");
    static const std::set<std::string> kProtocols = {"stratified-holdout", "holdout", "kfold",
                                                     "temporal"};
    if (!kProtocols.count(c.protocol)) {
      Fail(ErrorCode::kInvalidArgument,
           "[split] protocol \"{}\" is not one for tabular data (known: stratified-holdout, "
           "holdout, kfold, temporal)",
           c.protocol);
    }
    c.test_fraction = s.Number("test_fraction", 0.2);
    c.folds = static_cast<int>(s.Integer("folds", 5, 2));
    c.seed = static_cast<uint64_t>(s.Integer("seed", 98765, 0));
    c.valid_fraction = s.Number("valid_fraction", 0.1);
    c.validation = s.Number("validation", 0);
    c.refit = s.Bool("refit", true);
    const std::string tc = s.String("time_col", "");
    if (!tc.empty()) {
      if (!c.time_col.empty() && c.time_col != tc) {
        Fail(ErrorCode::kInvalidArgument, "[split] time_col '{}' differs from [data] time_col '{}'",
             tc, c.time_col);
      }
      c.time_col = tc;
    }
    s.Finish();
    if (!(c.test_fraction > 0 && c.test_fraction < 1)) {
      Fail(ErrorCode::kInvalidArgument, "[split] test_fraction must be in (0, 1), got {}",
           c.test_fraction);
    }
    if (!(c.valid_fraction > 0 && c.valid_fraction < 1)) {
      Fail(ErrorCode::kInvalidArgument, "[split] valid_fraction must be in (0, 1), got {}",
           c.valid_fraction);
    }
    if (c.validation != 0 && !(c.validation > 0 && c.validation < 1)) {
      Fail(ErrorCode::kInvalidArgument, "[split] validation must be in (0, 1), got {}",
           c.validation);
    }
    if (c.validation > 0 && c.protocol == "kfold") {
      Fail(ErrorCode::kInvalidArgument,
           "[split] validation needs a holdout protocol (stratified-holdout, holdout, temporal), "
           "not kfold");
    }
    if (c.protocol == "temporal" && c.time_col.empty()) {
      Fail(ErrorCode::kInvalidArgument,
           "[split] protocol \"temporal\" needs time_col = \"COLUMN\"");
    }
  }
  {
    ConfigSection s(root, "model", " for family \"xgboost\"");
    s.String("family", "xgboost");
    c.model_name = s.String("name", stem);
    s.String("description", "");
    c.objective = s.String("objective", "binary:logistic");
    c.num_round = static_cast<int>(s.Integer("num_round", 100, 1));
    c.early_stopping_rounds = static_cast<int>(s.Integer("early_stopping_rounds", 0, 0));
    c.nthread = static_cast<int>(s.Integer("nthread", 0, 0));
    c.xgb_params.emplace_back("objective", c.objective);
    // XGBoost parameters passed through as given (XGBoost validates the values).
    static const std::vector<std::string> kPassThrough = {"max_depth",
                                                          "eta",
                                                          "learning_rate",
                                                          "subsample",
                                                          "min_child_weight",
                                                          "colsample_bytree",
                                                          "colsample_bylevel",
                                                          "colsample_bynode",
                                                          "lambda",
                                                          "alpha",
                                                          "gamma",
                                                          "max_delta_step",
                                                          "tree_method",
                                                          "max_bin",
                                                          "scale_pos_weight",
                                                          "max_cat_to_onehot",
                                                          "max_cat_threshold",
                                                          "grow_policy",
                                                          "max_leaves",
                                                          "eval_metric",
                                                          "base_score",
                                                          "seed"};
    for (const auto& k : kPassThrough) {
      if (s.Has(k)) {
        const auto& v = s.at(k);
        if (!(v.is_number() || v.is_string() || v.is_boolean())) s.Bad(k, "a number or a string");
        c.xgb_params.emplace_back(k, ParamText(v));
      }
    }
    const auto has = [&](const char* k) {
      return std::any_of(c.xgb_params.begin(), c.xgb_params.end(),
                         [&](const auto& p) { return p.first == k; });
    };
    if (!has("tree_method")) c.xgb_params.emplace_back("tree_method", "hist");
    if (!has("seed")) c.xgb_params.emplace_back("seed", std::to_string(c.seed % 2147483647));
    s.Finish();
    c.params = root.value("model", nlohmann::json::object());
    c.params.erase("family");
    c.params.erase("name");
    c.params.erase("description");
  }
  {
    ConfigSection s(root, "eval", " for family \"xgboost\"");
    c.metrics = s.Strings("metrics");
    s.Finish();
    if (c.metrics.empty()) {
      c.metrics = c.classification() ? std::vector<std::string>{"auc",          "pr_auc", "logloss",
                                                                "accuracy@0.5", "brier",  "ece"}
                                     : std::vector<std::string>{"rmse", "mae", "r2"};
    }
    for (const auto& m : c.metrics) ValidateTabularMetric(m, c.classification());
  }
  {
    ConfigSection s(root, "run", " for family \"xgboost\"");
    c.threads = static_cast<int>(s.Integer("threads", 0, 0));
    s.Finish();
  }
  return c;
}

namespace {

// The stages of RunTabularTraining, in order.

using XgbParams = std::vector<std::pair<std::string, std::string>>;

// The training table (a catalog snapshot or a CSV file) with the config's overrides applied,
// and its description for the run record.
struct TrainingData {
  TabularData table;
  nlohmann::json dataset;  // id/name/source, schema, stats
};

TabularData LoadSnapshot(const TabularTrainConfig& c, const std::string& home, Env* env,
                         nlohmann::json* dataset) {
  TabularEntry e = TabularCatalog(home, env).Get(c.dataset);
  TabularData d = LoadTabularSnapshot(e.path, env);
  *dataset = {{"id", e.id}, {"name", e.name}, {"source", e.source}};
  if (!c.label.empty() && c.label != d.schema.label) {
    Fail(ErrorCode::kInvalidArgument,
         "[data] label '{}' differs from the snapshot's label '{}' (re-import with --label)",
         c.label, d.schema.label);
  }
  if (!c.time_col.empty() && c.time_col != d.schema.time_col) {
    Fail(ErrorCode::kInvalidArgument,
         "[split] time_col '{}' is not the snapshot's time column ('{}'; re-import with "
         "--time-col)",
         c.time_col, d.schema.time_col);
  }
  return d;
}

TabularData LoadCsv(const TabularTrainConfig& c, Env* env, nlohmann::json* dataset) {
  TabularReadOptions ro;
  ro.label = c.label;
  ro.time_col = c.time_col;
  ro.id_col = c.id_col;
  *dataset = {{"name", std::filesystem::path(c.train).stem().string()}, {"source", c.train}};
  return ReadTabularCsv(c.train, ro, env);
}

// Classification needs a 0/1 label.
void CheckLabel(const TabularTrainConfig& c, const TabularData& d) {
  if (!c.classification()) return;
  const std::vector<float>& y = d.label();
  for (size_t i = 0; i < y.size(); ++i) {
    if (y[i] != 0 && y[i] != 1) {
      Fail(ErrorCode::kInvalidArgument,
           "objective {} needs a 0/1 label, but '{}' has the value {} in row {}", c.objective,
           d.schema.label, y[i], i + 1);
    }
  }
}

TrainingData LoadTrainingData(const TabularTrainConfig& c, const std::string& home, Env* env) {
  TrainingData t;
  t.table =
      c.dataset.empty() ? LoadCsv(c, env, &t.dataset) : LoadSnapshot(c, home, env, &t.dataset);
  TabularData& d = t.table;
  ApplyOverrides(d, c);
  nlohmann::json col_stats = nlohmann::json::object();
  const auto st = d.Stats();
  for (size_t i = 0; i < st.size(); ++i) col_stats[d.schema.columns[i].name] = st[i].ToJson();
  t.dataset["schema"] = d.schema.ToJson();
  t.dataset["stats"] = {{"rows", d.rows}, {"columns", col_stats}};
  t.dataset["users"] = 0;
  t.dataset["items"] = 0;
  t.dataset["interactions"] = d.rows;
  CheckLabel(c, d);
  return t;
}

// XGBoost's parameters: the config's, the thread count, quiet; and their JSON for the record.
XgbParams MakeParams(const TabularTrainConfig& c, const Context& ctx, nlohmann::json* as_json) {
  XgbParams params = c.xgb_params;
  const int nthread = c.nthread > 0 ? c.nthread : (c.threads > 0 ? c.threads : ctx.threads);
  params.emplace_back("nthread", std::to_string(std::max(1, nthread)));
  params.emplace_back("verbosity", "0");
  *as_json = nlohmann::json::object();
  for (const auto& [k, v] : params) (*as_json)[k] = v;
  (*as_json)["num_round"] = c.num_round;
  (*as_json)["early_stopping_rounds"] = c.early_stopping_rounds;
  return params;
}

std::vector<RowSplit> MakeTestSplits(const TabularTrainConfig& c, const TabularData& d,
                                     bool stratify) {
  const std::vector<float>& y = d.label();
  if (c.protocol == "kfold") return StratifiedKFold(y, c.folds, c.seed, stratify);
  if (c.protocol == "temporal") {
    if (d.times.empty()) Fail(ErrorCode::kInvalidArgument, "the dataset has no time column");
    return {TemporalSplit(d.times, c.test_fraction)};
  }
  return {StratifiedHoldout(y, c.test_fraction, c.seed, stratify)};
}

// The config's splits; with [split] validation, a holdout of the training rows replaces the
// test rows (which are then left out entirely).
std::vector<RowSplit> MakeSplits(const TabularTrainConfig& c, const TabularData& d) {
  const bool stratify = c.classification() && c.protocol != "holdout";
  std::vector<RowSplit> splits = MakeTestSplits(c, d, stratify);
  if (c.validation <= 0) return splits;
  const std::vector<uint32_t>& rows = splits.front().train;
  std::vector<float> ysub(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) ysub[i] = d.label()[rows[i]];
  const RowSplit inner = StratifiedHoldout(ysub, c.validation, c.seed + 2, stratify);
  RowSplit v;
  for (uint32_t i : inner.train) v.train.push_back(rows[i]);
  for (uint32_t i : inner.test) v.test.push_back(rows[i]);
  return {v};
}

struct Evaluation {
  nlohmann::json folds = nlohmann::json::array();
  nlohmann::json metrics = nlohmann::json::object();     // averaged over the folds
  nlohmann::json reliability = nlohmann::json::array();  // classification: pooled test rows
  int best_rounds = 0;                                   // the most any fold kept
  XgbModel first_model;                                  // the first fold's (holdout) model
};

// Fits each split (early stopping on the training rows) and scores its test rows.
Evaluation Evaluate(const TabularTrainConfig& c, const XgbParams& params, const Features& f,
                    const std::vector<float>& y, const std::vector<RowSplit>& splits,
                    const Context& ctx) {
  Evaluation ev;
  std::map<std::string, double> sums;
  std::vector<float> pooled_y, pooled_s;
  for (size_t k = 0; k < splits.size(); ++k) {
    const std::string stage = splits.size() > 1 ? fmt::format("fold {}", k + 1) : "fit";
    FitResult fit = Fit(c, params, f, y, splits[k].train, c.num_round, true, ctx, stage);
    std::vector<float> s = PredictRows(fit.model, f, splits[k].test);
    std::vector<float> yt = GatherLabels(y, splits[k].test);
    nlohmann::json fm = nlohmann::json::object();
    for (const auto& m : c.metrics) {
      const double v = ComputeTabularMetric(m, yt, s);
      fm[m] = v;
      sums[m] += v;
    }
    ev.folds.push_back({{"train_rows", splits[k].train.size()},
                        {"test_rows", splits[k].test.size()},
                        {"rounds", fit.rounds},
                        {"best_iteration", fit.log.best_iteration},
                        {"metrics", fm}});
    ev.best_rounds = std::max(ev.best_rounds, fit.rounds);
    pooled_y.insert(pooled_y.end(), yt.begin(), yt.end());
    pooled_s.insert(pooled_s.end(), s.begin(), s.end());
    if (k == 0) ev.first_model = std::move(fit.model);
  }
  for (const auto& m : c.metrics) ev.metrics[m] = sums[m] / static_cast<double>(splits.size());
  if (c.classification()) {
    std::vector<ReliabilityBin> table;
    ExpectedCalibrationError(pooled_y, pooled_s, 10, &table);
    ev.reliability = ReliabilityToJson(table);
  }
  return ev;
}

// The final model: refit on every row with the rounds early stopping chose, or the first fold's.
XgbModel FinalModel(const TabularTrainConfig& c, const XgbParams& params, const Features& f,
                    const std::vector<float>& y, Evaluation& ev, const Context& ctx, int* rounds) {
  if (!c.refit) {
    *rounds = ev.first_model.BoostedRounds();
    return std::move(ev.first_model);
  }
  std::vector<uint32_t> all(y.size());
  for (uint32_t i = 0; i < all.size(); ++i) all[i] = i;
  FitResult fit = Fit(c, params, f, y, all, ev.best_rounds, false, ctx, "refit");
  *rounds = fit.rounds;
  return std::move(fit.model);
}

// Feature importance (gain), largest first.
nlohmann::json Importance(const XgbModel& m) {
  std::vector<std::pair<std::string, double>> gain = m.Importance("gain");
  std::sort(gain.begin(), gain.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [name, v] : gain) out.push_back({{"feature", name}, {"gain", v}});
  return out;
}

// Saves the model artifact; returns its path (and its sha256 in *digest).
std::string SaveModel(const TabularTrainConfig& c, const XgbModel& model, const Features& f,
                      const TrainingData& t, const nlohmann::json& metrics, int rounds,
                      const nlohmann::json& params_json, const std::string& home, Env* env,
                      std::string* digest) {
  TabularModelInfo info;
  info.feature_names = f.names;
  info.feature_types = f.types;
  info.categories = f.categories;
  info.objective = c.objective;
  info.label = t.table.schema.label;
  info.source = "marquee train";
  info.model_format = "ubj";
  info.meta = {{"dataset", t.dataset.value("id", t.dataset.value("source", ""))},
               {"protocol", c.protocol},
               {"metrics", metrics},
               {"rounds", rounds}};
  return SaveTabularModel(model.Save("ubj"), info, params_json, home, env, digest);
}

nlohmann::json SplitJson(const TabularTrainConfig& c, const TabularData& d, const Features& f) {
  uint64_t positives = 0;
  if (c.classification()) {
    for (float v : d.label()) positives += v > 0.5f;
  }
  nlohmann::json j = {{"protocol", c.protocol},
                      {"seed", c.seed},
                      {"test_fraction", c.test_fraction},
                      {"folds", c.protocol == "kfold" ? c.folds : 1},
                      {"time_col", c.time_col},
                      {"label", d.schema.label},
                      {"features", f.names.size()},
                      {"rows", d.rows},
                      {"positives", positives}};
  if (c.validation > 0) j["validation"] = c.validation;  // evaluated on training rows only
  return j;
}

}  // namespace

nlohmann::json RunTabularTraining(const TabularTrainConfig& c, const std::string& home,
                                  const Context& ctx) {
  Env* env = ctx.env != nullptr ? ctx.env : Env::Default();
  nlohmann::json timings = nlohmann::json::object();
  Stopwatch total, sw;
  const TrainingData t = LoadTrainingData(c, home, env);
  const std::vector<float>& y = t.table.label();
  const Features f = BuildFeatures(t.table);
  timings["load"] = sw.Seconds();

  nlohmann::json params_json;
  const XgbParams params = MakeParams(c, ctx, &params_json);
  sw = Stopwatch();
  Evaluation ev = Evaluate(c, params, f, y, MakeSplits(c, t.table), ctx);
  timings["fit_evaluate"] = sw.Seconds();

  sw = Stopwatch();
  int rounds = 0;
  const XgbModel model = FinalModel(c, params, f, y, ev, ctx, &rounds);
  timings["refit"] = sw.Seconds();

  sw = Stopwatch();
  std::string digest;
  const std::string path =
      SaveModel(c, model, f, t, ev.metrics, rounds, params_json, home, env, &digest);
  timings["save"] = sw.Seconds();
  timings["total"] = total.Seconds();
  return {{"task", c.classification() ? "classification" : "regression"},
          {"family", "xgboost"},
          {"model_name", c.model_name},
          {"xgboost_version", XgboostVersion()},
          {"dataset", t.dataset},
          {"protocol", c.validation > 0 ? c.protocol + "+validation" : c.protocol},
          {"split", SplitJson(c, t.table, f)},
          {"folds", ev.folds},
          {"params", params_json},
          {"metrics", ev.metrics},
          {"metric_order", c.metrics},
          {"reliability", ev.reliability},
          {"feature_importance", Importance(model)},
          {"rounds", rounds},
          {"refit", c.refit},
          {"timings", timings},
          {"artifact", path},
          {"artifact_sha256", digest}};
}

std::string FormatTabularReport(const nlohmann::json& r) {
  std::string out;
  const auto& split = r.at("split");
  out += fmt::format("xgboost {} ({}), {} rows x {} features, label '{}'\n",
                     r.value("xgboost_version", ""), r.at("task").get<std::string>(),
                     split.value("rows", uint64_t{0}), split.value("features", 0),
                     split.value("label", ""));
  out += fmt::format("protocol {} (seed {}{})\n", r.at("protocol").get<std::string>(),
                     split.value("seed", uint64_t{0}),
                     r.at("protocol") == "kfold"
                         ? fmt::format(", {} folds, metrics averaged", split.value("folds", 0))
                         : fmt::format(", test_fraction {}", split.value("test_fraction", 0.0)));
  out += "metric            value\n";
  for (const auto& m : r.at("metric_order")) {
    const std::string name = m.get<std::string>();
    out += fmt::format("{:<16} {:>8.4f}\n", name, r.at("metrics").at(name).get<double>());
  }
  if (!r.at("reliability").empty()) {
    out += "reliability (held-out rows)\n  bin          rows   mean score  positive rate\n";
    for (const auto& b : r.at("reliability")) {
      if (b.at("count").get<uint64_t>() == 0) continue;
      out +=
          fmt::format("  [{:.1f}, {:.1f}) {:>7}  {:>10.4f}  {:>13.4f}\n", b.at("lo").get<double>(),
                      b.at("hi").get<double>(), b.at("count").get<uint64_t>(),
                      b.at("mean_score").get<double>(), b.at("positive_rate").get<double>());
    }
  }
  out += "feature importance (gain), top 10\n";
  int shown = 0;
  for (const auto& fi : r.at("feature_importance")) {
    if (shown++ == 10) break;
    out += fmt::format("  {:<24} {:>10.2f}\n", fi.at("feature").get<std::string>(),
                       fi.at("gain").get<double>());
  }
  out += fmt::format("final model: {} rounds{}; artifact {}\n", r.value("rounds", 0),
                     r.value("refit", true) ? " (refit on every row)" : "",
                     r.value("artifact_sha256", "").substr(0, 12));
  return out;
}

}  // namespace marquee

#include "pipeline/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include <spdlog/spdlog.h>

#include "common/config_section.h"
#include "common/text.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "marquee/recommender.h"

namespace marquee {
namespace {

nlohmann::json TomlToJson(const toml::node& node) {
  if (auto t = node.as_table()) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [k, v] : *t) j[std::string(k.str())] = TomlToJson(v);
    return j;
  }
  if (auto a = node.as_array()) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& v : *a) j.push_back(TomlToJson(v));
    return j;
  }
  if (auto v = node.as_string()) return v->get();
  if (auto v = node.as_integer()) return v->get();
  if (auto v = node.as_floating_point()) return v->get();
  if (auto v = node.as_boolean()) return v->get();
  std::ostringstream os;
  if (auto v = node.as_date()) os << v->get();
  if (auto v = node.as_time()) os << v->get();
  if (auto v = node.as_date_time()) os << v->get();
  return os.str();  // dates and times are kept as text
}

// Applies "section.key=value": the value is parsed as a TOML value; if that fails it is taken
// as a bare string (so --set data.dataset=ml100k works without quotes).
void ApplyOverride(nlohmann::json& root, const std::string& assignment) {
  if (!IsValidUtf8(assignment)) {
    Fail(ErrorCode::kInvalidArgument, "--set {}: not valid UTF-8", QuoteForMessage(assignment));
  }
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    Fail(ErrorCode::kInvalidArgument, "--set '{}': expected section.key=value", assignment);
  }
  std::string path = assignment.substr(0, eq);
  std::string text = assignment.substr(eq + 1);
  nlohmann::json value;
  try {
    toml::table t = toml::parse("v = " + text);
    value = TomlToJson(*t.get("v"));
  } catch (const toml::parse_error&) {
    value = text;
  }
  nlohmann::json* cur = &root;
  std::stringstream ss(path);
  std::string part;
  std::vector<std::string> parts;
  while (std::getline(ss, part, '.')) parts.push_back(part);
  if (parts.size() < 2) {
    Fail(ErrorCode::kInvalidArgument, "--set '{}': name a section and a key, e.g. model.lambda=300",
         assignment);
  }
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (!cur->contains(parts[i])) (*cur)[parts[i]] = nlohmann::json::object();
    cur = &(*cur)[parts[i]];
    if (!cur->is_object()) {
      Fail(ErrorCode::kInvalidArgument, "--set '{}': '{}' is not a section", assignment, parts[i]);
    }
  }
  (*cur)[parts.back()] = value;
}

// The [model] keys an override list sets ("model.lambda=3" -> "lambda").
std::set<std::string> OverriddenModelKeys(const std::vector<std::string>& overrides) {
  std::set<std::string> keys;
  for (const auto& o : overrides) {
    const auto eq = o.find('=');
    if (eq == std::string::npos || o.compare(0, 6, "model.") != 0) continue;
    keys.insert(o.substr(6, eq - 6));
  }
  return keys;
}

// The parameter names a recommender family accepts (its resolved defaults), or nullopt when
// `family` is not a recommender family (the factory names that error later).
std::optional<std::set<std::string>> FamilyParamNames(const std::string& family) {
  const auto families = RecommenderFamilies();
  if (std::find(families.begin(), families.end(), family) == families.end()) return std::nullopt;
  std::set<std::string> names;
  const nlohmann::json defaults = CreateRecommender(family, nlohmann::json::object())->params();
  for (const auto& [k, v] : defaults.items()) names.insert(k);
  return names;
}

// When --set model.family=F switched the family, the file's parameters that belong to another
// recommender family (and not to F) cannot apply: they are dropped from `params` with a one-line
// notice each. Keys F knows, keys no family knows (typos) and keys given by --set are kept, so
// the factory still rejects a typo.
void DropOtherFamiliesParams(const std::string& family, const std::set<std::string>& set_by_flag,
                             nlohmann::json* params) {
  const auto own = FamilyParamNames(family);
  if (!own) return;
  std::vector<std::string> drop;
  for (const auto& [key, value] : params->items()) {
    if (own->count(key) || set_by_flag.count(key)) continue;
    for (const auto& other : RecommenderFamilies()) {
      if (other == family) continue;
      if (FamilyParamNames(other)->count(key)) {
        spdlog::warn(
            "--set model.family={}: ignoring [model] {} = {} from the config ({} is a "
            "parameter of {}, not of {})",
            family, key, value.dump(), key, other, family);
        drop.push_back(key);
        break;
      }
    }
  }
  for (const auto& key : drop) params->erase(key);
}

std::string Resolve(const std::string& base_dir, const std::string& p) {
  if (p.empty() || p[0] == '/' || base_dir.empty()) return p;
  return (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

}  // namespace

TrainConfig ParseTrainConfig(const std::string& toml_text, const std::string& origin,
                             const std::vector<std::string>& overrides) {
  nlohmann::json root;
  try {
    root = TomlToJson(toml::parse(toml_text, origin));
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    Fail(ErrorCode::kInvalidArgument, "{}:{}:{}: {}", origin, src.begin.line, src.begin.column,
         e.description());
  }
  for (const auto& o : overrides) ApplyOverride(root, o);
  for (const auto& [k, v] : root.items()) {
    static const std::set<std::string> kSections = {"data", "split", "model", "eval", "run"};
    if (!kSections.count(k)) {
      Fail(ErrorCode::kInvalidArgument,
           "unknown section [{}] (known: data, split, model, eval, run)", k);
    }
  }
  std::string base_dir;
  std::string stem = "model";
  if (origin != "<string>") {
    std::filesystem::path p(origin);
    base_dir = p.parent_path().string();
    stem = p.stem().string();
  }

  TrainConfig c;
  c.as_given = root;
  if (root.contains("model") && root["model"].is_object() &&
      root["model"].value("family", nlohmann::json()) == "xgboost") {
    auto t = std::make_shared<TabularTrainConfig>(ParseTabularConfig(root, base_dir, stem));
    c.family = "xgboost";
    c.model_name = t->model_name;
    c.model_params = t->params;
    c.metrics = t->metrics;
    c.data.dataset = t->dataset;
    c.data.train = t->train;
    c.data.read.format = "tabular";
    c.split.protocol = t->protocol;
    c.split.seed = t->seed;
    c.split.test_fraction = t->test_fraction;
    c.refit = t->refit;
    c.threads = t->threads;
    c.tabular = std::move(t);
    return c;
  }
  if (root.contains("model") && root["model"].is_object() &&
      root["model"].value("family", nlohmann::json()).is_string() &&
      bandit::IsBanditFamily(root["model"]["family"].get<std::string>())) {
    auto b = std::make_shared<bandit::BanditTrainConfig>(
        bandit::ParseBanditConfig(root, base_dir, stem));
    c.family = b->policy.family;
    c.model_name = b->model_name;
    c.model_params = b->policy.params;
    c.model_seed = b->policy.seed;
    c.metrics = b->estimators;
    c.data.dataset = b->dataset;
    c.data.train = b->train;
    c.data.read.format = "bandit-jsonl";
    c.split.protocol = "bandit-" + b->protocol;
    c.split.seed = b->split_seed;
    c.split.test_fraction = b->test_fraction;
    c.refit = b->refit;
    c.threads = b->threads;
    c.bandit = std::move(b);
    return c;
  }
  {
    ConfigSection s(root, "data");
    c.data.dataset = s.String("dataset", "");
    c.data.train = Resolve(base_dir, s.String("train", ""));
    c.data.read.format = s.String("format", "auto");
    c.data.read.user_col = s.String("user_col", "");
    c.data.read.item_col = s.String("item_col", "");
    c.data.read.value_col = s.String("value_col", "");
    c.data.read.time_col = s.String("time_col", "");
    if (s.Has("header")) c.data.read.header = s.Bool("header", true);
    std::string delim = s.String("delimiter", "");
    if (delim == "\\t" || delim == "tab") delim = "\t";
    if (delim.size() > 1) {
      Fail(ErrorCode::kInvalidArgument, "[data] delimiter must be one character, got \"{}\"",
           delim);
    }
    if (!delim.empty()) c.data.read.delimiter = delim[0];
    if (s.Has("positive_threshold")) c.data.positive_threshold = s.Number("positive_threshold", 0);
    s.Finish();
    if (c.data.dataset.empty() == c.data.train.empty()) {
      Fail(ErrorCode::kInvalidArgument,
           "[data] needs exactly one of dataset = \"NAME\" (an imported snapshot) or train = "
           "\"PATH\" (a file)");
    }
  }
  {
    ConfigSection s(root, "split");
    c.split.protocol = s.String("protocol", "strong-generalization");
    c.split.test_users = static_cast<uint32_t>(s.Integer("test_users", 0, 0));
    c.split.fold_in = s.Number("fold_in", 0.8);
    c.split.test_fraction = s.Number("test_fraction", 0.2);
    c.split.min_items = static_cast<uint32_t>(s.Integer("min_items", 2, 2));
    c.split.seed = static_cast<uint64_t>(s.Integer("seed", 98765, 0));
    c.eval_input = Resolve(base_dir, s.String("eval_input", ""));
    c.eval_target = Resolve(base_dir, s.String("eval_target", ""));
    c.refit = s.Bool("refit", true);
    s.Finish();
    if (c.split.protocol == "given" && (c.eval_input.empty() || c.eval_target.empty())) {
      Fail(ErrorCode::kInvalidArgument,
           "[split] protocol \"given\" needs eval_input = \"in.tsv\" and eval_target = "
           "\"target.tsv\" (user<TAB>item)");
    }
  }
  {
    if (!root.contains("model") || !root["model"].is_object() ||
        !root["model"].contains("family")) {
      Fail(ErrorCode::kInvalidArgument, "[model] family is required (one of: {})",
           fmt::join(RecommenderFamilies(), ", "));
    }
    nlohmann::json m = root["model"];
    if (!m["family"].is_string())
      Fail(ErrorCode::kInvalidArgument, "[model] family must be a string");
    c.family = m["family"].get<std::string>();
    c.model_name = stem;
    if (m.contains("name")) {
      if (!m["name"].is_string())
        Fail(ErrorCode::kInvalidArgument, "[model] name must be a string");
      c.model_name = m["name"].get<std::string>();
    }
    c.model_seed = c.split.seed;
    if (m.contains("seed")) {
      if (!m["seed"].is_number_integer()) {
        Fail(ErrorCode::kInvalidArgument, "[model] seed must be an integer");
      }
      c.model_seed = m["seed"].get<uint64_t>();
    }
    m.erase("family");
    m.erase("name");
    m.erase("seed");
    m.erase("description");
    c.model_params = m;
    const std::set<std::string> set_by_flag = OverriddenModelKeys(overrides);
    if (set_by_flag.count("family"))
      DropOtherFamiliesParams(c.family, set_by_flag, &c.model_params);
  }
  {
    ConfigSection s(root, "eval");
    c.metrics = s.Strings("metrics", {"recall@20", "recall@50", "ndcg@100"});
    s.Finish();
    if (c.metrics.empty()) Fail(ErrorCode::kInvalidArgument, "[eval] metrics is empty");
  }
  {
    ConfigSection s(root, "run");
    c.threads = static_cast<int>(s.Integer("threads", 0, 0));
    s.Finish();
  }
  return c;
}

TrainConfig LoadTrainConfig(const std::string& path, const std::vector<std::string>& overrides) {
  std::string text = Env::Default()->ReadFile(path);
  return ParseTrainConfig(text, path, overrides);
}

}  // namespace marquee

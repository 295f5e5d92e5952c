#include "tune/space.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "common/text.h"
#include "marquee/error.h"
#include "pipeline/config.h"

namespace marquee {
namespace {

// The default spaces, one TOML document per family. Ranges follow the families' papers and
// the tuning study of Rendle et al. 2022 for iALS; schedules budget the iterative parameter.
const std::map<std::string, std::string>& DefaultSpaces() {
  static const std::map<std::string, std::string> spaces = {
      {"ials", R"(
[factors]
type = "int"
low = 16
high = 256
log = true
[reg]
type = "loguniform"
low = 1e-4
high = 0.1
[unobserved_weight]
type = "loguniform"
low = 0.01
high = 1.0
[schedule]
param = "iterations"
min = 4
max = 16
eta = 4
)"},
      {"bpr", R"(
[factors]
type = "int"
low = 16
high = 256
log = true
[learning_rate]
type = "loguniform"
low = 0.005
high = 0.2
[reg]
type = "loguniform"
low = 1e-5
high = 0.05
[schedule]
param = "epochs"
min = 10
max = 40
eta = 4
)"},
      {"ease", R"(
[lambda]
type = "loguniform"
low = 10
high = 5000
)"},
      {"itemknn", R"(
[neighbors]
type = "int"
low = 10
high = 1000
log = true
[shrinkage]
type = "uniform"
low = 0
high = 100
[alpha]
type = "uniform"
low = 0
high = 1
)"},
      {"rp3beta", R"(
[alpha]
type = "uniform"
low = 0.2
high = 1.5
[beta]
type = "uniform"
low = 0
high = 1
[neighbors]
type = "int"
low = 20
high = 1000
log = true
)"},
      {"xgboost", R"(
[eta]
type = "loguniform"
low = 0.01
high = 0.3
[max_depth]
type = "int"
low = 2
high = 10
[min_child_weight]
type = "loguniform"
low = 0.5
high = 20
[subsample]
type = "uniform"
low = 0.5
high = 1.0
[colsample_bytree]
type = "uniform"
low = 0.5
high = 1.0
[lambda]
type = "loguniform"
low = 0.01
high = 10
[schedule]
param = "num_round"
min = 100
max = 400
eta = 4
)"},
  };
  return spaces;
}

[[noreturn]] void Bad(const std::string& origin, const std::string& param, const std::string& why) {
  Fail(ErrorCode::kInvalidArgument, "{}: parameter '{}': {}", origin, QuoteForMessage(param), why);
}

double Bound(const nlohmann::json& t, const char* key, const std::string& origin,
             const std::string& param) {
  if (!t.contains(key)) Bad(origin, param, fmt::format("needs '{}'", key));
  if (!t.at(key).is_number()) Bad(origin, param, fmt::format("'{}' must be a number", key));
  const double v = t.at(key).get<double>();
  if (!std::isfinite(v)) Bad(origin, param, fmt::format("'{}' must be finite", key));
  return v;
}

void CheckKeys(const nlohmann::json& t, const std::set<std::string>& known,
               const std::string& origin, const std::string& param) {
  for (const auto& [k, v] : t.items()) {
    if (!known.count(k)) {
      std::string list;
      for (const auto& n : known) list += (list.empty() ? "" : ", ") + n;
      Bad(origin, param, fmt::format("unknown key '{}' (known: {})", QuoteForMessage(k), list));
    }
  }
}

ParamSpec ParseParam(const std::string& name, const nlohmann::json& t, const std::string& origin) {
  if (!t.is_object()) Bad(origin, name, "must be a table with a type");
  ParamSpec p;
  p.name = name;
  if (!t.contains("type") || !t["type"].is_string()) {
    Bad(origin, name, "needs type = \"uniform\" | \"loguniform\" | \"int\" | \"choice\"");
  }
  const std::string type = t["type"].get<std::string>();
  if (type == "choice") {
    CheckKeys(t, {"type", "values"}, origin, name);
    if (!t.contains("values") || !t["values"].is_array() || t["values"].empty()) {
      Bad(origin, name, "a choice needs a non-empty list 'values'");
    }
    for (const auto& v : t["values"]) {
      if (!(v.is_string() || v.is_number() || v.is_boolean())) {
        Bad(origin, name, "choice values must be strings, numbers or booleans");
      }
      if (v.type() != t["values"][0].type() && !(v.is_number() && t["values"][0].is_number())) {
        Bad(origin, name, "choice values must all be of one type");
      }
      p.values.push_back(v);
    }
    p.type = ParamSpec::Type::kChoice;
    return p;
  }
  if (type == "uniform") {
    p.type = ParamSpec::Type::kUniform;
    CheckKeys(t, {"type", "low", "high"}, origin, name);
  } else if (type == "loguniform") {
    p.type = ParamSpec::Type::kLogUniform;
    CheckKeys(t, {"type", "low", "high"}, origin, name);
  } else if (type == "int") {
    p.type = ParamSpec::Type::kInt;
    CheckKeys(t, {"type", "low", "high", "log"}, origin, name);
    if (t.contains("log")) {
      if (!t["log"].is_boolean()) Bad(origin, name, "'log' must be true or false");
      p.log = t["log"].get<bool>();
    }
  } else {
    Bad(origin, name,
        fmt::format("unknown type '{}' (known: uniform, loguniform, int, choice)",
                    QuoteForMessage(type)));
  }
  p.low = Bound(t, "low", origin, name);
  p.high = Bound(t, "high", origin, name);
  if (p.type == ParamSpec::Type::kInt &&
      (!t["low"].is_number_integer() || !t["high"].is_number_integer())) {
    Bad(origin, name, "an int parameter needs integer bounds");
  }
  if (!(p.low < p.high)) Bad(origin, name, fmt::format("low {} must be < high {}", p.low, p.high));
  if ((p.type == ParamSpec::Type::kLogUniform || p.log) && p.low <= 0) {
    Bad(origin, name, fmt::format("a log scale needs low > 0 (got {})", p.low));
  }
  return p;
}

Schedule ParseSchedule(const nlohmann::json& t, const std::string& origin) {
  const std::string where = "schedule";
  if (!t.is_object()) Bad(origin, where, "must be a table");
  CheckKeys(t, {"param", "min", "max", "eta"}, origin, where);
  Schedule s;
  if (!t.contains("param") || !t["param"].is_string() || t["param"].get<std::string>().empty()) {
    Bad(origin, where, "needs param = \"<iterative [model] parameter>\"");
  }
  s.param = t["param"].get<std::string>();
  for (const char* k : {"min", "max"}) {
    if (!t.contains(k) || !t[k].is_number_integer()) {
      Bad(origin, where, fmt::format("needs an integer '{}'", k));
    }
  }
  s.min = t["min"].get<int64_t>();
  s.max = t["max"].get<int64_t>();
  if (t.contains("eta")) {
    if (!t["eta"].is_number_integer()) Bad(origin, where, "'eta' must be an integer");
    s.eta = t["eta"].get<int64_t>();
  }
  if (!(s.min >= 1 && s.min < s.max)) {
    Bad(origin, where, fmt::format("needs 1 <= min < max (got min {}, max {})", s.min, s.max));
  }
  if (s.eta < 2 || s.eta > 100)
    Bad(origin, where, fmt::format("eta must be in [2, 100], got {}", s.eta));
  return s;
}

}  // namespace

std::vector<int64_t> Schedule::Rungs() const {
  std::vector<int64_t> r;
  if (param.empty()) return r;
  for (int64_t x = min; x < max; x *= eta) r.push_back(x);
  r.push_back(max);
  return r;
}

const ParamSpec* SearchSpace::Find(const std::string& name) const {
  for (const auto& p : params) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

nlohmann::json SearchSpace::ToJson() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& p : params) {
    nlohmann::json t;
    switch (p.type) {
      case ParamSpec::Type::kChoice:
        t = {{"type", "choice"}, {"values", p.values}};
        break;
      case ParamSpec::Type::kUniform:
        t = {{"type", "uniform"}, {"low", p.low}, {"high", p.high}};
        break;
      case ParamSpec::Type::kLogUniform:
        t = {{"type", "loguniform"}, {"low", p.low}, {"high", p.high}};
        break;
      case ParamSpec::Type::kInt:
        t = {{"type", "int"},
             {"low", static_cast<int64_t>(p.low)},
             {"high", static_cast<int64_t>(p.high)},
             {"log", p.log}};
        break;
    }
    j[p.name] = t;
  }
  if (!schedule.param.empty()) {
    j["schedule"] = {{"param", schedule.param},
                     {"min", schedule.min},
                     {"max", schedule.max},
                     {"eta", schedule.eta}};
  }
  return j;
}

SearchSpace SearchSpace::FromJson(const nlohmann::json& document, const std::string& origin) {
  if (!document.is_object()) {
    Fail(ErrorCode::kInvalidArgument, "{}: a search space is a table of parameters", origin);
  }
  SearchSpace s;
  for (const auto& [k, v] : document.items()) {
    if (k == "schedule") {
      s.schedule = ParseSchedule(v, origin);
    } else {
      s.params.push_back(ParseParam(k, v, origin));
    }
  }
  if (s.params.empty()) {
    Fail(ErrorCode::kInvalidArgument, "{}: the search space has no parameters", origin);
  }
  std::sort(s.params.begin(), s.params.end(),
            [](const ParamSpec& a, const ParamSpec& b) { return a.name < b.name; });
  if (!s.schedule.param.empty() && s.Find(s.schedule.param) != nullptr) {
    Bad(origin, s.schedule.param, "is the schedule's resource, so it cannot also be searched");
  }
  return s;
}

SearchSpace ParseSearchSpace(const std::string& toml_text, const std::string& origin) {
  return SearchSpace::FromJson(ParseTomlDocument(toml_text, origin), origin);
}

SearchSpace DefaultSearchSpace(const std::string& family) {
  const auto& spaces = DefaultSpaces();
  auto it = spaces.find(family);
  if (it == spaces.end()) {
    std::string list;
    for (const auto& [k, v] : spaces) list += (list.empty() ? "" : ", ") + k;
    Fail(ErrorCode::kNotFound,
         "family '{}' has no default search space (families with one: {}); pass --space FILE",
         QuoteForMessage(family), list);
  }
  return ParseSearchSpace(it->second, "default space of " + family);
}

std::vector<std::string> FamiliesWithDefaultSpace() {
  std::vector<std::string> out;
  for (const auto& [k, v] : DefaultSpaces()) out.push_back(k);
  return out;
}

}  // namespace marquee

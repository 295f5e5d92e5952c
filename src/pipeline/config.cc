#include "pipeline/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <sstream>

#include <spdlog/spdlog.h>

#include "common/text.h"
#include "kinds/builtin.h"
#include "marquee/env.h"
#include "marquee/error.h"

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

// JSON configs nest two levels (section, key) plus lists; deeper documents are refused before
// anything recurses over them.
constexpr int kMaxJsonNesting = 64;

// A JSON value as TomlToJson would have produced it for the same TOML: integers are signed 64-bit
// (TOML has no other), null has no TOML counterpart. `where` names the key in errors.
void CheckJsonAsToml(nlohmann::json& j, const std::string& origin, const std::string& where) {
  if (j.is_null()) {
    Fail(ErrorCode::kInvalidArgument, "{}: {} is null; TOML has no null (leave the key out)",
         origin, where.empty() ? "the config" : EscapeForTerminal(where));
  }
  if (j.is_number_unsigned()) {
    const uint64_t v = j.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      Fail(ErrorCode::kInvalidArgument, "{}: {} = {} is out of the integer range of TOML", origin,
           EscapeForTerminal(where), v);
    }
    j = static_cast<int64_t>(v);
  } else if (j.is_object()) {
    for (auto& [k, v] : j.items()) CheckJsonAsToml(v, origin, where.empty() ? k : where + "." + k);
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i)
      CheckJsonAsToml(j[i], origin, fmt::format("{}[{}]", where, i));
  }
}

// The rest of parsing, shared by the TOML and JSON forms: overrides, sections, the kind.
TrainConfig FromDocument(nlohmann::json root, const std::string& origin,
                         const std::vector<std::string>& overrides, const KindRegistry* kinds) {
  if (kinds == nullptr) kinds = &BuiltinKinds();
  for (const auto& o : overrides) ApplyOverride(root, o);
  for (const auto& [k, v] : root.items()) {
    static const std::set<std::string> kSections = {"data", "split", "model", "eval", "run"};
    if (!kSections.count(k)) {
      Fail(ErrorCode::kInvalidArgument,
           "unknown section [{}] (known: data, split, model, eval, run)", k);
    }
  }
  ConfigOrigin where;
  if (origin != "<string>") {
    std::filesystem::path p(origin);
    where.base_dir = p.parent_path().string();
    where.stem = p.stem().string();
  }
  if (!root.contains("model") || !root["model"].is_object() || !root["model"].contains("family")) {
    Fail(ErrorCode::kInvalidArgument, "[model] family is required (one of: {})",
         fmt::join(kinds->Families(), ", "));
  }
  if (!root["model"]["family"].is_string()) {
    Fail(ErrorCode::kInvalidArgument, "[model] family must be a string");
  }

  TrainConfig c;
  c.as_given = root;
  c.kind = &kinds->Get(root["model"]["family"].get<std::string>());
  c.settings = c.kind->ParseConfig(root, where, overrides);
  ModelKind::Identity id = c.kind->Identify(*c.settings);
  c.family = std::move(id.family);
  c.model_name = std::move(id.model_name);
  c.params = std::move(id.params);
  c.threads = id.threads;
  const auto& m = root["model"];
  if (m.contains("description") && m["description"].is_string()) {
    c.description = m["description"].get<std::string>();
  }
  return c;
}

}  // namespace

nlohmann::json ParseTomlDocument(const std::string& toml_text, const std::string& origin) {
  try {
    return TomlToJson(toml::parse(toml_text, origin));
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    Fail(ErrorCode::kInvalidArgument, "{}:{}:{}: {}", origin, src.begin.line, src.begin.column,
         e.description());
  }
}

namespace {

void InsertToml(toml::table& t, const std::string& key, const nlohmann::json& v);

toml::array TomlArray(const nlohmann::json& a) {
  toml::array out;
  for (const auto& v : a) {
    toml::table holder;
    InsertToml(holder, "v", v);
    out.push_back(*holder.get("v"));
  }
  return out;
}

void InsertToml(toml::table& t, const std::string& key, const nlohmann::json& v) {
  if (v.is_object()) {
    toml::table sub;
    for (const auto& [k, x] : v.items()) InsertToml(sub, k, x);
    t.insert_or_assign(key, std::move(sub));
  } else if (v.is_array()) {
    t.insert_or_assign(key, TomlArray(v));
  } else if (v.is_string()) {
    t.insert_or_assign(key, v.get<std::string>());
  } else if (v.is_boolean()) {
    t.insert_or_assign(key, v.get<bool>());
  } else if (v.is_number_integer()) {
    t.insert_or_assign(key, v.get<int64_t>());
  } else if (v.is_number()) {
    t.insert_or_assign(key, v.get<double>());
  } else {
    Fail(ErrorCode::kInvalidArgument, "config key '{}' is null: TOML has no null", key);
  }
}

}  // namespace

std::string JsonToTomlText(const nlohmann::json& document) {
  toml::table t;
  for (const auto& [k, v] : document.items()) InsertToml(t, k, v);
  std::ostringstream os;
  os << t << "\n";
  return os.str();
}

TrainConfig ParseTrainConfig(const std::string& toml_text, const std::string& origin,
                             const std::vector<std::string>& overrides, const KindRegistry* kinds) {
  return FromDocument(ParseTomlDocument(toml_text, origin), origin, overrides, kinds);
}

TrainConfig ParseTrainConfigJson(const std::string& json_text, const std::string& origin,
                                 const std::vector<std::string>& overrides,
                                 const KindRegistry* kinds) {
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(
        json_text, [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
          if (depth > kMaxJsonNesting) {
            Fail(ErrorCode::kInvalidArgument, "{}: the JSON config nests deeper than {} levels",
                 origin, kMaxJsonNesting);
          }
          return true;
        });
  } catch (const nlohmann::json::exception& e) {
    // A parse error, or a number beyond double's range (out_of_range 406: "1e999"). The parser
    // quotes the bytes it read last, which may stop inside a UTF-8 character.
    Fail(ErrorCode::kInvalidArgument, "{}: not a JSON config: {}", origin,
         EscapeForTerminal(e.what()));
  }
  if (!root.is_object()) {
    Fail(ErrorCode::kInvalidArgument,
         "{}: a JSON config is an object of sections ({{\"data\": {{...}}, \"model\": {{...}}}}), "
         "got {}",
         origin, root.type_name());
  }
  CheckJsonAsToml(root, origin, "");
  return FromDocument(std::move(root), origin, overrides, kinds);
}

void TrainConfig::ThrowNotKind(const char* type) const {
  Fail(ErrorCode::kInternal, "the config of family '{}' ({} kind) is not a {}", family,
       kind != nullptr ? kind->name() : "no", type);
}

TrainConfig LoadTrainConfig(const std::string& path, const std::vector<std::string>& overrides,
                            const KindRegistry* kinds) {
  std::string text = Env::Default()->ReadFile(path);
  return ParseTrainConfig(text, path, overrides, kinds);
}

}  // namespace marquee

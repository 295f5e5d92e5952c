#include "flow/flow.h"

#include <fmt/format.h>

#include <filesystem>
#include <set>

#include "data/catalog.h"
#include "flow/step.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "pipeline/config.h"
#include "registry/registry.h"

namespace marquee::flow {
namespace {

// Runs `fn`; a marquee::Error from it is rethrown with `where` in front of its message.
template <class Fn>
void Within(const std::string& where, Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    throw Error(e.code(), where + ": " + e.what());
  }
}

std::string Text(const nlohmann::json& table, const char* key, bool required) {
  auto it = table.find(key);
  if (it == table.end()) {
    if (required) Fail(ErrorCode::kInvalidArgument, "missing key '{}'", key);
    return "";
  }
  if (!it->is_string()) {
    Fail(ErrorCode::kInvalidArgument, "'{}' must be a string, not {}", key, it->type_name());
  }
  return it->get<std::string>();
}

void OnlyKeys(const nlohmann::json& table, const std::set<std::string>& known) {
  for (const auto& [k, v] : table.items()) {
    if (!known.count(k)) {
      Fail(ErrorCode::kInvalidArgument, "unknown key '{}' (known: {})", k, fmt::join(known, ", "));
    }
  }
}

}  // namespace

int Flow::Find(const std::string& step) const {
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].name == step) return static_cast<int>(i);
  }
  return -1;
}

Flow ParseFlow(const std::string& toml_text, const std::string& origin, const std::string& dir) {
  Flow f;
  f.origin = origin;
  f.dir = !dir.empty() ? dir : std::filesystem::path(origin).parent_path().string();
  f.text = toml_text;
  nlohmann::json doc;
  Within(origin, [&] { doc = ParseTomlDocument(toml_text, origin); });
  Within(origin, [&] { OnlyKeys(doc, {"pipeline", "server", "step"}); });
  if (!doc.contains("pipeline") || !doc["pipeline"].is_object()) {
    Fail(ErrorCode::kInvalidArgument, "{}: missing [pipeline] (with name and model)", origin);
  }
  Within(origin + ": [pipeline]", [&] {
    const nlohmann::json& p = doc["pipeline"];
    OnlyKeys(p, {"name", "model"});
    f.name = Text(p, "name", true);
    ValidateCatalogName(f.name, "pipeline");
    f.model = Text(p, "model", true);
    ValidateModelName(f.model);
  });
  if (doc.contains("server")) {
    Within(origin + ": [server]", [&] {
      const nlohmann::json& s = doc["server"];
      if (!s.is_object()) Fail(ErrorCode::kInvalidArgument, "must be a table");
      OnlyKeys(s, {"url", "token_env"});
      f.server_url = Text(s, "url", true);
      if (f.server_url.rfind("http://", 0) != 0 && f.server_url.rfind("https://", 0) != 0) {
        Fail(ErrorCode::kInvalidArgument, "url '{}' must start with http:// or https://",
             f.server_url);
      }
      f.token_env = Text(s, "token_env", false);
    });
  }
  if (!doc.contains("step") || !doc["step"].is_array() || doc["step"].empty()) {
    Fail(ErrorCode::kInvalidArgument, "{}: no [[step]] tables (a flow needs at least one step)",
         origin);
  }
  std::set<std::string> names;
  size_t index = 0;
  for (const auto& s : doc["step"]) {
    ++index;
    const std::string where = fmt::format("{}: [[step]] #{}", origin, index);
    if (!s.is_object()) Fail(ErrorCode::kInvalidArgument, "{}: must be a table", where);
    FlowStep step;
    Within(where, [&] {
      step.name = Text(s, "name", true);
      ValidateCatalogName(step.name, "step");
    });
    const std::string named = fmt::format("{}: step '{}'", origin, step.name);
    if (!names.insert(step.name).second) {
      Fail(ErrorCode::kInvalidArgument, "{}: the name is used by an earlier step", named);
    }
    Within(named, [&] {
      step.kind = Text(s, "kind", true);
      step.spec = s;
      CreateStep(step.kind)->Validate(step.spec);
    });
    f.steps.push_back(std::move(step));
  }
  return f;
}

Flow LoadFlow(const std::string& path) {
  Env* env = Env::Default();
  if (!env->FileExists(path)) Fail(ErrorCode::kNotFound, "no flow file '{}'", path);
  return ParseFlow(env->ReadFile(path), path);
}

}  // namespace marquee::flow

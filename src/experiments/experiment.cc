#include "experiments/experiment.h"

#include <toml++/toml.h>
#include <xxhash.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <set>

#include "common/text.h"
#include "data/catalog.h"
#include "marquee/error.h"
#include "registry/registry.h"

namespace marquee {
namespace {

using json = nlohmann::json;

// The one catalog name rule (data/catalog.h), with `where` saying which name it is.
void ValidateName(std::string_view name, const std::string& where) {
  if (!ValidCatalogName(name)) {
    Fail(ErrorCode::kInvalidArgument,
         "{}: '{}' must be 1 to 128 characters of [A-Za-z0-9._-], not starting with '-'", where,
         QuoteForMessage(name, 80));
  }
}

void CheckKeys(const toml::table& t, const std::string& where,
               std::initializer_list<std::string_view> known) {
  for (const auto& [k, v] : t) {
    if (std::find(known.begin(), known.end(), k.str()) == known.end()) {
      std::string list;
      for (auto n : known) list += (list.empty() ? "" : ", ") + std::string(n);
      Fail(ErrorCode::kInvalidArgument, "{}: unknown key '{}' (known: {})", where, k.str(), list);
    }
  }
}

std::string GetString(const toml::table& t, const std::string& where, const char* key,
                      bool required) {
  const toml::node* n = t.get(key);
  if (n == nullptr) {
    if (required) Fail(ErrorCode::kInvalidArgument, "{}.{}: missing", where, key);
    return {};
  }
  if (!n->is_string()) {
    Fail(ErrorCode::kInvalidArgument, "{}.{}: must be a string", where, key);
  }
  return std::string(n->as_string()->get());
}

}  // namespace

std::string_view ModeName(Mode m) { return m == Mode::kAB ? "ab" : "interleave"; }

int64_t ParseDuration(std::string_view text, std::string_view key) {
  auto bad = [&]() -> int64_t {
    Fail(ErrorCode::kInvalidArgument,
         "{}: '{}' is not a duration (a positive number of seconds, or N followed by s, m, h "
         "or d: \"90s\", \"30m\", \"24h\", \"7d\")",
         key, text);
  };
  if (text.empty()) return bad();
  int64_t unit = 1;
  std::string_view digits = text;
  switch (text.back()) {
    case 's':
      unit = 1;
      digits.remove_suffix(1);
      break;
    case 'm':
      unit = 60;
      digits.remove_suffix(1);
      break;
    case 'h':
      unit = 3600;
      digits.remove_suffix(1);
      break;
    case 'd':
      unit = 86400;
      digits.remove_suffix(1);
      break;
    default:
      break;
  }
  if (digits.empty() || digits.size() > 12) return bad();
  int64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return bad();
    v = v * 10 + (c - '0');
  }
  if (v <= 0) return bad();
  return v * unit;
}

ExperimentSpec ParseExperimentToml(std::string_view text, const std::string& origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    Fail(ErrorCode::kInvalidArgument, "{}:{}:{}: {}", origin, src.begin.line, src.begin.column,
         e.description());
  }
  CheckKeys(root, origin, {"experiment", "cell"});
  ExperimentSpec s;
  const toml::table* ex = root["experiment"].as_table();
  if (ex == nullptr)
    Fail(ErrorCode::kInvalidArgument, "{}: missing the [experiment] table", origin);
  const std::string ew = origin + ": experiment";
  CheckKeys(*ex, ew, {"name", "salt", "mode", "description", "attribution_window", "event_types"});
  s.name = GetString(*ex, ew, "name", true);
  ValidateName(s.name, ew + ".name");
  s.salt = GetString(*ex, ew, "salt", true);
  if (s.salt.empty() || s.salt.size() > 256) {
    Fail(ErrorCode::kInvalidArgument, "{}.salt: must be 1 to 256 characters", ew);
  }
  s.description = GetString(*ex, ew, "description", false);
  const std::string mode = GetString(*ex, ew, "mode", false);
  if (mode.empty() || mode == "ab") {
    s.mode = Mode::kAB;
  } else if (mode == "interleave") {
    s.mode = Mode::kInterleave;
  } else {
    Fail(ErrorCode::kInvalidArgument, "{}.mode: '{}' is not a mode (ab, interleave)", ew, mode);
  }
  if (const toml::node* w = ex->get("attribution_window")) {
    if (w->is_integer()) {
      s.attribution_window =
          ParseDuration(std::to_string(w->as_integer()->get()), ew + ".attribution_window");
    } else if (w->is_string()) {
      s.attribution_window = ParseDuration(w->as_string()->get(), ew + ".attribution_window");
    } else {
      Fail(ErrorCode::kInvalidArgument,
           "{}.attribution_window: must be seconds or a string like \"24h\"", ew);
    }
  }
  if (const toml::node* t = ex->get("event_types")) {
    const toml::array* arr = t->as_array();
    if (arr == nullptr) {
      Fail(ErrorCode::kInvalidArgument, "{}.event_types: must be an array of strings", ew);
    }
    for (const auto& v : *arr) {
      if (!v.is_string() || v.as_string()->get().empty()) {
        Fail(ErrorCode::kInvalidArgument, "{}.event_types: must be non-empty strings", ew);
      }
      s.event_types.push_back(v.as_string()->get());
    }
  }
  const toml::array* cells = root["cell"].as_array();
  if (cells == nullptr || cells->empty()) {
    Fail(ErrorCode::kInvalidArgument, "{}: no [[cell]] tables (give at least two)", origin);
  }
  std::set<std::string> names;
  double sum = 0;
  bool any_weight = false, all_weight = true;
  for (size_t i = 0; i < cells->size(); ++i) {
    const std::string cw = fmt::format("{}: cell[{}]", origin, i);
    const toml::table* c = (*cells)[i].as_table();
    if (c == nullptr) Fail(ErrorCode::kInvalidArgument, "{}: must be a table", cw);
    CheckKeys(*c, cw, {"name", "model", "weight"});
    Cell cell;
    cell.name = GetString(*c, cw, "name", true);
    ValidateName(cell.name, cw + ".name");
    if (!names.insert(cell.name).second) {
      Fail(ErrorCode::kInvalidArgument, "{}.name: '{}' is used by an earlier cell", cw, cell.name);
    }
    cell.model = GetString(*c, cw, "model", true);
    try {
      cell.model = ParseModelRef(cell.model).ToString();
    } catch (const Error& e) {
      Fail(ErrorCode::kInvalidArgument, "{}.model: {}", cw, e.what());
    }
    if (const toml::node* w = c->get("weight")) {
      double v = 0;
      if (w->is_floating_point()) {
        v = w->as_floating_point()->get();
      } else if (w->is_integer()) {
        v = static_cast<double>(w->as_integer()->get());
      } else {
        Fail(ErrorCode::kInvalidArgument, "{}.weight: must be a number", cw);
      }
      if (!std::isfinite(v) || v <= 0) {
        Fail(ErrorCode::kInvalidArgument, "{}.weight: {} must be positive", cw, v);
      }
      cell.weight = v;
      any_weight = true;
    } else {
      all_weight = false;
    }
    s.cells.push_back(std::move(cell));
  }
  if (s.cells.size() < 2) {
    Fail(ErrorCode::kInvalidArgument, "{}: {} cell; an experiment needs at least two", origin,
         s.cells.size());
  }
  if (s.mode == Mode::kInterleave && s.cells.size() != 2) {
    Fail(ErrorCode::kInvalidArgument,
         "{}: mode \"interleave\" needs exactly two cells (the two rankers), got {}", origin,
         s.cells.size());
  }
  if (any_weight && !all_weight) {
    Fail(ErrorCode::kInvalidArgument, "{}: give every cell a weight or none (equal shares)",
         origin);
  }
  for (auto& c : s.cells) sum += any_weight ? c.weight : 1.0;
  for (auto& c : s.cells) c.weight = (any_weight ? c.weight : 1.0) / sum;
  return s;
}

json ExperimentSpec::ToJson() const {
  json cells_j = json::array();
  for (const auto& c : cells) {
    cells_j.push_back({{"name", c.name}, {"model", c.model}, {"weight", c.weight}});
  }
  return {{"name", name},
          {"salt", salt},
          {"mode", ModeName(mode)},
          {"description", description},
          {"attribution_window", attribution_window},
          {"event_types", event_types},
          {"cells", cells_j}};
}

ExperimentSpec ExperimentSpec::FromJson(const json& j) {
  try {
    ExperimentSpec s;
    s.name = j.at("name").get<std::string>();
    s.salt = j.at("salt").get<std::string>();
    s.mode = j.at("mode").get<std::string>() == "interleave" ? Mode::kInterleave : Mode::kAB;
    s.description = j.value("description", "");
    s.attribution_window = j.at("attribution_window").get<int64_t>();
    s.event_types = j.value("event_types", std::vector<std::string>{});
    for (const auto& c : j.at("cells")) {
      s.cells.push_back({c.at("name").get<std::string>(), c.at("model").get<std::string>(),
                         c.at("weight").get<double>()});
    }
    if (s.cells.size() < 2) Fail(ErrorCode::kCorruption, "fewer than two cells");
    return s;
  } catch (const json::exception& e) {
    Fail(ErrorCode::kCorruption, "registry: damaged experiment definition: {}", e.what());
  }
}

bool ExperimentSpec::CountsAsPlay(std::string_view type, float value) const {
  if (!(value > 0)) return false;
  if (event_types.empty()) return true;
  return std::find(event_types.begin(), event_types.end(), type) != event_types.end();
}

double AssignmentPoint(std::string_view name, std::string_view salt, std::string_view user) {
  // One-shot XXH64 over name \0 salt \0 user, assembled on the stack (no allocation on the
  // request path; ids are bounded well below the buffer, longer ones take the streaming path).
  char buf[1024];
  const size_t n = name.size() + salt.size() + user.size() + 2;
  uint64_t h = 0;
  if (n <= sizeof buf) {
    char* p = buf;
    std::memcpy(p, name.data(), name.size());
    p += name.size();
    *p++ = '\0';
    std::memcpy(p, salt.data(), salt.size());
    p += salt.size();
    *p++ = '\0';
    std::memcpy(p, user.data(), user.size());
    h = XXH64(buf, n, 0);
  } else {
    XXH64_state_t* st = XXH64_createState();
    XXH64_reset(st, 0);
    const char zero = '\0';
    XXH64_update(st, name.data(), name.size());
    XXH64_update(st, &zero, 1);
    XXH64_update(st, salt.data(), salt.size());
    XXH64_update(st, &zero, 1);
    XXH64_update(st, user.data(), user.size());
    h = XXH64_digest(st);
    XXH64_freeState(st);
  }
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}

size_t AssignCell(const ExperimentSpec& spec, std::string_view user) {
  const double u = AssignmentPoint(spec.name, spec.salt, user);
  double cum = 0;
  for (size_t i = 0; i + 1 < spec.cells.size(); ++i) {
    cum += spec.cells[i].weight;
    if (u < cum) return i;
  }
  return spec.cells.size() - 1;
}

// --- lifecycle

namespace {

Experiment FromRecord(ExperimentRecord r) {
  Experiment e;
  e.spec = ExperimentSpec::FromJson(r.definition);
  e.record = std::move(r);
  return e;
}

}  // namespace

Experiment CreateExperiment(Registry& registry, const ExperimentSpec& spec,
                            const std::string& source, int64_t now) {
  for (size_t i = 0; i < spec.cells.size(); ++i) {
    try {
      registry.Resolve(spec.cells[i].model);
    } catch (const Error& e) {
      Fail(e.code() == ErrorCode::kNotFound ? ErrorCode::kNotFound : e.code(),
           "experiment '{}': cell '{}': model {}: {}", spec.name, spec.cells[i].name,
           spec.cells[i].model, e.what());
    }
  }
  ExperimentRecord r;
  r.name = spec.name;
  r.mode = std::string(ModeName(spec.mode));
  r.salt = spec.salt;
  r.definition = spec.ToJson();
  r.source = source;
  r.created_at = now;
  return FromRecord(registry.store().CreateExperiment(r));
}

Experiment GetExperiment(MetadataStore& store, const std::string& name) {
  auto r = store.GetExperiment(name);
  if (!r) {
    Fail(ErrorCode::kNotFound, "no experiment named '{}' (marquee experiments list)", name);
  }
  return FromRecord(std::move(*r));
}

std::vector<Experiment> ListExperiments(MetadataStore& store) {
  std::vector<Experiment> out;
  for (auto& r : store.ListExperiments()) out.push_back(FromRecord(std::move(r)));
  return out;
}

Experiment StartExperiment(MetadataStore& store, const std::string& name, int64_t now) {
  Experiment e = GetExperiment(store, name);
  if (e.record.state == ExperimentState::kRunning) {
    Fail(ErrorCode::kFailedPrecondition, "experiment '{}' is already running", name);
  }
  store.ChangeExperimentState(name, {0, "start", e.record.state, ExperimentState::kRunning, now});
  return GetExperiment(store, name);
}

Experiment StopExperiment(MetadataStore& store, const std::string& name, int64_t now) {
  Experiment e = GetExperiment(store, name);
  if (e.record.state != ExperimentState::kRunning) {
    Fail(ErrorCode::kFailedPrecondition, "experiment '{}' is {}, not running", name,
         ExperimentStateName(e.record.state));
  }
  store.ChangeExperimentState(
      name, {0, "stop", ExperimentState::kRunning, ExperimentState::kStopped, now});
  return GetExperiment(store, name);
}

Experiment GetExperiment(Registry& registry, const std::string& name) {
  return GetExperiment(registry.store(), name);
}

std::vector<Experiment> ListExperiments(Registry& registry) {
  return ListExperiments(registry.store());
}

Experiment StartExperiment(Registry& registry, const std::string& name, int64_t now) {
  return StartExperiment(registry.store(), name, now);
}

Experiment StopExperiment(Registry& registry, const std::string& name, int64_t now) {
  return StopExperiment(registry.store(), name, now);
}

std::vector<ExperimentStateChange> ExperimentHistory(Registry& registry, const std::string& name) {
  return registry.store().ExperimentHistory(name);
}

json ExperimentJson(const Experiment& e) {
  json j = e.spec.ToJson();
  j["state"] = ExperimentStateName(e.record.state);
  j["created_at"] = e.record.created_at;
  j["first_started_at"] = e.record.first_started_at;
  j["updated_at"] = e.record.updated_at;
  return j;
}

}  // namespace marquee

#include "flow/step.h"

#include <fmt/format.h>

#include <map>

#include "common/mutex.h"
#include "marquee/error.h"

namespace marquee::flow {

#define MARQUEE_STEP(kind, factory) std::unique_ptr<PipelineStep> factory();
#include "flow/steps.inc"
#undef MARQUEE_STEP

namespace {

struct Steps {
  Mutex mu;
  std::map<std::string, StepFactory, std::less<>> factories GUARDED_BY(mu) = {
#define MARQUEE_STEP(kind, factory) {kind, factory},
#include "flow/steps.inc"
#undef MARQUEE_STEP
  };
};

Steps& AllSteps() {
  static Steps* steps = new Steps;  // never destroyed: steps may be created during exit
  return *steps;
}

std::string TypeName(const nlohmann::json& v) { return v.type_name(); }

}  // namespace

void RegisterStep(std::string kind, StepFactory factory) {
  if (kind.empty() || !factory) {
    Fail(ErrorCode::kInvalidArgument, "RegisterStep needs a kind and a factory");
  }
  Steps& s = AllSteps();
  MutexLock lock(&s.mu);
  s.factories[std::move(kind)] = std::move(factory);
}

std::vector<std::string> StepKinds() {
  Steps& s = AllSteps();
  MutexLock lock(&s.mu);
  std::vector<std::string> kinds;
  for (const auto& [k, f] : s.factories) kinds.push_back(k);
  return kinds;
}

std::unique_ptr<PipelineStep> CreateStep(std::string_view kind) {
  StepFactory factory;
  {
    Steps& s = AllSteps();
    MutexLock lock(&s.mu);
    auto it = s.factories.find(kind);
    if (it != s.factories.end()) factory = it->second;
  }
  if (!factory) {
    Fail(ErrorCode::kInvalidArgument, "unknown step kind '{}' (known: {})", kind,
         fmt::join(StepKinds(), ", "));
  }
  return factory();
}

void CheckStepKeys(const nlohmann::json& spec, const std::vector<std::string>& known) {
  for (const auto& [key, value] : spec.items()) {
    if (key == "name" || key == "kind") continue;
    bool ok = false;
    for (const auto& k : known) ok = ok || k == key;
    if (!ok) {
      Fail(ErrorCode::kInvalidArgument, "unknown key '{}' (known: {})", key,
           known.empty() ? std::string("none but name and kind")
                         : fmt::format("{}", fmt::join(known, ", ")));
    }
  }
}

namespace {
// spec[key] as T when `is_type` holds for it, `fallback` when absent.
template <class T, class IsType>
T TypedKey(const nlohmann::json& spec, const char* key, const T& fallback, IsType is_type,
           const char* what) {
  auto it = spec.find(key);
  if (it == spec.end()) return fallback;
  if (!is_type(*it)) {
    Fail(ErrorCode::kInvalidArgument, "'{}' must be {}, not {}", key, what, TypeName(*it));
  }
  return it->get<T>();
}
}  // namespace

std::string StringKey(const nlohmann::json& spec, const char* key, const std::string& fallback) {
  return TypedKey(
      spec, key, fallback, [](const nlohmann::json& v) { return v.is_string(); }, "a string");
}

double NumberKey(const nlohmann::json& spec, const char* key, double fallback) {
  return TypedKey(
      spec, key, fallback, [](const nlohmann::json& v) { return v.is_number(); }, "a number");
}

bool BoolKey(const nlohmann::json& spec, const char* key, bool fallback) {
  return TypedKey(
      spec, key, fallback, [](const nlohmann::json& v) { return v.is_boolean(); }, "true or false");
}

std::vector<std::string> StringListKey(const nlohmann::json& spec, const char* key) {
  std::vector<std::string> out;
  auto it = spec.find(key);
  if (it == spec.end()) return out;
  if (!it->is_array()) Fail(ErrorCode::kInvalidArgument, "'{}' must be an array of strings", key);
  for (const auto& v : *it) {
    if (!v.is_string()) Fail(ErrorCode::kInvalidArgument, "'{}' must be an array of strings", key);
    out.push_back(v.get<std::string>());
  }
  return out;
}

const nlohmann::json* LatestOutputOf(const StepContext& ctx, std::string_view kind) {
  for (auto it = ctx.order.rbegin(); it != ctx.order.rend(); ++it) {
    if (it->second != kind) continue;
    auto o = ctx.earlier.find(it->first);
    if (o != ctx.earlier.end()) return &*o;
  }
  return nullptr;
}

const nlohmann::json* LatestWith(const StepContext& ctx, std::string_view member) {
  for (auto it = ctx.order.rbegin(); it != ctx.order.rend(); ++it) {
    auto o = ctx.earlier.find(it->first);
    if (o != ctx.earlier.end() && o->is_object() && o->contains(member)) return &*o;
  }
  return nullptr;
}

namespace {
// The outputs of the latest earlier step whose "candidate" is an object (a version).
const nlohmann::json* LatestCandidateOutputs(const StepContext& ctx) {
  for (auto it = ctx.order.rbegin(); it != ctx.order.rend(); ++it) {
    auto o = ctx.earlier.find(it->first);
    if (o != ctx.earlier.end() && o->is_object() && o->contains("candidate") &&
        (*o)["candidate"].is_object()) {
      return &*o;
    }
  }
  return nullptr;
}
}  // namespace

VersionRecord LatestCandidate(const StepContext& ctx) {
  const nlohmann::json* o = LatestCandidateOutputs(ctx);
  if (o == nullptr) {
    Fail(ErrorCode::kFailedPrecondition,
         "no earlier step made a candidate version (add a train or tune step before it)");
  }
  const nlohmann::json& c = (*o)["candidate"];
  if (!c.is_object() || !c.contains("model") || !c.contains("version") || !c["model"].is_string() ||
      !c["version"].is_number_integer()) {
    Fail(ErrorCode::kCorruption, "a step's candidate is not {{model, version}}: {}", c.dump());
  }
  ModelRef ref;
  ref.model = c["model"].get<std::string>();
  ref.version = c["version"].get<int64_t>();
  return ctx.registry.Resolve(ref);
}

}  // namespace marquee::flow

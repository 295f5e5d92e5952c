// The pipeline step interface (issue #17, `marquee pipeline`): a flow (FLOW.toml, flow/flow.h) is
// a list of [[step]] tables, each run by the step of its `kind`. A step is a class implementing
// PipelineStep; its kind is registered by one line in flow/steps.inc (built-in kinds, compiled
// from src/flow/steps/*.cc) or at run time with RegisterStep (tests, extensions).
//
// The engine (flow/engine.h) records each step as a registry run, hands it the outputs of the
// earlier steps of the same pipeline run, and stops the pipeline with the reason when a step
// throws or returns passed = false. A step's outputs are recorded with its run (so `pipeline
// resume` hands them to later steps without running the step again): they must be JSON objects
// of plain values, and they name what the step made (snapshot ids, versions, metrics).
//
// Conventions between steps: a step that makes a candidate model version (train, tune) puts
// {"candidate": {"model": NAME, "version": N}} in its outputs; later steps find it with
// LatestCandidate. A step that makes a dataset snapshot puts {"dataset": NAME, "snapshot": ID}.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "marquee/context.h"
#include "registry/registry.h"

namespace marquee::flow {

// What a step is given. Owned by the engine for the duration of one Run call; a step may keep
// nothing of it after returning.
struct StepContext {
  StepContext(Registry& r, const nlohmann::json& earlier_outputs)
      : registry(r), earlier(earlier_outputs) {}

  Registry& registry;    // the home's registry (embedded or PostgreSQL), with the built-in kinds
  std::string home;      // resolved home directory (catalogs, event and decision logs)
  std::string flow_dir;  // the flow file's directory: steps resolve relative paths against it
  Env* env = nullptr;    // every file touch goes through it (never nullptr)
  Context ctx;           // threads, seed, progress callback for long work
  // [server] of the flow: the `marquee serve` URL for steps that need live traffic, and the API
  // key read from the environment variable [server] token_env. Both "" when the flow has none.
  std::string server_url;
  std::string server_token;
  std::string pipeline;      // [pipeline] name
  std::string model;         // [pipeline] model: the registry model the flow keeps fresh
  int64_t pipeline_run = 0;  // registry run id of this pipeline run
  int64_t step_run = 0;      // registry run id of this step's record
  // The first run of this pipeline run's resume chain (itself when not resumed): what a step
  // keys its idempotence on, so a resumed run finds what the interrupted one registered.
  int64_t root_run = 0;
  std::string step_name;  // this step's [[step]] name
  // The earlier steps of this pipeline run, in order: (name, kind), and their outputs by name
  // (an object: step name -> outputs object). Resumed runs include the steps completed before.
  std::vector<std::pair<std::string, std::string>> order;
  const nlohmann::json& earlier;
  // True once the pipeline should stop (a signal, a server shutting down): long steps check it
  // between units of work and return passed = false, reason "cancelled". Never empty.
  std::function<bool()> cancelled = [] { return false; };
  // One line of progress for people (the CLI prints it on stderr, the scheduler logs it).
  std::function<void(const std::string&)> log;

  void Log(const std::string& line) const {
    if (log) log(line);
  }
};

struct StepResult {
  nlohmann::json outputs = nlohmann::json::object();
  bool passed = true;  // false: the pipeline stops here with `reason` (e.g. a gate refused)
  std::string reason;  // why it did not pass; a short summary line when it passed
};

// A step kind. Run may throw marquee::Error (the pipeline stops with the error's message, the
// step recorded as failed); it should leave nothing half-made that a rerun would duplicate.
// Steps are created per run and used by one thread.
class PipelineStep {
 public:
  virtual ~PipelineStep() = default;
  // Checks `spec` (the [[step]] table as JSON, with `name` and `kind`) when the flow is parsed,
  // before anything runs. kInvalidArgument naming the key (the engine adds the file and step).
  virtual void Validate(const nlohmann::json& spec) const = 0;
  virtual StepResult Run(const nlohmann::json& spec, StepContext& ctx) = 0;
};

using StepFactory = std::function<std::unique_ptr<PipelineStep>()>;

// Registers (or replaces) step kind `kind`. Thread-safe; kinds registered at run time are
// found by every later CreateStep. kInvalidArgument for an empty kind or factory.
void RegisterStep(std::string kind, StepFactory factory);
// A new step of `kind`; kInvalidArgument naming the known kinds when there is none.
std::unique_ptr<PipelineStep> CreateStep(std::string_view kind);
// Every registered kind, sorted.
std::vector<std::string> StepKinds();

// --- helpers for steps

// kInvalidArgument "unknown key 'k' (known: a, b)" for a key of `spec` outside `known` (name and
// kind are always allowed).
void CheckStepKeys(const nlohmann::json& spec, const std::vector<std::string>& known);
// spec[key] as text / number / bool, or `fallback` when absent; kInvalidArgument naming the key
// when present with another type.
std::string StringKey(const nlohmann::json& spec, const char* key, const std::string& fallback);
double NumberKey(const nlohmann::json& spec, const char* key, double fallback);
bool BoolKey(const nlohmann::json& spec, const char* key, bool fallback);
// spec[key] as an array of strings (empty when absent); kInvalidArgument naming the key otherwise.
std::vector<std::string> StringListKey(const nlohmann::json& spec, const char* key);

// The outputs of the latest earlier step of `kind` (nullptr if none ran).
const nlohmann::json* LatestOutputOf(const StepContext& ctx, std::string_view kind);
// The outputs of the latest earlier step whose outputs hold `member` (nullptr if none).
const nlohmann::json* LatestWith(const StepContext& ctx, std::string_view member);
// The candidate version made by the latest train/tune step ({"candidate": {model, version}}).
// kFailedPrecondition ("no earlier step made a candidate version") when none did.
VersionRecord LatestCandidate(const StepContext& ctx);

}  // namespace marquee::flow

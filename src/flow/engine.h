// The pipeline engine: runs a flow's steps in order, each recorded as a registry run, and
// resumes a failed or interrupted pipeline run from its first unfinished step.
//
// Records (the registry's MetadataStore, so a flow works the same on the embedded home and on a
// PostgreSQL registry): a pipeline run is an external run of the flow's model with params
// {pipeline_role: "pipeline", pipeline, flow_file, resumed_from}, tags pipeline, state, root,
// host, pid, and the flow's text as run artifact "flow.toml"; each step is an external run with
// params {pipeline_role: "step", pipeline_run, step, kind, index, spec}, tags pipeline,
// pipeline_run, step, kind, state, and its outputs as run artifact "outputs.json" (numbers in
// outputs.metrics are also logged as the run's metrics). Lineage reads pipeline run -> step runs
// -> their outputs (snapshot ids, candidate versions, whose training runs name the dataset).
//
// States: a step is running, completed, stopped (it did not pass: a gate refused), failed (it
// threw), reused (completed by the run this one resumes; not run again) or interrupted (its
// process died). A pipeline run is running, completed, stopped, failed or interrupted.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "flow/flow.h"
#include "marquee/context.h"
#include "registry/registry.h"

namespace marquee::flow {

struct EngineOptions {
  std::string home;  // resolved home directory
  Context ctx;       // threads (>= 1), env, progress for the steps' long work
  // True once the pipeline should stop (checked between steps, and by long steps). May be empty.
  std::function<bool()> cancelled;
  // One line per step started and ended (may be empty).
  std::function<void(const std::string&)> log;
};

struct StepState {
  std::string name, kind, state;
  int64_t run_id = 0;    // the step's registry run (0: not started)
  int64_t from_run = 0;  // reused: the step run that completed it
  nlohmann::json outputs = nlohmann::json::object();
  std::string reason;
  int64_t started_at = 0, ended_at = 0;
};

struct PipelineRun {
  int64_t run_id = 0;
  std::string pipeline, model, state, reason, flow_file;
  int64_t resumed_from = 0, root = 0;
  int64_t started_at = 0, ended_at = 0;
  std::vector<StepState> steps;  // recorded steps, in flow order (steps never reached are absent)

  bool ok() const { return state == "completed"; }
  // {"pipeline_run", "pipeline", "model", "state", "reason", "resumed_from", "root", "steps":
  // [{"name", "kind", "state", "run_id", "outputs", "reason", ...}], ...}
  nlohmann::json ToJson() const;
  // Human-readable: one line per step.
  std::string Text() const;
};

// Runs every step of `flow` in order; stops at the first that fails or does not pass. Returns
// the run's record (its state says how it ended). Throws only when the records cannot be
// written (a registry error); a step's error is recorded and ends the run "failed".
PipelineRun RunFlow(const Flow& flow, const std::string& flow_file, Registry& registry,
                    const EngineOptions& options);
// Continues pipeline run `run_id` (failed, stopped or interrupted) as a new pipeline run of the
// same recorded flow: steps it completed are reused with their recorded outputs, never run
// again; the rest run. kNotFound when `run_id` is not a pipeline run; kFailedPrecondition
// ("refused: ...") when it completed or is still running.
PipelineRun ResumeRun(int64_t run_id, Registry& registry, const EngineOptions& options);

// The record of pipeline run `run_id` (kNotFound when it is not one).
PipelineRun LoadPipelineRun(Registry& registry, int64_t run_id);
// The newest pipeline runs first, at most `limit` (<= 0: all).
std::vector<PipelineRun> ListPipelineRuns(Registry& registry, int64_t limit);

}  // namespace marquee::flow

// Stored pipeline schedules and the scheduler that runs them (`marquee pipeline schedule`,
// `marquee scheduler`, `marquee serve --scheduler`).
//
// $home/pipelines/schedules.json (written atomically through Env): {"format": 1, "next_id": N,
// "schedules": [{"id", "flow" (absolute path), "pipeline", "every_s", "next_at", "created_at",
// "last_run", "last_state", "last_reason"}]}. The flow file is read again at each run, so edits
// apply from the next run on.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "flow/engine.h"

namespace marquee::flow {

struct Schedule {
  int64_t id = 0;
  std::string flow;  // absolute path of the flow file
  std::string pipeline;
  int64_t every_s = 0;
  int64_t next_at = 0;  // Unix seconds
  int64_t created_at = 0;
  int64_t last_run = 0;  // the last pipeline run it started (0: none yet)
  std::string last_state, last_reason;
  nlohmann::json ToJson() const;
};

// "24h", "30m", "90s", "2d", or plain seconds; kInvalidArgument naming the text otherwise (and
// for intervals under 1 s).
int64_t ParseEvery(const std::string& text);

// The schedules of a home. Each call reads the file afresh; writers replace it atomically. Not
// safe against two processes adding at the same instant (one add may be lost); the scheduler
// only rewrites the fields of the schedule it ran.
class ScheduleStore {
 public:
  ScheduleStore(std::string home, Env* env);
  // Adds a schedule for the flow at `flow_path` (parsed now: a bad flow is refused with its
  // error), first due `every_s` from now (or now, with `run_now`).
  Schedule Add(const std::string& flow_path, int64_t every_s, bool run_now);
  std::vector<Schedule> List() const;
  // kNotFound for an unknown id.
  void Remove(int64_t id);
  // Sets the fields a run changes (next_at, last_*) of schedule `s`, if it still exists.
  void Update(const Schedule& s);

 private:
  nlohmann::json Load() const;
  void Save(const nlohmann::json& doc);
  std::string home_, path_;
  Env* env_;
};

// Runs every schedule due at `now`, one at a time, oldest due first: each is moved to its next
// time before it runs (a run that dies is not retried at once), and a failed run (or a flow that
// no longer parses) is recorded in last_state/last_reason without stopping the others. Returns
// the pipeline runs it finished.
std::vector<PipelineRun> RunDueSchedules(const std::string& home, Registry& registry,
                                         const EngineOptions& options, int64_t now);

// Checks for due schedules every `poll_s` seconds until `stop` is set (checked at least every
// 200 ms). Errors of one round (an unreadable schedule file) are logged and the loop goes on.
// `open_registry` opens the registry for a round (one per round, used by this thread only).
void SchedulerLoop(const std::string& home, const std::function<Registry()>& open_registry,
                   const EngineOptions& options, double poll_s, const std::atomic<bool>& stop);

}  // namespace marquee::flow

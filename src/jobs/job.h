// Job: one unit of work submitted to a server's job runner (src/jobs/job_runner.h). Today the
// only kind is "train": a train config (TOML or JSON text) run like `marquee train`, ending in a
// run and a version. A job is a plain value; JobToJson is both its stored record
// ($home/jobs/<id>.json, docs/formats/jobs.md) and what the API returns.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace marquee {

// queued -> running -> succeeded | failed; queued -> cancelled; running -> interrupted (the
// process running it ended: found "running" when a runner opened the store).
enum class JobState { kQueued, kRunning, kSucceeded, kFailed, kCancelled, kInterrupted };

// "queued", "running", "succeeded", "failed", "cancelled", "interrupted".
std::string_view JobStateName(JobState state) noexcept;
// The state called `name`, or nullopt.
std::optional<JobState> ParseJobState(std::string_view name) noexcept;
// Whether a job in `state` has ended (nothing about it changes any more).
bool IsFinal(JobState state) noexcept;

struct JobProgress {
  std::string stage;      // the trainer's last stage name ("" before the first report)
  double fraction = 0.0;  // in [0, 1]
};

struct JobError {
  std::string code;  // ErrorCodeName of the error ("not_found", "internal", ...)
  std::string message;
};

struct Job {
  int64_t id = 0;              // monotonic, never reused; 0 before the store assigns it
  std::string kind = "train";  // the only kind today
  JobState state = JobState::kQueued;
  int64_t submitted_at = 0;  // Unix seconds (Env::NowSeconds)
  int64_t started_at = 0;    // 0: not started
  int64_t ended_at = 0;      // 0: not ended
  // The config as given: its text, "toml" or "json", and the "section.key=value" overrides.
  std::string config_text;
  std::string config_format;
  std::vector<std::string> overrides;
  std::string model;   // [model] name the config resolved to at submission
  std::string family;  // [model] family
  JobProgress progress;
  // When succeeded: what `marquee train --json` prints (RegisteredTraining::ToJson: the kind's
  // details plus run_id, model, version). Null otherwise.
  nlohmann::json outcome;
  std::optional<JobError> error;  // when failed or interrupted
  int64_t log_lines = 0;          // lines in the job's log so far
};

// The job as JSON: {id, kind, state, submitted_at, started_at, ended_at (ISO 8601 UTC or null),
// config {format, text, overrides}, model, family, progress {stage, fraction}, outcome (object
// or null), error ({code, message} or null), log_lines}. Pure; thread-safe.
nlohmann::json JobToJson(const Job& job);
// Reads JobToJson's output back. Throws kCorruption naming `where` (a file, say) and the field
// when a field is missing or has the wrong type.
Job JobFromJson(const nlohmann::json& j, const std::string& where);

}  // namespace marquee

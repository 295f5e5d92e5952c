#include "jobs/job.h"

#include <array>
#include <utility>

#include "common/time.h"
#include "marquee/error.h"
#include "registry/json.h"

namespace marquee {
namespace {

constexpr std::array<std::pair<JobState, std::string_view>, 6> kStates = {{
    {JobState::kQueued, "queued"},
    {JobState::kRunning, "running"},
    {JobState::kSucceeded, "succeeded"},
    {JobState::kFailed, "failed"},
    {JobState::kCancelled, "cancelled"},
    {JobState::kInterrupted, "interrupted"},
}};

// Reads a stored job, naming the file and the field in every refusal.
class Reader {
 public:
  Reader(const nlohmann::json& j, const std::string& where) : j_(j), where_(where) {
    if (!j_.is_object()) Bad("", "an object");
  }
  const nlohmann::json& Field(const char* key, bool (nlohmann::json::*is)() const noexcept,
                              const char* want) const {
    auto it = j_.find(key);
    if (it == j_.end() || !((*it).*is)()) Bad(key, want);
    return *it;
  }
  std::string String(const char* key) const {
    return Field(key, &nlohmann::json::is_string, "a string").get<std::string>();
  }
  int64_t Integer(const char* key) const {
    return Field(key, &nlohmann::json::is_number_integer, "an integer").get<int64_t>();
  }
  // ISO 8601 text, or null for 0.
  int64_t Time(const char* key) const {
    auto it = j_.find(key);
    if (it != j_.end() && it->is_null()) return 0;
    const std::optional<int64_t> t = ParseIsoUtc(String(key));
    if (!t) Bad(key, "an ISO 8601 time or null");
    return *t;
  }
  [[noreturn]] void Bad(std::string_view key, const char* want) const {
    Fail(ErrorCode::kCorruption, "{}: job record field '{}' must be {}", where_, key, want);
  }

 private:
  const nlohmann::json& j_;
  const std::string& where_;
};

}  // namespace

std::string_view JobStateName(JobState state) noexcept {
  for (const auto& [s, name] : kStates) {
    if (s == state) return name;
  }
  return "unknown";
}

std::optional<JobState> ParseJobState(std::string_view name) noexcept {
  for (const auto& [s, n] : kStates) {
    if (n == name) return s;
  }
  return std::nullopt;
}

bool IsFinal(JobState state) noexcept {
  return state != JobState::kQueued && state != JobState::kRunning;
}

nlohmann::json JobToJson(const Job& job) {
  nlohmann::json j = {
      {"id", job.id},
      {"kind", job.kind},
      {"state", JobStateName(job.state)},
      {"submitted_at", TimeJson(job.submitted_at)},
      {"started_at", TimeJson(job.started_at)},
      {"ended_at", TimeJson(job.ended_at)},
      {"config",
       {{"format", job.config_format}, {"text", job.config_text}, {"overrides", job.overrides}}},
      {"model", job.model},
      {"family", job.family},
      {"progress", {{"stage", job.progress.stage}, {"fraction", job.progress.fraction}}},
      {"outcome", job.outcome},
      {"error", nullptr},
      {"log_lines", job.log_lines},
  };
  if (job.error) j["error"] = {{"code", job.error->code}, {"message", job.error->message}};
  return j;
}

Job JobFromJson(const nlohmann::json& j, const std::string& where) {
  Reader r(j, where);
  Job job;
  job.id = r.Integer("id");
  job.kind = r.String("kind");
  const std::optional<JobState> state = ParseJobState(r.String("state"));
  if (!state) r.Bad("state", "a job state (queued, running, succeeded, ...)");
  job.state = *state;
  job.submitted_at = r.Time("submitted_at");
  job.started_at = r.Time("started_at");
  job.ended_at = r.Time("ended_at");
  const std::string config_where = where + " (config)";
  Reader config(r.Field("config", &nlohmann::json::is_object, "an object"), config_where);
  job.config_format = config.String("format");
  job.config_text = config.String("text");
  for (const auto& o : config.Field("overrides", &nlohmann::json::is_array, "a list")) {
    if (!o.is_string()) config.Bad("overrides", "a list of strings");
    job.overrides.push_back(o.get<std::string>());
  }
  job.model = r.String("model");
  job.family = r.String("family");
  const std::string progress_where = where + " (progress)";
  Reader progress(r.Field("progress", &nlohmann::json::is_object, "an object"), progress_where);
  job.progress.stage = progress.String("stage");
  job.progress.fraction =
      progress.Field("fraction", &nlohmann::json::is_number, "a number").get<double>();
  auto outcome = j.find("outcome");
  if (outcome != j.end() && !outcome->is_null()) {
    if (!outcome->is_object()) r.Bad("outcome", "an object or null");
    job.outcome = *outcome;
  }
  auto error = j.find("error");
  if (error != j.end() && !error->is_null()) {
    const std::string error_where = where + " (error)";
    Reader e(*error, error_where);
    job.error = JobError{e.String("code"), e.String("message")};
  }
  job.log_lines = r.Integer("log_lines");
  return job;
}

}  // namespace marquee

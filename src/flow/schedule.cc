#include "flow/schedule.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "marquee/env.h"
#include "marquee/error.h"

namespace marquee::flow {

nlohmann::json Schedule::ToJson() const {
  return {{"id", id},
          {"flow", flow},
          {"pipeline", pipeline},
          {"every_s", every_s},
          {"next_at", next_at},
          {"created_at", created_at},
          {"last_run", last_run},
          {"last_state", last_state},
          {"last_reason", last_reason}};
}

namespace {

Schedule FromJson(const nlohmann::json& j) {
  Schedule s;
  try {
    s.id = j.at("id").get<int64_t>();
    s.flow = j.at("flow").get<std::string>();
    s.pipeline = j.value("pipeline", "");
    s.every_s = j.at("every_s").get<int64_t>();
    s.next_at = j.at("next_at").get<int64_t>();
    s.created_at = j.value("created_at", int64_t{0});
    s.last_run = j.value("last_run", int64_t{0});
    s.last_state = j.value("last_state", "");
    s.last_reason = j.value("last_reason", "");
  } catch (const nlohmann::json::exception& e) {
    Fail(ErrorCode::kCorruption, "a schedule record is malformed: {}", e.what());
  }
  return s;
}

}  // namespace

int64_t ParseEvery(const std::string& text) {
  size_t pos = 0;
  double v = 0;
  try {
    v = std::stod(text, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  const std::string unit = pos > 0 ? text.substr(pos) : "";
  double mult = 0;
  if (unit.empty() || unit == "s") mult = 1;
  if (unit == "m") mult = 60;
  if (unit == "h") mult = 3600;
  if (unit == "d") mult = 86400;
  if (pos == 0 || mult == 0 || !(v * mult >= 1) || v * mult > 366.0 * 86400) {
    Fail(ErrorCode::kInvalidArgument,
         "--every '{}': expected an interval like 24h, 30m, 90s or 2d (1 s to 366 d)", text);
  }
  return static_cast<int64_t>(v * mult);
}

ScheduleStore::ScheduleStore(std::string home, Env* env)
    : home_(std::move(home)), path_(home_ + "/pipelines/schedules.json"), env_(env) {}

nlohmann::json ScheduleStore::Load() const {
  if (!env_->FileExists(path_)) {
    return {{"format", 1}, {"next_id", 1}, {"schedules", nlohmann::json::array()}};
  }
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(env_->ReadFile(path_));
  } catch (const nlohmann::json::exception& e) {
    Fail(ErrorCode::kCorruption, "{}: {}", path_, e.what());
  }
  if (!doc.is_object() || doc.value("format", 0) != 1 || !doc.contains("schedules") ||
      !doc["schedules"].is_array() || !doc.contains("next_id")) {
    Fail(ErrorCode::kCorruption, "{}: not a schedule file of format 1", path_);
  }
  return doc;
}

void ScheduleStore::Save(const nlohmann::json& doc) {
  env_->CreateDirs(home_ + "/pipelines");
  env_->WriteFileAtomic(path_, doc.dump(2) + "\n");
}

Schedule ScheduleStore::Add(const std::string& flow_path, int64_t every_s, bool run_now) {
  const std::string abs = std::filesystem::absolute(flow_path).lexically_normal().string();
  const Flow flow = LoadFlow(abs);  // refuses a bad flow now, not at 3 a.m.
  nlohmann::json doc = Load();
  Schedule s;
  s.id = doc["next_id"].get<int64_t>();
  s.flow = abs;
  s.pipeline = flow.name;
  s.every_s = every_s;
  s.created_at = env_->NowSeconds();
  s.next_at = run_now ? s.created_at : s.created_at + every_s;
  doc["next_id"] = s.id + 1;
  doc["schedules"].push_back(s.ToJson());
  Save(doc);
  return s;
}

std::vector<Schedule> ScheduleStore::List() const {
  std::vector<Schedule> out;
  const nlohmann::json doc = Load();
  for (const auto& j : doc["schedules"]) out.push_back(FromJson(j));
  return out;
}

void ScheduleStore::Remove(int64_t id) {
  nlohmann::json doc = Load();
  auto& a = doc["schedules"];
  const size_t before = a.size();
  a.erase(std::remove_if(a.begin(), a.end(),
                         [&](const nlohmann::json& j) { return j.value("id", int64_t{0}) == id; }),
          a.end());
  if (a.size() == before) Fail(ErrorCode::kNotFound, "no schedule {} (see --list)", id);
  Save(doc);
}

void ScheduleStore::Update(const Schedule& s) {
  nlohmann::json doc = Load();
  for (auto& j : doc["schedules"]) {
    if (j.value("id", int64_t{0}) != s.id) continue;
    j["next_at"] = s.next_at;
    j["last_run"] = s.last_run;
    j["last_state"] = s.last_state;
    j["last_reason"] = s.last_reason;
    Save(doc);
    return;
  }
}

std::vector<PipelineRun> RunDueSchedules(const std::string& home, Registry& registry,
                                         const EngineOptions& options, int64_t now) {
  ScheduleStore store(home, registry.env());
  std::vector<Schedule> due;
  for (const auto& s : store.List()) {
    if (s.next_at <= now) due.push_back(s);
  }
  std::sort(due.begin(), due.end(),
            [](const Schedule& a, const Schedule& b) { return a.next_at < b.next_at; });
  std::vector<PipelineRun> done;
  for (Schedule s : due) {
    if (options.cancelled && options.cancelled()) break;
    s.next_at = std::max(now, s.next_at) + s.every_s;
    s.last_state = "running";
    s.last_reason.clear();
    store.Update(s);
    if (options.log) options.log(fmt::format("schedule {}: running {}", s.id, s.flow));
    try {
      const Flow flow = LoadFlow(s.flow);
      const PipelineRun run = RunFlow(flow, s.flow, registry, options);
      s.last_run = run.run_id;
      s.last_state = run.state;
      s.last_reason = run.reason;
      done.push_back(run);
    } catch (const std::exception& e) {
      s.last_state = "failed";
      s.last_reason = e.what();
      if (options.log) options.log(fmt::format("schedule {}: {}", s.id, e.what()));
    }
    store.Update(s);
  }
  return done;
}

void SchedulerLoop(const std::string& home, const std::function<Registry()>& open_registry,
                   const EngineOptions& options, double poll_s, const std::atomic<bool>& stop) {
  using Clock = std::chrono::steady_clock;
  while (!stop.load()) {
    try {
      Registry registry = open_registry();
      RunDueSchedules(home, registry, options, registry.env()->NowSeconds());
    } catch (const std::exception& e) {
      if (options.log) options.log(fmt::format("scheduler: {}", e.what()));
    }
    const auto until = Clock::now() + std::chrono::duration<double>(poll_s);
    while (!stop.load() && Clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
}

}  // namespace marquee::flow

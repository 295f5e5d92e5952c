#include "flow/engine.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>

#include "common/text.h"
#include "common/time.h"
#include "flow/step.h"
#include "marquee/env.h"
#include "marquee/error.h"

namespace marquee::flow {
namespace {

constexpr const char* kRole = "pipeline_role";
constexpr const char* kFlowArtifact = "flow.toml";
constexpr const char* kOutputsArtifact = "outputs.json";

std::string Short(std::string_view text) { return std::string(TruncateUtf8(text, 1000)); }

std::string Tag(const RunRecord& r, const std::string& key) {
  auto it = r.tags.find(key);
  return it == r.tags.end() ? "" : it->second;
}

int64_t TagInt(const RunRecord& r, const std::string& key) {
  const std::string v = Tag(r, key);
  try {
    return v.empty() ? 0 : std::stoll(v);
  } catch (const std::exception&) {
    return 0;
  }
}

std::string ParamText(const RunRecord& r, const char* key) {
  auto it = r.params.find(key);
  return it != r.params.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t ParamInt(const RunRecord& r, const char* key) {
  auto it = r.params.find(key);
  return it != r.params.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

// Whether the process that wrote a "running" record is gone.
bool Dead(const RunRecord& r) {
  const int64_t pid = TagInt(r, "pid");
  if (pid <= 0) return false;
  static const ProcessProbe probe = DefaultProcessProbe();
  return !probe.alive(Tag(r, "host"), pid);
}

nlohmann::json ReadArtifactJson(Registry& registry, int64_t run, const char* name) {
  for (const auto& a : registry.RunArtifacts(run)) {
    if (a.name != name) continue;
    const std::string path = registry.OpenRunArtifact(run, name);
    return nlohmann::json::parse(registry.env()->ReadFile(path));
  }
  return nullptr;
}

StepState StepFromRecord(Registry& registry, const RunRecord& r, bool pipeline_dead) {
  StepState s;
  s.name = ParamText(r, "step");
  s.kind = ParamText(r, "kind");
  s.run_id = r.id;
  s.state = Tag(r, "state");
  s.from_run = TagInt(r, "from_run");
  s.started_at = r.started_at;
  s.ended_at = r.ended_at;
  if (s.state == "running" && pipeline_dead) s.state = "interrupted";
  const nlohmann::json o = ReadArtifactJson(registry, r.id, kOutputsArtifact);
  if (o.is_object()) {
    s.outputs = o.value("outputs", nlohmann::json::object());
    s.reason = o.value("reason", "");
  } else if (!r.log.empty()) {
    s.reason = r.log;
  }
  return s;
}

// Records a step's end: its outputs, metrics, state, and the run's status.
void FinishStep(Registry& registry, StepState& s, bool passed) {
  registry.LogRunArtifactBytes(
      s.run_id, kOutputsArtifact,
      nlohmann::json{{"outputs", s.outputs}, {"passed", passed}, {"reason", s.reason}}.dump());
  if (s.outputs.contains("metrics") && s.outputs["metrics"].is_object()) {
    std::vector<MetricPoint> points;
    for (const auto& [k, v] : s.outputs["metrics"].items()) {
      if (!v.is_number()) continue;
      MetricPoint p;
      p.key = k;
      p.value = v.get<double>();
      points.push_back(p);
    }
    try {
      if (!points.empty()) registry.LogMetrics(s.run_id, points);
    } catch (const Error&) {  // a metric name the store refuses: the outputs keep it
    }
  }
  registry.SetRunTags(s.run_id, {{"state", s.state}}, {});
  registry.FinishExternalRun(s.run_id, passed ? RunStatus::kCompleted : RunStatus::kFailed,
                             Short(s.reason));
  s.ended_at = registry.env()->NowSeconds();
}

std::string HostName() {
  char host[256] = {0};
  if (::gethostname(host, sizeof(host) - 1) != 0) return "";
  return host;
}

class Engine {
 public:
  Engine(const Flow& flow, const std::string& flow_file, Registry& registry,
         const EngineOptions& options)
      : flow_(flow), flow_file_(flow_file), registry_(registry), options_(options) {}

  PipelineRun Start(int64_t resumed_from, int64_t root) {
    ExternalRunSpec spec;
    spec.model_name = flow_.model;
    spec.description = fmt::format("pipeline {}", flow_.name);
    spec.params = {{kRole, "pipeline"},
                   {"pipeline", flow_.name},
                   {"flow_file", flow_file_},
                   {"resumed_from", resumed_from}};
    spec.host = HostName();
    spec.pid = ::getpid();
    spec.tags = {{"pipeline", flow_.name},
                 {"state", "running"},
                 {"host", spec.host},
                 {"pid", std::to_string(spec.pid)}};
    run_.run_id = registry_.StartExternalRun(spec);
    run_.root = root > 0 ? root : run_.run_id;
    registry_.SetRunTags(run_.run_id, {{"root", std::to_string(run_.root)}}, {});
    registry_.LogRunArtifactBytes(run_.run_id, kFlowArtifact, flow_.text);
    run_.pipeline = flow_.name;
    run_.model = flow_.model;
    run_.flow_file = flow_file_;
    run_.resumed_from = resumed_from;
    run_.state = "running";
    run_.started_at = registry_.env()->NowSeconds();
    Log(fmt::format("pipeline {} run {} ({} steps{})", flow_.name, run_.run_id, flow_.steps.size(),
                    resumed_from > 0 ? fmt::format(", resuming run {}", resumed_from) : ""));
    return run_;
  }

  // Records step `i` as completed by an earlier run (its record `done`), not running it again.
  void Reuse(size_t i, const StepState& done) {
    StepState s = done;
    s.from_run = done.from_run > 0 ? done.from_run : done.run_id;
    s.run_id = StartStepRun(i, {{"from_run", std::to_string(s.from_run)}});
    s.state = "reused";
    s.started_at = registry_.env()->NowSeconds();
    s.reason = done.reason;
    FinishStep(registry_, s, true);
    Log(fmt::format("[{}/{}] {} ({}): reused from step run {}", i + 1, flow_.steps.size(), s.name,
                    s.kind, s.from_run));
    Remember(s);
  }

  // Runs the steps from `first`; returns the final record.
  PipelineRun RunFrom(size_t first) {
    for (size_t i = first; i < flow_.steps.size(); ++i) {
      if (Cancelled()) return End("stopped", "cancelled before step '" + flow_.steps[i].name + "'");
      if (!RunStep(i)) {
        const StepState& s = run_.steps.back();
        return End(s.state, fmt::format("step '{}' {}: {}", s.name, s.state, s.reason));
      }
    }
    return End("completed", fmt::format("{} steps completed", flow_.steps.size()));
  }

 private:
  bool Cancelled() const { return options_.cancelled && options_.cancelled(); }
  void Log(const std::string& line) const {
    if (options_.log) options_.log(line);
  }

  int64_t StartStepRun(size_t i, std::map<std::string, std::string> extra_tags) {
    const FlowStep& step = flow_.steps[i];
    ExternalRunSpec spec;
    spec.model_name = flow_.model;
    spec.description =
        fmt::format("pipeline {} run {}: step {}", flow_.name, run_.run_id, step.name);
    spec.params = {{kRole, "step"},     {"pipeline_run", run_.run_id},
                   {"step", step.name}, {"kind", step.kind},
                   {"index", i},        {"spec", step.spec}};
    spec.host = HostName();
    spec.pid = ::getpid();
    spec.tags = std::move(extra_tags);
    spec.tags["pipeline"] = flow_.name;
    spec.tags["pipeline_run"] = std::to_string(run_.run_id);
    spec.tags["step"] = step.name;
    spec.tags["kind"] = step.kind;
    spec.tags["state"] = "running";
    return registry_.StartExternalRun(spec);
  }

  void Remember(const StepState& s) {
    earlier_[s.name] = s.outputs;
    order_.emplace_back(s.name, s.kind);
    run_.steps.push_back(s);
  }

  bool RunStep(size_t i) {
    const FlowStep& step = flow_.steps[i];
    StepState s;
    s.name = step.name;
    s.kind = step.kind;
    s.run_id = StartStepRun(i, {});
    s.started_at = registry_.env()->NowSeconds();
    Log(fmt::format("[{}/{}] {} ({}): running (step run {})", i + 1, flow_.steps.size(), step.name,
                    step.kind, s.run_id));
    const auto t0 = std::chrono::steady_clock::now();
    bool passed = false;
    try {
      StepContext ctx(registry_, earlier_);
      ctx.home = options_.home;
      ctx.flow_dir = flow_.dir;
      ctx.env = options_.ctx.env != nullptr ? options_.ctx.env : registry_.env();
      ctx.ctx = options_.ctx;
      ctx.server_url = flow_.server_url;
      if (!flow_.token_env.empty()) {
        const char* token = std::getenv(flow_.token_env.c_str());
        ctx.server_token = token != nullptr ? token : "";
      }
      ctx.pipeline = flow_.name;
      ctx.model = flow_.model;
      ctx.pipeline_run = run_.run_id;
      ctx.step_run = s.run_id;
      ctx.root_run = run_.root;
      ctx.step_name = step.name;
      ctx.order = order_;
      ctx.cancelled = [this] { return Cancelled(); };
      ctx.log = [this, &step](const std::string& line) { Log("  " + step.name + ": " + line); };
      const auto impl = CreateStep(step.kind);
      const StepResult r = impl->Run(step.spec, ctx);
      s.outputs = r.outputs.is_object() ? r.outputs : nlohmann::json{{"value", r.outputs}};
      s.reason = r.reason;
      passed = r.passed;
      s.state = passed ? "completed" : "stopped";
    } catch (const std::exception& e) {
      s.state = "failed";
      s.reason = e.what();
    }
    FinishStep(registry_, s, passed);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    Log(fmt::format("[{}/{}] {} ({}): {} in {:.1f} s{}{}", i + 1, flow_.steps.size(), step.name,
                    step.kind, s.state, secs, s.reason.empty() ? "" : ": ",
                    EscapeForTerminal(s.reason)));
    Remember(s);
    return passed;
  }

  PipelineRun End(const std::string& state, const std::string& reason) {
    run_.state = state;
    run_.reason = reason;
    registry_.SetRunTags(run_.run_id, {{"state", state}}, {});
    registry_.FinishExternalRun(run_.run_id,
                                state == "completed" ? RunStatus::kCompleted : RunStatus::kFailed,
                                Short(reason));
    run_.ended_at = registry_.env()->NowSeconds();
    Log(fmt::format("pipeline {} run {}: {} ({})", run_.pipeline, run_.run_id, state,
                    EscapeForTerminal(reason)));
    return run_;
  }

  const Flow& flow_;
  const std::string flow_file_;
  Registry& registry_;
  const EngineOptions& options_;
  PipelineRun run_;
  nlohmann::json earlier_ = nlohmann::json::object();
  std::vector<std::pair<std::string, std::string>> order_;
};

RunRecord RequirePipelineRun(Registry& registry, int64_t run_id) {
  RunRecord r;
  try {
    r = registry.GetRun(run_id);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kNotFound) throw;
    Fail(ErrorCode::kNotFound, "no pipeline run {}", run_id);
  }
  if (ParamText(r, kRole) != "pipeline") {
    Fail(ErrorCode::kNotFound, "run {} is not a pipeline run (see `marquee pipeline status`)",
         run_id);
  }
  return r;
}

}  // namespace

PipelineRun LoadPipelineRun(Registry& registry, int64_t run_id) {
  const RunRecord r = RequirePipelineRun(registry, run_id);
  PipelineRun p;
  p.run_id = r.id;
  p.pipeline = ParamText(r, "pipeline");
  p.model = r.model_name;
  p.flow_file = ParamText(r, "flow_file");
  p.resumed_from = ParamInt(r, "resumed_from");
  p.root = TagInt(r, "root");
  p.state = Tag(r, "state");
  p.started_at = r.started_at;
  p.ended_at = r.ended_at;
  p.reason = r.log;
  const bool dead = p.state == "running" && Dead(r);
  if (dead) {
    p.state = "interrupted";
    p.reason = "its process (pid " + Tag(r, "pid") + ") is gone";
  }
  RunQuery q;
  q.params = {{kRole, "step"}, {"pipeline_run", std::to_string(run_id)}};
  q.sort = RunQuery::Sort::kIdAsc;
  q.limit = 0;
  for (const auto& s : registry.ListRuns(q)) {
    p.steps.push_back(StepFromRecord(registry, registry.GetRun(s.id), dead));
  }
  return p;
}

std::vector<PipelineRun> ListPipelineRuns(Registry& registry, int64_t limit) {
  RunQuery q;
  q.params = {{kRole, "pipeline"}};
  q.limit = limit;
  std::vector<PipelineRun> out;
  for (const auto& r : registry.ListRuns(q)) out.push_back(LoadPipelineRun(registry, r.id));
  return out;
}

PipelineRun RunFlow(const Flow& flow, const std::string& flow_file, Registry& registry,
                    const EngineOptions& options) {
  Engine engine(flow, flow_file, registry, options);
  engine.Start(0, 0);
  return engine.RunFrom(0);
}

PipelineRun ResumeRun(int64_t run_id, Registry& registry, const EngineOptions& options) {
  const PipelineRun old = LoadPipelineRun(registry, run_id);
  if (old.state == "completed") {
    Fail(ErrorCode::kFailedPrecondition, "refused: pipeline run {} completed; nothing to resume",
         run_id);
  }
  if (old.state == "running") {
    Fail(ErrorCode::kFailedPrecondition,
         "refused: pipeline run {} is still running (its process is alive)", run_id);
  }
  std::string text;
  for (const auto& a : registry.RunArtifacts(run_id)) {
    if (a.name == kFlowArtifact)
      text = registry.env()->ReadFile(registry.OpenRunArtifact(run_id, kFlowArtifact));
  }
  if (text.empty()) {
    Fail(ErrorCode::kCorruption, "pipeline run {} has no recorded flow (run artifact {})", run_id,
         kFlowArtifact);
  }
  const std::string dir = std::filesystem::path(old.flow_file).parent_path().string();
  const Flow flow = ParseFlow(text, old.flow_file.empty() ? "<recorded flow>" : old.flow_file,
                              dir.empty() ? "." : dir);
  // An interrupted run's records still say running: close them, naming the resume.
  if (old.state == "interrupted") {
    const std::string why = "interrupted (its process died); resumed";
    for (const auto& s : old.steps) {
      if (s.state != "interrupted") continue;
      registry.SetRunTags(s.run_id, {{"state", "interrupted"}}, {});
      registry.FinishExternalRun(s.run_id, RunStatus::kFailed, why);
    }
    registry.SetRunTags(run_id, {{"state", "interrupted"}}, {});
    registry.FinishExternalRun(run_id, RunStatus::kFailed, why);
  }
  Engine engine(flow, old.flow_file, registry, options);
  engine.Start(run_id, old.root > 0 ? old.root : run_id);
  size_t i = 0;
  for (; i < flow.steps.size(); ++i) {
    const StepState* done = nullptr;
    for (const auto& s : old.steps) {
      if (s.name == flow.steps[i].name && (s.state == "completed" || s.state == "reused"))
        done = &s;
    }
    if (done == nullptr) break;
    engine.Reuse(i, *done);
  }
  return engine.RunFrom(i);
}

nlohmann::json PipelineRun::ToJson() const {
  nlohmann::json steps_json = nlohmann::json::array();
  for (const auto& s : steps) {
    nlohmann::json j = {{"name", s.name},
                        {"kind", s.kind},
                        {"state", s.state},
                        {"run_id", s.run_id},
                        {"outputs", s.outputs},
                        {"reason", s.reason},
                        {"started_at", s.started_at},
                        {"ended_at", s.ended_at}};
    if (s.from_run > 0) j["from_run"] = s.from_run;
    steps_json.push_back(std::move(j));
  }
  return {{"pipeline_run", run_id},
          {"pipeline", pipeline},
          {"model", model},
          {"state", state},
          {"reason", reason},
          {"flow_file", flow_file},
          {"resumed_from", resumed_from},
          {"root", root},
          {"started_at", started_at},
          {"ended_at", ended_at},
          {"steps", steps_json}};
}

std::string PipelineRun::Text() const {
  std::string out =
      fmt::format("pipeline run {}  {}  model {}  {}", run_id, pipeline, model, state);
  if (resumed_from > 0) out += fmt::format("  (resumes run {})", resumed_from);
  out += "\n";
  if (started_at > 0) out += "  started   " + IsoUtc(started_at) + "\n";
  for (const auto& s : steps) {
    out += fmt::format("  {:<12} {:<9} {:<11} run {}", s.name, s.kind, s.state, s.run_id);
    if (s.from_run > 0) out += fmt::format(" (from run {})", s.from_run);
    if (!s.reason.empty()) out += "  " + EscapeForTerminal(TruncateUtf8(s.reason, 300));
    out += "\n";
  }
  if (!reason.empty()) out += "  " + EscapeForTerminal(reason) + "\n";
  return out;
}

}  // namespace marquee::flow

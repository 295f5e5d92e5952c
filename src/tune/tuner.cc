#include "tune/tuner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <thread>

#include <unistd.h>

#include <fmt/format.h>

#include "common/text.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "pipeline/config.h"
#include "pipeline/train.h"
#include "tune/sampler.h"

namespace marquee {
namespace {

using json = nlohmann::json;

std::string TomlValue(const json& v) {
  if (v.is_array()) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + TomlValue(v[i]);
    return s + "]";
  }
  return v.dump();  // numbers, booleans and (JSON-escaped) strings read the same in TOML
}

// What every trial of the study (and the final test run) is trained with: the study's
// overrides, the params, the schedule's resource and the metric in [eval] metrics.
struct Plan {
  const StudyRecord& s;
  std::vector<std::string> metric_override;  // adds the metric to [eval] metrics if absent

  std::vector<std::string> Overrides(const json& params, int64_t resource) const {
    std::vector<std::string> o = s.overrides;
    for (const auto& [k, v] : params.items()) o.push_back("model." + k + "=" + TomlValue(v));
    if (!s.space.schedule.param.empty()) {
      o.push_back(fmt::format("model.{}={}", s.space.schedule.param, resource));
    }
    o.insert(o.end(), metric_override.begin(), metric_override.end());
    return o;
  }
  TrainConfig Config(const std::vector<std::string>& overrides) const {
    return ParseTrainConfig(s.config_text, s.config_path, overrides);
  }
};

double MetricOf(const TrainResult& r, const std::string& metric) {
  std::string known;
  for (const auto& [k, v] : r.metrics) {
    if (k == metric) return v;
    known += (known.empty() ? "" : ", ") + k;
  }
  Fail(ErrorCode::kInvalidArgument, "the run has no metric '{}' (it has: {})",
       QuoteForMessage(metric), known);
}

json MetricsJson(const TrainResult& r) {
  json m = json::object();
  for (const auto& [k, v] : r.metrics) m[k] = v;
  return m;
}

// One trial, on its own thread: trains rung after rung until pruned or done. `prior`: the
// trials of earlier batches (fixed while the batch runs).
TrialRecord RunTrial(const Plan& plan, TrialRecord t, const std::vector<TrialRecord>& prior,
                     const std::string& home, Context ctx) {
  const StudyRecord& s = plan.s;
  const auto start = std::chrono::steady_clock::now();
  std::vector<int64_t> rungs = s.space.schedule.Rungs();
  if (rungs.empty()) rungs.push_back(0);
  try {
    for (size_t k = 0; k < rungs.size(); ++k) {
      std::vector<std::string> o = plan.Overrides(t.params, rungs[k]);
      o.push_back(fmt::format("split.validation={}", s.validation));
      o.push_back("split.refit=false");
      o.push_back(fmt::format("run.threads={}", ctx.threads));
      const TrainConfig config = plan.Config(o);
      const TrainResult r = RunTraining(config, TrainOptions{home, ctx});
      try {  // the trial's model is not kept (nothing refers to it); gc would remove it
        if (!r.artifact.empty()) ctx.env->RemoveFile(r.artifact);
      } catch (const Error&) {
      }
      const double v = MetricOf(r, s.metric);
      t.rungs.emplace_back(rungs[k], v);
      t.value = v;
      t.metrics = MetricsJson(r);
      if (k + 1 == rungs.size()) break;
      // Successive halving: continue only in the top 1/eta of this rung's values so far.
      int64_t n = 1, better = 0;
      for (const auto& p : prior) {
        if (p.rungs.size() <= k || p.state == "failed") continue;
        ++n;
        better += s.Better(p.rungs[k].second, v) ? 1 : 0;
      }
      if (n >= s.space.schedule.eta && better + 1 > n / s.space.schedule.eta) {
        t.state = "pruned";
        t.message = fmt::format("pruned at {} {} (rank {} of {} at that rung)",
                                s.space.schedule.param, rungs[k], better + 1, n);
        break;
      }
    }
    if (t.state.empty()) t.state = "completed";
  } catch (const Error& e) {
    t.state = "failed";
    t.message = e.what();
    t.value = std::nan("");
  }
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return t;
}

std::string Abs(const std::string& path) {
  return std::filesystem::absolute(std::filesystem::path(path)).lexically_normal().string();
}

// The config of `params` as a file that runs from anywhere: relative paths made absolute.
std::string BestConfigText(const Plan& plan, const json& params) {
  json doc = plan.Config(plan.Overrides(params, plan.s.space.schedule.max)).as_given;
  const std::string base = std::filesystem::path(plan.s.config_path).parent_path().string();
  for (const auto& [section, key] :
       {std::pair{"data", "train"}, {"split", "eval_input"}, {"split", "eval_target"}}) {
    if (doc.contains(section) && doc[section].contains(key) && doc[section][key].is_string()) {
      std::filesystem::path p(doc[section][key].get<std::string>());
      if (p.is_relative()) doc[section][key] = Abs((std::filesystem::path(base) / p).string());
    }
  }
  return "# The best configuration of study " + std::to_string(plan.s.id) +
         " (marquee studies show " + std::to_string(plan.s.id) + ")\n" + JsonToTomlText(doc);
}

json BestParams(const StudyRecord& s, const TrialRecord& t) {
  json p = t.params;
  if (!s.space.schedule.param.empty()) p[s.space.schedule.param] = s.space.schedule.max;
  return p;
}

void RecordTrial(Registry& registry, const StudyRecord& s, const TrialRecord& t) {
  std::vector<MetricPoint> points;
  for (const auto& [r, v] : t.rungs) points.push_back({s.metric, v, r, 0});
  if (t.state != "failed") {
    const int64_t last = t.rungs.empty() ? 0 : t.rungs.back().first;
    for (const auto& [k, v] : t.metrics.items()) {
      if (k != s.metric && v.is_number()) points.push_back({k, v.get<double>(), last, 0});
    }
  }
  if (!points.empty()) registry.LogMetrics(t.run_id, points);
  registry.SetRunTags(t.run_id, {{"state", t.state}}, {});
  registry.FinishExternalRun(t.run_id,
                             t.state == "failed" ? RunStatus::kFailed : RunStatus::kCompleted,
                             t.message.empty() ? t.state : t.message);
}

StudyRecord NewStudy(const TuneOptions& o, StudyStore& store, Env* env) {
  StudyRecord s;
  s.config_path = Abs(o.config_path);
  s.config_text = env->ReadFile(o.config_path);
  s.overrides = o.overrides;
  const TrainConfig base = ParseTrainConfig(s.config_text, s.config_path, s.overrides);
  s.family = base.family;
  s.model_name = base.model_name;
  if (o.space_path.empty()) {
    s.space = DefaultSearchSpace(s.family);
  } else {
    s.space = ParseSearchSpace(env->ReadFile(o.space_path), o.space_path);
  }
  s.metric = o.metric;
  if (s.metric.empty()) {
    const json resolved = base.settings->Resolved();
    const json m = resolved.contains("eval") ? resolved["eval"].value("metrics", json::array())
                                             : json::array();
    if (m.empty() || !m[0].is_string()) {
      Fail(ErrorCode::kInvalidArgument, "the config names no [eval] metrics: pass --metric");
    }
    s.metric = m[0].get<std::string>();
  }
  s.maximize = !MetricIsLoss(s.metric);
  if (o.sampler != "tpe" && o.sampler != "random") {
    Fail(ErrorCode::kInvalidArgument, "--sampler must be tpe or random, got '{}'",
         QuoteForMessage(o.sampler));
  }
  if (o.parallel < 1) Fail(ErrorCode::kInvalidArgument, "--parallel must be >= 1");
  if (o.trials < 0 || o.budget_s < 0) {
    Fail(ErrorCode::kInvalidArgument, "--trials and --budget must not be negative");
  }
  if (!(o.validation > 0 && o.validation < 1)) {
    Fail(ErrorCode::kInvalidArgument, "--validation must be in (0, 1), got {}", o.validation);
  }
  s.sampler = o.sampler;
  s.startup_trials = o.startup_trials;
  s.seed = o.seed;
  s.planned_trials = o.trials == 0 && o.budget_s == 0 ? 20 : o.trials;
  s.budget_s = o.budget_s;
  s.parallel = o.parallel;
  s.validation = o.validation;
  s.created_at = env->NowSeconds();
  s.id = store.NextId();
  return s;
}

}  // namespace

double ParseBudget(const std::string& text) {
  double scale = 1;
  std::string num = text;
  if (!num.empty() && (num.back() == 's' || num.back() == 'm' || num.back() == 'h')) {
    scale = num.back() == 'h' ? 3600 : num.back() == 'm' ? 60 : 1;
    num.pop_back();
  }
  double v = 0;
  size_t used = 0;
  try {
    v = std::stod(num, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (num.empty() || used != num.size() || !std::isfinite(v) || v < 0) {
    Fail(ErrorCode::kInvalidArgument, "--budget '{}': expected a duration such as 90s, 10m or 1h",
         QuoteForMessage(text));
  }
  return v * scale;
}

bool MetricIsLoss(const std::string& metric) {
  for (const char* loss : {"logloss", "brier", "ece", "rmse", "mae"}) {
    if (metric == loss) return true;
  }
  return false;
}

TuneOutcome RunStudy(const TuneOptions& o, Registry& registry) {
  Env* env = o.ctx.env != nullptr ? o.ctx.env : Env::Default();
  StudyStore store(o.home, env);
  StudyRecord s;
  if (o.resume > 0) {
    s = store.Load(o.resume);
    for (const auto& [n, run] : s.running) {
      try {
        registry.SetRunTags(run, {{"state", "interrupted"}}, {});
        registry.FinishExternalRun(
            run, RunStatus::kFailed,
            fmt::format("interrupted: the study stopped; trial {} re-runs", n));
      } catch (const Error&) {  // already finished: nothing to mark
      }
    }
    s.running.clear();
    s.state = "running";
  } else {
    s = NewStudy(o, store, env);
  }
  store.Save(s);

  Plan plan{s, {}};
  {
    const TrainConfig base = plan.Config(s.overrides);
    const json resolved = base.settings->Resolved();
    json metrics = resolved.contains("eval") ? resolved["eval"].value("metrics", json::array())
                                             : json::array();
    if (std::find(metrics.begin(), metrics.end(), json(s.metric)) == metrics.end()) {
      metrics.push_back(s.metric);
      plan.metric_override.push_back("eval.metrics=" + TomlValue(metrics));
    }
    plan.Config(plan.Overrides(SampleParams(s.space, {}, s.seed, 0, {}), 1));  // checks names
  }
  SamplerOptions so;
  so.kind = s.sampler == "random" ? SamplerOptions::Kind::kRandom : SamplerOptions::Kind::kTpe;
  so.startup_trials = s.startup_trials;
  unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const int total_threads = o.ctx.threads > 0 ? o.ctx.threads : static_cast<int>(hw);
  Context ctx = o.ctx;
  ctx.env = env;
  ctx.threads = std::max(1, total_threads / s.parallel);
  ctx.progress = nullptr;

  const auto start = std::chrono::steady_clock::now();
  const double elapsed_before = s.elapsed_s;
  auto elapsed = [&] {
    return elapsed_before +
           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  while (true) {
    const int next = static_cast<int>(s.trials.size());
    if (s.planned_trials > 0 && next >= s.planned_trials) break;
    if (s.budget_s > 0 && elapsed() >= s.budget_s) break;
    int batch = s.parallel;
    if (s.planned_trials > 0) batch = std::min(batch, s.planned_trials - next);
    std::vector<Observation> observed;
    for (const auto& t : s.trials) {
      if (t.state == "failed") continue;
      observed.push_back({t.params, s.maximize ? t.value : -t.value, t.state == "pruned"});
    }
    std::vector<TrialRecord> todo(batch);
    for (int b = 0; b < batch; ++b) {
      TrialRecord& t = todo[b];
      t.number = next + b;
      t.params = SampleParams(s.space, so, s.seed, t.number, observed);
      ExternalRunSpec spec;
      spec.model_name = s.model_name;
      spec.family = s.family;
      spec.params = t.params;
      spec.tags = {{"study", std::to_string(s.id)},
                   {"trial", std::to_string(t.number)},
                   {"state", "running"}};
      spec.description =
          fmt::format("study {} trial {} ({} on validation users)", s.id, t.number, s.metric);
      spec.host = "localhost";
      spec.pid = static_cast<int64_t>(::getpid());
      t.run_id = registry.StartExternalRun(spec);
      s.running.emplace_back(t.number, t.run_id);
    }
    store.Save(s);
    std::vector<TrialRecord> done(batch);
    {
      std::vector<std::thread> threads;
      for (int b = 0; b < batch; ++b) {
        threads.emplace_back([&, b] { done[b] = RunTrial(plan, todo[b], s.trials, o.home, ctx); });
      }
      for (auto& th : threads) th.join();
    }
    for (const auto& t : done) {
      RecordTrial(registry, s, t);
      if (o.log) {
        o.log(fmt::format("trial {:>3}  {:<9} {} = {:.5f}  {:5.1f}s  {}{}", t.number, t.state,
                          s.metric, t.value, t.seconds, t.params.dump(),
                          t.message.empty() || t.state == "completed" ? "" : "  " + t.message));
      }
      s.trials.push_back(t);
    }
    s.running.clear();
    s.elapsed_s = elapsed();
    store.Save(s);
  }

  const TrialRecord* best = s.Best();
  if (best == nullptr) {
    std::string why = "no trial ran";
    for (const auto& t : s.trials) {
      if (t.state == "failed") {
        why = "every trial failed; the first: " + t.message;
        break;
      }
    }
    if (!s.trials.empty() && why == "no trial ran") why = "every trial was pruned";
    s.state = "finished";
    store.Save(s);
    Fail(ErrorCode::kFailedPrecondition, "study {}: {}", s.id, why);
  }
  // The test metric, once, for the best configuration: trained on every training user (the
  // validation users included), evaluated on the test users the trials never saw.
  const json params = BestParams(s, *best);
  std::vector<std::string> over = plan.Overrides(best->params, s.space.schedule.max);
  over.push_back(fmt::format("run.threads={}", total_threads));
  if (o.register_best) {
    const TrainConfig config = plan.Config(over);
    RegisteredTraining rt =
        TrainAndRegister(config, TrainOptions{o.home, o.ctx}, registry, s.config_path, over);
    s.best_test = MetricsJson(rt.result);
    s.registered = {
        {"model", rt.version.model_name}, {"version", rt.version.version}, {"run_id", rt.run_id}};
  } else {
    over.push_back("split.refit=false");
    const TrainConfig config = plan.Config(over);
    Context test_ctx = o.ctx;
    test_ctx.env = env;
    const TrainResult r = RunTraining(config, TrainOptions{o.home, test_ctx});
    try {
      if (!r.artifact.empty()) env->RemoveFile(r.artifact);
    } catch (const Error&) {
    }
    s.best_test = MetricsJson(r);
  }
  env->CreateDirs(store.Dir(s.id));
  s.best_config = store.Dir(s.id) + "/best.toml";
  env->WriteFileAtomic(s.best_config, BestConfigText(plan, best->params));
  (void)params;
  s.state = "finished";
  store.Save(s);
  return TuneOutcome{std::move(s)};
}

nlohmann::json StudyJson(const StudyRecord& s) {
  json j = s.ToJson();
  j.erase("config_text");
  return j;
}

nlohmann::json TuneOutcome::ToJson() const {
  const StudyRecord& s = study;
  int pruned = 0, failed = 0;
  for (const auto& t : s.trials) {
    pruned += t.state == "pruned";
    failed += t.state == "failed";
  }
  json j = {{"study", s.id},
            {"trials", s.trials.size()},
            {"pruned", pruned},
            {"failed", failed},
            {"family", s.family},
            {"metric", s.metric},
            {"direction", s.maximize ? "maximize" : "minimize"},
            {"sampler", s.sampler},
            {"seed", s.seed},
            {"parallel", s.parallel},
            {"seconds", s.elapsed_s},
            {"validation",
             fmt::format("objective on a validation split of {:.0f}% of the training users (rows); "
                         "test metrics computed once, for the best configuration",
                         s.validation * 100)},
            {"best_config", s.best_config},
            {"registered", s.registered}};
  if (const TrialRecord* b = s.Best()) {
    j["best"] = {{"trial", b->number},
                 {"run_id", b->run_id},
                 {"params", BestParams(s, *b)},
                 {"validation", b->metrics},
                 {"test", s.best_test}};
  }
  return j;
}

std::string TuneOutcome::Text() const {
  const StudyRecord& s = study;
  const json j = ToJson();
  std::string out = fmt::format(
      "Study {}: {} trials of {} ({} pruned, {} failed) in {:.0f}s, {} sampler, seed {}.\n", s.id,
      s.trials.size(), s.family, j["pruned"].get<int>(), j["failed"].get<int>(), s.elapsed_s,
      s.sampler, s.seed);
  const TrialRecord* b = s.Best();
  out += fmt::format(
      "The objective ({}, {}) was computed on validation users carved from the TRAINING users\n"
      "({:.0f}% of them); the test users were never trained on or evaluated while tuning.\n",
      s.metric, s.maximize ? "higher is better" : "lower is better", s.validation * 100);
  out += fmt::format("Best: trial {} (run {}), params {}\n", b->number, b->run_id,
                     BestParams(s, *b).dump());
  out += fmt::format("  validation {} = {:.5f}\n", s.metric, b->value);
  out += "  test (computed once, for this configuration, on the held-out test users):";
  for (const auto& [k, v] : s.best_test.items()) {
    out += fmt::format(" {} = {:.5f}", k, v.is_number() ? v.get<double>() : std::nan(""));
  }
  out += "\n";
  out += fmt::format("Best config: {}\n", s.best_config);
  if (!s.registered.is_null()) {
    out +=
        fmt::format("Registered {} version {} (run {}), trained on all data.\n",
                    s.registered["model"].get<std::string>(),
                    s.registered["version"].get<int64_t>(), s.registered["run_id"].get<int64_t>());
  }
  out += fmt::format("Next: marquee studies show {}\n", s.id);
  return out;
}

std::string StudyReport(const StudyRecord& s, const std::string& svg_path, int top) {
  std::string out = fmt::format(
      "Study {} ({}, model {}): {} trials, {} sampler, seed {}, {}; objective {} ({}) on "
      "validation users from the training users\n",
      s.id, s.family, s.model_name, s.trials.size(), s.sampler, s.seed, s.state, s.metric,
      s.maximize ? "maximize" : "minimize");
  out += fmt::format("config: {}\n", s.config_path);
  std::vector<const TrialRecord*> ranked;
  for (const auto& t : s.trials) {
    if (t.state == "completed") ranked.push_back(&t);
  }
  std::stable_sort(ranked.begin(), ranked.end(), [&](const TrialRecord* a, const TrialRecord* b) {
    return s.Better(a->value, b->value);
  });
  out += fmt::format("\nBest trials ({} of {} completed):\n", std::min<size_t>(top, ranked.size()),
                     ranked.size());
  out += fmt::format("  {:>5} {:>6} {:>10} {:>7}  params\n", "trial", "run", s.metric, "secs");
  for (size_t i = 0; i < ranked.size() && i < static_cast<size_t>(top); ++i) {
    const TrialRecord& t = *ranked[i];
    out += fmt::format("  {:>5} {:>6} {:>10.5f} {:>7.1f}  {}\n", t.number, t.run_id, t.value,
                       t.seconds, t.params.dump());
  }
  int pruned = 0, failed = 0;
  for (const auto& t : s.trials) {
    pruned += t.state == "pruned";
    failed += t.state == "failed";
  }
  if (pruned + failed > 0) {
    out += fmt::format("Stopped early: {} pruned, {} failed", pruned, failed);
    for (const auto& t : s.trials) {
      if (t.state == "pruned" || t.state == "failed") {
        out += fmt::format("; trial {}: {}", t.number, t.message);
        break;
      }
    }
    out += "\n";
  }
  const auto imp = ParamImportances(s);
  out += "\nParameter importances (variance of the objective explained by binned means):\n";
  if (imp.empty()) out += "  (needs at least 4 completed trials)\n";
  for (const auto& [k, v] : imp) out += fmt::format("  {:<20} {:.3f}\n", k, v);
  if (!s.best_test.is_null()) {
    out += "\nTest metrics of the best configuration (computed once, on the test users):";
    for (const auto& [k, v] : s.best_test.items()) {
      out += fmt::format(" {} = {:.5f}", k, v.is_number() ? v.get<double>() : std::nan(""));
    }
    out += "\n";
  }
  if (!s.best_config.empty()) out += fmt::format("Best config: {}\n", s.best_config);
  if (!svg_path.empty()) out += fmt::format("Plot: {}\n", svg_path);
  return out;
}

}  // namespace marquee

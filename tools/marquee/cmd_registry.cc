// marquee runs list|show|compare, marquee models list|show|versions|promote|rollback|diff|
// describe|tag|history, marquee gc. Thin: every decision lives in src/registry.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

#include "commands.h"
#include "common/text.h"
#include "data/catalog.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "registry/json.h"
#include "registry/registry.h"

namespace marquee::cli {
namespace {

std::string ShortId(const std::string& digest) { return digest.substr(0, 12); }

// Text from the registry (names, descriptions, tags, notes, paths, logs) made safe to print:
// control characters and invalid UTF-8 become visible escapes (common/text.h).
std::string E(std::string_view text) { return EscapeForTerminal(text); }

std::string Duration(const RunRecord& r) {
  if (r.ended_at == 0 || r.started_at == 0) return "-";
  const int64_t s = r.ended_at - r.started_at;
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

std::string MetricSummary(const RunRecord& r, size_t n) {
  std::string s;
  for (size_t i = 0; i < r.metrics.size() && i < n; ++i) {
    s += fmt::format("{}{} {:.4f}", i ? ", " : "", E(r.metrics[i].first), r.metrics[i].second);
  }
  return s;
}

std::string MetricSummary(const VersionRecord& v, size_t n) {
  std::string s;
  size_t i = 0;
  for (const auto& k : v.metric_order) {
    if (i == n) break;
    auto m = v.metric(k.get<std::string>());
    if (!m) continue;
    s += fmt::format("{}{} {:.4f}", i++ ? ", " : "", E(k.get<std::string>()), *m);
  }
  return s;
}

std::string Join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

std::string DiffCell(const nlohmann::json& v) {
  if (v.is_null()) return "-";
  if (v.is_number_float()) return fmt::format("{:.6g}", v.get<double>());
  if (v.is_string()) return E(v.get<std::string>());
  return E(v.dump());
}

// A run id, or a model reference whose version's run is meant.
int64_t RunIdOf(Registry& reg, const std::string& text) {
  if (!text.empty() && std::all_of(text.begin(), text.end(), ::isdigit)) {
    return std::stoll(text);
  }
  VersionRecord v = reg.Resolve(text);
  if (v.run_id == 0) {
    Fail(ErrorCode::kNotFound, "{}/{} was registered without a run", v.model_name, v.version);
  }
  return v.run_id;
}

// --- runs

struct ListFlags {
  std::string model, status;
  int64_t limit = 20, before = 0;
  bool all = false, json = false;
};

void RunsList(const ListFlags& f, const GlobalOptions& g) {
  Registry reg = OpenRegistry(ResolveHome(g.home));
  RunQuery q;
  if (!f.model.empty()) q.model = ParseModelRef(f.model).model;
  // "running" and "interrupted" depend on whether the process is alive: filter after reading.
  const bool live_filter = f.status == "running" || f.status == "interrupted";
  if (!f.status.empty() && !live_filter) q.status = ParseRunStatus(f.status);
  q.before_id = f.before;
  q.limit = f.all || live_filter ? 0 : f.limit;
  std::vector<RunRecord> runs = reg.ListRuns(q);
  if (live_filter) {
    const RunStatus want = ParseRunStatus(f.status);
    std::erase_if(runs, [&](const RunRecord& r) { return r.status != want; });
    if (!f.all && static_cast<int64_t>(runs.size()) > f.limit) runs.resize(f.limit);
    q.limit = f.all ? 0 : f.limit;
  }
  RunQuery count = q;
  count.before_id = 0;
  const int64_t total = reg.CountRuns(count);
  const int64_t next =
      !f.all && static_cast<int64_t>(runs.size()) == q.limit && !runs.empty() && runs.back().id > 1
          ? runs.back().id
          : 0;
  if (f.json) {
    PrintJson(RunPageToJson(runs, total, next).dump());
    return;
  }
  if (runs.empty()) {
    std::printf("No runs yet. Train a model with: marquee train CONFIG.toml\n");
    return;
  }
  std::printf("%6s  %-20s %4s  %-11s %-10s %-12s %-20s %7s  %s\n", "RUN", "MODEL", "VER", "STATUS",
              "FAMILY", "DATASET", "STARTED", "TIME", "METRICS");
  for (const auto& r : runs) {
    std::printf("%6lld  %-20s %4s  %-11s %-10s %-12s %-20s %7s  %s\n", static_cast<long long>(r.id),
                E(r.model_name).c_str(), r.version > 0 ? std::to_string(r.version).c_str() : "-",
                std::string(RunStatusName(r.status)).c_str(), E(r.family).c_str(),
                r.dataset_id.empty() ? "-" : E(ShortId(r.dataset_id)).c_str(),
                TimeText(r.started_at).c_str(), Duration(r).c_str(), MetricSummary(r, 2).c_str());
  }
  if (next > 0) {
    std::printf("(%zu of %lld runs; older: marquee runs list --before %lld)\n", runs.size(),
                static_cast<long long>(total), static_cast<long long>(next));
  }
}

void RunsShow(const std::string& id_text, bool json, const GlobalOptions& g) {
  Registry reg = OpenRegistry(ResolveHome(g.home));
  RunRecord r = reg.GetRun(RunIdOf(reg, id_text));
  if (json) {
    PrintJson(RunToJson(r, true).dump());
    return;
  }
  std::printf("Run %lld  %s\n", static_cast<long long>(r.id),
              std::string(RunStatusName(r.status)).c_str());
  std::printf("  model       %s%s\n", E(r.model_name).c_str(),
              r.version > 0
                  ? fmt::format(" (registered as {}/{})", E(r.model_name), r.version).c_str()
                  : "");
  std::printf("  family      %s\n  params      %s\n", E(r.family).c_str(),
              E(r.params.dump()).c_str());
  std::printf("  dataset     %s\n  protocol    %s (%s)\n",
              r.dataset_id.empty() ? "-" : E(r.dataset_id).c_str(),
              r.protocol.empty() ? "-" : E(r.protocol).c_str(),
              r.protocol_key.empty() ? "-" : E(ShortId(r.protocol_key)).c_str());
  if (r.config_given.contains("file")) {
    const auto& file = r.config_given["file"];
    std::printf("  config      %s",
                E(file.is_string() ? file.get<std::string>() : file.dump()).c_str());
    for (const auto& o : r.config_given.value("overrides", nlohmann::json::array())) {
      std::printf(" --set %s", E(o.is_string() ? o.get<std::string>() : o.dump()).c_str());
    }
    std::printf("\n");
  }
  std::printf("  started     %s on %s (pid %lld), %s\n", TimeText(r.started_at).c_str(),
              E(r.host).c_str(), static_cast<long long>(r.pid), E(r.code_version).c_str());
  std::printf("  ended       %s (%s)\n", TimeText(r.ended_at).c_str(), Duration(r).c_str());
  if (!r.artifact.empty()) std::printf("  artifact    %s\n", E(r.artifact).c_str());
  if (!r.metrics.empty()) {
    std::printf("  metrics\n");
    for (const auto& [k, v] : r.metrics) std::printf("    %-16s %.4f\n", E(k).c_str(), v);
  }
  if (!r.timings.empty()) {
    std::printf("  timings    ");
    for (const auto& [k, v] : r.timings.items())
      std::printf(" %s %.2fs", E(k).c_str(), v.is_number() ? v.get<double>() : 0.0);
    std::printf("\n");
  }
  if (!r.log.empty()) {
    std::printf("  log\n");
    size_t start = 0;
    while (start < r.log.size()) {
      size_t end = r.log.find('\n', start);
      if (end == std::string::npos) end = r.log.size();
      std::printf("    %s\n", E(r.log.substr(start, end - start)).c_str());
      start = end + 1;
    }
  }
}

void RunsCompare(const std::vector<std::string>& ids_text, bool json, const GlobalOptions& g) {
  Registry reg = OpenRegistry(ResolveHome(g.home));
  std::vector<int64_t> ids;
  for (const auto& t : ids_text) ids.push_back(RunIdOf(reg, t));
  nlohmann::json c = reg.CompareRuns(ids);
  if (json) {
    nlohmann::json out = c;
    for (auto& r : out["runs"]) IsoTimeFields(r, {"started_at"});
    PrintJson(out.dump());
    return;
  }
  const auto& runs = c["runs"];
  const auto& metrics = c["metrics"];
  const auto& differing = c["params_differing"];
  auto cell = [](const nlohmann::json& v) -> std::string {
    if (v.is_null()) return "-";
    if (v.is_number_float()) return fmt::format("{:.4f}", v.get<double>());
    if (v.is_string()) return v.get<std::string>();
    return v.dump();
  };
  if (runs.size() <= 8) {
    // Metrics down, runs across.
    std::printf("%-18s", "");
    for (const auto& r : runs)
      std::printf(" %12s", fmt::format("run {}", r["id"].get<int64_t>()).c_str());
    std::printf("\n%-18s", "model");
    for (const auto& r : runs) {
      std::string m = r["model"].get<std::string>();
      if (!r["version"].is_null()) m += "/" + std::to_string(r["version"].get<int64_t>());
      std::printf(" %12s", E(m).substr(0, 12).c_str());
    }
    std::printf("\n");
    for (const auto& k : differing) {
      std::printf("%-18s", E(k.get<std::string>()).substr(0, 18).c_str());
      for (const auto& r : runs) {
        std::printf(" %12s", DiffCell(r["params"][k.get<std::string>()]).substr(0, 12).c_str());
      }
      std::printf("\n");
    }
    for (const auto& m : metrics) {
      const std::string name = m.get<std::string>();
      std::printf("%-18s", E(name).c_str());
      for (const auto& r : runs) {
        std::string v = r["metrics"].contains(name) ? cell(r["metrics"][name]) : "-";
        if (c["best"].value(name, int64_t{0}) == r["id"].get<int64_t>() && runs.size() > 1)
          v += "*";
        std::printf(" %12s", v.c_str());
      }
      std::printf("\n");
    }
  } else {
    // Runs down, metrics across.
    std::printf("%6s  %-16s", "RUN", "MODEL");
    for (const auto& m : metrics)
      std::printf(" %11s", E(m.get<std::string>()).substr(0, 11).c_str());
    std::printf("\n");
    for (const auto& r : runs) {
      std::string mv = r["model"].get<std::string>();
      if (!r["version"].is_null()) mv += "/" + std::to_string(r["version"].get<int64_t>());
      std::printf("%6lld  %-16s", static_cast<long long>(r["id"].get<int64_t>()),
                  E(mv).substr(0, 16).c_str());
      for (const auto& m : metrics) {
        const std::string name = m.get<std::string>();
        std::string v = r["metrics"].contains(name) ? cell(r["metrics"][name]) : "-";
        if (c["best"].value(name, int64_t{0}) == r["id"].get<int64_t>()) v += "*";
        std::printf(" %11s", v.c_str());
      }
      std::printf("\n");
    }
  }
  if (runs.size() > 1) std::printf("(* best of the runs compared)\n");
  if (!c["same_dataset"].get<bool>()) {
    std::printf("Note: the runs used different datasets; their metrics are not comparable.\n");
  } else if (!c["same_protocol"].get<bool>()) {
    std::printf(
        "Note: the runs used different evaluation protocols (split settings); their "
        "metrics are not comparable.\n");
  }
}

// --- models

void ModelsList(bool json, const GlobalOptions& g) {
  Registry reg = OpenRegistry(ResolveHome(g.home));
  const std::vector<ModelSummary> models = reg.ListModels();
  if (json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& m : models) arr.push_back(ModelSummaryToJson(m));
    PrintJson(nlohmann::json{{"models", arr}}.dump());
    return;
  }
  if (models.empty()) {
    std::printf("No models yet. `marquee train CONFIG.toml` registers one.\n");
    return;
  }
  std::printf("%-24s %8s %7s  %-20s  %s\n", "NAME", "VERSIONS", "LATEST", "UPDATED", "ALIASES");
  for (const auto& [m, model_aliases] : models) {
    std::string aliases;
    for (const auto& [a, v] : model_aliases) {
      aliases += fmt::format("{}{}=v{}", aliases.empty() ? "" : ", ", E(a), v);
    }
    std::printf("%-24s %8lld %7s  %-20s  %s\n", E(m.name).c_str(),
                static_cast<long long>(m.num_versions),
                m.latest_version ? fmt::format("v{}", m.latest_version).c_str() : "-",
                TimeText(m.updated_at).c_str(), aliases.empty() ? "-" : aliases.c_str());
  }
}

void PrintVersion(Registry& reg, const VersionDetail& detail) {
  const VersionRecord& v = detail.record;
  const auto& aliases = detail.aliases;
  std::printf("%s/%lld%s\n", E(v.model_name).c_str(), static_cast<long long>(v.version),
              aliases.empty() ? "" : (" (" + E(Join(aliases)) + ")").c_str());
  std::printf("  family      %s\n  params      %s\n", E(v.family).c_str(),
              E(v.params.dump()).c_str());
  std::optional<DatasetRecord> d =
      v.dataset_id.empty() ? std::nullopt : reg.GetDataset(v.dataset_id);
  std::printf("  dataset     %s%s\n", v.dataset_id.empty() ? "-" : E(v.dataset_id).c_str(),
              d && !d->name.empty() ? (" (" + E(d->name) + ")").c_str() : "");
  std::printf("  protocol    %s (%s)\n", E(v.protocol).c_str(), E(ShortId(v.protocol_key)).c_str());
  std::printf("  run         %s\n", v.run_id ? std::to_string(v.run_id).c_str() : "-");
  std::printf("  artifact    %s\n", ArtifactStore::IsDigest(v.artifact)
                                        ? E(reg.artifacts().PathFor(v.artifact)).c_str()
                                        : ("(not a digest: " + E(v.artifact) + ")").c_str());
  std::printf("  created     %s\n", TimeText(v.created_at).c_str());
  for (const auto& [k, val] : detail.tags) {
    std::printf("  tag         %s=%s\n", E(k).c_str(), E(val).c_str());
  }
  std::printf("  metrics\n");
  for (const auto& k : v.metric_order) {
    if (auto m = v.metric(k.get<std::string>())) {
      std::printf("    %-16s %.4f\n", E(k.get<std::string>()).c_str(), *m);
    }
  }
}

void ModelsShow(const std::string& ref_text, bool json, const GlobalOptions& g) {
  Registry reg = OpenRegistry(ResolveHome(g.home));
  ModelRef ref = ParseModelRef(ref_text);
  if (ref.version > 0 || !ref.alias.empty()) {
    VersionDetail v = reg.Detail(reg.Resolve(ref));
    if (json) {
      PrintJson(VersionToJson(v).dump());
    } else {
      PrintVersion(reg, v);
    }
    return;
  }
  const ModelOverview o = reg.Overview(ref.model);
  if (json) {
    PrintJson(ModelOverviewToJson(o).dump());
    return;
  }
  const ModelRecord& m = o.model;
  const auto& history = o.alias_history;
  std::printf("Model '%s'%s\n", E(m.name).c_str(),
              m.description.empty() ? "" : (": " + E(m.description)).c_str());
  std::printf("  versions    %lld (latest v%lld), created %s\n",
              static_cast<long long>(m.num_versions), static_cast<long long>(m.latest_version),
              TimeText(m.created_at).c_str());
  for (const auto& [k, v] : o.tags)
    std::printf("  tag         %s=%s\n", E(k).c_str(), E(v).c_str());
  if (o.aliases.empty()) {
    std::printf("  aliases     none (marquee models promote %s VERSION --alias production)\n",
                E(m.name).c_str());
  }
  for (const auto& [a, v] : o.aliases) {
    std::printf("  @%-10s v%lld\n", E(a).c_str(), static_cast<long long>(v));
  }
  if (!history.empty()) {
    std::printf("  alias history (newest first)\n");
    size_t shown = 0;
    for (auto it = history.rbegin(); it != history.rend() && shown < 10; ++it, ++shown) {
      std::printf("    %s  %-8s %-10s %s -> v%lld%s\n", TimeText(it->at).c_str(),
                  E(it->action).c_str(), E(it->alias).c_str(),
                  it->from_version ? fmt::format("v{}", it->from_version).c_str() : "(unset)",
                  static_cast<long long>(it->to_version),
                  it->note.empty() ? "" : ("  " + E(it->note)).c_str());
    }
  }
  if (o.latest) {
    std::printf("  latest: ");
    PrintVersion(reg, *o.latest);
  }
}

void ModelsVersions(const std::string& ref_text, bool json, const GlobalOptions& g) {
  Registry reg = OpenRegistry(ResolveHome(g.home));
  const std::string name = ParseModelRef(ref_text).model;
  const std::vector<VersionDetail> versions = reg.Versions(name);
  if (json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& v : versions) arr.push_back(VersionToJson(v));
    PrintJson(nlohmann::json{{"model", name}, {"versions", arr}}.dump());
    return;
  }
  std::printf("%5s  %6s  %-10s %-12s %-20s %-18s %s\n", "VER", "RUN", "FAMILY", "DATASET",
              "CREATED", "ALIASES", "METRICS");
  for (const auto& [v, aliases, tags] : versions) {
    std::string a = Join(aliases);
    std::printf("%5lld  %6s  %-10s %-12s %-20s %-18s %s\n", static_cast<long long>(v.version),
                v.run_id ? std::to_string(v.run_id).c_str() : "-", E(v.family).c_str(),
                v.dataset_id.empty() ? "-" : E(ShortId(v.dataset_id)).c_str(),
                TimeText(v.created_at).c_str(), a.empty() ? "-" : E(a).c_str(),
                MetricSummary(v, 3).c_str());
  }
}

void PrintMove(const PromoteResult& r, bool json) {
  if (json) {
    PrintJson(r.ToJson().dump());
    return;
  }
  for (const auto& c : r.checks) std::printf("  ok  %s\n", E(c).c_str());
  if (r.action == "none") return;
  std::printf("%s@%s: %s -> v%lld (%s)\n", E(r.model).c_str(), E(r.alias).c_str(),
              r.from_version ? fmt::format("v{}", r.from_version).c_str() : "(unset)",
              static_cast<long long>(r.to_version), r.action.c_str());
}

void ModelsDiff(const std::string& model_text, const std::string& a_text, const std::string& b_text,
                bool json, const GlobalOptions& g) {
  Registry reg = OpenRegistry(ResolveHome(g.home));
  const std::string model = ParseModelRef(model_text).model;
  VersionRecord a = reg.ResolveIn(model, a_text);
  VersionRecord b = reg.ResolveIn(model, b_text);
  nlohmann::json d = reg.Diff(a, b);
  if (json) {
    nlohmann::json out = d;
    for (const char* side : {"a", "b"}) {
      if (out.contains(side)) IsoTimeFields(out[side], {"created_at"});
    }
    PrintJson(out.dump());
    return;
  }
  const std::string an = fmt::format("v{}", a.version), bn = fmt::format("v{}", b.version);
  std::printf("%s: %s (run %s) vs %s (run %s)\n", E(model).c_str(), an.c_str(),
              a.run_id ? std::to_string(a.run_id).c_str() : "-", bn.c_str(),
              b.run_id ? std::to_string(b.run_id).c_str() : "-");
  std::printf("\nparams%s\n", d["params"].empty() ? ": identical" : "");
  for (const auto& p : d["params"]) {
    std::printf("  %-20s %14s -> %s\n", E(p["name"].get<std::string>()).c_str(),
                DiffCell(p["a"]).c_str(), DiffCell(p["b"]).c_str());
  }
  std::printf("\nmetrics %21s %14s %10s\n", an.c_str(), bn.c_str(), "delta");
  for (const auto& m : d["metrics"]) {
    std::string delta =
        m["delta"].is_null() ? "-" : fmt::format("{:+.4f}", m["delta"].get<double>());
    std::printf("  %-20s %14s %14s %10s\n", E(m["name"].get<std::string>()).c_str(),
                m["a"].is_null() ? "-" : fmt::format("{:.4f}", m["a"].get<double>()).c_str(),
                m["b"].is_null() ? "-" : fmt::format("{:.4f}", m["b"].get<double>()).c_str(),
                delta.c_str());
  }
  const auto& ds = d["dataset"];
  auto dname = [](const nlohmann::json& x) {
    std::string s = ShortId(x.value("id", ""));
    if (!x.value("name", "").empty()) s += " (" + x["name"].get<std::string>() + ")";
    return s.empty() ? std::string("-") : E(s);
  };
  if (ds["same"].get<bool>()) {
    std::printf("\ndataset: same, %s\n", dname(ds["a"]).c_str());
  } else {
    std::printf("\ndataset: DIFFERENT, %s -> %s\n", dname(ds["a"]).c_str(), dname(ds["b"]).c_str());
  }
  const auto& pr = d["protocol"];
  if (pr["same"].get<bool>()) {
    std::printf("protocol: same, %s\n", E(pr["a"].get<std::string>()).c_str());
  } else {
    std::printf("protocol: DIFFERENT, %s -> %s\n", E(pr["a"].get<std::string>()).c_str(),
                E(pr["b"].get<std::string>()).c_str());
    for (const auto& s : pr["split_differences"]) {
      std::printf("  %-20s %14s -> %s\n", E(s["name"].get<std::string>()).c_str(),
                  DiffCell(s["a"]).c_str(), DiffCell(s["b"]).c_str());
    }
  }
  if (!ds["same"].get<bool>() || !pr["same"].get<bool>()) {
    std::printf(
        "Note: the metrics were measured on different held-out data; do not compare them.\n");
  }
}

void ModelsTag(const std::string& ref_text, const std::vector<std::string>& sets,
               const std::vector<std::string>& removes, bool json, const GlobalOptions& g) {
  Registry reg = OpenRegistry(ResolveHome(g.home));
  ModelRef ref = ParseModelRef(ref_text);
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& kv : sets) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      Fail(ErrorCode::kInvalidArgument, "tag '{}': expected KEY=VALUE", QuoteForMessage(kv));
    }
    pairs.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  const TagSet t = reg.SetTags(ref, pairs, removes);
  const int64_t version = t.version;
  const auto& tags = t.tags;
  if (json) {
    PrintJson(TagsToJson(t).dump());
    return;
  }
  std::printf("%s tags:",
              E(version ? fmt::format("{}/{}", ref.model, version) : ref.model).c_str());
  if (tags.empty()) std::printf(" none");
  for (const auto& [k, v] : tags) std::printf(" %s=%s", E(k).c_str(), E(v).c_str());
  std::printf("\n");
}

}  // namespace

void AddRegistryCommands(CLI::App& app, GlobalOptions& g) {
  // ---- runs
  auto* runs = app.add_subcommand("runs", "List, inspect and compare recorded training runs");
  runs->require_subcommand(1);

  auto lf = std::make_shared<ListFlags>();
  auto* list = runs->add_subcommand(
      "list",
      "Runs, newest first, with status (running, completed, failed, interrupted).\n"
      "Examples:\n  marquee runs list\n  marquee runs list --model ml100k-ease --limit 100 --json");
  list->add_option("--model", lf->model, "Only runs of this model");
  list->add_option("--status", lf->status, "running | completed | failed | interrupted")
      ->check(CLI::IsMember({"running", "completed", "failed", "interrupted"}));
  list->add_option("--limit", lf->limit, "At most this many runs")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  list->add_option("--before", lf->before, "Page back: only runs with a smaller id");
  list->add_flag("--all", lf->all, "Every run (no limit)");
  list->add_flag("--json", lf->json, "Print as one JSON object");
  list->callback([lf, &g] { RunsList(*lf, g); });

  auto show_id = std::make_shared<std::string>();
  auto show_json = std::make_shared<bool>(false);
  auto* show = runs->add_subcommand(
      "show",
      "Everything recorded about one run: config as given and resolved, params, metrics,\n"
      "timings, dataset, host, log. RUN is a run id or a model reference (NAME@ALIAS).");
  show->add_option("run", *show_id, "Run id, or NAME/VERSION, NAME@ALIAS")->required();
  show->add_flag("--json", *show_json, "Print as JSON");
  show->callback([show_id, show_json, &g] { RunsShow(*show_id, *show_json, g); });

  auto cmp_ids = std::make_shared<std::vector<std::string>>();
  auto cmp_json = std::make_shared<bool>(false);
  auto* cmp = runs->add_subcommand(
      "compare",
      "Metrics of several runs side by side, with the params that differ.\n"
      "Example: marquee runs compare 12 13 14   (or model references: recs@production recs/5)");
  cmp->add_option("runs", *cmp_ids, "Run ids or model references")->required();
  cmp->add_flag("--json", *cmp_json, "Print as JSON");
  cmp->callback([cmp_ids, cmp_json, &g] { RunsCompare(*cmp_ids, *cmp_json, g); });

  // ---- models
  auto* models = app.add_subcommand(
      "models",
      "Registered models and versions: list, show, promote and roll back aliases, diff.\n"
      "A model is named NAME (its latest version), NAME@ALIAS or NAME/VERSION.");
  models->require_subcommand(1);

  auto ml_json = std::make_shared<bool>(false);
  AddModelsImportCommand(*models, g);  // cmd_tabular.cc

  auto* mlist = models->add_subcommand("list", "Every model with its versions and aliases");
  mlist->add_flag("--json", *ml_json, "Print as JSON");
  mlist->callback([ml_json, &g] { ModelsList(*ml_json, g); });

  auto ms_ref = std::make_shared<std::string>();
  auto ms_json = std::make_shared<bool>(false);
  auto* mshow = models->add_subcommand(
      "show", "A model (aliases, their history, the latest version) or one version (NAME/3)");
  mshow->add_option("ref", *ms_ref, "NAME, NAME@ALIAS or NAME/VERSION")->required();
  mshow->add_flag("--json", *ms_json, "Print as JSON");
  mshow->callback([ms_ref, ms_json, &g] { ModelsShow(*ms_ref, *ms_json, g); });

  auto mv_ref = std::make_shared<std::string>();
  auto mv_json = std::make_shared<bool>(false);
  auto* mvers = models->add_subcommand("versions", "Every version of a model, oldest first");
  mvers->add_option("name", *mv_ref, "Model name")->required();
  mvers->add_flag("--json", *mv_json, "Print as JSON");
  mvers->callback([mv_ref, mv_json, &g] { ModelsVersions(*mv_ref, *mv_json, g); });

  struct PromoteFlags {
    std::string ref, version, alias, note;
    std::vector<std::string> gates;
    bool json = false;
  };
  auto pf = std::make_shared<PromoteFlags>();
  auto* promote = models->add_subcommand(
      "promote",
      "Point an alias at a version, after loading its artifact, verifying its digest and\n"
      "scoring a smoke request. --require gates compare a metric with a number or with the\n"
      "version another alias holds (same dataset and protocol required).\n"
      "Examples:\n"
      "  marquee models promote recs 3 --alias production\n"
      "  marquee models promote recs@staging --alias production --require "
      "\"recall@20>=production\"\n"
      "  marquee models promote recs/4 --alias staging --require \"ndcg@100 > 0.3\"");
  promote->add_option("model", pf->ref, "NAME, NAME/VERSION or NAME@ALIAS")->required();
  promote->add_option("version", pf->version, "Version (N or vN) or alias, when MODEL is a name");
  promote->add_option("--alias", pf->alias, "The alias to move (production, staging, ...)")
      ->required();
  promote->add_option("--require", pf->gates,
                      "Gate METRIC OP VALUE; OP: >= > <= <; VALUE: a number or an alias "
                      "(repeatable)");
  promote->add_option("--note", pf->note, "Why, recorded in the alias history");
  promote->add_flag("--json", pf->json, "Print as JSON");
  promote->callback([pf, &g] {
    Registry reg = OpenRegistry(ResolveHome(g.home));
    std::string ref = pf->ref;
    if (!pf->version.empty()) {
      ModelRef base = ParseModelRef(pf->ref);
      if (base.version > 0 || !base.alias.empty()) {
        Fail(ErrorCode::kInvalidArgument, "'{}' already names a version; drop '{}'", pf->ref,
             pf->version);
      }
      VersionRecord v = reg.ResolveIn(base.model, pf->version);
      ref = fmt::format("{}/{}", v.model_name, v.version);
    }
    PrintMove(reg.Promote(ref, pf->alias, pf->gates, pf->note), pf->json);
  });

  auto rf = std::make_shared<PromoteFlags>();
  auto* rollback = models->add_subcommand(
      "rollback",
      "Move an alias back to the version it held before (repeat to go further back).\n"
      "Example: marquee models rollback recs --alias production");
  rollback->add_option("model", rf->ref, "Model name")->required();
  rollback->add_option("--alias", rf->alias, "The alias to move back")->required();
  rollback->add_option("--note", rf->note, "Why, recorded in the alias history");
  rollback->add_flag("--json", rf->json, "Print as JSON");
  rollback->callback([rf, &g] {
    Registry reg = OpenRegistry(ResolveHome(g.home));
    PrintMove(reg.Rollback(ParseModelRef(rf->ref).model, rf->alias, rf->note), rf->json);
  });

  struct DiffFlags {
    std::string model, a, b;
    bool json = false;
  };
  auto df = std::make_shared<DiffFlags>();
  auto* diff =
      models->add_subcommand("diff",
                             "Params, metrics, dataset and protocol of two versions.\n"
                             "Example: marquee models diff recs 3 4   (or: recs production 4)");
  diff->add_option("model", df->model, "Model name")->required();
  diff->add_option("v1", df->a, "Version (N, vN) or alias")->required();
  diff->add_option("v2", df->b, "Version (N, vN) or alias")->required();
  diff->add_flag("--json", df->json, "Print as JSON");
  diff->callback([df, &g] { ModelsDiff(df->model, df->a, df->b, df->json, g); });

  auto desc = std::make_shared<std::pair<std::string, std::string>>();
  auto desc_json = std::make_shared<bool>(false);
  auto* describe = models->add_subcommand(
      "describe", "Set a model's description (also: [model] description in the config)");
  describe->add_option("model", desc->first, "Model name")->required();
  describe->add_option("text", desc->second, "Description")->required();
  describe->add_flag("--json", *desc_json, "Print {\"model\": NAME, \"description\": TEXT}");
  describe->callback([desc, desc_json, &g] {
    Registry reg = OpenRegistry(ResolveHome(g.home));
    const std::string model = ParseModelRef(desc->first).model;
    reg.SetDescription(model, desc->second);
    if (*desc_json) {
      PrintJson(nlohmann::json{{"model", model}, {"description", desc->second}}.dump());
    }
  });

  struct TagFlags {
    std::string ref;
    std::vector<std::string> sets, removes;
    bool json = false;
  };
  auto tf = std::make_shared<TagFlags>();
  auto* tag = models->add_subcommand(
      "tag",
      "Set or remove tags on a model (NAME) or a version (NAME/3, NAME@production).\n"
      "Example: marquee models tag recs/3 reviewed=yes ticket=REC-12");
  tag->add_option("ref", tf->ref, "NAME, NAME/VERSION or NAME@ALIAS")->required();
  tag->add_option("tags", tf->sets, "KEY=VALUE ...");
  tag->add_option("--remove", tf->removes, "Remove a tag (repeatable)");
  tag->add_flag("--json", tf->json, "Print as JSON");
  tag->callback([tf, &g] { ModelsTag(tf->ref, tf->sets, tf->removes, tf->json, g); });

  // ---- gc
  struct GcFlags {
    bool dry_run = false, check = false, json = false, force = false;
  };
  auto gf = std::make_shared<GcFlags>();
  auto* gc = app.add_subcommand(
      "gc",
      "Remove model artifacts no version or run refers to, and leftovers of interrupted\n"
      "writes (artifacts, dataset, tabular and bandit snapshots) whose writer is gone. Runs\n"
      "whose process died are marked interrupted. Refuses when the registry refers to none of\n"
      "the artifacts present (an empty or foreign registry) unless --force. --check verifies\n"
      "the registry instead (every version's artifact present and intact, no dangling alias).");
  gc->add_flag("--dry-run", gf->dry_run, "Say what would be removed; remove nothing");
  gc->add_flag("--check", gf->check, "Check consistency only (exit 6 if a problem is found)");
  gc->add_flag("--json", gf->json, "Print as JSON");
  gc->add_flag("--force", gf->force,
               "Remove unreferenced artifacts even when the registry refers to none of them");
  gc->callback([gf, &g] {
    Registry reg = OpenRegistry(ResolveHome(g.home));
    if (gf->check) {
      auto problems = reg.CheckConsistency();
      if (gf->json) {
        PrintJson(nlohmann::json{{"ok", problems.empty()}, {"problems", problems}}.dump());
      } else if (problems.empty()) {
        std::printf("Registry %s is consistent.\n", E(reg.DescribeStore()).c_str());
      } else {
        for (const auto& p : problems) std::printf("problem: %s\n", E(p).c_str());
      }
      if (!problems.empty()) {
        Fail(ErrorCode::kCorruption, "the registry has {} problem(s)", problems.size());
      }
      return;
    }
    GcOptions o;
    o.dry_run = gf->dry_run;
    o.force = gf->force;
    GcReport r = reg.Gc(o);
    if (gf->json) {
      PrintJson(r.ToJson().dump());
      return;
    }
    const char* verb = gf->dry_run ? "Would remove" : "Removed";
    std::printf("%s %zu artifact(s) and %zu temporary file(s), %.1f MiB; kept %zu referenced.\n",
                verb, r.removed.size(), r.temporaries.size(),
                static_cast<double>(r.bytes) / (1 << 20), r.kept);
    for (const auto& d : r.removed) std::printf("  %s\n", d.c_str());
    for (const auto& t : r.temporaries) std::printf("  %s\n", E(t).c_str());
    for (const auto& s : r.skipped) std::printf("  kept %s\n", E(s).c_str());
    for (const auto& w : r.warnings) std::printf("warning: %s\n", E(w).c_str());
    if (!r.interrupted_runs.empty()) {
      std::printf("%s %zu run(s) whose process is gone as interrupted.\n",
                  gf->dry_run ? "Would mark" : "Marked", r.interrupted_runs.size());
    }
  });
}

}  // namespace marquee::cli

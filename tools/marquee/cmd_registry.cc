// marquee runs list|show|compare, marquee models list|show|versions|promote|rollback|diff|
// describe|tag|history, marquee gc. Thin: every decision lives in src/registry.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

#include "commands.h"
#include "common/text.h"
#include "control_source.h"
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

// Text of a JSON time (ISO 8601 or null).
std::string TimeOf(const nlohmann::json& t) { return t.is_string() ? t.get<std::string>() : "-"; }

// How long a run took, from its JSON times.
std::string Duration(const nlohmann::json& run) {
  const auto& a = run["started_at"];
  const auto& b = run["ended_at"];
  if (!a.is_string() || !b.is_string()) return "-";
  auto start = ParseIsoUtc(a.get<std::string>()), end = ParseIsoUtc(b.get<std::string>());
  if (!start || !end) return "-";
  const int64_t s = *end - *start;
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

// The first `n` metrics of a run or version (JSON "metrics" in "metric_order").
std::string MetricSummary(const nlohmann::json& j, size_t n) {
  std::string s;
  size_t i = 0;
  for (const auto& k : j["metric_order"]) {
    if (i == n) break;
    const std::string name = k.get<std::string>();
    auto m = j["metrics"].find(name);
    if (m == j["metrics"].end() || !m->is_number()) continue;
    s += fmt::format("{}{} {:.4f}", i++ ? ", " : "", E(name), m->get<double>());
  }
  return s;
}

// "-" for null, else the integer.
std::string IntOr(const nlohmann::json& v, const char* none = "-") {
  return v.is_number_integer() ? std::to_string(v.get<int64_t>()) : none;
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

// --- runs

struct ListFlags {
  std::string model, status, since, until, sort;
  std::vector<std::string> metrics, params;
  int64_t limit = 20, before = 0, offset = 0;
  bool all = false, json = false;
};

void RunsList(const ListFlags& f, const GlobalOptions& g) {
  ControlSource source(g);
  RunsListQuery q;
  q.model = f.model;
  q.status = f.status;
  q.limit = f.limit;
  q.before = f.before;
  q.all = f.all;
  q.metrics = f.metrics;
  q.since = f.since;
  q.until = f.until;
  q.sort = f.sort;
  q.params = f.params;
  q.offset = f.offset;
  const nlohmann::json page = source.RunsList(q);
  if (f.json) {
    PrintJson(page.dump());
    return;
  }
  const auto& runs = page["runs"];
  if (runs.empty()) {
    std::printf("No runs yet. Train a model with: marquee train CONFIG.toml\n");
    return;
  }
  std::printf("%6s  %-20s %4s  %-11s %-10s %-12s %-20s %7s  %s\n", "RUN", "MODEL", "VER", "STATUS",
              "FAMILY", "DATASET", "STARTED", "TIME", "METRICS");
  for (const auto& r : runs) {
    const std::string dataset = r["dataset_id"].get<std::string>();
    std::printf("%6lld  %-20s %4s  %-11s %-10s %-12s %-20s %7s  %s\n",
                static_cast<long long>(r["id"].get<int64_t>()),
                E(r["model"].get<std::string>()).c_str(), IntOr(r["version"]).c_str(),
                r["status"].get<std::string>().c_str(), E(r["family"].get<std::string>()).c_str(),
                dataset.empty() ? "-" : E(ShortId(dataset)).c_str(),
                TimeOf(r["started_at"]).c_str(), Duration(r).c_str(), MetricSummary(r, 2).c_str());
  }
  if (page["next_before"].is_number_integer()) {
    std::printf("(%zu of %lld runs; older: marquee runs list --before %lld)\n", runs.size(),
                static_cast<long long>(page["total"].get<int64_t>()),
                static_cast<long long>(page["next_before"].get<int64_t>()));
  } else if (page.value("next_offset", nlohmann::json()).is_number_integer()) {
    std::printf("(%zu of %lld runs; next: marquee runs list --offset %lld)\n", runs.size(),
                static_cast<long long>(page["total"].get<int64_t>()),
                static_cast<long long>(page["next_offset"].get<int64_t>()));
  }
}

void RunsShow(const std::string& id_text, bool json, const GlobalOptions& g) {
  ControlSource source(g);
  const nlohmann::json r = source.RunShow(id_text);
  if (json) {
    PrintJson(r.dump());
    return;
  }
  auto text = [](const nlohmann::json& v) {
    return v.is_string() ? v.get<std::string>() : v.dump();
  };
  const std::string model = r["model"].get<std::string>();
  std::printf("Run %lld  %s\n", static_cast<long long>(r["id"].get<int64_t>()),
              r["status"].get<std::string>().c_str());
  std::printf(
      "  model       %s%s\n", E(model).c_str(),
      r["version"].is_number_integer()
          ? fmt::format(" (registered as {}/{})", E(model), r["version"].get<int64_t>()).c_str()
          : "");
  std::printf("  family      %s\n  params      %s\n", E(text(r["family"])).c_str(),
              E(r["params"].dump()).c_str());
  const std::string dataset = text(r["dataset_id"]), protocol = text(r["protocol"]),
                    key = text(r["protocol_key"]);
  std::printf(
      "  dataset     %s\n  protocol    %s (%s)\n", dataset.empty() ? "-" : E(dataset).c_str(),
      protocol.empty() ? "-" : E(protocol).c_str(), key.empty() ? "-" : E(ShortId(key)).c_str());
  const auto& given = r["config_given"];
  if (given.is_object() && given.contains("file")) {
    std::printf("  config      %s", E(text(given["file"])).c_str());
    for (const auto& o : given.value("overrides", nlohmann::json::array())) {
      std::printf(" --set %s", E(text(o)).c_str());
    }
    std::printf("\n");
  }
  std::printf("  started     %s on %s (pid %lld), %s\n", TimeOf(r["started_at"]).c_str(),
              E(text(r["host"])).c_str(), static_cast<long long>(r["pid"].get<int64_t>()),
              E(text(r["code_version"])).c_str());
  std::printf("  ended       %s (%s)\n", TimeOf(r["ended_at"]).c_str(), Duration(r).c_str());
  if (const std::string a = text(r["artifact"]); !a.empty()) {
    std::printf("  artifact    %s\n", E(a).c_str());
  }
  if (!r["metric_order"].empty()) {
    std::printf("  metrics\n");
    for (const auto& k : r["metric_order"]) {
      const auto& v = r["metrics"][k.get<std::string>()];
      std::printf("    %-16s %.4f\n", E(k.get<std::string>()).c_str(),
                  v.is_number() ? v.get<double>() : std::nan(""));
    }
  }
  if (!r["timings"].empty()) {
    std::printf("  timings    ");
    for (const auto& [k, v] : r["timings"].items())
      std::printf(" %s %.2fs", E(k).c_str(), v.is_number() ? v.get<double>() : 0.0);
    std::printf("\n");
  }
  const std::string log = text(r["log"]);
  if (!log.empty()) {
    std::printf("  log\n");
    size_t start = 0;
    while (start < log.size()) {
      size_t end = log.find('\n', start);
      if (end == std::string::npos) end = log.size();
      std::printf("    %s\n", E(log.substr(start, end - start)).c_str());
      start = end + 1;
    }
  }
}

void RunsCompare(const std::vector<std::string>& ids_text, bool json, const GlobalOptions& g) {
  ControlSource source(g);
  const nlohmann::json c = source.RunsCompare(ids_text);
  if (json) {
    PrintJson(c.dump());
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
  ControlSource source(g);
  const nlohmann::json list = source.ModelsList();
  if (json) {
    PrintJson(list.dump());
    return;
  }
  const auto& models = list["models"];
  if (models.empty()) {
    std::printf("No models yet. `marquee train CONFIG.toml` registers one.\n");
    return;
  }
  std::printf("%-24s %8s %7s  %-20s  %s\n", "NAME", "VERSIONS", "LATEST", "UPDATED", "ALIASES");
  for (const auto& m : models) {
    std::string aliases;
    for (const auto& [a, v] : m["aliases"].items()) {
      aliases += fmt::format("{}{}=v{}", aliases.empty() ? "" : ", ", E(a), v.get<int64_t>());
    }
    std::printf("%-24s %8lld %7s  %-20s  %s\n", E(m["name"].get<std::string>()).c_str(),
                static_cast<long long>(m["versions"].get<int64_t>()),
                m["latest_version"].is_number_integer()
                    ? fmt::format("v{}", m["latest_version"].get<int64_t>()).c_str()
                    : "-",
                TimeOf(m["updated_at"]).c_str(), aliases.empty() ? "-" : aliases.c_str());
  }
}

// One version as VersionView gives it.
void PrintVersion(const nlohmann::json& v) {
  std::vector<std::string> aliases;
  for (const auto& a : v["aliases"]) aliases.push_back(a.get<std::string>());
  std::printf("%s/%lld%s\n", E(v["model"].get<std::string>()).c_str(),
              static_cast<long long>(v["version"].get<int64_t>()),
              aliases.empty() ? "" : (" (" + E(Join(aliases)) + ")").c_str());
  std::printf("  family      %s\n  params      %s\n", E(v["family"].get<std::string>()).c_str(),
              E(v["params"].dump()).c_str());
  const std::string dataset = v["dataset_id"].get<std::string>();
  std::printf("  dataset     %s%s\n", dataset.empty() ? "-" : E(dataset).c_str(),
              v["dataset_name"].is_string()
                  ? (" (" + E(v["dataset_name"].get<std::string>()) + ")").c_str()
                  : "");
  std::printf("  protocol    %s (%s)\n", E(v["protocol"].get<std::string>()).c_str(),
              E(ShortId(v["protocol_key"].get<std::string>())).c_str());
  std::printf("  run         %s\n", IntOr(v["run_id"]).c_str());
  std::printf("  artifact    %s\n",
              v["artifact_path"].is_string()
                  ? E(v["artifact_path"].get<std::string>()).c_str()
                  : ("(not a digest: " + E(v["artifact"].get<std::string>()) + ")").c_str());
  std::printf("  created     %s\n", TimeOf(v["created_at"]).c_str());
  for (const auto& [k, val] : v["tags"].items()) {
    std::printf("  tag         %s=%s\n", E(k).c_str(), E(val.get<std::string>()).c_str());
  }
  std::printf("  metrics\n");
  for (const auto& k : v["metric_order"]) {
    auto m = v["metrics"].find(k.get<std::string>());
    if (m != v["metrics"].end() && m->is_number()) {
      std::printf("    %-16s %.4f\n", E(k.get<std::string>()).c_str(), m->get<double>());
    }
  }
}

void ModelsShow(const std::string& ref_text, bool json, const GlobalOptions& g) {
  ControlSource source(g);
  ModelRef ref = ParseModelRef(ref_text);
  if (ref.version > 0 || !ref.alias.empty()) {
    const nlohmann::json v =
        source.Version(ref.model, ref.version > 0 ? std::to_string(ref.version) : ref.alias);
    if (json) {
      PrintJson(v.dump());
    } else {
      PrintVersion(v);
    }
    return;
  }
  const nlohmann::json o = source.ModelOverview(ref.model);
  if (json) {
    PrintJson(o.dump());
    return;
  }
  const std::string name = o["name"].get<std::string>(),
                    description = o["description"].get<std::string>();
  std::printf("Model '%s'%s\n", E(name).c_str(),
              description.empty() ? "" : (": " + E(description)).c_str());
  std::printf("  versions    %lld (latest v%s), created %s\n",
              static_cast<long long>(o["versions"].get<int64_t>()),
              IntOr(o["latest_version"], "0").c_str(), TimeOf(o["created_at"]).c_str());
  for (const auto& [k, v] : o["tags"].items())
    std::printf("  tag         %s=%s\n", E(k).c_str(), E(v.get<std::string>()).c_str());
  if (o["aliases"].empty()) {
    std::printf("  aliases     none (marquee models promote %s VERSION --alias production)\n",
                E(name).c_str());
  }
  for (const auto& [a, v] : o["aliases"].items()) {
    std::printf("  @%-10s v%lld\n", E(a).c_str(), static_cast<long long>(v.get<int64_t>()));
  }
  const auto& history = o["alias_history"];
  if (!history.empty()) {
    std::printf("  alias history (newest first)\n");
    size_t shown = 0;
    for (auto it = history.rbegin(); it != history.rend() && shown < 10; ++it, ++shown) {
      const auto& m = *it;
      const std::string note = m["note"].get<std::string>();
      std::printf("    %s  %-8s %-10s %s -> v%lld%s\n", TimeOf(m["at"]).c_str(),
                  E(m["action"].get<std::string>()).c_str(),
                  E(m["alias"].get<std::string>()).c_str(),
                  m["from_version"].is_number_integer()
                      ? fmt::format("v{}", m["from_version"].get<int64_t>()).c_str()
                      : "(unset)",
                  static_cast<long long>(m["to_version"].get<int64_t>()),
                  note.empty() ? "" : ("  " + E(note)).c_str());
    }
  }
  if (o["latest"].is_object()) {
    std::printf("  latest: ");
    PrintVersion(o["latest"]);
  }
}

void ModelsVersions(const std::string& ref_text, bool json, const GlobalOptions& g) {
  ControlSource source(g);
  const nlohmann::json list = source.Versions(ref_text);
  if (json) {
    PrintJson(list.dump());
    return;
  }
  std::printf("%5s  %6s  %-10s %-12s %-20s %-18s %s\n", "VER", "RUN", "FAMILY", "DATASET",
              "CREATED", "ALIASES", "METRICS");
  for (const auto& v : list["versions"]) {
    std::vector<std::string> aliases;
    for (const auto& a : v["aliases"]) aliases.push_back(a.get<std::string>());
    const std::string a = Join(aliases), dataset = v["dataset_id"].get<std::string>();
    std::printf("%5lld  %6s  %-10s %-12s %-20s %-18s %s\n",
                static_cast<long long>(v["version"].get<int64_t>()), IntOr(v["run_id"]).c_str(),
                E(v["family"].get<std::string>()).c_str(),
                dataset.empty() ? "-" : E(ShortId(dataset)).c_str(),
                TimeOf(v["created_at"]).c_str(), a.empty() ? "-" : E(a).c_str(),
                MetricSummary(v, 3).c_str());
  }
}

// A promote or rollback as PromoteResult::ToJson gives it.
void PrintMove(const nlohmann::json& r, bool json) {
  if (json) {
    PrintJson(r.dump());
    return;
  }
  for (const auto& c : r["checks"]) std::printf("  ok  %s\n", E(c.get<std::string>()).c_str());
  const std::string action = r["action"].get<std::string>();
  if (action == "none") return;
  std::printf("%s@%s: %s -> v%lld (%s)\n", E(r["model"].get<std::string>()).c_str(),
              E(r["alias"].get<std::string>()).c_str(),
              r["from_version"].is_number_integer()
                  ? fmt::format("v{}", r["from_version"].get<int64_t>()).c_str()
                  : "(unset)",
              static_cast<long long>(r["to_version"].get<int64_t>()), action.c_str());
}

void ModelsDiff(const std::string& model_text, const std::string& a_text, const std::string& b_text,
                bool json, const GlobalOptions& g) {
  ControlSource source(g);
  const std::string model = ParseModelRef(model_text).model;
  const nlohmann::json d = source.Diff(model, a_text, b_text);
  if (json) {
    PrintJson(d.dump());
    return;
  }
  const std::string an = fmt::format("v{}", d["a"]["version"].get<int64_t>()),
                    bn = fmt::format("v{}", d["b"]["version"].get<int64_t>());
  std::printf("%s: %s (run %s) vs %s (run %s)\n", E(model).c_str(), an.c_str(),
              IntOr(d["a"]["run_id"]).c_str(), bn.c_str(), IntOr(d["b"]["run_id"]).c_str());
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
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& kv : sets) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      Fail(ErrorCode::kInvalidArgument, "tag '{}': expected KEY=VALUE", QuoteForMessage(kv));
    }
    pairs.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  ControlSource source(g);
  const nlohmann::json t = source.SetTags(ref_text, pairs, removes);
  if (json) {
    PrintJson(t.dump());
    return;
  }
  const std::string model = t["model"].get<std::string>();
  std::printf("%s tags:", E(t["version"].is_number_integer()
                                ? fmt::format("{}/{}", model, t["version"].get<int64_t>())
                                : model)
                              .c_str());
  if (t["tags"].empty()) std::printf(" none");
  for (const auto& [k, v] : t["tags"].items()) {
    std::printf(" %s=%s", E(k).c_str(), E(v.get<std::string>()).c_str());
  }
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
      "Examples:\n  marquee runs list\n  marquee runs list --model ml100k-ease --limit 100 --json\n"
      "  marquee runs list --metric 'recall@20>=0.4' --since 2026-12-01\n"
      "  marquee runs list --sort=-metric:recall@20 --param factors=64 --limit 10\n"
      "  marquee --server http://127.0.0.1:8080 runs list   (a server's runs, same output)");
  list->add_option("--model", lf->model, "Only runs of this model");
  list->add_option("--status", lf->status, "running | completed | failed | interrupted")
      ->check(CLI::IsMember({"running", "completed", "failed", "interrupted"}));
  list->add_option("--limit", lf->limit, "At most this many runs")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  list->add_option("--before", lf->before, "Page back: only runs with a smaller id");
  list->add_option("--metric", lf->metrics,
                   "Only runs whose final metric passes: METRIC OP NUMBER, e.g. 'auc>=0.75' "
                   "(repeatable: all must hold)");
  list->add_option("--since", lf->since, "Only runs started at or after (ISO 8601 or Unix s)");
  list->add_option("--until", lf->until, "Only runs started before (ISO 8601 or Unix s)");
  list->add_option("--sort", lf->sort,
                   "Order: -started_at (default, newest first), started_at, metric:KEY "
                   "(ascending) or -metric:KEY (descending; runs without it last)");
  list->add_option("--param", lf->params,
                   "Only runs whose param KEY equals VALUE: KEY=VALUE (repeatable: all must hold)");
  list->add_option("--offset", lf->offset, "Skip this many runs of the order (paging)")
      ->check(CLI::NonNegativeNumber);
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
    ControlSource source(g);
    PrintMove(source.Promote(pf->ref, pf->version, pf->alias, pf->gates, pf->note), pf->json);
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
    ControlSource source(g);
    PrintMove(source.Rollback(rf->ref, rf->alias, rf->note), rf->json);
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
      "writes (artifacts, dataset, tabular and bandit snapshots, saved HNSW graphs) whose\n"
      "writer is gone. Runs whose process died are marked interrupted. Refuses when the\n"
      "registry refers to none of the artifacts present (an empty or foreign registry) unless\n"
      "--force. --check verifies the registry instead (every version's artifact present and\n"
      "intact, no dangling alias).");
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

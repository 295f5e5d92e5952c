// marquee decisions export: the contextual-bandit decision log ($home/decisions, written by
// `marquee serve --bandit ...`) as Vowpal Wabbit DSJSON or our JSONL (docs/formats/decisions.md).
// Opens the log read-only, so it runs beside a live server.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

#include "bandits/decision_log.h"
#include "client/http_client.h"
#include "commands.h"
#include "control_source.h"
#include "data/catalog.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "serving/route_match.h"
#include "state/online_state.h"

namespace marquee::cli {
namespace {

struct ExportFlags {
  std::string format = "dsjson";
  std::string out;
  std::string since;  // Unix seconds or ISO 8601 (empty: from the start)
  bool include_open = false;
  bool json = false;  // with --out: a summary object on stdout
};

// `marquee --server URL decisions export`: GET /api/v1/decisions streamed to stdout or --out
// (written atomically) as it arrives. The server leaves open decisions out without counting
// them, so the --json summary's "open" is null.
void RunExportRemote(const ExportFlags& f, const GlobalOptions& g) {
  std::string target = "/api/v1/decisions?format=" + PercentEncode(f.format);
  if (!f.since.empty()) target += "&since=" + PercentEncode(f.since);
  if (f.include_open) target += "&include_open=1";
  std::unique_ptr<WritableFile> file;
  if (!f.out.empty()) file = Env::Default()->NewWritableFile(f.out);
  size_t written = 0;
  ControlSource source(g);
  source.Client().Stream("GET", target, [&](std::string_view data) {
    written += static_cast<size_t>(std::count(data.begin(), data.end(), '\n'));
    if (file) {
      file->Append(data);
    } else if (std::fwrite(data.data(), 1, data.size(), stdout) != data.size()) {
      Fail(ErrorCode::kIOError, "decisions export: cannot write to stdout");
    }
    return true;
  });
  if (file) file->Commit();
  std::fflush(stdout);
  if (f.json && file) {
    PrintJson(nlohmann::json{
        {"written", written}, {"open", nullptr}, {"format", f.format}, {"out", f.out}}
                  .dump());
    return;
  }
  if (!g.quiet) {
    spdlog::info("decisions export: {} decisions written ({}) from {}", written, f.format,
                 source.Client().base_url());
  }
}

void RunExport(const ExportFlags& f, const GlobalOptions& g) {
  if (f.format != "dsjson" && f.format != "jsonl" && f.format != "bandit-jsonl") {
    Fail(ErrorCode::kInvalidArgument, "--format: '{}' is not one of dsjson, jsonl, bandit-jsonl",
         f.format);
  }
  int64_t since = 0;
  if (!f.since.empty()) {
    const std::optional<int64_t> t = ParseTime(f.since);
    if (!t || *t < 0) {
      Fail(ErrorCode::kInvalidArgument,
           "--since '{}': expected Unix seconds or an ISO 8601 time like 2026-12-05T07:05:41Z",
           f.since);
    }
    since = *t;
  }
  if (!g.server.empty()) {
    RunExportRemote(f, g);
    return;
  }
  const std::string home = ResolveHome(g.home);
  auto log = OpenDecisionStoreForRead(home);  // RocksDB or Redis: state/online_state.h
  std::unique_ptr<WritableFile> file;
  if (!f.out.empty()) file = Env::Default()->NewWritableFile(f.out);
  std::string buf;
  size_t written = 0, open = 0;
  auto flush = [&](bool force) {
    if (!force && buf.size() < (1 << 20)) return;
    if (file) {
      file->Append(buf);
    } else if (!buf.empty() && std::fwrite(buf.data(), 1, buf.size(), stdout) != buf.size()) {
      Fail(ErrorCode::kIOError, "decisions export: cannot write to stdout");
    }
    buf.clear();
  };
  log->ForEach(since * 1000, [&](const Decision& d) {
    const bool is_open = d.outcome.kind == OutcomeKind::kOpen;
    if (is_open) ++open;
    if (f.format == "dsjson") {
      if (is_open) return true;  // no label yet
      buf += ToDsjson(d).dump();
    } else if (f.format == "bandit-jsonl") {
      if (is_open) return true;
      buf += ToBanditJsonl(d).dump();
    } else {
      if (is_open && !f.include_open) return true;
      buf += ToJsonl(d).dump();
    }
    buf += '\n';
    ++written;
    flush(false);
    return true;
  });
  flush(true);
  if (file) file->Commit();
  std::fflush(stdout);
  if (f.json && file) {
    PrintJson(
        nlohmann::json{{"written", written}, {"open", open}, {"format", f.format}, {"out", f.out}}
            .dump());
    return;
  }
  if (!g.quiet) {
    spdlog::info(
        "decisions export: {} decisions written ({}), {} still open{}", written, f.format, open,
        open > 0 && !(f.format == "jsonl" && f.include_open) ? " (not written: no reward yet)"
                                                             : "");
  }
}

}  // namespace

void AddDecisionsCommands(CLI::App& app, GlobalOptions& g) {
  CLI::App* decisions = app.add_subcommand(
      "decisions", "The contextual-bandit decision log of `marquee serve --bandit`");
  decisions->require_subcommand(1);
  auto f = std::make_shared<ExportFlags>();
  CLI::App* exp = decisions->add_subcommand(
      "export",
      "Write the logged decisions with their rewards, oldest first (read-only: safe beside a "
      "running server).\n\n"
      "Formats: dsjson (Vowpal Wabbit's DSJSON, one JSON object per line, e.g. for\n"
      "`vw --cb_explore_adf --dsjson`); jsonl (Marquee's record with the outcome);\n"
      "bandit-jsonl (the bandit log `dataset import --format bandit-jsonl` and `train` read,\n"
      "to retrain a policy in batch from what it served). Decisions\n"
      "whose reward window is still open have no label and are left out (jsonl: see\n"
      "--include-open). docs/formats/decisions.md\n\n"
      "Examples:\n"
      "  marquee decisions export --format dsjson --out decisions.dsjson\n"
      "  marquee decisions export --format jsonl --since 2026-01-01T00:00:00Z\n"
      "  marquee decisions export --format bandit-jsonl --out served.jsonl");
  exp->add_option("--format", f->format, "dsjson, jsonl or bandit-jsonl")
      ->check(CLI::IsMember({"dsjson", "jsonl", "bandit-jsonl"}))
      ->capture_default_str();
  exp->add_option("--out", f->out, "Write to FILE (atomically) instead of stdout");
  exp->add_option("--since", f->since,
                  "Only decisions taken at or after this time: Unix seconds or ISO 8601 "
                  "(2026-12-05T07:05:41Z)");
  exp->add_flag("--include-open", f->include_open,
                "jsonl: also write decisions still waiting for a reward (outcome kind \"open\")");
  exp->add_flag("--json", f->json,
                "With --out: print {\"written\": N, \"open\": N, \"format\": ..., \"out\": "
                "FILE}; without --out the records on stdout are JSON already");
  exp->callback([f, &g] { RunExport(*f, g); });
}

}  // namespace marquee::cli

// Views: what the control plane answers, as JSON, computed the same way for the HTTP API
// (src/control/*_routes.cc) and for the local CLI (tools/marquee). The CLI prints text from
// this JSON whether it came from a view in-process or from a server over HTTP, so
// `marquee runs list` and `marquee --server URL runs list` print the same thing.
//
// Each view is a pure function of the store's state: it reads through the Registry (or the
// home's catalogs and logs) given, which the caller holds for its own thread. Errors are the
// library's (kNotFound for an unknown run/model/experiment/dataset, kInvalidArgument for a bad
// query). Times are ISO 8601 UTC text (registry/json.h).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "data/readers.h"
#include "registry/registry.h"
#include "tabular/table.h"

namespace marquee {

// --- runs

// `runs list` and GET /api/v1/runs.
struct RunsListQuery {
  std::string model;   // a model name or reference (its model part); "" for every model
  std::string status;  // a RunStatus name; "" for any
  int64_t limit = 20;
  int64_t before = 0;  // keyset paging: runs older than this id
  bool all = false;    // no limit
  // Thresholds on final metric values, all of which must hold ("auc>=0.7"; ParseMetricThreshold).
  std::vector<std::string> metrics;
  // Start-time bounds: ISO 8601 or Unix seconds ("" for none); since inclusive, until exclusive.
  std::string since, until;
  // The order: "-started_at" (also ""; newest first, paged by `before`), "started_at",
  // "metric:KEY" (ascending) or "-metric:KEY" (descending); runs without the metric come last.
  std::string sort;
  // Exact matches on the run's top-level params, each "KEY=VALUE" (all must hold).
  std::vector<std::string> params;
  int64_t offset = 0;  // runs of the ordered listing skipped (paging any order)

  // The query string of GET /api/v1/runs ("?model=...&limit=20&metric=auc%3E%3D0.7"), and back.
  // FromQuery throws kInvalidArgument naming a parameter it does not know or cannot parse.
  std::string ToQueryString() const;
  static RunsListQuery FromQuery(const std::vector<std::pair<std::string, std::string>>& q);
};
// {"runs": [...], "total": N, "next_before": id|null, "next_offset": N|null} (RunPageToJson).
// next_before pages the default order only; next_offset is the offset of the next page (null
// at the end, and when paging by `before`). kInvalidArgument for a bad sort, param or `before`
// with another order.
nlohmann::json RunsListView(Registry& reg, const RunsListQuery& q);
// A RunsListQuery::sort text as the store's order and metric; kInvalidArgument naming the text.
std::pair<RunQuery::Sort, std::string> ParseRunsSort(const std::string& text);
// A run id, or a model reference whose version's run is meant. kNotFound for a version
// registered without a run.
int64_t RunIdOf(Registry& reg, const std::string& id_or_ref);
// One run with details (RunToJson(r, true)).
nlohmann::json RunShowView(Registry& reg, const std::string& id_or_ref);
// Metrics side by side (Registry::CompareRuns) with ISO times.
nlohmann::json RunsCompareView(Registry& reg, const std::vector<std::string>& ids_or_refs);

// --- models

nlohmann::json ModelsListView(Registry& reg);  // {"models": [...]}
// The model's overview (ModelOverviewToJson); its "latest" version as VersionView gives it.
nlohmann::json ModelOverviewView(Registry& reg, const std::string& name);
// One version (VersionToJson) plus what `models show` prints of it: "dataset_name" (null when
// the dataset is unknown) and "artifact_path" (null when the artifact field is not a digest).
// `version_text`: N, vN, an alias, or a full reference (Registry::ResolveIn).
nlohmann::json VersionView(Registry& reg, const std::string& model,
                           const std::string& version_text);
nlohmann::json VersionsView(Registry& reg, const std::string& model);  // {"model", "versions"}
nlohmann::json DiffView(Registry& reg, const std::string& model, const std::string& a,
                        const std::string& b);
// What a promotion of `version_text` would find, moving nothing: each gate of `gates` evaluated
// by Registry::CheckGate, the comparison the promotion itself makes (with its dataset and
// protocol checks), as {"gate", "passes", "detail"}; "passes" when every gate passes; and the
// version `alias` holds now ("from_version", null when unset or `alias` is ""). The smoke test is
// not run (it loads the artifact; the promotion runs it). kInvalidArgument for a malformed gate,
// kNotFound for an unknown model or version.
nlohmann::json GateCheckView(Registry& reg, const std::string& model,
                             const std::string& version_text, const std::string& alias,
                             const std::vector<std::string>& gates);

// --- experiments

nlohmann::json ExperimentsListView(Registry& reg);                          // {"experiments"}
nlohmann::json ExperimentShowView(Registry& reg, const std::string& name);  // with "history"
// The analysis of `marquee experiments analyze`, from the home's logs (read-only). `progress`
// (may be empty) gets (stage, done, total) as AnalyzeFromHome reports it.
nlohmann::json ExperimentAnalysisView(
    Registry& reg, const std::string& home, const std::string& name,
    const std::function<void(std::string_view, uint64_t, uint64_t)>& progress = {});

// --- datasets

// What `dataset list --json` prints: {"datasets": [interaction snapshots..., bandit logs...]}.
nlohmann::json DatasetsListView(const std::string& home);
// One dataset, as `dataset show --json` prints it: a tabular snapshot's entry with "label",
// "time_col" and "schema" (TabularColumnsJson); else a bandit log's entry with its "stats"; else
// the interaction snapshot of that name or id prefix (DatasetCatalog::Get) with its "stats".
// kNotFound naming the name otherwise.
nlohmann::json DatasetShowView(const std::string& home, const std::string& name);
// Reads the interaction file at `path` with `options` and snapshots it as `name` (what `dataset
// import FILE` does), recording `source` (default: `path`) as where it came from: the entry plus
// format, lines, bad_lines, bad_line_examples and seconds. The import views write a catalog: the
// home must have its registry (the CLI creates one first, cli::CreateRegistryIfMissing).
nlohmann::json ImportDatasetView(const std::string& home, const std::string& name,
                                 const std::string& path, const ReadOptions& options,
                                 const std::string& source = "");
// Removes the interaction snapshot name `name` (the snapshot stays addressable by id); returns
// the entry it had. kNotFound when there is none.
nlohmann::json DeleteDatasetView(const std::string& home, const std::string& name);

// The columns of a tabular snapshot, each ColumnSchema::ToJson plus its "stats"
// (ColumnStats::ToJson): what `dataset show --json` and a tabular import print as "schema".
nlohmann::json TabularColumnsJson(const TabularData& d);
// Reads the tabular CSV at `path` (ReadTabularCsv with `options`) and snapshots it as `name`,
// recording `source` as where it came from: the entry plus "label", "schema" (TabularColumnsJson)
// and "seconds" (what `dataset import --format tabular --json` prints). Errors: the reader's
// (kInvalidArgument naming the line or column, kNotFound for a missing file).
nlohmann::json ImportTabularView(const std::string& home, const std::string& name,
                                 const std::string& path, const TabularReadOptions& options,
                                 const std::string& source);
// Reads the bandit log at `path` in `format` ("bandit-jsonl", or "obd": an Open Bandit Dataset
// campaign CSV with item_context.csv beside it) and snapshots it as `name`: the entry plus
// "stats" (BanditLog::Stats) and "seconds". kInvalidArgument for another format.
nlohmann::json ImportBanditLogView(const std::string& home, const std::string& name,
                                   const std::string& path, const std::string& format,
                                   const std::string& source = "");
// The options of a dataset import, as POST /api/v1/datasets/{name} takes them in its query:
// "format" picks the kind as `dataset import --format` does (tabular; obd or bandit-jsonl; else an
// interaction file), the others are that kind's reader options (interactions: delimiter, header,
// user_col, item_col, value_col, time_col, skip_bad_lines; tabular: label, id_col, time_col,
// type=COL=TYPE and drop=COL (repeatable), delimiter), "source" is recorded as where the data
// came from (default: the path), and "origin" (uploads) is the file name the client read: the
// upload is read under that name (format detection by name) and messages name it.
using ImportParams = std::vector<std::pair<std::string, std::string>>;
// Imports the file at `path` as `name` with `params`, by the views above. `upload`: the file is
// an upload's spool file (format obd, which reads a file beside it, is refused). `progress` gets
// (lines read, total) from the interaction reader. kInvalidArgument naming an option the kind
// does not take or a bad value.
nlohmann::json ImportDatasetFileView(const std::string& home, const std::string& name,
                                     const std::string& path, const ImportParams& params,
                                     bool upload,
                                     const std::function<void(uint64_t, uint64_t)>& progress = {});
// Log2 buckets of `counts`: {"buckets": [{"lo": 1, "hi": 2, "count": N}, {"lo": 2, "hi": 4, ...},
// ...]}, [lo, hi), from [1, 2) up to the bucket of the largest count, empty buckets included (a
// count of 0, if any, is the bucket [0, 1) first). No counts: no buckets.
nlohmann::json Log2Histogram(const std::vector<uint64_t>& counts);
// GET /api/v1/datasets/{name}/histograms, for the dashboard: {"dataset", "snapshot", "kind":
// "interactions", "users", "items", "interactions", "time_range": {"min", "max"} (ISO 8601, null
// without a time column), "activity" (Log2Histogram of interactions per user), "popularity" (per
// item)} of the interaction snapshot `name` (or id prefix). kNotFound when there is none;
// kInvalidArgument naming the kind for a tabular snapshot or a bandit log (no users and items).
nlohmann::json DatasetHistogramsView(const std::string& home, const std::string& name);

}  // namespace marquee

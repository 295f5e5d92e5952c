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
// One dataset: an interaction snapshot's entry with its "stats", else the entry of the tabular
// snapshot or bandit log of that name. kNotFound naming the name otherwise.
nlohmann::json DatasetShowView(const std::string& home, const std::string& name);
// Reads the interaction file at `path` with `options` and snapshots it as `name` (what `dataset
// import FILE` does): the entry plus format, lines, bad_lines, bad_line_examples and seconds.
nlohmann::json ImportDatasetView(const std::string& home, const std::string& name,
                                 const std::string& path, const ReadOptions& options);
// Removes the interaction snapshot name `name` (the snapshot stays addressable by id); returns
// the entry it had. kNotFound when there is none.
nlohmann::json DeleteDatasetView(const std::string& home, const std::string& name);

}  // namespace marquee

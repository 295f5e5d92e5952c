// Registry: the model registry with lineage (docs/formats/registry.md). A facade over a
// MetadataStore (runs, models, versions, aliases, tags) and the ArtifactStore (model files):
//
//   - records every `marquee train` run (running -> completed | failed) with its dataset and
//     registers the trained artifact as the next version of its model;
//   - resolves model references: NAME (the latest version), NAME@ALIAS, NAME/VERSION
//     (VERSION is N or vN);
//   - moves aliases safely: promote and rollback load the version's artifact, verify its
//     digest and score a smoke request before the alias moves; `--require` gates compare
//     metrics with the alias's current holder on the same dataset and protocol;
//   - diffs versions, compares runs, collects garbage (artifacts nothing refers to).
//
// Refusals are kFailedPrecondition errors whose message starts with "refused:" and says why.
// A Registry is used by one thread at a time; any number of processes may share a home.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/model_kind.h"
#include "registry/artifact_store.h"
#include "registry/metadata_store.h"

namespace marquee {

class Env;

// --- references

struct ModelRef {
  std::string model;
  int64_t version = 0;  // set for NAME/VERSION
  std::string alias;    // set for NAME@ALIAS
  std::string ToString() const;
};

// Parses NAME, NAME@ALIAS or NAME/VERSION (VERSION: a positive integer, optionally "v"-prefixed).
// kInvalidArgument with the accepted forms otherwise.
ModelRef ParseModelRef(std::string_view text);
// Model names and aliases follow the catalog name rule (ValidCatalogName in data/catalog.h:
// [A-Za-z0-9._-]{1,128}, not starting with '-'), aliases are not all digits either (they would
// read as versions). kInvalidArgument otherwise.
void ValidateModelName(std::string_view name);
void ValidateAlias(std::string_view alias);

// --- gates

// "recall@20>=production", "ndcg@100 > 0.35", "recall@20>=staging": METRIC OP (NUMBER | ALIAS)
// with OP one of >=, >, <=, <.
struct Gate {
  std::string metric;
  std::string op;
  std::optional<double> threshold;  // a number...
  std::string alias;                // ...or the alias whose current version's metric is the bar
  std::string text;
};
Gate ParseGate(std::string_view text);
// A `runs list` filter on a run's final metric value: "auc>=0.7", "logloss < 0.5" (METRIC OP
// NUMBER, the gate syntax with a number). kInvalidArgument naming the filter otherwise (an alias
// on the right is a gate's, not a filter's).
MetricThreshold ParseMetricThreshold(std::string_view text);

// --- process liveness (runs left "running" by a process that died show as interrupted)

struct ProcessProbe {
  std::string host;  // this machine
  int64_t pid = 0;   // this process
  // Whether process `pid` on `host` still runs; unknown hosts should answer true.
  std::function<bool(const std::string& host, int64_t pid)> alive;
};
ProcessProbe DefaultProcessProbe();

struct RegistryOptions {
  std::string home;
  Env* env = nullptr;                    // nullptr: Env::Default()
  std::unique_ptr<MetadataStore> store;  // nullptr: OpenMetadataStore(home, env)
  std::optional<ProcessProbe> probe;     // unset: DefaultProcessProbe()
  // The model kinds whose smoke tests guard promote and rollback (not owned; outlives the
  // Registry). nullptr: promote and rollback are refused (kFailedPrecondition) since nothing
  // can check the artifact. Processes pass BuiltinKinds() (kinds/builtin.h).
  const KindRegistry* kinds = nullptr;
};

// What a training run records before its work starts.
struct RunSpec {
  std::string model_name;
  std::string family;
  std::string description;         // [model] description
  nlohmann::json params;           // [model] parameters as given
  nlohmann::json config_given;     // {file, text, overrides, parsed}
  nlohmann::json config_resolved;  // every default filled in (KindConfig::Resolved)
};

// What a run created through remote tracking (StartExternalRun) records.
struct ExternalRunSpec {
  std::string model_name;  // the model a version would be registered under (ValidateModelName)
  std::string family;      // may be "" until known; otherwise a name (ValidCatalogName)
  nlohmann::json params = nlohmann::json::object();  // an object (null: none)
  std::map<std::string, std::string> tags;           // ValidateTag
  // The dataset used: a dataset id or a catalog name the registry has recorded (then the run
  // refers to that dataset record), or any other text (kept as given only).
  std::string dataset;
  std::string description;   // free text (kMaxDescriptionBytes)
  std::string code_version;  // the client's, e.g. a git commit ("" when not said)
  std::string host;          // the client's host, "" when unknown
  int64_t pid = 0;           // the client's process, 0 when unknown
};

struct PromoteResult {
  std::string model;
  std::string alias;
  int64_t from_version = 0;  // 0: the alias was unset
  int64_t to_version = 0;
  std::string action;               // "promote" | "rollback"
  std::vector<std::string> checks;  // what was verified, in order, human-readable
  nlohmann::json ToJson() const;
};

struct GcOptions {
  bool dry_run = false;  // report what would be removed; change nothing
  // Remove unreferenced artifacts even when the store refers to none of the artifacts present
  // (which otherwise means the store is the wrong one, or empty: refused).
  bool force = false;
  // A temporary file whose name carries no writer pid is removed only once it is this old and
  // no process on this host has it open.
  int64_t unowned_temporary_age_s = 3600;
};

struct GcReport {
  std::vector<std::string> removed;      // artifact digests
  std::vector<std::string> temporaries;  // leftover temporary files removed, relative to the home
  uint64_t bytes = 0;
  size_t kept = 0;                        // referenced artifacts
  std::vector<std::string> skipped;       // unreferenced but kept, with the reason
  std::vector<int64_t> interrupted_runs;  // runs marked interrupted on the way
  std::vector<std::string> warnings;      // what could not be done (e.g. no space to record)
  bool dry_run = false;
  nlohmann::json ToJson() const;
};

// A version with what names and labels it: the aliases that point at it and its tags.
struct VersionDetail {
  VersionRecord record;
  std::vector<std::string> aliases;
  std::map<std::string, std::string> tags;
};

// A model with its aliases (alias -> version), as `models list` shows it.
struct ModelSummary {
  ModelRecord model;
  std::map<std::string, int64_t> aliases;
};

// What `models show NAME` prints: the model, its aliases, every alias move (oldest first), the
// model's own tags and its latest version (unset when it has none).
struct ModelOverview {
  ModelRecord model;
  std::map<std::string, int64_t> aliases;
  std::vector<AliasMove> alias_history;
  std::map<std::string, std::string> tags;
  std::optional<VersionDetail> latest;
};

// The tags of a model (version 0) or of one of its versions.
struct TagSet {
  std::string model;
  int64_t version = 0;
  std::map<std::string, std::string> tags;
};

class Registry {
 public:
  explicit Registry(RegistryOptions options);
  // Registry(home) with the default store, env and probe.
  explicit Registry(const std::string& home);
  ~Registry();

  // The storage underneath, for libraries that speak to it directly (experiments, serving) and
  // for tests; commands use the operations below.
  MetadataStore& store() { return *store_; }
  const ArtifactStore& artifacts() const { return artifacts_; }
  Env* env() const { return env_; }

  // --- runs

  // Records a new run as running; returns its id. kInvalidArgument for a bad model name or an
  // oversized description.
  int64_t StartTrainingRun(const RunSpec& spec);
  // Completes the run with the job's `result`, records its dataset, and registers the artifact
  // as the next version of the result's model, atomically. `report` goes to the log.
  VersionRecord FinishTrainingRun(int64_t run_id, const TrainResult& result,
                                  const std::string& report);
  // Registers an artifact already in the artifact store (saved by a kind's import, e.g.
  // `marquee models import`) as the next version of nv.model_name, with no run. kIOError when
  // the artifact is gone (gc cannot remove it while this holds the store's write lock),
  // kInvalidArgument for a bad model name.
  VersionRecord RegisterImportedVersion(const NewVersion& nv);
  // Marks the run failed with `message` (best effort: never throws).
  void FailRun(int64_t run_id, const std::string& message) noexcept;

  // --- remote tracking: runs created, logged into and finished by a client (the control-plane
  // API; MLflow's tracking model). They have source "external": their process is not on this
  // host, so they never read as interrupted, and gc does not wait for them.

  // Records a new running external run; returns its id. kInvalidArgument for a bad model name,
  // family, tag, params (not an object, or over kMaxRunParamsBytes as JSON), or free text.
  int64_t StartExternalRun(const ExternalRunSpec& spec);
  // Logs a batch of metric points (one transaction; see MetadataStore::LogMetrics for the rules
  // and errors). A point with timestamp_ms 0 is stamped with the current time (to the second).
  void LogMetrics(int64_t run_id, std::span<const MetricPoint> points);
  // The history of one metric, by step, after `after_step` (-1: from the start), at most
  // `limit` points (<= 0: all). kNotFound for an unknown run.
  std::vector<MetricPoint> MetricHistory(int64_t run_id, const std::string& key,
                                         int64_t after_step = -1, int64_t limit = 0);
  // One summary per logged metric key (points, last step and value). kNotFound for an unknown
  // run.
  std::vector<MetricSummary> MetricSummaries(int64_t run_id);
  // Sets `set` and removes `remove` on any run, atomically; returns the tags afterwards (see
  // MetadataStore::SetRunTags for the errors).
  std::map<std::string, std::string> SetRunTags(
      int64_t run_id, const std::vector<std::pair<std::string, std::string>>& set,
      const std::vector<std::string>& remove);
  // Stores the file at `source_path` (or `bytes`) content-addressed in the artifact store
  // (fsynced, verified by its digest) and records it as `name` on running external run `run_id`.
  // kInvalidArgument for a bad name (ValidateRunArtifactName); kNotFound for an unknown run or a
  // missing source file; kFailedPrecondition when the run is not external or not running;
  // kAlreadyExists when `name` holds other content. Nothing is recorded on an error (a stored
  // file nothing refers to is gc's).
  RunArtifact LogRunArtifact(int64_t run_id, const std::string& name,
                             const std::string& source_path);
  RunArtifact LogRunArtifactBytes(int64_t run_id, const std::string& name, std::string_view bytes);
  // The files logged to a run, by name. kNotFound for an unknown run.
  std::vector<RunArtifact> RunArtifacts(int64_t run_id);
  // The path to read run artifact `name` from. kNotFound for an unknown run or name (naming
  // the run's artifacts); kCorruption when the file is missing from the artifact store.
  std::string OpenRunArtifact(int64_t run_id, const std::string& name);
  // Ends external run `run_id` as `status` (kCompleted or kFailed; kInvalidArgument otherwise)
  // with `message` in its log (free text, kMaxRunMessageBytes). Its metrics stay as logged.
  // kNotFound for an unknown run; kFailedPrecondition when it is not external or not running.
  // Returns the run afterwards.
  RunRecord FinishExternalRun(int64_t run_id, RunStatus status, const std::string& message);
  // Imports run artifact `artifact_name` through the kind that owns `family` (ModelKind::Import)
  // and registers it as the next version of `model_name` ("" : the run's model) with the run's
  // id, final metrics, params and dataset, so gates, `models show` and `runs show` treat it as a
  // trained run's version. The version's protocol is "external"; its protocol key is the same
  // for runs naming the same dataset, so an alias gate compares two external runs' metrics only
  // then. The run must be external and running or completed, and have no version yet (one per
  // run). kFailedPrecondition ("refused: ...") otherwise; kInvalidArgument naming the families
  // that can import when `family` cannot, or when the file is not a model of it; kNotFound
  // for an unknown run or artifact name.
  VersionRecord RegisterRunArtifact(int64_t run_id, const std::string& artifact_name,
                                    const std::string& family, const std::string& model_name = "");

  // Runs as stored, except that a run left "running" by a dead process on this host reads
  // "interrupted". Filters (RunQuery::metrics, started_after, started_before) apply in the store;
  // keyset paging (before_id) stays exact with them.
  RunRecord GetRun(int64_t id);
  std::vector<RunRecord> ListRuns(const RunQuery& q);
  // Metrics side by side, plus the params that differ and each run's dataset and protocol.
  nlohmann::json CompareRuns(const std::vector<int64_t>& ids);
  // How many runs match `q` (its before_id and limit apply as in ListRuns' filter: set them to 0
  // to count every match). Stored statuses: a dead "running" run still counts as running.
  int64_t CountRuns(const RunQuery& q);

  // --- datasets

  // The dataset recorded under `id` (a sha256), or nullopt if none is.
  std::optional<DatasetRecord> GetDataset(const std::string& id);

  // --- models

  VersionRecord Resolve(const ModelRef& ref);
  VersionRecord Resolve(const std::string& ref) { return Resolve(ParseModelRef(ref)); }
  // Resolves `version_text` relative to `model`: N, vN, an alias, or a full reference.
  VersionRecord ResolveIn(const std::string& model, const std::string& version_text);
  // Every alias naming this version.
  std::vector<std::string> AliasesOf(const VersionRecord& v);
  // The version with its aliases and tags.
  VersionDetail Detail(const VersionRecord& v);

  // Every model, by name, with its aliases.
  std::vector<ModelSummary> ListModels();
  // The model `name` with its aliases, their history, its tags and latest version. kNotFound
  // ("no model named ...") when there is none.
  ModelOverview Overview(const std::string& name);
  // Every version of model `name`, oldest first, with its aliases and tags. kNotFound when there
  // is no such model.
  std::vector<VersionDetail> Versions(const std::string& name);
  // Sets the tags `set` (key, value) and then removes the keys `remove` on the model (a bare
  // NAME) or the version `ref` names, as one atomic change: every tag is validated first
  // (kInvalidArgument, ValidateTag), a key in `remove` that is not set is kNotFound ("NAME/3
  // has no tag 'k'"), and any error leaves every tag as it was. kNotFound for an unknown model,
  // version or alias. Returns the tags afterwards.
  TagSet SetTags(const ModelRef& ref, const std::vector<std::pair<std::string, std::string>>& set,
                 const std::vector<std::string>& remove);
  // Sets model `name`'s description. kNotFound for an unknown model; kInvalidArgument for text
  // ValidateRegistryText refuses (kMaxDescriptionBytes).
  void SetDescription(const std::string& name, const std::string& text);

  // Verifies the version's artifact digest, then runs its kind's smoke test (a recommender
  // scores a one-item history, a policy decides among two actions, a tabular model predicts).
  // Returns what was checked; kFailedPrecondition ("refused: ...") with the reason otherwise.
  std::vector<std::string> SmokeTest(const VersionRecord& v);
  // Evaluates `gate` for candidate `v`; returns a line saying what passed, or throws
  // kFailedPrecondition ("refused: recall@20 0.38 < production (v3) 0.41").
  std::string CheckGate(const VersionRecord& v, const Gate& gate);

  // Moves `alias` to the version `ref` names, after the smoke test and every gate pass.
  PromoteResult Promote(const std::string& ref, const std::string& alias,
                        const std::vector<std::string>& gates, const std::string& note = "");
  // Moves `alias` back to the version it held before its latest promotion (repeated rollbacks
  // walk further back). Refused when there is no earlier version or it fails the smoke test.
  PromoteResult Rollback(const std::string& model, const std::string& alias,
                         const std::string& note = "");
  // The version a rollback of `alias` would move to; 0 if none.
  int64_t RollbackTarget(const std::string& model, const std::string& alias);

  // Params, metrics, dataset and protocol of two versions.
  nlohmann::json Diff(const VersionRecord& a, const VersionRecord& b);

  // --- housekeeping

  // Removes artifacts no version or run refers to, and leftovers of interrupted writes in the
  // artifact and catalog directories whose writer is provably gone (its pid, embedded in the
  // name, no longer runs on this host; or, without a pid, the file is old and open nowhere).
  // While a training run is still alive, unreferenced artifacts and artifact temporaries are
  // kept (one may be that run's, about to be registered). Refused (kFailedPrecondition,
  // "refused: ...") without options.force when artifacts exist but the store refers to none of
  // them: an empty or foreign store must not make gc delete every model. Marks runs whose
  // process died as interrupted first; when that cannot be written (a full disk), it says so in
  // warnings and still frees space. Holds the store's write lock while removing.
  GcReport Gc(const GcOptions& options);
  GcReport Gc(bool dry_run) { return Gc(GcOptions{.dry_run = dry_run}); }
  // Store integrity plus: every version's artifact exists and verifies. Empty when consistent.
  std::vector<std::string> CheckConsistency(bool verify_digests = true);

  // "sqlite:/path/registry.db" and the like: where the metadata lives, for messages.
  std::string DescribeStore() const;

  // Whether a run's process is gone (status running, not external, same host, pid not alive).
  bool IsInterrupted(const RunRecord& r) const;

 private:
  void ApplyLiveness(RunRecord& r) const;
  // kIOError unless the artifact `digest` is in the store (call under the store's write lock).
  void RequireArtifact(const std::string& digest) const;
  // The model `name`; kNotFound ("no model named ...") when there is none.
  ModelRecord RequireModel(const std::string& name);
  // Run artifact `name`; kNotFound naming the run's artifacts when it has none of that name.
  RunArtifact FindRunArtifact(int64_t run_id, const std::string& name);
  // Records a staged file as run artifact `name` and publishes it, atomically.
  RunArtifact RecordRunArtifact(int64_t run_id, const std::string& name, StagedArtifact staged);
  // The kind that imports `family`; kInvalidArgument naming the families that can otherwise.
  const ModelKind& ImportingKind(const std::string& family) const;
  PromoteResult MoveAlias(const VersionRecord& v, const std::string& alias, int64_t from,
                          const std::string& action, const std::string& note,
                          std::vector<std::string> checks);

  std::string home_;
  Env* env_;
  std::unique_ptr<MetadataStore> store_;
  ArtifactStore artifacts_;
  ProcessProbe probe_;
  const KindRegistry* kinds_;
};

}  // namespace marquee

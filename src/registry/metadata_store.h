// MetadataStore: the registry's storage interface (docs/formats/registry.md). Datasets, runs,
// models, model versions, aliases (with the history of every move) and tags. The interface
// speaks in domain operations, never SQL, so a second backend (PostgreSQL) can implement it
// without touching the Registry facade; SqliteStore (sqlite_store.h) is the embedded one.
//
// Errors: kNotFound for a missing model/version/run named by the caller, kFailedPrecondition
// when the state forbids the change (an alias that moved meanwhile, a run that is no longer
// running), kUnavailable when the store stayed locked past its busy timeout, kCorruption for a
// damaged store. Implementations must be safe to use from several threads and processes at once.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace marquee {

class Env;

struct DatasetRecord {
  std::string id;      // snapshot sha256 ("snapshot"), or the sha256 of the training file ("file")
  std::string kind;    // "snapshot" | "file"
  std::string name;    // catalog name; "" for a file
  std::string source;  // where the rows came from
  nlohmann::json schema = nlohmann::json::object();  // {"values": bool, "times": bool, ...}
  nlohmann::json stats = nlohmann::json::object();   // users, items, interactions, density...
  int64_t first_seen_at = 0;                         // Unix seconds
};

enum class RunStatus { kRunning, kCompleted, kFailed, kInterrupted };
std::string_view RunStatusName(RunStatus s);
// kInvalidArgument for an unknown name.
RunStatus ParseRunStatus(std::string_view name);

struct RunRecord {
  int64_t id = 0;
  std::string model_name;
  std::string family;
  RunStatus status = RunStatus::kRunning;
  nlohmann::json config_given = nlohmann::json::object();     // file, text, overrides
  nlohmann::json config_resolved = nlohmann::json::object();  // after overrides and defaults
  nlohmann::json params = nlohmann::json::object();           // the model's resolved params
  nlohmann::json timings = nlohmann::json::object();          // stage -> seconds
  nlohmann::json split = nlohmann::json::object();            // the split's details
  std::vector<std::pair<std::string, double>> metrics;        // in the config's order
  std::string dataset_id;                                     // "" until known
  std::string protocol;                                       // e.g. "strong-generalization"
  std::string protocol_key;  // digest of the split details: equal keys, comparable metrics
  std::string artifact;      // sha256 of the artifact ("" when none)
  std::string code_version;  // "marquee 0.1.0"
  std::string host;
  int64_t pid = 0;
  int64_t started_at = 0;  // Unix seconds
  int64_t ended_at = 0;    // 0 while running
  std::string log;         // the report (completed) or the error message (failed)
  int64_t version = 0;     // the model version this run registered; 0 if none
  // Where the run came from: kRunSourceTrain (`marquee train`, a training job) or
  // kRunSourceExternal (remote tracking: a run a client created, logs into and finishes). An
  // external run's process is not on this host, so it never reads as interrupted.
  std::string source = "train";
  std::string description;                  // external runs: as given ("" otherwise)
  std::string dataset_given;                // external runs: the dataset as the client named it
  std::map<std::string, std::string> tags;  // the run's tags (SetRunTags)

  std::optional<double> metric(std::string_view name) const;
  bool external() const;
};

inline constexpr std::string_view kRunSourceTrain = "train";
inline constexpr std::string_view kRunSourceExternal = "external";

// One point of a logged metric's history. A run's final value of a metric (RunRecord::metrics)
// is the value at its highest step; logging a (key, step) again replaces that point.
struct MetricPoint {
  std::string key;
  double value = 0;
  int64_t step = 0;          // >= 0
  int64_t timestamp_ms = 0;  // Unix milliseconds (Registry::LogMetrics fills 0 with now)
};

// What a run's history holds for one metric key.
struct MetricSummary {
  std::string key;
  int64_t points = 0;  // steps recorded
  int64_t last_step = 0;
  double last_value = 0;  // the value at last_step: the run's final value
  int64_t last_timestamp_ms = 0;
};

// A file logged to a run: stored content-addressed in the artifact store under `digest`.
struct RunArtifact {
  std::string name;  // a safe relative path (ValidateRunArtifactName)
  std::string digest;
  uint64_t bytes = 0;
  int64_t created_at = 0;  // Unix seconds
};

// A bound on a run's final metric value: METRIC OP NUMBER, OP one of >=, >, <=, < (parsed from
// "auc>=0.7" by ParseMetricThreshold in registry.h). A run without the metric, or whose value is
// not a number, fails every threshold.
struct MetricThreshold {
  std::string metric;
  std::string op;
  double value = 0;
};

struct RunQuery {
  std::string model;                     // "" = every model
  std::optional<RunStatus> status;       // unset = any
  int64_t before_id = 0;                 // keyset paging: runs with id < before_id (0: newest)
  int64_t limit = 20;                    // newest first; <= 0 means no limit
  bool details = false;                  // also load config, split and log (larger rows)
  std::vector<MetricThreshold> metrics;  // every one must hold (on the run's final values)
  int64_t started_after = 0;             // > 0: runs started at or after (Unix seconds)
  int64_t started_before = 0;            // > 0: runs started strictly before (Unix seconds)
  // Order of the listing. Ids are allocated as runs start (started_at is the clock at creation),
  // so id order is start order: kIdDesc newest first (the default, the only order keyset paging
  // by before_id follows), kIdAsc oldest first. By a metric: on the run's final value of
  // `sort_metric`, runs without it (or whose value is not a number) last either way, ties by id
  // in the same direction. Orders other than kIdDesc page by `offset`.
  enum class Sort { kIdDesc, kIdAsc, kMetricAsc, kMetricDesc };
  Sort sort = Sort::kIdDesc;
  std::string sort_metric;  // for kMetricAsc / kMetricDesc
  int64_t offset = 0;       // rows of the ordered listing skipped (with limit > 0)
  // Exact matches on the run's top-level params, each of which must hold: a string param equal
  // to the text, a boolean one spelled true/false, a number equal to the text read as a number.
  std::vector<std::pair<std::string, std::string>> params;
};

struct ModelRecord {
  int64_t id = 0;
  std::string name;
  std::string description;
  int64_t created_at = 0;
  int64_t num_versions = 0;
  int64_t latest_version = 0;
  int64_t updated_at = 0;  // the latest version's created_at
};

struct VersionRecord {
  std::string model_name;
  int64_t version = 0;
  std::string artifact;  // sha256
  int64_t run_id = 0;    // 0 when registered without a run
  std::string dataset_id;
  std::string family;
  std::string protocol;
  std::string protocol_key;
  nlohmann::json metrics = nlohmann::json::object();  // name -> value
  nlohmann::json metric_order = nlohmann::json::array();
  nlohmann::json params = nlohmann::json::object();
  int64_t created_at = 0;

  std::optional<double> metric(const std::string& name) const;
};

// What RegisterVersion needs; the store allocates the version number.
struct NewVersion {
  std::string model_name;
  std::string description;  // set on the model when not empty
  std::string artifact;
  int64_t run_id = 0;
  std::string dataset_id;
  std::string family;
  std::string protocol;
  std::string protocol_key;
  nlohmann::json metrics = nlohmann::json::object();
  nlohmann::json metric_order = nlohmann::json::array();
  nlohmann::json params = nlohmann::json::object();
  int64_t created_at = 0;
};

struct AliasMove {
  int64_t id = 0;  // increasing with time
  std::string alias;
  int64_t from_version = 0;  // 0: the alias was unset
  int64_t to_version = 0;
  std::string action;  // "promote" | "rollback"
  std::string note;
  int64_t at = 0;
};

// An online experiment (src/experiments/experiment.h parses and validates its definition; the
// store keeps it as JSON and enforces only the state machine).
enum class ExperimentState { kDraft, kRunning, kStopped };
std::string_view ExperimentStateName(ExperimentState s);
// kInvalidArgument for an unknown name.
ExperimentState ParseExperimentState(std::string_view name);

struct ExperimentRecord {
  int64_t id = 0;
  std::string name;
  std::string mode;  // "ab" | "interleave"
  std::string salt;
  nlohmann::json definition = nlohmann::json::object();  // the parsed definition (cells, ...)
  std::string source;                                    // the TOML text as given
  ExperimentState state = ExperimentState::kDraft;
  int64_t created_at = 0;
  int64_t first_started_at = 0;  // 0 until the first start (the CUPED pre-period ends here)
  int64_t updated_at = 0;        // the latest state change
};

// One state change: "start" (draft|stopped -> running) or "stop" (running -> stopped).
struct ExperimentStateChange {
  int64_t id = 0;  // increasing with time
  std::string action;
  ExperimentState from = ExperimentState::kDraft;
  ExperimentState to = ExperimentState::kRunning;
  int64_t at = 0;
};

// --- limits on the free text the registry keeps (every backend applies them on write)

inline constexpr size_t kMaxTagValueBytes = 1024;
inline constexpr size_t kMaxDescriptionBytes = 4096;
inline constexpr size_t kMaxNoteBytes = 1024;
inline constexpr size_t kMaxRunParamsBytes = 65536;   // an external run's params, as JSON text
inline constexpr size_t kMaxRunMessageBytes = 65536;  // an external run's final message
inline constexpr size_t kMaxMetricKeyBytes = 250;     // as MLflow's
inline constexpr size_t kMaxRunArtifactNameBytes = 256;
inline constexpr size_t kMaxMetricPointsPerCall = 100000;  // one LogMetrics batch

// Tag keys follow the catalog name rule (ValidCatalogName in data/catalog.h); values are
// ValidateRegistryText(value, "tag value", kMaxTagValueBytes). kInvalidArgument otherwise.
void ValidateTag(std::string_view key, std::string_view value);
// Free text (descriptions, notes, tag values): valid UTF-8, no NUL byte, at most `max_bytes`
// bytes. kInvalidArgument naming `what` otherwise. Control characters such as newlines are
// kept; every human-readable output escapes them (common/text.h EscapeForTerminal).
void ValidateRegistryText(std::string_view text, std::string_view what, size_t max_bytes);
// Metric keys: 1 to kMaxMetricKeyBytes bytes from A-Z a-z 0-9 . _ - @ / :, not starting with
// '-' (every metric marquee computes, "recall@20", "accuracy@0.5", "pr_auc", passes; a key never
// holds the characters of a gate's operator or spaces, so "KEY>=0.7" always parses).
// kInvalidArgument naming the key otherwise.
void ValidateMetricKey(std::string_view key);
// A point to log: a valid key, a finite value, a step >= 0, a timestamp >= 0.
// kInvalidArgument naming the problem otherwise.
void ValidateMetricPoint(const MetricPoint& p);
// Run artifact names: a relative path of 1 to kMaxRunArtifactNameBytes bytes from
// A-Z a-z 0-9 . _ - /, without empty, "." or ".." components and not starting with '/' or '-'.
// kInvalidArgument otherwise.
void ValidateRunArtifactName(std::string_view name);

class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  // "sqlite:/path/registry.db" and the like, for messages.
  virtual std::string Describe() const = 0;
  // The schema version the store is at (docs/formats/registry.md).
  virtual int SchemaVersion() = 0;

  // Runs `fn` as one atomic change holding the store's write lock: every store call `fn` makes
  // joins it, and an exception from `fn` rolls all of it back and propagates. Nested calls
  // join the outer one. Writers elsewhere wait (up to the busy timeout) until it ends.
  virtual void Atomically(const std::function<void()>& fn) = 0;

  // --- datasets
  // Inserts the dataset unless its id is known (records are immutable: an id names content).
  virtual void PutDataset(const DatasetRecord& d) = 0;
  virtual std::optional<DatasetRecord> GetDataset(const std::string& id) = 0;

  // --- runs
  // Inserts a run (its status as given, normally kRunning) with its source, description,
  // dataset as given and tags, and returns its new id. kInvalidArgument for a bad tag.
  virtual int64_t CreateRun(const RunRecord& r) = 0;
  // Writes the outcome of run r.id (status, ended_at, params, metrics, timings, split,
  // dataset, protocol, artifact, log). kNotFound if there is no such run; kFailedPrecondition
  // if it is not running any more.
  virtual void FinishRun(const RunRecord& r) = 0;
  // With details (config, split, log).
  virtual std::optional<RunRecord> GetRun(int64_t id) = 0;
  // Several runs by id, in the order given, without details, read from one snapshot.
  // kNotFound names the first id that does not exist.
  virtual std::vector<RunRecord> GetRuns(const std::vector<int64_t>& ids) = 0;
  // Newest first (by id), with metrics, tags and the registered version.
  virtual std::vector<RunRecord> ListRuns(const RunQuery& q) = 0;
  virtual int64_t CountRuns(const RunQuery& q) = 0;

  // --- remote tracking (external runs: RunRecord::source kRunSourceExternal, created by
  // CreateRun). A run's tags may change whatever its source or status.

  // Appends `points` to the history of external run `run_id` and sets the run's final value of
  // every key they name to its highest step's, in one transaction (all or nothing). A (key,
  // step) logged again replaces the point. kNotFound for an unknown run; kFailedPrecondition
  // when it is not external or not running; kInvalidArgument (ValidateMetricPoint) for a bad
  // point or more than kMaxMetricPointsPerCall of them: nothing is written then.
  virtual void LogMetrics(int64_t run_id, std::span<const MetricPoint> points) = 0;
  // The points of `key` with step > after_step, by step, at most `limit` (<= 0: all): keyset
  // paging (pass the last step seen). Empty when the run never logged `key`. kNotFound for an
  // unknown run.
  virtual std::vector<MetricPoint> MetricHistory(int64_t run_id, const std::string& key,
                                                 int64_t after_step, int64_t limit) = 0;
  // One summary per logged key, in the order the keys were first logged. kNotFound for an
  // unknown run.
  virtual std::vector<MetricSummary> MetricSummaries(int64_t run_id) = 0;
  // Sets `set` then removes `remove` on run `run_id`, atomically; returns the tags afterwards.
  // kNotFound for an unknown run or a key in `remove` that is not set; kInvalidArgument
  // (ValidateTag) for a bad key or value. Any error changes nothing.
  virtual std::map<std::string, std::string> SetRunTags(
      int64_t run_id, const std::vector<std::pair<std::string, std::string>>& set,
      const std::vector<std::string>& remove) = 0;
  // Records artifact `a` (already in the artifact store) as logged to external run `run_id`.
  // Logging a name again with the same digest changes nothing. kNotFound for an unknown run;
  // kFailedPrecondition when it is not external or not running; kAlreadyExists when the name
  // holds other content; kInvalidArgument for a bad name.
  virtual void AddRunArtifact(int64_t run_id, const RunArtifact& a) = 0;
  // By name. kNotFound for an unknown run.
  virtual std::vector<RunArtifact> ListRunArtifacts(int64_t run_id) = 0;
  // The newest dataset recorded under catalog name `name` (by first_seen_at), or nullopt.
  virtual std::optional<DatasetRecord> FindDatasetByName(const std::string& name) = 0;

  // --- models and versions
  virtual std::vector<ModelRecord> ListModels() = 0;
  virtual std::optional<ModelRecord> GetModel(const std::string& name) = 0;
  // kNotFound if the model does not exist; kInvalidArgument for text ValidateRegistryText
  // refuses (kMaxDescriptionBytes).
  virtual void SetModelDescription(const std::string& name, const std::string& text) = 0;
  // Creates the model if needed and adds version MAX+1, atomically: concurrent registrations
  // get distinct, consecutive numbers.
  virtual VersionRecord RegisterVersion(const NewVersion& v) = 0;
  virtual std::optional<VersionRecord> GetVersion(const std::string& model, int64_t version) = 0;
  // Oldest first.
  virtual std::vector<VersionRecord> ListVersions(const std::string& model) = 0;

  // --- aliases
  virtual std::optional<int64_t> GetAlias(const std::string& model, const std::string& alias) = 0;
  virtual std::map<std::string, int64_t> ListAliases(const std::string& model) = 0;
  // Oldest first; alias "" lists the moves of every alias of the model.
  virtual std::vector<AliasMove> AliasHistory(const std::string& model,
                                              const std::string& alias) = 0;
  // Compare-and-set: moves `alias` to `move.to_version` only if it still holds
  // `move.from_version` (0: unset), and appends the move to the history, atomically.
  // kFailedPrecondition if the alias moved meanwhile; kNotFound if the version does not exist.
  virtual void MoveAlias(const std::string& model, const AliasMove& move) = 0;

  // --- tags (version 0: the model itself)
  // kInvalidArgument when ValidateTag refuses the key or value; nothing is written then.
  virtual void SetTag(const std::string& model, int64_t version, const std::string& key,
                      const std::string& value) = 0;
  // Returns false if there was no such tag.
  virtual bool RemoveTag(const std::string& model, int64_t version, const std::string& key) = 0;
  virtual std::map<std::string, std::string> GetTags(const std::string& model, int64_t version) = 0;

  // --- experiments
  // Inserts a draft experiment; kAlreadyExists when the name is taken.
  virtual ExperimentRecord CreateExperiment(const ExperimentRecord& e) = 0;
  virtual std::optional<ExperimentRecord> GetExperiment(const std::string& name) = 0;
  // Oldest first.
  virtual std::vector<ExperimentRecord> ListExperiments() = 0;
  // Compare-and-set: moves experiment `name` from `change.from` to `change.to` only if it is
  // still in `change.from`, sets first_started_at on the first start, and appends the change to
  // the history, atomically. kNotFound for an unknown experiment; kFailedPrecondition naming
  // the current state otherwise.
  virtual void ChangeExperimentState(const std::string& name,
                                     const ExperimentStateChange& change) = 0;
  // Oldest first.
  virtual std::vector<ExperimentStateChange> ExperimentHistory(const std::string& name) = 0;

  // --- artifacts
  // Every artifact digest a version or a run refers to (a run's own artifact, or one logged
  // to it).
  virtual std::set<std::string> ReferencedArtifacts() = 0;

  // Store-level integrity problems (the engine's own check, dangling references, runs and
  // versions that disagree); empty when consistent. Artifact files are checked by Registry.
  virtual std::vector<std::string> CheckIntegrity() = 0;

  // --- change notification
  // What a wait for alias moves learned.
  enum class AliasChange {
    kNone,     // nothing moved during the wait
    kMoved,    // an alias moved, or the store (re)subscribed and moves before that are unknown:
               // the caller reads the aliases it follows again now
    kUnknown,  // the store cannot tell (it is not told of moves, or it is unreachable); it
               // returns after the whole timeout: the caller's timed poll covers it
  };
  // Waits up to `timeout_ms` for an alias move committed by any process since the previous
  // call. A backend that is told of moves (PostgreSQL: LISTEN/NOTIFY) returns kMoved as soon as
  // one commits, however late the waiting thread runs; this default, for backends that are not
  // (SQLite), sleeps `timeout_ms` and returns kUnknown. Never throws (an unreachable store
  // answers kUnknown after the timeout). Thread-safe; meant for one waiting thread per store.
  virtual AliasChange WaitForAliasChange(int timeout_ms);
};

// Opens the store for a home directory, where ResolveBackends (registry/backend_url.h) says it
// lives: a "postgresql://" URL opens a PgStore (kUnavailable when unreachable, kUnimplemented in
// a build without libpqxx); a "sqlite:" one that file; by default SQLite at $home/registry.db,
// created (with its schema and the home directory) on first use.
std::unique_ptr<MetadataStore> OpenMetadataStore(const std::string& home, Env* env);

// Why `home` must already have a registry (its artifacts, or catalogued datasets, tabular
// snapshots or bandit logs, whose writers create the registry first), or "" when it may be new.
// A registry that is missing or empty where this is not "" was lost: it is refused as
// corruption rather than created again (which would let gc delete every artifact).
std::string WhyARegistryMustExist(const std::string& home, Env* env);

}  // namespace marquee

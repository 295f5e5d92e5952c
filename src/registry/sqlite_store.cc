#include "registry/sqlite_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "common/mutex.h"
#include "common/text.h"
#include "data/catalog.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "registry/artifact_store.h"
#include "registry/store_rules.h"

namespace marquee {
namespace {

// Ordered migrations: entry i takes the schema from version i to i + 1. Never edit a released
// entry; append a new one (docs/formats/registry.md, "Migrations").
const char* const kMigrations[] = {
    // 0 -> 1: the initial schema.
    R"sql(
CREATE TABLE schema_migrations (
  version     INTEGER PRIMARY KEY,
  applied_at  INTEGER NOT NULL,
  description TEXT NOT NULL
);
CREATE TABLE datasets (
  id            TEXT PRIMARY KEY,
  kind          TEXT NOT NULL CHECK (kind IN ('snapshot', 'file')),
  name          TEXT NOT NULL DEFAULT '',
  source        TEXT NOT NULL DEFAULT '',
  schema_json   TEXT NOT NULL DEFAULT '{}',
  stats_json    TEXT NOT NULL DEFAULT '{}',
  first_seen_at INTEGER NOT NULL
);
CREATE TABLE runs (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  model_name      TEXT NOT NULL,
  family          TEXT NOT NULL,
  status          TEXT NOT NULL
                  CHECK (status IN ('running', 'completed', 'failed', 'interrupted')),
  params          TEXT NOT NULL DEFAULT '{}',
  timings         TEXT NOT NULL DEFAULT '{}',
  dataset_id      TEXT REFERENCES datasets (id),
  protocol        TEXT NOT NULL DEFAULT '',
  protocol_key    TEXT NOT NULL DEFAULT '',
  artifact        TEXT,
  code_version    TEXT NOT NULL DEFAULT '',
  host            TEXT NOT NULL DEFAULT '',
  pid             INTEGER NOT NULL DEFAULT 0,
  started_at      INTEGER NOT NULL,
  ended_at        INTEGER,
  -- The large columns last: listing reads the columns above without touching overflow pages.
  split           TEXT NOT NULL DEFAULT '{}',
  config_given    TEXT NOT NULL DEFAULT '{}',
  config_resolved TEXT NOT NULL DEFAULT '{}',
  log             TEXT NOT NULL DEFAULT ''
);
CREATE INDEX runs_by_model ON runs (model_name, id);
CREATE INDEX runs_running ON runs (status) WHERE status = 'running';
CREATE INDEX runs_by_artifact ON runs (artifact) WHERE artifact IS NOT NULL;
CREATE TABLE run_metrics (
  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  name   TEXT NOT NULL,
  ord    INTEGER NOT NULL,
  value  REAL,
  PRIMARY KEY (run_id, name)
) WITHOUT ROWID;
CREATE TABLE models (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  name        TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL
);
CREATE TABLE model_versions (
  model_id     INTEGER NOT NULL REFERENCES models (id),
  version      INTEGER NOT NULL CHECK (version >= 1),
  artifact     TEXT NOT NULL,
  run_id       INTEGER UNIQUE REFERENCES runs (id),
  dataset_id   TEXT REFERENCES datasets (id),
  family       TEXT NOT NULL DEFAULT '',
  protocol     TEXT NOT NULL DEFAULT '',
  protocol_key TEXT NOT NULL DEFAULT '',
  metrics      TEXT NOT NULL DEFAULT '{}',
  metric_order TEXT NOT NULL DEFAULT '[]',
  params       TEXT NOT NULL DEFAULT '{}',
  created_at   INTEGER NOT NULL,
  PRIMARY KEY (model_id, version)
);
CREATE INDEX versions_by_artifact ON model_versions (artifact);
CREATE TABLE aliases (
  model_id   INTEGER NOT NULL,
  alias      TEXT NOT NULL,
  version    INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (model_id, alias),
  FOREIGN KEY (model_id, version) REFERENCES model_versions (model_id, version)
);
CREATE TABLE alias_history (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  model_id     INTEGER NOT NULL,
  alias        TEXT NOT NULL,
  from_version INTEGER,
  to_version   INTEGER NOT NULL,
  action       TEXT NOT NULL CHECK (action IN ('promote', 'rollback')),
  note         TEXT NOT NULL DEFAULT '',
  at           INTEGER NOT NULL,
  FOREIGN KEY (model_id, to_version) REFERENCES model_versions (model_id, version)
);
CREATE INDEX alias_history_by_alias ON alias_history (model_id, alias, id);
CREATE TABLE tags (
  model_id INTEGER NOT NULL REFERENCES models (id),
  version  INTEGER NOT NULL DEFAULT 0,
  key      TEXT NOT NULL,
  value    TEXT NOT NULL,
  PRIMARY KEY (model_id, version, key)
);
)sql",
    // 1 -> 2: online experiments (src/experiments/experiment.h).
    R"sql(
CREATE TABLE experiments (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  name             TEXT NOT NULL UNIQUE,
  mode             TEXT NOT NULL CHECK (mode IN ('ab', 'interleave')),
  salt             TEXT NOT NULL,
  definition       TEXT NOT NULL DEFAULT '{}',
  source           TEXT NOT NULL DEFAULT '',
  state            TEXT NOT NULL CHECK (state IN ('draft', 'running', 'stopped')),
  created_at       INTEGER NOT NULL,
  first_started_at INTEGER,
  updated_at       INTEGER NOT NULL
);
CREATE TABLE experiment_history (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  experiment_id INTEGER NOT NULL REFERENCES experiments (id),
  action        TEXT NOT NULL CHECK (action IN ('start', 'stop')),
  from_state    TEXT NOT NULL,
  to_state      TEXT NOT NULL,
  at            INTEGER NOT NULL
);
CREATE INDEX experiment_history_by_experiment ON experiment_history (experiment_id, id);
)sql",
    // 2 -> 3: remote tracking (runs created, logged into and finished by a client). Tables only:
    // a version-2 file upgrades in place, and its runs read as source 'train'.
    R"sql(
CREATE TABLE external_runs (
  run_id        INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
  description   TEXT NOT NULL DEFAULT '',
  dataset_given TEXT NOT NULL DEFAULT ''
);
CREATE TABLE run_metric_history (
  run_id    INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  key       TEXT NOT NULL,
  step      INTEGER NOT NULL CHECK (step >= 0),
  timestamp INTEGER NOT NULL,
  value     REAL NOT NULL,
  PRIMARY KEY (run_id, key, step)
) WITHOUT ROWID;
CREATE TABLE run_tags (
  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  key    TEXT NOT NULL,
  value  TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE TABLE run_artifacts (
  run_id     INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  name       TEXT NOT NULL,
  digest     TEXT NOT NULL,
  bytes      INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (run_id, name)
) WITHOUT ROWID;
CREATE INDEX run_artifacts_by_digest ON run_artifacts (digest);
CREATE INDEX run_metrics_by_value ON run_metrics (name, value);
)sql",
};
const char* const kMigrationNames[] = {"initial schema", "online experiments", "remote tracking"};
constexpr int kNumMigrations = static_cast<int>(sizeof(kMigrations) / sizeof(kMigrations[0]));
static_assert(kNumMigrations == kRegistrySchemaVersion);

// Whether a failed call ran out of disk space: SQLITE_FULL, or an I/O error whose system errno
// is ENOSPC (a failed write, fsync or shared-memory growth).
bool NoSpace(sqlite3* db, int rc) {
  if ((rc & 0xff) == SQLITE_FULL) return true;
  return db != nullptr && (rc & 0xff) == SQLITE_IOERR && sqlite3_system_errno(db) == ENOSPC;
}

constexpr const char* kNoSpace =
    "no space left on device (free some space; `marquee gc` removes unreferenced artifacts "
    "and leftovers without needing any)";

ErrorCode CodeFor(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return ErrorCode::kUnavailable;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return ErrorCode::kCorruption;
    case SQLITE_FULL:
      return ErrorCode::kResourceExhausted;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
      return ErrorCode::kIOError;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return ErrorCode::kPermissionDenied;
    case SQLITE_CONSTRAINT:
      return ErrorCode::kFailedPrecondition;
    default:
      return ErrorCode::kInternal;
  }
}

std::string Dump(const nlohmann::json& j) { return j.dump(); }

using store::ParamNumber;
using store::ThresholdOp;
using store::VersionText;
nlohmann::json ParseJson(const std::string& text, const char* what) {
  return store::ParseStoredJson(text, what);
}

// A prepared statement; reset and unbound when a Use ends, so cached statements can be reused.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql) : db_(db) {
    int rc = sqlite3_prepare_v3(db, sql.c_str(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &s_, nullptr);
    if (rc != SQLITE_OK) {
      Fail(CodeFor(rc), "registry: cannot prepare statement: {} ({})", sqlite3_errmsg(db), sql);
    }
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Bind(int i, int64_t v) {
    Check(sqlite3_bind_int64(s_, i, v));
    return *this;
  }
  Stmt& Bind(int i, double v) {
    Check(sqlite3_bind_double(s_, i, v));
    return *this;
  }
  Stmt& Bind(int i, std::string_view v) {
    Check(sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Stmt& Bind(int i, const std::string& v) { return Bind(i, std::string_view(v)); }
  Stmt& Bind(int i, const char* v) { return Bind(i, std::string_view(v)); }
  Stmt& BindNull(int i) {
    Check(sqlite3_bind_null(s_, i));
    return *this;
  }
  // Empty text binds NULL (optional foreign keys).
  Stmt& BindOrNull(int i, const std::string& v) { return v.empty() ? BindNull(i) : Bind(i, v); }
  Stmt& BindOrNull(int i, int64_t v) { return v == 0 ? BindNull(i) : Bind(i, v); }

  // True when a row is available; false when done.
  bool Step() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    if (NoSpace(db_, rc)) Fail(ErrorCode::kResourceExhausted, "registry: {}", kNoSpace);
    Fail(CodeFor(rc), "registry: {}", Message(rc));
  }
  void Run() {
    while (Step()) {
    }
  }
  void Reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

  bool IsNull(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  int64_t Int(int c) const { return sqlite3_column_int64(s_, c); }
  double Double(int c) const { return sqlite3_column_double(s_, c); }
  std::string Text(int c) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, c));
    if (p == nullptr) return {};
    return std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, c)));
  }

 private:
  void Check(int rc) {
    if (rc != SQLITE_OK) Fail(CodeFor(rc), "registry: cannot bind: {}", sqlite3_errmsg(db_));
  }
  std::string Message(int rc) const {
    if ((rc & 0xff) == SQLITE_BUSY) {
      return "the registry database is busy (another process held it past the busy timeout)";
    }
    return sqlite3_errmsg(db_);
  }
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

// Borrows a cached statement and resets it when done.
class Use {
 public:
  explicit Use(Stmt& s) : s_(s) {}
  ~Use() { s_.Reset(); }
  Stmt* operator->() { return &s_; }
  Stmt& operator*() { return s_; }

 private:
  Stmt& s_;
};

using store::kExperimentSelect;
using store::kRunColumns;
using store::kRunDetailColumn;
using store::kRunDetailColumns;
using store::kVersionColumns;
// Every run with its version (if any) and its remote-tracking row (external runs only).
constexpr const char* kRunFrom =
    " FROM runs r LEFT JOIN model_versions v ON v.run_id = r.id "
    "LEFT JOIN external_runs e ON e.run_id = r.id";

// A Mutex that the thread holding it may take again: the store calls made by a function given
// to MetadataStore::Atomically join its transaction instead of deadlocking. Clang (14) has no
// re-entrant capability, so to the analysis each hold is the only one: right for every function
// it checks here, since none takes the lock twice itself (the nesting goes through the
// std::function of Atomically, which the analysis cannot follow). Thread-safe.
class CAPABILITY("mutex") ReentrantMutex {
 public:
  // Takes the mutex, or one more hold of it when this thread has it already.
  void Lock() ACQUIRE() NO_THREAD_SAFETY_ANALYSIS {  // the inner mutex is taken on one path only
    const std::thread::id me = std::this_thread::get_id();
    // Only this thread stores its own id, and clears it before unlocking: a relaxed load sees
    // `me` exactly when this thread holds the mutex.
    if (owner_.load(std::memory_order_relaxed) == me) {
      ++holds_;
      return;
    }
    mu_.Lock();
    owner_.store(me, std::memory_order_relaxed);
    holds_ = 1;
  }
  // Ends one hold; the last one unlocks.
  void Unlock() RELEASE() NO_THREAD_SAFETY_ANALYSIS {
    if (--holds_ > 0) return;
    owner_.store(std::thread::id(), std::memory_order_relaxed);
    mu_.Unlock();
  }

 private:
  Mutex mu_;
  std::atomic<std::thread::id> owner_{};  // the holder; written only by it, under mu_
  int holds_ = 0;                         // the holder's count; touched only by it
};

// Holds a ReentrantMutex for its scope.
class SCOPED_CAPABILITY ConnectionLock {
 public:
  explicit ConnectionLock(ReentrantMutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~ConnectionLock() RELEASE() { mu_->Unlock(); }
  ConnectionLock(const ConnectionLock&) = delete;
  ConnectionLock& operator=(const ConnectionLock&) = delete;

 private:
  ReentrantMutex* const mu_;
};

// One connection behind a mutex (mu_). The public methods take it (re-entrantly: see
// ReentrantMutex) or run under Atomically; the private ones require it. Thread-safe.
class SqliteStore final : public MetadataStore {
 public:
  SqliteStore(std::string path, const SqliteStoreOptions& o) : path_(std::move(path)) {
    // A registry that should exist but is missing or empty is lost, not new: refuse before
    // SQLite creates anything.
    struct stat st {};
    const bool missing = ::stat(path_.c_str(), &st) != 0 && errno == ENOENT;
    if (missing || (st.st_size == 0 && S_ISREG(st.st_mode))) {
      RefuseIfItMustExist(o, missing ? "missing" : "an empty file");
    }
    ConnectionLock lock(&mu_);  // no other thread sees the store yet; the helpers require it
    try {
      Connect(o, /*exclusive=*/false);
    } catch (const Error& e) {
      // A full disk where the -shm file is missing or too small (left by an older marquee, or
      // removed): SQLite cannot grow it. Without other connections, exclusive locking keeps the
      // WAL index in heap memory instead, so the registry can still be read (and gc can run);
      // other processes wait for this one meanwhile.
      if (e.code() != ErrorCode::kResourceExhausted || read_once_) throw;
      Connect(o, /*exclusive=*/true);
    }
  }

  // No other thread may use the store any more (hence no lock).
  ~SqliteStore() override {
    cache_.clear();  // finalize statements before closing
    if (db_ != nullptr) sqlite3_close(db_);
  }

  std::string Describe() const override { return "sqlite:" + path_; }

  int SchemaVersion() override {
    ConnectionLock lock(&mu_);
    return UserVersion();
  }

  // Holds mu_ while `fn` runs: its store calls (this thread) take it again and join.
  void Atomically(const std::function<void()>& fn) override {
    ConnectionLock lock(&mu_);
    if (depth_ > 0) {
      ++depth_;
      try {
        fn();
      } catch (...) {
        --depth_;
        throw;
      }
      --depth_;
      return;
    }
    Exec("BEGIN IMMEDIATE");
    depth_ = 1;
    try {
      fn();
      Exec("COMMIT");
    } catch (...) {
      depth_ = 0;
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
    depth_ = 0;
  }

  // --- datasets

  void PutDataset(const DatasetRecord& d) override {
    ConnectionLock lock(&mu_);
    Use s(
        Q("INSERT INTO datasets (id, kind, name, source, schema_json, stats_json, "
          "first_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"));
    s->Bind(1, d.id).Bind(2, d.kind).Bind(3, d.name).Bind(4, d.source);
    s->Bind(5, Dump(d.schema)).Bind(6, Dump(d.stats)).Bind(7, d.first_seen_at);
    s->Run();
  }

  std::optional<DatasetRecord> GetDataset(const std::string& id) override {
    ConnectionLock lock(&mu_);
    Use s(
        Q("SELECT id, kind, name, source, schema_json, stats_json, first_seen_at FROM datasets "
          "WHERE id = ?"));
    s->Bind(1, id);
    if (!s->Step()) return std::nullopt;
    DatasetRecord d;
    d.id = s->Text(0);
    d.kind = s->Text(1);
    d.name = s->Text(2);
    d.source = s->Text(3);
    d.schema = ParseJson(s->Text(4), "dataset schema");
    d.stats = ParseJson(s->Text(5), "dataset stats");
    d.first_seen_at = s->Int(6);
    return d;
  }

  // --- runs

  int64_t CreateRun(const RunRecord& r) override {
    for (const auto& [key, value] : r.tags) ValidateTag(key, value);
    if (r.source != kRunSourceTrain && r.source != kRunSourceExternal) {
      Fail(ErrorCode::kInvalidArgument, "unknown run source '{}' ({}, {})", r.source,
           kRunSourceTrain, kRunSourceExternal);
    }
    int64_t id = 0;
    Atomically([&]() REQUIRES(mu_) {
      Use s(
          Q("INSERT INTO runs (model_name, family, status, config_given, config_resolved, "
            "params, code_version, host, pid, started_at, dataset_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
      s->Bind(1, r.model_name).Bind(2, r.family).Bind(3, RunStatusName(r.status));
      s->Bind(4, Dump(r.config_given)).Bind(5, Dump(r.config_resolved)).Bind(6, Dump(r.params));
      s->Bind(7, r.code_version).Bind(8, r.host).Bind(9, r.pid).Bind(10, r.started_at);
      s->BindOrNull(11, r.dataset_id);
      s->Run();
      id = sqlite3_last_insert_rowid(db_);
      if (r.external()) {
        Use e(Q("INSERT INTO external_runs (run_id, description, dataset_given) VALUES (?, ?, ?)"));
        e->Bind(1, id).Bind(2, r.description).Bind(3, r.dataset_given);
        e->Run();
      }
      for (const auto& [key, value] : r.tags) PutRunTag(id, key, value);
      if (r.status != RunStatus::kRunning) {
        RunRecord copy = r;
        copy.id = id;
        WriteOutcome(copy);
      }
    });
    return id;
  }

  void FinishRun(const RunRecord& r) override {
    Atomically([&]() REQUIRES(mu_) {
      Use s(Q("SELECT status FROM runs WHERE id = ?"));
      s->Bind(1, r.id);
      if (!s->Step()) Fail(ErrorCode::kNotFound, "no run {}", r.id);
      const std::string status = s->Text(0);
      if (status != "running") {
        Fail(ErrorCode::kFailedPrecondition, "run {} is {}, not running", r.id, status);
      }
      WriteOutcome(r);
    });
  }

  std::optional<RunRecord> GetRun(int64_t id) override {
    ConnectionLock lock(&mu_);
    std::optional<RunRecord> out;
    Read([&]() REQUIRES(mu_) {
      Use s(Q(std::string("SELECT ") + kRunColumns + kRunDetailColumns + kRunFrom +
              " WHERE r.id = ?"));
      s->Bind(1, id);
      if (!s->Step()) return;
      out = RunFromRow(*s, true);
      LoadMetrics(*out);
      out->tags = RunTags(id);
    });
    return out;
  }

  std::vector<RunRecord> GetRuns(const std::vector<int64_t>& ids) override {
    ConnectionLock lock(&mu_);
    std::vector<RunRecord> out;
    out.reserve(ids.size());
    Read([&]() REQUIRES(mu_) {
      for (int64_t id : ids) {
        Use s(Q(std::string("SELECT ") + kRunColumns + kRunFrom + " WHERE r.id = ?"));
        s->Bind(1, id);
        if (!s->Step()) Fail(ErrorCode::kNotFound, "no run {} (marquee runs list shows them)", id);
        out.push_back(RunFromRow(*s, false));
      }
      for (auto& r : out) LoadMetrics(r);
      LoadTags(out);
    });
    return out;
  }

  std::vector<RunRecord> ListRuns(const RunQuery& q) override {
    ConnectionLock lock(&mu_);
    const bool by_metric =
        q.sort == RunQuery::Sort::kMetricAsc || q.sort == RunQuery::Sort::kMetricDesc;
    if (by_metric && q.sort_metric.empty()) {
      Fail(ErrorCode::kInvalidArgument, "sort by a metric: name the metric");
    }
    if (q.offset < 0) Fail(ErrorCode::kInvalidArgument, "offset: {} is negative", q.offset);
    const std::string columns =
        std::string("SELECT ") + kRunColumns + (q.details ? kRunDetailColumns : "");
    std::vector<RunRecord> out;
    Read([&]() REQUIRES(mu_) {
      if (!by_metric) {
        ReadRuns(columns + kRunFrom + Where(q) + OrderBy(q.sort), "", q, q.limit, q.offset, out);
      } else {
        ReadRunsByMetric(columns, q, out);
      }
      for (auto& r : out) LoadMetrics(r);
      LoadTags(out);
    });
    return out;
  }

  int64_t CountRuns(const RunQuery& q) override {
    ConnectionLock lock(&mu_);
    Use s(Q("SELECT COUNT(*) FROM runs r" + Where(q, /*counting=*/true)));
    BindWhere(*s, q);
    s->Step();
    return s->Int(0);
  }

  // --- remote tracking

  void LogMetrics(int64_t run_id, std::span<const MetricPoint> points) override {
    if (points.size() > kMaxMetricPointsPerCall) {
      Fail(ErrorCode::kInvalidArgument,
           "{} metric points in one call; at most {} are taken (send them in batches)",
           points.size(), kMaxMetricPointsPerCall);
    }
    for (const MetricPoint& p : points) ValidateMetricPoint(p);
    Atomically([&]() REQUIRES(mu_) {
      RequireExternalRunning(run_id, "log metrics to");
      // The keys in the order this batch first names them (their `ord` when new).
      std::vector<std::string_view> keys;
      std::unordered_set<std::string_view> seen;
      {
        Use s(
            Q("INSERT INTO run_metric_history (run_id, key, step, timestamp, value) "
              "VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id, key, step) DO UPDATE SET "
              "timestamp = excluded.timestamp, value = excluded.value"));
        for (const MetricPoint& p : points) {
          s->Bind(1, run_id).Bind(2, p.key).Bind(3, p.step).Bind(4, p.timestamp_ms);
          s->Bind(5, p.value);
          s->Run();
          s->Reset();
          if (seen.insert(p.key).second) keys.push_back(p.key);
        }
      }
      // The final value of each key named: its highest step's (which may be an earlier call's).
      Use s(
          Q("INSERT INTO run_metrics (run_id, name, ord, value) VALUES (?1, ?2, "
            "(SELECT COALESCE(MAX(ord) + 1, 0) FROM run_metrics WHERE run_id = ?1), "
            "(SELECT value FROM run_metric_history WHERE run_id = ?1 AND key = ?2 "
            "ORDER BY step DESC LIMIT 1)) "
            "ON CONFLICT (run_id, name) DO UPDATE SET value = excluded.value"));
      for (std::string_view key : keys) {
        s->Bind(1, run_id).Bind(2, key);
        s->Run();
        s->Reset();
      }
    });
  }

  std::vector<MetricPoint> MetricHistory(int64_t run_id, const std::string& key, int64_t after_step,
                                         int64_t limit) override {
    return RunRows<MetricPoint>(
        run_id,
        "SELECT step, value, timestamp FROM run_metric_history "
        "WHERE run_id = ?1 AND key = ?2 AND step > ?3 ORDER BY step LIMIT ?4",
        [&](Stmt& s) { s.Bind(2, key).Bind(3, after_step).Bind(4, limit > 0 ? limit : -1); },
        [&](Stmt& s) {
          return MetricPoint{key, s.Double(1), s.Int(0), s.Int(2)};
        });
  }

  std::vector<MetricSummary> MetricSummaries(int64_t run_id) override {
    // Keys without a history (a trained run's metrics) are not logged ones: the join drops them.
    return RunRows<MetricSummary>(
        run_id,
        "SELECT m.name, (SELECT COUNT(*) FROM run_metric_history c WHERE c.run_id = m.run_id "
        "AND c.key = m.name), h.step, h.value, h.timestamp "
        "FROM run_metrics m JOIN run_metric_history h ON h.run_id = m.run_id "
        "AND h.key = m.name AND h.step = (SELECT MAX(step) FROM run_metric_history x "
        "WHERE x.run_id = m.run_id AND x.key = m.name) WHERE m.run_id = ?1 ORDER BY m.ord",
        [](Stmt&) {},
        [](Stmt& s) {
          return MetricSummary{s.Text(0), s.Int(1), s.Int(2), s.Double(3), s.Int(4)};
        });
  }

  std::map<std::string, std::string> SetRunTags(
      int64_t run_id, const std::vector<std::pair<std::string, std::string>>& set,
      const std::vector<std::string>& remove) override {
    for (const auto& [key, value] : set) ValidateTag(key, value);
    std::map<std::string, std::string> out;
    Atomically([&]() REQUIRES(mu_) {
      RequireRun(run_id);
      for (const auto& [key, value] : set) PutRunTag(run_id, key, value);
      for (const auto& key : remove) {
        Use s(Q("DELETE FROM run_tags WHERE run_id = ? AND key = ?"));
        s->Bind(1, run_id).Bind(2, key);
        s->Run();
        if (sqlite3_changes(db_) == 0) {
          Fail(ErrorCode::kNotFound, "run {} has no tag '{}'", run_id, QuoteForMessage(key));
        }
      }
      out = RunTags(run_id);
    });
    return out;
  }

  void AddRunArtifact(int64_t run_id, const RunArtifact& a) override {
    ValidateRunArtifactName(a.name);
    Atomically([&]() REQUIRES(mu_) {
      RequireExternalRunning(run_id, "log artifacts to");
      {
        Use s(Q("SELECT digest FROM run_artifacts WHERE run_id = ? AND name = ?"));
        s->Bind(1, run_id).Bind(2, a.name);
        if (s->Step()) {
          if (s->Text(0) == a.digest) return;  // the same file again
          Fail(ErrorCode::kAlreadyExists,
               "run {} already has an artifact named '{}' with other content (sha256 {}); log "
               "this one under another name",
               run_id, a.name, s->Text(0).substr(0, 12));
        }
      }
      Use s(
          Q("INSERT INTO run_artifacts (run_id, name, digest, bytes, created_at) "
            "VALUES (?, ?, ?, ?, ?)"));
      s->Bind(1, run_id).Bind(2, a.name).Bind(3, a.digest);
      s->Bind(4, static_cast<int64_t>(a.bytes)).Bind(5, a.created_at);
      s->Run();
    });
  }

  std::vector<RunArtifact> ListRunArtifacts(int64_t run_id) override {
    return RunRows<RunArtifact>(
        run_id,
        "SELECT name, digest, bytes, created_at FROM run_artifacts WHERE run_id = ?1 "
        "ORDER BY name",
        [](Stmt&) {},
        [](Stmt& s) {
          return RunArtifact{s.Text(0), s.Text(1), static_cast<uint64_t>(s.Int(2)), s.Int(3)};
        });
  }

  std::optional<DatasetRecord> FindDatasetByName(const std::string& name) override {
    ConnectionLock lock(&mu_);
    Use s(
        Q("SELECT id FROM datasets WHERE name = ? AND name != '' "
          "ORDER BY first_seen_at DESC, rowid DESC LIMIT 1"));
    s->Bind(1, name);
    if (!s->Step()) return std::nullopt;
    return GetDataset(s->Text(0));
  }

  // --- models and versions

  std::vector<ModelRecord> ListModels() override {
    ConnectionLock lock(&mu_);
    Use s(Q(std::string(store::kModelSelect) + " ORDER BY m.name"));
    std::vector<ModelRecord> out;
    while (s->Step()) out.push_back(ModelFromRow(*s));
    return out;
  }

  std::optional<ModelRecord> GetModel(const std::string& name) override {
    ConnectionLock lock(&mu_);
    Use s(Q(std::string(store::kModelSelect) + " WHERE m.name = ?"));
    s->Bind(1, name);
    if (!s->Step()) return std::nullopt;
    return ModelFromRow(*s);
  }

  void SetModelDescription(const std::string& name, const std::string& text) override {
    ValidateRegistryText(text, "model description", kMaxDescriptionBytes);
    Atomically([&]() REQUIRES(mu_) {
      Use s(Q("UPDATE models SET description = ? WHERE name = ?"));
      s->Bind(1, text).Bind(2, name);
      s->Run();
      if (sqlite3_changes(db_) == 0) Fail(ErrorCode::kNotFound, "no model named '{}'", name);
    });
  }

  VersionRecord RegisterVersion(const NewVersion& v) override {
    ValidateRegistryText(v.description, "model description", kMaxDescriptionBytes);
    VersionRecord out;
    Atomically([&]() REQUIRES(mu_) {
      {
        Use s(
            Q("INSERT INTO models (name, description, created_at) VALUES (?, ?, ?) "
              "ON CONFLICT (name) DO NOTHING"));
        s->Bind(1, v.model_name).Bind(2, v.description).Bind(3, v.created_at);
        s->Run();
      }
      if (!v.description.empty()) {
        Use s(Q("UPDATE models SET description = ? WHERE name = ?"));
        s->Bind(1, v.description).Bind(2, v.model_name);
        s->Run();
      }
      const int64_t model_id = ModelId(v.model_name);
      int64_t version = 0;
      {
        // Inside BEGIN IMMEDIATE: no other writer can allocate the same number.
        Use s(Q("SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE model_id = ?"));
        s->Bind(1, model_id);
        s->Step();
        version = s->Int(0);
      }
      Use s(
          Q("INSERT INTO model_versions (model_id, version, artifact, run_id, dataset_id, "
            "family, protocol, protocol_key, metrics, metric_order, params, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
      s->Bind(1, model_id).Bind(2, version).Bind(3, v.artifact).BindOrNull(4, v.run_id);
      s->BindOrNull(5, v.dataset_id).Bind(6, v.family).Bind(7, v.protocol);
      s->Bind(8, v.protocol_key).Bind(9, Dump(v.metrics)).Bind(10, Dump(v.metric_order));
      s->Bind(11, Dump(v.params)).Bind(12, v.created_at);
      s->Run();
      out = store::RegisteredVersion(v, version);
    });
    return out;
  }

  std::optional<VersionRecord> GetVersion(const std::string& model, int64_t version) override {
    ConnectionLock lock(&mu_);
    Use s(Q(std::string("SELECT ") + kVersionColumns +
            " FROM model_versions v JOIN models m ON m.id = v.model_id "
            "WHERE m.name = ? AND v.version = ?"));
    s->Bind(1, model).Bind(2, version);
    if (!s->Step()) return std::nullopt;
    return VersionFromRow(*s);
  }

  std::vector<VersionRecord> ListVersions(const std::string& model) override {
    ConnectionLock lock(&mu_);
    Use s(Q(std::string("SELECT ") + kVersionColumns +
            " FROM model_versions v JOIN models m ON m.id = v.model_id "
            "WHERE m.name = ? ORDER BY v.version"));
    s->Bind(1, model);
    std::vector<VersionRecord> out;
    while (s->Step()) out.push_back(VersionFromRow(*s));
    return out;
  }

  // --- aliases

  std::optional<int64_t> GetAlias(const std::string& model, const std::string& alias) override {
    ConnectionLock lock(&mu_);
    Use s(
        Q("SELECT a.version FROM aliases a JOIN models m ON m.id = a.model_id "
          "WHERE m.name = ? AND a.alias = ?"));
    s->Bind(1, model).Bind(2, alias);
    if (!s->Step()) return std::nullopt;
    return s->Int(0);
  }

  std::map<std::string, int64_t> ListAliases(const std::string& model) override {
    ConnectionLock lock(&mu_);
    Use s(
        Q("SELECT a.alias, a.version FROM aliases a JOIN models m ON m.id = a.model_id "
          "WHERE m.name = ?"));
    s->Bind(1, model);
    std::map<std::string, int64_t> out;
    while (s->Step()) out[s->Text(0)] = s->Int(1);
    return out;
  }

  std::vector<AliasMove> AliasHistory(const std::string& model, const std::string& alias) override {
    ConnectionLock lock(&mu_);
    Use s(
        Q("SELECT h.id, h.alias, h.from_version, h.to_version, h.action, h.note, h.at "
          "FROM alias_history h JOIN models m ON m.id = h.model_id "
          "WHERE m.name = ?1 AND (?2 = '' OR h.alias = ?2) ORDER BY h.id"));
    s->Bind(1, model).Bind(2, alias);
    std::vector<AliasMove> out;
    while (s->Step()) {
      AliasMove m;
      m.id = s->Int(0);
      m.alias = s->Text(1);
      m.from_version = s->IsNull(2) ? 0 : s->Int(2);
      m.to_version = s->Int(3);
      m.action = s->Text(4);
      m.note = s->Text(5);
      m.at = s->Int(6);
      out.push_back(std::move(m));
    }
    return out;
  }

  void MoveAlias(const std::string& model, const AliasMove& move) override {
    ValidateRegistryText(move.note, "note", kMaxNoteBytes);
    Atomically([&]() REQUIRES(mu_) {
      const int64_t model_id = ModelId(model);
      {
        Use s(Q("SELECT 1 FROM model_versions WHERE model_id = ? AND version = ?"));
        s->Bind(1, model_id).Bind(2, move.to_version);
        if (!s->Step())
          Fail(ErrorCode::kNotFound, "model '{}' has no version {}", model, move.to_version);
      }
      int64_t current = 0;
      {
        Use s(Q("SELECT version FROM aliases WHERE model_id = ? AND alias = ?"));
        s->Bind(1, model_id).Bind(2, move.alias);
        if (s->Step()) current = s->Int(0);
      }
      if (current != move.from_version) {
        Fail(ErrorCode::kFailedPrecondition,
             "alias {}@{} moved meanwhile (now {}, expected {}); run the command again", model,
             move.alias, VersionText(current), VersionText(move.from_version));
      }
      {
        Use s(
            Q("INSERT INTO aliases (model_id, alias, version, updated_at) VALUES (?, ?, ?, ?) "
              "ON CONFLICT (model_id, alias) DO UPDATE SET version = excluded.version, "
              "updated_at = excluded.updated_at"));
        s->Bind(1, model_id).Bind(2, move.alias).Bind(3, move.to_version).Bind(4, move.at);
        s->Run();
      }
      Use s(
          Q("INSERT INTO alias_history (model_id, alias, from_version, to_version, action, "
            "note, at) VALUES (?, ?, ?, ?, ?, ?, ?)"));
      s->Bind(1, model_id).Bind(2, move.alias).BindOrNull(3, move.from_version);
      s->Bind(4, move.to_version).Bind(5, move.action).Bind(6, move.note).Bind(7, move.at);
      s->Run();
    });
  }

  // --- tags

  void SetTag(const std::string& model, int64_t version, const std::string& key,
              const std::string& value) override {
    ValidateTag(key, value);
    Atomically([&]() REQUIRES(mu_) {
      const int64_t model_id = ModelId(model);
      if (version != 0) RequireVersion(model, model_id, version);
      Use s(
          Q("INSERT INTO tags (model_id, version, key, value) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (model_id, version, key) DO UPDATE SET value = excluded.value"));
      s->Bind(1, model_id).Bind(2, version).Bind(3, key).Bind(4, value);
      s->Run();
    });
  }

  bool RemoveTag(const std::string& model, int64_t version, const std::string& key) override {
    bool removed = false;
    Atomically([&]() REQUIRES(mu_) {
      const int64_t model_id = ModelId(model);
      Use s(Q("DELETE FROM tags WHERE model_id = ? AND version = ? AND key = ?"));
      s->Bind(1, model_id).Bind(2, version).Bind(3, key);
      s->Run();
      removed = sqlite3_changes(db_) > 0;
    });
    return removed;
  }

  std::map<std::string, std::string> GetTags(const std::string& model, int64_t version) override {
    ConnectionLock lock(&mu_);
    Use s(
        Q("SELECT t.key, t.value FROM tags t JOIN models m ON m.id = t.model_id "
          "WHERE m.name = ? AND t.version = ?"));
    s->Bind(1, model).Bind(2, version);
    std::map<std::string, std::string> out;
    while (s->Step()) out[s->Text(0)] = s->Text(1);
    return out;
  }

  // --- experiments

  ExperimentRecord CreateExperiment(const ExperimentRecord& e) override {
    ExperimentRecord out = e;
    Atomically([&]() REQUIRES(mu_) {
      Use c(Q("SELECT 1 FROM experiments WHERE name = ?"));
      c->Bind(1, e.name);
      if (c->Step()) Fail(ErrorCode::kAlreadyExists, "an experiment named '{}' exists", e.name);
      Use s(
          Q("INSERT INTO experiments (name, mode, salt, definition, source, state, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, 'draft', ?, ?)"));
      s->Bind(1, e.name).Bind(2, e.mode).Bind(3, e.salt).Bind(4, Dump(e.definition));
      s->Bind(5, e.source).Bind(6, e.created_at).Bind(7, e.created_at);
      s->Run();
      out.id = sqlite3_last_insert_rowid(db_);
      out.state = ExperimentState::kDraft;
      out.first_started_at = 0;
      out.updated_at = e.created_at;
    });
    return out;
  }

  std::optional<ExperimentRecord> GetExperiment(const std::string& name) override {
    ConnectionLock lock(&mu_);
    Use s(Q(std::string(kExperimentSelect) + " WHERE name = ?"));
    s->Bind(1, name);
    if (!s->Step()) return std::nullopt;
    return ExperimentFromRow(*s);
  }

  std::vector<ExperimentRecord> ListExperiments() override {
    ConnectionLock lock(&mu_);
    Use s(Q(std::string(kExperimentSelect) + " ORDER BY id"));
    std::vector<ExperimentRecord> out;
    while (s->Step()) out.push_back(ExperimentFromRow(*s));
    return out;
  }

  void ChangeExperimentState(const std::string& name,
                             const ExperimentStateChange& change) override {
    Atomically([&]() REQUIRES(mu_) {
      Use c(Q("SELECT id, state FROM experiments WHERE name = ?"));
      c->Bind(1, name);
      if (!c->Step()) Fail(ErrorCode::kNotFound, "no experiment named '{}'", name);
      const int64_t id = c->Int(0);
      const std::string state = c->Text(1);
      if (state != ExperimentStateName(change.from)) {
        Fail(ErrorCode::kFailedPrecondition, "experiment '{}' is {}, not {}", name, state,
             ExperimentStateName(change.from));
      }
      {
        Use u(
            Q("UPDATE experiments SET state = ?, updated_at = ?, first_started_at = "
              "CASE WHEN first_started_at IS NULL AND ? = 'running' THEN ? "
              "ELSE first_started_at END WHERE id = ?"));
        u->Bind(1, ExperimentStateName(change.to)).Bind(2, change.at);
        u->Bind(3, ExperimentStateName(change.to)).Bind(4, change.at).Bind(5, id);
        u->Run();
      }
      Use h(
          Q("INSERT INTO experiment_history (experiment_id, action, from_state, to_state, at) "
            "VALUES (?, ?, ?, ?, ?)"));
      h->Bind(1, id).Bind(2, change.action).Bind(3, ExperimentStateName(change.from));
      h->Bind(4, ExperimentStateName(change.to)).Bind(5, change.at);
      h->Run();
    });
  }

  std::vector<ExperimentStateChange> ExperimentHistory(const std::string& name) override {
    ConnectionLock lock(&mu_);
    std::vector<ExperimentStateChange> out;
    Read([&]() REQUIRES(mu_) {
      Use c(Q("SELECT id FROM experiments WHERE name = ?"));
      c->Bind(1, name);
      if (!c->Step()) Fail(ErrorCode::kNotFound, "no experiment named '{}'", name);
      const int64_t id = c->Int(0);
      Use s(
          Q("SELECT id, action, from_state, to_state, at FROM experiment_history "
            "WHERE experiment_id = ? ORDER BY id"));
      s->Bind(1, id);
      while (s->Step()) {
        ExperimentStateChange h;
        h.id = s->Int(0);
        h.action = s->Text(1);
        h.from = ParseExperimentState(s->Text(2));
        h.to = ParseExperimentState(s->Text(3));
        h.at = s->Int(4);
        out.push_back(std::move(h));
      }
    });
    return out;
  }

  std::set<std::string> ReferencedArtifacts() override {
    ConnectionLock lock(&mu_);
    std::set<std::string> out;
    Read([&]() REQUIRES(mu_) {
      Use s(
          Q("SELECT artifact FROM model_versions UNION "
            "SELECT artifact FROM runs WHERE artifact IS NOT NULL UNION "
            "SELECT digest FROM run_artifacts"));
      while (s->Step()) out.insert(s->Text(0));
    });
    return out;
  }

  std::vector<std::string> CheckIntegrity() override {
    ConnectionLock lock(&mu_);
    std::vector<std::string> problems;
    Read([&]() REQUIRES(mu_) {
      auto collect = [&](const std::string& sql, const std::string& what) REQUIRES(mu_) {
        Use s(Q(sql));
        while (s->Step()) problems.push_back(what + ": " + s->Text(0));
      };
      {
        Use s(Q("PRAGMA integrity_check"));
        while (s->Step()) {
          if (s->Text(0) != "ok") problems.push_back("integrity_check: " + s->Text(0));
        }
      }
      collect(
          "SELECT \"table\" || ' row ' || COALESCE(rowid, '?') || ' -> ' || parent "
          "FROM pragma_foreign_key_check",
          "dangling foreign key");
      for (const store::IntegrityRule& rule : store::IntegrityRules()) collect(rule.sql, rule.what);
    });
    return problems;
  }

 private:
  void Exec(const std::string& sql) REQUIRES(mu_) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      if ((rc & 0xff) == SQLITE_BUSY) {
        msg = "the registry database is busy (another process held it past the busy timeout)";
      }
      if (NoSpace(db_, rc))
        Fail(ErrorCode::kResourceExhausted, "registry '{}': {}", path_, kNoSpace);
      Fail(CodeFor(rc), "registry '{}': {}", path_, msg);
    }
  }

  Stmt& Q(const std::string& sql) REQUIRES(mu_) {
    auto it = cache_.find(sql);
    if (it == cache_.end()) it = cache_.emplace(sql, std::make_unique<Stmt>(db_, sql)).first;
    return *it->second;
  }

  // Runs several reads against one snapshot (a deferred transaction unless one is open).
  void Read(const std::function<void()>& fn) REQUIRES(mu_) {
    if (depth_ > 0) {
      fn();
      return;
    }
    Exec("BEGIN");
    depth_ = 1;
    try {
      fn();
    } catch (...) {
      depth_ = 0;
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
    depth_ = 0;
    Exec("COMMIT");
  }

  // The first column of the first row of `sql` as text ("" when there is no row).
  std::string Text(const std::string& sql) REQUIRES(mu_) {
    Use s(Q(sql));
    return s->Step() ? s->Text(0) : std::string();
  }

  bool HasTables() REQUIRES(mu_) { return !Text("SELECT name FROM sqlite_master LIMIT 1").empty(); }

  // Throws kCorruption when `o` says the registry must exist; `state` says what it is instead.
  void RefuseIfItMustExist(const SqliteStoreOptions& o, const std::string& state) {
    if (!o.must_exist_because) return;
    const std::string why = o.must_exist_because();
    if (why.empty()) return;
    Fail(ErrorCode::kCorruption,
         "the registry '{}' is {}, but {}: this home was in use, so its registry is lost or "
         "damaged, not new. marquee refuses to start an empty registry over it (every model "
         "would be orphaned, and `marquee gc` would delete them); nothing was changed. Restore "
         "'{}' from a backup, or move the files named above away to start afresh",
         path_, state, why, path_);
  }

  // Opens the connection, refuses a lost registry, sets it up and migrates. Closes it again on
  // any error. `exclusive`: hold the file lock until closed, keeping the WAL index in memory.
  void Connect(const SqliteStoreOptions& o, bool exclusive) REQUIRES(mu_) {
    int rc =
        sqlite3_open_v2(path_.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
      if (NoSpace(db_, rc)) msg = kNoSpace;
      const ErrorCode code = NoSpace(db_, rc) ? ErrorCode::kResourceExhausted : CodeFor(rc);
      sqlite3_close(db_);
      db_ = nullptr;
      Fail(code, "cannot open the registry '{}': {}", path_, msg);
    }
    try {
      sqlite3_busy_timeout(db_, o.busy_timeout_ms);
      sqlite3_extended_result_codes(db_, 1);
      if (exclusive) Exec("PRAGMA locking_mode = EXCLUSIVE");  // before the first read
      // Before anything below may write (switching to WAL, migrating).
      const bool no_schema = UserVersion() == 0 && !HasTables();
      read_once_ = true;
      if (no_schema) RefuseIfItMustExist(o, "without a schema");
      // Keep the -wal and -shm files when the last connection closes (the WAL truncated to
      // zero bytes, below): the next process then maps the existing -shm instead of creating
      // and growing one, so reading needs no free disk space.
      int persist = 1;
      sqlite3_file_control(db_, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
      Exec("PRAGMA journal_size_limit = 0");
      // A no-op (no write) once the file is in WAL mode.
      Exec("PRAGMA journal_mode = WAL");
      Exec("PRAGMA synchronous = " + o.synchronous);
      Exec("PRAGMA foreign_keys = ON");
      // Read through a memory map: a short-lived CLI process then pays no read() per page.
      Exec("PRAGMA mmap_size = 268435456");
      Migrate();
    } catch (...) {
      cache_.clear();
      sqlite3_close(db_);
      db_ = nullptr;
      throw;
    }
  }

  int UserVersion() REQUIRES(mu_) {
    Use s(Q("PRAGMA user_version"));
    s->Step();
    return static_cast<int>(s->Int(0));
  }

  void Migrate() REQUIRES(mu_) {
    if (UserVersion() == kRegistrySchemaVersion) return;  // the common case: no write lock
    Atomically([&]() REQUIRES(mu_) {
      int v = UserVersion();  // again, under the lock: another process may have migrated
      if (v > kRegistrySchemaVersion) {
        Fail(ErrorCode::kFailedPrecondition,
             "the registry '{}' has schema version {}, newer than this marquee understands ({}); "
             "upgrade marquee",
             path_, v, kRegistrySchemaVersion);
      }
      for (; v < kRegistrySchemaVersion; ++v) {
        Exec(kMigrations[v]);
        Use s(
            Q("INSERT INTO schema_migrations (version, applied_at, description) "
              "VALUES (?, strftime('%s', 'now'), ?)"));
        s->Bind(1, static_cast<int64_t>(v + 1)).Bind(2, kMigrationNames[v]);
        s->Run();
        Exec("PRAGMA user_version = " + std::to_string(v + 1));
      }
    });
  }

  int64_t ModelId(const std::string& name) REQUIRES(mu_) {
    Use s(Q("SELECT id FROM models WHERE name = ?"));
    s->Bind(1, name);
    if (!s->Step()) Fail(ErrorCode::kNotFound, "no model named '{}'", name);
    return s->Int(0);
  }

  void RequireVersion(const std::string& model, int64_t model_id, int64_t version) REQUIRES(mu_) {
    Use s(Q("SELECT 1 FROM model_versions WHERE model_id = ? AND version = ?"));
    s->Bind(1, model_id).Bind(2, version);
    if (!s->Step()) Fail(ErrorCode::kNotFound, "model '{}' has no version {}", model, version);
  }

  void WriteOutcome(const RunRecord& r) REQUIRES(mu_) {
    {
      Use s(
          Q("UPDATE runs SET status = ?, ended_at = ?, params = ?, timings = ?, split = ?, "
            "dataset_id = ?, protocol = ?, protocol_key = ?, artifact = ?, log = ? "
            "WHERE id = ?"));
      s->Bind(1, RunStatusName(r.status)).BindOrNull(2, r.ended_at).Bind(3, Dump(r.params));
      s->Bind(4, Dump(r.timings)).Bind(5, Dump(r.split)).BindOrNull(6, r.dataset_id);
      s->Bind(7, r.protocol).Bind(8, r.protocol_key).BindOrNull(9, r.artifact).Bind(10, r.log);
      s->Bind(11, r.id);
      s->Run();
    }
    Use s(
        Q("INSERT INTO run_metrics (run_id, name, ord, value) VALUES (?, ?, ?, ?) "
          "ON CONFLICT (run_id, name) DO UPDATE SET value = excluded.value"));
    int64_t ord = 0;
    for (const auto& [name, value] : r.metrics) {
      s->Bind(1, r.id).Bind(2, name).Bind(3, ord++).Bind(4, value);
      s->Run();
      s->Reset();
    }
  }

  // Appends the rows of `sql` (run columns, then `?` for `first` when not empty, the
  // parameters of Where(q), limit and offset) to `out`.
  void ReadRuns(std::string sql, const std::string& first, const RunQuery& q, int64_t limit,
                int64_t offset, std::vector<RunRecord>& out) REQUIRES(mu_) {
    if (limit > 0) {
      sql += " LIMIT ?";
    } else if (offset > 0) {
      sql += " LIMIT -1";
    }
    if (offset > 0) sql += " OFFSET ?";
    Use s(Q(sql));
    int i = 1;
    if (!first.empty()) s->Bind(i++, first);
    i = BindWhere(*s, q, i);
    if (limit > 0) s->Bind(i++, limit);
    if (offset > 0) s->Bind(i++, offset);
    while (s->Step()) out.push_back(RunFromRow(*s, q.details));
  }

  // A metric order in two parts, so that neither sorts the whole table: the runs with a value
  // walk run_metrics_by_value (name, value, run_id) in order, joining each run by id (a page
  // reads about offset + limit index entries), then the runs without one, by id.
  void ReadRunsByMetric(const std::string& columns, const RunQuery& q, std::vector<RunRecord>& out)
      REQUIRES(mu_) {
    const bool desc = q.sort == RunQuery::Sort::kMetricDesc;
    constexpr std::string_view kTable = " FROM runs r";
    static_assert(std::string_view(kRunFrom).starts_with(kTable));
    const std::string joins = kRunFrom + kTable.size();
    const std::string with_value = "sm.name = ? AND sm.value IS NOT NULL";
    ReadRuns(
        columns + " FROM run_metrics sm JOIN runs r ON r.id = sm.run_id" + joins +
            Where(q, false, with_value) +
            (desc ? " ORDER BY sm.value DESC, sm.run_id DESC" : " ORDER BY sm.value, sm.run_id"),
        q.sort_metric, q, q.limit, q.offset, out);
    const int64_t got = static_cast<int64_t>(out.size());
    if (q.limit > 0 && got >= q.limit) return;
    // Past the runs with a value: how many there are places the offset among the others.
    int64_t offset = 0;
    if (got == 0 && q.offset > 0) {
      Use c(Q("SELECT COUNT(*) FROM run_metrics sm JOIN runs r ON r.id = sm.run_id" +
              Where(q, true, with_value)));
      c->Bind(1, q.sort_metric);
      BindWhere(*c, q, 2);
      c->Step();
      offset = std::max<int64_t>(0, q.offset - c->Int(0));
    }
    ReadRuns(columns + kRunFrom +
                 Where(q, false,
                       "NOT EXISTS (SELECT 1 FROM run_metrics sm WHERE sm.run_id = r.id AND "
                       "sm.name = ? AND sm.value IS NOT NULL)") +
                 (desc ? " ORDER BY r.id DESC" : " ORDER BY r.id"),
             q.sort_metric, q, q.limit > 0 ? q.limit - got : 0, offset, out);
  }

  // `counting`: for COUNT(*), which reads no run columns. A threshold then probes the passing
  // ids while scanning a covering index of runs (bounded by the number of runs) instead of
  // looking each passing run up in the table (about 5x slower when half of 10,000 pass).
  // `first`: a condition before the others (its parameters bound before BindWhere's).
  static std::string Where(const RunQuery& q, bool counting = false,
                           const std::string& first = "") {
    std::string w;
    auto add = [&](const std::string& cond) { w += (w.empty() ? " WHERE " : " AND ") + cond; };
    if (!first.empty()) add(first);
    if (!q.model.empty()) add("r.model_name = ?");
    if (q.status) add("r.status = ?");
    if (q.before_id > 0) add("r.id < ?");
    if (q.started_after > 0) add("r.started_at >= ?");
    if (q.started_before > 0) add("r.started_at < ?");
    // Each threshold: the runs whose final value passes, found through run_metrics_by_value
    // (name, value). A NaN final value is stored as NULL and passes none. A listing lets
    // SQLite look the (few, with a selective threshold) passing runs up by id.
    for (const MetricThreshold& t : q.metrics) {
      add(fmt::format("{}r.id IN (SELECT run_id FROM run_metrics WHERE name = ? AND value {} ?)",
                      counting ? "+" : "", ThresholdOp(t)));
    }
    // Each param: a top-level key of the run's params whose value reads as the text (binds: key,
    // text, text, the text as a number or NULL; BindWhere).
    for (size_t i = 0; i < q.params.size(); ++i) {
      add("EXISTS (SELECT 1 FROM json_each(r.params) p WHERE p.key = ? AND "
          "(p.type = 'text' AND p.value = ? OR p.type IN ('true', 'false') AND p.type = ? OR "
          "p.type IN ('integer', 'real') AND p.value = ?))");
    }
    return w;
  }

  // The ORDER BY of an id order (metric orders: ReadRunsByMetric): the table's rowid.
  static const char* OrderBy(RunQuery::Sort sort) {
    return sort == RunQuery::Sort::kIdAsc ? " ORDER BY r.id" : " ORDER BY r.id DESC";
  }

  // Binds the parameters of Where(q); returns the next parameter index.
  static int BindWhere(Stmt& s, const RunQuery& q, int first = 1) {
    int i = first;
    if (!q.model.empty()) s.Bind(i++, q.model);
    if (q.status) s.Bind(i++, RunStatusName(*q.status));
    if (q.before_id > 0) s.Bind(i++, q.before_id);
    if (q.started_after > 0) s.Bind(i++, q.started_after);
    if (q.started_before > 0) s.Bind(i++, q.started_before);
    for (const MetricThreshold& t : q.metrics) {
      s.Bind(i++, t.metric);
      s.Bind(i++, t.value);
    }
    for (const auto& [key, text] : q.params) {
      s.Bind(i++, key);
      s.Bind(i++, text);
      s.Bind(i++, text);
      if (auto v = ParamNumber(text)) {
        s.Bind(i++, *v);
      } else {
        s.BindNull(i++);
      }
    }
    return i;
  }

  static RunRecord RunFromRow(Stmt& s, bool details) {
    RunRecord r;
    r.id = s.Int(0);
    r.model_name = s.Text(1);
    r.family = s.Text(2);
    r.status = ParseRunStatus(s.Text(3));
    r.params = ParseJson(s.Text(4), "run params");
    r.timings = ParseJson(s.Text(5), "run timings");
    r.dataset_id = s.Text(6);
    r.protocol = s.Text(7);
    r.protocol_key = s.Text(8);
    r.artifact = s.Text(9);
    r.code_version = s.Text(10);
    r.host = s.Text(11);
    r.pid = s.Int(12);
    r.started_at = s.Int(13);
    r.ended_at = s.IsNull(14) ? 0 : s.Int(14);
    r.version = s.IsNull(15) ? 0 : s.Int(15);
    r.source = std::string(s.Int(16) != 0 ? kRunSourceExternal : kRunSourceTrain);
    r.description = s.Text(17);
    r.dataset_given = s.Text(18);
    if (details) {
      constexpr int d = kRunDetailColumn;
      r.split = ParseJson(s.Text(d), "run split");
      r.config_given = ParseJson(s.Text(d + 1), "run config");
      r.config_resolved = ParseJson(s.Text(d + 2), "run config");
      r.log = s.Text(d + 3);
    }
    return r;
  }

  void LoadMetrics(RunRecord& r) REQUIRES(mu_) {
    Use s(Q("SELECT name, value FROM run_metrics WHERE run_id = ? ORDER BY ord"));
    s->Bind(1, r.id);
    while (s->Step()) {
      r.metrics.emplace_back(
          s->Text(0), s->IsNull(1) ? std::numeric_limits<double>::quiet_NaN() : s->Double(1));
    }
  }

  // The tags of every run in `runs`, in one range scan over their ids (a page of a listing is
  // a narrow range; few runs have tags).
  void LoadTags(std::vector<RunRecord>& runs) REQUIRES(mu_) {
    if (runs.empty()) return;
    const auto [lo, hi] =
        std::minmax_element(runs.begin(), runs.end(),
                            [](const RunRecord& a, const RunRecord& b) { return a.id < b.id; });
    std::unordered_map<int64_t, std::vector<RunRecord*>> by_id;  // GetRuns may repeat an id
    for (RunRecord& r : runs) by_id[r.id].push_back(&r);
    Use s(Q("SELECT run_id, key, value FROM run_tags WHERE run_id BETWEEN ? AND ?"));
    s->Bind(1, lo->id).Bind(2, hi->id);
    while (s->Step()) {
      auto it = by_id.find(s->Int(0));
      if (it == by_id.end()) continue;
      for (RunRecord* r : it->second) r->tags[s->Text(1)] = s->Text(2);
    }
  }

  std::map<std::string, std::string> RunTags(int64_t run_id) REQUIRES(mu_) {
    Use s(Q("SELECT key, value FROM run_tags WHERE run_id = ?"));
    s->Bind(1, run_id);
    std::map<std::string, std::string> out;
    while (s->Step()) out[s->Text(0)] = s->Text(1);
    return out;
  }

  void PutRunTag(int64_t run_id, const std::string& key, const std::string& value) REQUIRES(mu_) {
    Use s(
        Q("INSERT INTO run_tags (run_id, key, value) VALUES (?, ?, ?) "
          "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value"));
    s->Bind(1, run_id).Bind(2, key).Bind(3, value);
    s->Run();
  }

  // The rows `sql` selects for run `run_id` (parameter ?1; `bind` binds the others), each made a
  // T by `row`, read from one snapshot. kNotFound for an unknown run.
  template <typename T>
  std::vector<T> RunRows(int64_t run_id, const std::string& sql,
                         const std::function<void(Stmt&)>& bind,
                         const std::function<T(Stmt&)>& row) {
    ConnectionLock lock(&mu_);
    std::vector<T> out;
    Read([&]() REQUIRES(mu_) {
      RequireRun(run_id);
      Use s(Q(sql));
      s->Bind(1, run_id);
      bind(*s);
      while (s->Step()) out.push_back(row(*s));
    });
    return out;
  }

  // kNotFound unless run `run_id` exists.
  void RequireRun(int64_t run_id) REQUIRES(mu_) {
    Use s(Q("SELECT 1 FROM runs WHERE id = ?"));
    s->Bind(1, run_id);
    if (!s->Step()) Fail(ErrorCode::kNotFound, "no run {} (marquee runs list shows them)", run_id);
  }

  // kNotFound unless run `run_id` exists; kFailedPrecondition unless it is an external run that
  // is still running. `what` completes "cannot ... run N".
  void RequireExternalRunning(int64_t run_id, std::string_view what) REQUIRES(mu_) {
    Use s(
        Q("SELECT r.status, e.run_id IS NOT NULL FROM runs r "
          "LEFT JOIN external_runs e ON e.run_id = r.id WHERE r.id = ?"));
    s->Bind(1, run_id);
    if (!s->Step()) store::FailNoRun(run_id);
    store::CheckExternalRunning(run_id, s->Int(1) != 0, s->Text(0), what);
  }

  static ModelRecord ModelFromRow(Stmt& s) {
    ModelRecord m;
    m.id = s.Int(0);
    m.name = s.Text(1);
    m.description = s.Text(2);
    m.created_at = s.Int(3);
    m.num_versions = s.Int(4);
    m.latest_version = s.Int(5);
    m.updated_at = s.IsNull(6) ? 0 : s.Int(6);
    return m;
  }

  static ExperimentRecord ExperimentFromRow(Stmt& s) {
    ExperimentRecord e;
    e.id = s.Int(0);
    e.name = s.Text(1);
    e.mode = s.Text(2);
    e.salt = s.Text(3);
    e.definition = ParseJson(s.Text(4), "experiment definition");
    e.source = s.Text(5);
    e.state = ParseExperimentState(s.Text(6));
    e.created_at = s.Int(7);
    e.first_started_at = s.IsNull(8) ? 0 : s.Int(8);
    e.updated_at = s.Int(9);
    return e;
  }

  static VersionRecord VersionFromRow(Stmt& s) {
    VersionRecord v;
    v.model_name = s.Text(0);
    v.version = s.Int(1);
    v.artifact = s.Text(2);
    v.run_id = s.IsNull(3) ? 0 : s.Int(3);
    v.dataset_id = s.Text(4);
    v.family = s.Text(5);
    v.protocol = s.Text(6);
    v.protocol_key = s.Text(7);
    v.metrics = ParseJson(s.Text(8), "version metrics");
    v.metric_order = ParseJson(s.Text(9), "version metric order");
    if (!v.metric_order.is_array()) v.metric_order = nlohmann::json::array();
    v.params = ParseJson(s.Text(10), "version params");
    v.created_at = s.Int(11);
    return v;
  }

  const std::string path_;
  ReentrantMutex mu_;  // the connection: db_, its statements and its transaction
  sqlite3* db_ GUARDED_BY(mu_) = nullptr;
  int depth_ GUARDED_BY(mu_) = 0;           // open transaction nesting
  bool read_once_ GUARDED_BY(mu_) = false;  // the connection has read the file at least once
  std::unordered_map<std::string, std::unique_ptr<Stmt>> cache_ GUARDED_BY(mu_);
};

}  // namespace

std::string_view RunStatusName(RunStatus s) {
  switch (s) {
    case RunStatus::kRunning:
      return "running";
    case RunStatus::kCompleted:
      return "completed";
    case RunStatus::kFailed:
      return "failed";
    case RunStatus::kInterrupted:
      return "interrupted";
  }
  return "running";
}

RunStatus ParseRunStatus(std::string_view name) {
  if (name == "running") return RunStatus::kRunning;
  if (name == "completed") return RunStatus::kCompleted;
  if (name == "failed") return RunStatus::kFailed;
  if (name == "interrupted") return RunStatus::kInterrupted;
  Fail(ErrorCode::kInvalidArgument,
       "unknown run status '{}' (running, completed, failed, interrupted)", name);
}

std::string_view ExperimentStateName(ExperimentState s) {
  switch (s) {
    case ExperimentState::kDraft:
      return "draft";
    case ExperimentState::kRunning:
      return "running";
    case ExperimentState::kStopped:
      return "stopped";
  }
  return "draft";
}

ExperimentState ParseExperimentState(std::string_view name) {
  if (name == "draft") return ExperimentState::kDraft;
  if (name == "running") return ExperimentState::kRunning;
  if (name == "stopped") return ExperimentState::kStopped;
  Fail(ErrorCode::kInvalidArgument, "unknown experiment state '{}' (draft, running, stopped)",
       name);
}

std::optional<double> RunRecord::metric(std::string_view name) const {
  for (const auto& [k, v] : metrics) {
    if (k == name) return v;
  }
  return std::nullopt;
}

std::optional<double> VersionRecord::metric(const std::string& name) const {
  auto it = metrics.find(name);
  if (it == metrics.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

void ValidateRegistryText(std::string_view text, std::string_view what, size_t max_bytes) {
  if (text.size() > max_bytes) {
    Fail(ErrorCode::kInvalidArgument, "the {} is {} bytes long; at most {} are kept", what,
         text.size(), max_bytes);
  }
  if (const size_t bad = FirstInvalidUtf8(text); bad < text.size()) {
    Fail(ErrorCode::kInvalidArgument, "the {} is not valid UTF-8 (byte {} of '{}')", what, bad,
         QuoteForMessage(text, 80));
  }
  if (text.find('\0') != std::string_view::npos) {
    Fail(ErrorCode::kInvalidArgument, "the {} contains a NUL byte ('{}')", what,
         QuoteForMessage(text, 80));
  }
}

void ValidateTag(std::string_view key, std::string_view value) {
  ValidateCatalogName(key, "tag key");
  ValidateRegistryText(value, "value of tag '" + std::string(key) + "'", kMaxTagValueBytes);
}

bool RunRecord::external() const { return source == kRunSourceExternal; }

void ValidateMetricKey(std::string_view key) {
  auto allowed = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == '@' || c == '/' || c == ':';
  };
  if (key.empty() || key.size() > kMaxMetricKeyBytes || key.front() == '-' ||
      !std::all_of(key.begin(), key.end(), allowed)) {
    Fail(ErrorCode::kInvalidArgument,
         "'{}' is not a valid metric key: use 1-{} letters, digits, '.', '_', '-', '@', '/' or "
         "':', not starting with '-' (e.g. auc, recall@20, val/loss)",
         QuoteForMessage(key, 80), kMaxMetricKeyBytes);
  }
}

void ValidateMetricPoint(const MetricPoint& p) {
  ValidateMetricKey(p.key);
  if (!std::isfinite(p.value)) {
    Fail(ErrorCode::kInvalidArgument, "metric '{}' at step {}: the value {} is not finite", p.key,
         p.step, p.value);
  }
  if (p.step < 0) {
    Fail(ErrorCode::kInvalidArgument, "metric '{}': step {} is negative (steps start at 0)", p.key,
         p.step);
  }
  if (p.timestamp_ms < 0) {
    Fail(ErrorCode::kInvalidArgument, "metric '{}' at step {}: timestamp {} is negative", p.key,
         p.step, p.timestamp_ms);
  }
}

void ValidateRunArtifactName(std::string_view name) {
  auto bad = [&](std::string_view why) {
    Fail(ErrorCode::kInvalidArgument,
         "'{}' is not a valid artifact name ({}): use a relative path of 1-{} bytes of letters, "
         "digits, '.', '_', '-' and '/' (e.g. model.json, plots/roc.png)",
         QuoteForMessage(name, 80), why, kMaxRunArtifactNameBytes);
  };
  if (name.empty()) bad("it is empty");
  if (name.size() > kMaxRunArtifactNameBytes) bad("too long");
  if (name.front() == '-') bad("it starts with '-'");
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-' || c == '/';
    if (!ok) bad("a character other than those");
  }
  size_t start = 0;
  for (;;) {
    const size_t slash = name.find('/', start);
    const std::string_view part = name.substr(start, slash - start);
    if (part.empty()) bad("an empty path component");
    if (part == "." || part == "..") bad("a '.' or '..' component");
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
}

std::unique_ptr<MetadataStore> OpenSqliteStore(const std::string& path,
                                               const SqliteStoreOptions& options) {
  return std::make_unique<SqliteStore>(path, options);
}

std::string WhyARegistryMustExist(const std::string& home, Env* env) {
  const size_t n = ArtifactStore(home, env).List().size();
  if (n > 0) return fmt::format("'{}/artifacts' holds {} model artifact(s)", home, n);
  // Every command that writes a catalog (datasets, tabular snapshots, bandit logs) creates the
  // registry first, so a named entry without a registry means the registry was lost.
  for (const char* kind : {"datasets", "tabular", "bandit"}) {
    const std::string names = fmt::format("{}/{}/names", home, kind);
    if (!env->FileExists(names)) continue;
    size_t entries = 0;
    for (const std::string& f : env->ListDir(names)) {
      if (f.size() > 5 && f.ends_with(".json")) ++entries;
    }
    if (entries > 0) return fmt::format("'{}' names {} catalogued {}", names, entries, kind);
  }
  return "";
}

}  // namespace marquee

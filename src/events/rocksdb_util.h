// The embedded RocksDB setup shared by every log under the home directory (events, exposures,
// bandit decisions): one set of options, one mapping of RocksDB statuses onto ErrorCode, and one
// way to survive a full disk.
//
// A full disk (or any failed write) stops a RocksDB database: every later write answers the
// same error until DB::Resume() succeeds. This build of RocksDB (7.8, assertions on) also aborts
// the process when a file writer that saw an error is used again, so:
//   - RocksDB's own info LOG file is replaced by a logger that forwards to spdlog (its writer
//     aborted the process on the first message after a failed write);
//   - RocksDB's automatic recovery (which needs free space of a whole write buffer and logged
//     through that file) is off: RocksDbRecovery::TryResume resumes instead, at most once per
//     interval, from the thread that writes;
//   - CloseRocksDb skips the WAL flush that aborts on a stopped database.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/listener.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "common/mutex.h"

namespace marquee {

// Throws marquee::Error for a failed status: kCorruption; kUnavailable for a busy database, one
// locked by another process, or a full disk (the message then says "no space left on device");
// else kIOError. The message is "LOG: WHAT: status".
[[noreturn]] void FailRocksStatus(const rocksdb::Status& s, std::string_view log,
                                  std::string_view what);

// True for a status that says the disk (or its quota) is full.
bool IsNoSpace(const rocksdb::Status& s);

// Whether a stopped database accepts writes again, and the last failure. One per database, made
// by OpenRocksDb (a RocksDB EventListener). Thread-safe.
class RocksDbRecovery : public rocksdb::EventListener {
 public:
  // RocksDB callbacks (called with the database's mutex held: they only record).
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason reason, rocksdb::Status error,
                            bool* auto_recovery) override;
  void OnBackgroundError(rocksdb::BackgroundErrorReason reason, rocksdb::Status* error) override
      EXCLUDES(mu_);

  // False while a failed write or flush stops the database; `reason` (may be null) gets the
  // failure ("no space left on device: ...").
  bool writable(std::string* reason) const EXCLUDES(mu_);
  // When stopped and the last try is at least `interval` old: DB::Resume() (flushes the
  // memtables to new files and starts a new write-ahead log). Returns whether the database
  // accepts writes. Never throws.
  // When Resume would not start a new write-ahead log (RocksDB switches it only when the
  // memtable holds data) and the failed file was that log: false. Then only a reopen (close,
  // open) clears the failure; writing after Resume would abort in RocksDB 7.8.
  bool TryResume(rocksdb::DB* db, std::chrono::milliseconds interval) EXCLUDES(mu_);
  // Whether the failure was a write-ahead-log write while the memtable is empty: Resume cannot
  // clear it (see TryResume); the owner must close and reopen the database.
  bool NeedsReopen(rocksdb::DB* db) const EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  bool stopped_ GUARDED_BY(mu_) = false;
  bool wal_failed_ GUARDED_BY(mu_) = false;  // the failure was a write (its WAL append)
  std::string reason_ GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point last_try_ GUARDED_BY(mu_){};
};

struct RocksDbTuning {
  // Memtable size (a flush writes up to this much). The logs are append-only and read back only
  // by recent-history lookups, so a small memtable costs little; a server holds three logs with
  // up to two memtables each; with 64 MiB memtables its RSS still climbed after a 10-minute soak.
  size_t write_buffer_bytes = 8 << 20;
  // Test hook: the RocksDB environment to use (not owned; must outlive the database). Null: the
  // default POSIX one.
  rocksdb::Env* env = nullptr;
};

// Opens the database in `dir` (created when missing unless `read_only`: then a consistent
// read-only view, allowed while another process writes). Errors through FailRocksStatus with
// `log` naming it ("event log"). `recovery` (may be null) gets the database's RocksDbRecovery.
std::unique_ptr<rocksdb::DB> OpenRocksDb(const std::string& dir, bool read_only,
                                         std::string_view log, const RocksDbTuning& tuning = {},
                                         std::shared_ptr<RocksDbRecovery>* recovery = nullptr);

// The RocksDbRecovery of a database opened by OpenRocksDb (null for another database).
std::shared_ptr<RocksDbRecovery> RecoveryOf(rocksdb::DB* db);

// db->Write, and when it fails because an earlier failure stopped the database: one
// RocksDbRecovery::TryResume (at most once a second) and, if that worked, the write again.
// For writers without their own retry loop (DurableLog has one, and reopens the database when
// TryResume cannot help; a writer using this one stays stopped until restarted then).
rocksdb::Status WriteRecovering(rocksdb::DB* db, const rocksdb::WriteOptions& options,
                                rocksdb::WriteBatch* batch);

// Flushes the write-ahead log (when `flush_wal`; unless a failure stopped the database, where
// RocksDB would abort the process) and closes. Acknowledged synced writes are in the log
// already. Never throws; null is allowed.
void CloseRocksDb(rocksdb::DB* db, bool flush_wal);

// A writable database that recovers from failed writes by itself, for a log with one writer
// thread (DurableLog, the decision log). While a failure stops it, Recover (on the writer thread,
// at most once per retry interval) tries DB::Resume(), or a close and reopen when Resume cannot
// clear the failure (RocksDbRecovery::NeedsReopen); the reopen replays the write-ahead log and
// drops the torn last record, the failed write. Readers on other threads use Read(), which
// holds the database for as long as they hold the returned Reader.
class ReopenableDb {
 public:
  // Opens `dir` (created when missing unless `read_only`: then a consistent read-only view
  // that is never recovered); errors as OpenRocksDb.
  ReopenableDb(std::string dir, bool read_only, std::string what, RocksDbTuning tuning,
               std::chrono::milliseconds retry_interval);
  ~ReopenableDb();  // closes (no WAL flush on a stopped database)
  ReopenableDb(const ReopenableDb&) = delete;
  ReopenableDb& operator=(const ReopenableDb&) = delete;

  // The writer thread's database: null after a reopen that failed (reopen_error() says why).
  // Only the writer thread may call this, and Recover.
  rocksdb::DB* writer_db() const { return OwnDb(); }
  // Writer thread only (see OwnDb).
  const std::string& reopen_error() const NO_THREAD_SAFETY_ANALYSIS { return reopen_error_; }

  // A reader's hold on the database (any thread); kUnavailable while a reopen after a failed
  // write has not succeeded.
  struct Reader {
    SharedHold hold;  // of mu_, shared: the database stays open while it lives
    rocksdb::DB* db;
  };
  Reader Read() const EXCLUDES(mu_);

  // False while a failure stops writes; `reason` (may be null) gets it. Any thread. True for a
  // read-only view.
  bool Writable(std::string* reason) const EXCLUDES(mu_);
  // Writer thread, while !Writable: one recovery attempt when the last one is at least the
  // retry interval old. Returns whether the database accepts writes. Never throws.
  bool Recover() EXCLUDES(mu_);

 private:
  // The writer thread's view of db_ and recovery_: it is the only thread that replaces them
  // (under mu_ held exclusively), so its own reads need no lock; the analysis cannot know which
  // thread calls, hence no analysis here.
  rocksdb::DB* OwnDb() const NO_THREAD_SAFETY_ANALYSIS { return db_.get(); }
  RocksDbRecovery* OwnRecovery() const NO_THREAD_SAFETY_ANALYSIS { return recovery_.get(); }

  const std::string dir_;
  const bool read_only_;
  const std::string what_;
  const RocksDbTuning tuning_;
  const std::chrono::milliseconds retry_interval_;
  // Replaced only by the writer thread (Recover), under mu_ held exclusively; readers hold it
  // shared.
  mutable SharedMutex mu_;
  std::unique_ptr<rocksdb::DB> db_ GUARDED_BY(mu_);
  std::shared_ptr<RocksDbRecovery> recovery_ GUARDED_BY(mu_);  // db_'s failure state
  std::string reopen_error_ GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point last_recovery_{};  // writer thread only
};

}  // namespace marquee

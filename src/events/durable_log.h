// DurableLog: an embedded RocksDB key-value log with group-committed, fsynced appends, shared by
// the event log (events/event_log.h), the experiment exposure log (experiments/exposure_log.h)
// and the bandit decision log (bandits/decision_log.h). Callers choose the key layout:
//
//   - every append goes through one writer thread that takes everything queued (up to
//     max_group_records), writes it as one WriteBatch with WriteOptions.sync = true and only
//     then reports success: group commit, so N concurrent callers cost one fsync, and an
//     acknowledged record survives kill -9 or power loss (with sync = false: once written to the
//     kernel, so it survives kill -9, and fsynced by a background thread every sync_interval);
//   - a record marked `sequenced` gets BE64(seq) appended to its key, seq increasing across
//     restarts (persisted under the key "m:seq" in the same batch), so records with equal key
//     prefixes never collide;
//   - a log whose writes depend on what it holds (the decision log: a reward joins only an open
//     decision) decides them on the writer thread (PrepareAsync), so they need no locks and
//     cannot race, and still share the group commit.
//
// Errors: Open throws kIOError / kCorruption naming the directory and the cause, kUnavailable
// when another process holds the database; appends report the write's error to their callback
// (kUnavailable, "no space left on device", when the disk is full: nothing of the group is
// stored). A failed write stops the database; the writer thread then retries DB::Resume() every
// retry_interval, with or without appends, so the log writes again by itself once space is
// freed, and writable() says whether appends can be made durable now.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "events/rocksdb_util.h"

namespace marquee {

struct LogRecord;

struct DurableLogOptions {
  std::string what = "log";  // names the log in error messages ("event log: write: ...")
  bool sync = true;          // fsync the write-ahead log before acknowledging
  // With sync = false: a background thread fsyncs the write-ahead log this often when anything
  // was written since (0: never; RocksDB's own syncs only). An append is then acknowledged once
  // its write() reached the kernel: it survives kill -9 of the process, and a power loss loses
  // at most about this interval of acknowledged records.
  std::chrono::milliseconds sync_interval{0};
  size_t max_group_records = 65536;  // upper bound on one group commit
  // With sync = true: group commits start at least this far apart, so a busy log fsyncs at most
  // 1 / commit_gap times a second and each fsync carries what queued meanwhile. An append that
  // arrives after a quiet spell is written at once; one that arrives just after a commit began
  // waits up to this long more. 0: each commit starts as soon as the previous one ended.
  std::chrono::microseconds commit_gap{0};
  // Open a consistent read-only view (allowed while another process writes); appends then fail
  // with kFailedPrecondition.
  bool read_only = false;
  // The writer thread at lower CPU priority (LowerCurrentThreadPriority): for logs whose
  // appends nobody waits on (the exposure log), never for acknowledged writes.
  bool background = false;
  // After a failed write: the interval between attempts to resume writing.
  std::chrono::milliseconds retry_interval{500};
  RocksDbTuning tuning;  // memtable size; a test's RocksDB environment
  // Called on the writer thread once per group, after its batch was written (`committed`) or
  // not, before the group's callbacks: for state that PrepareAsync callers keep per group.
  std::function<void(bool committed)> on_group_end;
  // Called on the writer thread once per group, after its PrepareAsync callbacks and before its
  // batch is built: records written with the group (unsequenced), e.g. aggregates the prepares
  // updated, once per group instead of once per write. Throwing fails the whole group.
  std::function<std::vector<LogRecord>()> on_group_prepared;
  // Called on the writer thread for each sequenced record of a group once its batch was
  // written, with the sequence number it got, before the group's callbacks: a cache of what
  // the log holds (the event log's recent events per user) sees every record an appender is
  // told about. Must not throw.
  std::function<void(const LogRecord& record, uint64_t seq)> on_committed;
};

struct LogRecord {
  std::string key;
  std::string value;
  bool sequenced = true;  // append BE64(seq) to the key
  bool erase = false;     // delete `key` (never sequenced; `value` is ignored)
};

class DurableLog {
 public:
  static std::unique_ptr<DurableLog> Open(const std::string& dir, DurableLogOptions options);
  ~DurableLog();  // drains pending appends, then closes

  // Appends `records` durably; `done(nullptr)` once the group holding them is fsynced, or
  // `done(error)`. Called on the writer thread (keep it short). Empty `records` answer at once.
  void AppendAsync(std::vector<LogRecord> records, std::function<void(std::exception_ptr)> done);
  // Same, blocking the caller until durable; rethrows the write's error.
  void Append(std::vector<LogRecord> records);
  // A write decided on the writer thread: `prepare` runs there, in queue order, may read the
  // log (Get, Scan) and returns the records to write with its group, or throws to fail this
  // write alone (done(that error)). It does not see the records of the earlier writes of its
  // group (not committed yet): a caller that needs them keeps them until on_group_end. Then
  // `done` as for AppendAsync. Counts as one record towards max_group_records.
  void PrepareAsync(std::function<std::vector<LogRecord>()> prepare,
                    std::function<void(std::exception_ptr)> done);

  // Point lookup; false when absent.
  bool Get(std::string_view key, std::string* value) const;
  // Visits records from the first key >= `from` forwards (Scan) or from the last key <= `from`
  // backwards (ScanBackward) while `fn` returns true. `fn` may throw; the error propagates.
  using Visitor = std::function<bool(std::string_view key, std::string_view value)>;
  void Scan(std::string_view from, const Visitor& fn) const;
  // Scan, below `upper` only (RocksDB's iterate_upper_bound: the deleted keys beyond it are never
  // stepped over).
  void Scan(std::string_view from, std::string_view upper, const Visitor& fn) const;
  void ScanBackward(std::string_view from, const Visitor& fn) const;

  // One consistent point-in-time view (a RocksDB snapshot): reads through it agree with each
  // other whatever is written meanwhile. Valid only inside WithSnapshot's `fn`.
  class Snapshot {
   public:
    virtual ~Snapshot() = default;
    virtual bool Get(std::string_view key, std::string* value) const = 0;
    virtual void Scan(std::string_view from, const Visitor& fn) const = 0;
  };
  void WithSnapshot(const std::function<void(const Snapshot&)>& fn) const;

  // False while an earlier failed write (a full disk) stops the log, with the failure in
  // `reason` (may be null); appends then fail until the writer thread has resumed it.
  bool writable(std::string* reason = nullptr) const;

  const DurableLogOptions& options() const;
  size_t queued() const;      // records waiting for the writer
  uint64_t appended() const;  // sequenced records appended by this process
  uint64_t group_commits() const;
  uint64_t wal_syncs() const;  // background fsyncs of the write-ahead log (sync_interval)

  class Impl;

 private:
  explicit DurableLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Big-endian 64-bit encoding (keys sort numerically).
void PutBe64(std::string& out, uint64_t v);
uint64_t GetBe64(const char* p);

}  // namespace marquee

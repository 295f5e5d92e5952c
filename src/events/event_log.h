// EventLog: the durable log of user events (plays, clicks, purchases) that `marquee serve`
// ingests through POST /v1/events and reads back per user for real-time recommendations
// (docs/formats/events.md). An interface with two implementations, chosen by the home's
// `state` URL (OpenEventStore, state/online_state.h): Redis (events/redis_event_log.h,
// docs/formats/state-redis.md), and the default that Open() returns, embedded RocksDB under
// $home/events:
//
//   - key "e" USER 0x00 BE64(ts ^ sign bit) BE64(seq): a user's events are contiguous and in
//     time order, so the per-user recent history is one reverse range scan (the index is the
//     key order itself, no second structure to keep consistent); a server keeps each user's
//     newest events in memory once read (events/recent_events.h), updated by every append, so
//     repeated reads of a user do not scan;
//   - every append goes through one writer thread that takes everything queued, writes it as one
//     WriteBatch with WriteOptions.sync = true (write-ahead log fsynced) and only then reports
//     success: group commit, so N concurrent requests cost one fsync, and an acknowledged event
//     survives kill -9 or power loss (with sync = false: kill -9 only; EventLogOptions);
//   - a full disk fails the appends that cannot be stored (kUnavailable, "no space left on
//     device"; never acknowledged), writable() turns false (the server's /readyz answers 503),
//     and the log resumes by itself once space is freed (events/durable_log.h).
//
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

struct Event {
  std::string user;
  std::string item;
  std::string type = "event";  // free-form: "play", "click", "purchase", ...
  float value = 1.0f;
  int64_t ts = 0;  // Unix seconds
};

struct StoredEvent : Event {
  uint64_t seq = 0;  // assigned at append, increasing across restarts
};

// Checks an event's fields (non-empty ids of at most 256 bytes without NUL, a finite value, a
// type of at most 64 bytes); kInvalidArgument naming `where` ("events[3]") and the field.
void ValidateEvent(const Event& e, std::string_view where);

// An event's item, type and value as both implementations store them: u16 item length, item,
// u16 type length, type, f32 value (little-endian). Decode returns false for a damaged value.
std::string EncodeEventValue(const Event& e);
bool DecodeEventValue(std::string_view value, Event& out);

struct EventLogOptions {
  // true: fsync the write-ahead log before acknowledging (survives power loss). false: acknowledge
  // once the write reached the kernel (survives kill -9 of the process, not a power loss) and
  // fsync in the background every `sync_interval` (`[serve] event_sync = "write"`).
  bool sync = true;
  std::chrono::milliseconds sync_interval{100};
  // Each user's newest `recent_per_user` events kept in memory for Recent (events/recent_events.h;
  // RocksDB only, never read_only), about `recent_max_events` in all. 0: Recent always scans.
  size_t recent_per_user = 1000;
  size_t recent_max_events = size_t{1} << 18;
  size_t max_group_events = 65536;  // upper bound on one group commit
  // With sync: group commits start at least this far apart (DurableLogOptions::commit_gap).
  std::chrono::microseconds commit_gap{0};
  // Open a consistent read-only view (allowed while a server holds the log); appends then fail
  // with kFailedPrecondition.
  bool read_only = false;
  // After a failed write (a full disk): the interval between attempts to resume writing.
  std::chrono::milliseconds retry_interval{500};
  RocksDbTuning tuning;  // memtable size; a test's RocksDB environment
};

class EventLog {
 public:
  // Opens (creating) the embedded RocksDB log in `dir`. kIOError / kCorruption name the
  // directory and the cause; kUnavailable when another process holds it.
  static std::unique_ptr<EventLog> Open(const std::string& dir, EventLogOptions options = {});
  virtual ~EventLog() = default;  // drains pending appends, then closes

  // Appends `events` durably; returns when they are in the fsynced log. Blocks the caller.
  virtual void Append(std::vector<Event> events) = 0;
  // Same, asynchronously: `done(nullptr)` once durable, or `done(error)`; called on the writer
  // thread (keep it short). Events are validated by the caller.
  virtual void AppendAsync(std::vector<Event> events,
                           std::function<void(std::exception_ptr)> done) = 0;

  // The user's most recent `limit` events, newest first. kUnavailable when the store cannot be
  // reached (Redis down).
  virtual std::vector<StoredEvent> Recent(std::string_view user, size_t limit) const = 0;
  // Every event, in (user, ts, seq) order. `fn` returning false stops the scan.
  virtual void ForEach(const std::function<bool(const StoredEvent&)>& fn) const = 0;

  // False while a failed write (a full disk, Redis down) stops the log: appends fail until it
  // resumes by itself; `reason` (may be null) gets the failure. Cheap; any thread.
  virtual bool writable(std::string* reason = nullptr) const = 0;

  virtual uint64_t appended() const = 0;  // events appended by this process
  virtual uint64_t group_commits() const = 0;
  // Recent calls answered from memory (events/recent_events.h) and those that read the store.
  virtual uint64_t recent_hits() const { return 0; }
  virtual uint64_t recent_misses() const { return 0; }
  // Where the log lives, for messages (the RocksDB directory, or "redis://host:port/db").
  virtual std::string Describe() const = 0;
};

}  // namespace marquee

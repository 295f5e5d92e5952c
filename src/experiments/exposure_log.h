// ExposureLog: every experiment exposure (which member saw which cell's list, when, and for
// interleaving which ranker contributed each item), in an embedded RocksDB under
// $home/experiments/exposures (docs/formats/exposures.md), written through DurableLog (the
// event log's group-commit writer: one fsynced WriteBatch per group), or in Redis when
// ExposureLogOptions::redis is set (docs/formats/state-redis.md: the same groups in a sorted set
// per experiment, first exposures marked with HSETNX so that exactly one replica marks each).
//
// Durability contract: Record() is asynchronous. It appends the exposure to an in-memory buffer
// (one mutex, no syscall) and returns; a flusher thread wakes every flush_interval, encodes the
// buffer and writes it as one fsynced group commit. The /v1/recommend response does NOT wait for
// that fsync: waiting would add a disk flush to every experiment request (milliseconds against a
// sub-millisecond recommendation), and waking a writer per request costs a context switch. The
// buffer is bounded (max_queue exposures): when it is full the exposure is dropped and counted
// (dropped()), never blocking serving. A crash can therefore lose the exposures of the last
// flush interval plus one fsync (about 100 ms of traffic by default); a clean shutdown (SIGTERM,
// the destructor) writes everything buffered.
//
// First exposures: the first exposure of each (experiment, member) is marked `first` and a
// marker key is stored with it, so the mark survives restarts (decided on the flusher thread,
// so the request path never reads the database).
//
// The request path records a ShownExposure: a view of item indices into the ranking model's
// catalogue and of the experiment by pointer. Record copies it into pooled buffers (no
// allocation once the pools have grown, no per-item string, no reference counting: the owners
// of the pointers are pinned once per flush, not per exposure); the flusher resolves ids when it
// encodes. A pinned catalogue (a model version) stays alive until the flush after its last
// exposure, at most one flush interval after the model was swapped out.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "common/mutex.h"
#include "events/redis_client.h"
#include "experiments/experiment.h"

namespace marquee {
class ExposureStore;  // where the groups are stored (exposure_log.cc): RocksDB or Redis
}

namespace marquee {

inline constexpr uint8_t kNoRanker = 255;

struct Exposure {
  std::string experiment;
  std::string cell;  // A/B: the member's cell; interleave: the first cell (both rankers shown)
  std::string user;
  int64_t ts = 0;  // Unix seconds
  bool first = false;
  std::vector<std::string> items;  // shown, in order
  std::vector<uint8_t> rankers;    // interleave: index of the cell that contributed each item
  uint64_t seq = 0;                // assigned by the log
};

// An exposure as the serving path records it (see the header comment): a view, valid during the
// Record call; `owners` keep what the pointers point to alive.
struct ShownExposure {
  const ExperimentSpec* spec = nullptr;  // the experiment's name and its cells' names
  uint8_t cell = 0;                      // index into spec->cells
  std::string_view user;
  int64_t ts = 0;  // Unix seconds
  // catalogues[r]: the item ids of ranker r's model (A/B: only [0] is used). Item i is
  // (*catalogues[rankers.empty() ? 0 : rankers[i]])[items[i]].
  const std::vector<std::string>* catalogues[2] = {nullptr, nullptr};
  std::span<const uint32_t> items;   // shown, in order
  std::span<const uint8_t> rankers;  // interleave: index of the cell that contributed each item
  // Owners of spec and catalogues (shared_ptrs that own them, possibly aliasing). Record copies
  // an owner only when it is not pinned for the current flush yet.
  const std::shared_ptr<const void>* owners[3] = {nullptr, nullptr, nullptr};
};

struct ExposureLogOptions {
  bool sync = true;
  size_t max_queue = 100000;  // exposures buffered before new ones are dropped
  std::chrono::milliseconds flush_interval{100};
  bool read_only = false;  // a consistent view for analysis while a server writes
  // Set: the log lives in this Redis (the home's `state` URL) and Open's `dir` is not used.
  std::optional<RedisUrl> redis;
};

class ExposureLog {
 public:
  // Opens (creating) the log in `dir` ($home/experiments/exposures).
  static std::unique_ptr<ExposureLog> Open(const std::string& dir, ExposureLogOptions options = {});
  ~ExposureLog();  // drains the queue
  // False while a failed write stops the log (a full disk; it resumes by itself); `reason`
  // (may be null) gets why. Thread-safe.
  bool writable(std::string* reason = nullptr) const;

  // Queues `e` (ts and the item list as given); the first-exposure mark is decided when it is
  // written, as described above. Returns false when the exposure was dropped because the queue
  // is full. Never blocks on I/O.
  bool Record(const ShownExposure& e);
  // The same for an exposure given by names and ids (tests, tools; it builds a ShownExposure).
  bool Record(const Exposure& e);
  // Blocks until everything recorded before the call is durable; rethrows a write error.
  void Flush();

  // The exposures of `experiment` in time order; `fn` returning false stops the scan.
  void ForEach(std::string_view experiment, const std::function<bool(const Exposure&)>& fn) const;

  uint64_t recorded() const { return recorded_.load(); }
  uint64_t dropped() const { return dropped_.load(); }
  uint64_t failed() const { return failed_.load(); }  // lost to write errors

 private:
  explicit ExposureLog(std::unique_ptr<ExposureStore> store, ExposureLogOptions options);
  // Writes everything buffered as one group commit (blocking); serialised by drain_mu_. Write
  // errors are logged and counted in failed(), and rethrown when `rethrow`.
  void Drain(bool rethrow) EXCLUDES(mu_, drain_mu_);

  std::unique_ptr<ExposureStore> store_;
  ExposureLogOptions options_;
  // What Record appends and Drain swaps out (then clears, keeping the capacity, and swaps back
  // in on the next Drain: the pools stop allocating once they have grown).
  struct Pending {
    const ExperimentSpec* spec;
    const std::vector<std::string>* catalogues[2];
    uint8_t cell;
    bool interleaved;  // rankers at [items_at, items_at + items)
    int64_t ts;
    uint32_t user_at, user_len, items_at, items;
  };
  struct Buffer {
    std::vector<Pending> pending;
    std::string users;
    std::vector<uint32_t> items;
    std::vector<uint8_t> rankers;  // parallel to items (kNoRanker for A/B)
    std::vector<std::shared_ptr<const void>> pins;
    void Clear();
  };
  Mutex mu_;
  Buffer buffer_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  CondVar cv_;
  Mutex drain_mu_ ACQUIRED_BEFORE(mu_);  // one Drain at a time
  Buffer spare_ GUARDED_BY(drain_mu_);   // Drain's
  // XXH64 of (experiment, member) known to have a first exposure. A 64-bit collision (about
  // 3e-8 for a million members) only leaves that member's first exposure unmarked: analysis
  // takes each member's earliest exposure anyway.
  std::unordered_set<uint64_t> seen_ GUARDED_BY(drain_mu_);
  std::atomic<uint64_t> recorded_{0}, dropped_{0}, failed_{0};
  std::thread flusher_;
};

}  // namespace marquee

// ModelManager: every model version a server holds, of every kind (recommenders, bandit
// policies, tabular models), by registry reference (NAME, NAME@ALIAS, NAME/VERSION), following
// TF Serving's Source -> Loader -> Manager split:
//
//   Source   Refresh() resolves every reference in the registry (polled by the one background
//            thread, and on POST /admin/reload); a reference whose version changed gets a load.
//   Loader   the version's kind (ModelKind::Load, looked up by family in the KindRegistry)
//            loads the verified artifact and warms it; `prepare` then readies it for this server
//            (a bandit policy replays its logged rewards), all beside the serving version.
//   Manager  the slot's std::atomic<std::shared_ptr<const Servable>> is swapped in one store; a
//            request holds its own shared_ptr for its whole life, so the old version is freed
//            when its last request ends, and no request ever sees a half-loaded model. Versions
//            whose state changes while served (Servable::KeepWhenRetired: bandit policies
//            learning online) are kept, the last kRetiredKept per slot, so an alias that moves
//            back resumes one instead of loading it again.
//
// Each slot serves one kind: a reference whose version belongs to another kind fails to load,
// naming both. A version that fails to load never replaces a working one: the slot keeps serving
// the old version and records the failure (shown by Describe() and logged); it is retried on a
// forced refresh (POST /admin/reload), not on every poll.
// Thread-safety: every method may be called from any thread; loads are serialised internally.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "core/servable.h"
#include "kinds/recommender/servable.h"
#include "marquee/error.h"
#include "serving/metrics.h"
#include "serving/servable.h"

namespace marquee {
class KindRegistry;
class MetadataStore;
class Registry;
struct VersionRecord;

struct ModelManagerOptions {
  std::string home;
  std::vector<std::string> refs;        // recommender references to serve (count for ready())
  const KindRegistry* kinds = nullptr;  // the kinds that load versions; nullptr: BuiltinKinds()
  // Called on the loading thread after a kind has loaded and warmed a version, before it is
  // swapped in (the bandit handler replays the version's logged rewards into it). An exception
  // fails the load.
  std::function<void(Servable& servable)> prepare;
  // Test hook: called after a version is loaded and warmed, before it is swapped in.
  std::function<void(const std::string& ref, int64_t version)> before_swap;
  // The server's other poller (experiments): called on the polling thread before each timed
  // Refresh, so one thread polls the registry for the whole server.
  std::function<void()> on_poll;
  // Called on each swap (metrics), each failure (metrics, log).
  std::function<void()> on_swap;
  std::function<void(const std::string& ref, const std::string& message)> on_failure;
  // Per recommender version: materialise the training users' scores when they fit (0: never).
  size_t score_cache_bytes = 256u << 20;
  // Per recommender version: exact scoring or an HNSW index of a factor model's items.
  RetrievalSpec retrieval;
};

class ModelManager {
 public:
  // Parses the references (kInvalidArgument for a malformed or repeated one); loads nothing.
  explicit ModelManager(ModelManagerOptions options);
  ~ModelManager();  // Stop()

  // Resolves every reference and loads what changed. Returns {"ref": "loaded v3" | "resumed v3"
  // (a kept retired version taken back) | "unchanged" | "failed: ..." | "failed earlier: ..."}.
  // Never throws for a model's failure (it is recorded). A version that failed to load is
  // retried only when `force` (POST /admin/reload), not on every poll.
  nlohmann::json Refresh(bool force = false) EXCLUDES(refresh_mu_);
  // The same for the references of one kind only; with `strict` the first failure is thrown
  // (marquee::Error with its code) instead of recorded (a server that cannot load the policies
  // it was started with does not start).
  nlohmann::json RefreshKind(std::string_view kind, bool force, bool strict) EXCLUDES(refresh_mu_);
  // Starts the background thread that calls on_poll and Refresh every `interval` (0: only
  // Refresh, on request); Stop() ends it. Where the registry tells of alias moves (PostgreSQL:
  // LISTEN/NOTIFY, MetadataStore::WaitForAliasChange) and `interval` > 0, a second thread
  // listens and wakes the poller as soon as a move commits anywhere, so every replica follows it
  // within a load's time rather than a poll interval; the timed polls go on (they catch moves
  // made while the listener was disconnected). A SQLite registry is polled only.
  void StartPolling(std::chrono::milliseconds interval) EXCLUDES(poll_mu_);
  void Stop() EXCLUDES(poll_mu_);
  // Asks the background thread for a forced Refresh now; `done` gets its result there (or an
  // error object when the manager is stopping). Returns at once.
  void RequestRefresh(std::function<void(nlohmann::json)> done) EXCLUDES(poll_mu_);

  // Adds references of `kind` to serve from now on (references of that kind already served,
  // spelled the same or equivalently, are skipped); the next Refresh loads them. `required`
  // ones count for ready() (references added while serving must not turn a serving server
  // unready). Returns the references actually added. kInvalidArgument for a malformed reference,
  // kResourceExhausted beyond kMaxRefs references. Never blocks on a load.
  std::vector<std::string> Add(const std::vector<std::string>& refs,
                               std::string_view kind = kKindRecommender, bool required = false)
      EXCLUDES(add_mu_);
  static constexpr size_t kMaxRefs = 1024;
  static constexpr size_t kRetiredKept = 2;

  // The servable of `kind` serving `ref`: an exact reference of that kind, or a model name that
  // exactly one reference of that kind serves (several: the one that counts for ready(), if
  // exactly one does; otherwise kInvalidArgument listing them). nullptr when none matches;
  // kUnavailable while the matching reference is not loaded. Lock-free.
  std::shared_ptr<const Servable> Find(std::string_view ref, std::string_view kind) const;
  // The recommender serving `ref` (Find, then kNotFound "unknown model ..." when none matches).
  std::shared_ptr<const ServableModel> Get(std::string_view ref) const;
  // The servable of `kind` for exactly the reference `ref` (spelled any equivalent way),
  // resolving and loading it now on the caller's thread when no slot serves it yet; from then
  // on it follows alias moves like every slot. Errors: the registry's (kNotFound for an
  // unknown model, version or alias), kInvalidArgument when the version is of another kind, the
  // load's; a reference that does not resolve to a version of `kind` is not added.
  std::shared_ptr<const Servable> GetOrLoad(std::string_view ref, std::string_view kind)
      EXCLUDES(refresh_mu_);
  // Calls fn for every distinct loaded version (current or kept retired) of `kind` whose model
  // is `model` and version is `version` (a bandit's reward reaches the version that decided).
  void ForEachVersion(std::string_view kind, std::string_view model, int64_t version,
                      const std::function<void(const Servable&)>& fn) const;

  bool ready() const;  // every required reference has a loaded version
  // The references of `kind`, in the order they were added.
  std::vector<std::string> Refs(std::string_view kind) const;
  // {"models": [...]}: each reference of `kind` with its state ("loading", "loaded",
  // "failed"), its loaded version's Describe(), the last failure and when it was last checked.
  nlohmann::json Describe(std::string_view kind = kKindRecommender) const;
  // Every version this manager holds, of every kind (the current version of each reference,
  // and the retired ones kept), once per kind, model and version with its references, aliases
  // and request counters summed; then each reference with no version loaded ("loading" or
  // "failed", no version). In slot order.
  std::vector<VersionStats> Versions() const;
  // Prometheus lines: marquee_model_version{ref=...,model=...} N per reference of every kind,
  // then the per-version request counters of Versions() (RenderVersionMetrics).
  std::string MetricsText() const;
  uint64_t resumed_total() const { return resumed_.load(); }
  // Refreshes started because the registry told of an alias move (not by the timer or a
  // request): 0 unless the registry notifies.
  uint64_t notified_refreshes() const { return notified_.load(); }

 private:
  struct Slot {
    // Set before the slot is published (see slots()), then read-only.
    std::string ref, canonical, model, kind;
    bool required = true;
    std::atomic<std::shared_ptr<const Servable>> current;
    mutable Mutex mu;  // the status below, and `current`'s swap together with `retired`
    std::string last_error GUARDED_BY(mu);  // of the latest failed load; "" after a success
    int64_t failed_version GUARDED_BY(mu) = 0;
    int64_t last_checked GUARDED_BY(mu) = 0;
    // Versions swapped out that KeepWhenRetired, oldest first (at most kRetiredKept).
    std::vector<std::shared_ptr<const Servable>> retired GUARDED_BY(mu);
  };
  // The slot matching `ref` as Find describes, or nullptr.
  const Slot* FindSlot(std::string_view ref, std::string_view kind) const;
  // Resolves and loads one slot; returns its outcome. Throws only when `strict`.
  std::string RefreshSlot(Slot& slot, bool force, bool strict) REQUIRES(refresh_mu_);
  // The kind's servable for `v` (or a kept retired one); throws on failure.
  std::shared_ptr<const Servable> LoadVersion(Slot& slot, const VersionRecord& v, bool* resumed)
      REQUIRES(refresh_mu_);
  void Swap(Slot& slot, std::shared_ptr<const Servable> next);
  Slot* AddSlot(const std::string& ref, std::string_view kind, bool required) REQUIRES(add_mu_);
  // The slots so far. Slots are only appended, into storage reserved at construction, and
  // published by num_slots_ (release/acquire), so readers need no lock.
  std::span<const std::unique_ptr<Slot>> slots() const {
    return {slots_.get(), num_slots_.load(std::memory_order_acquire)};
  }

  ModelManagerOptions options_;
  const KindRegistry* kinds_;
  std::unique_ptr<std::unique_ptr<Slot>[]> slots_;  // kMaxRefs entries
  std::atomic<size_t> num_slots_{0};
  std::atomic<uint64_t> resumed_{0};
  std::atomic<uint64_t> notified_{0};
  Mutex add_mu_;                                                // one Add at a time
  Mutex refresh_mu_;                                            // one load at a time
  std::unique_ptr<Registry> registry_ GUARDED_BY(refresh_mu_);  // single-threaded
  // The listener thread's loop: waits on the registry's notifications in slices short enough
  // for Stop() not to wait long, and sets alias_moved_ when one arrives.
  void Listen(MetadataStore* store, std::chrono::milliseconds interval) EXCLUDES(poll_mu_);

  std::thread poller_;
  std::thread listener_;  // only where the registry notifies (see StartPolling)
  Mutex poll_mu_;
  CondVar poll_cv_;
  bool stop_ GUARDED_BY(poll_mu_) = false;
  bool alias_moved_ GUARDED_BY(poll_mu_) = false;  // the listener heard a move: refresh now
  // RequestRefresh callers.
  std::vector<std::function<void(nlohmann::json)>> waiting_ GUARDED_BY(poll_mu_);
};

}  // namespace marquee

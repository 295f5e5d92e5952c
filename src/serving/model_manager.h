// ModelManager: the models a server holds, by registry reference (NAME, NAME@ALIAS,
// NAME/VERSION), following TF Serving's Source -> Loader -> Manager split:
//
//   Source   Refresh() resolves every reference in the registry (polled, and on
//            POST /admin/reload); a reference whose version changed gets a load.
//   Loader   LoadServable() verifies the artifact's digest, loads the bundle, builds the id
//            indexes and warms it (scores a request) beside the serving version.
//   Manager  the slot's std::atomic<std::shared_ptr<const ServableModel>> is swapped in one
//            store; a request holds its own shared_ptr for its whole life, so the old version
//            is freed when its last request ends, and no request ever sees a half-loaded model.
//
// A version that fails to load never replaces a working one: the slot keeps serving the old
// version and records the failure (shown by Describe() and logged).
// Thread-safety: Get/Describe/ready from any thread; Refresh is serialised internally.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "kinds/recommender/model_bundle.h"
#include "serving/servable.h"

namespace marquee {
class Registry;
}

namespace marquee::serving {

// One loaded, immutable recommender version with its lookup structures.
struct ServableModel : Servable {
  ModelBundle bundle;
  std::unordered_map<std::string_view, uint32_t> item_index;  // views into bundle.item_ids
  std::unordered_map<std::string_view, uint32_t> user_index;  // views into training user_ids
  std::vector<uint32_t> popular;  // item indices, most interacted first (popularity fallback)
  std::vector<float> popularity;  // interactions per item in the training data
  // Materialised scores of the training users, row u at [u * num_items()] (empty when not
  // materialised). A known user whose history is exactly their training row (no positive event
  // since, no request history) is answered from here: the same floats ScoreBatch would compute
  // (the kernels do not depend on the batch), without reading the model's weights again.
  std::vector<float> known_scores;
  int64_t loaded_at = 0;
  double load_seconds = 0;

  uint32_t num_items() const { return static_cast<uint32_t>(bundle.item_ids.size()); }
  // Servable's fields and items, known_users, loaded_at, load_seconds.
  nlohmann::json Describe() const override;
  // Training history row of a known user (empty span when unknown or not stored).
  std::span<const uint32_t> TrainingItems(uint32_t user) const;
};

// Builds a ServableModel from a bundle (indexes, popularity) and warms it. When the bundle
// stores its training users and users x items x 4 bytes fits in `score_cache_bytes`, their
// scores are materialised (ServableModel::known_scores). Throws on failure.
std::shared_ptr<const ServableModel> MakeServable(ModelBundle bundle, std::string name,
                                                  int64_t version, size_t score_cache_bytes = 0);

struct ModelManagerOptions {
  std::string home;
  std::vector<std::string> refs;  // references to serve (parsed and validated at construction)
  // Test hook: called after a version is loaded and warmed, before it is swapped in.
  std::function<void(const std::string& ref, int64_t version)> before_swap;
  // The server's other pollers (experiments, bandit policies): called on the polling thread
  // before each timed Refresh, so one thread polls the registry for the whole server.
  std::function<void()> on_poll;
  // Called on each swap (metrics), each failure (metrics, log).
  std::function<void()> on_swap;
  std::function<void(const std::string& ref, const std::string& message)> on_failure;
  // Per model version: materialise the training users' scores when they fit (0: never).
  size_t score_cache_bytes = 256u << 20;
};

class ModelManager {
 public:
  explicit ModelManager(ModelManagerOptions options);
  ~ModelManager();

  // Resolves every reference and loads what changed. Returns {"ref": "loaded v3" | "unchanged"
  // | "failed: ..."}. Never throws for a model's failure (it is recorded). A version that
  // failed to load is retried only when `force` (POST /admin/reload), not on every poll.
  nlohmann::json Refresh(bool force = false);
  // Starts the background thread that calls on_poll and Refresh every `interval` (0: only
  // Refresh, on request); Stop() ends it.
  void StartPolling(std::chrono::milliseconds interval);
  void Stop();
  // Asks the background thread for a forced Refresh now; `done` gets its result there (or an
  // error object when the manager is stopping). Returns at once.
  void RequestRefresh(std::function<void(nlohmann::json)> done);

  // Adds references to serve from now on (references this manager already serves, spelled the
  // same or equivalently, are skipped); the next Refresh loads them. Added references do not
  // count for ready(): a server that is serving does not turn unready while they load. Returns
  // the references actually added. kInvalidArgument for a malformed reference,
  // kResourceExhausted beyond kMaxRefs references. Any thread; never blocks on a load.
  std::vector<std::string> Add(const std::vector<std::string>& refs);
  static constexpr size_t kMaxRefs = 1024;

  // The model serving `ref`: an exact configured reference, or a model name that exactly one
  // configured reference serves (several: the one given at construction, if exactly one was;
  // otherwise kInvalidArgument listing them). kNotFound for an unknown model, kUnavailable while
  // not loaded.
  std::shared_ptr<const ServableModel> Get(std::string_view ref) const;
  bool ready() const;  // every reference given at construction has a loaded version
  nlohmann::json Describe() const;
  // Prometheus lines: marquee_model_version{ref=...,model=...} N per loaded reference.
  std::string MetricsText() const;

 private:
  struct Slot {
    std::string ref;
    std::string model;
    std::atomic<std::shared_ptr<const ServableModel>> current;
    mutable std::mutex status_mu;
    std::string last_error;      // guarded by status_mu (of the latest failed load; "" after a
                                 // success)
    int64_t failed_version = 0;  // guarded by status_mu
    int64_t last_checked = 0;    // guarded by status_mu
    bool required = true;        // given at construction (counts for ready())
  };
  const Slot* Find(std::string_view ref) const;
  // The slots so far. Slots are only appended, into storage reserved at construction, and
  // published by num_slots_ (release/acquire), so readers need no lock.
  std::span<const std::unique_ptr<Slot>> slots() const {
    return {slots_.get(), num_slots_.load(std::memory_order_acquire)};
  }

  ModelManagerOptions options_;
  std::unique_ptr<std::unique_ptr<Slot>[]> slots_;  // kMaxRefs entries
  std::atomic<size_t> num_slots_{0};
  std::mutex add_mu_;                   // one Add at a time
  std::mutex refresh_mu_;               // one Refresh at a time (Registry is single-threaded)
  std::unique_ptr<Registry> registry_;  // guarded by refresh_mu_
  std::thread poller_;
  std::mutex poll_mu_;
  std::condition_variable poll_cv_;
  bool stop_ = false;  // guarded by poll_mu_
  // RequestRefresh callers; guarded by poll_mu_.
  std::vector<std::function<void(nlohmann::json)>> waiting_;
};

}  // namespace marquee::serving

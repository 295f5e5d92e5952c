// ShadowScorer: live traffic for a candidate version without serving it (issue #17, the
// pipeline's `shadow` and `canary` steps). Controlled through the registry, so every replica
// follows it at its next poll:
//
//   alias  NAME@shadow            the candidate version scored beside production
//   tag    shadow.sample (model)  the share of NAME's /v1/recommend requests to shadow, in [0, 1]
//   tag    canary (model)         a running experiment that NAME's requests without "experiment"
//                                 are routed through (the canary's cells: production, candidate)
//
// After production has answered a /v1/recommend request of a model with a shadow, the request
// is sampled (a uniform draw against shadow.sample) and a copy is queued for the one worker
// thread, which ranks it with the candidate (Ranker::Rank with the candidate resolved) and
// records both lists in the ShadowLog ($home/serving/shadow, experiments/shadow_log.h). The
// response never waits for the candidate: Offer copies the request and returns; the queue is
// bounded (max_queue) and a request that finds it full is dropped and counted (`dropped`).
// With no shadow anywhere, Offer is one relaxed atomic load.
//
// Thread-safety: every method may be called from any thread. Refresh is serialised.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "common/mutex.h"
#include "experiments/shadow_log.h"
#include "serving/service.h"

namespace marquee {
class MetadataStore;
class ModelManager;
}  // namespace marquee

namespace marquee {

struct ShadowOptions {
  std::string home;        // the registry and $home/serving/shadow
  size_t max_queue = 256;  // requests waiting for the worker before new ones are dropped
  ShadowLogOptions log;    // the log's own bound on records waiting for its writer
  uint64_t seed = 0x5eed;  // of the sampling draws (0: from the clock)
};

// One model's shadow as this replica follows it.
struct ReplicaShadow {
  int64_t candidate = 0;  // version (0: no shadow)
  double sample = 0.0;
  std::string canary;  // experiment name ("": none)
};

class ShadowScorer {
 public:
  // Opens the registry's store and the shadow log; starts the worker. `models` (the server's,
  // not owned) loads the candidates; `ranker` (the Service, not owned) ranks with them. Both
  // must outlive the scorer. Errors: the store's and the log's.
  ShadowScorer(ShadowOptions options, ModelManager* models, const Ranker* ranker);
  ~ShadowScorer();  // stops the worker (queued requests are dropped), then drains the log

  // Reads every served recommender model's shadow alias and tags from the registry and asks
  // the model manager to serve each candidate (it loads at the manager's next refresh). Keeps
  // the previous settings on a registry error (logged; returns false). On the poller thread
  // (ServerCore's on_poll) and after the shadow API changes a setting.
  bool Refresh() EXCLUDES(refresh_mu_);

  // Called after production answered `r` with `ranked` (see the header comment). Never throws,
  // never blocks.
  void Offer(const RecommendRequest& r, const Ranked& ranked) EXCLUDES(mu_);
  // The running canary experiment that requests for `model` (a reference; its model name is
  // used) go through, when one is set.
  std::optional<std::string> CanaryFor(std::string_view model) const;

  // {"model", "candidate", "sample", "canary", "offered", "queued", "dropped", "scored",
  //  "failed", "not_loaded"}: this replica's view and counters of `model` (counters are the
  // whole server's).
  nlohmann::json State(const std::string& model) const;
  // Blocks until the worker has handled everything queued before the call and its records are
  // durable (tests, the API's metrics).
  void Flush() EXCLUDES(mu_);
  ShadowLog& log() { return *log_; }

  uint64_t offered() const { return offered_.load(); }
  uint64_t dropped() const { return dropped_.load(); }
  uint64_t scored() const { return scored_.load(); }

 private:
  struct Job {
    RecommendRequest request;
    std::shared_ptr<const ServableModel> production;
    std::vector<uint32_t> items;  // production's answer
    int64_t candidate = 0;
    int64_t ts = 0;
  };
  using Settings = std::map<std::string, ReplicaShadow, std::less<>>;
  void Work() EXCLUDES(mu_);
  void Score(Job& job);

  ShadowOptions options_;
  ModelManager* models_;
  const Ranker* ranker_;
  std::unique_ptr<ShadowLog> log_;
  Mutex refresh_mu_;
  std::unique_ptr<MetadataStore> store_ PT_GUARDED_BY(refresh_mu_);
  // Replaced by Refresh, read without a lock; any_ says whether any model has a shadow or canary.
  std::atomic<std::shared_ptr<const Settings>> settings_;
  std::atomic<bool> any_{false};
  Mutex mu_;
  CondVar cv_;
  std::deque<Job> queue_ GUARDED_BY(mu_);
  bool busy_ GUARDED_BY(mu_) = false;  // the worker is scoring a job taken off the queue
  bool stop_ GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> offered_{0}, dropped_{0}, scored_{0}, failed_{0}, not_loaded_{0};
  std::thread worker_;
};

}  // namespace marquee

// ShadowScorer: live traffic for a candidate version without serving it (issue #17, the
// pipeline's `shadow` and `canary` steps). Controlled through the registry, so every replica
// follows it at its next poll:
//
//   alias  NAME@shadow            the candidate version scored beside production
//   tag    shadow.sample (model)  the share of NAME's requests to shadow, in [0, 1]
//   tag    canary (model)         a running experiment that NAME's /v1/recommend requests without
//                                 "experiment" are routed through (cells: production, candidate)
//
// Every kind the server serves is shadowed; a model's kind is the kind of the slots that serve
// it (ModelManager::Refs: recommenders and bandit policies by --model/--bandit, tabular models
// once a request loaded them), and its candidate is loaded as that kind:
//   recommender  /v1/recommend: the worker ranks the request with the candidate (Ranker::Rank
//                with the candidate resolved) and logs both lists
//   bandit       /v1/decide: once the decision is handed to the decision log, the worker computes
//                the candidate's distribution over the same actions (Policy::Probabilities under
//                the candidate's shared lock: never Decide or Update, so the candidate neither
//                draws nor learns) and logs it beside production's distribution and choice
//   tabular      /v1/predict: the worker scores the request's first kShadowMaxRows rows with
//                the candidate and logs both models' scores of them
// After production has answered, the request is sampled (Sample: a uniform draw against
// shadow.sample) and a copy is queued for the one worker thread, which records the result in
// the ShadowLog ($home/serving/shadow, experiments/shadow_log.h). The response never waits for
// the candidate: Offer copies the request and returns; the queue is bounded (max_queue) and a
// request that finds it full is dropped and counted (`dropped`). With no shadow anywhere,
// Sample (and Offer for /v1/recommend) is one relaxed atomic load.
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
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <variant>

#include "bandits/policy.h"
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
  ShadowKind kind = ShadowKind::kRecommender;  // of the slots serving the model
  int64_t candidate = 0;                       // version (0: no shadow)
  double sample = 0.0;
  std::string canary;  // experiment name ("": none)
};

// A /v1/decide decision production made, as the bandit handler hands it over (copies).
struct ShadowDecision {
  std::shared_ptr<const Servable> production;  // the LivePolicy that decided
  int64_t candidate = 0;                       // what Sample returned
  DecisionInput input;                         // the policy input (context and actions)
  std::string id;                              // the decision id
  std::vector<double> probabilities;           // production's distribution
  uint32_t chosen = 0;
};

// A /v1/predict answer production gave, as the predict handler hands it over (copies).
struct ShadowPrediction {
  std::shared_ptr<const Servable> production;  // the TabularServable that scored
  int64_t candidate = 0;                       // what Sample returned
  nlohmann::json rows;                         // the request's first kShadowMaxRows rows
  uint64_t total_rows = 0;                     // rows in the request
  uint32_t width = 1;                          // outputs per row
  std::vector<float> scores;                   // production's, of `rows` (rows x width)
};

// The model manager's slot kind (serving/servable.h) that serves models of kind `k`.
const char* SlotKindOf(ShadowKind k);

class ShadowScorer {
 public:
  // Opens the registry's store and the shadow log; starts the worker. `models` (the server's,
  // not owned) loads the candidates; `ranker` (the Service, not owned) ranks with them. Both
  // must outlive the scorer. Errors: the store's and the log's.
  ShadowScorer(ShadowOptions options, ModelManager* models, const Ranker* ranker);
  ~ShadowScorer();  // stops the worker (queued requests are dropped), then drains the log

  // Reads every served model's shadow alias and tags from the registry (the models of every
  // kind's slots) and asks the model manager to serve each candidate as the model's kind (it
  // loads at the manager's next refresh). Keeps
  // the previous settings on a registry error (logged; returns false). On the poller thread
  // (ServerCore's on_poll) and after the shadow API changes a setting.
  bool Refresh() EXCLUDES(refresh_mu_);

  // Called after production answered `r` with `ranked` (see the header comment). Never throws,
  // never blocks.
  void Offer(const RecommendRequest& r, const Ranked& ranked) EXCLUDES(mu_);
  // Whether a request that `model` v`version` (production) just answered is shadowed: the
  // candidate version to score it with (and the request counted as offered), or 0. One relaxed
  // atomic load when no model has a shadow; a request answered by the candidate itself is not
  // shadowed. Never throws, never blocks. The bandit and predict handlers call it before they
  // copy anything, then Offer the copy.
  int64_t Sample(std::string_view model, int64_t version) const;
  // Queue a sampled decision or prediction for the worker (dropped and counted when the queue
  // is full). Never throws, never blocks on the candidate.
  void Offer(ShadowDecision d) EXCLUDES(mu_);
  void Offer(ShadowPrediction p) EXCLUDES(mu_);
  // The running canary experiment that requests for `model` (a reference; its model name is
  // used) go through, when one is set.
  std::optional<std::string> CanaryFor(std::string_view model) const;

  // {"model", "kind", "candidate", "sample", "canary", "offered", "dropped", "scored",
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
  struct RecommendJob {
    RecommendRequest request;
    std::shared_ptr<const ServableModel> production;
    std::vector<uint32_t> items;  // production's answer
  };
  struct Job {
    int64_t candidate = 0;
    int64_t ts = 0;
    std::variant<RecommendJob, ShadowDecision, ShadowPrediction> what;
  };
  using Settings = std::map<std::string, ReplicaShadow, std::less<>>;
  void Enqueue(Job job) EXCLUDES(mu_);
  void Work() EXCLUDES(mu_);
  void Score(Job& job);
  // Each fills `rec` with the candidate's side, or returns false (not loaded: counted).
  bool Score(int64_t candidate, RecommendJob& job, ShadowRecord& rec);
  bool Score(int64_t candidate, ShadowDecision& job, ShadowRecord& rec);
  bool Score(int64_t candidate, ShadowPrediction& job, ShadowRecord& rec);

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
  mutable std::atomic<uint64_t> offered_{0};
  std::atomic<uint64_t> dropped_{0}, scored_{0}, failed_{0}, not_loaded_{0};
  std::mt19937_64 rng_;  // the worker's (Monte Carlo policies' Probabilities)
  std::thread worker_;
};

}  // namespace marquee

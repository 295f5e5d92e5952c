// BanditHandler: POST /v1/decide and POST /v1/reward of `marquee serve` (docs/api/openapi.yaml),
// transport-independent (AddRoutes puts their rows in the Service's route table).
//
//   /v1/decide  {"model": "artwork@production", "user": "196", "context": {...},
//                "actions": [{"id": "img-1", "features": {...}}, ...]}
//            -> {"decision_id": "...", "action": "img-2",
//                "probabilities": [{"id": "img-1", "p": 0.1}, ...], "model": "artwork",
//                "version": 3}
//               answered once the decision is fsynced in the DecisionLog.
//   /v1/reward  {"decision_id": "...", "reward": 1.0}
//            -> {"joined": true, "decision_id": "...", "reward": 1.0, "model": "artwork",
//                "version": 3}
//               answered once the reward is fsynced; errors as DecisionLog documents
//               (404 unknown id, 409 already_exists for a second reward, 409
//               failed_precondition for a reward after the window).
//
// Policies are served by registry reference (`marquee serve --bandit artwork@production`): each
// reference is resolved at start and on every poll (and Refresh); a new version is loaded beside
// the serving one and swapped in atomically (requests hold their own shared_ptr). On load, the
// version replays the closed decisions it made that are in the log (so online learning survives
// a restart). Online learning: every decision closed by a joined or default reward updates the
// live policy of the same model name and version that made it (Policy::Update under the
// policy's exclusive lock; Decide takes it shared). Decisions made by an older version are not
// applied to a newer one (retrain in batch from the log instead).
//
// Errors are marquee::Error (Service answers HttpStatusFor(code)): kInvalidArgument naming the
// field, kNotFound for a model this server does not serve, kResourceExhausted for too many
// actions or features. Thread-safety: Decide/Reward/OnClosed/Refresh from any thread.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "bandits/decision_log.h"
#include "bandits/policy.h"
#include "serving/servable.h"
#include "serving/service.h"

namespace marquee {
class Registry;
}

namespace marquee::serving {

struct BanditLimits {
  size_t max_actions = 256;   // actions in one decision
  size_t max_features = 256;  // features in the context or in one action
};

// A parsed, validated /v1/decide request. `context` and `actions` are the request's JSON in a
// normalised form (what the decision log stores); `input` the same for the policy.
struct DecideRequest {
  std::string model;
  std::optional<std::string> user;
  nlohmann::json context = nlohmann::json::object();
  nlohmann::json actions = nlohmann::json::array();
  bandit::DecisionInput input;
};

// Parses and validates; kInvalidArgument naming the field (unknown fields, wrong types, empty,
// duplicate or missing action ids, null or nested feature values; booleans count as 1/0),
// kResourceExhausted for more actions or features than `limits` allow.
DecideRequest ParseDecideRequest(const nlohmann::json& body, const BanditLimits& limits);
// The policy input of a logged decision (its stored context and actions).
bandit::DecisionInput InputOf(const bandit::Decision& d);

// One loaded policy version. The policy learns online; `mu` guards it.
struct LivePolicy {
  std::string ref;  // the configured reference that loaded it
  std::string name;
  int64_t version = 0;
  std::string digest;
  std::unique_ptr<bandit::Policy> policy;  // guarded by mu (Decide shared, Update exclusive)
  mutable std::shared_mutex mu;
  std::atomic<uint64_t> updates{0};  // online updates applied (including the replay at load)
  int64_t loaded_at = 0;
};

struct BanditHandlerOptions {
  std::string home;
  std::vector<std::string> refs;  // NAME, NAME@ALIAS or NAME/VERSION
  BanditLimits limits;
  KindOfFn kind_of = DefaultKindOf;  // serving/servable.h
};

class BanditHandler {
 public:
  // Parses the references (kInvalidArgument for a malformed one); loads nothing yet.
  explicit BanditHandler(BanditHandlerOptions options);
  ~BanditHandler();

  // The log decisions go to (not owned; set before serving; it must outlive the handler's
  // use, and its on_closed should call OnClosed).
  void set_log(bandit::DecisionLog* log) { log_ = log; }

  // Resolves every reference and loads what changed; returns {"ref": "loaded v3" | "resumed v3"
  // (a retired version taken back, no replay) | "unchanged" | "failed: ..."}. With `strict`, the
  // first failure throws instead (server start).
  // (The server's one poller, the model manager's, calls it every poll interval.)
  nlohmann::json Refresh(bool strict = false);

  // Adds the rows POST /v1/decide (scope read) and POST /v1/reward (scope write) to `service`;
  // with references to serve, also their /v1/models listing ("bandits"), their reload on
  // POST /admin/reload, their /metrics lines and the decision log's readiness. Without any
  // reference the routes answer 503 (this server serves no policy).
  void AddRoutes(Service& service);
  // The Service routes. Decide answers through `done` once the decision is durable.
  void Decide(const nlohmann::json& body, Respond& done);
  void Reward(const nlohmann::json& body, Respond& done);
  // Online update from a closed decision (the DecisionLog's on_closed).
  void OnClosed(const bandit::Decision& d);

  // The live policy for a request's "model": an exact configured reference, or a model name
  // that exactly one reference serves. kNotFound otherwise (naming what is served),
  // kUnavailable while not loaded.
  std::shared_ptr<LivePolicy> Get(std::string_view model) const;
  nlohmann::json Describe() const;  // {"bandits": [{"ref", "model", "version", "updates"}]}
  // Prometheus lines: per reference the loaded version and its online updates; the decision
  // log's counters (decisions, rewards joined, decisions given the default reward).
  std::string MetricsText() const;

 private:
  // Versions an alias moved away from are kept (at most kRetiredKept per reference, the most
  // recently replaced) and keep learning from the rewards of their decisions, so an alias that
  // moves back resumes one at once instead of replaying the whole decision log again.
  static constexpr size_t kRetiredKept = 2;
  struct Slot {
    std::string ref;
    std::string model;
    std::atomic<std::shared_ptr<LivePolicy>> current;
    std::mutex retired_mu;  // guards `retired` and the swap of `current` with it
    std::vector<std::shared_ptr<LivePolicy>> retired;  // guarded by retired_mu; oldest first
  };
  // kUnavailable when this server serves no policy or has no decision log.
  void CheckServing(std::string_view path) const;
  std::shared_ptr<LivePolicy> Load(const Slot& slot, const std::string& digest, int64_t version);
  // Makes `next` current and retires the one it replaces; takes `next` out of the retired list.
  static void Swap(Slot& slot, std::shared_ptr<LivePolicy> next);
  // The retired policy of `slot` for `version` with artifact `digest`, or null.
  static std::shared_ptr<LivePolicy> FindRetired(Slot& slot, int64_t version,
                                                 const std::string& digest);

  BanditHandlerOptions options_;
  std::vector<std::unique_ptr<Slot>> slots_;
  bandit::DecisionLog* log_ = nullptr;
  std::mutex refresh_mu_;                    // one Refresh at a time (Registry is single-threaded)
  std::atomic<uint64_t> replayed_total_{0};  // rewards replayed from the log at loads
  std::atomic<uint64_t> resumed_total_{0};   // loads answered by a retired version
  std::unique_ptr<Registry> registry_;       // guarded by refresh_mu_
};

}  // namespace marquee::serving

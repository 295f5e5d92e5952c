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
// Policies are served by registry reference (`marquee serve --bandit artwork@production`)
// through the server's one ModelManager, as every kind is: slots of kind "bandit" hold LivePolicy
// servables (kinds/bandit/live_policy.h), which follow alias moves (polled, and at once on
// POST /admin/reload), are loaded beside the serving version and swapped in atomically (requests
// hold their own shared_ptr). Prepare, the manager's hook, replays into a version the closed
// decisions it made that are in the log (so online learning survives a restart); versions an
// alias moved away from are kept (ModelManager::kRetiredKept) and go on learning, so moving the
// alias back resumes one without a replay. Online learning: every decision closed by a joined
// or default reward updates the live policy of the same model name and version that made it
// (Policy::Update under the policy's exclusive lock; Decide takes it shared). Decisions made by
// an older version are not applied to a newer one (retrain in batch from the log instead).
//
// Shadow scoring (serving/shadow.h): a sampled decision of a model with a NAME@shadow candidate
// is copied to the shadow worker once it is handed to the log; the candidate's Probabilities on
// the same input are logged beside production's distribution and choice (never its Decide or
// Update).
//
// Errors are marquee::Error (Service answers HttpStatusFor(code)): kInvalidArgument naming the
// field, kNotFound for a model this server does not serve, kResourceExhausted for too many
// actions or features. Thread-safety: Decide/Reward/OnClosed/Prepare from any thread.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bandits/decision_log.h"
#include "bandits/policy.h"
#include "kinds/bandit/live_policy.h"
#include "serving/servable.h"
#include "serving/service.h"

namespace marquee {

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
  DecisionInput input;
};

// Parses and validates; kInvalidArgument naming the field (unknown fields, wrong types, empty,
// duplicate or missing action ids, null or nested feature values; booleans count as 1/0),
// kResourceExhausted for more actions or features than `limits` allow.
DecideRequest ParseDecideRequest(const nlohmann::json& body, const BanditLimits& limits);
// The policy input of a logged decision (its stored context and actions).
DecisionInput InputOf(const Decision& d);

class ModelManager;
class ShadowScorer;

class BanditHandler {
 public:
  // `models` (not owned) must outlive the handler; the policies it serves are its slots of kind
  // "bandit" (ServerCore adds them).
  BanditHandler(ModelManager* models, BanditLimits limits);

  // The log decisions go to (not owned; set before serving; it must outlive the handler's
  // use, and its on_closed should call OnClosed).
  void set_log(DecisionLog* log) { log_ = log; }
  // Shadow scoring of /v1/decide (serving/shadow.h; not owned; null: none). Set before serving
  // and cleared after the io threads stopped: Decide offers on the io thread.
  void set_shadow(ShadowScorer* shadow) { shadow_ = shadow; }

  // The model manager's `prepare` hook: replays the closed decisions a freshly loaded policy
  // version made (from the log) into it before it is swapped in. Ignores other kinds.
  void Prepare(Servable& servable);
  // Resolves the policies' references now and loads what changed (the manager's RefreshKind,
  // forced): {"ref": "loaded v3" | "resumed v3" | "unchanged" | "failed: ..."}.
  nlohmann::json Refresh();

  // Adds the rows POST /v1/decide (scope read) and POST /v1/reward (scope write) to `service`;
  // with policies to serve, also their /v1/models listing and /admin/reload outcomes
  // ("bandits"), their /metrics lines and the decision log's readiness. Without any policy the
  // routes answer 503 (this server serves no policy).
  void AddRoutes(Service& service);
  // The Service routes. Decide answers through `done` once the decision is durable.
  void Decide(const nlohmann::json& body, Respond& done);
  void Reward(const nlohmann::json& body, Respond& done);
  // Online update from a closed decision (the DecisionLog's on_closed).
  void OnClosed(const Decision& d);

  // The live policy for a request's "model": an exact served reference, or a model name that
  // exactly one reference serves. kNotFound otherwise (naming what is served), kUnavailable
  // while not loaded.
  std::shared_ptr<const LivePolicy> Get(std::string_view model) const;
  nlohmann::json Describe() const;  // {"bandits": [{"ref", "model", "version", "updates", ...}]}
  // Prometheus lines: per reference the loaded version and its online updates; the decision
  // log's counters (decisions, rewards joined, decisions given the default reward).
  std::string MetricsText() const;

 private:
  // kUnavailable when this server serves no policy or has no decision log.
  void CheckServing(std::string_view path) const;

  ModelManager* models_;
  BanditLimits limits_;
  DecisionLog* log_ = nullptr;
  ShadowScorer* shadow_ = nullptr;
  std::atomic<uint64_t> replayed_total_{0};  // rewards replayed from the log at loads
};

}  // namespace marquee

// ShadowLog: the requests a server scored with a shadow candidate as well as with production
// (issue #17, the pipeline's `shadow` step), in an embedded RocksDB under $home/serving/shadow
// (docs/formats/shadow.md), written through DurableLog (the event log's group-commit writer:
// one fsynced WriteBatch per group, shared by every concurrent append).
//
// Each record is one shadowed request of one of the kinds the server serves (ShadowKind):
//   recommender  /v1/recommend: k and both ranked lists (item ids, best first)
//   bandit       /v1/decide: the decision id, the offered action ids, production's distribution
//                and chosen action (its propensity), the candidate's distribution over the same
//                actions (Policy::Probabilities) and its greedy action
//   tabular      /v1/predict: both models' scores of the request's first kShadowMaxRows rows
// with the model, the production and candidate versions, the member and the time. Keys are
// "s" model '\0' BE64(ts) BE64(seq), so one model's records scan in time order.
//
// Durability contract: Record() is asynchronous and bounded. It hands the record to the
// writer's queue and returns; the record is durable once its group commit is fsynced. At most
// max_pending records wait for the writer; beyond that Record drops the record and counts it
// (dropped()), never blocking the shadow worker. A crash loses at most the records not yet
// committed (about one fsync of traffic).
//
// Online metrics of the candidate against production on the same requests, by kind:
// ShadowMetrics (recommenders): agreement (overlap@k = |P ∩ C| / k and the Jaccard index
// |P ∩ C| / |P ∪ C| of the two lists, mean and a ten-bin histogram of the Jaccard index) and, from
// the event log, the recall of what members went on to play: for each shadowed request whose
// member played at least one item in (ts, ts + window], recall = |plays ∩ list| / min(|plays|, k)
// for each list, averaged over those requests (items are distinct; a play is an event with
// value > 0 whose type is in event_types, or any type when it is empty).
// BanditShadowMetrics: agreement (the share of decisions whose candidate greedy action is the
// action production chose, the mean candidate probability of that action) and, joined with the
// decision log's outcomes, the candidate's off-policy value on the same decisions (IPS and SNIPS
// of bandits/ope.h with production's logged propensities) beside production's observed mean
// reward. TabularShadowMetrics: score differences, Pearson correlation, class agreement.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/event_log.h"

namespace marquee {
class DurableLog;
class Registry;
}  // namespace marquee

namespace marquee {

// The registry's shadow settings (serving/shadow.h follows them): the alias NAME@shadow names the
// candidate, the model tag shadow.sample the share of requests shadowed (no tag or 0: off), the
// model tag canary a running canary experiment (experiments/canary.h).
inline constexpr std::string_view kShadowAlias = "shadow";
inline constexpr std::string_view kShadowSampleTag = "shadow.sample";
inline constexpr std::string_view kCanaryTag = "canary";

struct ShadowSetting {
  int64_t candidate = 0;  // the version NAME@shadow names (0: never set)
  double sample = 0.0;    // 0: not shadowing
  int64_t since = 0;      // when the alias last moved (Unix seconds; 0: never)
  bool active() const { return candidate != 0 && sample > 0; }
};
// The model's setting. kNotFound for an unknown model.
ShadowSetting GetShadow(Registry& registry, const std::string& model);
// Starts shadowing: moves NAME@shadow to `version` (after its smoke test, recorded in the alias
// history with `note`) and sets shadow.sample. kInvalidArgument for a sample outside (0, 1];
// kNotFound for an unknown model or version; the smoke test's kFailedPrecondition.
ShadowSetting SetShadow(Registry& registry, const std::string& model, int64_t version,
                        double sample, const std::string& note = "");
// Stops shadowing (removes shadow.sample; the alias keeps naming the last candidate, which the
// logged records refer to). kNotFound when the model is not being shadowed.
void ClearShadow(Registry& registry, const std::string& model);

// The kind of model a record was shadowed for: the names are the model kinds' own
// (core/model_kind.h), and the route each kind answers.
enum class ShadowKind : uint8_t { kRecommender, kBandit, kTabular };
std::string_view ShadowKindName(ShadowKind k);  // "recommender", "bandit", "tabular"
// The kind called `name`, or nullopt.
std::optional<ShadowKind> ShadowKindFromName(std::string_view name);

// Rows of a /v1/predict request recorded (scored by the candidate) per shadowed request.
inline constexpr size_t kShadowMaxRows = 64;

struct ShadowRecord {
  ShadowKind kind = ShadowKind::kRecommender;
  std::string model;
  int64_t production_version = 0;
  int64_t candidate_version = 0;
  std::string user;  // "" when the request named none
  int64_t ts = 0;    // Unix seconds
  // recommender (/v1/recommend)
  uint32_t k = 0;
  std::vector<std::string> production;  // the list served, best first
  std::vector<std::string> candidate;   // the candidate's list for the same request
  // bandit (/v1/decide): every distribution has one probability per offered action, in order
  std::string decision_id;
  std::vector<std::string> actions;              // the offered action ids, in order
  std::vector<double> production_probabilities;  // the logged distribution (propensities)
  uint32_t chosen = 0;                           // production's action (index into actions)
  std::vector<double> candidate_probabilities;   // the candidate's, on the same input
  uint32_t candidate_greedy = 0;                 // its most probable action (ties: lower index)
  // tabular (/v1/predict): the first min(rows, kShadowMaxRows) rows, width outputs each
  uint64_t rows = 0;  // rows in the request
  uint32_t width = 1;
  std::vector<double> production_scores, candidate_scores;  // recorded rows x width
};

struct ShadowLogOptions {
  bool sync = true;
  size_t max_pending = 10000;  // records waiting for the writer before new ones are dropped
  bool read_only = false;      // a consistent view for metrics while a server writes
};

class ShadowLog {
 public:
  // Opens (creating unless read_only) the log in `dir` ($home/serving/shadow). Errors as
  // DurableLog::Open (kIOError, kCorruption, kUnavailable when another process writes it).
  static std::unique_ptr<ShadowLog> Open(const std::string& dir, ShadowLogOptions options = {});
  ~ShadowLog();  // drains pending records

  // Queues `r` for a durable write (see above). False when dropped because max_pending records
  // are waiting. kFailedPrecondition on a read-only log. Never blocks on I/O.
  bool Record(const ShadowRecord& r);
  // Blocks until every record queued before the call is durable; rethrows a write error.
  void Flush();
  // False while a failed write stops the log (a full disk); `reason` (may be null) gets why.
  bool writable(std::string* reason = nullptr) const;

  // The records of `model` with since <= ts < until, in time order; `fn` returning false stops.
  void ForEach(std::string_view model, int64_t since, int64_t until,
               const std::function<bool(const ShadowRecord&)>& fn) const;

  uint64_t recorded() const { return recorded_.load(); }
  uint64_t dropped() const { return dropped_.load(); }
  uint64_t failed() const { return failed_.load(); }  // lost to write errors

 private:
  ShadowLog(std::unique_ptr<DurableLog> log, ShadowLogOptions options);
  std::unique_ptr<DurableLog> log_;
  ShadowLogOptions options_;
  std::atomic<size_t> pending_{0};
  std::atomic<uint64_t> recorded_{0}, dropped_{0}, failed_{0};
};

// The record's value bytes and back (the log's format; exposed for the fuzz harness).
// DecodeShadowRecord returns false for bytes that are not a record: a value without "kind" (as
// version 1 wrote every record) is a recommender record; a bandit record must have one
// probability in [0, 1] per distinct action in both distributions, each summing to 1 (within
// 1e-6), chosen and greedy indices inside them and a chosen action of probability > 0; a tabular
// record as many candidate as production scores, a whole number of rows of width >= 1, at most
// `rows` of them.
std::string EncodeShadowRecord(const ShadowRecord& r);
bool DecodeShadowRecord(std::string_view bytes, ShadowRecord& out);

struct ShadowMetricsOptions {
  int64_t window = 86400;                // seconds after a request in which plays count
  std::vector<std::string> event_types;  // empty: every event with value > 0 is a play
  int64_t since = 0;                     // only requests with since <= ts < until
  int64_t until = std::numeric_limits<int64_t>::max();
  int64_t candidate_version = 0;  // only requests shadowed with this candidate (0: any)
  // The kind of the model (ShadowMetricsFromHome reads its records of this kind only).
  ShadowKind kind = ShadowKind::kRecommender;
  // Bandits: bootstrap resamples of the IPS/SNIPS intervals (OpeOptions::bootstrap) and seed.
  int bootstrap = 200;
  uint64_t seed = 42;
};

// The metrics of `records` (one model's recommender records; others are skipped) against the
// plays in `events_of(user)` (that member's events, any order), as JSON:
//   {"kind": "recommender", "requests": n, "members": m, "production_versions": [...],
//   "candidate_versions": [...],
//    "agreement": {"overlap_mean", "jaccard_mean", "jaccard_histogram": [10 counts, bins of
//                  0.1, the last one closed]},
//    "recall": {"requests_with_plays": r, "plays": p, "production": x, "candidate": y,
//               "difference": y - x}}
// Means of no requests are null. Pure; thread-compatible.
nlohmann::json ShadowMetrics(
    const std::vector<ShadowRecord>& records,
    const std::function<std::vector<StoredEvent>(const std::string& user)>& events_of,
    const ShadowMetricsOptions& options);

// The outcome of a decision: its reward once closed (a joined reward or the default one its
// window closed with), nullopt while open or unknown.
struct ShadowOutcome {
  double reward = 0;
  bool joined = false;  // by a reward sent to /v1/reward (false: the default reward)
};

// The metrics of `records` (one model's bandit records; others are skipped) with the outcomes
// `outcome_of(decision_id)` gives, as JSON:
//   {"kind": "bandit", "requests": n, "members": m, "production_versions", "candidate_versions",
//    "agreement": {"greedy_match": share of requests whose candidate greedy action is
//                  production's chosen one, "candidate_p_chosen_mean": mean candidate
//                  probability of production's chosen action, "production_p_chosen_mean"},
//    "value": {"rewarded": r (closed decisions), "joined": j (of them, by /v1/reward),
//              "production": production's observed mean reward on them,
//              "ips": {"value", "ci": [lo, hi]}, "snips": {...} (the candidate's estimates,
//              bandits/ope.h, weights candidate p / logged propensity of the chosen action),
//              "difference": snips - production, "ess", "max_weight", "bootstrap",
//              "warnings": [...]}}
// Means and estimates of no requests (no rewarded ones) are null. Pure; thread-compatible.
nlohmann::json BanditShadowMetrics(
    const std::vector<ShadowRecord>& records,
    const std::function<std::optional<ShadowOutcome>(const std::string& decision_id)>& outcome_of,
    const ShadowMetricsOptions& options);

// The metrics of `records` (one model's tabular records; others are skipped), over every
// recorded output of every recorded row, as JSON:
//   {"kind": "tabular", "requests": n, "rows": scored rows, "outputs": values compared,
//    "production_versions", "candidate_versions",
//    "score": {"mean_abs_diff", "max_abs_diff", "pearson" (null when either side is constant),
//              "production_mean", "candidate_mean"},
//    "class_agreement": share of rows given the same class: width 1, both scores >= 0.5 or both
//                       below (binary:logistic probabilities); width > 1, the same arg-max}
// Means of no rows are null. Pure; thread-compatible.
nlohmann::json TabularShadowMetrics(const std::vector<ShadowRecord>& records,
                                    const ShadowMetricsOptions& options);

// The metrics of options.kind from the home's logs: $home/serving/shadow and, for recommenders,
// the home's event log, for bandits its decision log, wherever its online state is ($home, or
// Redis: state/online_state.h), opened read-only (allowed while a server writes them); a home
// without them has no requests (or no plays, no outcomes).
nlohmann::json ShadowMetricsFromHome(const std::string& home, const std::string& model,
                                     const ShadowMetricsOptions& options);

}  // namespace marquee

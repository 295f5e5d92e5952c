// DecisionLog: the durable log of contextual-bandit decisions and their rewards, written by
// `marquee serve` (POST /v1/decide, POST /v1/reward) and read by `marquee decisions export`
// (docs/formats/decisions.md). Embedded RocksDB under $home/decisions:
//
//   - a decision id is 128 bits, 32 lower-case hex digits: the first 48 bits are the decision
//     time in Unix milliseconds (big-endian), the other 80 bits random. Keys "d" + the 16 id
//     bytes therefore sort decisions by time (export and --since are one range scan) and a
//     reward finds its decision with one point lookup;
//   - "r" + id holds the decision's outcome (the joined reward, or the default reward given by
//     the sweeper when the window closed); "o" + BE64(deadline) + id indexes the decisions still
//     open, so the sweeper finds the expired ones with one range scan, also after a restart;
//   - "c..." keys hold counters per policy, hour, version and chosen action (DecisionCounters,
//     read by decision_stats.h), updated in the same batch as the decisions and outcomes they
//     count, so they are exactly as durable as the log;
//   - every write (decisions, rewards, sweeps) goes through one writer thread that takes
//     everything queued and commits it as one WriteBatch with sync = true before reporting
//     success: group commit, as in EventLog. An acknowledged decision or reward survives kill -9.
//
// Reward joining (all decided on the writer thread, so concurrent rewards are serialised):
//   unknown id                      -> kNotFound naming the id
//   already rewarded                -> kAlreadyExists (the first reward wins; it is not changed)
//   now > deadline (window closed)  -> kFailedPrecondition "late" (the reward is not recorded;
//                                      the decision gets, or already got, the default reward)
//   otherwise                       -> joined: the reward is stored, the decision closed.
// The sweeper (every sweep_interval, and once at open) gives every open decision whose deadline
// has passed the default reward.
//
// Clock: options.now_ms (Unix milliseconds) is injectable so tests can move time.
// (The RocksDB layout above; Redis's is in docs/formats/state-redis.md.)
// Thread-safety: every method may be called from any thread; callbacks run on the writer thread
// (keep them short).
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/rocksdb_util.h"

namespace marquee {

enum class OutcomeKind { kOpen, kJoined, kDefault };
std::string_view OutcomeKindName(OutcomeKind k);  // "open", "joined", "default"

struct Outcome {
  OutcomeKind kind = OutcomeKind::kOpen;
  double reward = 0;
  int64_t ts_ms = 0;  // when the reward was joined or defaulted
};

// One logged decision. `context` and `actions` are kept as the request sent them (validated):
// context is an object of feature name -> number|string, actions an array of
// {"id": string, "features": {...}} in the order offered.
struct Decision {
  std::string id;  // 32 hex digits; see above
  int64_t ts_ms = 0;
  int64_t deadline_ms = 0;  // ts_ms + the reward window in force when it was decided
  std::string model;        // registry model name
  int64_t version = 0;      // registry version of the policy that decided
  uint64_t updates = 0;     // online updates the live policy had received when it decided
  std::optional<std::string> user;
  nlohmann::json context = nlohmann::json::object();
  nlohmann::json actions = nlohmann::json::array();
  std::vector<double> probabilities;  // one per action, in the order of `actions`
  uint32_t chosen = 0;                // index into actions
  Outcome outcome;                    // filled by reads; ignored by Append

  nlohmann::json ToJson() const;  // the record format of docs/formats/decisions.md
  // kCorruption when `j` is not such a record.
  static Decision FromJson(const nlohmann::json& j);
};

// The id of the action `d` chose ("" when its record holds none).
std::string ChosenActionId(const Decision& d);

// Decisions and outcomes counted together: a decision is "closed" once it has an outcome (a
// joined reward, or the default reward its window closed with); `rewards` sums the closed
// decisions' rewards; first_ms / last_ms are the first and the last decision's time (INT64_MAX /
// INT64_MIN while there is none).
struct DecisionCounts {
  uint64_t decisions = 0;
  uint64_t closed = 0;  // with an outcome (joined + defaulted)
  uint64_t joined = 0;  // of them, by a reward sent to /v1/reward
  double rewards = 0;   // sum of the closed decisions' rewards
  int64_t first_ms = std::numeric_limits<int64_t>::max();
  int64_t last_ms = std::numeric_limits<int64_t>::min();
  void Add(const Decision& d);  // the decision and its outcome, if it has one
  void Merge(const DecisionCounts& o);
};

// The counters the log's writer keeps in the same batches as the decisions and outcomes they
// count (docs/formats/decisions.md, "Counters"), read through one consistent snapshot. An
// outcome counts in the hour its decision was taken. Hours are Unix hours (ts_ms floor-divided
// by 3,600,000). Every visitor may throw (kCorruption for a damaged counter); it is valid only
// inside DecisionLog::WithCounters.
class DecisionCounters {
 public:
  virtual ~DecisionCounters() = default;
  // Every policy with decisions, by name, with its totals.
  virtual void Policies(
      const std::function<void(const std::string& policy, const DecisionCounts&)>& fn) const = 0;
  // The totals of `policy`; false when it has no decisions.
  virtual bool Totals(const std::string& policy, DecisionCounts* out) const = 0;
  // The non-empty hours of `policy` from hour `from` on, oldest first.
  virtual void Hours(const std::string& policy, int64_t from,
                     const std::function<void(int64_t hour, const DecisionCounts&)>& fn) const = 0;
  // The versions of `policy` that decided, ascending.
  virtual void Versions(
      const std::string& policy,
      const std::function<void(int64_t version, const DecisionCounts&)>& fn) const = 0;
  // Every action id `policy` chose, by id, with what its decisions count.
  virtual void Actions(
      const std::string& policy,
      const std::function<void(const std::string& action, const DecisionCounts&)>& fn) const = 0;
  // The same per hour, from hour `from` on (by hour, then id).
  virtual void ActionHours(const std::string& policy, int64_t from,
                           const std::function<void(int64_t hour, const std::string& action,
                                                    const DecisionCounts&)>& fn) const = 0;
};

// Checks a decision id's syntax; kInvalidArgument naming `field` otherwise.
void ValidateDecisionId(std::string_view id, std::string_view field);

// Export formats (`marquee decisions export`, docs/formats/decisions.md).
// Our JSONL: Decision::ToJson() plus "outcome": {"kind", "reward", "ts"} (kind "open" without
// reward and ts).
nlohmann::json ToJsonl(const Decision& d);
// Vowpal Wabbit's DSJSON (contextual bandit, ADF): "_label_cost" = -reward,
// "_label_probability", "_label_Action" (1-based), "_labelIndex" (0-based), "o" outcomes,
// "Timestamp" (ISO 8601 UTC), "Version" "1", "EventId" = the decision id, "a" (1-based action
// ids, the chosen one first), "c" {"context": {...}, "user": {"id": ...}, "_multi": [{"_id",
// "action": {...}, "id": {ID: 1}}]}, "p" (probabilities in the order of "a"), "VWState" {"m":
// "model/version"}, in that key order. kFailedPrecondition for a decision that is still open (no
// label yet).
nlohmann::ordered_json ToDsjson(const Decision& d);
// The bandit-log JSONL that `marquee dataset import --format bandit-jsonl` and `marquee train`
// read (src/bandits/log.h): context, actions, chosen (index), probability, reward, user, ts
// (Unix seconds), so the log can retrain a policy in batch. kFailedPrecondition while open.
nlohmann::json ToBanditJsonl(const Decision& d);

struct DecisionLogOptions {
  int64_t reward_window_ms = 3600 * 1000;
  double default_reward = 0;
  bool sync = true;  // fsync the write-ahead log before acknowledging
  // Read-only view (allowed while a server holds the log): writes fail with
  // kFailedPrecondition, no sweeper runs.
  bool read_only = false;
  // Unix milliseconds; null: the system clock.
  std::function<int64_t()> now_ms;
  // Background sweeps of expired decisions; 0: none (call Sweep()).
  std::chrono::milliseconds sweep_interval{1000};
  // Called on the writer thread after a decision's outcome is durable (joined or defaulted) and
  // before the reward's `done`, e.g. to update the live policy online. Exceptions are logged
  // and ignored.
  std::function<void(const Decision&)> on_closed;
  // RocksDB settings (memtable size; a test's environment, e.g. a disk that fills up).
  RocksDbTuning tuning;
};

// The decision log: an interface with two implementations, chosen by the home's `state` URL
// (OpenDecisionStore, state/online_state.h): the embedded RocksDB log that Open() returns
// (the layout above) and Redis (bandits/redis_decision_log.h, docs/formats/state-redis.md).
// Both decide reward joins atomically with the same outcomes and keep the counters with the
// writes they count.
class DecisionLog {
 public:
  // Opens (creating) the RocksDB log in `dir` and, unless read-only, builds the counters of a
  // log written before they existed (one pass over the log, on the writer thread before any
  // write) and sweeps it once (decisions whose window closed while no server ran get the default
  // reward). kIOError / kCorruption name the directory; kUnavailable when another process holds
  // it; kNotFound for a missing read-only log; kInvalidArgument for bad options.
  static std::unique_ptr<DecisionLog> Open(const std::string& dir, DecisionLogOptions options);
  virtual ~DecisionLog();  // stops the sweeper, drains pending writes, closes
  DecisionLog(const DecisionLog&) = delete;
  DecisionLog& operator=(const DecisionLog&) = delete;

  const DecisionLogOptions& options() const { return options_; }
  int64_t NowMs() const { return options_.now_ms(); }
  // A fresh id for a decision taken at `ts_ms` (48-bit time prefix + 80 random bits).
  static std::string NewId(int64_t ts_ms);

  // Logs `d` durably (d.id, d.ts_ms set by the caller: NewId(NowMs()); deadline_ms is set
  // here); `done(nullptr)` once durable, or done(error). Called on the writer thread.
  virtual void AppendAsync(Decision d, std::function<void(std::exception_ptr)> done) = 0;
  void Append(Decision d);  // blocking form

  // Joins `reward` to decision `id` (see the table above); done(nullptr, &decision with its
  // outcome) once durable, or done(error, nullptr). Called on the writer thread.
  using RewardDone = std::function<void(std::exception_ptr, const Decision*)>;
  void RewardAsync(std::string id, double reward, RewardDone done);
  Decision Reward(std::string id, double reward);  // blocking form; throws the errors above

  // Closes every open decision whose deadline is before now with the default reward;
  // returns how many. Blocking.
  virtual size_t Sweep() = 0;

  // The decision with its outcome, or nullopt.
  std::optional<Decision> Get(std::string_view id) const;
  // Every decision taken at or after `since_ms`, in time order, with outcomes; `fn` returning
  // false stops the scan.
  virtual void ForEach(int64_t since_ms, const std::function<bool(const Decision&)>& fn) const = 0;

  // Calls `fn` with the log's counters (one consistent snapshot) and returns true, or returns
  // false without calling it when the log has none: a log written before counters existed,
  // opened read-only (a writable open builds them first). kCorruption for a counters version
  // this build does not know.
  virtual bool WithCounters(const std::function<void(const DecisionCounters&)>& fn) const = 0;

  struct Stats {
    uint64_t decisions = 0, joined = 0, defaulted = 0, group_commits = 0;
  };
  virtual Stats stats() const = 0;  // counts of this process
  // False while a failed write stops the log (a full disk, Redis down: decisions and rewards
  // are answered with errors meanwhile); `reason` (may be null) gets why. The log resumes by
  // itself. Thread-safe.
  virtual bool writable(std::string* reason = nullptr) const = 0;
  // Where the log lives, for messages (the RocksDB directory, or "redis://host:port/db").
  virtual std::string Describe() const = 0;

 protected:
  // Checks the options (kInvalidArgument: a window that is not positive, a default reward that
  // is not finite) and fills now_ms with the system clock when unset.
  explicit DecisionLog(DecisionLogOptions options);
  // RewardAsync's work once the id and reward are valid and the log is writable.
  virtual void JoinAsync(std::string id, double reward, RewardDone done) = 0;
  // Get's, for a valid id.
  virtual std::optional<Decision> Lookup(std::string_view id) const = 0;

 private:
  DecisionLogOptions options_;
};

// DecisionLog's option check, for openers that check before they touch storage.
void CheckDecisionLogOptions(const DecisionLogOptions& options);

}  // namespace marquee

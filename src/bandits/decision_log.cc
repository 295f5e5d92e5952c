#include "bandits/decision_log.h"

#include "bandits/decision_log_codec.h"

#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <ctime>
#include <deque>
#include <filesystem>
#include <limits>
#include <random>
#include <thread>
#include <unordered_map>
#include <variant>

#include "common/completion.h"
#include "common/mutex.h"
#include "common/time.h"
#include "events/durable_log.h"
#include "marquee/error.h"

namespace marquee {
namespace {

using json = nlohmann::json;

constexpr int kFormatVersion = 1;
constexpr size_t kMaxSweep = 10000;  // decisions closed per sweep batch

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The 16 raw bytes of a (validated) id.
std::string IdBytes(std::string_view id) {
  std::string out(16, '\0');
  for (size_t i = 0; i < 16; ++i) {
    out[i] = static_cast<char>(HexDigit(id[2 * i]) * 16 + HexDigit(id[2 * i + 1]));
  }
  return out;
}

std::string IdHex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(32);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string DecisionKey(std::string_view id) { return "d" + IdBytes(id); }
std::string RewardKey(std::string_view id) { return "r" + IdBytes(id); }
std::string OpenKey(int64_t deadline_ms, std::string_view id) {
  std::string k = "o";
  PutBe64(k, static_cast<uint64_t>(deadline_ms) ^ (uint64_t{1} << 63));
  return k + IdBytes(id);
}

// The time-ordered key prefix of decisions taken at or after `ms`.
std::string DecisionSeekKey(int64_t ms) {
  std::string k = "d";
  std::string be;
  PutBe64(be, static_cast<uint64_t>(std::max<int64_t>(ms, 0)));
  return k + be.substr(2);  // 48-bit milliseconds
}

// Counters (docs/formats/decisions.md, "Counters"): "c" + a kind letter + BE32(policy length) +
// policy, then the kind's own part. Values are DecisionCounts as six little-endian 64-bit
// words. "cv" holds the counters' version; it is written in the batch that first holds counters.
constexpr std::string_view kCountersVersionKey = kDecisionCountersVersionKey;
constexpr std::string_view kCountersVersion = kDecisionCountersVersion;
constexpr size_t kCountsBytes = 48;
constexpr size_t kMaxCachedCounters = 65536;  // the writer's cache of committed counters
constexpr int64_t kHourMs = 3600 * 1000;

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - (a % b != 0 && a < 0 ? 1 : 0); }

std::string CounterPrefix(char kind, std::string_view policy) {
  std::string k = {'c', kind};
  const auto n = static_cast<uint32_t>(policy.size());
  for (int i = 3; i >= 0; --i) k.push_back(static_cast<char>((n >> (i * 8)) & 0xff));
  k.append(policy);
  return k;
}

// A signed number as 8 bytes that sort numerically.
void PutOrdered(std::string& k, int64_t v) {
  PutBe64(k, static_cast<uint64_t>(v) ^ (uint64_t{1} << 63));
}
int64_t GetOrdered(std::string_view k, size_t at) {
  if (k.size() < at + 8) Fail(ErrorCode::kCorruption, "decision log: damaged counter key");
  return static_cast<int64_t>(GetBe64(k.data() + at) ^ (uint64_t{1} << 63));
}

}  // namespace

std::string EncodeCounts(const DecisionCounts& c) {
  uint64_t words[6] = {c.decisions,
                       c.closed,
                       c.joined,
                       std::bit_cast<uint64_t>(c.rewards),
                       static_cast<uint64_t>(c.first_ms),
                       static_cast<uint64_t>(c.last_ms)};
  std::string out;
  out.reserve(kCountsBytes);
  for (uint64_t w : words) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((w >> (i * 8)) & 0xff));
  }
  return out;
}

DecisionCounts DecodeCounts(std::string_view v) {
  if (v.size() != kCountsBytes) {
    Fail(ErrorCode::kCorruption, "decision log: damaged counter value ({} bytes, not {})", v.size(),
         kCountsBytes);
  }
  uint64_t words[6];
  for (int w = 0; w < 6; ++w) {
    words[w] = 0;
    for (int i = 7; i >= 0; --i) words[w] = (words[w] << 8) | static_cast<uint8_t>(v[w * 8 + i]);
  }
  DecisionCounts c;
  c.decisions = words[0];
  c.closed = words[1];
  c.joined = words[2];
  c.rewards = std::bit_cast<double>(words[3]);
  c.first_ms = static_cast<int64_t>(words[4]);
  c.last_ms = static_cast<int64_t>(words[5]);
  return c;
}

std::array<std::string, 5> CounterKeysOf(std::string_view policy, int64_t hour, int64_t version,
                                         std::string_view action) {
  std::array<std::string, 5> keys;
  const std::string prefix = CounterPrefix('p', policy);
  std::string k = prefix;
  keys[0] = k;
  k[1] = 'h';
  PutOrdered(k, hour);
  keys[1] = k;
  k[1] = 'x';
  k += action;
  keys[2] = k;
  k = prefix;
  k[1] = 'w';
  PutOrdered(k, version);
  keys[3] = k;
  k = prefix;
  k[1] = 'a';
  k += action;
  keys[4] = std::move(k);
  return keys;
}

std::array<std::string, 5> CounterKeysOf(const Decision& d) {
  return CounterKeysOf(d.model, FloorDiv(d.ts_ms, kHourMs), d.version, ChosenActionId(d));
}

namespace {

// The counter changes of a group of writes (or of a rebuild) by policy, hour, version and chosen
// action: one lookup per decision or outcome (names are short enough for std::string's inline
// buffer), expanded once per group into the five counters each one changes.
class CounterChanges {
 public:
  void Add(const Decision& d, const DecisionCounts& delta) {
    tuples_[{d.model, FloorDiv(d.ts_ms, kHourMs), d.version, ChosenActionId(d)}].Merge(delta);
  }

  // Adds every change to the counters it changes (its policy, hour, version, chosen action and
  // chosen action's hour), by counter key.
  void Expand(std::unordered_map<std::string, DecisionCounts>& counters) const {
    for (const auto& [t, delta] : tuples_) {
      for (const std::string& k : CounterKeysOf(t.policy, t.hour, t.version, t.action)) {
        counters[k].Merge(delta);
      }
    }
  }

 private:
  struct Tuple {
    std::string policy;
    int64_t hour, version;
    std::string action;
    bool operator==(const Tuple&) const = default;
  };
  struct Hash {
    size_t operator()(const Tuple& t) const {
      size_t h = std::hash<std::string>()(t.policy);
      for (size_t v : {std::hash<int64_t>()(t.hour), std::hash<int64_t>()(t.version),
                       std::hash<std::string>()(t.action)}) {
        h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
      }
      return h;
    }
  };
  std::unordered_map<Tuple, DecisionCounts, Hash> tuples_;
};

DecisionCounts DecisionDelta(const Decision& d) {
  DecisionCounts c;
  c.decisions = 1;
  c.first_ms = c.last_ms = d.ts_ms;
  return c;
}

DecisionCounts OutcomeDelta(const Outcome& o) {
  DecisionCounts c;
  c.closed = 1;
  c.joined = o.kind == OutcomeKind::kJoined ? 1 : 0;
  c.rewards = o.reward;
  return c;
}

// The counters of one snapshot of the log.
class SnapshotCounters : public DecisionCounters {
 public:
  explicit SnapshotCounters(const DurableLog::Snapshot& snap) : snap_(snap) {}

  void Policies(
      const std::function<void(const std::string&, const DecisionCounts&)>& fn) const override {
    snap_.Scan("cp", [&](std::string_view k, std::string_view v) {
      if (!k.starts_with("cp")) return false;
      if (k.size() < 6 || GetBe32(k, 2) != k.size() - 6) {
        Fail(ErrorCode::kCorruption, "decision log: damaged counter key");
      }
      fn(std::string(k.substr(6)), DecodeCounts(v));
      return true;
    });
  }

  bool Totals(const std::string& policy, DecisionCounts* out) const override {
    std::string v;
    if (!snap_.Get(CounterPrefix('p', policy), &v)) return false;
    *out = DecodeCounts(v);
    return true;
  }

  void Hours(const std::string& policy, int64_t from,
             const std::function<void(int64_t, const DecisionCounts&)>& fn) const override {
    Numbered('h', policy, from, [&](int64_t hour, std::string_view rest, std::string_view v) {
      if (!rest.empty()) Fail(ErrorCode::kCorruption, "decision log: damaged counter key");
      fn(hour, DecodeCounts(v));
    });
  }

  void Versions(const std::string& policy,
                const std::function<void(int64_t, const DecisionCounts&)>& fn) const override {
    Numbered('w', policy, std::numeric_limits<int64_t>::min(),
             [&](int64_t version, std::string_view rest, std::string_view v) {
               if (!rest.empty()) Fail(ErrorCode::kCorruption, "decision log: damaged counter key");
               fn(version, DecodeCounts(v));
             });
  }

  void Actions(
      const std::string& policy,
      const std::function<void(const std::string&, const DecisionCounts&)>& fn) const override {
    const std::string prefix = CounterPrefix('a', policy);
    snap_.Scan(prefix, [&](std::string_view k, std::string_view v) {
      if (!k.starts_with(prefix)) return false;
      fn(std::string(k.substr(prefix.size())), DecodeCounts(v));
      return true;
    });
  }

  void ActionHours(const std::string& policy, int64_t from,
                   const std::function<void(int64_t, const std::string&, const DecisionCounts&)>&
                       fn) const override {
    Numbered('x', policy, from, [&](int64_t hour, std::string_view rest, std::string_view v) {
      fn(hour, std::string(rest), DecodeCounts(v));
    });
  }

 private:
  static uint32_t GetBe32(std::string_view k, size_t at) {
    uint32_t n = 0;
    for (size_t i = at; i < at + 4; ++i) n = (n << 8) | static_cast<uint8_t>(k[i]);
    return n;
  }

  // The keys of `kind` of `policy` whose number (hour or version) is `from` or more: fn(number,
  // the rest of the key, value).
  void Numbered(char kind, const std::string& policy, int64_t from,
                const std::function<void(int64_t, std::string_view, std::string_view)>& fn) const {
    const std::string prefix = CounterPrefix(kind, policy);
    std::string seek = prefix;
    PutOrdered(seek, from);
    snap_.Scan(seek, [&](std::string_view k, std::string_view v) {
      if (!k.starts_with(prefix)) return false;
      fn(GetOrdered(k, prefix.size()), k.substr(prefix.size() + 8), v);
      return true;
    });
  }

  const DurableLog::Snapshot& snap_;
};

}  // namespace

bool CountersOf(const DurableLog::Snapshot& snap,
                const std::function<void(const DecisionCounters&)>& fn) {
  std::string v;
  if (!snap.Get(kCountersVersionKey, &v)) return false;
  if (v != kCountersVersion) {
    Fail(ErrorCode::kFailedPrecondition,
         "decision log: counters version '{}' is not known to this build (it knows {}); use a "
         "newer marquee",
         v.substr(0, 16), kCountersVersion);
  }
  fn(SnapshotCounters(snap));
  return true;
}

json OutcomeJson(const Outcome& o) {
  return {{"kind", std::string(OutcomeKindName(o.kind))}, {"reward", o.reward}, {"ts", o.ts_ms}};
}

Outcome OutcomeFromJson(const json& j) {
  Outcome o;
  try {
    const std::string kind = j.at("kind").get<std::string>();
    if (kind == "joined") {
      o.kind = OutcomeKind::kJoined;
    } else if (kind == "default") {
      o.kind = OutcomeKind::kDefault;
    } else {
      Fail(ErrorCode::kCorruption, "decision log: unknown outcome kind '{}'", kind);
    }
    o.reward = j.at("reward").get<double>();
    o.ts_ms = j.at("ts").get<int64_t>();
  } catch (const json::exception& e) {
    Fail(ErrorCode::kCorruption, "decision log: damaged outcome record: {}", e.what());
  }
  return o;
}

Decision ParseDecision(std::string_view value) {
  json j = json::parse(value.data(), value.data() + value.size(), nullptr, false);
  if (j.is_discarded()) Fail(ErrorCode::kCorruption, "decision log: damaged decision record");
  return Decision::FromJson(j);
}

namespace {

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string_view OutcomeKindName(OutcomeKind k) {
  switch (k) {
    case OutcomeKind::kOpen:
      return "open";
    case OutcomeKind::kJoined:
      return "joined";
    case OutcomeKind::kDefault:
      return "default";
  }
  return "open";
}

json Decision::ToJson() const {
  json j = {{"v", kFormatVersion},     {"id", id},           {"ts", ts_ms},
            {"deadline", deadline_ms}, {"model", model},     {"version", version},
            {"updates", updates},      {"context", context}, {"actions", actions},
            {"p", probabilities},      {"chosen", chosen}};
  if (user) j["user"] = *user;
  return j;
}

Decision Decision::FromJson(const json& j) {
  Decision d;
  try {
    if (j.at("v").get<int>() != kFormatVersion) {
      Fail(ErrorCode::kCorruption, "decision log: record format v{} is not supported (v{})",
           j.at("v").get<int>(), kFormatVersion);
    }
    d.id = j.at("id").get<std::string>();
    d.ts_ms = j.at("ts").get<int64_t>();
    d.deadline_ms = j.at("deadline").get<int64_t>();
    d.model = j.at("model").get<std::string>();
    d.version = j.at("version").get<int64_t>();
    d.updates = j.at("updates").get<uint64_t>();
    if (j.contains("user")) d.user = j["user"].get<std::string>();
    d.context = j.at("context");
    d.actions = j.at("actions");
    d.probabilities = j.at("p").get<std::vector<double>>();
    d.chosen = j.at("chosen").get<uint32_t>();
  } catch (const json::exception& e) {
    Fail(ErrorCode::kCorruption, "decision log: damaged decision record: {}", e.what());
  }
  if (!d.actions.is_array() || d.probabilities.size() != d.actions.size() ||
      d.chosen >= d.actions.size()) {
    Fail(ErrorCode::kCorruption, "decision log: decision {} has inconsistent actions", d.id);
  }
  return d;
}

json ToJsonl(const Decision& d) {
  json j = d.ToJson();
  j["outcome"] =
      d.outcome.kind == OutcomeKind::kOpen ? json{{"kind", "open"}} : OutcomeJson(d.outcome);
  return j;
}

json ToBanditJsonl(const Decision& d) {
  if (d.outcome.kind == OutcomeKind::kOpen) {
    Fail(ErrorCode::kFailedPrecondition, "decision {} has no reward yet (its window is open)",
         d.id);
  }
  json j = {{"context", d.context},       {"actions", d.actions},
            {"chosen", d.chosen},         {"probability", d.probabilities[d.chosen]},
            {"reward", d.outcome.reward}, {"ts", d.ts_ms / 1000}};
  if (d.user) j["user"] = *d.user;
  return j;
}

nlohmann::ordered_json ToDsjson(const Decision& d) {
  using ojson = nlohmann::ordered_json;
  if (d.outcome.kind == OutcomeKind::kOpen) {
    Fail(ErrorCode::kFailedPrecondition, "decision {} has no reward yet (its window is open)",
         d.id);
  }
  const size_t n = d.actions.size();
  ojson a = ojson::array(), p = ojson::array(), multi = ojson::array();
  a.push_back(d.chosen + 1);
  p.push_back(d.probabilities[d.chosen]);
  for (size_t i = 0; i < n; ++i) {
    if (i == d.chosen) continue;
    a.push_back(i + 1);
    p.push_back(d.probabilities[i]);
  }
  for (size_t i = 0; i < n; ++i) {
    const json& act = d.actions[i];
    const std::string id = act.at("id").get<std::string>();
    ojson features = act.contains("features") ? ojson(act["features"]) : ojson::object();
    multi.push_back({{"_id", id}, {"action", std::move(features)}, {"id", {{id, 1}}}});
  }
  ojson c = {{"context", ojson(d.context)}};
  if (d.user) c["user"] = {{"id", *d.user}};
  c["_multi"] = std::move(multi);
  return {{"_label_cost", -d.outcome.reward},
          {"_label_probability", d.probabilities[d.chosen]},
          {"_label_Action", d.chosen + 1},
          {"_labelIndex", d.chosen},
          {"o", ojson::array({{{"v", d.outcome.reward},
                               {"EventId", d.id},
                               {"ActionTaken", false},
                               {"_kind", std::string(OutcomeKindName(d.outcome.kind))}}})},
          {"Timestamp", IsoUtcMillis(d.ts_ms)},
          {"Version", "1"},
          {"EventId", d.id},
          {"a", std::move(a)},
          {"c", std::move(c)},
          {"p", std::move(p)},
          {"VWState", {{"m", fmt::format("{}/{}", d.model, d.version)}}}};
}

std::string ChosenActionId(const Decision& d) {
  if (d.chosen >= d.actions.size()) return "";
  const json& a = d.actions[d.chosen];
  if (a.is_object()) {
    auto it = a.find("id");
    if (it != a.end() && it->is_string()) return it->get<std::string>();
  }
  return "";
}

void DecisionCounts::Add(const Decision& d) {
  ++decisions;
  first_ms = std::min(first_ms, d.ts_ms);
  last_ms = std::max(last_ms, d.ts_ms);
  if (d.outcome.kind == OutcomeKind::kOpen) return;
  ++closed;
  if (d.outcome.kind == OutcomeKind::kJoined) ++joined;
  rewards += d.outcome.reward;
}

void DecisionCounts::Merge(const DecisionCounts& o) {
  decisions += o.decisions;
  closed += o.closed;
  joined += o.joined;
  rewards += o.rewards;
  first_ms = std::min(first_ms, o.first_ms);
  last_ms = std::max(last_ms, o.last_ms);
}

void ValidateDecisionId(std::string_view id, std::string_view field) {
  bool ok = id.size() == 32;
  for (char c : id) ok = ok && HexDigit(c) >= 0;
  if (!ok) {
    Fail(ErrorCode::kInvalidArgument,
         "{}: '{}' is not a decision id (32 lower-case hex digits, as /v1/decide returns)", field,
         id.substr(0, 64));
  }
}

std::string DecisionLog::NewId(int64_t ts_ms) {
  thread_local std::mt19937_64 rng = [] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }();
  std::string bytes;
  PutBe64(bytes, static_cast<uint64_t>(ts_ms) << 16);
  bytes.resize(6);  // the 48-bit time prefix
  const uint64_t a = rng(), b = rng();
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>(a >> (i * 8)));
  for (int i = 0; i < 2; ++i) bytes.push_back(static_cast<char>(b >> (i * 8)));
  return IdHex(bytes);
}

namespace {

// The decision log's state machine over a DurableLog: appends, reward joins and sweeps are
// PrepareAsync writes, so each is decided on the DurableLog's writer thread against the stored
// state (plus what earlier writes of the same group set, kept in group_ until on_group_end) and
// committed with its group.
class RocksDecisionImpl {
 public:
  // `o` is the owning DecisionLog's (now_ms set), which outlives this.
  explicit RocksDecisionImpl(const DecisionLogOptions& o) : options_(o) {}

  ~RocksDecisionImpl() EXCLUDES(mu_) {
    {
      MutexLock lock(&mu_);
      stop_ = true;
    }
    sweep_cv_.NotifyAll();
    if (sweeper_.joinable()) sweeper_.join();
    // ~DurableLog drains the pending writes (safe on a stopped database: full disk), and a
    // queued reward's preparer reads log_ (JoinReward). unique_ptr::reset would null log_
    // before that destructor runs, so the log is deleted while log_ still points at it, and
    // released after.
    delete log_.get();
    (void)log_.release();
  }

  void Open(const std::string& dir) {
    DurableLogOptions lo;
    lo.what = "decision log";
    lo.sync = options_.sync;
    lo.read_only = options_.read_only;
    lo.max_group_records = 4096;
    lo.retry_interval = kRetry;
    lo.tuning = options_.tuning;
    lo.on_group_end = [this](bool committed) { EndGroup(committed); };
    lo.on_group_prepared = [this] { return CounterRecords(); };
    log_ = DurableLog::Open(dir, std::move(lo));
  }

  // Builds the counters of a log that has none (written before they existed; a new log too),
  // in one pass on the writer thread, queued before any other write. kFailedPrecondition for
  // counters of a version this build does not know.
  void BuildCounters() {
    std::string v;
    if (log_->Get(kCountersVersionKey, &v)) {
      CheckCountersVersion(v);
      return;
    }
    const auto start = std::chrono::steady_clock::now();
    Completion c;
    uint64_t counted = 0;
    log_->PrepareAsync(
        [this, &counted] {
          ForEach(0, [&](const Decision& d) {
            DecisionCounts delta;
            delta.Add(d);
            group_.changes.Add(d, delta);
            ++counted;
            return true;
          });
          group_.write_counters_version = true;
          return std::vector<LogRecord>{};
        },
        [&c](std::exception_ptr e) { c.Done(e); });
    c.Wait();
    if (counted > 0) {
      spdlog::info("decision log: counted {} decisions for the counters in {:.1f} s", counted,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  }

  static void CheckCountersVersion(std::string_view v) {
    if (v != kCountersVersion) {
      Fail(ErrorCode::kFailedPrecondition,
           "decision log: counters version '{}' is not known to this build (it knows {}); use a "
           "newer marquee",
           v.substr(0, 16), kCountersVersion);
    }
  }

  bool WithCounters(const std::function<void(const DecisionCounters&)>& fn) const {
    bool found = false;
    log_->WithSnapshot([&](const DurableLog::Snapshot& snap) { found = CountersOf(snap, fn); });
    return found;
  }

  // on_group_prepared: the new value of every counter the group's writes changed (the committed
  // value, from the cache or the log, plus the group's change).
  std::vector<LogRecord> CounterRecords() {
    std::vector<LogRecord> records;
    group_.changes.Expand(group_.counters);
    records.reserve(group_.counters.size() + 1);
    std::string v;
    for (auto& [key, delta] : group_.counters) {
      auto it = counter_cache_.find(key);
      DecisionCounts value;
      if (it != counter_cache_.end()) {
        value = it->second;
      } else if (log_->Get(key, &v)) {
        value = DecodeCounts(v);
      }
      value.Merge(delta);
      delta = value;  // from here on the value to cache once the group commits
      records.push_back({key, EncodeCounts(value), false});
    }
    if (group_.write_counters_version) {
      records.push_back({std::string(kCountersVersionKey), std::string(kCountersVersion), false});
    }
    return records;
  }

  void StartSweeper() {
    if (options_.sweep_interval.count() <= 0) return;
    sweeper_ = std::thread([this] {
      while (WaitForSweep()) {
        try {
          while (SweepBlocking() == kMaxSweep) {
          }
        } catch (const std::exception& e) {
          spdlog::warn("decision log: sweep failed: {}", e.what());
        }
      }
    });
  }

  // The sweeper's pause: one sweep interval, or until the destructor stops it. Returns false once
  // stopped.
  bool WaitForSweep() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    sweep_cv_.WaitFor(&mu_, options_.sweep_interval, [&] {
      mu_.AssertHeld();  // the predicate runs under mu_
      return stop_;
    });
    return !stop_;
  }

  void Append(Decision d, std::function<void(std::exception_ptr)> done) {
    auto decision = std::make_shared<Decision>(std::move(d));
    log_->PrepareAsync(
        [this, decision] {
          Decision& d = *decision;
          d.deadline_ms = d.ts_ms + options_.reward_window_ms;
          std::vector<LogRecord> records = {{DecisionKey(d.id), d.ToJson().dump(), false},
                                            {OpenKey(d.deadline_ms, d.id), "", false}};
          group_.min_deadline = std::min(group_.min_deadline, d.deadline_ms);
          ++group_.appended;
          group_.changes.Add(d, DecisionDelta(d));
          return records;
        },
        std::move(done));
  }

  void Reward(std::string id, double reward, DecisionLog::RewardDone done) {
    auto joined = std::make_shared<std::optional<Decision>>();
    log_->PrepareAsync(
        [this, id = std::move(id), reward, joined] {
          std::vector<LogRecord> records;
          *joined = JoinReward(id, reward, options_.now_ms(), &records);
          group_.changes.Add(**joined, OutcomeDelta((*joined)->outcome));
          group_.closed_decisions.push_back(**joined);
          ++group_.joined;
          return records;
        },
        [joined, done = std::move(done)](std::exception_ptr e) {
          done(e, e ? nullptr : &**joined);
        });
  }

  size_t SweepBlocking() {
    Completion c;
    size_t closed = 0;
    log_->PrepareAsync(
        [this, &closed] {
          std::vector<LogRecord> records;
          std::vector<Decision> expired = CollectExpired(options_.now_ms(), &records);
          closed = expired.size();
          group_.defaulted += expired.size();
          for (const auto& d : expired) group_.changes.Add(d, OutcomeDelta(d.outcome));
          for (auto& d : expired) group_.closed_decisions.push_back(std::move(d));
          return records;
        },
        [&](std::exception_ptr e) {
          if (e) closed = 0;
          c.Done(e);
        });
    c.Wait();
    return closed;
  }

  std::optional<Decision> Lookup(std::string_view id) const {
    std::string v;
    if (!log_->Get(DecisionKey(id), &v)) return std::nullopt;
    Decision d = ParseDecision(v);
    if (log_->Get(RewardKey(id), &v)) d.outcome = ParseOutcome(v, id);
    return d;
  }

  void ForEach(int64_t since_ms, const std::function<bool(const Decision&)>& fn) const {
    log_->WithSnapshot([&](const DurableLog::Snapshot& snap) {
      std::string rv;
      snap.Scan(DecisionSeekKey(since_ms), [&](std::string_view key, std::string_view value) {
        if (!key.starts_with("d")) return false;
        Decision d = ParseDecision(value);
        if (d.ts_ms < since_ms) return true;
        std::string rk = "r";
        rk.append(key.substr(1));
        if (snap.Get(rk, &rv)) d.outcome = ParseOutcome(rv, d.id);
        return fn(d);
      });
    });
  }

  static Outcome ParseOutcome(std::string_view v, std::string_view id) {
    json j = json::parse(v, nullptr, false);
    if (j.is_discarded()) Fail(ErrorCode::kCorruption, "decision log: damaged outcome of {}", id);
    return OutcomeFromJson(j);
  }

  // Decides a reward against the stored state and the group's; throws the documented errors.
  Decision JoinReward(const std::string& id, double reward, int64_t now,
                      std::vector<LogRecord>* records) {
    std::optional<Decision> d = Lookup(id);
    if (!d) Fail(ErrorCode::kNotFound, "decision_id: no decision '{}' in the log", id);
    if (auto it = group_.closed.find(id); it != group_.closed.end()) d->outcome = it->second;
    if (d->outcome.kind == OutcomeKind::kJoined) {
      Fail(ErrorCode::kAlreadyExists,
           "decision_id: decision '{}' already has a reward ({}); the first reward wins", id,
           d->outcome.reward);
    }
    if (d->outcome.kind == OutcomeKind::kDefault || now > d->deadline_ms) {
      Fail(ErrorCode::kFailedPrecondition,
           "decision_id: the reward window of decision '{}' closed {} ms ago (window {} s); it "
           "got the default reward {}",
           id, now - d->deadline_ms, (d->deadline_ms - d->ts_ms) / 1000, options_.default_reward);
    }
    d->outcome = {OutcomeKind::kJoined, reward, now};
    records->push_back({RewardKey(id), OutcomeJson(d->outcome).dump(), false});
    records->push_back({OpenKey(d->deadline_ms, id), "", false, true});
    group_.closed[id] = d->outcome;
    return *d;
  }

  // Scans the open index from sweep_floor_ (every entry below it is already deleted: starting
  // there skips the tombstones of earlier sweeps) up to `now`.
  std::vector<Decision> CollectExpired(int64_t now, std::vector<LogRecord>* records) {
    std::vector<Decision> out;
    std::string lower = "o", upper = "o";
    PutBe64(lower, static_cast<uint64_t>(sweep_floor_) ^ (uint64_t{1} << 63));
    PutBe64(upper, static_cast<uint64_t>(now) ^ (uint64_t{1} << 63));
    // The upper bound keeps the scan off the tombstones of rewarded decisions due later.
    log_->Scan(lower, upper, [&](std::string_view k, std::string_view) {
      if (!k.starts_with("o") || out.size() >= kMaxSweep) return false;
      if (k.size() != 1 + 8 + 16) Fail(ErrorCode::kCorruption, "decision log: damaged open key");
      const auto deadline = static_cast<int64_t>(GetBe64(k.data() + 1) ^ (uint64_t{1} << 63));
      if (deadline >= now) return false;  // keys are in deadline order; at the deadline it is open
      const std::string id = IdHex(k.substr(9, 16));
      if (group_.closed.count(id)) return true;
      std::optional<Decision> d = Lookup(id);
      records->push_back({std::string(k), "", false, true});
      if (!d || d->outcome.kind != OutcomeKind::kOpen) return true;  // stale index entry
      d->outcome = {OutcomeKind::kDefault, options_.default_reward, now};
      records->push_back({RewardKey(id), OutcomeJson(d->outcome).dump(), false});
      group_.closed[id] = d->outcome;
      out.push_back(std::move(*d));
      return true;
    });
    if (out.size() < kMaxSweep) group_.sweep_floor = now;  // complete: nothing open below now
    return out;
  }

  // After the group's batch: counters, the sweep floor and the online updates, before the
  // group's callbacks answer (a reward is answered once it is durable and learned from).
  void EndGroup(bool committed) {
    GroupState g = std::move(group_);
    group_ = GroupState();
    if (!committed) return;
    if (counter_cache_.size() + g.counters.size() > kMaxCachedCounters) counter_cache_.clear();
    for (auto& [key, value] : g.counters) counter_cache_[key] = value;  // CounterRecords' values
    decisions_ += g.appended;
    joined_ += g.joined;
    defaulted_ += g.defaulted;
    if (g.sweep_floor) sweep_floor_ = std::max(sweep_floor_, *g.sweep_floor);
    // A decision whose deadline is below the floor (a clock that went back) lowers it.
    sweep_floor_ = std::min(sweep_floor_, g.min_deadline);
    if (!options_.on_closed) return;
    for (const Decision& d : g.closed_decisions) {
      try {
        options_.on_closed(d);
      } catch (const std::exception& e) {
        spdlog::warn("decision log: online update for decision {} failed: {}", d.id, e.what());
      }
    }
  }

  // What the writes of the group being prepared set (writer thread only).
  struct GroupState {
    std::unordered_map<std::string, Outcome> closed;  // id -> outcome set in this group
    std::vector<Decision> closed_decisions;           // for on_closed, after the commit
    std::optional<int64_t> sweep_floor;               // after a complete sweep, once committed
    int64_t min_deadline = std::numeric_limits<int64_t>::max();  // of the decisions appended
    uint64_t appended = 0, joined = 0, defaulted = 0;
    CounterChanges changes;  // what the group's writes change
    // The counters they change, by key, with their new values (CounterRecords).
    std::unordered_map<std::string, DecisionCounts> counters;
    bool write_counters_version = false;  // BuildCounters
  };

  static constexpr std::chrono::seconds kRetry{1};
  // Set before the sweeper starts (options_ in the constructor, log_ by Open) and not changed
  // until the destructor has joined it: no lock needed.
  const DecisionLogOptions& options_;
  std::unique_ptr<DurableLog> log_;
  // The DurableLog's writer thread only (prepare callbacks and on_group_end run there): no lock.
  GroupState group_;
  int64_t sweep_floor_ = std::numeric_limits<int64_t>::min();
  // Committed counter values, so a counter the writer changes again is not read back from the
  // log; cleared when it would grow past kMaxCachedCounters.
  std::unordered_map<std::string, DecisionCounts> counter_cache_;
  std::atomic<uint64_t> decisions_{0}, joined_{0}, defaulted_{0};  // read by any thread
  Mutex mu_;
  CondVar sweep_cv_;  // signals stop_
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread sweeper_;  // started by StartSweeper, joined in the destructor
};

// The RocksDB implementation: the interface over RocksDecisionImpl.
class RocksDecisionLog final : public DecisionLog {
 public:
  RocksDecisionLog(const std::string& dir, DecisionLogOptions options)
      : DecisionLog(std::move(options)), dir_(dir), impl_(this->options()) {
    impl_.Open(dir);
  }
  void Start() {
    impl_.BuildCounters();
    while (Sweep() == kMaxSweep) {
    }
    impl_.StartSweeper();
  }

  void AppendAsync(Decision d, std::function<void(std::exception_ptr)> done) override {
    impl_.Append(std::move(d), std::move(done));  // read-only: kFailedPrecondition
  }
  size_t Sweep() override {
    if (options().read_only) {
      Fail(ErrorCode::kFailedPrecondition, "decision log: opened read-only");
    }
    return impl_.SweepBlocking();
  }
  void ForEach(int64_t since_ms, const std::function<bool(const Decision&)>& fn) const override {
    impl_.ForEach(since_ms, fn);
  }
  bool WithCounters(const std::function<void(const DecisionCounters&)>& fn) const override {
    return impl_.WithCounters(fn);
  }
  Stats stats() const override {
    return {impl_.decisions_.load(), impl_.joined_.load(), impl_.defaulted_.load(),
            impl_.log_->group_commits()};
  }
  bool writable(std::string* reason) const override { return impl_.log_->writable(reason); }
  std::string Describe() const override { return dir_; }

 protected:
  void JoinAsync(std::string id, double reward, RewardDone done) override {
    impl_.Reward(std::move(id), reward, std::move(done));
  }
  std::optional<Decision> Lookup(std::string_view id) const override { return impl_.Lookup(id); }

 private:
  const std::string dir_;
  RocksDecisionImpl impl_;
};

}  // namespace

void CheckDecisionLogOptions(const DecisionLogOptions& options) {
  if (options.reward_window_ms <= 0) {
    Fail(ErrorCode::kInvalidArgument, "reward window: must be positive, got {} ms",
         options.reward_window_ms);
  }
  if (!std::isfinite(options.default_reward)) {
    Fail(ErrorCode::kInvalidArgument, "default reward: must be a finite number");
  }
}

DecisionLog::DecisionLog(DecisionLogOptions options) : options_(std::move(options)) {
  CheckDecisionLogOptions(options_);
  if (!options_.now_ms) options_.now_ms = SystemNowMs;
}

DecisionLog::~DecisionLog() = default;

std::unique_ptr<DecisionLog> DecisionLog::Open(const std::string& dir, DecisionLogOptions options) {
  CheckDecisionLogOptions(options);
  if (options.read_only && !std::filesystem::exists(dir + "/CURRENT")) {
    Fail(ErrorCode::kNotFound, "no decision log in '{}' (serve a bandit policy first)", dir);
  }
  const bool read_only = options.read_only;
  auto log = std::make_unique<RocksDecisionLog>(dir, std::move(options));
  if (!read_only) log->Start();
  return log;
}

void DecisionLog::Append(Decision d) {
  Completion c;
  AppendAsync(std::move(d), [&c](std::exception_ptr e) { c.Done(e); });
  c.Wait();
}

void DecisionLog::RewardAsync(std::string id, double reward, RewardDone done) {
  try {
    ValidateDecisionId(id, "decision_id");
    if (!std::isfinite(reward)) Fail(ErrorCode::kInvalidArgument, "reward: must be finite");
    if (options_.read_only) {
      Fail(ErrorCode::kFailedPrecondition, "decision log: opened read-only");
    }
  } catch (...) {
    done(std::current_exception(), nullptr);
    return;
  }
  JoinAsync(std::move(id), reward, std::move(done));
}

Decision DecisionLog::Reward(std::string id, double reward) {
  Completion c;
  Decision out;
  RewardAsync(std::move(id), reward, [&](std::exception_ptr e, const Decision* d) {
    if (d != nullptr) out = *d;  // before Done: Wait's lock makes it visible
    c.Done(e);
  });
  c.Wait();
  return out;
}

std::optional<Decision> DecisionLog::Get(std::string_view id) const {
  ValidateDecisionId(id, "decision id");
  return Lookup(id);
}

}  // namespace marquee

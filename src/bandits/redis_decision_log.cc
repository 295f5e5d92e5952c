#include "bandits/redis_decision_log.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <cmath>
#include <deque>
#include <map>
#include <thread>
#include <variant>

#include <fmt/format.h>

#include "bandits/decision_log_codec.h"
#include "common/completion.h"
#include "common/mutex.h"
#include "marquee/error.h"

namespace marquee {
namespace {

using json = nlohmann::json;

constexpr int kShards = 16;
constexpr size_t kMaxSweep = 10000;  // decisions closed per sweep batch, as the RocksDB log's

// KEYS: record, time index, open index, counters. ARGV: id, record, deadline, ts, counter keys.
const RedisScript kAppend{R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
local ts = tonumber(ARGV[4])
for i = 5, #ARGV do
  local k = ARGV[i]
  redis.call('HINCRBY', KEYS[4], k .. '\0d', 1)
  local f = redis.call('HGET', KEYS[4], k .. '\0f')
  if not f or tonumber(f) > ts then redis.call('HSET', KEYS[4], k .. '\0f', ARGV[4]) end
  local l = redis.call('HGET', KEYS[4], k .. '\0l')
  if not l or tonumber(l) < ts then redis.call('HSET', KEYS[4], k .. '\0l', ARGV[4]) end
end
return 1
)lua"};

// KEYS: outcome, open index, counters. ARGV: id, now, outcome record, reward, joined (1/0),
// mode ("reward": late after the deadline; "default": only after it), counter keys.
const RedisScript kClose{R"lua(
local o = redis.call('GET', KEYS[1])
if o then return {'closed', o} end
local dl = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not dl then return {'gone'} end
local now = tonumber(ARGV[2])
if ARGV[6] == 'reward' and now > tonumber(dl) then return {'late', dl} end
if ARGV[6] == 'default' and now <= tonumber(dl) then return {'open'} end
redis.call('SET', KEYS[1], ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
for i = 7, #ARGV do
  local k = ARGV[i]
  redis.call('HINCRBY', KEYS[3], k .. '\0c', 1)
  if ARGV[5] == '1' then redis.call('HINCRBY', KEYS[3], k .. '\0j', 1) end
  redis.call('HINCRBYFLOAT', KEYS[3], k .. '\0r', ARGV[4])
end
return {'ok'}
)lua"};

int ShardOf(std::string_view id) {
  const char c = id.back();
  return c >= 'a' ? c - 'a' + 10 : c - '0';
}
std::string Tag(int shard) { return fmt::format("{{d{:x}}}", shard); }
std::string RecordKey(std::string_view id) {
  return "mq:dec:" + Tag(ShardOf(id)) + ":" + std::string(id);
}
std::string OutcomeKey(std::string_view id) {
  return "mq:out:" + Tag(ShardOf(id)) + ":" + std::string(id);
}
std::string TimeKey(int shard) { return "mq:dtime:" + Tag(shard); }
std::string OpenKey(int shard) { return "mq:dopen:" + Tag(shard); }
std::string CountersKey(int shard) { return "mq:dcnt:" + Tag(shard); }

std::string Number(double v) { return fmt::format("{:.17g}", v); }

// A sorted map read as a DurableLog snapshot (the counters summed over the shards).
class MapSnapshot : public DurableLog::Snapshot {
 public:
  explicit MapSnapshot(const std::map<std::string, std::string>& m) : m_(m) {}
  bool Get(std::string_view key, std::string* value) const override {
    auto it = m_.find(std::string(key));
    if (it == m_.end()) return false;
    *value = it->second;
    return true;
  }
  void Scan(std::string_view from, const DurableLog::Visitor& fn) const override {
    for (auto it = m_.lower_bound(std::string(from)); it != m_.end(); ++it) {
      if (!fn(it->first, it->second)) return;
    }
  }

 private:
  const std::map<std::string, std::string>& m_;
};

class RedisDecisionLog final : public DecisionLog {
 public:
  RedisDecisionLog(const RedisUrl& url, DecisionLogOptions options)
      : DecisionLog(std::move(options)), pool_(url, "decision log") {
    pool_.Check();
  }

  void Start() {
    if (options().read_only) return;
    writer_ = std::thread([this] { Run(); });
    while (Sweep() == kMaxSweep) {
    }
    if (options().sweep_interval.count() <= 0) return;
    sweeper_ = std::thread([this] {
      for (;;) {
        {
          MutexLock l(&mu_);
          sweep_cv_.WaitFor(&mu_, options().sweep_interval, [&]() REQUIRES(mu_) { return stop_; });
          if (stop_) return;
        }
        try {
          while (Sweep() == kMaxSweep) {
          }
        } catch (const std::exception& e) {
          spdlog::warn("decision log: sweep failed: {}", e.what());
        }
      }
    });
  }

  ~RedisDecisionLog() override {
    {
      MutexLock l(&mu_);
      stop_ = true;
    }
    sweep_cv_.NotifyAll();
    if (sweeper_.joinable()) sweeper_.join();
    {
      MutexLock l(&mu_);
      closing_ = true;
    }
    cv_.NotifyAll();
    if (writer_.joinable()) writer_.join();
  }

  void AppendAsync(Decision d, std::function<void(std::exception_ptr)> done) override {
    if (options().read_only) {
      done(std::make_exception_ptr(
          Error(ErrorCode::kFailedPrecondition, "decision log: opened read-only")));
      return;
    }
    Job job;
    job.kind = Job::kAppend;
    job.decision = std::move(d);
    job.done = std::move(done);
    Enqueue(std::move(job));
  }

  size_t Sweep() override {
    if (options().read_only) {
      Fail(ErrorCode::kFailedPrecondition, "decision log: opened read-only");
    }
    Completion c;
    size_t closed = 0;
    Job job;
    job.kind = Job::kSweep;
    job.swept = &closed;
    job.done = [&c](std::exception_ptr e) { c.Done(e); };
    Enqueue(std::move(job));
    c.Wait();
    return closed;
  }

  void ForEach(int64_t since_ms, const std::function<bool(const Decision&)>& fn) const override {
    // Ids start with 12 hex digits of their time: the shards' lexical indexes are in time order.
    const std::string lower =
        "[" + fmt::format("{:012x}", static_cast<uint64_t>(std::max<int64_t>(since_ms, 0))) +
        std::string(20, '0');
    struct Cursor {
      std::vector<std::string> page;
      size_t at = 0;
      std::string from;
      bool last = false;
    };
    constexpr size_t kPage = 1000;
    std::vector<Cursor> cursors(kShards);
    auto load = [&](int s) {
      Cursor& c = cursors[s];
      const RedisReply r = pool_.Command(
          {"ZRANGEBYLEX", TimeKey(s), c.from, "+", "LIMIT", "0", std::to_string(kPage)});
      c.page.clear();
      for (const RedisReply& e : r.elements) c.page.push_back(e.str);
      c.at = 0;
      c.last = c.page.size() < kPage;
      if (!c.page.empty()) c.from = "(" + c.page.back();
    };
    for (int s = 0; s < kShards; ++s) {
      cursors[s].from = lower;
      load(s);
    }
    std::vector<std::string> batch;
    for (;;) {
      batch.clear();
      while (batch.size() < 256) {
        int best = -1;
        for (int s = 0; s < kShards; ++s) {
          Cursor& c = cursors[s];
          if (c.at == c.page.size() && !c.last) load(s);
          if (c.at == c.page.size()) continue;
          if (best < 0 || c.page[c.at] < cursors[best].page[cursors[best].at]) best = s;
        }
        if (best < 0) break;
        batch.push_back(cursors[best].page[cursors[best].at++]);
      }
      if (batch.empty()) return;
      for (const Decision& d : Fetch(batch)) {
        if (d.ts_ms < since_ms) continue;
        if (!fn(d)) return;
      }
    }
  }

  bool WithCounters(const std::function<void(const DecisionCounters&)>& fn) const override {
    std::vector<RedisCommand> cmds;
    for (int s = 0; s < kShards; ++s) cmds.push_back({"HGETALL", CountersKey(s)});
    const std::vector<RedisReply> shards = pool_.Pipeline(cmds);
    std::map<std::string, DecisionCounts> sums;
    for (const RedisReply& h : shards) {
      if (h.is_error()) Fail(ErrorCode::kUnavailable, "decision log: Redis: {}", h.str);
      std::map<std::string, DecisionCounts> shard;
      for (size_t i = 0; i + 1 < h.elements.size(); i += 2) {
        const std::string& field = h.elements[i].str;
        const std::string& value = h.elements[i + 1].str;
        if (field.size() < 3 || field[field.size() - 2] != '\0') {
          Fail(ErrorCode::kCorruption, "decision log: damaged counter field");
        }
        DecisionCounts& c = shard[field.substr(0, field.size() - 2)];
        switch (field.back()) {
          case 'd':
            c.decisions = std::stoull(value);
            break;
          case 'c':
            c.closed = std::stoull(value);
            break;
          case 'j':
            c.joined = std::stoull(value);
            break;
          case 'r':
            c.rewards = std::stod(value);
            break;
          case 'f':
            c.first_ms = std::stoll(value);
            break;
          case 'l':
            c.last_ms = std::stoll(value);
            break;
          default:
            Fail(ErrorCode::kCorruption, "decision log: damaged counter field");
        }
      }
      for (const auto& [k, c] : shard) sums[k].Merge(c);
    }
    std::map<std::string, std::string> encoded;
    for (const auto& [k, c] : sums) encoded[k] = EncodeCounts(c);
    encoded[std::string(kDecisionCountersVersionKey)] = std::string(kDecisionCountersVersion);
    return CountersOf(MapSnapshot(encoded), fn);
  }

  Stats stats() const override {
    return {decisions_.load(), joined_.load(), defaulted_.load(), groups_.load()};
  }
  bool writable(std::string* reason) const override {
    if (options().read_only) {
      if (reason != nullptr) *reason = "decision log: opened read-only";
      return false;
    }
    return pool_.healthy(reason);
  }
  std::string Describe() const override { return pool_.Describe(); }

 protected:
  void JoinAsync(std::string id, double reward, RewardDone done) override {
    Job job;
    job.kind = Job::kReward;
    job.id = std::move(id);
    job.reward = reward;
    job.reward_done = std::move(done);
    Enqueue(std::move(job));
  }

  std::optional<Decision> Lookup(std::string_view id) const override {
    std::vector<Decision> got = Fetch({std::string(id)});
    if (got.empty()) return std::nullopt;
    return std::move(got[0]);
  }

 private:
  struct Job {
    enum Kind { kAppend, kReward, kSweep } kind = kAppend;
    Decision decision;  // kAppend; kReward: the decision once read
    std::string id;     // kReward
    double reward = 0;
    size_t* swept = nullptr;  // kSweep
    std::function<void(std::exception_ptr)> done;
    RewardDone reward_done;
    std::exception_ptr error;
    bool closed = false;  // kReward: joined by this job
  };

  // The decisions of `ids` that exist, with their outcomes, in the order of `ids`.
  std::vector<Decision> Fetch(const std::vector<std::string>& ids) const {
    std::vector<RedisCommand> cmds;
    for (const std::string& id : ids) {
      cmds.push_back({"GET", RecordKey(id)});
      cmds.push_back({"GET", OutcomeKey(id)});
    }
    const std::vector<RedisReply> r = pool_.Pipeline(cmds);
    std::vector<Decision> out;
    for (size_t i = 0; i < ids.size(); ++i) {
      const RedisReply& rec = r[2 * i];
      const RedisReply& outcome = r[2 * i + 1];
      if (rec.is_error()) Fail(ErrorCode::kUnavailable, "decision log: Redis: {}", rec.str);
      if (rec.type != RedisReply::Type::kString) continue;
      Decision d = ParseDecision(rec.str);
      if (outcome.type == RedisReply::Type::kString)
        d.outcome = ParseOutcomeRecord(outcome.str, d.id);
      out.push_back(std::move(d));
    }
    return out;
  }

  static Outcome ParseOutcomeRecord(std::string_view v, std::string_view id) {
    json j = json::parse(v, nullptr, false);
    if (j.is_discarded()) Fail(ErrorCode::kCorruption, "decision log: damaged outcome of {}", id);
    return OutcomeFromJson(j);
  }

  void Enqueue(Job job) {
    {
      MutexLock l(&mu_);
      queue_.push_back(std::move(job));
    }
    cv_.NotifyOne();
  }

  void Run() {
    for (;;) {
      std::vector<Job> group;
      {
        MutexLock l(&mu_);
        cv_.Wait(&mu_, [&]() REQUIRES(mu_) { return closing_ || !queue_.empty(); });
        if (queue_.empty()) return;
        while (!queue_.empty() && group.size() < 4096) {
          group.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      std::vector<Job*> writes;
      for (Job& j : group) {
        if (j.kind != Job::kSweep) writes.push_back(&j);
      }
      WriteGroup(writes);
      for (Job& j : group) {
        if (j.kind == Job::kSweep) RunSweep(j);
      }
    }
  }

  void WriteGroup(const std::vector<Job*>& jobs) {
    if (jobs.empty()) return;
    const int64_t now = NowMs();
    try {
      // The decisions the rewards name (a record never changes once written: reading it outside
      // the script is safe; the script decides the join).
      std::vector<std::string> ids;
      for (Job* j : jobs) {
        if (j->kind == Job::kReward) ids.push_back(j->id);
      }
      std::vector<RedisCommand> gets;
      for (const std::string& id : ids) gets.push_back({"GET", RecordKey(id)});
      const std::vector<RedisReply> records = pool_.Pipeline(gets);
      std::vector<RedisCommand> cmds;
      std::vector<Job*> sent;
      size_t r = 0;
      for (Job* j : jobs) {
        if (j->kind == Job::kAppend) {
          Decision& d = j->decision;
          d.deadline_ms = d.ts_ms + options().reward_window_ms;
          const int s = ShardOf(d.id);
          std::vector<std::string> args = {d.id, d.ToJson().dump(), std::to_string(d.deadline_ms),
                                           std::to_string(d.ts_ms)};
          for (std::string& k : CounterKeysOf(d)) args.push_back(std::move(k));
          cmds.push_back(
              pool_.Eval(kAppend, {RecordKey(d.id), TimeKey(s), OpenKey(s), CountersKey(s)}, args));
          sent.push_back(j);
          continue;
        }
        const RedisReply& rec = records[r++];
        if (rec.is_error()) {
          j->error = Unavailable(rec.str);
          continue;
        }
        if (rec.type != RedisReply::Type::kString) {
          j->error = std::make_exception_ptr(
              Error(ErrorCode::kNotFound,
                    fmt::format("decision_id: no decision '{}' in the log", j->id)));
          continue;
        }
        j->decision = ParseDecision(rec.str);
        j->decision.outcome = {OutcomeKind::kJoined, j->reward, now};
        cmds.push_back(CloseCommand(j->decision, now, "reward"));
        sent.push_back(j);
      }
      const std::vector<RedisReply> replies = pool_.Pipeline(cmds);
      groups_.fetch_add(1);
      for (size_t i = 0; i < sent.size(); ++i) {
        Job& j = *sent[i];
        const RedisReply& rep = replies[i];
        if (rep.is_error()) {
          j.error = Unavailable(rep.str);
        } else if (j.kind == Job::kAppend) {
          decisions_.fetch_add(1);
        } else {
          JoinResult(j, rep, now);
        }
      }
    } catch (const std::exception& e) {
      spdlog::warn("{}", e.what());
      const std::exception_ptr failed = std::current_exception();
      for (Job* j : jobs) {
        if (!j->error) j->error = failed;
        j->closed = false;
      }
    }
    for (Job* j : jobs) {
      if (j->closed) Closed(j->decision);
      Answer(*j);
    }
  }

  // The reply of a reward's close script, as DecisionLog documents the outcomes.
  void JoinResult(Job& j, const RedisReply& rep, int64_t now) {
    const std::string what = rep.elements.empty() ? "" : rep.elements[0].str;
    if (what == "ok") {
      j.closed = true;
      joined_.fetch_add(1);
      return;
    }
    const Decision& d = j.decision;
    Outcome prior;
    if (what == "closed" && rep.elements.size() == 2) {
      prior = ParseOutcomeRecord(rep.elements[1].str, d.id);
    }
    if (prior.kind == OutcomeKind::kJoined) {
      j.error = std::make_exception_ptr(Error(
          ErrorCode::kAlreadyExists,
          fmt::format("decision_id: decision '{}' already has a reward ({}); the first reward wins",
                      d.id, prior.reward)));
      return;
    }
    j.error = std::make_exception_ptr(Error(
        ErrorCode::kFailedPrecondition,
        fmt::format("decision_id: the reward window of decision '{}' closed {} ms ago (window {} "
                    "s); it got the default reward {}",
                    d.id, now - d.deadline_ms, (d.deadline_ms - d.ts_ms) / 1000,
                    options().default_reward)));
  }

  RedisCommand CloseCommand(const Decision& d, int64_t now, const char* mode) {
    const int s = ShardOf(d.id);
    const bool joined = d.outcome.kind == OutcomeKind::kJoined;
    std::vector<std::string> args = {d.id,
                                     std::to_string(now),
                                     OutcomeJson(d.outcome).dump(),
                                     Number(d.outcome.reward),
                                     joined ? "1" : "0",
                                     mode};
    for (std::string& k : CounterKeysOf(d)) args.push_back(std::move(k));
    return pool_.Eval(kClose, {OutcomeKey(d.id), OpenKey(s), CountersKey(s)}, args);
  }

  // Gives every open decision whose deadline passed the default reward, up to about kMaxSweep
  // (rounds of at most kPerShard per shard while a shard had a full round and closed some).
  void RunSweep(Job& job) {
    constexpr size_t kPerShard = 1000;
    size_t closed = 0;
    try {
      const int64_t now = NowMs();
      for (bool more = true; more && closed < kMaxSweep;) {
        std::vector<RedisCommand> due;
        for (int s = 0; s < kShards; ++s) {
          due.push_back({"ZRANGEBYSCORE", OpenKey(s), "-inf", "(" + std::to_string(now), "LIMIT",
                         "0", std::to_string(kPerShard)});
        }
        std::vector<std::string> ids;
        more = false;
        for (const RedisReply& r : pool_.Pipeline(due)) {
          if (r.is_error()) Fail(ErrorCode::kUnavailable, "decision log: Redis: {}", r.str);
          for (const RedisReply& e : r.elements) ids.push_back(e.str);
          more = more || r.elements.size() == kPerShard;
        }
        std::vector<Decision> expired = Fetch(ids);
        std::vector<RedisCommand> cmds;
        for (Decision& d : expired) {
          d.outcome = {OutcomeKind::kDefault, options().default_reward, now};
          cmds.push_back(CloseCommand(d, now, "default"));
        }
        const std::vector<RedisReply> replies = pool_.Pipeline(cmds);
        size_t round = 0;
        for (size_t i = 0; i < replies.size(); ++i) {
          const RedisReply& rep = replies[i];
          if (rep.is_error()) Fail(ErrorCode::kUnavailable, "decision log: Redis: {}", rep.str);
          if (rep.elements.empty() || rep.elements[0].str != "ok") continue;  // closed elsewhere
          ++round;
          defaulted_.fetch_add(1);
          Closed(expired[i]);
        }
        closed += round;
        more = more && round > 0;
      }
    } catch (const std::exception&) {
      job.error = std::current_exception();
    }
    *job.swept = job.error ? 0 : closed;
    Answer(job);
  }

  void Closed(const Decision& d) {
    if (!options().on_closed) return;
    try {
      options().on_closed(d);
    } catch (const std::exception& e) {
      spdlog::warn("decision log: online update for decision {} failed: {}", d.id, e.what());
    }
  }

  static void Answer(Job& j) {
    try {
      if (j.kind == Job::kReward) {
        j.reward_done(j.error, j.error ? nullptr : &j.decision);
      } else {
        j.done(j.error);
      }
    } catch (const std::exception& e) {
      spdlog::error("decision log: callback threw: {}", e.what());
    }
  }

  static std::exception_ptr Unavailable(const std::string& why) {
    return std::make_exception_ptr(Error(ErrorCode::kUnavailable, "decision log: Redis: " + why));
  }

  mutable RedisPool pool_;
  Mutex mu_;
  CondVar cv_, sweep_cv_;
  std::deque<Job> queue_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;     // the sweeper's
  bool closing_ GUARDED_BY(mu_) = false;  // the writer's, once the sweeper stopped
  std::atomic<uint64_t> decisions_{0}, joined_{0}, defaulted_{0}, groups_{0};
  std::thread writer_, sweeper_;
};

}  // namespace

std::unique_ptr<DecisionLog> OpenRedisDecisionLog(const RedisUrl& url, DecisionLogOptions options) {
  CheckDecisionLogOptions(options);
  RedisUrl u = url;
  if (options.read_only) u.relaxed = true;  // a reader loses nothing: no durability check
  auto log = std::make_unique<RedisDecisionLog>(u, std::move(options));
  log->Start();
  return log;
}

}  // namespace marquee

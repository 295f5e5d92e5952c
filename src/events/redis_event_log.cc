#include "events/redis_event_log.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <deque>
#include <map>
#include <thread>

#include "common/mutex.h"
#include "marquee/error.h"

namespace marquee {
namespace {

// KEYS: the member's set, its counter. ARGV: the cap (0: none), then (ts, value) per event.
const RedisScript kAppend{R"lua(
local n = (#ARGV - 1) / 2
local last = redis.call('INCRBY', KEYS[2], n)
for i = 1, n do
  redis.call('ZADD', KEYS[1], ARGV[2 * i], string.format('%016x', last - n + i) .. ARGV[2 * i + 1])
end
local cap = tonumber(ARGV[1])
if cap > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -cap - 1) end
return last
)lua"};

constexpr std::string_view kSetPrefix = "mq:ev:{";

std::string SetKey(std::string_view user) {
  return std::string(kSetPrefix) + std::string(user) + "}";
}
std::string CounterKey(std::string_view user) { return "mq:evn:{" + std::string(user) + "}"; }

// A set member and its score back to an event of `user`.
StoredEvent DecodeMember(std::string_view user, const RedisReply& member, const RedisReply& score) {
  StoredEvent e;
  e.user = std::string(user);
  const std::string& m = member.str;
  if (m.size() < 16) Fail(ErrorCode::kCorruption, "event log: damaged event of user '{}'", user);
  e.seq = std::strtoull(m.substr(0, 16).c_str(), nullptr, 16);
  e.ts = static_cast<int64_t>(std::strtod(score.str.c_str(), nullptr));
  if (!DecodeEventValue(std::string_view(m).substr(16), e)) {
    Fail(ErrorCode::kCorruption, "event log: damaged event of user '{}'", user);
  }
  return e;
}

class RedisEventLog final : public EventLog {
 public:
  RedisEventLog(const RedisUrl& url, EventLogOptions options)
      : options_(options), pool_(url, "event log") {
    pool_.Check();
    if (!options_.read_only) writer_ = std::thread([this] { Run(); });
  }

  ~RedisEventLog() override {
    {
      MutexLock l(&mu_);
      stop_ = true;
    }
    cv_.NotifyAll();
    if (writer_.joinable()) writer_.join();
  }

  void Append(std::vector<Event> events) override {
    Mutex mu;
    CondVar cv;
    bool finished = false;
    std::exception_ptr error;
    AppendAsync(std::move(events), [&](std::exception_ptr e) {
      MutexLock l(&mu);
      error = e;
      finished = true;
      cv.NotifyAll();
    });
    MutexLock l(&mu);
    cv.Wait(&mu, [&]() REQUIRES(mu) { return finished; });
    if (error) std::rethrow_exception(error);
  }

  void AppendAsync(std::vector<Event> events,
                   std::function<void(std::exception_ptr)> done) override {
    if (options_.read_only) {
      done(std::make_exception_ptr(
          Error(ErrorCode::kFailedPrecondition, "event log: opened read-only")));
      return;
    }
    if (events.empty()) {
      done(nullptr);
      return;
    }
    {
      MutexLock l(&mu_);
      queue_.push_back({std::move(events), std::move(done)});
    }
    cv_.NotifyOne();
  }

  std::vector<StoredEvent> Recent(std::string_view user, size_t limit) const override {
    std::vector<StoredEvent> out;
    if (limit == 0) return out;
    const RedisReply r =
        pool_.Command({"ZREVRANGE", SetKey(user), "0", std::to_string(limit - 1), "WITHSCORES"});
    for (size_t i = 0; i + 1 < r.elements.size(); i += 2) {
      out.push_back(DecodeMember(user, r.elements[i], r.elements[i + 1]));
    }
    return out;
  }

  void ForEach(const std::function<bool(const StoredEvent&)>& fn) const override {
    std::vector<std::string> keys;
    std::string cursor = "0";
    do {
      const RedisReply r =
          pool_.Command({"SCAN", cursor, "MATCH", std::string(kSetPrefix) + "*", "COUNT", "1000"});
      if (r.elements.size() != 2) Fail(ErrorCode::kInternal, "event log: bad SCAN reply");
      cursor = r.elements[0].str;
      for (const RedisReply& k : r.elements[1].elements) keys.push_back(k.str);
    } while (cursor != "0");
    std::sort(keys.begin(), keys.end(), [](const std::string& a, const std::string& b) {
      return std::string_view(a).substr(kSetPrefix.size(), a.size() - kSetPrefix.size() - 1) <
             std::string_view(b).substr(kSetPrefix.size(), b.size() - kSetPrefix.size() - 1);
    });
    constexpr size_t kKeysPerRound = 128;
    for (size_t at = 0; at < keys.size(); at += kKeysPerRound) {
      std::vector<RedisCommand> cmds;
      for (size_t k = at; k < std::min(keys.size(), at + kKeysPerRound); ++k) {
        cmds.push_back({"ZRANGE", keys[k], "0", "-1", "WITHSCORES"});
      }
      const std::vector<RedisReply> sets = pool_.Pipeline(cmds);
      for (size_t k = 0; k < sets.size(); ++k) {
        if (sets[k].is_error()) Fail(ErrorCode::kInternal, "event log: {}", sets[k].str);
        const std::string& key = keys[at + k];
        const std::string_view user =
            std::string_view(key).substr(kSetPrefix.size(), key.size() - kSetPrefix.size() - 1);
        const auto& el = sets[k].elements;
        for (size_t i = 0; i + 1 < el.size(); i += 2) {
          if (!fn(DecodeMember(user, el[i], el[i + 1]))) return;
        }
      }
    }
  }

  bool writable(std::string* reason) const override {
    if (options_.read_only) {
      if (reason != nullptr) *reason = "event log: opened read-only";
      return false;
    }
    return pool_.healthy(reason);
  }
  uint64_t appended() const override { return appended_.load(); }
  uint64_t group_commits() const override { return groups_.load(); }
  std::string Describe() const override { return pool_.Describe(); }

 private:
  struct Pending {
    std::vector<Event> events;
    std::function<void(std::exception_ptr)> done;
  };

  // The writer: everything queued goes out as one pipeline, one script per (append, member).
  void Run() {
    for (;;) {
      std::deque<Pending> group;
      {
        MutexLock l(&mu_);
        cv_.Wait(&mu_, [&]() REQUIRES(mu_) { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, drained
        size_t n = 0;
        while (!queue_.empty() && n < options_.max_group_events) {
          n += queue_.front().events.size();
          group.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      Write(group);
    }
  }

  void Write(std::deque<Pending>& group) {
    std::vector<RedisCommand> cmds;
    std::vector<size_t> first_cmd;  // per append: its first command
    const std::string cap = std::to_string(pool_.url().history);
    std::exception_ptr failed;
    try {
      for (const Pending& p : group) {
        first_cmd.push_back(cmds.size());
        std::map<std::string_view, std::vector<std::string>> by_user;
        for (const Event& e : p.events) {
          auto& args = by_user[e.user];
          if (args.empty()) args.push_back(cap);
          args.push_back(std::to_string(e.ts));
          args.push_back(EncodeEventValue(e));
        }
        for (auto& [user, args] : by_user) {
          cmds.push_back(pool_.Eval(kAppend, {SetKey(user), CounterKey(user)}, args));
        }
      }
      first_cmd.push_back(cmds.size());
      const std::vector<RedisReply> replies = pool_.Pipeline(cmds);
      groups_.fetch_add(1);
      for (size_t i = 0; i < group.size(); ++i) {
        std::exception_ptr error;
        for (size_t c = first_cmd[i]; c < first_cmd[i + 1]; ++c) {
          if (replies[c].is_error()) {
            error = std::make_exception_ptr(
                Error(ErrorCode::kUnavailable, "event log: Redis: " + replies[c].str));
            break;
          }
        }
        if (!error) appended_.fetch_add(group[i].events.size());
        Finish(group[i], error);
      }
      return;
    } catch (const Error& e) {
      spdlog::warn("{}", e.what());
      failed = std::current_exception();
    } catch (const std::exception& e) {
      failed = std::make_exception_ptr(Error(ErrorCode::kInternal, e.what()));
    }
    for (Pending& p : group) Finish(p, failed);
  }

  static void Finish(Pending& p, std::exception_ptr error) {
    try {
      p.done(error);
    } catch (const std::exception& e) {
      spdlog::error("event log: append callback threw: {}", e.what());
    }
  }

  const EventLogOptions options_;
  mutable RedisPool pool_;
  Mutex mu_;
  CondVar cv_;
  std::deque<Pending> queue_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> appended_{0}, groups_{0};
  std::thread writer_;
};

}  // namespace

std::unique_ptr<EventLog> OpenRedisEventLog(const RedisUrl& url, EventLogOptions options) {
  RedisUrl u = url;
  if (options.read_only) u.relaxed = true;  // a reader loses nothing: no durability check
  return std::make_unique<RedisEventLog>(u, options);
}

}  // namespace marquee

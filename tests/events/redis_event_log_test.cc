// The event log in Redis: state URLs, the durability check at open, the history cap, Redis down
// (appends and reads fail with kUnavailable, then recover by themselves), and kill -9 of Redis:
// no acknowledged event is missing after its restart.
#include "events/redis_event_log.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <set>
#include <thread>

#include "events/redis_test_util.h"
#include "marquee/error.h"
#include "test_util.h"

namespace marquee {
namespace {

Event E(std::string user, std::string item, int64_t ts) {
  return {std::move(user), std::move(item), "play", 1.0f, ts};
}

using testing::ExpectError;

TEST(RedisUrl, ParsesAndRefusesWithTheReason) {
  const RedisUrl u = ParseRedisUrl("redis://:s3cret@cache.local:6380/3?durability=relaxed");
  EXPECT_EQ(u.host, "cache.local");
  EXPECT_EQ(u.port, 6380);
  EXPECT_EQ(u.db, 3);
  EXPECT_EQ(u.password, "s3cret");
  EXPECT_TRUE(u.relaxed);
  EXPECT_EQ(u.Redacted().find("s3cret"), std::string::npos) << u.Redacted();
  const RedisUrl d = ParseRedisUrl("redis://127.0.0.1");
  EXPECT_EQ(d.port, 6379);
  EXPECT_EQ(d.db, 0);
  EXPECT_FALSE(d.relaxed);
  EXPECT_EQ(ParseRedisUrl("redis://h:1/0?history=50").history, 50u);
  auto refused = [](const std::string& url, const std::string& says) {
    ExpectError([&] { ParseRedisUrl(url); }, ErrorCode::kInvalidArgument, says);
    try {
      ParseRedisUrl(url);
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).find("pw9"), std::string::npos) << "password echoed";
    }
  };
  refused("redis://:pw9@h:99999/0", "port");
  refused("redis://:pw9@h:1/16", "database");
  refused("redis://:pw9@:1/0", "no host");
  refused("redis://h/0?durability=maybe", "durability");
  refused("redis://h/0?colour=red", "unknown parameter");
  refused("redis://h/0?history=-1", "history");
  EXPECT_EQ(ParseStateUrl("").kind, StateBackend::Kind::kRocksDb);
  EXPECT_EQ(ParseStateUrl("rocksdb:///x").kind, StateBackend::Kind::kRocksDb);
  EXPECT_EQ(ParseStateUrl("redis://h:1/2").kind, StateBackend::Kind::kRedis);
  ExpectError([] { ParseStateUrl("memcached://h"); }, ErrorCode::kInvalidArgument, "scheme");
}

TEST(RedisEventLog, RefusesARedisThatCouldLoseAcknowledgedWrites) {
  testing::RedisServer* r = marquee::testing::RedisServer::Fresh();
  MARQUEE_SKIP_WITHOUT_REDIS(r);
  r->Command({"CONFIG", "SET", "appendfsync", "everysec"});
  ExpectError([&] { OpenRedisEventLog(r->ParsedUrl()); }, ErrorCode::kFailedPrecondition,
              "appendfsync everysec): run it with --appendonly yes --appendfsync always, or "
              "accept the loss with ?durability=relaxed");
  // Told otherwise, it opens; a reader never checks.
  EXPECT_NO_THROW(OpenRedisEventLog(r->ParsedUrl(0, "durability=relaxed")));
  EventLogOptions ro;
  ro.read_only = true;
  EXPECT_NO_THROW(OpenRedisEventLog(r->ParsedUrl(), ro));
  r->Command({"CONFIG", "SET", "appendfsync", "always"});
  EXPECT_NO_THROW(OpenRedisEventLog(r->ParsedUrl()));
  r->Command({"CONFIG", "SET", "appendonly", "no"});
  ExpectError([&] { OpenRedisEventLog(r->ParsedUrl()); }, ErrorCode::kFailedPrecondition,
              "appendonly no");
  r->AppendOnlyOn();
}

TEST(RedisEventLog, HistoryCapKeepsTheNewestAndDatabasesAreSeparate) {
  testing::RedisServer* r = marquee::testing::RedisServer::Fresh();
  MARQUEE_SKIP_WITHOUT_REDIS(r);
  auto capped = OpenRedisEventLog(r->ParsedUrl(1, "history=3"));
  for (int i = 0; i < 10; ++i) capped->Append({E("m", "i" + std::to_string(i), 100 - i)});
  const auto got = capped->Recent("m", 10);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].item, "i0");  // the newest by event time, not by arrival
  EXPECT_EQ(got[2].item, "i2");
  auto other = OpenRedisEventLog(r->ParsedUrl(2));
  EXPECT_TRUE(other->Recent("m", 10).empty()) << "database 2 is another state";
  EventLogOptions ro;
  ro.read_only = true;
  auto reader = OpenRedisEventLog(r->ParsedUrl(1), ro);
  EXPECT_EQ(reader->Recent("m", 10).size(), 3u);
  ExpectError([&] { reader->Append({E("m", "x", 1)}); }, ErrorCode::kFailedPrecondition,
              "read-only");
  // Members whose ids hold the hash-tag braces or bytes of any kind stay apart.
  auto log = OpenRedisEventLog(r->ParsedUrl(3));
  log->Append({E("a}b", "x", 1), E("a", "y", 2), E("{a}", "z", 3), E("\xff\x01 u", "w", 4)});
  EXPECT_EQ(log->Recent("a}b", 5).at(0).item, "x");
  EXPECT_EQ(log->Recent("a", 5).size(), 1u);
  EXPECT_EQ(log->Recent("{a}", 5).at(0).item, "z");
  EXPECT_EQ(log->Recent("\xff\x01 u", 5).at(0).item, "w");
  size_t n = 0;
  log->ForEach([&](const StoredEvent&) { return ++n > 0; });
  EXPECT_EQ(n, 4u);
}

// A stand-in for a Redis that is restarting: it answers a connection's first `ok_first`
// commands "+OK" and every later one "-LOADING ..." (what a real Redis says while it replays
// its AOF after a restart, which a real one does too briefly to test reliably).
class LoadingRedis {
 public:
  explicit LoadingRedis(int ok_first) : ok_first_(ok_first) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 && ::listen(fd_, 8) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      port_ = ntohs(a.sin_port);
    }
    thread_ = std::thread([this] { Serve(); });
  }
  ~LoadingRedis() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }

 private:
  void Serve() {
    while (!stop_) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string in;
      int answered = 0;
      char buf[4096];
      for (ssize_t n; (n = ::read(c, buf, sizeof buf)) > 0;) {
        in.append(buf, static_cast<size_t>(n));
        // Answers every whole command (*N, then N $len bulk strings) received so far.
        for (size_t used; (used = WholeCommand(in)) > 0; in.erase(0, used)) {
          const std::string reply = answered++ < ok_first_
                                        ? "+OK\r\n"
                                        : "-LOADING Redis is loading the dataset in memory\r\n";
          if (::write(c, reply.data(), reply.size()) < 0) break;
        }
      }
      ::close(c);
    }
  }
  // The length of the first whole command in `in`, 0 when it is not all there yet.
  static size_t WholeCommand(const std::string& in) {
    size_t at = in.find("\r\n");
    if (in.empty() || in[0] != '*' || at == std::string::npos) return 0;
    const long parts = std::stol(in.substr(1, at - 1));
    at += 2;
    for (long i = 0; i < parts; ++i) {
      const size_t end = in.find("\r\n", at);
      if (end == std::string::npos) return 0;
      const size_t len = std::stoul(in.substr(at + 1, end - at - 1));
      at = end + 2 + len + 2;
      if (at > in.size()) return 0;
    }
    return at;
  }

  const int ok_first_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A restarted Redis answers LOADING until its AOF is read back: that is Redis being unavailable
// (a request answers without the history, a write is refused with 503), not an internal error.
TEST(RedisPool, LoadingIsUnavailableNamingTheReason) {
  for (const int ok_first : {0, 1}) {  // LOADING from the connect's SELECT on, or after it
    SCOPED_TRACE(ok_first);
    LoadingRedis fake(ok_first);
    ASSERT_GT(fake.port(), 0);
    RedisPool pool(
        ParseRedisUrl(fmt::format("redis://127.0.0.1:{}/0?durability=relaxed", fake.port())),
        "event log");
    ExpectError(
        [&] {
          pool.Command({"ZREVRANGE", "k", "0", "9"});
        },
        ErrorCode::kUnavailable, "LOADING");
    ExpectError([&] { pool.Pipeline({{"PING"}}); }, ErrorCode::kUnavailable, "LOADING");
    std::string why;
    EXPECT_FALSE(pool.healthy(&why));
    EXPECT_NE(why.find("LOADING"), std::string::npos) << why;
  }
}

TEST(RedisEventLog, RedisDownFailsWithUnavailableAndRecoversByItself) {
  testing::RedisServer* r = marquee::testing::RedisServer::Fresh();
  MARQUEE_SKIP_WITHOUT_REDIS(r);
  auto log = OpenRedisEventLog(r->ParsedUrl());
  log->Append({E("u", "a", 1)});
  r->Kill(SIGKILL);
  ExpectError([&] { log->Append({E("u", "b", 2)}); }, ErrorCode::kUnavailable, "127.0.0.1");
  ExpectError([&] { log->Recent("u", 5); }, ErrorCode::kUnavailable, "Redis");
  std::string why;
  EXPECT_FALSE(log->writable(&why));
  EXPECT_FALSE(why.empty());
  ASSERT_TRUE(r->Start());
  // The same log object, no reopen: it reconnects (after its short back-off), and the script
  // Redis forgot at its restart is loaded again.
  bool back = false;
  for (int i = 0; i < 100 && !back; ++i) {
    back = log->writable();
    if (!back) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(back);
  log->Append({E("u", "c", 3)});
  const auto got = log->Recent("u", 5);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].item, "c");
  EXPECT_EQ(got[1].item, "a");
}

// Appends from several threads while Redis is killed -9 and restarted: every append that was
// acknowledged is there afterwards (the AOF is fsynced before Redis replies).
TEST(RedisEventLog, KillNineLosesNoAcknowledgedEvent) {
  testing::RedisServer* r = marquee::testing::RedisServer::Fresh();
  MARQUEE_SKIP_WITHOUT_REDIS(r);
  auto log = OpenRedisEventLog(r->ParsedUrl());
  std::atomic<bool> stop{false};
  std::vector<std::vector<std::string>> acked(4);
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        const std::string item = "i" + std::to_string(i);
        try {
          log->Append({E("w" + std::to_string(t), item, i)});
          acked[t].push_back(item);
        } catch (const Error&) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  r->Kill(SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(r->Start());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop = true;
  for (auto& w : writers) w.join();
  size_t total = 0;
  for (int t = 0; t < 4; ++t) {
    const auto got = log->Recent("w" + std::to_string(t), 1u << 20);
    std::set<std::string> have;
    for (const StoredEvent& e : got) have.insert(e.item);
    for (const std::string& item : acked[t]) {
      EXPECT_TRUE(have.count(item)) << "acknowledged event w" << t << "/" << item << " missing";
    }
    total += acked[t].size();
  }
  EXPECT_GT(total, 20u) << "the writers acknowledged too little to show anything";
}

}  // namespace
}  // namespace marquee

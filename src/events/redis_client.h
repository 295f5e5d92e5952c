// A small Redis client over hiredis (Debian's libhiredis-dev) for the online state kept in Redis
// (docs/formats/state-redis.md): the state URL, a pool of blocking connections, pipelined
// commands, Lua scripts by EVALSHA, and the durability check.
//
//   - Connections are made on demand and kept (at most `max_idle` idle ones); one that failed
//     (a dropped connection, a timeout) is discarded, so the next call reconnects: a restarted
//     Redis is picked up by itself. After a failed connect, calls within `backoff` fail at once
//     with the same error (a request path never waits on a Redis that is down).
//   - Every new connection selects the URL's database and, unless the URL says
//     ?durability=relaxed, checks that Redis cannot lose an acknowledged write (CONFIG GET
//     appendonly = yes and appendfsync = always); a Redis that can is refused
//     (kFailedPrecondition naming the setting and the way out).
//   - Errors: kUnavailable when Redis cannot be reached or a connection fails mid-command (the
//     command may or may not have run: it is never acknowledged), and also when Redis answers
//     that it cannot serve now (LOADING while a restarted server replays its AOF, BUSY,
//     MASTERDOWN, TRYAGAIN, CLUSTERDOWN: nothing ran); other error replies come back as
//     RedisReply::kError (Pipeline) or kInternal naming the command (Command).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/mutex.h"

struct redisContext;

namespace marquee {

// redis://[:password@]host[:port][/db][?durability=strict|relaxed&history=N]
struct RedisUrl {
  std::string host;
  int port = 6379;
  int db = 0;
  std::string password;          // never printed
  bool relaxed = false;          // ?durability=relaxed: no appendfsync check
  size_t history = 0;            // ?history=N: events kept per member (0: all)
  std::string Redacted() const;  // the URL without its password
};

// kInvalidArgument naming the URL (password removed) and what is wrong.
RedisUrl ParseRedisUrl(std::string_view url);

// Which backend holds a home's online state (events, decisions, exposures).
struct StateBackend {
  enum class Kind { kRocksDb, kRedis };
  Kind kind = Kind::kRocksDb;
  RedisUrl redis;  // kRedis
  std::string Describe() const;
};

// Parses a `state =` URL: "" or rocksdb://... (the home's RocksDB), redis://...;
// kInvalidArgument for anything else; kUnimplemented for redis:// in a build without hiredis.
StateBackend ParseStateUrl(std::string_view url);

// True when this build has the Redis backend (hiredis was found at build time).
bool RedisSupported();

struct RedisReply {
  enum class Type { kNil, kString, kInteger, kArray, kStatus, kError };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError
  long long integer = 0;
  std::vector<RedisReply> elements;  // kArray
  bool is_error() const { return type == Type::kError; }
};

using RedisCommand = std::vector<std::string>;

// A Lua script run by EVALSHA (its SHA-1 learnt by SCRIPT LOAD on first use, and again after a
// Redis restart forgot it).
struct RedisScript {
  std::string source;
};

class RedisPool {
 public:
  // `what` names the user in messages ("event log"). Connects nowhere yet.
  RedisPool(RedisUrl url, std::string what, size_t max_idle = 8);
  ~RedisPool();
  RedisPool(const RedisPool&) = delete;
  RedisPool& operator=(const RedisPool&) = delete;

  // Connects (running the durability check) and answers a PING: for a server's start, so a bad
  // or unreachable Redis is reported at once. Throws as described above.
  void Check();

  // Sends `commands` in one pipeline on one connection; the replies in order. An EVALSHA of a
  // script Redis does not know (NOSCRIPT) is loaded and sent again. Throws kUnavailable when
  // the connection fails (then none of the replies is known).
  std::vector<RedisReply> Pipeline(const std::vector<RedisCommand>& commands);
  // One command; an error reply throws kInternal naming it.
  RedisReply Command(const RedisCommand& command);
  // EVALSHA of `script` with `keys` and `args`, as a command for Pipeline.
  RedisCommand Eval(const RedisScript& script, const std::vector<std::string>& keys,
                    const std::vector<std::string>& args);

  // False (with the last failure in `reason`, may be null) after a call failed to reach Redis
  // and no call has succeeded since; at most every backoff it tries a PING to find out.
  bool healthy(std::string* reason = nullptr);

  const RedisUrl& url() const { return url_; }
  std::string Describe() const { return url_.Redacted(); }

 private:
  struct Conn;
  std::unique_ptr<Conn> Take() EXCLUDES(mu_);
  void Give(std::unique_ptr<Conn> c) EXCLUDES(mu_);
  std::unique_ptr<Conn> Connect();
  void MarkDown(const std::string& why) EXCLUDES(mu_);
  std::string Sha(const RedisScript& script) EXCLUDES(mu_);
  std::vector<RedisReply> RunPipeline(Conn& c, const std::vector<RedisCommand>& commands);

  const RedisUrl url_;
  const std::string what_;
  const size_t max_idle_;
  const std::chrono::milliseconds backoff_{200};
  Mutex mu_;
  std::vector<std::unique_ptr<Conn>> idle_ GUARDED_BY(mu_);
  std::string down_reason_ GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point down_until_ GUARDED_BY(mu_);
  std::atomic<bool> down_{false};
  std::vector<std::pair<const RedisScript*, std::string>> shas_ GUARDED_BY(mu_);
};

}  // namespace marquee

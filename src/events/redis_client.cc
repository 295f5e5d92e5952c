#include "events/redis_client.h"

#if MARQUEE_HAVE_HIREDIS
#include <hiredis/hiredis.h>
#endif

#include <sys/time.h>

#include <cstdlib>
#include <utility>

#include "common/text.h"
#include "marquee/error.h"

namespace marquee {
namespace {

[[noreturn]] void BadRedisUrl(std::string_view url, std::string_view why) {
  // The password (between "://:" or "://user:" and '@') is never echoed.
  std::string shown(url);
  const size_t scheme = shown.find("://");
  const size_t at = shown.find('@');
  if (scheme != std::string::npos && at != std::string::npos && at > scheme) {
    shown = shown.substr(0, scheme + 3) + "***" + shown.substr(at);
  }
  Fail(ErrorCode::kInvalidArgument,
       "state URL '{}': {} (expected redis://host:port/db, e.g. redis://127.0.0.1:6379/0)",
       QuoteForMessage(shown, 200), why);
}

bool ParseInt(std::string_view text, long lo, long hi, long* out) {
  if (text.empty() || text.size() > 12) return false;
  const std::string s(text);
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (*end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

}  // namespace

std::string RedisUrl::Redacted() const {
  std::string out = "redis://";
  if (!password.empty()) out += ":***@";
  out += host + ":" + std::to_string(port) + "/" + std::to_string(db);
  std::string q;
  if (relaxed) q += "durability=relaxed";
  if (history > 0) q += (q.empty() ? "" : "&") + std::string("history=") + std::to_string(history);
  return q.empty() ? out : out + "?" + q;
}

RedisUrl ParseRedisUrl(std::string_view url) {
  if (url.substr(0, 8) != "redis://") BadRedisUrl(url, "not a redis:// URL");
  RedisUrl r;
  std::string_view rest = url.substr(8);
  std::string_view query;
  if (const size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string_view path;
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  if (const size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    const size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) BadRedisUrl(url, "a user without ':password'");
    if (colon != 0) BadRedisUrl(url, "Redis 5 takes a password only (redis://:password@host)");
    r.password = std::string(userinfo.substr(colon + 1));
    rest = rest.substr(at + 1);
  }
  const size_t colon = rest.rfind(':');
  r.host = std::string(rest.substr(0, colon));
  if (r.host.empty()) BadRedisUrl(url, "no host");
  if (colon != std::string_view::npos) {
    long port = 0;
    if (!ParseInt(rest.substr(colon + 1), 1, 65535, &port)) {
      BadRedisUrl(url, "the port is not a number from 1 to 65535");
    }
    r.port = static_cast<int>(port);
  }
  if (!path.empty()) {
    long db = 0;
    if (!ParseInt(path, 0, 15, &db)) BadRedisUrl(url, "the database is not a number from 0 to 15");
    r.db = static_cast<int>(db);
  }
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view kv = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = kv.find('=');
    const std::string_view key = kv.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? "" : kv.substr(eq + 1);
    if (key == "durability") {
      if (value != "strict" && value != "relaxed") {
        BadRedisUrl(url, "durability must be strict or relaxed");
      }
      r.relaxed = value == "relaxed";
    } else if (key == "history") {
      long n = 0;
      if (!ParseInt(value, 0, 100000000, &n)) {
        BadRedisUrl(url, "history must be a number of events per member (0: all)");
      }
      r.history = static_cast<size_t>(n);
    } else {
      BadRedisUrl(url, "unknown parameter '" + std::string(key) +
                           "' (known: durability=strict|relaxed, history=N)");
    }
  }
  return r;
}

std::string StateBackend::Describe() const {
  return kind == Kind::kRedis ? redis.Redacted() : std::string("rocksdb (the home)");
}

bool RedisSupported() { return MARQUEE_HAVE_HIREDIS != 0; }

StateBackend ParseStateUrl(std::string_view url) {
  StateBackend b;
  if (url.empty() || url.substr(0, 10) == "rocksdb://") return b;
  if (url.substr(0, 8) == "redis://") {
    b.kind = StateBackend::Kind::kRedis;
    b.redis = ParseRedisUrl(url);
    if (!RedisSupported()) {
      Fail(ErrorCode::kUnimplemented,
           "state = '{}': this marquee was built without Redis support (install libhiredis-dev, "
           "scripts/setup, and rebuild)",
           b.redis.Redacted());
    }
    return b;
  }
  Fail(ErrorCode::kInvalidArgument,
       "state = '{}': unknown scheme (expected rocksdb:// or redis://host:port/db)",
       QuoteForMessage(url.substr(0, url.find('@')), 200));
}

#if MARQUEE_HAVE_HIREDIS

struct RedisPool::Conn {
  redisContext* c = nullptr;
  ~Conn() {
    if (c != nullptr) redisFree(c);
  }
};

namespace {

// An error reply that says the server cannot serve now rather than that the command is wrong:
// a restarted Redis replaying its AOF (LOADING), a script past its time limit (BUSY), a replica
// cut off from its primary (MASTERDOWN), a cluster slot moving or down (TRYAGAIN, CLUSTERDOWN).
// These are kUnavailable like a refused connection, so callers degrade as they do when Redis is
// down (a recommendation without the recent history, a write answered 503) instead of failing.
bool NotServing(const RedisReply& r) {
  if (!r.is_error()) return false;
  for (std::string_view prefix : {"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN"}) {
    if (r.str.starts_with(prefix)) return true;
  }
  return false;
}

RedisReply Convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(Convert(r->element[i]));
      break;
    default:
      out.type = RedisReply::Type::kNil;
  }
  return out;
}

timeval Tv(std::chrono::milliseconds ms) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

// Sends and reads `commands` on `c`; false (with `why`) when the connection failed.
bool Roundtrip(redisContext* c, const std::vector<RedisCommand>& commands,
               std::vector<RedisReply>& out, std::string& why) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const RedisCommand& cmd : commands) {
    argv.clear();
    lens.clear();
    for (const std::string& a : cmd) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()) !=
        REDIS_OK) {
      why = c->errstr;
      return false;
    }
  }
  out.clear();
  out.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(c, &raw) != REDIS_OK || raw == nullptr) {
      why = c->err != 0 ? std::string(c->errstr) : std::string("no reply");
      return false;
    }
    out.push_back(Convert(static_cast<redisReply*>(raw)));
    freeReplyObject(raw);
  }
  return true;
}

}  // namespace

RedisPool::RedisPool(RedisUrl url, std::string what, size_t max_idle)
    : url_(std::move(url)), what_(std::move(what)), max_idle_(max_idle) {}

RedisPool::~RedisPool() = default;

std::unique_ptr<RedisPool::Conn> RedisPool::Connect() {
  auto conn = std::make_unique<Conn>();
  conn->c = redisConnectWithTimeout(url_.host.c_str(), url_.port, Tv(std::chrono::seconds(2)));
  if (conn->c == nullptr || conn->c->err != 0) {
    const std::string why = conn->c == nullptr ? "out of memory" : conn->c->errstr;
    MarkDown(why);
    Fail(ErrorCode::kUnavailable, "{}: Redis at {} unreachable: {}", what_, url_.Redacted(), why);
  }
  redisSetTimeout(conn->c, Tv(std::chrono::seconds(10)));
  redisEnableKeepAlive(conn->c);
  std::vector<RedisCommand> setup;
  if (!url_.password.empty()) setup.push_back({"AUTH", url_.password});
  setup.push_back({"SELECT", std::to_string(url_.db)});
  if (!url_.relaxed) {
    setup.push_back({"CONFIG", "GET", "appendonly"});
    setup.push_back({"CONFIG", "GET", "appendfsync"});
  }
  std::vector<RedisReply> r;
  std::string why;
  if (!Roundtrip(conn->c, setup, r, why)) {
    MarkDown(why);
    Fail(ErrorCode::kUnavailable, "{}: Redis at {}: {}", what_, url_.Redacted(), why);
  }
  for (size_t i = 0; i < r.size(); ++i) {
    if (NotServing(r[i])) {
      MarkDown(r[i].str);
      Fail(ErrorCode::kUnavailable, "{}: Redis at {} is not serving: {}", what_, url_.Redacted(),
           r[i].str);
    }
    if (r[i].is_error()) {
      Fail(ErrorCode::kFailedPrecondition, "{}: Redis at {} refused {}: {}{}", what_,
           url_.Redacted(), setup[i][0], r[i].str,
           setup[i][0] == "CONFIG"
               ? " (the durability check needs CONFIG GET; where it is disabled, check "
                 "appendfsync yourself and add ?durability=relaxed to the state URL)"
               : "");
    }
  }
  if (!url_.relaxed) {
    auto value = [&](size_t i) {
      const RedisReply& a = r[r.size() - 2 + i];
      return a.elements.size() == 2 ? a.elements[1].str : std::string("?");
    };
    const std::string appendonly = value(0), appendfsync = value(1);
    if (appendonly != "yes" || appendfsync != "always") {
      Fail(ErrorCode::kFailedPrecondition,
           "{}: Redis at {} can lose acknowledged writes (appendonly {}, appendfsync {}): run it "
           "with --appendonly yes --appendfsync always, or accept the loss with "
           "?durability=relaxed in the state URL (docs/formats/state-redis.md)",
           what_, url_.Redacted(), appendonly, appendfsync);
    }
  }
  down_ = false;
  return conn;
}

void RedisPool::MarkDown(const std::string& why) {
  MutexLock l(&mu_);
  down_reason_ = why;
  down_until_ = std::chrono::steady_clock::now() + backoff_;
  down_ = true;
  idle_.clear();  // every other connection to the dead server is dead too
}

std::unique_ptr<RedisPool::Conn> RedisPool::Take() {
  {
    MutexLock l(&mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
    if (down_ && std::chrono::steady_clock::now() < down_until_) {
      Fail(ErrorCode::kUnavailable, "{}: Redis at {} unreachable: {}", what_, url_.Redacted(),
           down_reason_);
    }
  }
  return Connect();
}

void RedisPool::Give(std::unique_ptr<Conn> c) {
  MutexLock l(&mu_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(c));
}

void RedisPool::Check() { Command({"PING"}); }

std::string RedisPool::Sha(const RedisScript& script) {
  {
    MutexLock l(&mu_);
    for (const auto& [s, sha] : shas_) {
      if (s == &script) return sha;
    }
  }
  const RedisReply r = Command({"SCRIPT", "LOAD", script.source});
  MutexLock l(&mu_);
  shas_.emplace_back(&script, r.str);
  return r.str;
}

RedisCommand RedisPool::Eval(const RedisScript& script, const std::vector<std::string>& keys,
                             const std::vector<std::string>& args) {
  RedisCommand cmd;
  cmd.reserve(3 + keys.size() + args.size());
  cmd.push_back("EVALSHA");
  cmd.push_back(Sha(script));
  cmd.push_back(std::to_string(keys.size()));
  cmd.insert(cmd.end(), keys.begin(), keys.end());
  cmd.insert(cmd.end(), args.begin(), args.end());
  return cmd;
}

std::vector<RedisReply> RedisPool::RunPipeline(Conn& c, const std::vector<RedisCommand>& commands) {
  std::vector<RedisReply> out;
  std::string why;
  if (!Roundtrip(c.c, commands, out, why)) {
    MarkDown(why);
    Fail(ErrorCode::kUnavailable, "{}: Redis at {}: {}", what_, url_.Redacted(), why);
  }
  for (const RedisReply& r : out) {
    if (NotServing(r)) {
      MarkDown(r.str);
      Fail(ErrorCode::kUnavailable, "{}: Redis at {} is not serving: {}", what_, url_.Redacted(),
           r.str);
    }
  }
  return out;
}

std::vector<RedisReply> RedisPool::Pipeline(const std::vector<RedisCommand>& commands) {
  if (commands.empty()) return {};
  std::unique_ptr<Conn> c = Take();
  std::vector<RedisReply> out = RunPipeline(*c, commands);
  // A Redis restarted since SCRIPT LOAD has forgotten the scripts: load them again and resend
  // the commands that did not run (NOSCRIPT means the script never started).
  std::vector<size_t> again;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].is_error() && out[i].str.starts_with("NOSCRIPT")) again.push_back(i);
  }
  if (!again.empty()) {
    // A SHA-1 depends on the source only, so the resent EVALSHAs stay valid once loaded.
    std::vector<RedisCommand> loads;
    {
      MutexLock l(&mu_);
      for (const auto& [script, sha] : shas_) loads.push_back({"SCRIPT", "LOAD", script->source});
    }
    RunPipeline(*c, loads);
    std::vector<RedisCommand> retry;
    for (size_t i : again) retry.push_back(commands[i]);
    const std::vector<RedisReply> redo = RunPipeline(*c, retry);
    for (size_t k = 0; k < again.size(); ++k) out[again[k]] = redo[k];
  }
  Give(std::move(c));
  return out;
}

RedisReply RedisPool::Command(const RedisCommand& command) {
  std::vector<RedisReply> r = Pipeline({command});
  if (r[0].is_error()) {
    Fail(ErrorCode::kInternal, "{}: Redis {}: {}", what_, command.empty() ? "" : command[0],
         r[0].str);
  }
  return std::move(r[0]);
}

bool RedisPool::healthy(std::string* reason) {
  if (!down_) return true;
  {
    MutexLock l(&mu_);
    if (std::chrono::steady_clock::now() < down_until_) {
      if (reason != nullptr)
        *reason = what_ + ": Redis at " + url_.Redacted() + ": " + down_reason_;
      return false;
    }
  }
  try {
    Command({"PING"});
    return true;
  } catch (const Error& e) {
    if (reason != nullptr) *reason = e.what();
    return false;
  }
}

#else  // !MARQUEE_HAVE_HIREDIS

struct RedisPool::Conn {};

RedisPool::RedisPool(RedisUrl url, std::string what, size_t max_idle)
    : url_(std::move(url)), what_(std::move(what)), max_idle_(max_idle) {
  Fail(ErrorCode::kUnimplemented, "{}: this marquee was built without Redis support", what_);
}
RedisPool::~RedisPool() = default;
void RedisPool::Check() {}
std::vector<RedisReply> RedisPool::Pipeline(const std::vector<RedisCommand>&) { return {}; }
RedisReply RedisPool::Command(const RedisCommand&) { return {}; }
RedisCommand RedisPool::Eval(const RedisScript&, const std::vector<std::string>&,
                             const std::vector<std::string>&) {
  return {};
}
bool RedisPool::healthy(std::string*) { return false; }

#endif  // MARQUEE_HAVE_HIREDIS

}  // namespace marquee

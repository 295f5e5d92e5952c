// A real Redis for the online-state tests: one redis-server per test process, started on first
// use on a free loopback port with a durable configuration (--appendonly yes --appendfsync
// always, its AOF in a temporary directory, no RDB snapshots), stopped at exit by the pid this
// process started. Tests call Flush() for an empty database. Where redis-server or hiredis is
// missing, Get() is nullptr and WhyNot() says why (the tests skip with that message).
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "events/redis_client.h"
#include "test_util.h"

// Skips the test, saying why, where no Redis can run here.
#define MARQUEE_SKIP_WITHOUT_REDIS(server)                                     \
  if ((server) == nullptr) {                                                   \
    GTEST_SKIP() << "no Redis: " << ::marquee::testing::RedisServer::WhyNot(); \
  }

namespace marquee::testing {

class RedisServer {
 public:
  // The server of this process, started on first call; nullptr when it cannot run here.
  static RedisServer* Get() {
    static std::unique_ptr<RedisServer> server = [] {
      auto s = std::unique_ptr<RedisServer>(new RedisServer());
      if (!s->Init()) {
        WhyNotText() = s->why_;
        s.reset();
      }
      return s;
    }();
    return server.get();
  }
  static const std::string& WhyNot() { return WhyNotText(); }
  // The server with every database emptied (a fresh start for a test), or nullptr.
  static RedisServer* Fresh() {
    RedisServer* r = Get();
    if (r != nullptr) r->Flush();
    return r;
  }

  ~RedisServer() {
    Kill(SIGTERM);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  // The state URL of database `db` (extra query parameters appended).
  std::string Url(int db = 0, const std::string& query = "") const {
    return fmt::format("redis://127.0.0.1:{}/{}{}", port_, db, query.empty() ? "" : "?" + query);
  }
  RedisUrl ParsedUrl(int db = 0, const std::string& query = "") const {
    return ParseRedisUrl(Url(db, query));
  }

  // Empties every database (a fresh start for a test).
  void Flush() { Command({"FLUSHALL"}); }
  // One command on the server (relaxed: no durability check), for tests that poke it; tried
  // again on a new connection when the pool's dates from before a restart.
  RedisReply Command(const RedisCommand& cmd) {
    for (int attempt = 0;; ++attempt) {
      try {
        return Pool().Command(cmd);
      } catch (const std::exception&) {
        pool_.reset();
        if (attempt == 3) throw;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
      }
    }
  }
  // Turns the append-only file back on (CONFIG SET appendonly yes) and waits until its rewrite
  // is over: until then Redis does not log writes durably.
  void AppendOnlyOn() {
    Command({"CONFIG", "SET", "appendonly", "yes"});
    for (int i = 0; i < 200; ++i) {
      const std::string info = Command({"INFO", "persistence"}).str;
      if (info.find("aof_rewrite_in_progress:0") != std::string::npos &&
          info.find("aof_rewrite_scheduled:0") != std::string::npos) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  }

  // Stops the server with `sig` (SIGKILL: a crash) and waits until it is gone.
  void Kill(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = 0;
  }
  // Starts it again on the same port and directory (its AOF replayed), with `extra` arguments;
  // true once it answers PING.
  bool Start(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"redis-server",
                                     "--port",
                                     std::to_string(port_),
                                     "--bind",
                                     "127.0.0.1",
                                     "--dir",
                                     dir_,
                                     "--appendonly",
                                     "yes",
                                     "--appendfsync",
                                     "always",
                                     "--save",
                                     "",
                                     "--daemonize",
                                     "no",
                                     "--logfile",
                                     dir_ + "/log",
                                     "--protected-mode",
                                     "no"};
    args.insert(args.end(), extra.begin(), extra.end());
    const pid_t pid = ::fork();
    if (pid < 0) return false;
    if (pid == 0) {
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execvp("redis-server", argv.data());
      ::_exit(127);
    }
    pid_ = pid;
    for (int i = 0; i < 200; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = 0;
        why_ = "redis-server exited at start; see " + dir_ + "/log";
        return false;
      }
      try {
        RedisPool pool(ParsedUrl(0, "durability=relaxed"), "test");
        pool.Command({"PING"});
        return true;
      } catch (const std::exception&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
      }
    }
    why_ = "redis-server did not answer PING within 5 s";
    return false;
  }

 private:
  RedisServer() = default;

  static std::string& WhyNotText() {
    static std::string why;
    return why;
  }

  RedisPool& Pool() {
    if (!pool_) pool_ = std::make_unique<RedisPool>(ParsedUrl(0, "durability=relaxed"), "test");
    return *pool_;
  }

  bool Init() {
    if (!RedisSupported()) {
      why_ = "this build has no Redis support (libhiredis-dev not found; scripts/setup)";
      return false;
    }
    if (std::system("command -v redis-server >/dev/null 2>&1") != 0) {
      why_ = "redis-server is not installed (scripts/setup installs redis-server)";
      return false;
    }
    char tmpl[] = "/tmp/marquee-redis-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      why_ = "mkdtemp failed";
      return false;
    }
    dir_ = tmpl;
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = FreePort();
      if (port_ > 0 && Start()) return true;
    }
    if (why_.empty()) why_ = "redis-server did not start";
    return false;
  }

  std::string why_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = 0;
  std::unique_ptr<RedisPool> pool_;
};

}  // namespace marquee::testing

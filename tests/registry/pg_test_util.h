// A real PostgreSQL for the registry tests: one server per test process, started on first use
// on a free loopback port from a data directory under a temporary directory (initdb runs once
// per machine and PostgreSQL version into a cached template directory, which each process
// copies: initdb takes seconds), and stopped at exit by the postmaster pid it started. A fresh
// database per test (CREATE DATABASE). PostgreSQL refuses to run as root, so as root initdb and
// pg_ctl run as the `postgres` user (runuser). Where PostgreSQL, its `postgres` user or libpqxx
// is missing, Get() is nullptr and WhyNot() says why (the tests skip with that message).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "registry/pg_store.h"
#include "test_util.h"

namespace marquee::testing {

class PostgresServer {
 public:
  // The server of this process, started on first call; nullptr when it cannot run here.
  static PostgresServer* Get() {
    static std::unique_ptr<PostgresServer> server = [] {
      auto s = std::unique_ptr<PostgresServer>(new PostgresServer());
      if (!s->Init()) {
        WhyNotText() = s->why_;
        s.reset();
      }
      return s;
    }();
    return server.get();
  }
  static const std::string& WhyNot() { return WhyNotText(); }

  ~PostgresServer() {
    Stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  int port() const { return port_; }
  std::string bin() const { return bin_; }

  // A URL to a new, empty database.
  std::string CreateDatabase() {
    const std::string name = fmt::format("t{}_{}", getpid(), ++databases_);
    Sql("CREATE DATABASE " + name + " TEMPLATE template0");
    return Url(name);
  }
  std::string Url(const std::string& db) const {
    return fmt::format("postgresql://postgres@127.0.0.1:{}/{}", port_, db);
  }

  // Runs SQL on database `db` through psql; true on success.
  bool Sql(const std::string& sql, const std::string& db = "postgres") {
    const std::string cmd = fmt::format(
        "{}/psql -X -q -h 127.0.0.1 -p {} -U postgres -d {} -v ON_ERROR_STOP=1 -c \"{}\" "
        ">/dev/null 2>&1",
        bin_, port_, db, sql);
    return std::system(cmd.c_str()) == 0;
  }

  // Fast shutdown (SIGINT to the postmaster this process started), waiting until it is gone.
  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGINT);
    for (int i = 0; i < 600 && ::kill(pid_, 0) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    pid_ = 0;
  }

  // Starts the server again (same data, same port); true when it accepts connections.
  bool Start() {
    const std::string cmd = AsPostgres(fmt::format(
        "{}/pg_ctl -D {}/data -l {}/log -w -t 60 -o \"-p {} -k {} -c listen_addresses=127.0.0.1 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200\" "
        "start >/dev/null 2>&1",
        bin_, dir_, dir_, port_, dir_));
    if (std::system(cmd.c_str()) != 0) {
      why_ = "pg_ctl start failed; see " + dir_ + "/log";
      return false;
    }
    FILE* f = std::fopen((dir_ + "/data/postmaster.pid").c_str(), "r");
    if (f == nullptr) return false;
    long pid = 0;
    const int got = std::fscanf(f, "%ld", &pid);
    std::fclose(f);
    pid_ = got == 1 ? static_cast<pid_t>(pid) : 0;
    return pid_ > 0;
  }

 private:
  PostgresServer() = default;

  static std::string& WhyNotText() {
    static std::string why;
    return why;
  }

  std::string AsPostgres(const std::string& cmd) const {
    return geteuid() == 0 ? "runuser -u postgres -- " + cmd : cmd;
  }

  bool Init() {
    if (!PgStoreAvailable()) {
      why_ = "this build has no PostgreSQL support (libpqxx-dev not found; scripts/setup)";
      return false;
    }
    // The newest installed server.
    std::string newest;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
      if (std::filesystem::exists(e.path() / "bin/initdb")) {
        newest = std::max(newest, e.path().string());
      }
    }
    if (newest.empty()) {
      why_ = "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb; scripts/setup)";
      return false;
    }
    bin_ = newest + "/bin";
    struct passwd* pw = getpwnam("postgres");
    if (geteuid() == 0 && pw == nullptr) {
      why_ = "running as root without a `postgres` user to run PostgreSQL as";
      return false;
    }
    // The cached template data directory, made once under a lock.
    const std::string version = std::filesystem::path(newest).filename().string();
    const std::string cache = fmt::format("/tmp/marquee-test-pg{}-{}", version, geteuid());
    {
      const int lock = ::open((cache + ".lock").c_str(), O_CREAT | O_RDWR, 0600);
      if (lock >= 0) ::flock(lock, LOCK_EX);
      if (!std::filesystem::exists(cache + "/data/PG_VERSION")) {
        std::filesystem::remove_all(cache, ec);
        std::filesystem::create_directories(cache);
        if (pw != nullptr && geteuid() == 0) (void)::chown(cache.c_str(), pw->pw_uid, pw->pw_gid);
        const std::string cmd = AsPostgres(
            fmt::format("{}/initdb -D {}/data.tmp -U postgres --auth=trust -E UTF8 --locale=C -N "
                        ">{}/initdb.log 2>&1 && mv {}/data.tmp {}/data",
                        bin_, cache, cache, cache, cache));
        const int rc = std::system(cmd.c_str());
        if (rc != 0) why_ = "initdb failed; see " + cache + "/initdb.log";
      }
      if (lock >= 0) ::close(lock);
      if (!why_.empty()) return false;
    }
    char tmpl[] = "/tmp/marquee-pg-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      why_ = "mkdtemp failed";
      return false;
    }
    dir_ = tmpl;
    if (pw != nullptr && geteuid() == 0) (void)::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid);
    const std::string copy = AsPostgres(fmt::format("cp -a {}/data {}/data", cache, dir_));
    if (std::system(copy.c_str()) != 0) {
      why_ = "could not copy the PostgreSQL template data directory " + cache;
      return false;
    }
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = FreePort();
      if (port_ > 0 && Start()) return true;
    }
    if (why_.empty()) why_ = "PostgreSQL did not start";
    return false;
  }

  std::string why_;
  std::string bin_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = 0;
  int databases_ = 0;
};

// Skips the current test with the reason when there is no PostgreSQL here; else the server.
#define MARQUEE_REQUIRE_POSTGRES(server)                                                  \
  ::marquee::testing::PostgresServer* server = ::marquee::testing::PostgresServer::Get(); \
  if (server == nullptr)                                                                  \
  GTEST_SKIP() << "no PostgreSQL: " << ::marquee::testing::PostgresServer::WhyNot()

}  // namespace marquee::testing

// `marquee serve` start-up checks (issue #12), on the real binary: a --model reference that
// does not resolve stops the start with one readable line and its ErrorCode's exit status
// (instead of answering 503 forever), unless it is marked optional ("REF?"); a second server on
// the same home exits at once naming the first one's pid (instead of RocksDB's "While lock
// file: .../LOCK: Resource temporarily unavailable").
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "../registry/registry_test_util.h"
#include "events/event_log.h"
#include "marquee/error.h"
#include "pipeline/train.h"
#include "registry/registry.h"
#include "serving_test_util.h"

namespace marquee {
namespace {

using marquee::testing::HttpClient;

// Waits up to `seconds` for the child to exit; kills it and returns -1000 when it did not.
int WaitExit(pid_t pid, int seconds) {
  for (int i = 0; i < seconds * 20; ++i) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return WIFSIGNALED(status) ? -WTERMSIG(status) : -1000;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid, SIGKILL);
  marquee::testing::WaitChild(pid);
  return -1000;
}

// The lines of `text` that are not empty.
std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

struct Server {
  pid_t pid = -1;
  uint16_t port = 0;
  std::string log;
};

Server Start(const marquee::testing::TempDir& dir, const std::string& home, const std::string& name,
             std::vector<std::string> extra) {
  Server s;
  s.log = dir.file(name + ".log");
  const std::string port_file = dir.file(name + ".port");
  std::vector<std::string> args = {"--home", home, "-q",          "serve",
                                   "--port", "0",  "--port-file", port_file};
  args.insert(args.end(), extra.begin(), extra.end());
  s.pid = marquee::testing::SpawnCli(args, s.log);
  if (s.pid > 0) s.port = marquee::testing::WaitForPort(port_file, s.pid);
  return s;
}

TEST(ServeStartup, ModelThatDoesNotResolveFailsTheStartInOneLine) {
  marquee::testing::TempDir dir;
  const std::string home = dir.file("home");
  marquee::testing::RegisterModel(home, "recs");  // recs/1, no alias
  const std::string log = dir.file("serve.log");
  pid_t pid = marquee::testing::SpawnCli({"--home", home, "-q", "serve", "--port", "0", "--model",
                                          "recs/1", "--model", "recs@production"},
                                         log);
  ASSERT_GT(pid, 0);
  const int code = WaitExit(pid, 20);
  const std::string out = marquee::testing::Slurp(log);
  ASSERT_NE(code, -1000) << "the server kept running with an unresolvable --model: " << out;
  EXPECT_EQ(code, ExitCodeFor(ErrorCode::kNotFound)) << out;
  const std::vector<std::string> lines = Lines(out);
  ASSERT_EQ(lines.size(), 1u) << out;
  EXPECT_EQ(lines[0].rfind("marquee: error: --model recs@production: ", 0), 0u) << out;
  EXPECT_NE(lines[0].find("--model 'recs@production?'"), std::string::npos) << out;

  // A model that does not exist at all: the same, naming it.
  pid = marquee::testing::SpawnCli(
      {"--home", home, "-q", "serve", "--port", "0", "--model", "no-such-model"}, log);
  EXPECT_EQ(WaitExit(pid, 20), ExitCodeFor(ErrorCode::kNotFound)) << marquee::testing::Slurp(log);
  EXPECT_NE(marquee::testing::Slurp(log).find("no-such-model"), std::string::npos);
}

TEST(ServeStartup, OptionalModelAnswers503UntilPromotedAndDoesNotHoldReadiness) {
  marquee::testing::TempDir dir;
  const std::string home = dir.file("home");
  marquee::testing::RegisterModel(home, "recs");
  Server s = Start(dir, home, "serve",
                   {"--model", "recs/1", "--model", "recs@production?", "--poll-interval", "0.1"});
  ASSERT_GT(s.port, 0) << marquee::testing::Slurp(s.log);
  HttpClient c(s.port);
  int ready = 0;
  for (int i = 0; i < 400 && ready != 200; ++i) {
    ready = c.Get("/readyz").status;
    if (ready != 200) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(ready, 200) << "the optional model held /readyz back";
  const nlohmann::json rec = {{"model", "recs@production"}, {"history", {"i1"}}, {"k", 3}};
  EXPECT_EQ(c.Post("/v1/recommend", rec).status, 503);
  OpenRegistry(home).Promote("recs/1", "production", {});
  int status = 0;
  for (int i = 0; i < 400 && status != 200; ++i) {
    status = c.Post("/v1/recommend", rec).status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(status, 200) << marquee::testing::Slurp(s.log);
  ::kill(s.pid, SIGTERM);
  EXPECT_EQ(marquee::testing::WaitChild(s.pid), 0) << marquee::testing::Slurp(s.log);
}

TEST(ServeStartup, SecondServerOnTheSameHomeNamesTheFirstOnesPid) {
  marquee::testing::TempDir dir;
  const std::string home = dir.file("home");
  marquee::testing::RegisterModel(home, "recs");
  Server first = Start(dir, home, "first", {"--model", "recs/1"});
  ASSERT_GT(first.port, 0) << marquee::testing::Slurp(first.log);

  const std::string log = dir.file("second.log");
  pid_t pid = marquee::testing::SpawnCli(
      {"--home", home, "-q", "serve", "--port", "0", "--model", "recs/1"}, log);
  int code = WaitExit(pid, 20);
  std::string out = marquee::testing::Slurp(log);
  EXPECT_EQ(code, ExitCodeFor(ErrorCode::kUnavailable)) << out;
  EXPECT_EQ(Lines(out), std::vector<std::string>{"marquee: error: the home " + home +
                                                 " is in use by marquee serve (pid " +
                                                 std::to_string(first.pid) +
                                                 "); stop it or use another --home"})
      << out;

  // Without the pid file (removed by hand): still one readable line, no RocksDB lock text.
  std::filesystem::remove(home + "/serving/serve.pid");
  pid = marquee::testing::SpawnCli({"--home", home, "-q", "serve", "--port", "0"}, log);
  EXPECT_EQ(WaitExit(pid, 20), ExitCodeFor(ErrorCode::kUnavailable));
  out = marquee::testing::Slurp(log);
  ASSERT_EQ(Lines(out).size(), 1u) << out;
  EXPECT_NE(out.find("is in use by another marquee serve"), std::string::npos) << out;
  EXPECT_EQ(out.find("LOCK"), std::string::npos) << out;

  // kill -9 leaves a stale pid file; the lock goes with the process, so a new server starts.
  ::kill(first.pid, SIGKILL);
  marquee::testing::WaitChild(first.pid);
  Server next = Start(dir, home, "next", {"--model", "recs/1"});
  ASSERT_GT(next.port, 0) << marquee::testing::Slurp(next.log);
  EXPECT_EQ(marquee::testing::Slurp(home + "/serving/serve.pid"), std::to_string(next.pid) + "\n");
  ::kill(next.pid, SIGTERM);
  EXPECT_EQ(marquee::testing::WaitChild(next.pid), 0) << marquee::testing::Slurp(next.log);
  EXPECT_FALSE(std::filesystem::exists(home + "/serving/serve.pid"));
}

// The event log held by a process that took no serve.lock (here: this test, through
// EventLog::Open): still one readable line naming the home, not RocksDB's lock text, and the
// server's own pid file is not mistaken for the holder.
TEST(ServeStartup, EventLogLockedByAnotherProcessIsOneReadableLine) {
  marquee::testing::TempDir dir;
  const std::string home = dir.file("home");
  marquee::testing::RegisterModel(home, "recs");
  auto held = EventLog::Open(home + "/events");
  const std::string log = dir.file("serve.log");
  pid_t pid = marquee::testing::SpawnCli(
      {"--home", home, "-q", "serve", "--port", "0", "--model", "recs/1"}, log);
  EXPECT_EQ(WaitExit(pid, 20), ExitCodeFor(ErrorCode::kUnavailable));
  const std::string out = marquee::testing::Slurp(log);
  std::vector<std::string> errors;
  for (const auto& line : Lines(out)) {
    if (line.rfind("marquee: error: ", 0) == 0) errors.push_back(line);
  }
  EXPECT_EQ(errors, std::vector<std::string>{"marquee: error: the home " + home +
                                             " is in use by another process (it holds " + home +
                                             "/events/LOCK); stop it or use another --home"})
      << out;
  EXPECT_EQ(out.find("(pid " + std::to_string(pid) + ")"), std::string::npos) << out;
}

}  // namespace
}  // namespace marquee

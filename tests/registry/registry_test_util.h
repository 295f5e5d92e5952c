// Helpers for the registry suites: expected errors, running the marquee binary, a tiny training
// set and config.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "marquee/error.h"
#include "test_util.h"

extern char** environ;

namespace marquee::testing {

// Expects `fn` to throw an Error with `code` whose message contains `needle`.
template <typename Fn>
void ExpectError(Fn fn, ErrorCode code, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

struct CliResult {
  int code;
  std::string out;  // stdout
  std::string err;  // stderr
};

inline std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

inline void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

// Writes `text` to `path` with write(2); returns 0, or -errno when creating or writing failed
// (e.g. -ENOSPC on a full disk).
inline int WriteTextChecked(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return -errno;
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int err = n < 0 ? -errno : 0;
  ::close(fd);
  return err;
}

// Runs `marquee --home HOME ARGS` through the shell; captures stdout and stderr.
inline CliResult RunCli(const std::string& args, const std::string& home) {
  TempDir tmp;
  std::string cmd = std::string(MARQUEE_BINARY) + " --home " + home + " " + args + " >" +
                    tmp.file("out") + " 2>" + tmp.file("err");
  int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, Slurp(tmp.file("out")),
          Slurp(tmp.file("err"))};
}

// Starts `marquee ARGS...` as a child process (no shell, so the pid is marquee's own), with
// stdout and stderr sent to `log`. Returns the pid.
inline pid_t SpawnCli(const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> all = {MARQUEE_BINARY};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

// Waits for a child; returns its exit status, or -signal when a signal ended it.
inline int WaitChild(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1000;
}

// Waits (up to 30 s) for a `marquee serve --port-file FILE` child to write its port; returns it,
// or 0 when the child exited or never wrote one.
inline uint16_t WaitForPort(const std::string& file, pid_t pid) {
  for (int i = 0; i < 600; ++i) {
    std::ifstream f(file);
    unsigned port = 0;
    if (f >> port && port > 0) return static_cast<uint16_t>(port);
    if (waitpid(pid, nullptr, WNOHANG) == pid) return 0;
    usleep(50 * 1000);
  }
  return 0;
}

// A small TSV with two taste groups so every family has something to learn.
inline std::string MakePlays(const TempDir& dir, const std::string& name = "plays.tsv",
                             int users = 60) {
  std::string path = dir.file(name);
  std::ofstream f(path);
  for (int u = 0; u < users; ++u) {
    int group = u % 2;
    for (int k = 0; k < 8; ++k) {
      int item = group * 10 + (u * 3 + k * 7) % 10;
      f << "u" << u << "\t"
        << "i" << item << "\t" << (k % 5) + 1 << "\t" << 1000 + k << "\n";
    }
  }
  return path;
}

// A config training `family` on plays.tsv beside it, named `model`.
inline std::string MakeConfig(const TempDir& dir, const std::string& file, const std::string& model,
                              const std::string& family = "ease", const std::string& extra = "") {
  std::string path = dir.file(file);
  WriteText(path, "[data]\ntrain = \"plays.tsv\"\n[split]\ntest_users = 10\n[model]\nfamily = \"" +
                      family + "\"\nname = \"" + model + "\"\n" + extra +
                      "[eval]\nmetrics = [\"recall@5\", \"ndcg@10\", \"mrr\"]\n");
  return path;
}

}  // namespace marquee::testing

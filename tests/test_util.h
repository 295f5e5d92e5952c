// Helpers shared by the GoogleTest suites.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "marquee/error.h"

namespace marquee::testing {

// Expects `fn` to throw a marquee::Error with `code` whose message contains `needle`.
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

// Path of a file under shared/data ($MARQUEE_SHARED_DATA overrides the configured folder), or
// "" when it is absent; callers GTEST_SKIP() with a message naming the file.
inline std::string SharedData(const std::string& relative) {
  const char* env = std::getenv("MARQUEE_SHARED_DATA");
  std::string base = env != nullptr ? env : MARQUEE_SHARED_DATA;
  std::string path = base + "/" + relative;
  return std::filesystem::exists(path) ? path : std::string();
}

#define MARQUEE_REQUIRE_SHARED(var, rel)                                                      \
  std::string var = ::marquee::testing::SharedData(rel);                                      \
  if (var.empty()) {                                                                          \
    GTEST_SKIP() << "shared data file '" << (rel) << "' is absent (set MARQUEE_SHARED_DATA)"; \
  }

// A loopback TCP port nothing listens on at the moment of the call (bound to port 0, read back,
// released), or 0 when no socket could be bound. Another process may take it before the caller
// does: callers that start a server on it retry with a new port when the start fails.
inline int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

// A fresh temporary directory, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("marquee-test-" + std::to_string(rd()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string path() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace marquee::testing

// Logging to stderr (stdout is reserved for results and --json output; progress lines:
// common/progress.h).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace marquee {

// Sets the stderr log level: "error", "warn", "info" (default), "debug".
void SetLogLevel(std::string_view level);

// Wall-clock stopwatch in seconds.
class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double Seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

}  // namespace marquee

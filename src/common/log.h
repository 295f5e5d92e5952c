// Logging and progress to stderr (stdout is reserved for results and --json output).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace marquee {

// Sets the stderr log level: "error", "warn", "info" (default), "debug".
void SetLogLevel(std::string_view level);

// Prints "stage: 42%" lines to stderr at most every `interval` and on completion. Thread-safe.
class ProgressPrinter {
 public:
  explicit ProgressPrinter(bool enabled, double interval_seconds = 1.0);
  void operator()(std::string_view stage, double fraction);

 private:
  bool enabled_;
  double interval_;
  std::string last_stage_;
  std::chrono::steady_clock::time_point last_;
};

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

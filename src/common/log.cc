#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <mutex>

namespace marquee {

void SetLogLevel(std::string_view level) {
  static std::once_flag once;
  std::call_once(once, [] {
    auto logger = spdlog::stderr_color_mt("marquee");
    logger->set_pattern("%^%l%$: %v");
    spdlog::set_default_logger(logger);
  });
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
}

ProgressPrinter::ProgressPrinter(bool enabled, double interval_seconds)
    : enabled_(enabled), interval_(interval_seconds), last_(std::chrono::steady_clock::now()) {}

void ProgressPrinter::operator()(std::string_view stage, double fraction) {
  if (!enabled_) return;
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  auto now = std::chrono::steady_clock::now();
  bool new_stage = stage != last_stage_;
  bool due = std::chrono::duration<double>(now - last_).count() >= interval_;
  if (!new_stage && !due && fraction < 1.0) return;
  last_stage_ = std::string(stage);
  last_ = now;
  std::fprintf(stderr, "  %.*s: %3.0f%%\n", static_cast<int>(stage.size()), stage.data(),
               fraction * 100.0);
}

}  // namespace marquee

#include "common/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace marquee {
namespace {

double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void WriteStderr(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

bool StderrIsTerminal() {
  if (::isatty(STDERR_FILENO) == 0) return false;
  const char* term = std::getenv("TERM");
  return term == nullptr || std::strcmp(term, "dumb") != 0;
}

// 950, 9.5k, 12k, 3.4M: three significant figures at most.
std::string FormatCount(double x) {
  if (!std::isfinite(x) || x < 0) return "?";
  if (x < 10) return fmt::format("{:.1f}", x);
  if (x < 1000) return fmt::format("{:.0f}", x);
  if (x < 10e3) return fmt::format("{:.1f}k", x / 1e3);
  if (x < 1e6) return fmt::format("{:.0f}k", x / 1e3);
  if (x < 10e6) return fmt::format("{:.1f}M", x / 1e6);
  if (x < 1e9) return fmt::format("{:.0f}M", x / 1e6);
  return fmt::format("{:.1f}G", x / 1e9);
}

}  // namespace

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 1e9) return "?";
  const auto s = static_cast<int64_t>(std::llround(seconds));
  if (s < 3600) return fmt::format("{}:{:02}", s / 60, s % 60);
  return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
}

Progress::Progress(std::string label, uint64_t total, std::string unit, Options options)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      options_(std::move(options)) {
  if (!options_.sink) options_.sink = WriteStderr;
  if (!options_.clock) options_.clock = SteadySeconds;
  tty_ = options_.tty < 0 ? StderrIsTerminal() : options_.tty > 0;
  start_ = options_.clock();
  last_draw_ = start_;
}

Progress::Progress(std::string label, uint64_t total, std::string unit)
    : Progress(std::move(label), total, std::move(unit), Options{}) {}

Progress::~Progress() { Finish(); }

void Progress::Tick(uint64_t n) {
  done_.fetch_add(n, std::memory_order_relaxed);
  MaybeDraw(false);
}

void Progress::Set(uint64_t done) {
  uint64_t cur = done_.load(std::memory_order_relaxed);
  while (done > cur && !done_.compare_exchange_weak(cur, done, std::memory_order_relaxed)) {
  }
  MaybeDraw(false);
}

void Progress::Finish() { MaybeDraw(true); }

std::string Progress::Line(uint64_t done, double elapsed_s, bool final) const {
  const double rate = elapsed_s > 0 ? static_cast<double>(done) / elapsed_s : NAN;
  const std::string unit = unit_.empty() ? "" : " " + unit_;
  if (final) {
    if (unit_.empty()) return fmt::format("{}: done in {}", label_, FormatDuration(elapsed_s));
    return fmt::format("{}: done, {}{} in {} ({}{}/s)", label_, done, unit,
                       FormatDuration(elapsed_s), FormatCount(rate), unit);
  }
  std::string line = label_ + ":";
  if (total_ > 0) {
    const double frac = std::min(1.0, static_cast<double>(done) / static_cast<double>(total_));
    line += fmt::format(" {:3.0f}%", frac * 100);
    if (!unit_.empty()) line += fmt::format(" ({}/{}{})", done, total_, unit);
    if (!unit_.empty()) line += fmt::format(", {}{}/s", FormatCount(rate), unit);
    line += fmt::format(", elapsed {}", FormatDuration(elapsed_s));
    const double eta = frac > 0 ? elapsed_s * (1 - frac) / frac : NAN;
    line += fmt::format(", ETA {}", FormatDuration(eta));
  } else {
    line += fmt::format(" {}{}", done, unit);
    if (!unit_.empty()) line += fmt::format(", {}{}/s", FormatCount(rate), unit);
    line += fmt::format(", elapsed {}", FormatDuration(elapsed_s));
  }
  return line;
}

void Progress::MaybeDraw(bool final) {
  if (!options_.enabled) return;
  if (final) {
    mu_.Lock();
  } else if (!mu_.TryLock()) {
    return;  // another thread is drawing: this tick shows up in the next line
  }
  try {
    Draw(final);
  } catch (...) {
    mu_.Unlock();  // a sink that throws
    throw;
  }
  mu_.Unlock();
}

void Progress::Draw(bool final) {
  if (finished_) return;
  const double now = options_.clock();
  if (!final) {
    const double interval = tty_ ? options_.redraw_interval_s : options_.line_interval_s;
    if (now - last_draw_ < interval) return;
  }
  const uint64_t done = done_.load(std::memory_order_relaxed);
  if (!final && total_ > 0 && done >= total_) return;  // complete: Finish prints the last line
  last_draw_ = now;
  const std::string line = Line(done, now - start_, final);
  if (final) finished_ = true;
  if (tty_) {
    options_.sink("\r" + line + "\x1b[K" + (final ? "\n" : ""));
  } else {
    options_.sink(line + "\n");
  }
}

std::function<void(std::string_view, double)> StageProgressCallback(Progress::Options options) {
  struct State {
    explicit State(Progress::Options o) : options(std::move(o)) {}
    Mutex mu;
    std::string stage GUARDED_BY(mu);
    std::unique_ptr<Progress> current GUARDED_BY(mu);
    const Progress::Options options;
  };
  auto state = std::make_shared<State>(std::move(options));
  return [state](std::string_view stage, double fraction) {
    MutexLock lock(&state->mu);
    if (!state->current || stage != state->stage) {
      state->current.reset();  // finishes the previous stage's line
      state->stage = std::string(stage);
      state->current = std::make_unique<Progress>(state->stage, 1000, "", state->options);
    }
    const double f = std::isfinite(fraction) ? std::clamp(fraction, 0.0, 1.0) : 0.0;
    state->current->Set(static_cast<uint64_t>(std::llround(f * 1000)));
    if (f >= 1.0) state->current->Finish();
  };
}

}  // namespace marquee

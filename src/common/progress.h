// Progress: the one progress indicator of long jobs (dataset import, train, bandit train,
// experiments analyze), written to stderr so stdout stays clean for results and --json.
//
// On a terminal it is one line, redrawn in place ("\r...\x1b[K") at most every 0.1 s, with the
// fraction done, the rate and the ETA. When stderr is not a terminal (a log file, CI) it prints
// a plain line at most every `line_interval_s` seconds (default 5 s), and always a final "done"
// line; nothing is redrawn, so logs stay readable. Disabled (-q), it prints nothing.
//
// Thread-safety: Tick/Set/Finish may be called from any number of threads at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/mutex.h"

namespace marquee {

class Progress {
 public:
  struct Options {
    bool enabled = true;  // false (-q): print nothing
    // Where lines go; default: stderr (flushed after each write).
    std::function<void(std::string_view)> sink;
    // Whether the sink is a terminal (redraw one line); default: isatty(stderr) and TERM is not
    // "dumb".
    int tty = -1;  // -1: detect, 0: no, 1: yes
    // Monotonic clock in seconds; default: std::chrono::steady_clock. Tests pass a fake.
    std::function<double()> clock;
    double line_interval_s = 5.0;    // not a terminal: seconds between plain lines
    double redraw_interval_s = 0.1;  // terminal: seconds between redraws
  };

  // `label` names the job ("import ml100k", "ials"). `total` is the amount of work in `unit`s
  // ("lines", "epochs"); 0 means unknown (no percentage or ETA). With an empty `unit` the
  // amounts are not shown, only the percentage (use total = 1000 and Set(fraction * 1000)).
  Progress(std::string label, uint64_t total, std::string unit, Options options);
  Progress(std::string label, uint64_t total, std::string unit = "");
  // Calls Finish().
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Adds `n` units done and redraws when due. Cheap when not due (one atomic add, one clock read).
  void Tick(uint64_t n = 1);
  // Sets the units done (never moves backwards).
  void Set(uint64_t done);
  // Prints the final line (total time and rate) once; later calls do nothing.
  void Finish();

  // The line drawn for `done` units after `elapsed_s` seconds (no "\r" or newline). Exposed for
  // tests.
  std::string Line(uint64_t done, double elapsed_s, bool final) const;

 private:
  void MaybeDraw(bool force_final) EXCLUDES(mu_);
  void Draw(bool final) REQUIRES(mu_);

  const std::string label_, unit_;
  const uint64_t total_;
  Options options_;
  bool tty_ = false;
  double start_ = 0;
  std::atomic<uint64_t> done_{0};
  Mutex mu_;  // guards the fields below and the sink
  double last_draw_ GUARDED_BY(mu_) = 0;
  bool finished_ GUARDED_BY(mu_) = false;
};

// A Context::progress callback (stage, fraction) that shows each stage with its own Progress:
// a new stage name finishes the previous one. Thread-safe. Options as above.
std::function<void(std::string_view stage, double fraction)> StageProgressCallback(
    Progress::Options options);

// "1:05" (m:ss) or "2:03:04" (h:mm:ss) for a duration in seconds; "?" when not finite.
std::string FormatDuration(double seconds);

}  // namespace marquee

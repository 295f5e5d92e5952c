// The cost of the dashboard's bandit views (GET /api/v1/bandits[/{name}]) on a large decision
// log: writes N decisions (default 1,000,000) of 4 policies, 10 offered actions each with a
// 6-feature context (the shape of a real /v1/decide), a reward joined to 30% of them (the rest
// get the default reward, so every decision has an outcome to look up), and then
// times, on a read-only open beside nothing else:
//   scan      DecisionLog::ForEach doing nothing (the reader `decisions export` uses: parse
//             every record, look up its outcome): the floor of any pass
//   list      SummarizeDecisions of every policy (GET /api/v1/bandits)
//   policy    one policy with hour buckets and its actions (GET /api/v1/bandits/{name})
// and the peak resident memory of each pass over the process's resident memory before it
// (VmHWM after resetting it through /proc/self/clear_refs), to show the pass is streamed.
//
//   bench_decision_stats [--decisions N] [--dir DIR]   (DIR: a scratch folder, removed after)
#include <fmt/format.h>

#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "bandits/decision_log.h"
#include "bandits/decision_stats.h"

namespace {

using namespace marquee;
using Clock = std::chrono::steady_clock;

// A field of /proc/self/status in KiB (VmRSS, VmHWM).
long StatusKib(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::strlen(field) + 1));
  }
  return -1;
}

// CPU seconds of the process (all threads): on a shared machine the wall time also counts
// waiting for a core, the CPU time does not.
double CpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

void ResetPeak() { std::ofstream("/proc/self/clear_refs") << "5"; }

void Write(const std::string& dir, int64_t n) {
  const int64_t t0 = 1796083200000;  // 2026-12-01T00:00:00Z, one decision every 2.6 s: 30 days
  const int64_t window = 31LL * 86400 * 1000;
  // The clock stays at t0 while writing (every reward is inside its decision's window, however
  // far the writer thread lags), then moves past every window for the sweeps.
  std::atomic<int64_t> now{t0};
  DecisionLogOptions o;
  o.sync = false;  // the benchmark times reading; the writer's fsyncs are measured elsewhere
  o.sweep_interval = std::chrono::milliseconds(0);
  o.reward_window_ms = window;
  o.now_ms = [&now] { return now.load(); };
  auto log = DecisionLog::Open(dir, o);
  std::mt19937_64 rng(7);
  const char* policies[] = {"artwork", "rows", "hero", "push"};
  for (int64_t i = 0; i < n; ++i) {
    const int64_t ts = t0 + i * 2600;
    Decision d;
    d.id = DecisionLog::NewId(ts);
    d.ts_ms = ts;
    d.model = policies[i % 4];
    d.version = 1 + (i * 3 / n);
    d.updates = static_cast<uint64_t>(i);
    d.user = fmt::format("user-{}", rng() % 100000);
    d.context = {{"country", "US"},
                 {"device", rng() % 2 ? "tv" : "phone"},
                 {"hour", static_cast<int>(rng() % 24)},
                 {"plan", "premium"},
                 {"tenure_days", static_cast<int>(rng() % 2000)},
                 {"genre", "drama"}};
    d.actions = nlohmann::json::array();
    for (int a = 0; a < 10; ++a) {
      d.actions.push_back(
          {{"id", fmt::format("img-{}", a)}, {"features", {{"faces", a % 3}, {"tone", "dark"}}}});
    }
    d.probabilities.assign(10, 0.1);
    d.chosen = static_cast<uint32_t>(rng() % 10);
    const std::string id = d.id;
    log->AppendAsync(std::move(d), [](std::exception_ptr) {});
    if (rng() % 10 < 3) log->RewardAsync(id, 1.0, [](std::exception_ptr, const Decision*) {});
    if ((i + 1) % 100000 == 0) std::fprintf(stderr, "  wrote %lld decisions\n", (long long)(i + 1));
  }
  // The rest get the default reward, as a server's sweeper gives them when their window closes
  // (a blocking sweep also waits for every write queued before it).
  now = t0 + n * 2600 + window + 1;
  while (log->Sweep() > 0) {
  }
}

template <typename Fn>
void Time(const char* what, int64_t n, Fn&& fn) {
  ResetPeak();
  const long before = StatusKib("VmRSS:");
  const auto start = Clock::now();
  const double cpu0 = CpuSeconds();
  const std::string result = fn();
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = CpuSeconds() - cpu0;
  const long peak = StatusKib("VmHWM:");
  std::printf("%-7s %7.2f s wall %7.2f s CPU  %8.0f decisions/CPU-s  peak RSS +%5.1f MiB  (%s)\n",
              what, s, cpu, static_cast<double>(n) / cpu, (peak - before) / 1024.0, result.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  int64_t n = 1000000;
  std::string dir = (std::filesystem::temp_directory_path() / "bench_decision_stats").string();
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--decisions") == 0) n = std::stoll(argv[i + 1]);
    if (std::strcmp(argv[i], "--dir") == 0) dir = argv[i + 1];
  }
  std::filesystem::remove_all(dir);
  const auto w = Clock::now();
  Write(dir, n);
  std::printf("wrote %lld decisions in %.1f s (%.0f MiB on disk)\n", (long long)n,
              std::chrono::duration<double>(Clock::now() - w).count(), [&] {
                uintmax_t bytes = 0;
                for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
                  if (e.is_regular_file()) bytes += e.file_size();
                }
                return static_cast<double>(bytes) / (1 << 20);
              }());
  DecisionLogOptions ro;
  ro.read_only = true;
  auto log = DecisionLog::Open(dir, ro);
  Time("scan", n, [&] {
    uint64_t seen = 0;
    log->ForEach(0, [&](const Decision&) { return ++seen > 0; });
    return fmt::format("{} decisions", seen);
  });
  Time("list", n, [&] {
    const auto all = SummarizeDecisions(*log, {});
    return fmt::format("{} policies, {} decisions of {}", all.size(), all[0].counts.decisions,
                       all[0].policy);
  });
  Time("policy", n, [&] {
    ActivityOptions o;
    o.policy = "artwork";
    o.bucket_seconds = 3600;
    o.actions = true;
    const auto one = SummarizeDecisions(*log, o);
    return fmt::format("{} hour buckets, {} actions, {} closed", one[0].series.size(),
                       one[0].actions.size(), one[0].counts.closed);
  });
  log.reset();
  std::filesystem::remove_all(dir);
  return 0;
}

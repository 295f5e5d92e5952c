// The cost of the dashboard's bandit views (GET /api/v1/bandits[/{name}]) on a large decision
// log: writes N decisions (default 1,000,000) of 4 policies, 10 offered actions each with a
// 6-feature context (the shape of a real /v1/decide), a reward joined to 30% of them (the rest
// get the default reward, so every decision has an outcome to look up): the write's rate is the
// writer's (which keeps the counters), then times, on a read-only open beside nothing else:
//   list      SummarizeDecisions of every policy (GET /api/v1/bandits), from the counters
//   policy    one policy with hour buckets and its actions (GET /api/v1/bandits/{name})
//   since     the same from the middle of the log (a `since` inside it: hour keys)
//   open+list a read-only open and `list`: what one request of the views costs
// each `--rounds` times (median, min, max), and with --scan 1 (default) once each by the scan
// the counters replace:
//   scan      DecisionLog::ForEach doing nothing (the reader `decisions export` uses: parse
//             every record, look up its outcome): the floor of any pass
//   scan-list, scan-policy   SummarizeDecisionsByScan
// with the peak resident memory of each pass over the process's resident memory before it
// (VmHWM after resetting it through /proc/self/clear_refs). Last, the counters are deleted and
// a writable open times building them again in one pass (a log written before counters).
//
//   bench_decision_stats [--decisions N] [--dir DIR] [--rounds R] [--scan 0|1]
//   (DIR: a scratch folder, removed after)
#include <fmt/format.h>
#include <rocksdb/db.h>

#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "bandits/decision_log.h"
#include "bandits/decision_stats.h"
#include "decision_workload.h"

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
  for (int64_t i = 0; i < n; ++i) {
    const int64_t ts = t0 + i * 2600;
    Decision d = bench::BenchDecision(i, n, ts, rng);
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
  std::printf("%-9s %7.2f s wall %7.2f s CPU  %8.0f decisions/CPU-s  peak RSS +%5.1f MiB  (%s)\n",
              what, s, cpu, static_cast<double>(n) / cpu, (peak - before) / 1024.0, result.c_str());
}

// `rounds` timings of a fast pass: median, min and max of wall and CPU milliseconds.
template <typename Fn>
void TimeRounds(const char* what, int rounds, Fn&& fn) {
  std::vector<double> wall, cpu;
  std::string result;
  for (int r = 0; r < rounds; ++r) {
    const auto start = Clock::now();
    const double cpu0 = CpuSeconds();
    result = fn();
    wall.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    cpu.push_back((CpuSeconds() - cpu0) * 1e3);
  }
  auto stats = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return fmt::format("median {:8.2f} ms (min {:.2f}, max {:.2f})", v[v.size() / 2], v.front(),
                       v.back());
  };
  std::printf("%-9s wall %s  CPU %s  (%s)\n", what, stats(wall).c_str(), stats(cpu).c_str(),
              result.c_str());
}

std::string Policy(const DecisionLog& log, int64_t since_ms) {
  ActivityOptions o;
  o.policy = "artwork";
  o.bucket_seconds = 3600;
  o.actions = true;
  o.since_ms = since_ms;
  const auto one = SummarizeDecisions(log, o);
  return fmt::format("{} hour buckets, {} actions, {} decisions", one[0].series.size(),
                     one[0].actions.size(), one[0].counts.decisions);
}

std::string List(const DecisionLog& log) {
  const auto all = SummarizeDecisions(log, {});
  return fmt::format("{} policies, {} decisions of {}", all.size(), all[0].counts.decisions,
                     all[0].policy);
}

}  // namespace

int main(int argc, char** argv) {
  int64_t n = 1000000;
  std::string dir = (std::filesystem::temp_directory_path() / "bench_decision_stats").string();
  int rounds = 5;
  bool scan = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--decisions") == 0) n = std::stoll(argv[i + 1]);
    if (std::strcmp(argv[i], "--dir") == 0) dir = argv[i + 1];
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::max(1, std::stoi(argv[i + 1]));
    if (std::strcmp(argv[i], "--scan") == 0) scan = std::strcmp(argv[i + 1], "0") != 0;
  }
  std::filesystem::remove_all(dir);
  const auto w = Clock::now();
  const double wcpu = CpuSeconds();
  Write(dir, n);
  const double written = std::chrono::duration<double>(Clock::now() - w).count();
  std::printf("wrote %lld decisions in %.1f s, %.1f s CPU: %.0f decisions/s (%.0f MiB on disk)\n",
              (long long)n, written, CpuSeconds() - wcpu, static_cast<double>(n) / written, [&] {
                uintmax_t bytes = 0;
                for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
                  if (e.is_regular_file()) bytes += e.file_size();
                }
                return static_cast<double>(bytes) / (1 << 20);
              }());
  DecisionLogOptions ro;
  ro.read_only = true;
  auto log = DecisionLog::Open(dir, ro);
  const int64_t middle = 1796083200000 + n * 2600 / 2;
  TimeRounds("list", rounds, [&] { return List(*log); });
  TimeRounds("policy", rounds, [&] { return Policy(*log, 0); });
  TimeRounds("since", rounds, [&] { return Policy(*log, middle); });
  TimeRounds("open+list", rounds, [&] { return List(*DecisionLog::Open(dir, ro)); });
  if (scan) {
    Time("scan", n, [&] {
      uint64_t seen = 0;
      log->ForEach(0, [&](const Decision&) { return ++seen > 0; });
      return fmt::format("{} decisions", seen);
    });
    Time("scan-list", n, [&] {
      const auto all = SummarizeDecisionsByScan(*log, {});
      return fmt::format("{} policies, {} decisions of {}", all.size(), all[0].counts.decisions,
                         all[0].policy);
    });
    Time("scan-pol", n, [&] {
      ActivityOptions o;
      o.policy = "artwork";
      o.bucket_seconds = 3600;
      o.actions = true;
      const auto one = SummarizeDecisionsByScan(*log, o);
      return fmt::format("{} hour buckets, {} actions, {} closed", one[0].series.size(),
                         one[0].actions.size(), one[0].counts.closed);
    });
  }
  log.reset();
  // A log written before counters: delete them, and time the writable open that builds them.
  {
    rocksdb::DB* db = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(rocksdb::Options(), dir, &db);
    if (s.ok()) s = db->DeleteRange(rocksdb::WriteOptions(), db->DefaultColumnFamily(), "c", "d");
    delete db;
    if (!s.ok()) {
      std::fprintf(stderr, "cannot delete the counters: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  DecisionLogOptions wo;
  wo.sweep_interval = std::chrono::milliseconds(0);
  wo.reward_window_ms = 31LL * 86400 * 1000;
  Time("rebuild", n, [&] {
    auto rebuilt = DecisionLog::Open(dir, wo);
    return List(*rebuilt);
  });
  std::filesystem::remove_all(dir);
  return 0;
}

// The decision log's write path as /v1/decide and /v1/reward use it: T threads each append a
// decision and wait until it is durable (as a request waits for its answer), and send a reward
// for 30% of them, for N decisions in all; sync on (an fsync per group commit, as served) or
// off (the writer's CPU alone). Prints decisions per second, the process's CPU per decision and
// the group commits. Uses only DecisionLog's append and reward calls, so the same source builds
// against an older tree to measure it before and after a change to the writer.
//
//   bench_decision_append [--decisions N] [--threads T] [--sync 0|1] [--dir DIR]
#include <fmt/format.h>

#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bandits/decision_log.h"
#include "decision_workload.h"

namespace {

using namespace marquee;

double CpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t n = 200000;
  int threads = 8;
  bool sync = true;
  std::string dir = (std::filesystem::temp_directory_path() / "bench_decision_append").string();
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--decisions") == 0) n = std::stoll(argv[i + 1]);
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::max(1, std::stoi(argv[i + 1]));
    if (std::strcmp(argv[i], "--sync") == 0) sync = std::strcmp(argv[i + 1], "0") != 0;
    if (std::strcmp(argv[i], "--dir") == 0) dir = argv[i + 1];
  }
  std::filesystem::remove_all(dir);
  const int64_t t0 = 1796083200000;  // 2026-12-01T00:00:00Z, one decision every 2.6 s
  DecisionLogOptions o;
  o.sync = sync;
  o.sweep_interval = std::chrono::milliseconds(0);
  o.reward_window_ms = 31LL * 86400 * 1000;
  o.now_ms = [t0] { return t0; };  // every reward inside its window
  uint64_t commits = 0;
  double seconds = 0, cpu = 0;
  {
    auto log = DecisionLog::Open(dir, o);
    const uint64_t commits0 = log->stats().group_commits;
    std::atomic<int64_t> next{0};
    const auto start = std::chrono::steady_clock::now();
    const double cpu0 = CpuSeconds();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        std::mt19937_64 rng(static_cast<uint64_t>(t) + 1);
        for (int64_t i = next++; i < n; i = next++) {
          Decision d = bench::BenchDecision(i, n, t0 + i * 2600, rng);
          const std::string id = d.id;
          log->Append(std::move(d));
          if (rng() % 10 < 3) log->Reward(id, 1.0);
        }
      });
    }
    for (auto& w : workers) w.join();
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    cpu = CpuSeconds() - cpu0;
    commits = log->stats().group_commits - commits0;
  }
  std::printf(
      "sync=%d threads=%d: %lld decisions (+30%% rewards) in %.2f s: %.0f decisions/s, %.1f us "
      "CPU per decision, %llu group commits\n",
      sync ? 1 : 0, threads, static_cast<long long>(n), seconds, static_cast<double>(n) / seconds,
      cpu / static_cast<double>(n) * 1e6, static_cast<unsigned long long>(commits));
  std::filesystem::remove_all(dir);
  return 0;
}

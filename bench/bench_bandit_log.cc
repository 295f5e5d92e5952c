// The bandit-log data path (issue #19): streamed import of a JSONL decision log into a typed
// (v2) snapshot, then opening it (sha256 verified, memory-mapped) and a full pass over
// BanditLog::Keyed for every row (what the learners read), against the same log saved as a
// version 1 snapshot (contexts as JSON lines, parsed on load) in the same run. Both are opened
// with LoadBanditLog (no sha256 check; the catalog's verified open is timed once).
//
//   bench_bandit_log LOG.jsonl WORKDIR [ROUNDS]   (ROUNDS 0: the import only)
//
// Prints one line per measurement and round; rounds alternate v2 and v1 (the machine is noisy).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "bandits/log.h"
#include "marquee/env.h"

namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Every row keyed once; returns a checksum so the pass is not optimised away.
double KeyedPass(const marquee::BanditLog& log) {
  marquee::KeyedScratch s;
  double sum = 0;
  for (size_t i = 0; i < log.rows.size(); ++i) {
    const marquee::KeyedInput& in = log.Keyed(i, &s);
    for (const auto& f : in.context) sum += f.value;
    for (const auto& a : in.actions) sum += static_cast<double>(a.features.size());
  }
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_bandit_log LOG.jsonl WORKDIR [ROUNDS]\n");
    return 2;
  }
  using namespace marquee;
  const std::string file = argv[1], dir = argv[2];
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 3;
  std::filesystem::create_directories(dir);
  Env* env = Env::Default();
  BanditLogCatalog catalog(dir, env);

  auto t = Clock::now();
  const BanditLogEntry e = catalog.ImportFile("bench", file, "bandit-jsonl", "", nullptr);
  std::printf("import_streamed rows=%llu seconds=%.3f\n", static_cast<unsigned long long>(e.rows),
              Since(t));
  if (rounds == 0) return 0;  // import only (for /usr/bin/time -v)
  const std::string v1 = dir + "/v1.mqbl";
  t = Clock::now();
  SaveBanditLogV1(catalog.Open("bench"), v1, env);
  std::printf("catalog_open_verified+save_v1 seconds=%.3f (v2 %llu bytes, v1 %llu bytes)\n",
              Since(t), static_cast<unsigned long long>(env->FileSize(e.path)),
              static_cast<unsigned long long>(env->FileSize(v1)));

  // Opens `path` with LoadBanditLog and keys every row, printing the times.
  auto measure = [&](int r, const char* label, const std::string& path) {
    t = Clock::now();
    BanditLog log = LoadBanditLog(path, env);  // map + rows (+ JSON contexts for v1)
    const double load = Since(t);
    t = Clock::now();
    const double sum = KeyedPass(log);
    const double pass = Since(t);
    std::printf("round=%d %s open=%.3f keyed_pass=%.3f decisions_per_s=%.0f check=%.6g\n", r, label,
                load, pass, static_cast<double>(log.rows.size()) / pass, sum);
    std::fflush(stdout);
  };
  for (int r = 0; r < rounds; ++r) {
    measure(r, "v2", e.path);
    measure(r, "v1", v1);
  }
  return 0;
}

// In-process cost of an online experiment on POST /v1/recommend: Service::Handle on parsed
// requests (no sockets, no client), with and without "experiment", in alternating rounds on the
// same thread. Reports per request the wall time of the handling thread and the process CPU time
// (getrusage: includes the exposure log's flusher thread and RocksDB's threads, i.e. everything
// the experiment costs the machine). bench/experiment_overhead.sh runs it after its wrk runs.
//
//   bench_experiment_overhead HOME MODEL_REF EXPERIMENT USERS_FILE [ROUNDS] [REQUESTS]
//                             [--benchmark_...]
//
// Google Benchmark, ROUNDS single-round repetitions of two benchmarks:
//   handle_plain_and_experiment  one round = REQUESTS plain requests and REQUESTS experiment
//       requests, which goes first alternating by round; the plain run is the reference, kept
//       in the same round as counters: {plain,experiment}_{wall,thread_cpu,process_cpu}_us per
//       request, and the round's overhead ratios (thread_cpu_overhead, wall_overhead).
//   experiment_own_work  ExperimentRouter::Recommend against the plain Rank + response it
//       wraps, alternating blocks of 500: own_work_us (router minus plain, handling-thread CPU
//       per request), plain_us, router_us.
// Aggregates over the rounds: median, min, stddev, ... of every counter.
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "bench_stats.h"

#include "serving/experiment_router.h"
#include "serving/server_core.h"
#include "serving/service.h"

namespace {

using Clock = std::chrono::steady_clock;

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// CPU time of the calling thread: the request path alone, unaffected by preemption and by the
// exposure log's flusher (which runs on another thread).
double ThreadCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace marquee;
  benchmark::Initialize(&argc, argv);
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s HOME MODEL_REF EXPERIMENT USERS_FILE [ROUNDS] [REQUESTS]\n",
                 argv[0]);
    return 2;
  }
  const std::string home = argv[1], ref = argv[2], experiment = argv[3];
  const int rounds = argc > 5 ? std::atoi(argv[5]) : 10;
  const int requests = argc > 6 ? std::atoi(argv[6]) : 20000;
  std::vector<std::string> users;
  std::ifstream uf(argv[4]);
  for (std::string line; std::getline(uf, line);) {
    if (!line.empty()) users.push_back(line);
  }
  if (users.empty()) {
    std::fprintf(stderr, "no users in %s\n", argv[4]);
    return 2;
  }
  // The server as `marquee serve` builds it (ServerCore), without the HTTP server and the
  // poller: the model is loaded here, the experiment router and both logs are the core's.
  ServerCoreOptions so;
  so.home = home;
  so.models = {ref};
  so.poll = false;
  so.load_before_start = true;
  if (const char* ms = std::getenv("FLUSH_MS")) {  // diagnostics: how much the flusher costs
    so.exposure_log.flush_interval = std::chrono::milliseconds(std::atoi(ms));
    so.exposure_log.max_queue = 100000000;
  }
  ServerCore core(std::move(so));
  Service& service = *core.service();
  ExperimentRouter& router = *core.experiments();

  auto body = [&](bool exp, const std::string& user) {
    return std::string(exp ? "{\"experiment\": \"" + experiment + "\""
                           : "{\"model\": \"" + ref + "\"") +
           ", \"user\": \"" + user + "\", \"k\": 10}";
  };
  size_t failures = 0;
  auto run = [&](bool exp, double* wall_us, double* cpu_us, double* thread_us) {
    Request req;
    req.method = "POST";
    req.target = "/v1/recommend";
    const double c0 = CpuSeconds(), th0 = ThreadCpuSeconds();
    const auto t0 = Clock::now();
    for (int i = 0; i < requests; ++i) {
      req.body = body(exp, users[static_cast<size_t>(i) % users.size()]);
      service.Handle(req, [&](Response r) { failures += r.status != 200; });
    }
    *wall_us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / requests;
    *cpu_us = (CpuSeconds() - c0) * 1e6 / requests;
    *thread_us = (ThreadCpuSeconds() - th0) * 1e6 / requests;
  };
  double w, c, th;
  run(false, &w, &c, &th);  // warm-up
  run(true, &w, &c, &th);
  int round = 0;
  bench::PerCall(benchmark::RegisterBenchmark(
                     "handle_plain_and_experiment",
                     [&](benchmark::State& state) {
                       double wall[2], cpu[2], thread[2];
                       for (auto _ : state) {
                         for (int k = 0; k < 2; ++k) {
                           const bool exp =
                               (round % 2 == 0) ? k == 1 : k == 0;  // alternate the first
                           run(exp, &wall[exp], &cpu[exp], &thread[exp]);
                         }
                       }
                       ++round;
                       for (int e = 0; e < 2; ++e) {
                         const std::string kind = e ? "experiment" : "plain";
                         state.counters[kind + "_wall_us"] = wall[e];
                         state.counters[kind + "_thread_cpu_us"] = thread[e];
                         state.counters[kind + "_process_cpu_us"] = cpu[e];
                       }
                       state.counters["thread_cpu_overhead"] = thread[1] / thread[0] - 1;
                       state.counters["wall_overhead"] = wall[1] / wall[0] - 1;
                       state.counters["process_cpu_overhead"] = cpu[1] / cpu[0] - 1;
                     }),
                 rounds)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  // The experiment's own work alone: ExperimentRouter::Recommend against the plain path it wraps
  // (Service::Rank and the response) for the same members, in alternating blocks of 500
  // requests, so a drift of the machine hits both; request parsing, shared by both, is left out.
  bench::PerCall(
      benchmark::RegisterBenchmark(
          "experiment_own_work",
          [&](benchmark::State& state) {
            RecommendRequest rr;
            rr.k = 10;
            rr.experiment = experiment;
            RecommendRequest plain_rr = rr;
            plain_rr.experiment.reset();
            plain_rr.model = ref;
            double t_plain = 0, t_router = 0;
            size_t bytes = 0;
            const int blocks = requests / 500;
            for (auto _ : state) {
              for (int block = 0; block < blocks; ++block) {
                for (int pass = 0; pass < 2; ++pass) {
                  const double t0 = ThreadCpuSeconds();
                  for (int i = 0; i < 500; ++i) {
                    const std::string& u =
                        users[static_cast<size_t>(block * 500 + i) % users.size()];
                    if (pass == 0) {
                      plain_rr.user = u;
                      bytes +=
                          Service::ToResponse(service.Rank(std::span(&plain_rr, 1))[0]).body.size();
                    } else {
                      rr.user = u;
                      bytes += router.Recommend(rr, service).body.size();
                    }
                  }
                  (pass == 0 ? t_plain : t_router) += ThreadCpuSeconds() - t0;
                }
              }
            }
            if (bytes == 0) std::abort();
            const double n = blocks * 500;
            state.counters["own_work_us"] = (t_router - t_plain) * 1e6 / n;
            state.counters["plain_us"] = t_plain * 1e6 / n;
            state.counters["router_us"] = t_router * 1e6 / n;
          }),
      rounds)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::AddCustomContext("requests_per_round", std::to_string(requests));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  router.exposures().Flush();
  std::printf("in-process Service::Handle, %d rounds x %d requests, k = 10 (%zu failures)\n",
              rounds, requests, failures);
  std::printf("exposures recorded %llu, dropped %llu\n",
              static_cast<unsigned long long>(router.exposures().recorded()),
              static_cast<unsigned long long>(router.exposures().dropped()));
  return failures == 0 ? 0 : 1;
}

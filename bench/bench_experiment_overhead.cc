// In-process cost of an online experiment on POST /v1/recommend: Service::Handle on parsed
// requests (no sockets, no client), with and without "experiment", in alternating rounds on the
// same thread. Reports per request the wall time of the handling thread and the process CPU time
// (getrusage: includes the exposure log's flusher thread and RocksDB's threads, i.e. everything
// the experiment costs the machine). bench/experiment_overhead.sh runs it after its wrk runs.
//
//   bench_experiment_overhead HOME MODEL_REF EXPERIMENT USERS_FILE [ROUNDS] [REQUESTS]
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "events/event_log.h"
#include "serving/experiment_router.h"
#include "serving/model_manager.h"
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

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace marquee;
  using namespace marquee::serving;
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
  auto events = EventLog::Open(home + "/events");
  ServingMetrics metrics;
  ExperimentRouterOptions xo;
  xo.home = home;
  if (const char* ms = std::getenv("FLUSH_MS")) {  // diagnostics: how much the flusher costs
    xo.log.flush_interval = std::chrono::milliseconds(std::atoi(ms));
    xo.log.max_queue = 100000000;
  }
  ExperimentRouter router(xo);
  ModelManagerOptions mo;
  mo.home = home;
  mo.refs = {ref};
  ModelManager models(std::move(mo));
  models.Refresh();
  Service service(&models, events.get(), &metrics, ApiKeys(), ServiceLimits());
  service.set_experiments(&router);

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
  std::vector<double> wall[2], cpu[2], thread[2];
  for (int r = 0; r < rounds; ++r) {
    for (int k = 0; k < 2; ++k) {
      const bool exp = (r % 2 == 0) ? k == 1 : k == 0;  // alternate which goes first
      run(exp, &w, &c, &th);
      wall[exp].push_back(w);
      cpu[exp].push_back(c);
      thread[exp].push_back(th);
    }
  }
  // The experiment's own work alone: ExperimentRouter::Recommend against the plain path it wraps
  // (Service::Rank and the response) for the same members, in alternating blocks of 500
  // requests, so a drift of the machine hits both; request parsing, shared by both, is left out.
  std::vector<double> lookup_us;
  {
    RecommendRequest rr;
    rr.k = 10;
    rr.experiment = experiment;
    RecommendRequest plain_rr = rr;
    plain_rr.experiment.reset();
    plain_rr.model = ref;
    size_t bytes = 0;
    for (int r = 0; r < rounds; ++r) {
      double t_plain = 0, t_router = 0;
      for (int block = 0; block < requests / 500; ++block) {
        for (int pass = 0; pass < 2; ++pass) {
          const double t0 = ThreadCpuSeconds();
          for (int i = 0; i < 500; ++i) {
            const std::string& u = users[static_cast<size_t>(block * 500 + i) % users.size()];
            if (pass == 0) {
              plain_rr.user = u;
              bytes += Service::ToResponse(service.Rank(std::span(&plain_rr, 1))[0]).body.size();
            } else {
              rr.user = u;
              bytes += router.Recommend(rr, service).body.size();
            }
          }
          (pass == 0 ? t_plain : t_router) += ThreadCpuSeconds() - t0;
        }
      }
      lookup_us.push_back((t_router - t_plain) * 1e6 / (requests / 500 * 500));
    }
    if (bytes == 0) std::abort();
  }
  router.exposures().Flush();
  std::printf(
      "experiment's own work (router minus the plain Rank + response, handling-thread CPU): "
      "median %.2f us/req, min %.2f us/req = %.1f%% of the median plain request "
      "(%.2f us handling-thread CPU)\n",
      Median(lookup_us), *std::min_element(lookup_us.begin(), lookup_us.end()),
      100 * Median(lookup_us) / Median(thread[0]), Median(thread[0]));
  std::printf("in-process Service::Handle, %d rounds x %d requests, k = 10 (%zu failures)\n",
              rounds, requests, failures);
  std::printf(
      "| request | median wall us/req | min wall us/req | median handling-thread CPU us/req | "
      "min handling-thread CPU us/req | median process CPU us/req |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (int e = 0; e < 2; ++e) {
    std::printf("| %s | %.2f | %.2f | %.2f | %.2f | %.2f |\n", e ? "experiment" : "plain",
                Median(wall[e]), *std::min_element(wall[e].begin(), wall[e].end()),
                Median(thread[e]), *std::min_element(thread[e].begin(), thread[e].end()),
                Median(cpu[e]));
  }
  std::printf("overhead: handling-thread CPU %+.1f%% (median), %+.1f%% (min)\n",
              100 * (Median(thread[1]) / Median(thread[0]) - 1),
              100 * (*std::min_element(thread[1].begin(), thread[1].end()) /
                         *std::min_element(thread[0].begin(), thread[0].end()) -
                     1));
  std::printf("overhead: wall %+.1f%% (median), %+.1f%% (min); process CPU %+.1f%% (median)\n",
              100 * (Median(wall[1]) / Median(wall[0]) - 1),
              100 * (*std::min_element(wall[1].begin(), wall[1].end()) /
                         *std::min_element(wall[0].begin(), wall[0].end()) -
                     1),
              100 * (Median(cpu[1]) / Median(cpu[0]) - 1));
  std::printf("exposures recorded %llu, dropped %llu\n",
              static_cast<unsigned long long>(router.exposures().recorded()),
              static_cast<unsigned long long>(router.exposures().dropped()));
  return failures == 0 ? 0 : 1;
}

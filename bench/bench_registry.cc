// Registry benchmark (issue #3): record 10,000 runs with 20 metrics each through the store API
// (two transactions per run, as `marquee train` does: create the run, then complete it and
// register its version atomically), then time what users wait for: `runs list` (the newest
// 100, and paging through everything) and `runs compare` of 100 runs, in-process through the
// same Registry calls the CLI makes, and end to end through the marquee binary with --json.
//
//   build/release/bench/bench_registry [--runs 10000] [--metrics 20] [--home DIR] [--keep]
//                                      [--marquee PATH] [--reps 30] [--registry URL]
//                                      [--benchmark_...]
//
// --registry URL runs everything against that registry (sqlite:///..., or postgresql://... on
// an empty database; the marquee processes of the cli/ rows get it too, as $MARQUEE_REGISTRY).
// bench/registry_backends.sh compares SQLite and PostgreSQL in one run, alternating rounds.
//
// Google Benchmark: record_runs is one repetition (runs/s as a counter); every query is --reps
// single-call repetitions after one untimed call (which warms the page and statement caches),
// reported as median, p95, min, max, mean and stddev in milliseconds. The acceptance bar: list
// and compare of 100 runs under 100 ms (the p95 rows of cli/runs_list_100 and
// cli/runs_compare_100).
//
// Remote tracking (issue #14): tracking/log_metrics_batched logs --points points (default
// 100,000) into one external run in batches of 1,000 (one transaction each), as the SDK does;
// counter points_per_s, --log-reps repetitions (a fresh run each). The runs-list filters
// (in_process/runs_list_filter_*) list the newest 100 of the 10,000 runs passing metric
// thresholds on their final values, with the count of all matches, as `runs list` would.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "bench_stats.h"
#include "marquee/env.h"
#include "registry/registry.h"

extern char** environ;

namespace {

// Runs the marquee binary with stdout to /dev/null; exits on failure.
void RunCli(const std::string& binary, std::vector<std::string> args) {
  args.insert(args.begin(), binary);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) != 0) {
    std::fprintf(stderr, "cannot run %s\n", binary.c_str());
    std::exit(1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  posix_spawn_file_actions_destroy(&fa);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "%s failed\n", args[1].c_str());
    std::exit(1);
  }
}

// Records `runs` runs the way `marquee train` does: two transactions per run.
void RecordRuns(marquee::MetadataStore& store, int64_t runs,
                const std::vector<std::string>& metric_names, std::mt19937_64& rng) {
  using namespace marquee;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  DatasetRecord ds;
  ds.id = std::string(64, 'd');
  ds.kind = "snapshot";
  ds.name = "bench";
  ds.source = "synthetic";
  ds.stats = {{"users", 138000}, {"items", 27000}, {"interactions", 20000000}};
  const nlohmann::json config = {
      {"data", {{"dataset", "bench"}}},
      {"split", {{"protocol", "strong-generalization"}, {"test_users", 10000}, {"seed", 1}}},
      {"model", {{"family", "ease"}, {"lambda", 500.0}}},
      {"eval", {{"metrics", metric_names}}}};
  for (int64_t i = 0; i < runs; ++i) {
    const std::string model = fmt::format("model-{}", i % 10);
    RunRecord r;
    r.model_name = model;
    r.family = "ease";
    r.config_given = {{"file", "/bench/" + model + ".toml"}, {"overrides", {"model.lambda=1"}}};
    r.config_resolved = config;
    r.params = {{"lambda", 100.0 + static_cast<double>(i)}, {"max_items", 0}};
    r.code_version = "marquee bench";
    r.host = "bench";
    r.pid = 1;
    r.started_at = 1700000000 + i;
    r.id = store.CreateRun(r);
    r.status = RunStatus::kCompleted;
    r.ended_at = r.started_at + 60;
    r.timings = {{"load", 0.5}, {"train", 30.0}, {"eval", 5.0}};
    r.split = {{"protocol", "strong-generalization"}, {"seed", 1}, {"eval_users", 10000}};
    r.dataset_id = ds.id;
    r.protocol = "strong-generalization";
    r.protocol_key = std::string(64, 'p');
    r.artifact = fmt::format("{:064x}", i + 1);
    r.log = std::string(600, 'l');
    nlohmann::json m = nlohmann::json::object();
    for (const auto& name : metric_names) {
      const double v = u(rng);
      r.metrics.emplace_back(name, v);
      m[name] = v;
    }
    NewVersion nv;
    nv.model_name = model;
    nv.artifact = r.artifact;
    nv.run_id = r.id;
    nv.dataset_id = ds.id;
    nv.family = "ease";
    nv.protocol = r.protocol;
    nv.protocol_key = r.protocol_key;
    nv.metrics = m;
    nv.metric_order = metric_names;
    nv.params = r.params;
    nv.created_at = r.ended_at;
    store.Atomically([&] {
      store.PutDataset(ds);
      store.FinishRun(r);
      store.RegisterVersion(nv);
    });
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace marquee;
  benchmark::Initialize(&argc, argv);
  int64_t runs = 10000;
  int metrics = 20, reps = 30, cli_reps = 30, log_reps = 5;
  int64_t points = 100000;
  std::string home, binary = MARQUEE_BINARY;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--runs")
      runs = std::stoll(next());
    else if (a == "--metrics")
      metrics = std::stoi(next());
    else if (a == "--home")
      home = next();
    else if (a == "--marquee")
      binary = next();
    else if (a == "--reps")
      reps = std::stoi(next());
    else if (a == "--keep")
      keep = true;
    else if (a == "--points")
      points = std::stoll(next());
    else if (a == "--log-reps")
      log_reps = std::stoi(next());
    else if (a == "--registry")
      setenv("MARQUEE_REGISTRY", next().c_str(), 1);
    else {
      std::fprintf(stderr,
                   "usage: bench_registry [--runs N] [--metrics M] [--home DIR] "
                   "[--marquee PATH] [--reps R] [--keep] [--points P] [--log-reps L] "
                   "[--registry URL]\n");
      return 2;
    }
  }
  const bool temp_home = home.empty();
  if (temp_home) {
    home = (std::filesystem::temp_directory_path() /
            ("marquee-bench-registry-" + std::to_string(::getpid())))
               .string();
  }
  std::filesystem::remove_all(home);

  std::vector<std::string> metric_names;
  const char* kinds[] = {"recall", "ndcg", "hitrate", "map", "precision"};
  const int cutoffs[] = {5, 10, 20, 50, 100, 200};
  for (int i = 0; i < metrics; ++i) {
    metric_names.push_back(fmt::format("{}@{}", kinds[i % 5], cutoffs[(i / 5) % 6]));
  }
  std::mt19937_64 rng(7);
  Registry reg(home);
  MetadataStore& store = reg.store();
  // The runs the queries read, and the 100 random runs compared; recorded by record_runs, or
  // untimed by the first query when a filter leaves record_runs out.
  std::vector<int64_t> ids;
  auto recorded = [&] {
    if (!ids.empty()) return;
    RecordRuns(store, runs, metric_names, rng);
    std::uniform_int_distribution<int64_t> pick(1, runs);
    while (ids.size() < 100) ids.push_back(pick(rng));
  };

  // --- insert
  benchmark::RegisterBenchmark("record_runs",
                               [&](benchmark::State& state) {
                                 for (auto _ : state) recorded();
                                 state.counters["runs_per_s"] = benchmark::Counter(
                                     static_cast<double>(runs), benchmark::Counter::kIsRate);
                                 state.counters["transactions_per_run"] = 2;
                                 uint64_t db_bytes = 0;
                                 for (const char* f : {"/registry.db", "/registry.db-wal"}) {
                                   std::error_code ec;
                                   auto n = std::filesystem::file_size(home + f, ec);
                                   if (!ec) db_bytes += n;
                                 }
                                 state.counters["db_bytes"] = static_cast<double>(db_bytes);
                               })
      ->Iterations(1)
      ->Repetitions(1)
      ->UseRealTime()
      ->Unit(benchmark::kSecond);
  auto query = [&](const std::string& name, int n, std::function<void()> fn) {
    bench::RegisterPerCall(
        name,
        [&recorded, fn = std::move(fn)] {
          recorded();
          fn();
        },
        n, 1)
        ->Unit(benchmark::kMillisecond);
  };

  // --- in-process: the calls the CLI makes
  RunQuery newest;
  newest.limit = 100;
  query("in_process/runs_list_newest_100", reps, [&] {
    auto v = reg.ListRuns(newest);
    store.CountRuns(RunQuery{});
    if (v.size() != 100) std::abort();
  });
  RunQuery by_model = newest;
  by_model.model = "model-3";
  query("in_process/runs_list_model_100", reps, [&] { reg.ListRuns(by_model); });
  benchmark::RegisterBenchmark("in_process/runs_list_page_through_all",
                               [&](benchmark::State& state) {
                                 recorded();
                                 size_t pages = 0;
                                 for (auto _ : state) {
                                   RunQuery q;
                                   q.limit = 100;
                                   for (;;) {
                                     auto page = reg.ListRuns(q);
                                     if (page.empty()) break;
                                     ++pages;
                                     q.before_id = page.back().id;
                                   }
                                 }
                                 state.counters["pages"] = static_cast<double>(pages);
                               })
      ->Iterations(1)
      ->Repetitions(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  RunQuery all;
  all.limit = 0;
  query("in_process/runs_list_all", 3, [&] { reg.ListRuns(all); });
  query("in_process/runs_compare_100", reps, [&] {
    nlohmann::json c = reg.CompareRuns(ids);
    if (c["runs"].size() != 100) std::abort();
  });

  // Metric filters on the final values (uniform in [0, 1)): about half the runs pass the
  // first, about 1% the second (the newest 100 matches then span the whole table), about
  // a quarter both thresholds of the third.
  auto filtered = [&](const std::string& name, std::vector<std::string> thresholds) {
    RunQuery q = newest;
    for (const auto& t : thresholds) q.metrics.push_back(ParseMetricThreshold(t));
    query("in_process/runs_list_filter_" + name, reps, [&reg, q] {
      reg.ListRuns(q);
      RunQuery count = q;
      count.limit = 0;
      reg.CountRuns(count);
    });
  };
  filtered("half_100", {metric_names[0] + ">=0.5"});
  filtered("one_percent_100", {metric_names[0] + ">=0.99"});
  filtered("two_thresholds_100", {metric_names[0] + ">=0.5", metric_names[1] + "<0.5"});

  // --- remote tracking: metric points logged in batches of 1,000 into one external run
  benchmark::RegisterBenchmark(
      "tracking/log_metrics_batched",
      [&](benchmark::State& state) {
        constexpr int64_t kBatch = 1000;
        for (auto _ : state) {
          state.PauseTiming();
          ExternalRunSpec spec;
          spec.model_name = "tracked";
          spec.params = {{"eta", 0.1}};
          const int64_t run = reg.StartExternalRun(spec);
          std::vector<MetricPoint> batch(kBatch);
          state.ResumeTiming();
          for (int64_t step = 0; step < points; step += kBatch) {
            for (int64_t i = 0; i < kBatch; ++i) {
              // Three keys, as a training loop logs loss, auc and a learning rate.
              const int64_t s = step + i;
              batch[i] = {i % 3 == 0   ? "loss"
                          : i % 3 == 1 ? "auc"
                                       : "lr",
                          1.0 / static_cast<double>(s + 1), s, 1700000000000 + s};
            }
            reg.LogMetrics(run, batch);
          }
        }
        state.counters["points_per_s"] = benchmark::Counter(
            static_cast<double>(points) * static_cast<double>(state.iterations()),
            benchmark::Counter::kIsRate);
        state.counters["batch"] = kBatch;
      })
      ->Iterations(1)
      ->Repetitions(log_reps)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);

  // --- end to end through the binary (process start, open, query, JSON out)
  auto cli = [&](const std::string& name, std::function<std::vector<std::string>()> args) {
    query("cli/" + name, cli_reps, [&binary, args = std::move(args)] { RunCli(binary, args()); });
  };
  cli("runs_list_100", [&] {
    return std::vector<std::string>{"--home", home, "runs", "list", "--limit", "100", "--json"};
  });
  cli("runs_compare_100", [&] {
    std::vector<std::string> cmp = {"--home", home, "runs", "compare"};
    for (int64_t id : ids) cmp.push_back(std::to_string(id));
    cmp.push_back("--json");
    return cmp;
  });
  cli("runs_show", [&] {
    // The middle run (run 5000 of the default 10,000).
    const int64_t run = std::max<int64_t>(1, std::min<int64_t>(5000, runs / 2));
    return std::vector<std::string>{"--home", home, "runs", "show", std::to_string(run), "--json"};
  });
  // The floors: starting the binary at all, and a command that opens the registry and prints
  // almost nothing.
  cli("version_process_start_floor", [] { return std::vector<std::string>{"--version"}; });
  cli("models_list_floor", [&] {
    return std::vector<std::string>{"--home", home, "models", "list", "--json"};
  });

  benchmark::AddCustomContext("registry", store.Describe());
  benchmark::AddCustomContext("runs", std::to_string(runs));
  benchmark::AddCustomContext("metrics_per_run", std::to_string(metrics));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (temp_home && !keep) std::filesystem::remove_all(home);
  return 0;
}

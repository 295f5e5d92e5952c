// Registry benchmark (issue #3): record 10,000 runs with 20 metrics each through the store API
// (two transactions per run, as `marquee train` does: create the run, then complete it and
// register its version atomically), then time what users wait for: `runs list` (the newest
// 100, and paging through everything) and `runs compare` of 100 runs, in-process through the
// same Registry calls the CLI makes, and end to end through the marquee binary with --json.
//
//   build/release/bench/bench_registry [--runs 10000] [--metrics 20] [--home DIR] [--keep]
//
// Prints one JSON object. The acceptance bar: list and compare of 100 runs under 100 ms.
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
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "marquee/env.h"
#include "registry/registry.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct Stats {
  double median = 0, p95 = 0, min = 0, max = 0;
  nlohmann::json ToJson() const {
    return {{"median_ms", median}, {"p95_ms", p95}, {"min_ms", min}, {"max_ms", max}};
  }
};

Stats Summarise(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  Stats s;
  s.min = v.front();
  s.max = v.back();
  s.median = v[v.size() / 2];
  s.p95 = v[std::min(v.size() - 1, static_cast<size_t>(0.95 * static_cast<double>(v.size())))];
  return s;
}

Stats Time(int reps, const std::function<void()>& fn) {
  std::vector<double> t;
  fn();  // warm the page cache and the statement cache
  for (int i = 0; i < reps; ++i) {
    auto a = Clock::now();
    fn();
    t.push_back(Ms(a, Clock::now()));
  }
  return Summarise(t);
}

// Runs the marquee binary with stdout to /dev/null; returns wall milliseconds.
double TimeCli(const std::string& binary, std::vector<std::string> args) {
  args.insert(args.begin(), binary);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  auto a = Clock::now();
  pid_t pid;
  if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) != 0) {
    std::fprintf(stderr, "cannot run %s\n", binary.c_str());
    std::exit(1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  double ms = Ms(a, Clock::now());
  posix_spawn_file_actions_destroy(&fa);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "%s failed\n", args[1].c_str());
    std::exit(1);
  }
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace marquee;
  int64_t runs = 10000;
  int metrics = 20, reps = 30, cli_reps = 30;
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
    else {
      std::fprintf(stderr,
                   "usage: bench_registry [--runs N] [--metrics M] [--home DIR] "
                   "[--marquee PATH] [--reps R] [--keep]\n");
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
  std::uniform_real_distribution<double> u(0.0, 1.0);

  // --- insert
  Registry reg(home);
  MetadataStore& store = reg.store();
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
  auto t0 = Clock::now();
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
  const double insert_ms = Ms(t0, Clock::now());

  // --- in-process: the calls the CLI makes
  RunQuery newest;
  newest.limit = 100;
  Stats list100 = Time(reps, [&] {
    auto v = reg.ListRuns(newest);
    store.CountRuns(RunQuery{});
    if (v.size() != 100) std::abort();
  });
  RunQuery by_model = newest;
  by_model.model = "model-3";
  Stats list_model = Time(reps, [&] { reg.ListRuns(by_model); });
  double page_all_ms = 0;
  size_t pages = 0;
  {
    auto a = Clock::now();
    RunQuery q;
    q.limit = 100;
    for (;;) {
      auto page = reg.ListRuns(q);
      if (page.empty()) break;
      ++pages;
      q.before_id = page.back().id;
    }
    page_all_ms = Ms(a, Clock::now());
  }
  RunQuery all;
  all.limit = 0;
  Stats list_all = Time(3, [&] { reg.ListRuns(all); });
  std::vector<int64_t> ids;
  std::uniform_int_distribution<int64_t> pick(1, runs);
  while (ids.size() < 100) ids.push_back(pick(rng));
  Stats compare100 = Time(reps, [&] {
    nlohmann::json c = reg.CompareRuns(ids);
    if (c["runs"].size() != 100) std::abort();
  });

  // --- end to end through the binary (process start, open, query, JSON out)
  std::vector<double> cli_list, cli_compare, cli_show;
  std::vector<std::string> cmp = {"--home", home, "runs", "compare"};
  for (int64_t id : ids) cmp.push_back(std::to_string(id));
  cmp.push_back("--json");
  TimeCli(binary, {"--home", home, "runs", "list", "--limit", "100", "--json"});  // warm
  for (int i = 0; i < cli_reps; ++i) {
    cli_list.push_back(
        TimeCli(binary, {"--home", home, "runs", "list", "--limit", "100", "--json"}));
    cli_compare.push_back(TimeCli(binary, cmp));
    cli_show.push_back(TimeCli(binary, {"--home", home, "runs", "show", "5000", "--json"}));
  }
  // The floors: starting the binary at all, and a command that opens the registry and prints
  // almost nothing.
  std::vector<double> cli_floor, cli_version;
  for (int i = 0; i < cli_reps; ++i) {
    cli_version.push_back(TimeCli(binary, {"--version"}));
    cli_floor.push_back(TimeCli(binary, {"--home", home, "models", "list", "--json"}));
  }

  uint64_t db_bytes = 0;
  for (const char* f : {"/registry.db", "/registry.db-wal"}) {
    std::error_code ec;
    auto n = std::filesystem::file_size(home + f, ec);
    if (!ec) db_bytes += n;
  }
  nlohmann::json out = {
      {"runs", runs},
      {"metrics_per_run", metrics},
      {"insert",
       {{"seconds", insert_ms / 1000},
        {"runs_per_second", static_cast<double>(runs) / (insert_ms / 1000)},
        {"transactions_per_run", 2}}},
      {"db_bytes", db_bytes},
      {"in_process",
       {{"runs_list_newest_100", list100.ToJson()},
        {"runs_list_model_100", list_model.ToJson()},
        {"runs_list_page_through_all_ms", page_all_ms},
        {"pages", pages},
        {"runs_list_all", list_all.ToJson()},
        {"runs_compare_100", compare100.ToJson()}}},
      {"cli",
       {{"runs_list_100_json", Summarise(cli_list).ToJson()},
        {"runs_compare_100_json", Summarise(cli_compare).ToJson()},
        {"runs_show_json", Summarise(cli_show).ToJson()},
        {"models_list_json_floor", Summarise(cli_floor).ToJson()},
        {"version_process_start_floor", Summarise(cli_version).ToJson()}}},
      {"threshold_ms", 100},
      {"pass", Summarise(cli_list).p95 < 100 && Summarise(cli_compare).p95 < 100}};
  std::printf("%s\n", out.dump(2).c_str());
  if (temp_home && !keep) std::filesystem::remove_all(home);
  return 0;
}

// `marquee tune` and `marquee studies` end to end through the CLI: the --json contract, trials
// as registry runs, pruning, determinism for a seed (also with --parallel), the best config,
// and a real kill -9 followed by --resume.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;

struct Result {
  int code;
  std::string out, err;
};

std::string Slurp(const std::string& p) {
  std::ifstream f(p);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

Result RunCli(const std::string& args, const std::string& home) {
  testing::TempDir tmp;
  std::string cmd = std::string(MARQUEE_BINARY) + " --home " + home + " --threads 2 " + args +
                    " >" + tmp.file("out") + " 2>" + tmp.file("err");
  int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, Slurp(tmp.file("out")),
          Slurp(tmp.file("err"))};
}

// Two taste groups of 120 users over 40 items, so parameters matter and training is quick.
void MakeData(const testing::TempDir& dir, const std::string& family, const std::string& extra) {
  std::ofstream f(dir.file("plays.tsv"));
  for (int u = 0; u < 240; ++u) {
    const int group = u % 2;
    for (int k = 0; k < 10; ++k) {
      f << "u" << u << "\ti" << (group * 20 + (u * 7 + k * 3) % 20) << "\t1\t" << 1000 + k << "\n";
    }
    for (int k = 0; k < 3; ++k) {  // noise across groups, so parameters matter
      f << "u" << u << "\ti" << (u * 13 + k * 29) % 80 << "\t1\t" << 990 + k << "\n";
    }
  }
  std::ofstream(dir.file("job.toml"))
      << "[data]\ntrain = \"plays.tsv\"\n[split]\ntest_users = 40\n[model]\nfamily = \"" << family
      << "\"\n"
      << extra << "[eval]\nmetrics = [\"recall@20\", \"ndcg@10\"]\n";
}

TEST(TuneCli, JsonContractRunsStudiesAndBestConfig) {
  testing::TempDir dir;
  MakeData(dir, "ease", "");
  const std::string home = dir.file("home");
  Result r = RunCli("tune " + dir.file("job.toml") + " --trials 5 --seed 3 --json", home);
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  json j = json::parse(r.out);
  EXPECT_EQ(j["study"], 1);
  EXPECT_EQ(j["trials"], 5);
  EXPECT_EQ(j["metric"], "recall@20");
  const double lambda = j["best"]["params"]["lambda"].get<double>();
  EXPECT_GE(lambda, 10);
  EXPECT_LE(lambda, 5000);
  EXPECT_TRUE(j["best"]["validation"]["recall@20"].is_number());
  EXPECT_TRUE(j["best"]["validation"]["ndcg@10"].is_number());
  EXPECT_TRUE(j["best"]["test"]["recall@20"].is_number());
  EXPECT_NE(j["validation"].get<std::string>().find("training users"), std::string::npos);

  // Every trial is a run tagged with the study.
  Result runs = RunCli("runs list --json --limit 50", home);
  ASSERT_EQ(runs.code, 0) << runs.err;
  int tagged = 0;
  const json listed = json::parse(runs.out);
  for (const auto& run : listed["runs"]) {
    if (run.contains("tags") && run["tags"].value("study", "") == "1") ++tagged;
  }
  EXPECT_EQ(tagged, 5) << runs.out;

  // The best config trains as is, with the best params.
  const std::string best = j["best_config"].get<std::string>();
  ASSERT_TRUE(std::filesystem::exists(best)) << best;
  Result train = RunCli("train " + best + " --json", home);
  ASSERT_EQ(train.code, 0) << train.err;
  EXPECT_DOUBLE_EQ(json::parse(train.out)["params"]["lambda"].get<double>(), lambda);

  // studies list / show (text and JSON), and the plot.
  Result list = RunCli("studies list", home);
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find("ease"), std::string::npos);
  Result show = RunCli("studies show 1", home);
  ASSERT_EQ(show.code, 0) << show.err;
  EXPECT_NE(show.out.find("Best trials"), std::string::npos);
  EXPECT_NE(show.out.find("Parameter importances"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(home + "/studies/1/study.svg"));
  Result show_json = RunCli("studies show 1 --json", home);
  ASSERT_EQ(show_json.code, 0) << show_json.err;
  EXPECT_EQ(json::parse(show_json.out)["trials"].size(), 5u);
  Result missing = RunCli("studies show 9", home);
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.err.find("no study 9"), std::string::npos) << missing.err;
}

TEST(TuneCli, BadInputIsAClearError) {
  testing::TempDir dir;
  MakeData(dir, "ease", "");
  const std::string home = dir.file("home");
  std::ofstream(dir.file("bad.toml")) << "[lambda]\ntype = \"loguniform\"\nlow = -1\nhigh = 9\n";
  Result r = RunCli("tune " + dir.file("job.toml") + " --space " + dir.file("bad.toml"), home);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("parameter 'lambda'"), std::string::npos) << r.err;
  std::ofstream(dir.file("unknown.toml")) << "[lambdaa]\ntype = \"uniform\"\nlow = 1\nhigh = 9\n";
  r = RunCli("tune " + dir.file("job.toml") + " --space " + dir.file("unknown.toml"), home);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("lambdaa"), std::string::npos) << r.err;
  r = RunCli("tune " + dir.file("job.toml") + " --budget soon", home);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("--budget"), std::string::npos) << r.err;
}

TEST(TuneCli, PrunesWithSuccessiveHalvingAndIsDeterministicInParallel) {
  testing::TempDir dir;
  MakeData(dir, "ials", "");
  std::ofstream(dir.file("space.toml"))
      << "[factors]\ntype = \"int\"\nlow = 2\nhigh = 32\nlog = true\n"
         "[reg]\ntype = \"loguniform\"\nlow = 1e-4\nhigh = 10\n"
         "[schedule]\nparam = \"iterations\"\nmin = 1\nmax = 4\neta = 2\n";
  const std::string args = "tune " + dir.file("job.toml") + " --space " + dir.file("space.toml") +
                           " --trials 8 --parallel 2 --startup-trials 4 --seed 11 --json";
  Result a = RunCli(args, dir.file("a"));
  ASSERT_EQ(a.code, 0) << a.err;
  Result b = RunCli(args, dir.file("b"));
  ASSERT_EQ(b.code, 0) << b.err;
  json ja = json::parse(a.out), jb = json::parse(b.out);
  EXPECT_GT(ja["pruned"].get<int>(), 0) << a.err;
  EXPECT_EQ(ja["best"]["params"]["iterations"], 4);
  Result sa = RunCli("studies show 1 --json", dir.file("a"));
  Result sb = RunCli("studies show 1 --json", dir.file("b"));
  json ta = json::parse(sa.out)["trials"], tb = json::parse(sb.out)["trials"];
  ASSERT_EQ(ta.size(), 8u);
  bool saw_pruned_message = false;
  for (size_t i = 0; i < ta.size(); ++i) {
    EXPECT_EQ(ta[i]["params"], tb[i]["params"]) << "trial " << i;
    EXPECT_EQ(ta[i]["state"], tb[i]["state"]) << "trial " << i;
    if (ta[i]["state"] == "pruned") {
      EXPECT_EQ(ta[i]["message"].get<std::string>().rfind("pruned at iterations", 0), 0u);
      EXPECT_LT(ta[i]["rungs"].size(), 3u);
      saw_pruned_message = true;
    } else {
      EXPECT_EQ(ta[i]["rungs"].size(), 3u);  // 1, 2, 4 iterations
    }
  }
  EXPECT_TRUE(saw_pruned_message);
}

// A real kill -9 of the CLI in the middle of a study, then --resume: the study completes with
// exactly the planned trials, the same params an uninterrupted study draws, and the run that
// was under way at the kill is marked failed (interrupted).
TEST(TuneCli, KillNineThenResumeSlow) {
  testing::TempDir dir;
  MakeData(dir, "ials", "factors = 16\n");
  const std::string space = dir.file("space.toml");
  std::ofstream(space) << "[reg]\ntype = \"loguniform\"\nlow = 1e-4\nhigh = 1\n"
                          "[unobserved_weight]\ntype = \"loguniform\"\nlow = 0.01\nhigh = 1\n"
                          "[schedule]\nparam = \"iterations\"\nmin = 2\nmax = 8\neta = 2\n";
  const std::string tune_args = "tune " + dir.file("job.toml") + " --space " + space +
                                " --trials 14 --startup-trials 5 --seed 5";
  const std::string home = dir.file("killed");
  const std::string cmd = std::string(MARQUEE_BINARY) + " --home " + home + " --threads 2 " +
                          tune_args + " >/dev/null 2>" + dir.file("kerr") + " & echo $! >" +
                          dir.file("pid");
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const pid_t pid = std::stoi(Slurp(dir.file("pid")));
  // Wait until at least 3 trials are recorded and one is under way, then kill -9.
  const std::string record = home + "/studies/1.json";
  bool killed = false;
  for (int i = 0; i < 6000 && !killed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!std::filesystem::exists(record)) continue;
    json j;
    try {
      j = json::parse(Slurp(record));
    } catch (const json::exception&) {
      continue;  // never happens with atomic writes, but a parse race must not fail the test
    }
    if (j["trials"].size() >= 3 && !j["running"].empty()) {
      ASSERT_EQ(::kill(pid, SIGKILL), 0);
      killed = true;
    }
  }
  ASSERT_TRUE(killed) << Slurp(dir.file("kerr"));
  for (int i = 0; i < 200 && ::kill(pid, 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  json before = json::parse(Slurp(record));
  ASSERT_LT(before["trials"].size(), 14u);
  ASSERT_FALSE(before["running"].empty());
  const int64_t interrupted_run = before["running"][0]["run_id"].get<int64_t>();

  Result resumed = RunCli("tune --resume 1 --json", home);
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(json::parse(resumed.out)["trials"], 14);
  Result run = RunCli("runs show " + std::to_string(interrupted_run) + " --json", home);
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(json::parse(run.out)["status"], "failed") << run.out;

  Result fresh = RunCli(tune_args + " --json", dir.file("fresh"));
  ASSERT_EQ(fresh.code, 0) << fresh.err;
  json a = json::parse(RunCli("studies show 1 --json", home).out)["trials"];
  json b = json::parse(RunCli("studies show 1 --json", dir.file("fresh")).out)["trials"];
  ASSERT_EQ(a.size(), 14u);
  ASSERT_EQ(b.size(), 14u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]["number"], static_cast<int>(i));
    EXPECT_EQ(a[i]["params"], b[i]["params"]) << "trial " << i;
  }
}

}  // namespace
}  // namespace marquee

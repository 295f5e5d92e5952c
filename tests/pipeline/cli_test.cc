// End-to-end tests of the marquee binary: exit codes, one-line errors, --json contracts.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "test_util.h"

namespace marquee {
namespace {

struct Result {
  int code;
  std::string out;  // stdout
  std::string err;  // stderr
};

Result RunCli(const std::string& args, const std::string& home) {
  testing::TempDir tmp;
  std::string cmd = std::string(MARQUEE_BINARY) + " --home " + home + " " + args + " >" +
                    tmp.file("out") + " 2>" + tmp.file("err");
  int status = std::system(cmd.c_str());
  auto slurp = [](const std::string& p) {
    std::ifstream f(p);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  };
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(tmp.file("out")),
          slurp(tmp.file("err"))};
}

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// A small TSV with two taste groups so every family has something to learn.
std::string MakeInteractions(const testing::TempDir& dir) {
  std::string path = dir.file("plays.tsv");
  std::ofstream f(path);
  for (int u = 0; u < 60; ++u) {
    int group = u % 2;
    for (int k = 0; k < 8; ++k) {
      int item = group * 10 + (u * 3 + k * 7) % 10;
      f << "u" << u << "\t"
        << "i" << item << "\t" << (k % 5) + 1 << "\t" << 1000 + k << "\n";
    }
  }
  return path;
}

TEST(Cli, TrainJsonContract) {
  testing::TempDir dir;
  std::string data = MakeInteractions(dir);
  WriteFile(dir.file("job.toml"),
            "[data]\ntrain = \"plays.tsv\"\n[split]\ntest_users = 10\n"
            "[model]\nfamily = \"ease\"\nlambda = 10.0\n[eval]\n"
            "metrics = [\"recall@5\", \"ndcg@10\", \"mrr\"]\n");
  Result r = RunCli("train " + dir.file("job.toml") + " --json", dir.file("home"));
  ASSERT_EQ(r.code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);  // exactly one JSON object on stdout
  for (const char* k : {"recall@5", "ndcg@10", "mrr"}) {
    ASSERT_TRUE(j["metrics"].contains(k)) << k;
    EXPECT_GE(j["metrics"][k].get<double>(), 0.0);
    EXPECT_LE(j["metrics"][k].get<double>(), 1.0);
  }
  EXPECT_EQ(j["family"], "ease");
  EXPECT_DOUBLE_EQ(j["params"]["lambda"].get<double>(), 10.0);
  for (const char* t : {"load", "train", "eval"}) EXPECT_TRUE(j["timings"].contains(t)) << t;
  EXPECT_TRUE(std::filesystem::exists(j["artifact"].get<std::string>()));
  EXPECT_EQ(j["eval"]["users_evaluated"].get<int>(), 10);
  EXPECT_TRUE(j["refit"].get<bool>());
  EXPECT_EQ(j["training_users"].get<int>(), 60);  // refit knows every user
  EXPECT_EQ(j["split_seed"].get<int>(), 98765);
}

TEST(Cli, RefitFalseKeepsTrainSplitModel) {
  testing::TempDir dir;
  MakeInteractions(dir);
  WriteFile(dir.file("job.toml"),
            "[data]\ntrain = \"plays.tsv\"\n[split]\ntest_users = 10\nrefit = false\n"
            "[model]\nfamily = \"popularity\"\n");
  Result r = RunCli("train " + dir.file("job.toml") + " --json", dir.file("home"));
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_FALSE(j["refit"].get<bool>());
  EXPECT_EQ(j["trained_on"], "train-split");
  Result human = RunCli("train " + dir.file("job.toml"), dir.file("home"));
  EXPECT_NE(human.out.find("trained on the split's training users only"), std::string::npos);
}

TEST(Cli, ErrorsAreOneLineWithDistinctExitCodes) {
  testing::TempDir dir;
  MakeInteractions(dir);
  WriteFile(dir.file("bad.toml"), "[data]\ntrain = \"plays.tsv\"\n[model]\nfamily = \"eaze\"\n");
  Result r = RunCli("train " + dir.file("bad.toml"), dir.file("home"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown model family 'eaze'"), std::string::npos) << r.err;
  // The family is checked when the config is parsed, before any work: the error line alone.
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.find("Training"), std::string::npos) << r.err;

  WriteFile(dir.file("missing.toml"), "[data]\ntrain = \"nope.tsv\"\n[model]\nfamily = \"ease\"\n");
  r = RunCli("train " + dir.file("missing.toml") + " -q", dir.file("home"));
  EXPECT_EQ(r.code, 3) << r.err;  // not_found
  EXPECT_NE(r.err.find("nope.tsv"), std::string::npos);

  r = RunCli("dataset show nothing-here", dir.file("home"));
  EXPECT_EQ(r.code, 3) << r.err;

  r = RunCli("train", dir.file("home"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--help"), std::string::npos);
}

TEST(Cli, DatasetImportShowListJson) {
  testing::TempDir dir;
  std::string data = MakeInteractions(dir);
  Result r = RunCli("dataset import " + data + " --name plays --json", dir.file("home"));
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["name"], "plays");
  EXPECT_EQ(j["users"].get<int>(), 60);
  EXPECT_EQ(j["interactions"].get<int>(), 480);
  r = RunCli("dataset list --json", dir.file("home"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["datasets"].size(), 1u);
  r = RunCli("dataset show plays --json", dir.file("home"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(nlohmann::json::parse(r.out).contains("stats"));
  r = RunCli("dataset show plays", dir.file("home"));
  EXPECT_NE(r.out.find("density"), std::string::npos);
  // Training from the snapshot by name.
  WriteFile(
      dir.file("snap.toml"),
      "[data]\ndataset = \"plays\"\n[split]\ntest_users = 5\n[model]\nfamily = \"itemknn\"\n");
  r = RunCli("train " + dir.file("snap.toml") + " --json -q", dir.file("home"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["dataset"]["name"], "plays");
}

TEST(Cli, BadLineIsReportedWithFileAndLine) {
  testing::TempDir dir;
  WriteFile(dir.file("bad.tsv"), "1\t2\t5\t100\n1\t3\tfive\t101\n");
  Result r = RunCli("dataset import " + dir.file("bad.tsv") + " --name b", dir.file("home"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("bad.tsv:2"), std::string::npos) << r.err;
  // Nothing half-written: no snapshot named b.
  r = RunCli("dataset show b", dir.file("home"));
  EXPECT_EQ(r.code, 3);
  r = RunCli("dataset import " + dir.file("bad.tsv") + " --name b --skip-bad-lines --json",
             dir.file("home"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["bad_lines"].get<int>(), 1);
}

// ---- Issue #12: a command line that teaches and scripts can trust.

nlohmann::json ParseJson(const Result& r) {
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "stdout is not one JSON document: " << r.out;
  return j;
}

// Writes the small EASE job used below; returns its path.
std::string EaseJob(const testing::TempDir& dir) {
  MakeInteractions(dir);
  WriteFile(dir.file("job.toml"),
            "[data]\ntrain = \"plays.tsv\"\n[split]\ntest_users = 10\n"
            "[model]\nfamily = \"ease\"\nlambda = 10.0\n[eval]\nmetrics = [\"recall@5\"]\n");
  return dir.file("job.toml");
}

TEST(Cli, UnknownCommandIsNamedWithTheClosestMatch) {
  testing::TempDir dir;
  Result r = RunCli("traim x.toml", dir.file("home"));
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "marquee: error: unknown command 'traim' (did you mean 'train'?)\n");
  r = RunCli("models promte recs 3 --alias production", dir.file("home"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown command 'promte' for 'marquee models' (did you mean 'promote'?)"),
            std::string::npos)
      << r.err;
  r = RunCli("experiments analyse ab", dir.file("home"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("did you mean 'analyze'?"), std::string::npos) << r.err;
  // Nothing close: the known commands are listed instead.
  r = RunCli("zzzzzzzz", dir.file("home"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown command 'zzzzzzzz' (known: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("train"), std::string::npos);
  // A group without its subcommand still says so.
  r = RunCli("models", dir.file("home"));
  EXPECT_EQ(r.code, 2);
}

TEST(Cli, JsonErrorsAreOneJsonObjectOnStdout) {
  testing::TempDir dir;
  Result r = RunCli("dataset show nothing-here --json", dir.file("home"));
  EXPECT_EQ(r.code, 3);
  nlohmann::json j = ParseJson(r);
  EXPECT_EQ(j["error"]["code"], "not_found");
  EXPECT_NE(j["error"]["message"].get<std::string>().find("nothing-here"), std::string::npos);
  EXPECT_NE(r.err.find("marquee: error:"), std::string::npos);  // humans still see a line

  // Errors found while parsing the command line too.
  r = RunCli("traim x.toml --json", dir.file("home"));
  EXPECT_EQ(r.code, 2);
  j = ParseJson(r);
  EXPECT_EQ(j["error"]["code"], "invalid_argument");
  EXPECT_NE(j["error"]["message"].get<std::string>().find("did you mean 'train'?"),
            std::string::npos);
  r = RunCli("runs list --limit 0 --json", dir.file("home"));
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(ParseJson(r)["error"]["code"], "invalid_argument");
}

TEST(Cli, JsonIsAcceptedByEveryCommand) {
  testing::TempDir dir;
  const std::string home = dir.file("home");
  // These three refused --json ("The following argument was not expected: --json").
  Result r = RunCli("predict nothing --input rows.csv --json", home);
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_EQ(ParseJson(r)["error"]["code"], "not_found");
  r = RunCli("decisions export --out " + dir.file("d.jsonl") + " --json", home);
  EXPECT_EQ(r.err.find("not expected"), std::string::npos) << r.err;
  if (r.code == 0) {
    EXPECT_EQ(ParseJson(r)["written"].get<int>(), 0);
  } else {
    EXPECT_TRUE(ParseJson(r).contains("error"));
  }
  ASSERT_EQ(RunCli("train " + EaseJob(dir) + " -q", home).code, 0);
  r = RunCli("models describe job \"EASE on plays\" --json", home);
  ASSERT_EQ(r.code, 0) << r.err;
  nlohmann::json j = ParseJson(r);
  EXPECT_EQ(j["model"], "job");
  EXPECT_EQ(j["description"], "EASE on plays");
  r = RunCli("models list --json", home);
  EXPECT_EQ(ParseJson(r)["models"][0]["description"], "EASE on plays");
  // Before the command, too.
  r = RunCli("--json runs list", home);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(ParseJson(r)["runs"].size(), 1u);
}

TEST(Cli, AMissingInputFileIsNotFoundEverywhere) {
  testing::TempDir dir;
  const std::string home = dir.file("home");
  const std::string missing = dir.file("missing");
  // train used to say 2 (CLI11's file check) where dataset import said 3.
  for (const std::string& cmd :
       {"train " + missing + ".toml", "dataset import " + missing + ".tsv --name m",
        "models import " + missing + ".json --name m", "experiments create " + missing + ".toml",
        "simulate experiment --data " + missing + ".tsv --a popularity --b popularity"}) {
    Result r = RunCli(cmd + " -q", home);
    EXPECT_EQ(r.code, 3) << cmd << ": " << r.err;
    EXPECT_NE(r.err.find(missing), std::string::npos) << cmd << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  // The table is in --help.
  Result help = RunCli("--help", home);
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("Exit codes: 0 ok"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("3 not found"), std::string::npos);
}

TEST(Cli, FamilyOverrideFromTheCommandLine) {
  testing::TempDir dir;
  const std::string job = EaseJob(dir);
  Result r = RunCli("train " + job + " --set model.family=ials --set model.iterations=2 --json",
                    dir.file("home"));
  ASSERT_EQ(r.code, 0) << r.err;
  nlohmann::json j = ParseJson(r);
  EXPECT_EQ(j["family"], "ials");
  EXPECT_FALSE(j["params"].contains("lambda"));
  EXPECT_EQ(j["params"]["iterations"].get<int>(), 2);
  EXPECT_NE(r.err.find("ignoring [model] lambda"), std::string::npos) << r.err;
  // A typo in a parameter of the chosen family is still an error.
  r = RunCli("train " + job + " --set model.family=ials --set model.factorz=8", dir.file("home"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown parameter 'factorz' for family 'ials'"), std::string::npos)
      << r.err;
}

TEST(Cli, TimesAreIso8601UtcInHumanAndJsonOutput) {
  testing::TempDir dir;
  const std::string home = dir.file("home");
  ASSERT_EQ(RunCli("dataset import " + MakeInteractions(dir) + " --name plays -q", home).code, 0);
  WriteFile(dir.file("snap.toml"),
            "[data]\ndataset = \"plays\"\n[split]\ntest_users = 5\n[model]\nfamily = "
            "\"popularity\"\n");
  ASSERT_EQ(RunCli("train " + dir.file("snap.toml") + " -q", home).code, 0);
  const std::regex iso(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)");
  const std::regex old_style(R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)");
  for (const char* cmd : {"runs list", "runs show 1", "models list", "models show snap",
                          "models versions snap", "dataset show plays"}) {
    Result r = RunCli(cmd, home);
    ASSERT_EQ(r.code, 0) << cmd << ": " << r.err;
    EXPECT_TRUE(std::regex_search(r.out, iso)) << cmd << ":\n" << r.out;
    EXPECT_FALSE(std::regex_search(r.out, old_style)) << cmd << ":\n" << r.out;
  }
  auto is_iso = [&](const nlohmann::json& v) {
    return v.is_string() && std::regex_match(v.get<std::string>(), iso);
  };
  nlohmann::json run = ParseJson(RunCli("runs show 1 --json", home));
  EXPECT_TRUE(is_iso(run["started_at"])) << run["started_at"];
  EXPECT_TRUE(is_iso(run["ended_at"])) << run["ended_at"];
  nlohmann::json models = ParseJson(RunCli("models list --json", home));
  EXPECT_TRUE(is_iso(models["models"][0]["updated_at"])) << models.dump();
  nlohmann::json versions = ParseJson(RunCli("models versions snap --json", home));
  EXPECT_TRUE(versions.dump().find("\"created_at\":\"") != std::string::npos) << versions.dump();
}

TEST(Cli, QuietSilencesProgress) {
  testing::TempDir dir;
  const std::string job = EaseJob(dir);
  Result r = RunCli("train " + job + " -q --json", dir.file("home"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  // Not a terminal (stderr is a file here): plain lines, nothing redrawn.
  r = RunCli("train " + job + " --json", dir.file("home"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("evaluate: done in "), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos);
}

TEST(Cli, DatasetImportShowsProgressUnlessQuiet) {
  testing::TempDir dir;
  {
    std::ofstream f(dir.file("big.tsv"));
    for (int i = 0; i < 70000; ++i) f << "u" << i % 700 << "\ti" << i % 900 << "\t1\n";
  }
  Result r = RunCli("dataset import " + dir.file("big.tsv") + " --name big", dir.file("home"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("import big: done, 70000 lines in "), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos);  // stderr is a file: no redrawing
  r = RunCli("dataset import " + dir.file("big.tsv") + " --name big2 -q", dir.file("home"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
}

TEST(Cli, DecisionsSinceTakesIso8601) {
  testing::TempDir dir;
  Result r = RunCli("decisions export --since yesterday", dir.file("home"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--since 'yesterday': expected Unix seconds or an ISO 8601 time"),
            std::string::npos)
      << r.err;
  // A valid time gets past the flag (to the missing log: not found).
  r = RunCli("decisions export --since 2026-01-01T00:00:00Z", dir.file("home"));
  EXPECT_EQ(r.code, 3) << r.err;
  r = RunCli("decisions export --since 1767225600", dir.file("home"));
  EXPECT_EQ(r.code, 3) << r.err;
}

}  // namespace
}  // namespace marquee

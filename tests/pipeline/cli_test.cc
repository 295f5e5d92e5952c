// End-to-end tests of the marquee binary: exit codes, one-line errors, --json contracts.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
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
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 2) << r.err;  // progress + error line

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

}  // namespace
}  // namespace marquee

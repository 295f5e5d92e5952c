// End-to-end tests of the registry commands through the marquee binary: train records runs and
// versions; runs list|show|compare; models list|show|versions|promote|rollback|diff|tag; gc;
// refusals and their exit codes; concurrent registration; kill -9 at random points.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "common/sha256.h"
#include "marquee/env.h"
#include "registry/registry.h"
#include "registry/sqlite_store.h"
#include "registry_test_util.h"

namespace marquee {
namespace {

using testing::CliResult;
using testing::MakeConfig;
using testing::MakePlays;
using testing::RunCli;

nlohmann::json Json(const CliResult& r) {
  EXPECT_EQ(r.code, 0) << r.err;
  try {
    return nlohmann::json::parse(r.out);  // exactly one JSON object on stdout
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not one JSON object: " << e.what() << "\n" << r.out;
    return {};
  }
}

class RegistryCli : public ::testing::Test {
 protected:
  void SetUp() override {
    MakePlays(dir_);
    home_ = dir_.file("home");
  }
  CliResult Run(const std::string& args) { return RunCli(args, home_); }
  nlohmann::json Train(const std::string& config, const std::string& extra = "") {
    return Json(Run("train " + dir_.file(config) + " --json -q " + extra));
  }

  testing::TempDir dir_;
  std::string home_;
};

TEST_F(RegistryCli, TrainRecordsARunAndRegistersVersions) {
  MakeConfig(dir_, "recs.toml", "recs", "ease", "lambda = 10.0\ndescription = \"demo model\"\n");
  nlohmann::json a = Train("recs.toml");
  EXPECT_EQ(a["run_id"], 1);
  EXPECT_EQ(a["model"], "recs");
  EXPECT_EQ(a["version"], 1);
  EXPECT_TRUE(a.contains("artifact_sha256"));
  nlohmann::json b = Train("recs.toml", "--set model.lambda=50");
  EXPECT_EQ(b["run_id"], 2);
  EXPECT_EQ(b["version"], 2);

  // Default name: the config file's stem. Human report mentions the run and version.
  testing::WriteText(dir_.file("stemmed.toml"),
                     "[data]\ntrain = \"plays.tsv\"\n[split]\ntest_users = 10\n[model]\n"
                     "family = \"popularity\"\n");
  CliResult human = Run("train " + dir_.file("stemmed.toml") + " -q");
  ASSERT_EQ(human.code, 0) << human.err;
  EXPECT_NE(human.out.find("Recorded run 3; registered stemmed version 1."), std::string::npos)
      << human.out;

  nlohmann::json show = Json(Run("runs show 2 --json"));
  EXPECT_EQ(show["status"], "completed");
  EXPECT_EQ(show["model"], "recs");
  EXPECT_EQ(show["version"], 2);
  EXPECT_EQ(show["config_given"]["overrides"][0], "model.lambda=50");
  EXPECT_NE(show["config_given"]["text"].get<std::string>().find("lambda = 10.0"),
            std::string::npos);
  EXPECT_EQ(show["config_resolved"]["model"]["params"]["lambda"], 50);
  EXPECT_DOUBLE_EQ(show["params"]["lambda"].get<double>(), 50.0);
  EXPECT_EQ(show["metric_order"].size(), 3u);
  EXPECT_TRUE(show["timings"].contains("train"));
  EXPECT_EQ(show["dataset_id"].get<std::string>().size(), 64u);
  EXPECT_EQ(show["protocol"], "strong-generalization");
  EXPECT_EQ(show["code_version"], std::string("marquee ") + MARQUEE_VERSION);
  EXPECT_FALSE(show["host"].get<std::string>().empty());
  // Times are ISO 8601 UTC in JSON too ("2026-12-05T07:05:41Z").
  EXPECT_EQ(show["ended_at"].get<std::string>().size(), 20u) << show["ended_at"];
  EXPECT_EQ(show["ended_at"].get<std::string>().back(), 'Z');
  EXPECT_NE(show["log"].get<std::string>().find("Trained ease"), std::string::npos);
  EXPECT_EQ(show["artifact"], b["artifact_sha256"]);
  CliResult h = Run("runs show 2");
  EXPECT_NE(h.out.find("registered as recs/2"), std::string::npos) << h.out;
  // A model reference names the run that produced the version.
  EXPECT_EQ(Json(Run("runs show recs/1 --json"))["id"], 1);

  nlohmann::json list = Json(Run("runs list --json"));
  EXPECT_EQ(list["total"], 3);
  ASSERT_EQ(list["runs"].size(), 3u);
  EXPECT_EQ(list["runs"][0]["id"], 3);  // newest first
  EXPECT_EQ(list["runs"][2]["metrics"].size(), 3u);
  list = Json(Run("runs list --model recs --limit 1 --json"));
  EXPECT_EQ(list["total"], 2);
  ASSERT_EQ(list["runs"].size(), 1u);
  EXPECT_EQ(list["next_before"], 2);
  list = Json(Run("runs list --model recs --before 2 --json"));
  ASSERT_EQ(list["runs"].size(), 1u);
  EXPECT_EQ(list["runs"][0]["id"], 1);
  EXPECT_NE(Run("runs list").out.find("completed"), std::string::npos);

  nlohmann::json cmp = Json(Run("runs compare 1 2 --json"));
  ASSERT_EQ(cmp["runs"].size(), 2u);
  EXPECT_EQ(cmp["metrics"].size(), 3u);
  EXPECT_EQ(cmp["params_differing"], nlohmann::json::array({"lambda"}));
  EXPECT_TRUE(cmp["same_dataset"].get<bool>());
  EXPECT_TRUE(cmp["same_protocol"].get<bool>());
  EXPECT_TRUE(cmp["runs"][1]["metrics"].contains("ndcg@10"));
  CliResult side = Run("runs compare 1 recs/2");
  ASSERT_EQ(side.code, 0) << side.err;
  EXPECT_NE(side.out.find("ndcg@10"), std::string::npos);
  EXPECT_NE(side.out.find("lambda"), std::string::npos);
  EXPECT_EQ(Run("runs compare 1 99").code, 3);
  EXPECT_EQ(Run("runs show 99").code, 3);

  nlohmann::json models = Json(Run("models list --json"));
  ASSERT_EQ(models["models"].size(), 2u);
  EXPECT_EQ(models["models"][0]["name"], "recs");
  EXPECT_EQ(models["models"][0]["versions"], 2);
  EXPECT_EQ(models["models"][0]["description"], "demo model");
  nlohmann::json versions = Json(Run("models versions recs --json"));
  ASSERT_EQ(versions["versions"].size(), 2u);
  EXPECT_EQ(versions["versions"][1]["run_id"], 2);
  EXPECT_EQ(versions["versions"][1]["artifact"], b["artifact_sha256"]);
  EXPECT_NE(Run("models versions recs").out.find("recall@5"), std::string::npos);
  nlohmann::json mshow = Json(Run("models show recs --json"));
  EXPECT_EQ(mshow["latest_version"], 2);
  EXPECT_EQ(Json(Run("models show recs/1 --json"))["version"], 1);
  EXPECT_EQ(Run("models show nope").code, 3);
  EXPECT_EQ(Run("models show 'bad name'").code, 2);
}

TEST_F(RegistryCli, PromoteGateRollbackAndDiff) {
  MakeConfig(dir_, "recs.toml", "recs", "ease", "lambda = 10.0\n");
  Train("recs.toml");
  Train("recs.toml", "--set model.lambda=500");
  // Family popularity has no lambda: given by --set (a file's lambda would be dropped with a
  // notice when --set switches the family), that run fails after it was recorded and registers
  // nothing.
  CliResult bad = Run("train " + dir_.file("recs.toml") +
                      " -q --set model.family=popularity --set model.lambda=5");
  EXPECT_EQ(bad.code, 2) << bad.err;
  nlohmann::json failed = Json(Run("runs show 3 --json"));
  EXPECT_EQ(failed["status"], "failed");
  EXPECT_NE(failed["log"].get<std::string>().find("lambda"), std::string::npos);
  EXPECT_TRUE(failed["version"].is_null());

  nlohmann::json p = Json(Run("models promote recs 1 --alias production --json"));
  EXPECT_EQ(p["to_version"], 1);
  EXPECT_TRUE(p["from_version"].is_null());
  EXPECT_EQ(p["checks"].size(), 3u);
  // Alias-relative gate: v2 against production (v1), same dataset and protocol.
  const double m1 = Json(Run("models show recs/1 --json"))["metrics"]["ndcg@10"].get<double>();
  const double m2 = Json(Run("models show recs/2 --json"))["metrics"]["ndcg@10"].get<double>();
  CliResult gate = Run("models promote recs/2 --alias production --require 'ndcg@10>=production'");
  if (m2 >= m1) {
    EXPECT_EQ(gate.code, 0) << gate.err;
  } else {
    EXPECT_EQ(gate.code, 5);
    EXPECT_NE(gate.err.find("refused: ndcg@10"), std::string::npos) << gate.err;
    Json(Run("models promote recs 2 --alias production --json"));  // no gate: allowed
  }
  // A number the metric cannot reach is refused with the values.
  CliResult refused = Run("models promote recs@production --alias staging --require 'mrr>1.5'");
  EXPECT_EQ(refused.code, 5);
  EXPECT_NE(refused.err.find("refused: mrr"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("<= 1.5 (required: mrr > 1.5)"), std::string::npos) << refused.err;
  EXPECT_EQ(Run("models promote recs 2 --alias staging --require 'nope@3>=production'").code, 5);
  EXPECT_EQ(Run("models promote recs 2 --alias staging --require 'gibberish'").code, 2);
  EXPECT_EQ(Run("models promote recs 9 --alias staging").code, 3);
  EXPECT_EQ(Run("models promote recs 2 --alias 7").code, 2);

  nlohmann::json show = Json(Run("models show recs --json"));
  EXPECT_EQ(show["aliases"]["production"], 2);
  EXPECT_EQ(show["alias_history"].size(), 2u);
  EXPECT_EQ(Json(Run("models show recs@production --json"))["version"], 2);

  nlohmann::json rb = Json(Run("models rollback recs --alias production --json"));
  EXPECT_EQ(rb["from_version"], 2);
  EXPECT_EQ(rb["to_version"], 1);
  EXPECT_EQ(rb["action"], "rollback");
  CliResult again = Run("models rollback recs --alias production");
  EXPECT_EQ(again.code, 5);
  EXPECT_NE(again.err.find("no earlier version"), std::string::npos) << again.err;
  EXPECT_EQ(Run("models rollback recs --alias staging").code, 5);  // never set

  nlohmann::json d = Json(Run("models diff recs 1 2 --json"));
  ASSERT_EQ(d["params"].size(), 1u);
  EXPECT_EQ(d["params"][0]["name"], "lambda");
  EXPECT_EQ(d["metrics"].size(), 3u);
  EXPECT_TRUE(d["dataset"]["same"].get<bool>());
  EXPECT_TRUE(d["protocol"]["same"].get<bool>());
  CliResult dh = Run("models diff recs production v2");
  ASSERT_EQ(dh.code, 0) << dh.err;
  EXPECT_NE(dh.out.find("lambda"), std::string::npos);
  EXPECT_NE(dh.out.find("dataset: same"), std::string::npos) << dh.out;

  nlohmann::json tags = Json(Run("models tag recs@production reviewed=yes owner=ana --json"));
  EXPECT_EQ(tags["version"], 1);
  EXPECT_EQ(tags["tags"]["owner"], "ana");
  tags = Json(Run("models tag recs/1 --remove owner --json"));
  EXPECT_FALSE(tags["tags"].contains("owner"));
  EXPECT_EQ(Json(Run("models show recs/1 --json"))["tags"]["reviewed"], "yes");
  ASSERT_EQ(Run("models describe recs 'EASE on plays'").code, 0);
  EXPECT_EQ(Json(Run("models show recs --json"))["description"], "EASE on plays");
}

TEST_F(RegistryCli, GateRefusesDifferentDatasetsAndProtocols) {
  MakeConfig(dir_, "recs.toml", "recs", "ease", "lambda = 10.0\n");
  Train("recs.toml");
  Json(Run("models promote recs 1 --alias production --json"));
  // Same model name, another split seed: a different protocol.
  Train("recs.toml", "--set split.seed=7");
  CliResult r = Run("models promote recs 2 --alias production --require 'recall@5>=production'");
  EXPECT_EQ(r.code, 5);
  EXPECT_NE(r.err.find("the evaluation protocols differ"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("seed 98765 vs 7"), std::string::npos) << r.err;
  // Another training file: a different dataset.
  MakePlays(dir_, "more.tsv", 80);
  Train("recs.toml", "--set data.train=more.tsv");
  r = Run("models promote recs 3 --alias production --require 'recall@5>=production'");
  EXPECT_EQ(r.code, 5);
  EXPECT_NE(r.err.find("evaluated on dataset"), std::string::npos) << r.err;
  nlohmann::json d = Json(Run("models diff recs 1 3 --json"));
  EXPECT_FALSE(d["dataset"]["same"].get<bool>());
  EXPECT_EQ(d["dataset"]["b"]["name"], "more");
  EXPECT_EQ(Json(Run("models show recs --json"))["aliases"]["production"], 1);
}

TEST_F(RegistryCli, DamagedArtifactIsRefusedOnPromote) {
  MakeConfig(dir_, "recs.toml", "recs");
  nlohmann::json a = Train("recs.toml");
  const std::string path = a["artifact"].get<std::string>();
  std::string bytes = Env::Default()->ReadFile(path);
  bytes[bytes.size() - 3] ^= 0x01;
  testing::WriteText(path, bytes);
  CliResult r = Run("models promote recs 1 --alias production");
  EXPECT_EQ(r.code, 5);
  EXPECT_NE(r.err.find("refused: recs/1 failed the publish check"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("damaged"), std::string::npos) << r.err;
  CliResult check = Run("gc --check --json");
  EXPECT_EQ(check.code, 6);
  EXPECT_FALSE(nlohmann::json::parse(check.out)["ok"].get<bool>());
}

TEST_F(RegistryCli, GcRemovesWhatNothingReferences) {
  MakeConfig(dir_, "recs.toml", "recs");
  nlohmann::json a = Train("recs.toml");
  const std::string orphan = Sha256Hex("not a model");
  testing::WriteText(home_ + "/artifacts/" + orphan + ".mqm", "not a model");
  testing::WriteText(home_ + "/artifacts/incoming-999999-00.mqm.tmp.999999.0", "partial");
  nlohmann::json dry = Json(Run("gc --dry-run --json"));
  EXPECT_EQ(dry["removed"], nlohmann::json::array({orphan}));
  EXPECT_TRUE(std::filesystem::exists(home_ + "/artifacts/" + orphan + ".mqm"));
  nlohmann::json g = Json(Run("gc --json"));
  EXPECT_EQ(g["removed"], nlohmann::json::array({orphan}));
  EXPECT_EQ(g["temporaries"].size(), 1u);
  EXPECT_EQ(g["kept"], 1);
  EXPECT_FALSE(std::filesystem::exists(home_ + "/artifacts/" + orphan + ".mqm"));
  EXPECT_TRUE(std::filesystem::exists(a["artifact"].get<std::string>()));
  EXPECT_TRUE(Json(Run("gc --check --json"))["ok"].get<bool>());
}

TEST_F(RegistryCli, BadModelNameFailsBeforeAnyRunIsRecorded) {
  MakeConfig(dir_, "recs.toml", "no spaces please");
  CliResult r = Run("train " + dir_.file("recs.toml") + " -q");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("not a valid model name"), std::string::npos) << r.err;
  EXPECT_EQ(Json(Run("runs list --json"))["total"], 0);
}

TEST_F(RegistryCli, TwoTrainsFinishingAtOnceBothRegister) {
  MakeConfig(dir_, "recs.toml", "recs");
  // Create the store first half the time, let the two processes race to create it otherwise.
  for (int round = 0; round < 2; ++round) {
    const std::string home = dir_.file("home" + std::to_string(round));
    if (round == 1) RunCli("models list", home);
    pid_t a = testing::SpawnCli({"--home", home, "-q", "train", dir_.file("recs.toml"), "--json"},
                                dir_.file("a.log"));
    pid_t b = testing::SpawnCli({"--home", home, "-q", "train", dir_.file("recs.toml"), "--json",
                                 "--set", "model.lambda=7"},
                                dir_.file("b.log"));
    ASSERT_GT(a, 0);
    ASSERT_GT(b, 0);
    EXPECT_EQ(testing::WaitChild(a), 0) << testing::Slurp(dir_.file("a.log"));
    EXPECT_EQ(testing::WaitChild(b), 0) << testing::Slurp(dir_.file("b.log"));
    std::set<int64_t> versions;
    for (const char* log : {"a.log", "b.log"}) {
      versions.insert(
          nlohmann::json::parse(testing::Slurp(dir_.file(log)))["version"].get<int64_t>());
    }
    EXPECT_EQ(versions, (std::set<int64_t>{1, 2}));
    nlohmann::json list = Json(RunCli("runs list --json", home));
    ASSERT_EQ(list["runs"].size(), 2u);
    for (const auto& r : list["runs"]) EXPECT_EQ(r["status"], "completed");
    EXPECT_TRUE(Json(RunCli("gc --check --json", home))["ok"].get<bool>());
  }
}

// Issue #12: `: > registry.db; marquee gc` printed "Removed 4 artifact(s)". A registry that is
// missing or empty beside existing artifacts is refused as corruption (exit 6) by every command,
// and nothing is deleted or created.
TEST_F(RegistryCli, EmptyOrMissingRegistryBesideArtifactsIsRefusedAndGcDeletesNothing) {
  MakeConfig(dir_, "recs.toml", "recs");
  const std::string artifact = Train("recs.toml")["artifact"].get<std::string>();
  Train("recs.toml", "--set model.lambda=3");
  const std::string db = home_ + "/registry.db";
  std::ofstream(db, std::ios::trunc).close();  // : > registry.db
  for (const char* cmd : {"gc", "gc --dry-run --json", "runs list", "models list --json"}) {
    CliResult r = Run(cmd);
    EXPECT_EQ(r.code, 6) << cmd << ": " << r.out << r.err;
    EXPECT_NE(r.err.find("is an empty file"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("lost or damaged, not new"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("Removed"), std::string::npos) << r.out;
  }
  EXPECT_TRUE(std::filesystem::exists(artifact));
  EXPECT_EQ(std::filesystem::file_size(db), 0u);
  std::filesystem::remove(db);
  CliResult r = Run("gc");
  EXPECT_EQ(r.code, 6) << r.err;
  EXPECT_NE(r.err.find("is missing"), std::string::npos) << r.err;
  CliResult t = Run("train " + dir_.file("recs.toml") + " -q");
  EXPECT_EQ(t.code, 6) << t.err;
  EXPECT_TRUE(std::filesystem::exists(artifact));
  EXPECT_FALSE(std::filesystem::exists(db));
}

// Issue #12: a home with catalogued datasets but no registry is damaged too. `dataset import`
// creates the registry before it writes the catalog, so a lost registry.db is refused (exit 6,
// naming the datasets) instead of being created again empty.
TEST_F(RegistryCli, DatasetsWithoutTheirRegistryAreRefusedAsDamaged) {
  CliResult imp = Run("dataset import " + dir_.file("plays.tsv") + " --name plays -q");
  ASSERT_EQ(imp.code, 0) << imp.err;
  const std::string db = home_ + "/registry.db";
  ASSERT_TRUE(std::filesystem::exists(db)) << "dataset import did not create the registry";
  EXPECT_EQ(Run("runs list").code, 0);
  std::filesystem::remove(db);
  for (const char* cmd : {"runs list", "gc", "models list --json"}) {
    CliResult r = Run(cmd);
    EXPECT_EQ(r.code, 6) << cmd << ": " << r.out << r.err;
    EXPECT_NE(r.err.find("names 1 catalogued datasets"), std::string::npos) << r.err;
  }
  EXPECT_FALSE(std::filesystem::exists(db)) << "a lost registry was created again";
  EXPECT_EQ(Run("dataset list").code, 0) << "the catalog itself stays readable";
}

// Issue #12: the same refusal in gc itself, for a store that refers to none of the artifacts
// (here: another, empty registry through MARQUEE_REGISTRY_URL); --force overrides it.
TEST_F(RegistryCli, GcRefusesAStoreThatKnowsNoArtifactUnlessForced) {
  MakeConfig(dir_, "recs.toml", "recs");
  const std::string artifact = Train("recs.toml")["artifact"].get<std::string>();
  const std::string other = dir_.file("other.db");
  {
    setenv("MARQUEE_REGISTRY_URL", ("sqlite:" + other).c_str(), 1);
    // Created on purpose by a store that opens it without this home (an empty registry).
    OpenSqliteStore(other);
    CliResult r = Run("gc");
    CliResult forced = Run("gc --force --json");
    unsetenv("MARQUEE_REGISTRY_URL");
    EXPECT_EQ(r.code, 5) << r.err;
    EXPECT_NE(r.err.find("refers to none of the 1 artifact(s)"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
    EXPECT_EQ(Json(forced)["removed"].size(), 1u);
  }
  EXPECT_FALSE(std::filesystem::exists(artifact));
}

// Issue #12: tag keys follow the name rule (no 100,000-byte keys, newlines or escape sequences),
// values are bounded, and every human-readable output escapes control characters.
TEST_F(RegistryCli, TagKeysAreValidatedAndShowEscapesControlCharacters) {
  MakeConfig(dir_, "recs.toml", "recs");
  Train("recs.toml");
  EXPECT_EQ(Run("models tag recs/1 " + std::string(100000, 'k') + "=v").code, 2);
  CliResult nl = Run("models tag recs/1 \"$(printf 'two\\nlines=v')\"");
  EXPECT_EQ(nl.code, 2) << nl.err;
  EXPECT_NE(nl.err.find("invalid tag key name"), std::string::npos) << nl.err;
  EXPECT_EQ(Run("models tag recs/1 \"$(printf '\\033[2J=v')\"").code, 2);
  EXPECT_EQ(Run("models tag recs/1 k=" + std::string(2000, 'v')).code, 2);
  EXPECT_EQ(Run("models tag recs/1 good=1 'bad key=2'").code, 2);  // one bad: none set
  EXPECT_EQ(Json(Run("models show recs/1 --json"))["tags"].size(), 0u);
  // Values and descriptions may hold control characters; they are printed escaped.
  ASSERT_EQ(Run("models tag recs/1 \"colour=$(printf '\\033[31mred\\033[0m')\"").code, 0);
  ASSERT_EQ(Run("models tag recs \"t=$(printf 'bell\\007')\"").code, 0);
  ASSERT_EQ(Run("models describe recs \"$(printf 'one\\ntwo\\033]0;pwned\\007')\"").code, 0);
  ASSERT_EQ(Run("models promote recs 1 --alias production --note \"$(printf 'n\\033[1m')\"").code,
            0);
  for (const char* cmd : {"models show recs/1", "models show recs", "models tag recs/1",
                          "models versions recs", "models list", "runs show 1", "runs list"}) {
    CliResult r = Run(cmd);
    ASSERT_EQ(r.code, 0) << cmd << ": " << r.err;
    for (char c : r.out) {
      const unsigned char u = static_cast<unsigned char>(c);
      ASSERT_FALSE((u < 0x20 && c != '\n') || u == 0x7f)
          << cmd << " printed byte " << int(u) << ":\n"
          << r.out;
    }
  }
  CliResult show = Run("models show recs");
  EXPECT_NE(show.out.find("one\\ntwo\\x1b]0;pwned\\x07"), std::string::npos) << show.out;
  EXPECT_NE(Run("models show recs/1").out.find("colour=\\x1b[31mred"), std::string::npos);
  // JSON keeps the exact bytes.
  EXPECT_EQ(Json(Run("models show recs/1 --json"))["tags"]["colour"], "\x1b[31mred\x1b[0m");
}

// Issue #12: `dataset import --name ''` used the file's stem, and names starting with '-' were
// accepted; both are refused, with nothing imported.
TEST_F(RegistryCli, DatasetNamesEmptyOrStartingWithDashAreRefused) {
  const std::string plays = dir_.file("plays.tsv");
  CliResult empty = Run("dataset import " + plays + " --name ''");
  EXPECT_EQ(empty.code, 2) << empty.out << empty.err;
  EXPECT_NE(empty.err.find("invalid dataset name '': it is empty"), std::string::npos) << empty.err;
  CliResult dash = Run("dataset import " + plays + " --name=-plays");
  EXPECT_EQ(dash.code, 2) << dash.err;
  EXPECT_NE(dash.err.find("starts with '-'"), std::string::npos) << dash.err;
  EXPECT_EQ(Run("dataset generate --name=-x --users 10 --items 10 --interactions 50").code, 2);
  EXPECT_EQ(Run("dataset import " + plays + " --format tabular --label x --name ''").code, 2);
  EXPECT_TRUE(Json(Run("dataset list --json")).empty() ||
              Json(Run("dataset list --json")).dump().find("plays") == std::string::npos);
  EXPECT_EQ(Run("dataset import " + plays + " --name plays").code, 0);  // a valid name works
}

// Issue #12: kill -9 during `dataset import` left .incoming-* temporaries that gc never removed.
// Their names now carry the writer's pid; gc lists them (--dry-run too) and removes them.
TEST_F(RegistryCli, SlowKillNineDuringDatasetImportLeavesNothingGcCannotRemove) {
  // Big enough that writing the snapshot takes a while (about 40 MB of rows).
  const std::string big = dir_.file("big.tsv");
  {
    std::ofstream f(big);
    std::mt19937 rng(5);
    for (int i = 0; i < 2000000; ++i) {
      f << "u" << rng() % 200000 << "\ti" << rng() % 20000 << "\t" << 1 + rng() % 5 << "\t"
        << 1000000 + i << "\n";
    }
  }
  MakeConfig(dir_, "recs.toml", "recs");
  Train("recs.toml");  // a registry with a model: gc has something to keep
  const std::string objects = home_ + "/datasets/objects";
  auto temporaries = [&] {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(objects, ec)) {
      const std::string n = e.path().filename().string();
      if (n.rfind(".incoming-", 0) == 0) out.push_back(n);
    }
    return out;
  };
  bool caught = false;
  for (int attempt = 0; attempt < 5 && !caught; ++attempt) {
    pid_t pid =
        testing::SpawnCli({"--home", home_, "-q", "dataset", "import", big, "--name", "big"},
                          dir_.file("import.log"));
    ASSERT_GT(pid, 0);
    // Kill it as soon as its snapshot's temporary file appears.
    for (int i = 0; i < 200000 && temporaries().empty(); ++i) {
      if (waitpid(pid, nullptr, WNOHANG) == pid) {
        pid = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (pid < 0) continue;  // it finished first; try again
    ::kill(pid, SIGKILL);
    testing::WaitChild(pid);
    caught = !temporaries().empty();
    if (caught) {
      for (const auto& n : temporaries()) {
        EXPECT_NE(n.find(std::to_string(pid)), std::string::npos) << n;  // the writer's pid
      }
    }
  }
  ASSERT_TRUE(caught) << "no import was caught mid-write";
  const std::vector<std::string> left = temporaries();
  nlohmann::json dry = Json(Run("gc --dry-run --json"));
  EXPECT_EQ(dry["temporaries"].size(), left.size()) << dry.dump();
  EXPECT_EQ(temporaries(), left);  // a dry run removes nothing
  CliResult text = Run("gc --dry-run");
  EXPECT_NE(text.out.find("datasets/objects/.incoming-"), std::string::npos) << text.out;
  nlohmann::json g = Json(Run("gc --json"));
  EXPECT_EQ(g["temporaries"].size(), left.size()) << g.dump();
  EXPECT_TRUE(temporaries().empty());
  EXPECT_EQ(g["kept"], 1);
}

// Issue #12: on a full disk, read-only commands failed with a vague "disk I/O error", so gc could
// not free space. On a tmpfs filled to the last byte: reads work, gc frees space (and says what it
// could not record), writes fail saying "no space left on device" (exit 9), and after gc the
// same write succeeds.
TEST_F(RegistryCli, SlowFullDiskReadsWorkGcFreesSpaceAndWritesSayNoSpace) {
  const std::string disk = dir_.file("disk");
  std::filesystem::create_directories(disk);
  if (::mount("tmpfs", disk.c_str(), "tmpfs", 0, "size=48m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs at " << disk << " (" << std::strerror(errno)
                 << "); this test needs root";
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{disk};
  home_ = disk + "/home";
  MakeConfig(dir_, "recs.toml", "recs");
  Train("recs.toml");
  Train("recs.toml", "--set model.lambda=3");
  // An orphan artifact (1 MiB) for gc to free, and a run whose process is gone.
  std::string junk(1 << 20, '\0');
  std::mt19937 rng(3);
  for (auto& c : junk) c = static_cast<char>(rng());
  const std::string orphan = Sha256Hex(junk);
  testing::WriteText(home_ + "/artifacts/" + orphan + ".mqm", junk);
  int64_t dead_run = 0;
  {
    Registry reg(home_);
    RunRecord r;
    r.model_name = "recs";
    r.family = "ease";
    r.host = DefaultProcessProbe().host;
    r.pid = 999999;
    r.started_at = 1;
    dead_run = reg.store().CreateRun(r);
  }
  // Fill the disk to the last byte.
  auto fill = [&](const std::string& name) {
    const int fd = ::open((disk + "/" + name).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    std::string chunk(1 << 20, 'x');
    for (size_t n = chunk.size(); n > 0;) {
      if (::write(fd, chunk.data(), n) < 0) {
        ASSERT_EQ(errno, ENOSPC);
        n /= 2;
      }
    }
    ::close(fd);
    ASSERT_EQ(testing::WriteTextChecked(disk + "/probe", "x"), -ENOSPC) << "the disk is not full";
  };
  fill("filler");

  // Reads work.
  EXPECT_EQ(Json(Run("runs list --json"))["total"], 3);
  EXPECT_EQ(Json(Run("models list --json"))["models"].size(), 1u);
  EXPECT_EQ(Json(Run("models show recs/2 --json"))["version"], 2);
  CliResult table = Run("runs list");
  EXPECT_EQ(table.code, 0) << table.err;
  EXPECT_TRUE(Json(Run("gc --check --json"))["ok"].get<bool>());
  EXPECT_EQ(Json(Run("gc --dry-run --json"))["removed"], nlohmann::json::array({orphan}));
  // A write says why it failed.
  CliResult tag = Run("models tag recs/1 reviewed=yes");
  EXPECT_EQ(tag.code, 9) << tag.err;
  EXPECT_NE(tag.err.find("no space left on device"), std::string::npos) << tag.err;
  // gc frees the space; the run it could not mark is reported, not fatal.
  nlohmann::json g = Json(Run("gc --json"));
  EXPECT_EQ(g["removed"], nlohmann::json::array({orphan}));
  ASSERT_EQ(g["warnings"].size(), 1u) << g.dump();
  EXPECT_NE(g["warnings"][0].get<std::string>().find("no space left on device"), std::string::npos);
  // With 1 MiB free again, writes succeed, and the next gc records the interrupted run.
  EXPECT_EQ(Run("models tag recs/1 reviewed=yes").code, 0);
  nlohmann::json again = Json(Run("gc --json"));
  EXPECT_EQ(again["interrupted_runs"], nlohmann::json::array({dead_run}));
  EXPECT_TRUE(again["warnings"].empty());
  EXPECT_TRUE(Json(Run("gc --check --json"))["ok"].get<bool>());

  // A home whose -shm file is gone (an older marquee deleted it on close): on a full disk SQLite
  // cannot create it, and the registry is read with its WAL index in memory instead.
  std::filesystem::remove(home_ + "/registry.db-shm");
  std::filesystem::remove(home_ + "/registry.db-wal");
  fill("filler2");
  EXPECT_EQ(Json(Run("runs list --json"))["total"], 3);
  EXPECT_EQ(Json(Run("models show recs/1 --json"))["tags"]["reviewed"], "yes");
  EXPECT_TRUE(Json(Run("gc --json"))["warnings"].empty());
  CliResult full = Run("models tag recs/1 more=no");
  EXPECT_EQ(full.code, 9) << full.err;
  EXPECT_NE(full.err.find("no space left on device"), std::string::npos) << full.err;
}

// kill -9 at random points of `marquee train` (and of `models promote`), then check that the
// store is consistent: every version's artifact exists and verifies, every alias names an
// existing version, completed runs and versions agree, version numbers have no gaps.
TEST_F(RegistryCli, SlowKillNineAtRandomPointsLeavesTheStoreConsistent) {
  MakeConfig(dir_, "recs.toml", "recs", "itemknn");
  using Clock = std::chrono::steady_clock;
  // How long one uninterrupted train takes, process start to exit (median of three).
  std::vector<double> full;
  for (int i = 0; i < 3; ++i) {
    auto t0 = Clock::now();
    pid_t pid = testing::SpawnCli({"--home", home_, "-q", "train", dir_.file("recs.toml")},
                                  dir_.file("warm.log"));
    ASSERT_EQ(testing::WaitChild(pid), 0) << testing::Slurp(dir_.file("warm.log"));
    full.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  std::sort(full.begin(), full.end());
  // Re-estimated from every train that finishes before its kill (the machine's load varies).
  double full_us = full[0];
  const uint32_t seed = std::random_device{}();
  std::mt19937 rng(seed);
  // Half the kills anywhere in the process's life, half in its last third, where the artifact
  // is saved and the version registered.
  std::uniform_real_distribution<double> anywhere(0.0, 1.05), late(0.65, 1.05);
  auto frac = [&](std::mt19937& g) { return g() % 2 ? anywhere(g) : late(g); };
  constexpr int kIterations = 100;
  int killed = 0, finished = 0, orphaned = 0, stuck = 0;
  size_t orphans_before = 0;
  for (int i = 0; i < kIterations; ++i) {
    std::vector<std::string> args = {"--home",
                                     home_,
                                     "-q",
                                     "train",
                                     dir_.file("recs.toml"),
                                     "--json",
                                     "--set",
                                     "model.neighbors=" + std::to_string(5 + i % 10)};
    if (i % 4 == 3) {
      args = {"--home",
              home_,
              "-q",
              "models",
              "promote",
              "recs",
              std::to_string(1 + static_cast<int>(rng() % 2)),
              "--alias",
              "production"};
    }
    auto start = Clock::now();
    pid_t pid = testing::SpawnCli(args, dir_.file("crash.log"));
    ASSERT_GT(pid, 0);
    std::this_thread::sleep_for(
        std::chrono::microseconds(static_cast<int64_t>(frac(rng) * full_us)));
    ::kill(pid, SIGKILL);
    const int status = testing::WaitChild(pid);
    (status == -SIGKILL ? killed : finished)++;
    if (status == 0 && args[3] == "train") {
      // It finished before the kill: its own duration bounds the window better.
      const double took = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
      full_us = std::min(full_us, 0.5 * (full_us + took));
    }

    Registry reg(home_);
    std::vector<std::string> problems = reg.CheckConsistency();
    ASSERT_TRUE(problems.empty()) << "seed " << seed << ", iteration " << i << ": "
                                  << problems.front();
    auto versions = reg.store().ListVersions("recs");
    for (size_t k = 0; k < versions.size(); ++k) {
      ASSERT_EQ(versions[k].version, static_cast<int64_t>(k + 1)) << "seed " << seed;
    }
    RunQuery q;
    q.status = RunStatus::kCompleted;
    EXPECT_EQ(reg.store().CountRuns(q), static_cast<int64_t>(versions.size())) << "seed " << seed;
    // Which window the kill hit: after the artifact was saved but before it was registered
    // (an orphan artifact appears), or while the run was recorded as running.
    const auto referenced = reg.store().ReferencedArtifacts();
    size_t orphans = 0;
    for (const auto& digest : reg.artifacts().List()) orphans += referenced.count(digest) == 0;
    orphaned += orphans > orphans_before;
    orphans_before = orphans;
    if (status == -SIGKILL && args[3] == "train") {
      RunQuery last;
      last.limit = 1;
      auto newest = reg.ListRuns(last);
      stuck += !newest.empty() && newest[0].status == RunStatus::kInterrupted;
    }
  }
  std::printf(
      "kill -9 test (seed %u): %d killed mid-way (%d leaving an interrupted run, %d between "
      "saving and registering the artifact), %d finished first\n",
      seed, killed, stuck, orphaned, finished);
  EXPECT_GT(killed, kIterations / 5);
  // Afterwards: gc clears what the killed runs left, the store stays consistent, and training
  // goes on with the next version number.
  nlohmann::json g = Json(Run("gc --json"));
  Registry reg(home_);
  EXPECT_TRUE(reg.CheckConsistency().empty());
  for (const auto& digest : reg.artifacts().List()) {
    EXPECT_TRUE(reg.store().ReferencedArtifacts().count(digest)) << digest;
  }
  RunQuery running;
  running.status = RunStatus::kRunning;
  EXPECT_EQ(reg.store().CountRuns(running), 0);  // gc marked the dead ones interrupted
  const int64_t before = reg.store().GetModel("recs")->latest_version;
  EXPECT_EQ(Train("recs.toml")["version"], before + 1);
}

}  // namespace
}  // namespace marquee

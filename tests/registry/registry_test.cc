// Registry facade: references, gates, publish safety (smoke test), promote/rollback, diff, gc.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>

#include "kinds/builtin.h"
#include "kinds/recommender/model_bundle.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "marquee/recommender.h"
#include "registry/json.h"
#include "registry/registry.h"
#include "registry/sqlite_store.h"
#include "registry_test_util.h"
#include "test_util.h"

namespace marquee {
namespace {

using testing::ExpectError;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    alive_ = std::make_shared<std::set<int64_t>>();
    RegistryOptions o;
    o.home = dir_.file("home");
    ProcessProbe p;
    p.host = "test-host";
    p.pid = 4242;
    auto alive = alive_;
    p.alive = [alive](const std::string& host, int64_t pid) {
      return host != "test-host" || alive->count(pid) > 0;
    };
    o.probe = p;
    o.kinds = &BuiltinKinds();
    reg_ = std::make_unique<Registry>(std::move(o));
  }

  // Saves a popularity model (weights `value` per interaction) and returns its digest.
  std::string SaveModel(float value, int items = 5) {
    auto m = CreateRecommender("popularity", {{"weighted", true}});
    std::vector<uint32_t> r, c;
    std::vector<float> v;
    for (int i = 0; i < items; ++i) {
      r.push_back(0);
      c.push_back(static_cast<uint32_t>(i));
      v.push_back(value + static_cast<float>(i));
    }
    CsrMatrix x = CsrMatrix::FromTriplets(1, static_cast<uint32_t>(items), r, c, v);
    Context ctx;
    m->Fit(x, ctx);
    std::vector<std::string> ids;
    for (int i = 0; i < items; ++i) ids.push_back("item" + std::to_string(i));
    std::string digest;
    SaveModelBundle(*m, ids, {{"test", true}}, dir_.file("home"), Env::Default(), &digest);
    return digest;
  }

  // Registers a version of `model` with recall@20 = `recall`.
  VersionRecord Register(const std::string& model, double recall, std::string dataset = "d1",
                         std::string protocol_key = "p1", float weight = 1.0f) {
    NewVersion v;
    v.model_name = model;
    v.artifact = SaveModel(weight + static_cast<float>(++counter_));
    v.dataset_id = dataset;
    v.family = "popularity";
    v.protocol = "strong-generalization";
    v.protocol_key = protocol_key;
    v.metrics = {{"recall@20", recall}, {"ndcg@100", recall / 2}};
    v.metric_order = {"recall@20", "ndcg@100"};
    v.params = {{"weighted", true}};
    v.created_at = 1000 + counter_;
    DatasetRecord d;
    d.id = dataset;
    d.kind = "snapshot";
    d.name = "ds-" + dataset;
    d.first_seen_at = 1;
    reg_->store().PutDataset(d);
    return reg_->store().RegisterVersion(v);
  }

  testing::TempDir dir_;
  std::unique_ptr<Registry> reg_;
  std::shared_ptr<std::set<int64_t>> alive_;
  int counter_ = 0;
};

TEST(ModelRefs, ParseEveryForm) {
  ModelRef r = ParseModelRef("recs");
  EXPECT_EQ(r.model, "recs");
  EXPECT_EQ(r.version, 0);
  EXPECT_TRUE(r.alias.empty());
  r = ParseModelRef("recs@production");
  EXPECT_EQ(r.alias, "production");
  EXPECT_EQ(r.ToString(), "recs@production");
  r = ParseModelRef("recs/12");
  EXPECT_EQ(r.version, 12);
  EXPECT_EQ(ParseModelRef("recs/v3").version, 3);
  EXPECT_EQ(ParseModelRef("ml-100k_ease.v2/4").model, "ml-100k_ease.v2");
  for (const char* bad :
       {"", "recs/", "recs/0", "recs/x", "recs@", "@prod", "a b", "recs@3", "recs/3/4", "r@a@b"}) {
    EXPECT_THROW(ParseModelRef(bad), Error) << bad;
  }
  EXPECT_THROW(ValidateAlias("3"), Error);
  EXPECT_THROW(ValidateAlias("v3"), Error);
  EXPECT_NO_THROW(ValidateAlias("production"));
  EXPECT_THROW(ValidateModelName("my model"), Error);
}

TEST(Gates, ParseNumbersAndAliases) {
  Gate g = ParseGate("recall@20>=production");
  EXPECT_EQ(g.metric, "recall@20");
  EXPECT_EQ(g.op, ">=");
  EXPECT_EQ(g.alias, "production");
  EXPECT_FALSE(g.threshold);
  g = ParseGate("ndcg@100 > 0.35");
  EXPECT_EQ(g.op, ">");
  ASSERT_TRUE(g.threshold);
  EXPECT_DOUBLE_EQ(*g.threshold, 0.35);
  EXPECT_EQ(ParseGate("mrr<=1").op, "<=");
  EXPECT_EQ(ParseGate("mrr < staging").op, "<");
  for (const char* bad : {"recall@20", ">= 0.3", "recall@20 >=", "recall@20 >= a b"}) {
    EXPECT_THROW(ParseGate(bad), Error) << bad;
  }
}

TEST_F(RegistryTest, ResolvesNamesAliasesAndVersions) {
  Register("m", 0.1);
  Register("m", 0.2);
  EXPECT_EQ(reg_->Resolve("m").version, 2);  // bare name: the latest
  EXPECT_EQ(reg_->Resolve("m/1").version, 1);
  reg_->Promote("m/1", "production", {});
  EXPECT_EQ(reg_->Resolve("m@production").version, 1);
  EXPECT_EQ(reg_->ResolveIn("m", "production").version, 1);
  EXPECT_EQ(reg_->ResolveIn("m", "v2").version, 2);
  EXPECT_EQ(reg_->ResolveIn("m", "m/2").version, 2);
  ExpectError([&] { reg_->Resolve("nope"); }, ErrorCode::kNotFound, "no model named 'nope'");
  ExpectError([&] { reg_->Resolve("m/9"); }, ErrorCode::kNotFound, "no version 9 (latest is 2)");
  ExpectError([&] { reg_->Resolve("m@staging"); }, ErrorCode::kNotFound,
              "no alias 'staging' (aliases: production)");
}

TEST_F(RegistryTest, PromoteRunsTheSmokeTestAndRecordsHistory) {
  Register("m", 0.1);
  PromoteResult r = reg_->Promote("m/1", "production", {}, "first");
  EXPECT_EQ(r.from_version, 0);
  EXPECT_EQ(r.to_version, 1);
  ASSERT_EQ(r.checks.size(), 3u);
  EXPECT_NE(r.checks[0].find("sha256 verified"), std::string::npos);
  EXPECT_NE(r.checks[2].find("all finite"), std::string::npos);
  auto h = reg_->store().AliasHistory("m", "production");
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].note, "first");
  // Promoting what the alias already holds is a no-op.
  EXPECT_EQ(reg_->Promote("m/1", "production", {}).action, "none");
  EXPECT_EQ(reg_->store().AliasHistory("m", "production").size(), 1u);
}

TEST_F(RegistryTest, DamagedArtifactIsRefusedWithTheReason) {
  VersionRecord v1 = Register("m", 0.1);
  VersionRecord v2 = Register("m", 0.2);
  reg_->Promote("m/1", "production", {});
  // Flip one byte in the middle of v2's artifact.
  const std::string path = reg_->artifacts().PathFor(v2.artifact);
  std::string bytes = Env::Default()->ReadFile(path);
  bytes[bytes.size() / 2] ^= 0x5a;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  ExpectError([&] { reg_->Promote("m/2", "production", {}); }, ErrorCode::kFailedPrecondition,
              "refused: m/2 failed the publish check: artifact");
  EXPECT_EQ(reg_->store().GetAlias("m", "production"), 1);  // the alias did not move
  // A missing artifact likewise.
  Env::Default()->RemoveFile(path);
  ExpectError([&] { reg_->Promote("m/2", "production", {}); }, ErrorCode::kFailedPrecondition,
              "is missing");
  auto problems = reg_->CheckConsistency();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("m/2: artifact"), std::string::npos) << problems[0];
}

TEST_F(RegistryTest, NonFiniteScoresAreRefused) {
  NewVersion v;
  v.model_name = "m";
  v.artifact = SaveModel(std::numeric_limits<float>::quiet_NaN());
  v.family = "popularity";
  v.created_at = 1;
  reg_->store().RegisterVersion(v);
  ExpectError([&] { reg_->Promote("m/1", "production", {}); }, ErrorCode::kFailedPrecondition,
              "non-finite scores of 5");
  EXPECT_FALSE(reg_->store().GetAlias("m", "production"));
}

TEST_F(RegistryTest, GateAgainstAliasPassesAndFailsWithNumbers) {
  Register("m", 0.41);
  Register("m", 0.38);
  Register("m", 0.45);
  // No production yet: an alias gate has nothing to compare with and passes.
  PromoteResult first = reg_->Promote("m/1", "production", {"recall@20>=production"});
  EXPECT_NE(first.checks.back().find("not set yet"), std::string::npos);
  ExpectError([&] { reg_->Promote("m/2", "production", {"recall@20>=production"}); },
              ErrorCode::kFailedPrecondition, "refused: recall@20 0.38 < production (v1) 0.41");
  EXPECT_EQ(reg_->store().GetAlias("m", "production"), 1);
  PromoteResult r = reg_->Promote("m/3", "production", {"recall@20>=production", "ndcg@100>0.2"});
  EXPECT_EQ(r.to_version, 3);
  EXPECT_NE(r.checks[3].find("0.45 >= 0.41"), std::string::npos) << r.checks[3];
  ExpectError([&] { reg_->Promote("m/2", "staging", {"recall@20 >= 0.4"}); },
              ErrorCode::kFailedPrecondition, "refused: recall@20 0.38 < 0.4");
  ExpectError([&] { reg_->Promote("m/2", "staging", {"map@10>=production"}); },
              ErrorCode::kFailedPrecondition, "has no metric map@10 (it has: ");
}

TEST_F(RegistryTest, GateRefusesDifferentDatasetOrProtocol) {
  Register("m", 0.41, "d1", "p1");
  Register("m", 0.50, "d2", "p1");
  Register("m", 0.50, "d1", "p2");
  reg_->Promote("m/1", "production", {});
  ExpectError([&] { reg_->Promote("m/2", "production", {"recall@20>=production"}); },
              ErrorCode::kFailedPrecondition,
              "refused: cannot compare recall@20 with production (v1): it was evaluated on "
              "dataset d1 'ds-d1', m/2 on d2 'ds-d2'");
  ExpectError([&] { reg_->Promote("m/3", "production", {"recall@20>=production"}); },
              ErrorCode::kFailedPrecondition, "the evaluation protocols differ");
  // Without a gate, the promotion is allowed (the smoke test still runs).
  EXPECT_EQ(reg_->Promote("m/2", "production", {}).to_version, 2);
}

TEST_F(RegistryTest, RollbackWalksBackThroughTheHistory) {
  for (int i = 0; i < 4; ++i) Register("m", 0.1 * i);
  ExpectError([&] { reg_->Rollback("m", "production"); }, ErrorCode::kFailedPrecondition,
              "is not set");
  reg_->Promote("m/1", "production", {});
  ExpectError([&] { reg_->Rollback("m", "production"); }, ErrorCode::kFailedPrecondition,
              "no earlier version");
  reg_->Promote("m/2", "production", {});
  reg_->Promote("m/3", "production", {});
  EXPECT_EQ(reg_->Rollback("m", "production").to_version, 2);
  EXPECT_EQ(reg_->Rollback("m", "production").to_version, 1);
  ExpectError([&] { reg_->Rollback("m", "production"); }, ErrorCode::kFailedPrecondition,
              "no earlier version");
  reg_->Promote("m/4", "production", {});
  PromoteResult r = reg_->Rollback("m", "production", "bad deploy");
  EXPECT_EQ(r.from_version, 4);
  EXPECT_EQ(r.to_version, 1);
  EXPECT_EQ(r.action, "rollback");
  // Aliases are independent.
  reg_->Promote("m/3", "staging", {});
  EXPECT_EQ(reg_->store().GetAlias("m", "production"), 1);
  auto h = reg_->store().AliasHistory("m", "production");
  EXPECT_EQ(h.back().note, "bad deploy");
  ExpectError([&] { reg_->Rollback("nope", "production"); }, ErrorCode::kNotFound, "no model");
}

TEST_F(RegistryTest, RollbackRefusesABrokenPreviousVersion) {
  VersionRecord v1 = Register("m", 0.1);
  Register("m", 0.2);
  reg_->Promote("m/1", "production", {});
  reg_->Promote("m/2", "production", {});
  Env::Default()->RemoveFile(reg_->artifacts().PathFor(v1.artifact));
  ExpectError([&] { reg_->Rollback("m", "production"); }, ErrorCode::kFailedPrecondition,
              "refused: m/1 failed the publish check");
  EXPECT_EQ(reg_->store().GetAlias("m", "production"), 2);
}

TEST_F(RegistryTest, DiffShowsParamsMetricsDatasetAndProtocol) {
  Register("m", 0.4, "d1", "p1");
  Register("m", 0.5, "d2", "p2");
  nlohmann::json d = reg_->Diff(reg_->Resolve("m/1"), reg_->Resolve("m/2"));
  EXPECT_FALSE(d["dataset"]["same"].get<bool>());
  EXPECT_EQ(d["dataset"]["a"]["name"], "ds-d1");
  EXPECT_FALSE(d["protocol"]["same"].get<bool>());
  ASSERT_EQ(d["metrics"].size(), 2u);
  EXPECT_EQ(d["metrics"][0]["name"], "recall@20");
  EXPECT_NEAR(d["metrics"][0]["delta"].get<double>(), 0.1, 1e-12);
  EXPECT_TRUE(d["params"].empty());  // same params
  EXPECT_EQ(d["same_params"]["weighted"], true);
}

TEST_F(RegistryTest, GcRemovesOnlyUnreferencedArtifactsAndRespectsLiveRuns) {
  VersionRecord v = Register("m", 0.1);
  const std::string orphan = SaveModel(99.0f);
  Env::Default()->WriteFileAtomic(dir_.file("home/artifacts/incoming-999999-ab.mqm"), "partial");

  // A live run (its pid is alive on this host) may be about to register the orphan: kept.
  RunRecord run;
  run.model_name = "m";
  run.family = "popularity";
  run.host = "test-host";
  run.pid = 777;
  run.started_at = 5;
  alive_->insert(777);
  const int64_t run_id = reg_->store().CreateRun(run);
  GcReport r = reg_->Gc(false);
  EXPECT_TRUE(r.removed.empty());
  EXPECT_EQ(r.kept, 1u);
  EXPECT_TRUE(reg_->artifacts().Exists(orphan));
  EXPECT_TRUE(r.temporaries.empty());  // it may be the live run's, too

  // The run's process dies: gc marks it interrupted and removes the orphan.
  alive_->clear();
  EXPECT_EQ(reg_->GetRun(run_id).status, RunStatus::kInterrupted);  // read-time view
  GcReport dry = reg_->Gc(true);
  EXPECT_EQ(dry.removed, std::vector<std::string>{orphan});
  EXPECT_TRUE(reg_->artifacts().Exists(orphan));
  r = reg_->Gc(false);
  EXPECT_EQ(r.removed, std::vector<std::string>{orphan});
  EXPECT_EQ(r.interrupted_runs, std::vector<int64_t>{run_id});
  EXPECT_EQ(r.temporaries.size(), 1u);  // its writer (pid 999999) is gone
  EXPECT_FALSE(reg_->artifacts().Exists(orphan));
  EXPECT_TRUE(reg_->artifacts().Exists(v.artifact));
  EXPECT_EQ(reg_->store().GetRun(run_id)->status, RunStatus::kInterrupted);  // persisted
  EXPECT_TRUE(reg_->CheckConsistency().empty());
}

// Issue #12: a registry store that refers to none of the artifacts present (empty, new, or another
// home's) must not make gc delete every model; --force does.
TEST_F(RegistryTest, GcRefusesWhenTheStoreRefersToNoArtifactPresent) {
  Register("m", 0.1);
  Register("m", 0.2);
  const std::vector<std::string> present = reg_->artifacts().List();
  ASSERT_EQ(present.size(), 2u);
  // The same home, consulted through an empty store elsewhere.
  RegistryOptions o;
  o.home = dir_.file("home");
  o.store = OpenSqliteStore(dir_.file("other.db"));
  Registry empty(std::move(o));
  ExpectError([&] { empty.Gc(false); }, ErrorCode::kFailedPrecondition,
              "refers to none of the 2 artifact(s)");
  ExpectError([&] { empty.Gc(true); }, ErrorCode::kFailedPrecondition, "marquee gc --force");
  EXPECT_EQ(reg_->artifacts().List(), present);  // nothing removed
  GcOptions force;
  force.force = true;
  GcReport r = empty.Gc(force);
  EXPECT_EQ(r.removed.size(), 2u);
  EXPECT_TRUE(reg_->artifacts().List().empty());
}

// Issue #12: leftovers of interrupted writes in every data directory of the home are removed
// when their writer is provably gone, and kept otherwise.
TEST_F(RegistryTest, GcRemovesAbandonedTemporariesOfEveryKind) {
  Register("m", 0.1);
  Env* env = Env::Default();
  const std::string home = dir_.file("home");
  for (const char* d :
       {"datasets/objects", "datasets/names", "tabular/objects", "bandit/names", "serving/index"}) {
    env->CreateDirs(home + "/" + d);
  }
  const std::string hex = "0123456789abcdef";
  auto put = [&](const std::string& rel, int64_t age_s) {
    const std::string path = home + "/" + rel;
    std::ofstream(path, std::ios::binary) << "partial";
    const auto when = std::filesystem::file_time_type::clock::now() - std::chrono::seconds(age_s);
    std::filesystem::last_write_time(path, when);
    return path;
  };
  alive_->insert(777);
  // Removed: their writer's pid (in the name) is gone.
  put("datasets/objects/.incoming-999999-" + hex + "-0.mqds", 0);
  put("datasets/objects/.incoming-999999-" + hex + "-1.mqds.tmp.999999.4", 0);
  put("datasets/names/ml.json.tmp.999999.2", 0);
  put("bandit/names/obd.json.tmp.999998.0", 0);
  put("artifacts/incoming-999999-00ff.mqm", 0);
  put("serving/index/" + hex + "-m16-efc100-sq8.hnsw.tmp.999997.1", 0);  // a graph being saved
  // Removed: no pid in the name (written before pids were embedded), two hours old, open nowhere.
  put("tabular/objects/.incoming-" + hex + "-7.mqtab", 7200);
  // Kept: the writer (777) still runs.
  const std::string live = put("tabular/objects/.incoming-777-" + hex + "-0.mqtab", 7200);
  // Kept: no pid and written a minute ago.
  const std::string fresh = put("datasets/objects/.incoming-" + hex + "-9.mqds", 60);
  // Kept: no pid, old, but this process holds it open.
  const std::string held = put("datasets/objects/.incoming-fedcba9876543210-3.mqds", 7200);
  std::ifstream holder(held);
  ASSERT_TRUE(holder.is_open());
  // Not temporaries at all: untouched.
  const std::string name_file = put("datasets/names/ml.json", 7200);

  GcReport dry = reg_->Gc(true);
  EXPECT_EQ(dry.temporaries.size(), 7u) << nlohmann::json(dry.temporaries).dump();
  EXPECT_TRUE(std::filesystem::exists(home + "/datasets/names/ml.json.tmp.999999.2"));
  GcReport r = reg_->Gc(false);
  const std::set<std::string> removed(r.temporaries.begin(), r.temporaries.end());
  EXPECT_EQ(removed, std::set<std::string>(dry.temporaries.begin(), dry.temporaries.end()));
  EXPECT_EQ(removed.count("datasets/objects/.incoming-999999-" + hex + "-0.mqds"), 1u);
  EXPECT_EQ(removed.count("tabular/objects/.incoming-" + hex + "-7.mqtab"), 1u);
  EXPECT_EQ(removed.count("artifacts/incoming-999999-00ff.mqm"), 1u);
  EXPECT_EQ(removed.count("serving/index/" + hex + "-m16-efc100-sq8.hnsw.tmp.999997.1"), 1u);
  for (const auto& rel : removed) EXPECT_FALSE(std::filesystem::exists(home + "/" + rel)) << rel;
  for (const auto& path : {live, fresh, held, name_file}) {
    EXPECT_TRUE(std::filesystem::exists(path)) << path;
  }
  const std::string skipped = nlohmann::json(r.skipped).dump();
  EXPECT_NE(skipped.find("process 777, is still running"), std::string::npos) << skipped;
  EXPECT_NE(skipped.find("written 60s ago"), std::string::npos) << skipped;
  EXPECT_NE(skipped.find("has it open"), std::string::npos) << skipped;
  EXPECT_EQ(r.kept, 1u);
}

// Issue #12: tag keys follow the name rule, values are bounded, and the store refuses the rest
// before writing anything.
TEST_F(RegistryTest, TagKeysAndValuesAreValidated) {
  Register("m", 0.1);
  MetadataStore& st = reg_->store();
  st.SetTag("m", 1, "reviewed", "yes \xe2\x9c\x93 (with \x1b[31mcolour\x1b[0m)");
  for (const std::string& key :
       {std::string(100000, 'k'), std::string("two\nlines"), std::string("\x1b[2J"),
        std::string(""), std::string("-flag"), std::string("a b")}) {
    ExpectError([&] { st.SetTag("m", 1, key, "v"); }, ErrorCode::kInvalidArgument,
                "invalid tag key name");
  }
  ExpectError([&] { st.SetTag("m", 1, "k", std::string(kMaxTagValueBytes + 1, 'v')); },
              ErrorCode::kInvalidArgument, "at most 1024");
  ExpectError([&] { st.SetTag("m", 1, "k", "bad \xff utf-8"); }, ErrorCode::kInvalidArgument,
              "not valid UTF-8");
  ExpectError([&] { st.SetTag("m", 1, "k", std::string("nul\0byte", 8)); },
              ErrorCode::kInvalidArgument, "NUL");
  ExpectError([&] { st.SetModelDescription("m", std::string(kMaxDescriptionBytes + 1, 'd')); },
              ErrorCode::kInvalidArgument, "model description");
  EXPECT_EQ(st.GetTags("m", 1).size(), 1u);
}

// Issue #13: the facade gives commands (and the HTTP API) what they show, without the store.
TEST_F(RegistryTest, ListModelsOverviewAndVersionsCarryAliasesAndTags) {
  Register("m", 0.1);
  Register("m", 0.2);
  Register("other", 0.3);
  reg_->Promote("m/1", "production", {}, "first");
  reg_->store().SetTag("m", 0, "team", "recs");
  reg_->store().SetTag("m", 2, "reviewed", "yes");

  std::vector<ModelSummary> models = reg_->ListModels();
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].model.name, "m");
  EXPECT_EQ(models[0].aliases, (std::map<std::string, int64_t>{{"production", 1}}));
  EXPECT_TRUE(models[1].aliases.empty());

  ModelOverview o = reg_->Overview("m");
  EXPECT_EQ(o.model.num_versions, 2);
  ASSERT_EQ(o.alias_history.size(), 1u);
  EXPECT_EQ(o.alias_history[0].note, "first");
  EXPECT_EQ(o.tags, (std::map<std::string, std::string>{{"team", "recs"}}));
  ASSERT_TRUE(o.latest.has_value());
  EXPECT_EQ(o.latest->record.version, 2);
  EXPECT_TRUE(o.latest->aliases.empty());
  EXPECT_EQ(o.latest->tags.at("reviewed"), "yes");

  std::vector<VersionDetail> versions = reg_->Versions("m");
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[0].aliases, std::vector<std::string>{"production"});
  EXPECT_TRUE(versions[0].tags.empty());
  EXPECT_EQ(versions[1].tags.size(), 1u);

  ASSERT_TRUE(reg_->GetDataset("d1").has_value());
  EXPECT_EQ(reg_->GetDataset("d1")->name, "ds-d1");
  EXPECT_FALSE(reg_->GetDataset("nope").has_value());
  EXPECT_EQ(reg_->CountRuns(RunQuery{}), 0);
  EXPECT_EQ(reg_->DescribeStore().rfind("sqlite:", 0), 0u);
  for (auto fn : {std::function<void()>([&] { reg_->Overview("nope"); }),
                  std::function<void()>([&] { reg_->Versions("nope"); })}) {
    ExpectError(fn, ErrorCode::kNotFound, "no model named 'nope'");
  }
}

TEST_F(RegistryTest, SetTagsIsAtomicAndNamesAMissingTag) {
  Register("m", 0.1);
  TagSet t = reg_->SetTags(ParseModelRef("m/1"), {{"a", "1"}, {"b", "2"}}, {});
  EXPECT_EQ(t.version, 1);
  EXPECT_EQ(t.tags.size(), 2u);
  t = reg_->SetTags(ParseModelRef("m"), {{"owner", "me"}}, {});
  EXPECT_EQ(t.version, 0);
  EXPECT_EQ(t.tags, (std::map<std::string, std::string>{{"owner", "me"}}));

  // Removing a tag that is not there fails and sets nothing.
  ExpectError(
      [&] {
        reg_->SetTags(ParseModelRef("m/1"), {{"c", "3"}}, {"a", "zzz"});
      },
      ErrorCode::kNotFound, "m/1 has no tag 'zzz'");
  EXPECT_EQ(reg_->store().GetTags("m", 1),
            (std::map<std::string, std::string>{{"a", "1"}, {"b", "2"}}));
  // One bad tag sets none.
  ExpectError(
      [&] {
        reg_->SetTags(ParseModelRef("m/1"), {{"d", "4"}, {"bad key", "v"}}, {});
      },
      ErrorCode::kInvalidArgument, "invalid tag key name");
  EXPECT_EQ(reg_->store().GetTags("m", 1).count("d"), 0u);
  t = reg_->SetTags(ParseModelRef("m/1"), {}, {"a"});
  EXPECT_EQ(t.tags, (std::map<std::string, std::string>{{"b", "2"}}));
  ExpectError(
      [&] {
        reg_->SetTags(ParseModelRef("nope"), {{"a", "1"}}, {});
      },
      ErrorCode::kNotFound, "no model named 'nope'");
  ExpectError(
      [&] {
        reg_->SetTags(ParseModelRef("m@prod"), {{"a", "1"}}, {});
      },
      ErrorCode::kNotFound, "no alias 'prod'");

  reg_->SetDescription("m", "the model");
  EXPECT_EQ(reg_->Overview("m").model.description, "the model");
  ExpectError([&] { reg_->SetDescription("nope", "x"); }, ErrorCode::kNotFound, "nope");
}

TEST_F(RegistryTest, JsonNamesEveryFieldAndNullsWhatIsUnset) {
  Register("m", 0.1);
  reg_->Promote("m/1", "production", {});
  reg_->store().SetTag("m", 1, "k", "v");
  nlohmann::json v = VersionToJson(reg_->Detail(reg_->Resolve("m/1")));
  EXPECT_EQ(v["ref"], "m/1");
  EXPECT_TRUE(v["run_id"].is_null());  // registered without a run
  EXPECT_EQ(v["aliases"], nlohmann::json::array({"production"}));
  EXPECT_EQ(v["tags"], (nlohmann::json{{"k", "v"}}));
  EXPECT_EQ(v["created_at"], "1970-01-01T00:16:41Z");
  EXPECT_EQ(v["metric_order"], nlohmann::json::array({"recall@20", "ndcg@100"}));

  nlohmann::json o = ModelOverviewToJson(reg_->Overview("m"));
  for (const char* key : {"name", "description", "created_at", "versions", "latest_version",
                          "latest", "aliases", "alias_history", "tags"}) {
    EXPECT_TRUE(o.contains(key)) << key;
  }
  EXPECT_EQ(o["latest"]["version"], 1);
  ASSERT_EQ(o["alias_history"].size(), 1u);
  EXPECT_TRUE(o["alias_history"][0]["from_version"].is_null());  // the alias was unset
  EXPECT_EQ(o["alias_history"][0]["to_version"], 1);

  ModelSummary empty;
  empty.model.name = "x";
  nlohmann::json s = ModelSummaryToJson(empty);
  EXPECT_TRUE(s["latest_version"].is_null());
  EXPECT_TRUE(s["created_at"].is_null());
  EXPECT_EQ(s["aliases"], nlohmann::json::object());

  EXPECT_TRUE(TagsToJson(TagSet{"m", 0, {}})["version"].is_null());
  EXPECT_EQ(TagsToJson(TagSet{"m", 3, {}})["version"], 3);

  RunRecord r;
  r.id = 7;
  r.metrics = {{"recall@20", 0.5}, {"auc", std::numeric_limits<double>::quiet_NaN()}};
  r.log = "text";
  nlohmann::json j = RunToJson(r, false);
  EXPECT_TRUE(j["version"].is_null());
  EXPECT_TRUE(j["ended_at"].is_null());
  EXPECT_EQ(j["status"], "running");
  EXPECT_TRUE(j["metrics"]["auc"].is_null());
  EXPECT_EQ(j["metric_order"], nlohmann::json::array({"recall@20", "auc"}));
  EXPECT_FALSE(j.contains("log"));
  EXPECT_EQ(RunToJson(r, true)["log"], "text");
  nlohmann::json page = RunPageToJson({r}, 9, 0);
  EXPECT_EQ(page["total"], 9);
  EXPECT_TRUE(page["next_before"].is_null());
  EXPECT_EQ(page["runs"][0]["id"], 7);
}

// Issue #12: model names and aliases follow the one catalog name rule: no leading '-'.
TEST(ModelNames, FollowTheCatalogNameRule) {
  ExpectError([] { ValidateModelName("-recs"); }, ErrorCode::kInvalidArgument,
              "not a valid model name");
  ExpectError([] { ValidateAlias("-prod"); }, ErrorCode::kInvalidArgument, "not a valid alias");
  ExpectError([] { ValidateModelName(".."); }, ErrorCode::kInvalidArgument,
              "not a valid model name");
  ExpectError([] { ParseModelRef("-recs@prod"); }, ErrorCode::kInvalidArgument,
              "not a model reference");
  ValidateModelName("recs-2.v1_x");
  ValidateAlias("prod-1");
}

TEST(ArtifactStoreTest, WriterPidAndDigestChecks) {
  EXPECT_EQ(ArtifactStore::WriterPid("incoming-123-abcd.mqm"), 123);
  EXPECT_EQ(ArtifactStore::WriterPid("incoming-123-abcd.mqm.tmp.123.0"), 123);
  EXPECT_EQ(ArtifactStore::WriterPid("other"), 0);
  // Catalog snapshots: the pid after ".incoming-"; none in the old random-only names.
  EXPECT_EQ(ArtifactStore::WriterPid(".incoming-4321-0123456789abcdef-0.mqds"), 4321);
  EXPECT_EQ(ArtifactStore::WriterPid(".incoming-0123456789abcdef-0.mqds"), 0);
  EXPECT_EQ(ArtifactStore::WriterPid(".incoming-1234567890123456-0.mqds"), 0);  // 16 digits
  EXPECT_EQ(ArtifactStore::WriterPid(".incoming-0123456789abcdef-0.mqds.tmp.55.1"), 55);
  EXPECT_EQ(ArtifactStore::WriterPid("ml.json.tmp.99.3"), 99);
  EXPECT_TRUE(ArtifactStore::IsTemporaryName(".incoming-1-2-3.mqtab"));
  EXPECT_FALSE(ArtifactStore::IsTemporaryName("ml.json"));
  EXPECT_TRUE(ArtifactStore::IsDigest(std::string(64, 'a')));
  EXPECT_FALSE(ArtifactStore::IsDigest(std::string(64, 'A')));
  ArtifactStore s("/nonexistent", Env::Default());
  EXPECT_THROW(s.PathFor("../etc/passwd"), Error);
}

}  // namespace
}  // namespace marquee

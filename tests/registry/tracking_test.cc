// Remote tracking (issue #14): runs a client creates, logs metrics (with steps) and artifacts
// into, finishes, and registers a model version from; run tags; `runs list` filters on metric
// thresholds and start times; gc keeping logged artifacts; the upgrade of a schema-2 store.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <random>
#include <set>

#include "common/sha256.h"
#include "kinds/builtin.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "registry/json.h"
#include "registry/registry.h"
#include "registry/sqlite_store.h"
#include "registry_test_util.h"
#include "store_backend_util.h"
#include "store_test_util.h"
#include "tabular/predictor.h"
#include "tabular/xgb_model.h"
#include "test_util.h"

namespace marquee {
namespace {

using testing::ExpectError;

// An XGBoost model (binary:logistic, 8 rounds) on features "x" and "y", and the rows it scores.
struct XgbFixture {
  std::vector<float> rows;  // 300 x 2, row-major
  std::string json;         // the model saved as XGBoost JSON
  std::vector<float> scores;
};

const XgbFixture& Xgb() {
  static const XgbFixture* f = [] {
    auto* out = new XgbFixture;
    std::mt19937_64 rng(3);
    std::normal_distribution<float> n(0, 1);
    std::vector<float> labels;
    for (int i = 0; i < 300; ++i) {
      const float x = n(rng), y = n(rng);
      out->rows.push_back(x);
      out->rows.push_back(y);
      labels.push_back(x - 0.5f * y > 0 ? 1.0f : 0.0f);
    }
    XgbDMatrix data(out->rows, 300, 2);
    data.SetLabels(labels);
    data.SetFeatureNames({"x", "y"});
    const XgbModel model =
        XgbModel::Train({{"objective", "binary:logistic"}, {"max_depth", "2"}, {"nthread", "1"}},
                        data, nullptr, 8, 0, nullptr);
    out->json = model.Save("json");
    out->scores = model.PredictDense(out->rows.data(), 300, false);
    return out;
  }();
  return *f;
}

// Every Tracking test runs on both backends (the Registry over a SqliteStore in the home, or
// over a PgStore on a fresh database).
class Tracking : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    RegistryOptions o;
    o.home = dir_.file("home");
    ProcessProbe p;
    p.host = "test-host";
    p.pid = 4242;
    // On this host only pid 4242 runs: any other run of "test-host" reads as interrupted.
    p.alive = [](const std::string& host, int64_t pid) {
      return host != "test-host" || pid == 4242;
    };
    o.probe = p;
    o.kinds = &BuiltinKinds();
    if (GetParam() == "postgresql") {
      testing::PostgresServer* server = testing::PostgresServer::Get();
      if (server == nullptr) {
        GTEST_SKIP() << "no PostgreSQL: " << testing::PostgresServer::WhyNot();
      }
      const std::string url = server->CreateDatabase();
      o.store = OpenPgStore(ParseRegistryUrl(url).postgres);
      // What opens the home's registry by itself (publishing an imported model) finds it too.
      setenv("MARQUEE_REGISTRY", url.c_str(), 1);
    }
    reg_ = std::make_unique<Registry>(std::move(o));
  }

  ExternalRunSpec Spec(const std::string& model = "payment-retry") {
    ExternalRunSpec s;
    s.model_name = model;
    s.family = "xgboost";
    s.params = {{"max_depth", 2}, {"eta", 0.3}};
    s.tags = {{"team", "payments"}};
    s.dataset = "uci";
    s.description = "from a notebook";
    s.code_version = "git:abc123";
    return s;
  }

  void TearDown() override { unsetenv("MARQUEE_REGISTRY"); }

  // A trained run (as `marquee train` records one), completed without a version.
  int64_t TrainRun(const std::string& model) {
    RunRecord r;
    r.model_name = model;
    r.family = "ease";
    r.host = "test-host";
    r.pid = 4242;
    r.started_at = 10;
    return reg_->store().CreateRun(r);
  }

  void PutDataset(const std::string& id, const std::string& name, int64_t seen) {
    DatasetRecord d;
    d.id = id;
    d.kind = "snapshot";
    d.name = name;
    d.first_seen_at = seen;
    reg_->store().PutDataset(d);
  }

  static std::vector<MetricPoint> Points(const std::string& key, int64_t from, int64_t to,
                                         double (*f)(int64_t)) {
    std::vector<MetricPoint> out;
    for (int64_t s = from; s < to; ++s) out.push_back({key, f(s), s, 1000 + s});
    return out;
  }

  std::vector<std::string> Temporaries() {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_.file("home/artifacts"))) {
      const std::string name = e.path().filename().string();
      if (ArtifactStore::IsTemporaryName(name)) out.push_back(name);
    }
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<Registry> reg_;
};

MARQUEE_INSTANTIATE_BACKENDS(Tracking);

TEST_P(Tracking, StartExternalRunRecordsWhatItIsGivenAndNeverReadsInterrupted) {
  const std::string uci_old(64, 'a'), uci_new(64, 'b');
  PutDataset(uci_old, "uci", 5);
  PutDataset(uci_new, "uci", 9);  // re-imported later: the newest record of the name wins
  ExternalRunSpec spec = Spec();
  spec.host = "test-host";  // this host, but a pid that is not alive here
  spec.pid = 999;
  const int64_t id = reg_->StartExternalRun(spec);
  RunRecord r = reg_->GetRun(id);
  EXPECT_EQ(r.source, "external");
  EXPECT_TRUE(r.external());
  EXPECT_EQ(r.status, RunStatus::kRunning);  // not interrupted: liveness is not known here
  EXPECT_FALSE(reg_->IsInterrupted(r));
  EXPECT_EQ(r.model_name, "payment-retry");
  EXPECT_EQ(r.family, "xgboost");
  EXPECT_EQ(r.params, (nlohmann::json{{"max_depth", 2}, {"eta", 0.3}}));
  EXPECT_EQ(r.tags, (std::map<std::string, std::string>{{"team", "payments"}}));
  EXPECT_EQ(r.dataset_id, uci_new);
  EXPECT_EQ(r.dataset_given, "uci");
  EXPECT_EQ(r.description, "from a notebook");
  EXPECT_EQ(r.code_version, "git:abc123");
  EXPECT_EQ(r.pid, 999);
  EXPECT_GT(r.started_at, 0);
  // gc does not mark it interrupted either.
  EXPECT_TRUE(reg_->Gc(false).interrupted_runs.empty());
  EXPECT_EQ(reg_->store().GetRun(id)->status, RunStatus::kRunning);

  // By id; and a name the registry does not know is kept as text only.
  spec.dataset = uci_old;
  EXPECT_EQ(reg_->GetRun(reg_->StartExternalRun(spec)).dataset_id, uci_old);
  spec.dataset = "s3://bucket/train.parquet";
  RunRecord unknown = reg_->GetRun(reg_->StartExternalRun(spec));
  EXPECT_EQ(unknown.dataset_id, "");
  EXPECT_EQ(unknown.dataset_given, "s3://bucket/train.parquet");

  // The JSON of a run names its source, tags, description and dataset as given.
  nlohmann::json j = RunToJson(r, false);
  EXPECT_EQ(j["source"], "external");
  EXPECT_EQ(j["tags"], (nlohmann::json{{"team", "payments"}}));
  EXPECT_EQ(j["dataset"], "uci");
  EXPECT_EQ(j["dataset_id"], uci_new);
  EXPECT_EQ(j["description"], "from a notebook");
  EXPECT_EQ(RunToJson(reg_->GetRun(TrainRun("m")), false)["source"], "train");
}

TEST_P(Tracking, StartExternalRunRefusesBadInput) {
  auto with = [&](auto change) {
    ExternalRunSpec s = Spec();
    change(s);
    return s;
  };
  ExpectError([&] { reg_->StartExternalRun(with([](auto& s) { s.model_name = "-x"; })); },
              ErrorCode::kInvalidArgument, "not a valid model name");
  ExpectError([&] { reg_->StartExternalRun(with([](auto& s) { s.family = "a b"; })); },
              ErrorCode::kInvalidArgument, "not a valid family name");
  ExpectError([&] { reg_->StartExternalRun(with([](auto& s) {
                      s.params = {1, 2};
                    })); },
              ErrorCode::kInvalidArgument, "must be a JSON object");
  ExpectError(
      [&] {
        reg_->StartExternalRun(with([](auto& s) {
          s.params = {{"big", std::string(70000, 'x')}};
        }));
      },
      ErrorCode::kInvalidArgument, "at most 65536");
  ExpectError([&] { reg_->StartExternalRun(with([](auto& s) {
                      s.tags = {{"bad key", "v"}};
                    })); },
              ErrorCode::kInvalidArgument, "tag key");
  ExpectError(
      [&] { reg_->StartExternalRun(with([](auto& s) { s.description = std::string(1, '\0'); })); },
      ErrorCode::kInvalidArgument, "NUL");
  RunQuery all;
  all.limit = 0;
  EXPECT_EQ(reg_->CountRuns(all), 0);  // nothing was recorded
  // Null params are none; no family is allowed.
  const int64_t id = reg_->StartExternalRun(with([](auto& s) {
    s.params = nullptr;
    s.family = "";
  }));
  EXPECT_EQ(reg_->GetRun(id).params, nlohmann::json::object());
}

double Loss(int64_t step) { return 1.0 / static_cast<double>(step + 1) + 1e-3 * (step % 7); }
double Auc(int64_t step) { return 0.5 + 0.4 * static_cast<double>(step) / 10000.0; }

TEST_P(Tracking, TenThousandStepsLoggedInBatchesReadBackInPagesExactly) {
  const int64_t id = reg_->StartExternalRun(Spec());
  // Ten batches of 1,000 points, newest steps first (the final value is the highest step's, not
  // the last written), each batch also carrying one "auc" point.
  for (int b = 9; b >= 0; --b) {
    std::vector<MetricPoint> batch = Points("loss", b * 1000, (b + 1) * 1000, Loss);
    batch.push_back({"auc", Auc(b), b, 5});
    reg_->LogMetrics(id, batch);
  }
  std::vector<MetricPoint> all;
  int64_t after = -1;
  int pages = 0;
  for (;;) {
    std::vector<MetricPoint> page = reg_->MetricHistory(id, "loss", after, 777);
    if (page.empty()) break;
    ++pages;
    EXPECT_LE(page.size(), 777u);
    all.insert(all.end(), page.begin(), page.end());
    after = page.back().step;
  }
  EXPECT_EQ(pages, 13);  // 12 full pages of 777 and one of 676
  ASSERT_EQ(all.size(), 10000u);
  for (int64_t s = 0; s < 10000; ++s) {
    ASSERT_EQ(all[s].step, s);
    ASSERT_EQ(all[s].value, Loss(s)) << s;  // exact: REAL round-trips doubles
    ASSERT_EQ(all[s].timestamp_ms, 1000 + s);
    ASSERT_EQ(all[s].key, "loss");
  }
  EXPECT_EQ(reg_->MetricHistory(id, "loss").size(), 10000u);  // no limit
  EXPECT_TRUE(reg_->MetricHistory(id, "never-logged").empty());

  // The run's metrics are the final values: the highest step's, in first-logged order.
  RunRecord r = reg_->GetRun(id);
  ASSERT_EQ(r.metrics.size(), 2u);
  EXPECT_EQ(r.metrics[0].first, "loss");
  EXPECT_EQ(r.metrics[0].second, Loss(9999));
  EXPECT_EQ(r.metrics[1].first, "auc");
  EXPECT_EQ(r.metrics[1].second, Auc(9));
  std::vector<MetricSummary> sums = reg_->MetricSummaries(id);
  ASSERT_EQ(sums.size(), 2u);
  EXPECT_EQ(sums[0].key, "loss");
  EXPECT_EQ(sums[0].points, 10000);
  EXPECT_EQ(sums[0].last_step, 9999);
  EXPECT_EQ(sums[0].last_value, Loss(9999));
  EXPECT_EQ(sums[0].last_timestamp_ms, 1000 + 9999);
  EXPECT_EQ(sums[1].points, 10);

  // A (key, step) logged again replaces its point (latest write wins) and, at the highest
  // step, the final value.
  reg_->LogMetrics(id, std::vector<MetricPoint>{{"loss", 0.125, 9999, 7}, {"loss", 2.5, 3, 7}});
  EXPECT_EQ(reg_->GetRun(id).metric("loss"), 0.125);
  std::vector<MetricPoint> at3 = reg_->MetricHistory(id, "loss", 2, 1);
  ASSERT_EQ(at3.size(), 1u);
  EXPECT_EQ(at3[0].value, 2.5);
  EXPECT_EQ(reg_->MetricHistory(id, "loss").size(), 10000u);

  // The page JSON says where the next page starts, and null after the last.
  nlohmann::json page =
      MetricHistoryToJson(id, "loss", reg_->MetricHistory(id, "loss", 9990, 5), 5);
  EXPECT_EQ(page["next_after_step"], 9995);
  EXPECT_EQ(page["points"][0]["step"], 9991);
  EXPECT_EQ(page["points"][0]["timestamp"], "1970-01-01T00:00:10.991Z");
  nlohmann::json last =
      MetricHistoryToJson(id, "loss", reg_->MetricHistory(id, "loss", 9997, 5), 5);
  EXPECT_EQ(last["points"].size(), 2u);
  EXPECT_TRUE(last["next_after_step"].is_null());
  EXPECT_TRUE(reg_->CheckConsistency().empty());
}

TEST_P(Tracking, LogMetricsRefusesBadPointsAndRunsThatTakeNone) {
  const int64_t id = reg_->StartExternalRun(Spec());
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  auto log = [&](MetricPoint bad) {
    // A good point first: the batch is all or nothing.
    reg_->LogMetrics(id, std::vector<MetricPoint>{{"ok", 1.0, 0, 1}, bad});
  };
  ExpectError([&] { log({"auc", nan, 1, 1}); }, ErrorCode::kInvalidArgument, "not finite");
  ExpectError([&] { log({"auc", inf, 1, 1}); }, ErrorCode::kInvalidArgument, "not finite");
  ExpectError([&] { log({"auc", 1, -1, 1}); }, ErrorCode::kInvalidArgument, "negative");
  ExpectError([&] { log({"auc", 1, 1, -5}); }, ErrorCode::kInvalidArgument, "timestamp");
  for (const char* key : {"", "a b", "auc>=0.7", "-auc", "naïve"}) {
    ExpectError(
        [&] {
          log({key, 1, 1, 1});
        },
        ErrorCode::kInvalidArgument, "not a valid metric key");
  }
  ExpectError(
      [&] {
        log({std::string(251, 'k'), 1, 1, 1});
      },
      ErrorCode::kInvalidArgument, "not a valid metric key");
  std::vector<MetricPoint> huge(kMaxMetricPointsPerCall + 1, MetricPoint{"x", 1, 0, 1});
  ExpectError([&] { reg_->LogMetrics(id, huge); }, ErrorCode::kInvalidArgument, "batches");
  EXPECT_TRUE(reg_->MetricHistory(id, "ok").empty());  // nothing of any refused batch
  EXPECT_TRUE(reg_->GetRun(id).metrics.empty());
  // Every metric marquee computes is a valid key.
  reg_->LogMetrics(id, std::vector<MetricPoint>{{"recall@20", 0.1, 0, 1},
                                                {"accuracy@0.5", 0.2, 0, 1},
                                                {"pr_auc", 0.3, 0, 1},
                                                {"val/loss:ema", 0.4, 0, 1}});
  EXPECT_EQ(reg_->GetRun(id).metrics.size(), 4u);

  const std::vector<MetricPoint> one = {{"auc", 0.5, 0, 1}};
  ExpectError([&] { reg_->LogMetrics(12345, one); }, ErrorCode::kNotFound, "no run 12345");
  ExpectError([&] { reg_->MetricHistory(12345, "auc"); }, ErrorCode::kNotFound, "no run 12345");
  const int64_t trained = TrainRun("m");
  ExpectError([&] { reg_->LogMetrics(trained, one); }, ErrorCode::kFailedPrecondition,
              "recorded by marquee train");
  reg_->FinishExternalRun(id, RunStatus::kCompleted, "done");
  ExpectError([&] { reg_->LogMetrics(id, one); }, ErrorCode::kFailedPrecondition,
              "it is completed, not running");
}

TEST_P(Tracking, PointsWithoutATimestampAreStampedNow) {
  const int64_t id = reg_->StartExternalRun(Spec());
  const int64_t before = Env::Default()->NowSeconds() * 1000;
  reg_->LogMetrics(id, std::vector<MetricPoint>{{"auc", 0.5, 0, 0}, {"auc", 0.6, 1, 42}});
  const int64_t after = Env::Default()->NowSeconds() * 1000;
  std::vector<MetricPoint> h = reg_->MetricHistory(id, "auc");
  ASSERT_EQ(h.size(), 2u);
  EXPECT_GE(h[0].timestamp_ms, before);
  EXPECT_LE(h[0].timestamp_ms, after);
  EXPECT_EQ(h[1].timestamp_ms, 42);  // given: kept
}

TEST_P(Tracking, FinishExternalRunKeepsMetricsAndIsRefusedTwice) {
  const int64_t ok = reg_->StartExternalRun(Spec());
  reg_->LogMetrics(ok, Points("auc", 0, 3, Auc));
  RunRecord done = reg_->FinishExternalRun(ok, RunStatus::kCompleted, "all good");
  EXPECT_EQ(done.status, RunStatus::kCompleted);
  EXPECT_GT(done.ended_at, 0);
  EXPECT_EQ(done.log, "all good");
  EXPECT_EQ(done.metric("auc"), Auc(2));
  EXPECT_EQ(done.version, 0);  // finished without a version: allowed for an external run
  ExpectError([&] { reg_->FinishExternalRun(ok, RunStatus::kFailed, "again"); },
              ErrorCode::kFailedPrecondition, "not running");

  const int64_t bad = reg_->StartExternalRun(Spec());
  reg_->LogMetrics(bad, Points("auc", 0, 2, Auc));
  EXPECT_EQ(reg_->FinishExternalRun(bad, RunStatus::kFailed, "Traceback: ...").status,
            RunStatus::kFailed);
  EXPECT_EQ(reg_->GetRun(bad).metric("auc"), Auc(1));  // what it logged stays

  const int64_t running = reg_->StartExternalRun(Spec());
  ExpectError([&] { reg_->FinishExternalRun(running, RunStatus::kRunning, ""); },
              ErrorCode::kInvalidArgument, "completed or failed");
  ExpectError([&] { reg_->FinishExternalRun(running, RunStatus::kInterrupted, ""); },
              ErrorCode::kInvalidArgument, "completed or failed");
  ExpectError([&] { reg_->FinishExternalRun(999, RunStatus::kCompleted, ""); },
              ErrorCode::kNotFound, "no run 999");
  ExpectError([&] { reg_->FinishExternalRun(TrainRun("m"), RunStatus::kCompleted, ""); },
              ErrorCode::kFailedPrecondition, "recorded by marquee train");
  // External runs with metrics while running, completed without a version, or failed with
  // metrics are all consistent.
  EXPECT_TRUE(reg_->CheckConsistency().empty());
}

TEST_P(Tracking, RunTagsSetAndRemoveAtomicallyOnAnyRun) {
  const int64_t id = reg_->StartExternalRun(Spec());
  auto tags = reg_->SetRunTags(id, {{"stage", "tuning"}, {"team", "risk"}}, {});
  EXPECT_EQ(tags, (std::map<std::string, std::string>{{"stage", "tuning"}, {"team", "risk"}}));
  // A missing key to remove fails the whole change: the tag set before it is not kept.
  ExpectError(
      [&] {
        reg_->SetRunTags(id, {{"new", "x"}}, {"nope"});
      },
      ErrorCode::kNotFound, "has no tag 'nope'");
  ExpectError(
      [&] {
        reg_->SetRunTags(id, {{"ok", "x"}, {"bad key", "y"}}, {});
      },
      ErrorCode::kInvalidArgument, "tag key");
  EXPECT_EQ(reg_->GetRun(id).tags.size(), 2u);
  tags = reg_->SetRunTags(id, {{"stage", "final"}}, {"team"});
  EXPECT_EQ(tags, (std::map<std::string, std::string>{{"stage", "final"}}));
  // Finished and trained runs take tags too; they show in listings.
  reg_->FinishExternalRun(id, RunStatus::kCompleted, "");
  reg_->SetRunTags(id, {{"reviewed", "yes"}}, {});
  const int64_t trained = TrainRun("m");
  reg_->SetRunTags(trained, {{"note", "baseline"}}, {});
  RunQuery q;
  std::vector<RunRecord> runs = reg_->ListRuns(q);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].tags, (std::map<std::string, std::string>{{"note", "baseline"}}));
  EXPECT_EQ(runs[1].tags.at("reviewed"), "yes");
  // `runs compare` reads them too, for every time a run is named.
  std::vector<RunRecord> cmp = reg_->store().GetRuns({trained, id, trained});
  EXPECT_EQ(cmp[0].tags.at("note"), "baseline");
  EXPECT_EQ(cmp[1].tags.at("stage"), "final");
  EXPECT_EQ(cmp[2].tags.at("note"), "baseline");
  ExpectError([&] { reg_->SetRunTags(77, {{"a", "b"}}, {}); }, ErrorCode::kNotFound, "no run 77");
}

TEST_P(Tracking, ArtifactsAreStoredContentAddressedAndNamedSafely) {
  const int64_t id = reg_->StartExternalRun(Spec());
  const std::string text = "feature,importance\nx,0.7\ny,0.3\n";
  RunArtifact a = reg_->LogRunArtifactBytes(id, "reports/importance.csv", text);
  EXPECT_EQ(a.digest, Sha256Hex(text));
  EXPECT_EQ(a.bytes, text.size());
  const std::string src = dir_.file("model.json");
  Env::Default()->WriteFileAtomic(src, Xgb().json);
  RunArtifact m = reg_->LogRunArtifact(id, "model.json", src);
  EXPECT_EQ(m.digest, Sha256Hex(Xgb().json));
  EXPECT_EQ(m.bytes, Xgb().json.size());
  reg_->artifacts().Verify(m.digest);
  EXPECT_EQ(Env::Default()->ReadFile(reg_->OpenRunArtifact(id, "reports/importance.csv")), text);
  EXPECT_EQ(Env::Default()->ReadFile(reg_->OpenRunArtifact(id, "model.json")), Xgb().json);
  // Empty files are files too.
  EXPECT_EQ(reg_->LogRunArtifactBytes(id, "empty.txt", "").digest, Sha256Hex(""));

  std::vector<RunArtifact> listed = reg_->RunArtifacts(id);
  ASSERT_EQ(listed.size(), 3u);  // by name
  EXPECT_EQ(listed[0].name, "empty.txt");
  EXPECT_EQ(listed[1].name, "model.json");
  EXPECT_EQ(listed[2].name, "reports/importance.csv");
  EXPECT_EQ(RunArtifactToJson(listed[1])["digest"], m.digest);

  // The same content again under the same name changes nothing; other content is refused.
  reg_->LogRunArtifactBytes(id, "model.json", Xgb().json);
  ExpectError([&] { reg_->LogRunArtifactBytes(id, "model.json", "other"); },
              ErrorCode::kAlreadyExists, "already has an artifact named 'model.json'");
  for (const std::string& name :
       {std::string(""), std::string("../etc/passwd"), std::string("/abs"), std::string("a//b"),
        std::string("a/./b"), std::string("a b"), std::string("-x"), std::string("x/"),
        std::string(257, 'n')}) {
    ExpectError([&] { reg_->LogRunArtifactBytes(id, name, "x"); }, ErrorCode::kInvalidArgument,
                "not a valid artifact name");
  }
  ExpectError([&] { reg_->LogRunArtifact(id, "gone.json", dir_.file("missing.json")); },
              ErrorCode::kNotFound, "missing.json");
  ExpectError([&] { reg_->OpenRunArtifact(id, "nope.bin"); }, ErrorCode::kNotFound,
              "it has: empty.txt, model.json, reports/importance.csv");
  ExpectError([&] { reg_->LogRunArtifactBytes(404, "a.txt", "x"); }, ErrorCode::kNotFound,
              "no run 404");
  ExpectError([&] { reg_->LogRunArtifactBytes(TrainRun("m"), "a.txt", "x"); },
              ErrorCode::kFailedPrecondition, "recorded by marquee train");
  reg_->FinishExternalRun(id, RunStatus::kCompleted, "");
  ExpectError([&] { reg_->LogRunArtifactBytes(id, "late.txt", "x"); },
              ErrorCode::kFailedPrecondition, "not running");
  EXPECT_EQ(reg_->RunArtifacts(id).size(), 3u);
  // No refused write left a staged file behind, and nothing refused became an artifact.
  EXPECT_TRUE(Temporaries().empty());
  EXPECT_FALSE(reg_->artifacts().Exists(Sha256Hex("other")));
  EXPECT_FALSE(reg_->artifacts().Exists(Sha256Hex("x")));
}

TEST_P(Tracking, GcKeepsLoggedArtifactsAndIsNotHeldBackByExternalRuns) {
  const int64_t id = reg_->StartExternalRun(Spec());
  const RunArtifact kept = reg_->LogRunArtifactBytes(id, "model.json", Xgb().json);
  // An unreferenced file in the artifact store: a running external run does not protect it
  // (its files are recorded as they are published).
  const std::string orphan = reg_->artifacts().PathFor(Sha256Hex("orphan"));
  Env::Default()->WriteFileAtomic(orphan, "orphan");
  EXPECT_EQ(reg_->store().ReferencedArtifacts().count(kept.digest), 1u);
  GcReport dry = reg_->Gc(true);
  EXPECT_EQ(dry.removed, std::vector<std::string>{Sha256Hex("orphan")});
  GcReport r = reg_->Gc(false);
  EXPECT_EQ(r.removed, std::vector<std::string>{Sha256Hex("orphan")});
  EXPECT_EQ(r.kept, 1u);
  EXPECT_TRUE(r.skipped.empty());
  EXPECT_TRUE(reg_->artifacts().Exists(kept.digest));
  EXPECT_FALSE(std::filesystem::exists(orphan));
  // Still kept once the run has finished.
  reg_->FinishExternalRun(id, RunStatus::kFailed, "crashed");
  reg_->Gc(false);
  EXPECT_EQ(Env::Default()->ReadFile(reg_->OpenRunArtifact(id, "model.json")), Xgb().json);
}

TEST_P(Tracking, RegisterAnXgboostArtifactThenPromoteWithGatesOnLoggedMetrics) {
  PutDataset(std::string(64, 'c'), "uci", 1);
  // Run 1: logs auc over 5 steps (final 0.81), the model, and registers it while running.
  const int64_t first = reg_->StartExternalRun(Spec());
  reg_->LogMetrics(
      first,
      std::vector<MetricPoint>{
          {"auc", 0.70, 0, 1}, {"auc", 0.78, 1, 2}, {"auc", 0.81, 4, 3}, {"logloss", 0.4, 4, 3}});
  reg_->LogRunArtifactBytes(first, "model/xgb.json", Xgb().json);
  const VersionRecord v1 = reg_->RegisterRunArtifact(first, "model/xgb.json", "xgboost");
  EXPECT_EQ(v1.model_name, "payment-retry");
  EXPECT_EQ(v1.version, 1);
  EXPECT_EQ(v1.run_id, first);
  EXPECT_EQ(v1.family, "xgboost");
  EXPECT_EQ(v1.dataset_id, std::string(64, 'c'));
  EXPECT_EQ(v1.protocol, "external");
  EXPECT_EQ(v1.metric("auc"), 0.81);
  EXPECT_EQ(v1.metric_order, (nlohmann::json{"auc", "logloss"}));
  EXPECT_EQ(v1.params["max_depth"], 2);       // the run's params...
  EXPECT_EQ(v1.params["rounds"], 8);          // ...with what the import read
  EXPECT_EQ(reg_->GetRun(first).version, 1);  // `runs show` names the version
  // The stored artifact scores exactly as the model it was logged from.
  auto predictor = Predictor::Load(reg_->artifacts().PathFor(v1.artifact), Env::Default());
  EXPECT_EQ(predictor->PredictMatrix(Xgb().rows, 300, false).scores, Xgb().scores);
  // A gate on a logged metric, with the smoke test of the tabular kind.
  PromoteResult p = reg_->Promote("payment-retry/1", "production", {"auc>=0.8"});
  EXPECT_EQ(p.to_version, 1);
  EXPECT_TRUE(reg_->Resolve("payment-retry@production").run_id == first);
  reg_->FinishExternalRun(first, RunStatus::kCompleted, "");
  EXPECT_TRUE(reg_->CheckConsistency().empty());

  // Run 2, same dataset, worse auc: refused against production; run 3, better: passes.
  auto run_with_auc = [&](double auc) {
    const int64_t id = reg_->StartExternalRun(Spec());
    reg_->LogMetrics(id, std::vector<MetricPoint>{{"auc", auc, 0, 1}});
    reg_->LogRunArtifactBytes(id, "xgb.json", Xgb().json);
    reg_->FinishExternalRun(id, RunStatus::kCompleted, "");
    return reg_->RegisterRunArtifact(id, "xgb.json", "xgboost");  // completed: allowed
  };
  const VersionRecord v2 = run_with_auc(0.75);
  ExpectError([&] { reg_->Promote("payment-retry/2", "production", {"auc>=production"}); },
              ErrorCode::kFailedPrecondition, "refused: auc 0.75 < production (v1) 0.81");
  const VersionRecord v3 = run_with_auc(0.9);
  EXPECT_EQ(reg_->Promote("payment-retry/3", "production", {"auc>=production"}).from_version, 1);
  EXPECT_EQ(v2.version + 1, v3.version);

  // A run naming another dataset does not compare with production.
  ExternalRunSpec other = Spec();
  other.dataset = "another-sample";
  const int64_t elsewhere = reg_->StartExternalRun(other);
  reg_->LogMetrics(elsewhere, std::vector<MetricPoint>{{"auc", 0.99, 0, 1}});
  reg_->LogRunArtifactBytes(elsewhere, "xgb.json", Xgb().json);
  const VersionRecord v4 = reg_->RegisterRunArtifact(elsewhere, "xgb.json", "xgboost");
  ExpectError(
      [&] {
        reg_->Promote("payment-retry/" + std::to_string(v4.version), "production",
                      {"auc>=production"});
      },
      ErrorCode::kFailedPrecondition, "refused: cannot compare auc");
  EXPECT_TRUE(reg_->CheckConsistency().empty());
}

TEST_P(Tracking, RegisterRunArtifactRefusals) {
  const int64_t id = reg_->StartExternalRun(Spec());
  reg_->LogRunArtifactBytes(id, "xgb.json", Xgb().json);
  reg_->LogRunArtifactBytes(id, "notes.txt", "not a model");
  ExpectError([&] { reg_->RegisterRunArtifact(id, "xgb.json", "ease"); },
              ErrorCode::kInvalidArgument, "families that can: xgboost");
  ExpectError([&] { reg_->RegisterRunArtifact(id, "xgb.json", "no-such-family"); },
              ErrorCode::kInvalidArgument, "no kind knows it (families that can: xgboost)");
  ExpectError([&] { reg_->RegisterRunArtifact(id, "missing.json", "xgboost"); },
              ErrorCode::kNotFound, "run " + std::to_string(id) + " has no artifact");
  ExpectError([&] { reg_->RegisterRunArtifact(id, "xgb.json", "xgboost", "bad name"); },
              ErrorCode::kInvalidArgument, "not a valid model name");
  const size_t artifacts_before = reg_->artifacts().List().size();
  EXPECT_THROW(reg_->RegisterRunArtifact(id, "notes.txt", "xgboost"), Error);
  EXPECT_EQ(reg_->artifacts().List().size(), artifacts_before);  // nothing imported
  EXPECT_FALSE(reg_->store().GetModel("payment-retry").has_value());

  // Under another model name; then one version per run.
  const VersionRecord v = reg_->RegisterRunArtifact(id, "xgb.json", "xgboost", "retry-v2");
  EXPECT_EQ(v.model_name, "retry-v2");
  ExpectError([&] { reg_->RegisterRunArtifact(id, "xgb.json", "xgboost"); },
              ErrorCode::kFailedPrecondition, "already registered version 1");

  const int64_t failed = reg_->StartExternalRun(Spec());
  reg_->LogRunArtifactBytes(failed, "xgb.json", Xgb().json);
  reg_->FinishExternalRun(failed, RunStatus::kFailed, "diverged");
  ExpectError([&] { reg_->RegisterRunArtifact(failed, "xgb.json", "xgboost"); },
              ErrorCode::kFailedPrecondition, "is failed");
  ExpectError([&] { reg_->RegisterRunArtifact(TrainRun("m"), "xgb.json", "xgboost"); },
              ErrorCode::kFailedPrecondition, "recorded by marquee train");
  ExpectError([&] { reg_->RegisterRunArtifact(31337, "xgb.json", "xgboost"); },
              ErrorCode::kNotFound, "no run 31337");

  // A damaged stored file is refused before the import reads it.
  const int64_t damaged = reg_->StartExternalRun(Spec());
  const RunArtifact a = reg_->LogRunArtifactBytes(damaged, "xgb.json", Xgb().json);
  std::filesystem::remove(reg_->artifacts().PathFor(a.digest));
  Env::Default()->WriteFileAtomic(reg_->artifacts().PathFor(a.digest), Xgb().json + " ");
  ExpectError([&] { reg_->RegisterRunArtifact(damaged, "xgb.json", "xgboost"); },
              ErrorCode::kCorruption, "is damaged");

  Registry no_kinds(RegistryOptions{dir_.file("home"), nullptr, {}, {}});
  const int64_t plain = reg_->StartExternalRun(Spec());
  reg_->LogRunArtifactBytes(plain, "xgb.json", Xgb().json);
  ExpectError([&] { no_kinds.RegisterRunArtifact(plain, "xgb.json", "xgboost"); },
              ErrorCode::kFailedPrecondition, "without model kinds");
}

TEST(MetricThresholds, ParseTheGateSyntaxWithANumber) {
  MetricThreshold t = ParseMetricThreshold("auc>=0.7");
  EXPECT_EQ(t.metric, "auc");
  EXPECT_EQ(t.op, ">=");
  EXPECT_EQ(t.value, 0.7);
  t = ParseMetricThreshold(" logloss < 0.25 ");
  EXPECT_EQ(t.metric, "logloss");
  EXPECT_EQ(t.op, "<");
  EXPECT_EQ(t.value, 0.25);
  ExpectError([] { ParseMetricThreshold("auc>=production"); }, ErrorCode::kInvalidArgument,
              "compare with a finite number");
  ExpectError([] { ParseMetricThreshold("auc"); }, ErrorCode::kInvalidArgument,
              "metric filter 'auc': expected METRIC OP VALUE");
  ExpectError([] { ParseMetricThreshold(">0.5"); }, ErrorCode::kInvalidArgument,
              "a metric and a value are both needed");
  // Gates keep their own wording.
  ExpectError([] { ParseGate("auc"); }, ErrorCode::kInvalidArgument, "--require 'auc'");
}

TEST_P(Tracking, RunsListFiltersOnMetricThresholdsAndTimesWithExactPaging) {
  MetadataStore& store = reg_->store();
  // 90 runs started at t = 1000 + 10 i: trained ones (metrics written on completion) and
  // external ones (metrics logged), with auc and logloss from i; every 9th has a NaN auc.
  struct Expect {
    int64_t id, started;
    double auc, logloss;
  };
  std::vector<Expect> runs;
  for (int i = 0; i < 90; ++i) {
    const double auc = i % 9 == 0 ? std::numeric_limits<double>::quiet_NaN() : (i % 17) / 17.0;
    const double logloss = (i % 5) / 5.0;
    RunRecord r;
    r.model_name = i % 2 ? "a" : "b";
    r.family = "ease";
    r.started_at = 1000 + 10 * i;
    r.host = "test-host";
    r.pid = 4242;
    if (i % 3 == 0 && !std::isnan(auc)) {
      r.source = "external";
      r.id = store.CreateRun(r);
      store.LogMetrics(r.id,
                       std::vector<MetricPoint>{
                           {"auc", 0.0, 0, 1}, {"auc", auc, 5, 1}, {"logloss", logloss, 5, 1}});
    } else {
      r.id = store.CreateRun(r);
      r.status = RunStatus::kFailed;  // a trained run's metrics, as FinishRun writes them
      r.metrics = {{"auc", auc}, {"logloss", logloss}};
      store.FinishRun(r);
    }
    runs.push_back({r.id, r.started_at, auc, logloss});
  }
  auto check = [&](RunQuery q, const std::function<bool(const Expect&)>& keep) {
    std::vector<int64_t> want;
    for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
      if (keep(*it)) want.push_back(it->id);
    }
    q.limit = 0;
    EXPECT_EQ(reg_->CountRuns(q), static_cast<int64_t>(want.size()));
    std::vector<int64_t> got;
    q.limit = 7;  // keyset pages
    for (;;) {
      std::vector<RunRecord> page = reg_->ListRuns(q);
      if (page.empty()) break;
      for (const RunRecord& r : page) got.push_back(r.id);
      q.before_id = page.back().id;
    }
    EXPECT_EQ(got, want);
    return want.size();
  };
  RunQuery q;
  q.metrics = {ParseMetricThreshold("auc>=0.5")};
  EXPECT_GT(check(q, [](const Expect& e) { return e.auc >= 0.5; }), 10u);
  q.metrics.push_back(ParseMetricThreshold("logloss<0.5"));
  EXPECT_GT(check(q, [](const Expect& e) { return e.auc >= 0.5 && e.logloss < 0.5; }), 5u);
  q.metrics = {ParseMetricThreshold("auc<0.3"), ParseMetricThreshold("logloss>0")};
  q.started_after = 1200;
  q.started_before = 1700;
  EXPECT_GT(check(q,
                  [](const Expect& e) {
                    return e.auc < 0.3 && e.logloss > 0 && e.started >= 1200 && e.started < 1700;
                  }),
            2u);
  q = RunQuery{};
  q.started_after = 1500;
  q.model = "a";
  EXPECT_EQ(check(q,
                  [&](const Expect& e) {
                    return e.started >= 1500 && store.GetRun(e.id)->model_name == "a";
                  }),
            20u);
  q = RunQuery{};
  q.metrics = {ParseMetricThreshold("never-logged>0")};
  EXPECT_EQ(check(q, [](const Expect&) { return false; }), 0u);
  // An operator that is not one of the four never reaches SQL.
  q.metrics = {MetricThreshold{"auc", "!= 0 OR 1 =", 0}};
  ExpectError([&] { reg_->ListRuns(q); }, ErrorCode::kInvalidArgument, "unknown operator");
  ExpectError([&] { reg_->CountRuns(q); }, ErrorCode::kInvalidArgument, "unknown operator");
}

TEST(TrackingStore, ASchemaTwoStoreUpgradesInPlaceAndKeepsItsRuns) {
  testing::TempDir dir;
  const std::string path = dir.file("registry.db");
  int64_t trained = 0;
  {
    auto s = OpenSqliteStore(path);
    RunRecord r;
    r.model_name = "m";
    r.family = "ease";
    r.started_at = 5;
    r.host = "h";
    trained = s->CreateRun(r);
    r.id = trained;
    r.status = RunStatus::kCompleted;
    r.ended_at = 6;
    r.artifact = std::string(64, 'f');
    r.metrics = {{"recall@20", 0.4}};
    NewVersion v;
    v.model_name = "m";
    v.artifact = r.artifact;
    v.run_id = trained;
    v.metrics = {{"recall@20", 0.4}};
    v.created_at = 6;
    s->Atomically([&] {
      s->FinishRun(r);
      s->RegisterVersion(v);
    });
  }
  testing::DowngradeRegistry(path, 2);  // what the previous marquee left
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'external_runs'", -1,
                       &st, nullptr);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    EXPECT_EQ(sqlite3_column_int(st, 0), 0);  // really a schema-2 file
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  auto s = OpenSqliteStore(path);
  EXPECT_EQ(s->SchemaVersion(), 3);
  RunRecord old = *s->GetRun(trained);
  EXPECT_EQ(old.source, "train");
  EXPECT_TRUE(old.tags.empty());
  EXPECT_EQ(old.version, 1);
  EXPECT_EQ(old.metric("recall@20"), 0.4);
  RunRecord ext;
  ext.model_name = "m";
  ext.source = "external";
  ext.started_at = 7;
  const int64_t id = s->CreateRun(ext);
  s->LogMetrics(id, std::vector<MetricPoint>{{"auc", 0.5, 0, 1}});
  EXPECT_EQ(s->GetRun(id)->metric("auc"), 0.5);
  EXPECT_TRUE(s->CheckIntegrity().empty());
  s.reset();
  // Upgraded once: a second open finds schema 3 and the migration recorded.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT description FROM schema_migrations WHERE version = 3", -1, &st,
                     nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "remote tracking");
  sqlite3_finalize(st);
  sqlite3_close(db);
  EXPECT_EQ(OpenSqliteStore(path)->SchemaVersion(), 3);
}

}  // namespace
}  // namespace marquee

namespace marquee {
namespace {

// Listing orders and filters in the store: by a final metric both ways (runs without it last),
// by start, params matched as text or number, pages by offset that
// cover the order exactly once.
TEST_P(Tracking, ListRunsSortsByAMetricFiltersByParamsAndPagesByOffset) {
  // Runs 1..6: auc 0.5, 0.9, (none), 0.7, (only another metric), 0.9; params alternate.
  const double kNone = -1;
  const double aucs[] = {0.5, 0.9, kNone, 0.7, kNone, 0.9};
  std::vector<int64_t> ids;
  for (int i = 0; i < 6; ++i) {
    ExternalRunSpec spec;
    spec.model_name = "sorted";
    spec.params = {{"depth", i % 2 == 0 ? 4 : 6},
                   {"opt", i < 3 ? "adam" : "sgd"},
                   {"eta", 0.1},
                   {"wide", i == 1}};
    ids.push_back(reg_->StartExternalRun(spec));
    const MetricPoint p{aucs[i] != kNone ? "auc" : "loss", aucs[i] != kNone ? aucs[i] : 0.3, 0,
                        1000};
    if (i != 2) reg_->LogMetrics(ids.back(), std::span(&p, 1));
  }
  auto list = [&](RunQuery q) {
    q.model = "sorted";
    std::vector<int64_t> out;
    for (const RunRecord& r : reg_->ListRuns(q)) out.push_back(r.id);
    return out;
  };
  const auto id = [&](int i) { return ids[i - 1]; };
  RunQuery q;
  q.limit = 0;
  EXPECT_EQ(list(q), (std::vector<int64_t>{id(6), id(5), id(4), id(3), id(2), id(1)}));
  q.sort = RunQuery::Sort::kIdAsc;
  EXPECT_EQ(list(q), (std::vector<int64_t>{id(1), id(2), id(3), id(4), id(5), id(6)}));
  q.sort = RunQuery::Sort::kMetricDesc;
  q.sort_metric = "auc";
  EXPECT_EQ(list(q), (std::vector<int64_t>{id(6), id(2), id(4), id(1), id(5), id(3)}));
  q.sort = RunQuery::Sort::kMetricAsc;
  EXPECT_EQ(list(q), (std::vector<int64_t>{id(1), id(4), id(2), id(6), id(3), id(5)}));
  // Pages of 2 by offset: the same order, each run once.
  std::vector<int64_t> paged;
  q.limit = 2;
  for (q.offset = 0; q.offset < 8; q.offset += 2) {
    auto page = list(q);
    EXPECT_LE(page.size(), 2u);
    paged.insert(paged.end(), page.begin(), page.end());
  }
  EXPECT_EQ(paged, (std::vector<int64_t>{id(1), id(4), id(2), id(6), id(3), id(5)}));
  q.offset = 0;
  q.limit = 0;
  // Params: numbers as numbers ("4.0" is 4), strings and booleans as text; all must hold.
  q.params = {{"depth", "4.0"}};
  EXPECT_EQ(list(q), (std::vector<int64_t>{id(1), id(3), id(5)}));
  q.params = {{"depth", "4"}, {"opt", "sgd"}};
  EXPECT_EQ(list(q), (std::vector<int64_t>{id(5)}));
  q.params = {{"wide", "true"}};
  EXPECT_EQ(list(q), (std::vector<int64_t>{id(2)}));
  q.params = {{"eta", "0.1"}};
  EXPECT_EQ(list(q).size(), 6u);
  q.params = {{"opt", "4"}};
  EXPECT_TRUE(list(q).empty());
  q.params = {{"depth", "sgd"}};
  EXPECT_TRUE(list(q).empty());
  q.params = {{"nope", "1"}};
  EXPECT_TRUE(list(q).empty());
  // Counting ignores order and paging, and applies the params.
  q.params = {{"opt", "adam"}};
  q.offset = 1;
  q.model = "sorted";
  EXPECT_EQ(reg_->CountRuns(q), 3);
  // A metric order without a metric, a negative offset: named errors.
  q.sort_metric = "";
  EXPECT_THROW(reg_->ListRuns(q), Error);
  q.sort_metric = "auc";
  q.offset = -1;
  EXPECT_THROW(reg_->ListRuns(q), Error);
}

}  // namespace
}  // namespace marquee

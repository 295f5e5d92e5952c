// Shadow scoring in the server (serving/shadow.h) over HTTP, in-process: the shadow API, the
// candidate's lists logged beside production's for exactly the requests shadowed, the answer
// unchanged, the online metrics, sampling at 0 and 1, drops when the worker's queue is full, and
// canary routing by the model's tag (issue #17).
#include <gtest/gtest.h>

#include <chrono>

#include "experiments/experiment.h"
#include "experiments/shadow_log.h"
#include "pipeline/train.h"
#include "serving/experiment_router.h"
#include "serving/shadow.h"
#include "serving_test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;
using marquee::testing::HttpResult;

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<std::string> Ids(const json& response) {
  std::vector<std::string> out;
  for (const auto& it : response["items"]) out.push_back(it["id"]);
  return out;
}

class ShadowServingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = dir_.file("home");
    marquee::testing::RegisterModel(home_, "recs", "ease", {{"lambda", 10.0}});
    marquee::testing::RegisterModel(home_, "recs", "popularity");
  }
  void Start(size_t queue = 256, bool experiments = false) {
    marquee::testing::InProcessServerOptions o;
    o.refs = {"recs/1"};
    o.experiments = experiments;
    o.core.shadow_queue = queue;
    server_ = std::make_unique<marquee::testing::InProcessServer>(home_, std::move(o));
    server_->Start();
  }
  HttpResult Rec(const std::string& user, const std::string& model = "recs/1") {
    return server_->client()->Post("/v1/recommend", {{"model", model}, {"user", user}, {"k", 5}});
  }
  std::vector<ShadowRecord> Logged() {
    std::vector<ShadowRecord> out;
    auto log = ShadowLog::Open(home_ + "/serving/shadow", ShadowLogOptions{.read_only = true});
    log->ForEach("recs", 0, INT64_MAX, [&](const ShadowRecord& r) {
      out.push_back(r);
      return true;
    });
    return out;
  }

  marquee::testing::TempDir dir_;
  std::string home_;
  std::unique_ptr<marquee::testing::InProcessServer> server_;
};

TEST_F(ShadowServingTest, ShadowsEveryRequestAtSampleOneAndLogsBothLists) {
  Start();
  auto* c = server_->client();
  HttpResult r = c->Post("/api/v1/models/recs/shadow", {{"version", 2}, {"sample", 1.0}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["candidate"], 2);
  EXPECT_EQ(r.json()["active"], true);

  std::map<std::string, std::vector<std::string>> production, candidate;
  for (int u = 0; u < 12; ++u) {
    const std::string user = "u" + std::to_string(u);
    HttpResult a = Rec(user);
    ASSERT_EQ(a.status, 200) << a.body;
    EXPECT_EQ(a.json()["version"], 1);  // production answers, never the candidate
    production[user] = Ids(a.json());
    candidate[user] = Ids(Rec(user, "recs/2").json());  // not shadowed: it is the candidate
  }
  // The worker scores asynchronously; let it finish before the play arrives, or a request it
  // reaches late would see the play as already seen and leave the item out.
  server_->core()->shadow()->Flush();
  // u0 plays the candidate's first item after the request.
  const int64_t later = Now() + 5;
  ASSERT_EQ(
      c->Post("/v1/events",
              {{"events",
                {{{"user", "u0"}, {"item", candidate["u0"][0]}, {"type", "play"}, {"ts", later}}}}})
          .status,
      200);
  HttpResult g = c->Get("/api/v1/models/recs/shadow?window=3600");
  ASSERT_EQ(g.status, 200) << g.body;
  const json s = g.json();
  EXPECT_EQ(s["replica"]["scored"], 12) << s.dump();
  EXPECT_EQ(s["replica"]["dropped"], 0);
  EXPECT_EQ(s["metrics"]["requests"], 12) << s.dump();
  EXPECT_EQ(s["metrics"]["candidate_versions"], json({2}));
  EXPECT_EQ(s["metrics"]["recall"]["requests_with_plays"], 1);
  EXPECT_EQ(s["metrics"]["recall"]["candidate"], 1.0);

  const auto logged = Logged();
  ASSERT_EQ(logged.size(), 12u);
  for (const ShadowRecord& rec : logged) {
    EXPECT_EQ(rec.production_version, 1);
    EXPECT_EQ(rec.candidate_version, 2);
    EXPECT_EQ(rec.k, 5u);
    EXPECT_EQ(rec.production, production[rec.user]) << rec.user;
    EXPECT_EQ(rec.candidate, candidate[rec.user]) << rec.user;
  }
  // Agreement from the lists themselves: EASE and popularity differ for these members.
  EXPECT_LT(s["metrics"]["agreement"]["jaccard_mean"].get<double>(), 1.0);

  // Stopped: nothing more is shadowed.
  ASSERT_EQ(c->Call("DELETE", "/api/v1/models/recs/shadow").status, 200);
  EXPECT_EQ(Rec("u1").status, 200);
  server_->core()->shadow()->Flush();
  EXPECT_EQ(server_->core()->shadow()->offered(), 12u);
  marquee::testing::ExpectErrorResponse(c->Call("DELETE", "/api/v1/models/recs/shadow"), 404,
                                        "not_found", "not being shadowed");
}

TEST_F(ShadowServingTest, RefusesBadSettingsAndAnswersWhenTheQueueIsFull) {
  Start(/*queue=*/0);
  auto* c = server_->client();
  marquee::testing::ExpectErrorResponse(
      c->Post("/api/v1/models/recs/shadow", {{"version", 2}, {"sample", 1.5}}), 400,
      "invalid_argument", "sample");
  marquee::testing::ExpectErrorResponse(c->Post("/api/v1/models/recs/shadow", {{"version", 9}}),
                                        404, "not_found", "9");
  marquee::testing::ExpectErrorResponse(
      c->Post("/api/v1/models/recs/shadow", {{"version", 2}, {"bogus", 1}}), 400,
      "invalid_argument", "bogus");
  ASSERT_EQ(c->Post("/api/v1/models/recs/shadow", {{"version", 2}, {"sample", 1.0}}).status, 200);
  for (int u = 0; u < 5; ++u) EXPECT_EQ(Rec("u" + std::to_string(u)).status, 200);
  auto* sc = server_->core()->shadow();
  sc->Flush();
  EXPECT_EQ(sc->offered(), 5u);
  EXPECT_EQ(sc->dropped(), 5u);  // no room on the worker: dropped, counted, answered anyway
  EXPECT_EQ(sc->scored(), 0u);
}

TEST_F(ShadowServingTest, SamplesAboutTheShareAsked) {
  Start();
  ASSERT_EQ(server_->client()
                ->Post("/api/v1/models/recs/shadow", {{"version", 2}, {"sample", 0.3}})
                .status,
            200);
  const int n = 400;
  for (int q = 0; q < n; ++q) ASSERT_EQ(Rec("u" + std::to_string(q % 60)).status, 200);
  const double share = static_cast<double>(server_->core()->shadow()->offered()) / n;
  // Binomial(400, 0.3): sd 0.023; five of them either side.
  EXPECT_NEAR(share, 0.3, 0.115);
}

TEST_F(ShadowServingTest, CanaryTagRoutesTheModelsRequestsThroughTheExperiment) {
  Start(256, /*experiments=*/true);
  {
    Registry reg = OpenRegistry(home_);
    const std::string t =
        "[experiment]\nname = \"canary-x\"\nsalt = \"s\"\n[[cell]]\nname = \"production\"\n"
        "model = \"recs/1\"\nweight = 0.5\n[[cell]]\nname = \"candidate\"\nmodel = "
        "\"recs/2\"\nweight = 0.5\n";
    CreateExperiment(reg, ParseExperimentToml(t, "x.toml"), t, 1);
    StartExperiment(reg.store(), "canary-x", 2);
    reg.SetTags(ParseModelRef("recs"), {{"canary", "canary-x"}}, {});
  }
  server_->models()->Add({"recs/2"});
  server_->models()->Refresh();
  // What the poller (or POST /admin/reload) does on a served replica.
  server_->core()->experiments()->Refresh();
  server_->core()->shadow()->Refresh();
  std::set<int64_t> versions;
  for (int u = 0; u < 30; ++u) {
    HttpResult a = Rec("u" + std::to_string(u));
    ASSERT_EQ(a.status, 200) << a.body;
    EXPECT_EQ(a.json()["experiment"]["name"], "canary-x") << a.body;
    versions.insert(a.json()["version"].get<int64_t>());
  }
  EXPECT_EQ(versions, (std::set<int64_t>{1, 2}));  // both cells served
  // The tag removed: production answers again.
  {
    Registry reg = OpenRegistry(home_);
    reg.SetTags(ParseModelRef("recs"), {}, {"canary"});
  }
  server_->core()->shadow()->Refresh();
  HttpResult a = Rec("u1");
  EXPECT_FALSE(a.json().contains("experiment")) << a.body;
  EXPECT_EQ(a.json()["version"], 1);
}

}  // namespace
}  // namespace marquee

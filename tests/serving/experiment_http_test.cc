// Online experiments over HTTP, in-process: create and start experiments in the registry,
// /v1/recommend with "experiment" (A/B cells, interleaving, stop/start without a restart, every
// error case), play events through /v1/events, and the analysis of the logs.
#include <gtest/gtest.h>

#include <set>
#include <tuple>

#include "events/event_log.h"
#include "experiments/analysis.h"
#include "experiments/experiment.h"
#include "pipeline/train.h"
#include "serving/experiment_router.h"
#include "serving/http_server.h"
#include "serving/model_manager.h"
#include "serving/service.h"
#include "serving_test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;
using marquee::testing::HttpClient;
using marquee::testing::HttpResult;

std::string Toml(const std::string& name, const std::string& mode, const std::string& a,
                 const std::string& b) {
  return "[experiment]\nname = \"" + name + "\"\nsalt = \"2026-11\"\nmode = \"" + mode +
         "\"\nattribution_window = \"1h\"\n[[cell]]\nname = \"control\"\nmodel = \"" + a +
         "\"\n[[cell]]\nname = \"treatment\"\nmodel = \"" + b + "\"\n";
}

class ExperimentHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = dir_.file("home");
    marquee::testing::RegisterModel(home_, "recs", "ease", {{"lambda", 10.0}});
    marquee::testing::RegisterModel(home_, "recs", "popularity");
    marquee::testing::RegisterModel(home_, "recs", "itemknn");  // v3: not served below
    Registry reg = OpenRegistry(home_);
    for (auto [name, mode, b] :
         {std::tuple{"ab", "ab", "recs/2"}, std::tuple{"tdi", "interleave", "recs/2"},
          std::tuple{"draft", "ab", "recs/2"}, std::tuple{"unserved", "ab", "recs/3"}}) {
      const std::string t = Toml(name, mode, "recs/1", b);
      CreateExperiment(reg, ParseExperimentToml(t, "x.toml"), t, 1);
    }
    for (const char* name : {"ab", "tdi", "unserved"}) {
      StartExperiment(reg.store(), name, 10);
    }
  }
  void TearDown() override { StopServer(); }

  void StartServer() {
    marquee::testing::InProcessServerOptions o;
    o.refs = {"recs/1", "recs/2"};
    o.experiments = true;
    o.core.serve_running_cells = false;  // "unserved" below must stay so
    // As `marquee serve` does, but loading at once (serve loads in the background).
    o.core.on_new_cells = [this](const std::vector<std::string>& refs) {
      added_.insert(added_.end(), refs.begin(), refs.end());
      if (models_ != nullptr && !models_->Add(refs).empty()) models_->Refresh();
    };
    server_ = std::make_unique<marquee::testing::InProcessServer>(home_, std::move(o));
    router_ = server_->core()->experiments();
    server_->Start();
    client_ = server_->client();
    events_ = server_->events();
    metrics_ = server_->metrics();
    models_ = server_->models();
  }
  void StopServer() {
    server_.reset();
    models_ = nullptr;
    router_ = nullptr;
  }

  HttpResult Rec(const json& body) { return client_->Post("/v1/recommend", body); }
  static void ExpectError(const HttpResult& r, int status, const std::string& code,
                          const std::string& needle) {
    marquee::testing::ExpectErrorResponse(r, status, code, needle);
  }
  Experiment Get(const std::string& name) {
    Registry reg = OpenRegistry(home_);
    return GetExperiment(reg.store(), name);
  }

  marquee::testing::TempDir dir_;
  std::string home_;
  std::unique_ptr<marquee::testing::InProcessServer> server_;
  ExperimentRouter* router_ = nullptr;  // server_'s
  // Parts of server_ (valid while it runs).
  HttpClient* client_ = nullptr;
  EventLog* events_ = nullptr;
  ServingMetrics* metrics_ = nullptr;
  ModelManager* models_ = nullptr;
  std::vector<std::string> added_;  // references passed to on_new_cells
};

TEST_F(ExperimentHttpTest, AbAnswersFromTheMembersCellAndLogsExposures) {
  StartServer();
  const ExperimentSpec spec = Get("ab").spec;
  std::set<std::string> cells;
  for (int u = 0; u < 40; ++u) {
    const std::string user = "u" + std::to_string(u);
    HttpResult r = Rec({{"experiment", "ab"}, {"user", user}, {"k", 3}});
    ASSERT_EQ(r.status, 200) << r.body;
    json j = r.json();
    const size_t cell = AssignCell(spec, user);
    EXPECT_EQ(j["experiment"]["name"], "ab");
    EXPECT_EQ(j["experiment"]["cell"], spec.cells[cell].name);
    EXPECT_EQ(j["version"], cell == 0 ? 1 : 2) << r.body;  // control = recs/1, treatment = recs/2
    EXPECT_EQ(j["items"].size(), 3u);
    cells.insert(j["experiment"]["cell"]);
    // Sticky: the same member again gets the same cell.
    EXPECT_EQ(Rec({{"experiment", "ab"}, {"user", user}}).json()["experiment"]["cell"],
              spec.cells[cell].name);
  }
  EXPECT_EQ(cells.size(), 2u);
  router_->exposures().Flush();
  int n = 0, first = 0;
  router_->exposures().ForEach("ab", [&](const Exposure& e) {
    ++n;
    first += e.first;
    EXPECT_EQ(e.cell, spec.cells[AssignCell(spec, e.user)].name);
    return true;
  });
  EXPECT_EQ(n, 80);
  EXPECT_EQ(first, 40);
}

TEST_F(ExperimentHttpTest, ErrorsNameTheProblem) {
  StartServer();
  ExpectError(Rec({{"experiment", "ab"}, {"history", {"i1"}}}), 400, "invalid_argument",
              "user: required");
  ExpectError(Rec({{"experiment", "nope"}, {"user", "u1"}}), 404, "not_found", "'nope'");
  ExpectError(Rec({{"experiment", "draft"}, {"user", "u1"}}), 409, "failed_precondition", "draft");
  ExpectError(Rec({{"experiment", "ab"}, {"model", "recs/1"}, {"user", "u1"}}), 400,
              "invalid_argument", "model");
  ExpectError(Rec({{"experiment", 5}, {"user", "u1"}}), 400, "invalid_argument", "experiment");
  ExpectError(client_->Post("/v1/recommend/batch",
                            {{"requests", {{{"experiment", "ab"}, {"user", "u1"}}}}}),
              400, "invalid_argument", "requests[0].experiment");
  // A cell whose model this server does not serve: 503 naming the reference (whichever cell the
  // member is in, control recs/1 is served; find a member of the treatment, recs/3).
  const ExperimentSpec spec = Get("unserved").spec;
  std::string user;
  for (int u = 0; user.empty(); ++u) {
    if (AssignCell(spec, "u" + std::to_string(u)) == 1) user = "u" + std::to_string(u);
  }
  ExpectError(Rec({{"experiment", "unserved"}, {"user", user}}), 503, "unavailable", "recs/3");
}

TEST_F(ExperimentHttpTest, StopAndStartTakeEffectWithoutARestart) {
  StartServer();
  const ExperimentSpec spec = Get("ab").spec;
  std::string treated;
  for (int u = 0; treated.empty(); ++u) {
    if (AssignCell(spec, "u" + std::to_string(u)) == 1) treated = "u" + std::to_string(u);
  }
  EXPECT_EQ(Rec({{"experiment", "ab"}, {"user", treated}}).json()["experiment"]["cell"],
            "treatment");
  {
    Registry reg = OpenRegistry(home_);
    StopExperiment(reg.store(), "ab", 20);
  }
  router_->Refresh();  // what the poller does every --poll-interval
  json stopped = Rec({{"experiment", "ab"}, {"user", treated}}).json();
  EXPECT_EQ(stopped["experiment"]["cell"], "control");
  EXPECT_EQ(stopped["experiment"]["state"], "stopped");
  EXPECT_EQ(stopped["version"], 1);
  {
    Registry reg = OpenRegistry(home_);
    StartExperiment(reg.store(), "ab", 30);
  }
  router_->Refresh();
  EXPECT_EQ(Rec({{"experiment", "ab"}, {"user", treated}}).json()["experiment"]["cell"],
            "treatment");
  router_->exposures().Flush();
  int n = 0;
  router_->exposures().ForEach("ab", [&](const Exposure&) { return ++n, true; });
  EXPECT_EQ(n, 2);  // the request while stopped was not logged
}

TEST_F(ExperimentHttpTest, AnExperimentStartedAfterTheServerGetsItsCellModelsLoaded) {
  StartServer();
  // The constructor reports nothing (the server adds RunningCellRefs() itself).
  EXPECT_TRUE(added_.empty());
  const int64_t v = marquee::testing::RegisterModel(home_, "recs", "ials", {{"factors", 4}});
  const std::string late_ref = "recs/" + std::to_string(v);
  {
    Registry reg = OpenRegistry(home_);
    const std::string t = Toml("late", "ab", "recs/1", late_ref);
    CreateExperiment(reg, ParseExperimentToml(t, "late.toml"), t, 40);
    StartExperiment(reg.store(), "late", 41);
  }
  const ExperimentSpec spec = Get("late").spec;
  std::string treated;
  for (int u = 0; treated.empty(); ++u) {
    if (AssignCell(spec, "u" + std::to_string(u)) == 1) treated = "u" + std::to_string(u);
  }
  // Before the router has seen the start: unknown experiment.
  ExpectError(Rec({{"experiment", "late"}, {"user", treated}}), 404, "not_found", "'late'");
  router_->Refresh();  // the poller or POST /admin/reload: reports the new cell, which loads
  EXPECT_EQ(added_, (std::vector<std::string>{late_ref}));
  HttpResult r = Rec({{"experiment", "late"}, {"user", treated}, {"k", 3}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["version"], v);
  EXPECT_EQ(r.json()["experiment"]["cell"], "treatment");
  EXPECT_EQ(client_->Get("/readyz").status, 200);
  json described = client_->Get("/v1/models").json();
  bool listed = false;
  for (const auto& m : described["models"]) listed = listed || m["ref"] == late_ref;
  EXPECT_TRUE(listed) << described.dump();
  router_->Refresh();  // reported once
  EXPECT_EQ(added_.size(), 1u);
}

TEST(ModelManagerAdd, ABareModelNameKeepsMeaningTheReferenceGivenAtStart) {
  // A client asking for "recs" while the server was started with recs/1 must keep getting
  // recs/1 when an experiment's cell recs/2 is added later (not an "ambiguous name" error).
  marquee::testing::TempDir dir;
  const std::string home = dir.file("home");
  marquee::testing::RegisterModel(home, "recs");
  marquee::testing::RegisterModel(home, "recs", "popularity");
  ModelManagerOptions mo;
  mo.home = home;
  mo.refs = {"recs/1"};
  ModelManager models(std::move(mo));
  models.Refresh();
  EXPECT_EQ(models.Get("recs")->version, 1);
  EXPECT_EQ(models.Add({"recs/2", "recs/1"}), (std::vector<std::string>{"recs/2"}));
  EXPECT_TRUE(models.Add({"recs/2"}).empty());  // already served
  EXPECT_TRUE(models.ready());                  // recs/2 is not loaded yet: still ready
  models.Refresh();
  EXPECT_EQ(models.Get("recs")->version, 1);
  EXPECT_EQ(models.Get("recs/2")->version, 2);
  EXPECT_THROW(models.Add({"not a ref!"}), Error);
}

TEST_F(ExperimentHttpTest, InterleavingMergesBothRankersAndRecordsTheContributor) {
  StartServer();
  HttpResult r = Rec({{"experiment", "tdi"}, {"user", "u3"}, {"k", 6}});
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.json();
  EXPECT_EQ(j["experiment"]["mode"], "interleave");
  ASSERT_EQ(j["items"].size(), 6u);
  std::set<std::string> rankers, ids;
  for (const auto& it : j["items"]) {
    rankers.insert(it["ranker"].get<std::string>());
    ids.insert(it["id"].get<std::string>());
  }
  EXPECT_EQ(ids.size(), 6u);  // no duplicates
  EXPECT_EQ(rankers, (std::set<std::string>{"control", "treatment"}));
  EXPECT_EQ(j["rankers"]["control"]["version"], 1);
  EXPECT_EQ(j["rankers"]["treatment"]["version"], 2);
  router_->exposures().Flush();
  std::vector<Exposure> xs;
  router_->exposures().ForEach("tdi", [&](const Exposure& e) {
    xs.push_back(e);
    return true;
  });
  ASSERT_EQ(xs.size(), 1u);
  ASSERT_EQ(xs[0].rankers.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(xs[0].items[i], j["items"][i]["id"]);
    EXPECT_EQ(j["items"][i]["ranker"], xs[0].rankers[i] == 0 ? "control" : "treatment");
  }
}

TEST_F(ExperimentHttpTest, EndToEndPlaysAreAttributedAndAnalysed) {
  StartServer();
  const ExperimentSpec spec = Get("ab").spec;
  // Every member is shown 3 items; treatment members play one more of them than control members.
  double plays_of[2] = {0, 0}, members_of[2] = {0, 0};
  for (int u = 0; u < 60; ++u) {
    const std::string user = "u" + std::to_string(u);
    json res = Rec({{"experiment", "ab"}, {"user", user}, {"k", 3}}).json();
    ASSERT_TRUE(res.contains("items")) << res.dump();
    const int cell = res["experiment"]["cell"] == "treatment" ? 1 : 0;
    const int plays = cell + 1 + u % 2;
    plays_of[cell] += plays;
    members_of[cell] += 1;
    json events = json::array();
    for (int p = 0; p < plays; ++p) {
      events.push_back({{"user", user}, {"item", res["items"][p]["id"]}, {"type", "play"}});
    }
    events.push_back({{"user", user}, {"item", "i19"}, {"ts", 5}});  // long before: pre-period
    ASSERT_EQ(client_->Post("/v1/events", {{"events", events}}).status, 200);
  }
  router_->exposures().Flush();
  int progress_calls = 0;
  json a = AnalyzeFromHome(home_, Get("ab"),
                           [&](std::string_view, uint64_t, uint64_t) { ++progress_calls; });
  EXPECT_EQ(progress_calls, 0) << "a small analysis printed progress";
  EXPECT_EQ(a["members"], 60);
  EXPECT_EQ(a["exposures"], 60);
  const json& cmp = a["comparisons"][0]["plays_per_member"];
  ASSERT_FALSE(cmp.contains("error")) << a.dump();
  EXPECT_DOUBLE_EQ(a["cells"][0]["plays_per_member"].get<double>(), plays_of[0] / members_of[0]);
  EXPECT_DOUBLE_EQ(a["cells"][1]["plays_per_member"].get<double>(), plays_of[1] / members_of[1]);
  EXPECT_GT(cmp["diff"].get<double>(), 0.5);
  uint64_t credited = 0;
  for (const auto& c : a["cells"]) credited += c["plays"].get<uint64_t>();
  EXPECT_EQ(a["plays_credited"], credited);
  EXPECT_FALSE(a["srm"].contains("error")) << a["srm"].dump();
  EXPECT_NE(FormatAnalysis(a).find("treatment vs control"), std::string::npos);
}

// `marquee experiments analyze` shows progress on large analyses: exposures read (count not
// known up front), then members credited, each stage ending with its total.
TEST_F(ExperimentHttpTest, AnalyzeReportsProgressPerStageOnLargeAnalyses) {
  StartServer();
  constexpr int kMembers = 5000;
  for (int u = 0; u < kMembers; ++u) {
    Exposure x;
    x.experiment = "ab";
    x.cell = u % 2 ? "treatment" : "control";
    x.user = "m" + std::to_string(u);
    x.ts = 1'700'000'000;
    x.items = {"i1", "i2"};
    ASSERT_TRUE(router_->exposures().Record(x));
  }
  router_->exposures().Flush();
  std::vector<std::tuple<std::string, uint64_t, uint64_t>> calls;
  json a =
      AnalyzeFromHome(home_, Get("ab"), [&](std::string_view stage, uint64_t done, uint64_t total) {
        calls.emplace_back(std::string(stage), done, total);
      });
  EXPECT_EQ(a["members"], kMembers);
  ASSERT_FALSE(calls.empty());
  std::vector<std::tuple<std::string, uint64_t, uint64_t>> exposures, members;
  for (const auto& c : calls) (std::get<0>(c) == "exposures" ? exposures : members).push_back(c);
  ASSERT_EQ(exposures.size(), 2u);  // at 4096 and the end
  EXPECT_EQ(exposures.back(), std::make_tuple(std::string("exposures"), uint64_t{kMembers}, 0ull));
  ASSERT_EQ(members.size(), 5u);  // at 1024, 2048, 3072, 4096 and the end
  EXPECT_EQ(members[0], std::make_tuple(std::string("members"), 1024ull, uint64_t{kMembers}));
  EXPECT_EQ(members.back(),
            std::make_tuple(std::string("members"), uint64_t{kMembers}, uint64_t{kMembers}));
  EXPECT_EQ(std::get<0>(calls.front()), "exposures") << "members reported before exposures";
}

}  // namespace
}  // namespace marquee

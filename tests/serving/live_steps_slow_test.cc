// The pipeline's live-traffic steps end to end (issue #17) against a server (the ServerCore of
// `marquee serve` with its control plane, in this process, reached over HTTP by the steps as
// any replica would be), with members simulated by the test: each member likes one taste group
// of items (see Members for how they play).
//
//   (1) members start playing a new item; a candidate retrained on the logged events is
//       shadowed on live traffic (the `shadow` step over the server URL), passes, is promoted
//       (the `promote` step), and the next recommendation for a member comes from the new
//       version and holds the new item.
//   (3) a candidate that recommends only long-tail items (popularity trained on long-tail-only
//       interactions) gets a canary (the `canary` step): the play-rate guardrail fails by the
//       sequential test, the canary stops early, and production stays where it was.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "experiments/experiment.h"
#include "flow/step.h"
#include "kinds/recommender/model_bundle.h"
#include "pipeline/train.h"
#include "serving/shadow.h"
#include "serving_test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;
using Rows = std::vector<std::pair<std::string, std::string>>;  // (member, item)

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Members u0..u59: even ones like i0..i9, odd ones i10..i19 (five plays each, as TwoTastes);
// long-tail items t0..t19 played once each.
Rows BaseRows() {
  Rows rows;
  for (int u = 0; u < 60; ++u) {
    for (int k = 0; k < 5; ++k) {
      rows.emplace_back("u" + std::to_string(u),
                        "i" + std::to_string((u % 2) * 10 + (u * 3 + k * 7) % 10));
    }
  }
  for (int t = 0; t < 20; ++t)
    rows.emplace_back("u" + std::to_string(t * 3 % 60), "t" + std::to_string(t));
  return rows;
}

// Fits `family` on `rows` over the catalogue `items` and registers the next version of "recs".
int64_t TrainRows(const std::string& home, const std::string& family, const json& params,
                  const Rows& rows, const std::vector<std::string>& items) {
  std::vector<std::string> users;
  std::map<std::string, uint32_t> uix, iix;
  for (size_t i = 0; i < items.size(); ++i) iix[items[i]] = static_cast<uint32_t>(i);
  for (int u = 0; u < 60; ++u) {
    users.push_back("u" + std::to_string(u));
    uix[users.back()] = static_cast<uint32_t>(u);
  }
  std::vector<uint32_t> r, c;
  std::vector<float> v;
  std::set<std::pair<uint32_t, uint32_t>> seen;
  for (const auto& [u, i] : rows) {
    if (!uix.count(u) || !iix.count(i) || !seen.insert({uix[u], iix[i]}).second) continue;
    r.push_back(uix[u]);
    c.push_back(iix[i]);
    v.push_back(1.0f);
  }
  CsrMatrix x = CsrMatrix::FromTriplets(static_cast<uint32_t>(users.size()),
                                        static_cast<uint32_t>(items.size()), r, c, v);
  auto rec = CreateRecommender(family, params);
  Context ctx;
  rec->Fit(x, ctx);
  TrainingHistory t{users, x};
  Registry reg(home);
  std::string digest;
  SaveModelBundle(*rec, items, {{"test", true}}, home, Env::Default(), &digest, &t);
  NewVersion nv;
  nv.model_name = "recs";
  nv.artifact = digest;
  nv.family = family;
  nv.created_at = Now();
  return reg.store().RegisterVersion(nv).version;
}

std::vector<std::string> Catalogue(bool with_new_item) {
  std::vector<std::string> items;
  for (int i = 0; i < 20; ++i) items.push_back("i" + std::to_string(i));
  for (int t = 0; t < 20; ++t) items.push_back("t" + std::to_string(t));
  if (with_new_item) items.push_back("new");
  return items;
}

bool Likes(int member, const std::string& item, bool likes_new) {
  if (item == "new") return likes_new;
  if (item.size() < 2 || item[0] != 'i') return false;
  return (std::stoi(item.substr(1)) >= 10) == (member % 2 == 1);
}

// Simulated members on their own connection until stopped. Each asks for recommendations of
// recs@production, then plays (one second later, so after the request):
//   kShown    each shown item it likes with probability 0.6 and any shown item with 0.05: plays
//             follow the list (what exposure-based attribution of an experiment measures);
//   kOrganic  the new item with probability 0.7 (the trend) and one random item of its taste
//             group, whatever the list showed: plays follow the member's taste alone, so the
//             recall of a list measures how well it predicts them. Lists of 10 keep seen
//             items (members replay what they like).
class Members {
 public:
  enum Mode { kShown, kOrganic };
  Members(uint16_t port, std::vector<int> members, Mode mode, uint64_t seed)
      : thread_([=, this] {
          marquee::testing::HttpClient c(port);
          std::mt19937_64 rng(seed);
          std::uniform_real_distribution<double> u01(0, 1);
          size_t next = 0;
          while (!stop_.load()) {
            const int m = members[next++ % members.size()];
            const std::string user = "u" + std::to_string(m);
            json req = {{"model", "recs@production"}, {"user", user}, {"k", 5}};
            if (mode == kOrganic) {
              req["exclude_seen"] = false;
              req["k"] = 10;
            }
            auto a = c.Post("/v1/recommend", req);
            requests_.fetch_add(1);
            if (a.status != 200) {
              if (errors_.fetch_add(1) == 0)
                std::fprintf(stderr, "recommend: %s\n", a.body.c_str());
              continue;
            }
            std::vector<std::string> played;
            if (mode == kShown) {
              const json shown = a.json();
              for (const auto& it : shown["items"]) {
                const std::string item = it["id"];
                if (u01(rng) < (Likes(m, item, false) ? 0.6 : 0.05)) played.push_back(item);
              }
            } else {
              if (u01(rng) < 0.7) played.push_back("new");
              played.push_back("i" + std::to_string((m % 2) * 10 + static_cast<int>(rng() % 10)));
            }
            json events = json::array();
            for (const auto& item : played) {
              events.push_back(
                  {{"user", user}, {"item", item}, {"type", "play"}, {"ts", Now() + 1}});
            }
            if (!events.empty()) {
              auto e = c.Post("/v1/events", {{"events", events}});
              if (e.status != 200 && errors_.fetch_add(1) == 0) {
                std::fprintf(stderr, "events: %s\n", e.body.c_str());
              }
              plays_.fetch_add(events.size());
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(mode == kOrganic ? 10 : 2));
          }
        }) {}
  ~Members() { Stop(); }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  uint64_t requests() const { return requests_.load(); }
  uint64_t errors() const { return errors_.load(); }
  uint64_t plays() const { return plays_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> requests_{0}, errors_{0}, plays_{0};
  std::thread thread_;
};

class LiveStepsSlow : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = dir_.file("home");
    v1_ = TrainRows(home_, "ease", {{"lambda", 10.0}}, BaseRows(), Catalogue(false));
    Registry reg = OpenRegistry(home_);
    reg.Promote("recs/1", "production", {});
    marquee::testing::InProcessServerOptions o;
    o.refs = {"recs@production"};
    o.experiments = true;
    o.serve_reload = true;  // the poller thread runs (on request): /admin/reload works
    server_ = std::make_unique<marquee::testing::InProcessServer>(home_, std::move(o));
    server_->Start();
    url_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }

  // Runs one step of `kind` after a train step that made `candidate`, as the engine would.
  flow::StepResult RunStep(const std::string& kind, const json& spec, int64_t candidate) {
    Registry reg = OpenRegistry(home_);
    const json earlier = {{"train", {{"candidate", {{"model", "recs"}, {"version", candidate}}}}}};
    flow::StepContext ctx(reg, earlier);
    ctx.home = home_;
    ctx.env = Env::Default();
    ctx.server_url = url_;
    ctx.pipeline = "fresh";
    ctx.model = "recs";
    ctx.pipeline_run = 1;
    ctx.step_name = kind;
    ctx.order = {{"train", "train"}};
    ctx.log = [](const std::string& line) { std::fprintf(stderr, "  step: %s\n", line.c_str()); };
    json s = spec;
    s["name"] = kind;
    s["kind"] = kind;
    auto step = flow::CreateStep(kind);
    step->Validate(s);
    return step->Run(s, ctx);
  }

  json Recommend(const std::string& user, int k = 5) {
    auto r = server_->client()->Post("/v1/recommend",
                                     {{"model", "recs@production"}, {"user", user}, {"k", k}});
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json();
  }

  marquee::testing::TempDir dir_;
  std::string home_, url_;
  int64_t v1_ = 0;
  std::unique_ptr<marquee::testing::InProcessServer> server_;
};

TEST_F(LiveStepsSlow, RetrainedCandidateIsShadowedPromotedAndServesTheNewEvents) {
  // Even members u0..u24 start playing a new item.
  json events = json::array();
  for (int m = 0; m <= 24; m += 2) {
    events.push_back(
        {{"user", "u" + std::to_string(m)}, {"item", "new"}, {"type", "play"}, {"ts", Now()}});
  }
  ASSERT_EQ(server_->client()->Post("/v1/events", {{"events", events}}).status, 200);
  // Production cannot show it: it is not in v1's catalogue.
  const json before = Recommend("u50", 10);
  for (const auto& it : before["items"]) EXPECT_NE(it["id"], "new");

  // Snapshot + retrain: the training rows and every logged event.
  Rows rows = BaseRows();
  server_->events()->ForEach([&](const StoredEvent& e) {
    rows.emplace_back(e.user, e.item);
    return true;
  });
  const int64_t v2 = TrainRows(home_, "ease", {{"lambda", 10.0}}, rows, Catalogue(true));

  // Shadow on live traffic: even members u26..u48, who go on to play the new item too.
  flow::StepResult shadow;
  {
    Members members(server_->port(), {26, 28, 30, 32, 34, 36, 38, 40, 42, 44, 46, 48},
                    Members::kOrganic, 7);
    shadow = RunStep("shadow",
                     {{"sample", 1.0},
                      {"min_requests", 120},
                      {"min_requests_with_plays", 40},
                      {"max_recall_drop", 0.02},
                      {"window", 1},  // the plays right after the request
                      {"timeout", 40},
                      {"poll", 0.5}},
                     v2);
    members.Stop();
    EXPECT_EQ(members.errors(), 0u);
    EXPECT_GT(members.plays(), 0u);
  }
  ASSERT_TRUE(shadow.passed) << shadow.reason;
  std::fprintf(stderr, "shadow: %s\n", shadow.reason.c_str());
  const json m = shadow.outputs["shadow"]["metrics"];
  EXPECT_GE(m["requests"].get<int64_t>(), 120) << m.dump();
  EXPECT_GT(m["recall"]["candidate"].get<double>(), m["recall"]["production"].get<double>())
      << m.dump();
  {
    Registry reg = OpenRegistry(home_);
    EXPECT_FALSE(GetShadow(reg, "recs").active());  // the step stopped it
  }

  // Promote, the server follows the alias, and u50 (who never played it) gets the new item.
  const flow::StepResult promoted = RunStep("promote", json::object(), v2);
  ASSERT_TRUE(promoted.passed) << promoted.reason;
  ASSERT_EQ(server_->client()->Post("/admin/reload", json::object()).status, 200);
  const json next = Recommend("u50", 10);
  EXPECT_EQ(next["version"], v2);
  bool has_new = false;
  for (const auto& it : next["items"]) has_new = has_new || it["id"] == "new";
  EXPECT_TRUE(has_new) << next.dump();
}

TEST_F(LiveStepsSlow, LongTailCandidateFailsItsCanaryAndIsRolledBack) {
  // Offline it is a valid model of the data it saw: popularity over the long-tail interactions.
  Rows tail;
  for (const auto& r : BaseRows()) {
    if (r.second[0] == 't') tail.push_back(r);
  }
  const int64_t bad = TrainRows(home_, "popularity", json::object(), tail, Catalogue(false));
  std::vector<int> all;
  for (int u = 0; u < 60; ++u) all.push_back(u);
  flow::StepResult canary;
  {
    Members members(server_->port(), all, Members::kShown, 11);
    canary = RunStep("canary",
                     {{"share", 0.5},
                      {"min_members", 1000},  // more than exist: only the guardrail can stop it
                      {"max_drop", 0.2},
                      {"alpha", 0.05},
                      {"window", 600},
                      {"timeout", 50},
                      {"poll", 1}},
                     bad);
    members.Stop();
    EXPECT_EQ(members.errors(), 0u);
  }
  EXPECT_FALSE(canary.passed);
  std::fprintf(stderr, "canary: %s\n", canary.reason.c_str());
  EXPECT_NE(canary.reason.find("guardrail failed"), std::string::npos) << canary.reason;
  EXPECT_NE(canary.reason.find("stays at v1"), std::string::npos) << canary.reason;
  const json& c = canary.outputs["canary"];
  EXPECT_EQ(c["version"], bad);
  ASSERT_EQ(c["analysis"]["cells"].size(), 2u);
  EXPECT_LT(c["analysis"]["cells"][1]["plays_per_member"].get<double>(),
            c["analysis"]["cells"][0]["plays_per_member"].get<double>());
  EXPECT_EQ(canary.outputs["production_version"], v1_);

  // The experiment is stopped, the model's requests are production's again.
  Registry reg = OpenRegistry(home_);
  EXPECT_EQ(GetExperiment(reg, c["experiment"].get<std::string>()).record.state,
            ExperimentState::kStopped);
  EXPECT_EQ(reg.store().GetTags("recs", 0).count("canary"), 0u);
  EXPECT_EQ(reg.store().GetAlias("recs", "production"), v1_);
  for (int u = 0; u < 10; ++u) {
    const json a = Recommend("u" + std::to_string(u));
    EXPECT_EQ(a["version"], v1_);
    EXPECT_FALSE(a.contains("experiment")) << a.dump();
  }
}

}  // namespace
}  // namespace marquee

// The readers that are not the server's own logs follow the home's `state =` URL: with the
// online state in Redis, `experiments analyze` (AnalyzeFromHome), GET /api/v1/decisions and the
// dashboard's bandit views read Redis, not the home's (empty) RocksDB directories.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "bandits/redis_decision_log.h"
#include "client/http_client.h"
#include "control/insight_views.h"
#include "events/redis_event_log.h"
#include "events/redis_test_util.h"
#include "experiments/analysis.h"
#include "experiments/experiment.h"
#include "experiments/exposure_log.h"
#include "serving/serving_test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;
using marquee::testing::RedisServer;

class RedisReadersTest : public ::testing::Test {
 protected:
  // A home with recs/1 and recs/2 whose marquee.toml names the test's Redis as its state.
  void SetUp() override {
    if ((redis_ = RedisServer::Fresh()) == nullptr) {
      GTEST_SKIP() << "no Redis: " << RedisServer::WhyNot();
    }
    home_ = dir_.file("home");
    for (const char* family : {"ease", "popularity"}) {
      marquee::testing::RegisterModel(home_, "recs", family);
    }
    std::ofstream(home_ + "/marquee.toml") << "state = \"" << redis_->Url() << "\"\n";
  }

  // Three decisions of policy "artwork" in Redis, the first two rewarded (1 and 0.5).
  void WriteDecisions() {
    DecisionLogOptions o;
    o.sweep_interval = std::chrono::milliseconds(0);
    auto log = OpenRedisDecisionLog(redis_->ParsedUrl(), o);
    for (int i = 0; i < 3; ++i) {
      Decision d;
      d.ts_ms = log->NowMs();
      d.id = DecisionLog::NewId(d.ts_ms);
      d.model = "artwork";
      d.version = 1;
      d.actions = json::array({{{"id", "a"}}, {{"id", "b"}}});
      d.probabilities = {0.5, 0.5};
      d.chosen = static_cast<uint32_t>(i % 2);
      const std::string id = d.id;
      log->Append(std::move(d));
      if (i < 2) log->Reward(id, i == 0 ? 1.0 : 0.5);
    }
  }

  RedisServer* redis_ = nullptr;
  marquee::testing::TempDir dir_;
  std::string home_;
};

TEST_F(RedisReadersTest, AnalyzeReadsExposuresAndEventsFromRedis) {
  // Cells "one" (recs/1) and "two" (recs/2), half the members each.
  const std::string toml =
      "[experiment]\nname = \"rows\"\nsalt = \"r\"\n"
      "[[cell]]\nname = \"one\"\nmodel = \"recs/1\"\n"
      "[[cell]]\nname = \"two\"\nmodel = \"recs/2\"\n";
  const ExperimentSpec spec = ParseExperimentToml(toml, "rows.toml");
  const int64_t start = 1796083200;
  {
    Registry reg(home_);
    CreateExperiment(reg, spec, "", start - 10);
    StartExperiment(reg, "rows", start - 10);
  }
  {
    ExposureLogOptions xo;
    xo.redis = redis_->ParsedUrl();
    auto exposures = ExposureLog::Open("", xo);
    auto events = OpenRedisEventLog(redis_->ParsedUrl());
    std::vector<Event> played;
    for (int u = 0; u < 10; ++u) {
      Exposure e;
      e.experiment = "rows";
      e.cell = u % 2 ? "two" : "one";
      e.user = "u" + std::to_string(u);
      e.ts = start + u;
      e.items = {"i1", "i2"};
      ASSERT_TRUE(exposures->Record(e));
      // Members of "two" play twice, those of "one" once, after their exposure.
      for (int p = 0; p < (u % 2 ? 2 : 1); ++p) {
        played.push_back({e.user, "i" + std::to_string(1 + p), "play", 1.0f, e.ts + 10 + p});
      }
    }
    exposures->Flush();
    events->Append(played);
  }
  EXPECT_FALSE(std::filesystem::exists(home_ + "/experiments/exposures"));
  EXPECT_FALSE(std::filesystem::exists(home_ + "/events"));
  Registry reg(home_);
  const json a = AnalyzeFromHome(home_, GetExperiment(reg, "rows"));
  ASSERT_TRUE(a.contains("cells")) << a.dump();
  int64_t members = 0;
  double plays = 0;
  for (const auto& c : a["cells"]) {
    members += c["members"].get<int64_t>();
    plays += c["plays"].get<double>();
  }
  EXPECT_EQ(members, 10) << a.dump();
  EXPECT_EQ(plays, 15) << a.dump();
}

TEST_F(RedisReadersTest, BanditViewsAndDecisionExportReadRedis) {
  WriteDecisions();
  EXPECT_FALSE(std::filesystem::exists(home_ + "/decisions"));
  Registry reg(home_);
  const json list = BanditsListView(reg, home_, nullptr);  // not the server's live log
  ASSERT_EQ(list["policies"].size(), 1u) << list.dump();
  EXPECT_EQ(list["policies"][0]["name"], "artwork");
  EXPECT_EQ(list["policies"][0]["decisions"], 3);
  EXPECT_DOUBLE_EQ(list["policies"][0]["rewards"].get<double>(), 1.5);

  marquee::testing::InProcessServerOptions o;
  o.events = false;
  marquee::testing::InProcessServer server(home_, std::move(o));
  server.Start();
  HttpClient client("http://127.0.0.1:" + std::to_string(server.port()));
  std::string body;
  const ClientResponse r =
      client.Stream("GET", "/api/v1/decisions?include_open=true", [&](std::string_view data) {
        body += data;
        return true;
      });
  ASSERT_EQ(r.status, 200);
  int lines = 0, closed = 0;
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const json d = json::parse(line);
    EXPECT_EQ(d["model"], "artwork") << line;
    ++lines;
    closed += d["outcome"]["kind"] != "open";
  }
  EXPECT_EQ(lines, 3) << body;
  EXPECT_EQ(closed, 2) << body;
}

}  // namespace
}  // namespace marquee

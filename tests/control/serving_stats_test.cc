// GET /api/v1/serving/stats and the per-version counters behind it (also in /metrics), and
// GET /api/v1/runs sorted, filtered by params and paged by offset.
#include <gtest/gtest.h>

#include <regex>

#include "control/views.h"
#include "pipeline/train.h"
#include "serving/metrics.h"
#include "serving/route_match.h"
#include "serving/serving_test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;

TEST(LatencyPercentiles, LieInTheirBucketsInOrder) {
  std::array<uint64_t, VersionCounters::kLatencyBuckets> b{};
  LatencyPercentiles p = PercentilesOf(b);
  EXPECT_EQ(p.p50, 0);
  EXPECT_EQ(p.p99, 0);
  // 90 requests in (0.5, 1] ms, 10 in (25, 50] ms.
  b[3] = 90;
  b[8] = 10;
  p = PercentilesOf(b);
  EXPECT_GT(p.p50, 0.5);
  EXPECT_LE(p.p50, 1.0);
  EXPECT_LE(p.p90, 1.0);
  EXPECT_GE(p.p90, p.p50);
  EXPECT_GT(p.p99, 25.0);
  EXPECT_LE(p.p99, 50.0);
  // Beyond the last bound: the last bound, never more.
  b = {};
  b.back() = 5;
  p = PercentilesOf(b);
  EXPECT_EQ(p.p50, ServingMetrics::kBuckets.back() * 1e3);
  EXPECT_EQ(p.p99, ServingMetrics::kBuckets.back() * 1e3);
}

// A server on a home with recs/1 (EASE, recs@production) and recs/2 (popularity), started
// with the references given.
class ServingStatsTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> refs) {
    home_ = dir_.file("home");
    for (const char* family : {"ease", "popularity"}) {
      marquee::testing::RegisterModel(home_, "recs", family);
    }
    OpenRegistry(home_).Promote("recs/1", "production", {});
    marquee::testing::InProcessServerOptions o;
    o.refs = std::move(refs);
    server_ = std::make_unique<marquee::testing::InProcessServer>(home_, std::move(o));
    server_->Start();
  }
  marquee::testing::HttpResult Call(const std::string& method, const std::string& path,
                                    const std::string& body = "") {
    return server_->client()->Call(method, path, body, "");
  }
  json Get(const std::string& path) {
    auto r = Call("GET", path);
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    return json::parse(r.body);
  }
  static const json& Version(const json& stats, int64_t version) {
    static const json kNone;
    for (const json& m : stats["models"]) {
      if (m["model"] == "recs" && m["version"] == version) return m;
    }
    ADD_FAILURE() << "no recs/" << version << " in " << stats["models"].dump();
    return kNone;
  }

  marquee::testing::TempDir dir_;
  std::string home_;
  std::unique_ptr<marquee::testing::InProcessServer> server_;
};

TEST_F(ServingStatsTest, CountsEachVersionApartWithErrorsAndOrderedPercentiles) {
  Start({"recs@production", "recs/2"});
  for (const char* user : {"u1", "u2", "u3"}) {
    auto r = Call("POST", "/v1/recommend",
                  json{{"model", "recs@production"}, {"user", user}, {"k", 3}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }
  // The TF Serving form counts on the version it names, and so do a batch's requests.
  ASSERT_EQ(Call("POST", "/v1/models/recs/versions/2:recommend", R"({"user":"u4","k":2})").status,
            200);
  ASSERT_EQ(
      Call("POST", "/v1/recommend/batch",
           R"({"requests":[{"model":"recs/2","user":"u5"},{"model":"recs/2","user":"nobody"}]})")
          .status,
      200);
  EXPECT_EQ(Call("POST", "/v1/recommend", R"({"model":"recs/2","user":"nobody"})").status, 404);
  ASSERT_EQ(Call("POST", "/v1/similar-items", R"({"model":"recs@production","item":"i1"})").status,
            200);
  EXPECT_GE(
      Call("POST", "/v1/similar-items", R"({"model":"recs@production","item":"nope"})").status,
      400);
  EXPECT_EQ(Call("POST", "/v1/recommend", R"({"model":"unknown","user":"u1"})").status, 404);

  const json stats = Get("/api/v1/serving/stats");
  const json& v1 = Version(stats, 1);
  const json& v2 = Version(stats, 2);
  EXPECT_EQ(v1["requests"], 5);  // 3 recommend + 2 similar-items
  EXPECT_EQ(v1["errors"], 1);
  EXPECT_EQ(v2["requests"], 4);  // the TF Serving form, 2 in the batch, 1 alone
  EXPECT_EQ(v2["errors"], 2);
  EXPECT_EQ(v1["aliases"], json::array({"production"}));
  EXPECT_EQ(v2["aliases"], json::array());
  EXPECT_EQ(v1["state"], "ready");
  EXPECT_EQ(v1["kind"], "recommender");
  EXPECT_TRUE(v1["loaded_at"].get<std::string>().ends_with("Z"));
  for (const json* v : {&v1, &v2}) {
    const json& l = (*v)["latency_ms"];
    EXPECT_GT(l["p50"].get<double>(), 0);
    EXPECT_LE(l["p50"].get<double>(), l["p90"].get<double>());
    EXPECT_LE(l["p90"].get<double>(), l["p99"].get<double>());
    EXPECT_LE(l["p99"].get<double>(), ServingMetrics::kBuckets.back() * 1e3);
  }
  bool saw_recommend = false;
  for (const json& r : stats["routes"]) {
    if (r["route"] != "/v1/recommend") continue;
    saw_recommend = true;
    EXPECT_EQ(r["requests"], 5);
    EXPECT_EQ(r["errors_4xx"], 2);
    EXPECT_EQ(r["errors_5xx"], 0);
    EXPECT_LE(r["latency_ms"]["p50"].get<double>(), r["latency_ms"]["p99"].get<double>());
  }
  EXPECT_TRUE(saw_recommend);
  EXPECT_GE(stats["uptime_s"].get<double>(), 0);
  EXPECT_EQ(stats["events"]["ingested_total"], 0);
  EXPECT_EQ(stats["bandits"]["decisions_total"], 0);

  // /metrics has the same counters.
  auto m = Call("GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("marquee_model_requests_total{model=\"recs\",version=\"1\"} 5\n"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("marquee_model_request_errors_total{model=\"recs\",version=\"2\"} 2\n"),
            std::string::npos);
  EXPECT_NE(m.body.find("marquee_model_request_duration_seconds_count{model=\"recs\","
                        "version=\"2\"} 4\n"),
            std::string::npos);
}

// A version no request reached: listed once with its references and zero counters.
TEST_F(ServingStatsTest, AVersionWithoutRequestsHasZeroCounters) {
  Start({"recs@production"});
  const json stats = Get("/api/v1/serving/stats");
  ASSERT_EQ(stats["models"].size(), 1u) << stats.dump();
  EXPECT_EQ(stats["models"][0]["refs"], json::array({"recs@production"}));
  EXPECT_EQ(stats["models"][0]["requests"], 0);
  EXPECT_EQ(stats["models"][0]["latency_ms"]["p99"], 0);
}

// Runs over HTTP: sorted by a metric with runs lacking it last, filtered by a param, paged by
// offset with next_offset, and the same as the view the CLI prints.
TEST_F(ServingStatsTest, RunsSortFilterAndPageByOffset) {
  Start({});
  std::vector<int64_t> ids;
  const double aucs[] = {0.6, 0.8, -1, 0.7};
  for (int i = 0; i < 4; ++i) {
    auto r = Call("POST", "/api/v1/runs",
                  json{{"model", "srt"}, {"params", {{"depth", i % 2 == 0 ? 4 : 6}}}}.dump());
    ASSERT_EQ(r.status, 201) << r.body;
    ids.push_back(json::parse(r.body)["id"]);
    if (aucs[i] < 0) continue;
    r = Call("POST", fmt::format("/api/v1/runs/{}/metrics", ids.back()),
             json{{"metrics", {{{"key", "auc"}, {"value", aucs[i]}, {"step", 0}}}}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }
  auto run_ids = [](const json& page) {
    std::vector<int64_t> out;
    for (const json& r : page["runs"]) out.push_back(r["id"]);
    return out;
  };
  json page = Get("/api/v1/runs?model=srt&sort=-metric:auc&limit=2");
  EXPECT_EQ(run_ids(page), (std::vector<int64_t>{ids[1], ids[3]}));
  EXPECT_EQ(page["total"], 4);
  EXPECT_EQ(page["next_offset"], 2);
  EXPECT_TRUE(page["next_before"].is_null());
  page = Get("/api/v1/runs?model=srt&sort=-metric:auc&limit=2&offset=2");
  EXPECT_EQ(run_ids(page), (std::vector<int64_t>{ids[0], ids[2]}));
  EXPECT_TRUE(page["next_offset"].is_null());
  page = Get("/api/v1/runs?model=srt&sort=metric:auc&param=depth%3D4");
  EXPECT_EQ(run_ids(page), (std::vector<int64_t>{ids[0], ids[2]}));
  EXPECT_EQ(page["total"], 2);
  page = Get("/api/v1/runs?model=srt&sort=started_at&limit=3");
  EXPECT_EQ(run_ids(page), (std::vector<int64_t>{ids[0], ids[1], ids[2]}));
  EXPECT_EQ(page["next_offset"], 3);
  // The default order keeps keyset paging.
  page = Get("/api/v1/runs?model=srt&limit=3");
  EXPECT_EQ(run_ids(page), (std::vector<int64_t>{ids[3], ids[2], ids[1]}));
  EXPECT_EQ(page["next_before"], ids[1]);
  // Bad input is named.
  auto bad = Call("GET", "/api/v1/runs?sort=auc");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("sort"), std::string::npos) << bad.body;
  bad = Call("GET", "/api/v1/runs?sort=started_at&before=3");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("before"), std::string::npos) << bad.body;
  bad = Call("GET", "/api/v1/runs?param=depth");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("KEY=VALUE"), std::string::npos) << bad.body;
  EXPECT_EQ(Call("GET", "/api/v1/runs?offset=-1").status, 400);

  // The query round-trips, and the view the CLI prints locally answers the same.
  RunsListQuery q;
  q.model = "srt";
  q.sort = "-metric:auc";
  q.params = {"depth=4", "x=a b&c"};
  q.offset = 1;
  q.limit = 5;
  const std::string qs = q.ToQueryString();
  RunsListQuery back = RunsListQuery::FromQuery(ParseQuery(qs));
  EXPECT_EQ(back.sort, q.sort);
  EXPECT_EQ(back.params, q.params);
  EXPECT_EQ(back.offset, 1);
  q.params = {"depth=4"};
  Registry reg = OpenRegistry(home_);
  EXPECT_EQ(RunsListView(reg, q), Get("/api/v1/runs" + q.ToQueryString()));
}

}  // namespace
}  // namespace marquee

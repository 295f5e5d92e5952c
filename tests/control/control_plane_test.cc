// The control plane over HTTP (src/control): scopes on every row of the route table, remote
// tracking of a long metric history, TF Serving-style addressing answering as the
// body-addressed routes do, models loaded on demand by a server started without --model, and
// a train job followed as Server-Sent Events.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "client/http_client.h"
#include "pipeline/train.h"
#include "serving/serving_test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;
using marquee::testing::HttpResult;

constexpr const char* kRead = "key-read-0123456789abcdef";
constexpr const char* kWrite = "key-write-0123456789abcdef";
constexpr const char* kAdmin = "key-admin-0123456789abcdef";

std::string Bearer(const char* key) { return std::string("Authorization: Bearer ") + key + "\r\n"; }

class ControlPlaneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = dir_.file("home");
    marquee::testing::RegisterModel(home_, "recs", "ease", {{"lambda", 10.0}});
    marquee::testing::RegisterModel(home_, "recs", "popularity");
    Registry reg = OpenRegistry(home_);
    reg.Promote("recs/1", "production", {});
  }
  void Start(std::vector<std::string> refs, std::string keys = "") {
    marquee::testing::InProcessServerOptions o;
    o.refs = std::move(refs);
    o.api_keys = std::move(keys);
    server_ = std::make_unique<marquee::testing::InProcessServer>(home_, std::move(o));
    server_->Start();
  }
  // An upload refused from its headers closes its connection: those go on a connection of
  // their own.
  HttpResult Call(const std::string& method, const std::string& path, const std::string& body = "",
                  const std::string& headers = "", bool own_connection = false) {
    if (own_connection) {
      marquee::testing::HttpClient c(server_->port());
      return c.Call(method, path, body, headers);
    }
    return server_->client()->Call(method, path, body, headers);
  }
  static json Body(const HttpResult& r) { return json::parse(r.body); }

  marquee::testing::TempDir dir_;
  std::string home_;
  std::unique_ptr<marquee::testing::InProcessServer> server_;
};

// Every row with a scope, read from the route table itself: no key is 401, a key without the
// row's scope is 403, a key with it gets past the check (whatever the dummy path then gives).
TEST_F(ControlPlaneTest, EveryRouteEnforcesItsScope) {
  Start({"recs@production"}, fmt::format("{} read\n{} write\n{} admin\n", kRead, kWrite, kAdmin));
  const std::map<Scope, const char*> key_of = {
      {kScopeRead, kRead}, {kScopeWrite, kWrite}, {kScopeAdmin, kAdmin}};
  size_t checked = 0, control = 0;
  for (const RouteRow& row : server_->service()->routes()) {
    if (row.scope == kScopeNone) continue;
    const std::string path = std::regex_replace(row.path, std::regex(R"(\{[a-z_]+\})"), "1");
    // Uploads are refused from their headers, before the body is read: send none.
    const std::string body = row.method == "GET" || row.stream_body ? "" : "{}";
    const std::string where = row.method + " " + row.path;
    EXPECT_EQ(Call(row.method, path, body, "", row.stream_body).status, 401) << where;
    for (const auto& [scope, key] : key_of) {
      const int status = Call(row.method, path, body, Bearer(key), row.stream_body).status;
      if (scope == row.scope) {
        EXPECT_NE(status, 401) << where;
        EXPECT_NE(status, 403) << where;
      } else {
        EXPECT_EQ(status, 403) << where << " with a " << ScopeName(scope) << " key";
      }
    }
    ++checked;
    control += row.path.starts_with("/api/v1/");
  }
  EXPECT_GT(control, 25u);  // the control plane's rows are in the table
  EXPECT_GT(checked, control);
  // What each scope guards, by example.
  EXPECT_EQ(
      Call("POST", "/api/v1/models/recs/promote", R"({"version":2,"alias":"x"})", Bearer(kWrite))
          .status,
      403);
  EXPECT_EQ(Call("POST", "/api/v1/runs", R"({"model":"m"})", Bearer(kRead)).status, 403);
}

// A gate check answers each gate's verdict from the registry's own comparison and moves nothing.
TEST_F(ControlPlaneTest, GateCheckGivesEachGatesVerdictAndMovesNothing) {
  Start({}, fmt::format("{} read\n", kRead));
  HttpResult r =
      Call("POST", "/api/v1/models/recs/gate-check",
           R"({"version":2,"alias":"production","require":["recall@20>=0.1"]})", Bearer(kRead));
  ASSERT_EQ(r.status, 200) << r.body;
  json b = Body(r);
  EXPECT_EQ(b["version"], 2);
  EXPECT_EQ(b["from_version"], 1);
  EXPECT_FALSE(b["passes"].get<bool>());
  ASSERT_EQ(b["gates"].size(), 1u);
  EXPECT_FALSE(b["gates"][0]["passes"].get<bool>());
  EXPECT_NE(b["gates"][0]["detail"].get<std::string>().find("has no metric recall@20"),
            std::string::npos)
      << b.dump();
  // No gate: nothing refuses; an unset alias has no holder.
  r = Call("POST", "/api/v1/models/recs/gate-check", R"({"version":"2","alias":"staging"})",
           Bearer(kRead));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(Body(r)["passes"].get<bool>());
  EXPECT_TRUE(Body(r)["from_version"].is_null());
  EXPECT_EQ(Call("POST", "/api/v1/models/recs/gate-check", R"({"version":2,"require":"auc"})",
                 Bearer(kRead))
                .status,
            400);
  Registry reg = OpenRegistry(home_);
  EXPECT_EQ(reg.ResolveIn("recs", "production").version, 1);  // nothing moved
}

// A run logged from outside: 10,000 steps in batches of 1,000, read back in pages, exact.
TEST_F(ControlPlaneTest, RemoteTrackingKeepsEveryStepOfALongHistory) {
  Start({});
  HttpResult r = Call("POST", "/api/v1/runs",
                      R"({"model":"pay","params":{"eta":0.1},"tags":{"team":"payments"}})");
  ASSERT_EQ(r.status, 201) << r.body;
  const int64_t id = Body(r)["id"];
  EXPECT_EQ(Body(r)["source"], "external");
  EXPECT_EQ(Body(r)["tags"]["team"], "payments");
  for (int batch = 0; batch < 10; ++batch) {
    json points = json::array();
    for (int i = 0; i < 1000; ++i) {
      const int step = batch * 1000 + i;
      points.push_back({{"key", "loss"},
                        {"value", 1.0 / (1 + step)},
                        {"step", step},
                        {"timestamp", 1796500000000 + step}});
    }
    r = Call("POST", fmt::format("/api/v1/runs/{}/metrics", id), json{{"metrics", points}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(Body(r)["logged"], 1000);
  }
  int64_t after = -1, seen = 0;
  for (;;) {
    r = Call("GET",
             fmt::format("/api/v1/runs/{}/metrics/loss?after_step={}&limit=3000", id, after));
    ASSERT_EQ(r.status, 200) << r.body;
    const json page = Body(r);
    for (const auto& p : page["points"]) {
      ASSERT_EQ(p["step"].get<int64_t>(), seen);
      EXPECT_DOUBLE_EQ(p["value"].get<double>(), 1.0 / (1 + seen));
      EXPECT_EQ(p["timestamp_ms"].get<int64_t>(), 1796500000000 + seen);
      ++seen;
    }
    if (page["next_after_step"].is_null()) break;
    after = page["next_after_step"];
  }
  EXPECT_EQ(seen, 10000);
  // The run's final value is the last step's; it lists and filters like a trained run's.
  r = Call("GET", fmt::format("/api/v1/runs/{}", id));
  EXPECT_DOUBLE_EQ(Body(r)["metrics"]["loss"].get<double>(), 1.0 / 10000);
  r = Call("GET", "/api/v1/runs?metric=loss%3C0.001");
  ASSERT_EQ(Body(r)["runs"].size(), 1u) << r.body;
  EXPECT_EQ(Body(r)["runs"][0]["id"], id);
  // Bad points are refused whole, naming the field; a finished run takes no more.
  marquee::testing::ExpectErrorResponse(
      Call("POST", fmt::format("/api/v1/runs/{}/metrics", id),
           R"({"metrics":[{"key":"ok","value":1},{"key":"bad","value":"x"}]})"),
      400, "invalid_argument", "metrics[1].value");
  ASSERT_EQ(
      Call("POST", fmt::format("/api/v1/runs/{}/finish", id), R"({"status":"completed"})").status,
      200);
  marquee::testing::ExpectErrorResponse(
      Call("POST", fmt::format("/api/v1/runs/{}/metrics", id),
           R"({"metrics":[{"key":"loss","value":1,"step":10001}]})"),
      409, "failed_precondition", "");
  marquee::testing::ExpectErrorResponse(Call("GET", "/api/v1/runs/999"), 404, "not_found", "999");
}

// /v1/models/{name}[/versions/{n}|/labels/{alias}]:recommend answers exactly what
// /v1/recommend answers for the same reference; a server started without that model loads it.
TEST_F(ControlPlaneTest, TfServingAddressingAndModelsLoadedOnDemand) {
  Start({});  // no --model: a control-plane server
  const std::string req = R"({"history":["i1","i2"],"k":5})";
  HttpResult by_label = Call("POST", "/v1/models/recs/labels/production:recommend", req);
  ASSERT_EQ(by_label.status, 200) << by_label.body;
  HttpResult by_body =
      Call("POST", "/v1/recommend", R"({"model":"recs@production","history":["i1","i2"],"k":5})");
  ASSERT_EQ(by_body.status, 200) << by_body.body;
  EXPECT_EQ(Body(by_label)["items"], Body(by_body)["items"]);
  EXPECT_EQ(Body(by_label)["version"], 1);
  HttpResult v2 = Call("POST", "/v1/models/recs/versions/2:recommend", req);
  ASSERT_EQ(v2.status, 200) << v2.body;
  EXPECT_EQ(Body(v2)["version"], 2);
  // The status route lists the registry's versions and what this server now holds.
  HttpResult status = Call("GET", "/v1/models/recs");
  ASSERT_EQ(status.status, 200);
  EXPECT_EQ(Body(status)["versions"].size(), 2u);
  EXPECT_GE(Body(status)["served"].size(), 2u) << status.body;
  marquee::testing::ExpectErrorResponse(
      Call("POST", "/v1/models/recs:recommend", R"({"model":"other","history":["i1"]})"), 400,
      "invalid_argument", "the model is in the path");
  marquee::testing::ExpectErrorResponse(Call("POST", "/v1/models/nope:recommend", req), 404,
                                        "not_found", "unknown model 'nope'");
}

// A train job: submitted as TOML, followed as Server-Sent Events to its end, which carries the
// run and version it registered.
TEST_F(ControlPlaneTest, ATrainJobIsFollowedToItsEndAsServerSentEvents) {
  {
    std::ofstream f(dir_.file("plays.csv"));
    f << "user,item\n";
    for (int u = 0; u < 60; ++u) {
      for (int k = 0; k < 6; ++k) f << "u" << u << ",i" << (u * 7 + k * 3) % 40 << "\n";
    }
  }
  Start({});
  const std::string toml = fmt::format(
      "[data]\ntrain = \"{}\"\n[split]\ntest_users = 10\n[model]\nname = \"jobbed\"\n"
      "family = \"popularity\"\n[eval]\nmetrics = [\"recall@10\"]\n",
      dir_.file("plays.csv"));
  HttpResult r = Call("POST", "/api/v1/jobs", json{{"config", toml}}.dump());
  ASSERT_EQ(r.status, 202) << r.body;
  const int64_t id = Body(r)["id"];
  // Followed through the C++ client, which reads the chunked stream (?follow=1 is Accept:
  // text/event-stream for clients that cannot set headers).
  HttpClient client(fmt::format("http://127.0.0.1:{}", server_->port()));
  std::string events;
  ClientResponse streamed = client.Stream("GET", fmt::format("/api/v1/jobs/{}/log?follow=1", id),
                                          [&](std::string_view data) {
                                            events += data;
                                            return true;
                                          });
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  EXPECT_EQ(streamed.header("content-type"), "text/event-stream");
  r.body = events;
  const size_t end = r.body.find("event: end\ndata: ");
  ASSERT_NE(end, std::string::npos) << r.body;
  EXPECT_NE(r.body.find("id: 0\ndata: "), std::string::npos);
  const json job = json::parse(r.body.substr(end + 17, r.body.find('\n', end + 17) - end - 17));
  EXPECT_EQ(job["state"], "succeeded") << job.dump();
  EXPECT_EQ(job["outcome"]["model"], "jobbed");
  EXPECT_EQ(job["outcome"]["version"], 1);
  r = Call("GET", "/api/v1/models/jobbed/versions/1");
  EXPECT_EQ(r.status, 200) << r.body;
  marquee::testing::ExpectErrorResponse(
      Call("POST", "/api/v1/jobs", R"({"config":"[model]\nfamily = \"nope\"\n"})"), 400,
      "invalid_argument", "nope");
}

}  // namespace
}  // namespace marquee

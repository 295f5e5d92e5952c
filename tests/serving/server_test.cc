// The HTTP API end to end, in-process: a real HttpServer on 127.0.0.1 (port 0) over a home with
// registered models and an event log. Every error case of docs/api/openapi.yaml, API-key
// scopes, the real-time effect of events, keep-alive and pipelining, hot swaps.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "events/event_log.h"
#include "pipeline/train.h"
#include "serving/http_server.h"
#include "serving/model_manager.h"
#include "serving/service.h"
#include "serving_test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;
using marquee::testing::HttpClient;
using marquee::testing::HttpResult;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = dir_.file("home");
    marquee::testing::RegisterModel(home_, "recs", "ease", {{"lambda", 10.0}});
    Registry reg = OpenRegistry(home_);
    reg.Promote("recs/1", "production", {});
  }
  void TearDown() override { StopServer(); }

  void StartServer(std::vector<std::string> refs = {"recs@production"},
                   std::string keys_text = "") {
    marquee::testing::InProcessServerOptions o;
    o.refs = std::move(refs);
    o.api_keys = std::move(keys_text);
    o.limits.max_k = 100;
    o.body_limit = 64 * 1024;
    o.serve_reload = true;
    server_ = std::make_unique<marquee::testing::InProcessServer>(home_, std::move(o));
    server_->Start();
    client_ = server_->client();
    events_ = server_->events();
    metrics_ = server_->metrics();
    models_ = server_->models();
  }
  void StopServer() { server_.reset(); }

  HttpResult Rec(const json& body) { return client_->Post("/v1/recommend", body); }
  static std::vector<std::string> Ids(const json& res) {
    std::vector<std::string> ids;
    for (const auto& it : res["items"]) ids.push_back(it["id"]);
    return ids;
  }
  static void ExpectError(const HttpResult& r, int status, const std::string& code,
                          const std::string& needle) {
    marquee::testing::ExpectErrorResponse(r, status, code, needle);
  }

  marquee::testing::TempDir dir_;
  std::string home_;
  std::unique_ptr<marquee::testing::InProcessServer> server_;
  // Parts of server_ (valid while it runs).
  HttpClient* client_ = nullptr;
  EventLog* events_ = nullptr;
  ServingMetrics* metrics_ = nullptr;
  ModelManager* models_ = nullptr;
};

TEST_F(ServerTest, HealthReadyModelsAndMetrics) {
  StartServer();
  EXPECT_EQ(client_->Get("/healthz").status, 200);
  EXPECT_EQ(client_->Get("/readyz").status, 200);
  HttpResult m = client_->Get("/v1/models");
  ASSERT_EQ(m.status, 200);
  json models = m.json()["models"];
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0]["ref"], "recs@production");
  EXPECT_EQ(models[0]["version"], 1);
  EXPECT_EQ(models[0]["state"], "loaded");
  EXPECT_EQ(models[0]["known_users"], 60);
  ASSERT_EQ(Rec({{"model", "recs@production"}, {"user", "u0"}}).status, 200);
  HttpResult p = client_->Get("/metrics");
  ASSERT_EQ(p.status, 200);
  EXPECT_NE(p.headers.find("text/plain"), std::string::npos);
  EXPECT_NE(p.body.find("marquee_http_requests_total{route=\"/v1/recommend\",status=\"200\"} 1"),
            std::string::npos)
      << p.body;
  EXPECT_NE(p.body.find("marquee_http_request_duration_seconds_bucket{route=\"/v1/recommend\""),
            std::string::npos);
  EXPECT_NE(p.body.find("marquee_model_version{ref=\"recs@production\",model=\"recs\"} 1"),
            std::string::npos);
  EXPECT_NE(p.body.find("marquee_events_ingested_total 0"), std::string::npos);
  EXPECT_NE(p.body.find("marquee_model_swaps_total 0"), std::string::npos);
}

TEST_F(ServerTest, ReadyzIs503UntilModelsLoad) {
  // A reference that does not resolve: alive, never ready, and the failure is visible.
  StartServer({"recs@production", "recs@staging"});
  EXPECT_EQ(client_->Get("/healthz").status, 200);
  ExpectError(client_->Get("/readyz"), 503, "unavailable", "not every model");
  json models = client_->Get("/v1/models").json()["models"];
  EXPECT_EQ(models[1]["state"], "failed");
  EXPECT_NE(models[1]["error"].get<std::string>().find("staging"), std::string::npos)
      << models.dump();
  ExpectError(Rec({{"model", "recs@staging"}, {"user", "u0"}}), 503, "unavailable", "not loaded");
}

TEST_F(ServerTest, RecommendsForKnownUsersAndExcludesTheirHistory) {
  StartServer();
  HttpResult r = Rec({{"model", "recs@production"}, {"user", "u0"}, {"k", 3}});
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.json();
  EXPECT_EQ(j["model"], "recs");
  EXPECT_EQ(j["version"], 1);
  EXPECT_FALSE(j.contains("fallback"));
  auto ids = Ids(j);
  ASSERT_EQ(ids.size(), 3u);
  // u0 (even) liked items of the first group: the rest of that group ranks first.
  std::set<std::string> seen;
  for (int k = 0; k < 5; ++k) seen.insert("i" + std::to_string((0 * 3 + k * 7) % 10));
  for (const auto& id : ids) {
    EXPECT_EQ(seen.count(id), 0u) << id << " was in the training history";
    EXPECT_LT(std::stoi(id.substr(1)), 10) << id;
  }
  double prev = 1e30;
  for (const auto& it : j["items"]) {
    EXPECT_LE(it["score"].get<double>(), prev);
    prev = it["score"];
  }
  // exclude_seen=false may return them; the model name alone also resolves.
  json all = Rec({{"model", "recs"}, {"user", "u0"}, {"k", 20}, {"exclude_seen", false}}).json();
  EXPECT_EQ(all["items"].size(), 20u);
}

TEST_F(ServerTest, FoldsInHistoryFallsBackToPopularityAndFilters) {
  StartServer();
  // An unseen user with a history of odd-group items gets odd-group items.
  json j = Rec({{"model", "recs@production"}, {"history", {"i10", "i11", "i12"}}, {"k", 3}}).json();
  for (const auto& id : Ids(j)) EXPECT_GE(std::stoi(id.substr(1)), 10) << j.dump();
  // No history at all: the most popular items, marked.
  json p = Rec({{"model", "recs@production"}, {"history", json::array()}, {"k", 4}}).json();
  EXPECT_EQ(p["fallback"], "popularity");
  EXPECT_EQ(p["items"].size(), 4u);
  // Filters: allow restricts to the list, deny removes.
  json a = Rec({{"model", "recs@production"},
                {"history", {"i10"}},
                {"filter", {{"allow", {"i1", "i2", "i10"}}}}})
               .json();
  EXPECT_EQ(Ids(a).size(), 2u) << a.dump();
  for (const auto& id : Ids(a)) EXPECT_TRUE(id == "i1" || id == "i2") << a.dump();
  json d = Rec({{"model", "recs@production"},
                {"history", {"i10"}},
                {"k", 19},
                {"filter", {{"deny", {"i11", "i12"}}}}})
               .json();
  for (const auto& id : Ids(d)) EXPECT_TRUE(id != "i11" && id != "i12" && id != "i10");
  EXPECT_EQ(d["items"].size(), 17u);
  // Numeric ids are accepted as ids (here one the model does not know).
  EXPECT_EQ(Rec({{"model", "recs@production"}, {"history", {1}}}).status, 404);
}

TEST_F(ServerTest, BatchAndSimilarItems) {
  StartServer();
  HttpResult b = client_->Post("/v1/recommend/batch",
                               {{"requests",
                                 {{{"model", "recs@production"}, {"user", "u1"}, {"k", 2}},
                                  {{"model", "recs@production"}, {"user", "nobody"}},
                                  {{"model", "recs@production"}, {"history", {"i3"}}, {"k", 3}}}}});
  ASSERT_EQ(b.status, 200) << b.body;
  json rs = b.json()["responses"];
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[0]["items"].size(), 2u);
  EXPECT_EQ(rs[1]["error"]["code"], "not_found");
  EXPECT_EQ(rs[2]["items"].size(), 3u);
  HttpResult s =
      client_->Post("/v1/similar-items", {{"model", "recs@production"}, {"item", "i3"}, {"k", 5}});
  ASSERT_EQ(s.status, 200) << s.body;
  auto ids = Ids(s.json());
  ASSERT_EQ(ids.size(), 5u);
  for (const auto& id : ids) {
    EXPECT_NE(id, "i3");
    EXPECT_LT(std::stoi(id.substr(1)), 10);
  }
  ExpectError(client_->Post("/v1/similar-items", {{"model", "recs@production"}, {"item", "zz"}}),
              404, "not_found", "unknown item 'zz'");
}

TEST_F(ServerTest, ErrorsNameTheProblem) {
  StartServer();
  ExpectError(client_->Call("POST", "/v1/recommend", "{\"model\": "), 400, "invalid_argument",
              "malformed JSON");
  ExpectError(client_->Call("POST", "/v1/recommend", "[1,2]"), 400, "invalid_argument",
              "JSON object");
  ExpectError(client_->Call("POST", "/v1/recommend", ""), 400, "invalid_argument", "empty");
  ExpectError(Rec({{"model", "recs@production"}, {"user", "u0"}, {"colour", "red"}}), 400,
              "invalid_argument", "unknown field 'colour'");
  ExpectError(Rec({{"model", "recs@production"}, {"user", "u0"}, {"k", "ten"}}), 400,
              "invalid_argument", "k: must be an integer");
  ExpectError(Rec({{"model", "recs@production"}, {"user", "u0"}, {"k", 0}}), 400,
              "invalid_argument", "out of range");
  ExpectError(Rec({{"model", "recs@production"}, {"user", "u0"}, {"k", 101}}), 400,
              "invalid_argument", "out of range [1, 100]");
  ExpectError(Rec({{"model", "recs@production"}, {"user", "u0"}, {"exclude_seen", 1}}), 400,
              "invalid_argument", "exclude_seen");
  ExpectError(Rec({{"model", "recs@production"}, {"history", "i1"}}), 400, "invalid_argument",
              "history: must be an array");
  ExpectError(Rec({{"model", 7}, {"user", "u0"}}), 400, "invalid_argument",
              "model: must be a string");
  ExpectError(Rec({{"user", "u0"}}), 400, "invalid_argument", "model: missing");
  ExpectError(Rec({{"model", "recs@production"}}), 400, "invalid_argument", "'user', 'history'");
  ExpectError(Rec({{"model", "recs@production"}, {"user", "u0"}, {"filter", {{"only", {}}}}}), 400,
              "invalid_argument", "unknown field 'only'");
  ExpectError(Rec({{"model", "nope@production"}, {"user", "u0"}}), 404, "not_found",
              "unknown model 'nope@production'");
  ExpectError(Rec({{"model", "recs@production"}, {"user", "stranger"}}), 404, "not_found",
              "unknown user 'stranger'");
  ExpectError(Rec({{"model", "recs@production"}, {"history", {"i1", "nosuch"}}}), 404, "not_found",
              "history[1]: unknown item 'nosuch'");
  ExpectError(Rec({{"model", "recs@production"}, {"user", "u0"}, {"filter", {{"deny", {"gone"}}}}}),
              404, "not_found", "filter.deny[0]: unknown item 'gone'");
  ExpectError(client_->Get("/v1/recommend"), 405, "invalid_argument", "use POST");
  ExpectError(client_->Get("/v2/everything"), 404, "not_found", "no route GET /v2/everything");
  ExpectError(client_->Post("/v1/events", {{"events", {{{"user", "u1"}}}}}), 400,
              "invalid_argument", "events[0].item: missing");
  ExpectError(client_->Post("/v1/events",
                            {{"events", {{{"user", "u1"}, {"item", "i1"}, {"value", "big"}}}}}),
              400, "invalid_argument", "events[0].value: must be a number");
  ExpectError(client_->Post("/v1/events", {{"events", 3}}), 400, "invalid_argument",
              "events: must be an array");
  ExpectError(client_->Post("/v1/recommend/batch", {{"requests", {{{"k", 1}}}}}), 400,
              "invalid_argument", "requests[0].model: missing");
  // Body over the limit (64 KiB here): 413, and the connection is closed.
  std::string big =
      "{\"model\": \"recs@production\", \"history\": [" + std::string(70 * 1024, ' ') + "]}";
  ExpectError(client_->Call("POST", "/v1/recommend", big), 413, "resource_exhausted",
              "larger than the limit");
}

TEST_F(ServerTest, ApiKeyScopes) {
  StartServer({"recs@production"},
              "# keys\nreader-key-0123456789 read\nwriter-key-0123456789 write  # ingest\n"
              "admin-key-01234567890 read,write,admin\n");
  const json rec = {{"model", "recs@production"}, {"user", "u0"}};
  const json ev = {{"events", {{{"user", "u0"}, {"item", "i1"}}}}};
  EXPECT_EQ(client_->Get("/healthz").status, 200);  // probes need no key
  ExpectError(client_->Post("/v1/recommend", rec), 401, "unauthenticated", "needs an API key");
  ExpectError(client_->Post("/v1/recommend", rec, "Authorization: Bearer wrong-key-0123456789\r\n"),
              401, "unauthenticated", "unknown API key");
  EXPECT_EQ(
      client_->Post("/v1/recommend", rec, "Authorization: Bearer reader-key-0123456789\r\n").status,
      200);
  EXPECT_EQ(client_->Post("/v1/recommend", rec, "X-API-Key: reader-key-0123456789\r\n").status,
            200);
  ExpectError(client_->Post("/v1/events", ev, "X-API-Key: reader-key-0123456789\r\n"), 403,
              "permission_denied", "'write' scope");
  ExpectError(client_->Post("/v1/recommend", rec, "X-API-Key: writer-key-0123456789\r\n"), 403,
              "permission_denied", "'read' scope");
  EXPECT_EQ(client_->Post("/v1/events", ev, "X-API-Key: writer-key-0123456789\r\n").status, 200);
  ExpectError(client_->Call("POST", "/admin/reload", "{}", "X-API-Key: writer-key-0123456789\r\n"),
              403, "permission_denied", "'admin' scope");
  EXPECT_EQ(
      client_->Call("POST", "/admin/reload", "{}", "X-API-Key: admin-key-01234567890\r\n").status,
      200);
  EXPECT_THROW(ApiKeys::Parse("short read\n", "k.txt"), Error);
  EXPECT_THROW(ApiKeys::Parse("long-enough-key-123 fly\n", "k.txt"), Error);
}

TEST_F(ServerTest, AnEventChangesTheVeryNextRecommendation) {
  StartServer();
  const json req = {{"model", "recs@production"}, {"user", "u0"}, {"k", 10}};
  json before = Rec(req).json();
  const std::string top = before["items"][0]["id"];
  // u0 plays its top recommendation and an item of the other taste group.
  HttpResult e = client_->Post(
      "/v1/events",
      {{"events",
        {{{"user", "u0"}, {"item", top}, {"type", "play"}, {"value", 1.0}, {"ts", 1700000000}},
         {{"user", "u0"}, {"item", "i15"}, {"type", "play"}}}}});
  ASSERT_EQ(e.status, 200) << e.body;
  EXPECT_EQ(e.json()["accepted"], 2);
  json after = Rec(req).json();
  for (const auto& id : Ids(after)) {
    EXPECT_NE(id, top) << "the item played a moment ago is excluded";
    EXPECT_NE(id, "i15");
  }
  // The fold-in now includes i15: scores moved.
  bool moved = false;
  for (const auto& a : after["items"]) {
    for (const auto& b : before["items"]) {
      if (a["id"] == b["id"] && a["score"] != b["score"]) moved = true;
    }
  }
  EXPECT_TRUE(moved) << before.dump() << "\n" << after.dump();
  // A brand-new user known only through events is served from them.
  ASSERT_EQ(client_->Post("/v1/events", {{"events", {{{"user", "new"}, {"item", "i12"}}}}}).status,
            200);
  json fresh = Rec({{"model", "recs@production"}, {"user", "new"}, {"k", 3}}).json();
  EXPECT_FALSE(fresh.contains("fallback")) << fresh.dump();
  for (const auto& id : Ids(fresh)) EXPECT_GE(std::stoi(id.substr(1)), 10) << fresh.dump();
  const std::string metrics = client_->Get("/metrics").body;
  EXPECT_NE(metrics.find("marquee_events_ingested_total 3"), std::string::npos);
  // Every acknowledged post was written by some group commit.
  EXPECT_NE(metrics.find("\nmarquee_events_group_commits_total "), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("\nmarquee_events_group_commits_total 0\n"), std::string::npos);
}

TEST_F(ServerTest, KeepAliveAndPipelining) {
  StartServer();
  std::string two = HttpClient::Format("GET", "/healthz", "") +
                    HttpClient::Format("POST", "/v1/recommend",
                                       json{{"model", "recs"}, {"user", "u1"}, {"k", 1}}.dump()) +
                    HttpClient::Format("GET", "/readyz", "");
  client_->SendRaw(two);
  HttpResult a = client_->ReadResponse(), b = client_->ReadResponse(), c = client_->ReadResponse();
  EXPECT_EQ(a.body, R"({"status":"ok"})");
  EXPECT_EQ(b.status, 200);
  EXPECT_EQ(b.json()["items"].size(), 1u);
  EXPECT_EQ(c.body, R"({"status":"ready"})");
  for (int i = 0; i < 50; ++i) ASSERT_EQ(client_->Get("/healthz").status, 200);
  client_->SendRaw("NOT HTTP AT ALL\r\n\r\n");
  EXPECT_EQ(client_->ReadResponse().status, 400);
}

// The status line and header fields the server writes itself (http_server.cc: Write): the
// request's version, Connection only where it differs from that version's default, the length a
// GET would have on a HEAD, the route table's Allow on a 405.
TEST_F(ServerTest, TheResponseHeaderFollowsTheRequestsVersionAndKeepAlive) {
  StartServer();
  HttpResult r = client_->Get("/healthz");
  EXPECT_EQ(r.headers.rfind("http/1.1 200 ok\r\n", 0), 0u) << r.headers;
  EXPECT_NE(r.headers.find("\r\nserver: marquee"), std::string::npos) << r.headers;
  EXPECT_NE(r.headers.find("\r\ncontent-type: application/json"), std::string::npos);
  EXPECT_NE(r.headers.find("\r\ncontent-length: 15"), std::string::npos) << r.headers;
  EXPECT_EQ(r.headers.find("connection:"), std::string::npos) << r.headers;

  client_->SendRaw(HttpClient::Format("HEAD", "/healthz", ""));
  HttpResult head = client_->ReadResponse(/*to_head=*/true);
  EXPECT_EQ(head.status, 200);
  EXPECT_NE(head.headers.find("\r\ncontent-length: 15"), std::string::npos) << head.headers;
  // No body followed it: the next answer on the connection is the next request's.
  HttpResult wrong = client_->Call("DELETE", "/healthz");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_NE(wrong.headers.find("\r\nallow: get, head"), std::string::npos) << wrong.headers;
  EXPECT_EQ(wrong.json()["error"]["code"], "invalid_argument") << wrong.body;

  // HTTP/1.0 asking to keep the connection: said so, and the connection stays open.
  client_->SendRaw("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  HttpResult old = client_->ReadResponse();
  EXPECT_EQ(old.headers.rfind("http/1.0 200 ok\r\n", 0), 0u) << old.headers;
  EXPECT_NE(old.headers.find("\r\nconnection: keep-alive"), std::string::npos) << old.headers;
  EXPECT_EQ(old.body, R"({"status":"ok"})");
  EXPECT_EQ(client_->Get("/readyz").status, 200);

  // HTTP/1.1 asking to close: said so, and the server closes after the answer.
  client_->SendRaw(HttpClient::Format("GET", "/healthz", "", "Connection: close\r\n"));
  HttpResult last = client_->ReadResponse();
  EXPECT_EQ(last.status, 200);
  EXPECT_NE(last.headers.find("\r\nconnection: close"), std::string::npos) << last.headers;
  client_->SetTimeout(5000);
  EXPECT_EQ(client_->ReadResponse().status, 0);  // closed, not waiting for more
}

TEST_F(ServerTest, ReloadFollowsAliasAndABrokenVersionNeverReplacesAWorkingOne) {
  StartServer();
  marquee::testing::RegisterModel(home_, "recs", "ease", {{"lambda", 50.0}});
  {
    Registry reg = OpenRegistry(home_);
    reg.Promote("recs/2", "production", {});
  }
  HttpResult r = client_->Call("POST", "/admin/reload", "");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["refresh"]["recs@production"], "loaded v2") << r.body;
  EXPECT_EQ(Rec({{"model", "recs@production"}, {"user", "u0"}}).json()["version"], 2);
  EXPECT_NE(client_->Get("/metrics").body.find("marquee_model_swaps_total 1"), std::string::npos);

  // Version 3's artifact is damaged after the alias moved to it: v2 keeps serving.
  marquee::testing::RegisterModel(home_, "recs", "ease", {{"lambda", 90.0}});
  std::string artifact;
  {
    Registry reg = OpenRegistry(home_);
    reg.Promote("recs/3", "production", {});
    artifact = reg.artifacts().PathFor(reg.Resolve("recs/3").artifact);
  }
  std::filesystem::permissions(artifact, std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
  {
    std::fstream f(artifact, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.write("garbage!", 8);
  }
  r = client_->Call("POST", "/admin/reload", "");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.json()["refresh"]["recs@production"].get<std::string>().find("failed"),
            std::string::npos)
      << r.body;
  json m = client_->Get("/v1/models").json()["models"][0];
  EXPECT_EQ(m["version"], 2);
  EXPECT_EQ(m["state"], "loaded");
  EXPECT_EQ(m["failed_version"], 3);
  EXPECT_FALSE(m["error"].get<std::string>().empty());
  EXPECT_EQ(Rec({{"model", "recs@production"}, {"user", "u0"}}).json()["version"], 2);
}

TEST_F(ServerTest, OldVersionIsFreedWhenItsLastRequestEnds) {
  StartServer();
  auto held = models_->Get("recs@production");
  std::weak_ptr<const ServableModel> weak = held;
  marquee::testing::RegisterModel(home_, "recs", "ease", {{"lambda", 50.0}});
  {
    Registry reg = OpenRegistry(home_);
    reg.Promote("recs/2", "production", {});
  }
  models_->Refresh();
  EXPECT_EQ(models_->Get("recs@production")->version, 2);
  EXPECT_FALSE(weak.expired()) << "a request still holds v1";
  held.reset();
  EXPECT_TRUE(weak.expired()) << "v1 is freed with its last request";
}

}  // namespace
}  // namespace marquee

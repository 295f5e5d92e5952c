// Requests meant to hurt the server, over a real socket to an in-process HttpServer: bytes that
// are not UTF-8 (in the target, in a malformed body, in error messages), NUL in ids, integers that
// would wrap, wrong methods, handlers that throw what nobody expects. Each gets a 4xx/5xx whose
// body is {"error": {"code", "message"}} in valid UTF-8, and the server keeps serving.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <regex>

#include <stdexcept>

#include "common/text.h"
#include "events/event_log.h"
#include "serving/http_server.h"
#include "serving/model_manager.h"
#include "serving/service.h"
#include "serving_test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;
using namespace std::string_literals;
using marquee::testing::HttpClient;
using marquee::testing::HttpResult;

class HostileInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = dir_.file("home");
    marquee::testing::RegisterModel(home_, "recs", "ease", {{"lambda", 10.0}});
    marquee::testing::InProcessServerOptions o;
    o.refs = {"recs"};
    o.limits.max_k = 100;
    server_ = std::make_unique<marquee::testing::InProcessServer>(home_, std::move(o));
    events_ = server_->events();
    service_ = server_->service();
  }
  void Start() {
    server_->Start();
    client_ = server_->client();
  }
  // The server still answers, on a fresh connection.
  void ExpectAlive() {
    HttpClient c(server_->port());
    EXPECT_EQ(c.Get("/healthz").status, 200);
  }
  static void ExpectError(const HttpResult& r, int status, const std::string& code,
                          const std::string& needle) {
    marquee::testing::ExpectErrorResponse(r, status, code, needle);
  }
  HttpResult PostRaw(const std::string& path, const std::string& body) {
    return client_->Call("POST", path, body);
  }

  marquee::testing::TempDir dir_;
  std::string home_;
  std::unique_ptr<marquee::testing::InProcessServer> server_;
  // Parts of server_.
  EventLog* events_ = nullptr;
  Service* service_ = nullptr;
  HttpClient* client_ = nullptr;
};

// The route lookup runs before authentication: anyone could send this.
TEST_F(HostileInputTest, InvalidUtf8InTheTargetIsA404) {
  Start();
  client_->SendRaw("GET /\xc3 HTTP/1.1\r\nHost: x\r\n\r\n");
  ExpectError(client_->ReadResponse(), 404, "not_found", "no route GET /");
  client_->SendRaw("GET /v1/\xff\xfe?q=\xc3 HTTP/1.1\r\nHost: x\r\n\r\n");
  ExpectError(client_->ReadResponse(), 404, "not_found", "no route");
  ExpectAlive();
}

TEST_F(HostileInputTest, MalformedJsonAroundAPartialCharacterIsA400) {
  Start();
  // Valid UTF-8, invalid JSON: the parser's message quotes only the first byte of 'é'.
  ExpectError(PostRaw("/v1/recommend", "{\"a\":\xc3\xa9}"), 400, "invalid_argument",
              "malformed JSON");
  ExpectError(PostRaw("/v1/events", "{\"events\": [\xe2\x82\xac]}"), 400, "invalid_argument",
              "malformed JSON");
  ExpectAlive();
}

TEST_F(HostileInputTest, ABodyThatIsNotUtf8NamesTheField) {
  Start();
  ExpectError(PostRaw("/v1/events", "{\"events\": [{\"user\": \"u\xc3\", \"item\": \"i1\"}]}"), 400,
              "invalid_argument", "events[0].user: not valid UTF-8: byte 0xc3 at offset 23");
  ExpectError(PostRaw("/v1/recommend", "{\"model\": \"recs\", \"history\": [\"i1\", \"\xff\"]}"),
              400, "invalid_argument", "history[1]: not valid UTF-8");
  // Outside any string: the offset alone.
  ExpectError(PostRaw("/v1/recommend", "{\"model\": \"recs\"}\xff"), 400, "invalid_argument",
              "not valid UTF-8: byte 0xff at offset 17");
  ExpectAlive();
  EXPECT_EQ(events_->Recent("u\xc3", 5).size(), 0u);
}

TEST_F(HostileInputTest, IdsWithNulAreRefusedBeforeTheyAreStoredOrEchoed) {
  Start();
  ExpectError(client_->Post("/v1/events", {{"events", {{{"user", "u1"}, {"item", "i\0"s}}}}}), 400,
              "invalid_argument", "events[0].item: contains a NUL");
  ExpectError(client_->Post("/v1/events", {{"events", {{{"user", "u1"}, {"item", ""}}}}}), 400,
              "invalid_argument", "events[0].item: must not be empty");
  ExpectError(client_->Post("/v1/events",
                            {{"events", {{{"user", "u1"}, {"item", "i1"}, {"type", "p\0"s}}}}}),
              400, "invalid_argument", "events[0].type: contains a NUL");
  ExpectError(client_->Post("/v1/recommend", {{"model", "recs"}, {"user", "a\0b"s}}), 400,
              "invalid_argument", "user: contains a NUL character (at offset 1)");
  ExpectError(client_->Post("/v1/recommend", {{"model", "recs"}, {"history", {"i1", "\0"s}}}), 400,
              "invalid_argument", "history[1]: contains a NUL");
  ExpectError(client_->Post("/v1/recommend/batch", {{"requests",
                                                     {{{"model", "recs"}, {"user", "u1"}},
                                                      {{"model", "recs"}, {"user", "x\0"s}}}}}),
              400, "invalid_argument", "requests[1].user: contains a NUL");
  ExpectError(client_->Post("/v1/similar-items", {{"model", "recs"}, {"item", "i\0"s}}), 400,
              "invalid_argument", "item: contains a NUL");
  ExpectError(client_->Post("/v1/recommend", {{"model", "re\0cs"s}, {"user", "u1"}}), 400,
              "invalid_argument", "model: contains a NUL");
  EXPECT_EQ(events_->Recent("u1", 5).size(), 0u);
}

TEST_F(HostileInputTest, IntegersThatWouldWrapAreRefusedWithTheRange) {
  Start();
  ExpectError(
      client_->Call("POST", "/v1/events",
                    R"({"events": [{"user": "u1", "item": "i1", "ts": 18446744073709551615}]})"),
      400, "invalid_argument", "events[0].ts: 18446744073709551615 is out of range [0, ");
  ExpectError(
      client_->Post("/v1/events", {{"events", {{{"user", "u1"}, {"item", "i1"}, {"ts", -1}}}}}),
      400, "invalid_argument", "events[0].ts: -1 is out of range");
  EXPECT_EQ(events_->Recent("u1", 5).size(), 0u) << "nothing was stored";
  ExpectError(
      PostRaw("/v1/recommend", R"({"model": "recs", "user": "u1", "k": 9223372036854775808})"), 400,
      "invalid_argument", "k: 9223372036854775808 is out of range [1, 100]");
  ExpectError(
      PostRaw("/v1/recommend", R"({"model": "recs", "user": "u1", "k": -9223372036854775808})"),
      400, "invalid_argument", "k: -9223372036854775808 is out of range [1, 100]");
  ExpectError(
      PostRaw("/v1/similar-items", R"({"model": "recs", "item": "i1", "k": 18446744073709551615})"),
      400, "invalid_argument", "k: 18446744073709551615 is out of range [1, 100]");
  ExpectError(PostRaw("/v1/recommend/batch",
                      R"({"requests": [{"model": "recs", "user": "u1", "k": 4294967297}]})"),
              400, "invalid_argument", "requests[0].k: 4294967297 is out of range");
  ExpectError(PostRaw("/v1/events", R"({"events": [{"user": "u1", "item": "i1", "value": 1e39}]})"),
              400, "invalid_argument", "events[0].value: 1e+39 does not fit in a float32");
  // In range: accepted and stored as sent.
  ASSERT_EQ(client_
                ->Post("/v1/events",
                       {{"events", {{{"user", "u1"}, {"item", "i1"}, {"ts", 253402300799}}}}})
                .status,
            200);
  auto stored = events_->Recent("u1", 5);
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].ts, 253402300799);
}

TEST_F(HostileInputTest, AWrongMethodGets405WithAllowOnEveryRoute) {
  Start();
  // Each path of the table (its {parameters} filled in) with a method it does not take: a 405
  // whose Allow header lists exactly the methods the table has for it.
  std::map<std::string, std::vector<std::string>> methods;
  for (const RouteRow& row : service_->routes()) methods[row.path].push_back(row.method);
  for (const auto& [pattern, has] : methods) {
    std::string path = std::regex_replace(pattern, std::regex(R"(\{[a-z_]+\})"), "x1");
    std::string allow;
    for (const std::string& m : has) {
      allow += (allow.empty() ? "" : ", ") + m + (m == "GET" ? ", head" : "");
    }
    for (char& c : allow) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const char* wrong : {"GET", "POST", "PUT", "DELETE"}) {
      if (std::find(has.begin(), has.end(), wrong) != has.end()) continue;
      HttpResult r = client_->Call(wrong, path, std::string(wrong) == "GET" ? "" : "{}");
      ExpectError(r, 405, "invalid_argument", "is not allowed on " + pattern);
      EXPECT_NE(r.headers.find("\r\nallow: " + allow + "\r\n"), std::string::npos)
          << wrong << " " << path << ":\n"
          << r.headers;
    }
  }
  EXPECT_GT(methods.size(), 12u);
}

// Handlers that throw what the service does not expect: a 500 with a valid body, never the end
// of the process.
TEST_F(HostileInputTest, AnythingAHandlerThrowsBecomesA500) {
  service_->AddRoute({"POST", "/v1/decide", kScopeRead,
                      Service::JsonBody([](const json&, Respond&) { throw 42; })});
  service_->AddRoute(
      {"POST", "/v1/reward", kScopeWrite, Service::JsonBody([](const json& b, Respond&) {
         throw std::runtime_error("bad bytes: " + b["id"].get<std::string>().substr(0, 1));
       })});
  Start();
  ExpectError(client_->Post("/v1/decide", {{"x", 1}}), 500, "internal", "unknown exception");
  // The message's cut character arrives as U+FFFD.
  ExpectError(client_->Post("/v1/reward", {{"id", "\u00e9"}}), 500, "internal",
              "bad bytes: \xef\xbf\xbd");
  ExpectAlive();
}

// Copying a JSON value recurses once per level (the predict route copies its rows): a body of a
// million '[' must be refused before anything walks it.
TEST_F(HostileInputTest, DeeplyNestedBodiesAreRefused) {
  Start();  // /v1/predict is served as `marquee serve` serves it
  const int depth = 1'000'000;
  const std::string deep =
      "{\"model\": \"tab\", \"rows\": " + std::string(depth, '[') + std::string(depth, ']') + "}";
  ExpectError(PostRaw("/v1/predict", deep), 400, "invalid_argument", "deeper than 64 levels");
  ExpectError(PostRaw("/v1/recommend", deep), 400, "invalid_argument", "deeper than 64 levels");
  // Brackets inside strings do not count.
  ExpectError(
      PostRaw("/v1/recommend", "{\"model\": \"" + std::string(100, '[') + "\", \"user\": \"u1\"}"),
      404, "not_found", "unknown model");
  ExpectAlive();
}

TEST(ApiKeysTest, AFileWithoutKeysIsRefused) {
  for (const char* text : {"", "\n\n", "# keys for prod\n   # none yet\n"}) {
    try {
      ApiKeys::Parse(text, "keys.txt");
      ADD_FAILURE() << "accepted '" << text << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("keys.txt: no API key"), std::string::npos) << e.what();
    }
  }
}

TEST(ApiKeysTest, OnlyTheExactKeyMatchesAndScopesFollowIt) {
  std::string text;
  for (int i = 0; i < 50; ++i) text += fmt::format("key-number-{:08d} read\n", i);
  text += "the-admin-key-0123456 read,write,admin\n";
  ApiKeys keys = ApiKeys::Parse(text, "k");
  EXPECT_EQ(keys.size(), 51u);
  EXPECT_NO_THROW(keys.Check(true, "key-number-00000049", kScopeRead, "/r"));
  EXPECT_NO_THROW(keys.Check(true, "the-admin-key-0123456", kScopeAdmin, "/a"));
  for (const char* wrong : {"key-number-0000004", "key-number-000000490", "key-number-00000050",
                            "Key-number-00000049", "the-admin-key-012345", ""}) {
    try {
      keys.Check(true, wrong, kScopeRead, "/r");
      ADD_FAILURE() << "accepted '" << wrong << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kUnauthenticated) << wrong;
    }
  }
  try {
    keys.Check(true, "key-number-00000007", kScopeWrite, "/w");
    ADD_FAILURE() << "a read key passed a write check";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kPermissionDenied);
  }
  EXPECT_THROW(ApiKeys::Parse("same-key-0123456789 read\nsame-key-0123456789 write\n", "k"), Error);
}

}  // namespace
}  // namespace marquee

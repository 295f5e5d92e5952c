// HttpClient against a real in-process server (the ServerCore of `marquee serve`): URLs,
// error answers mapped back to marquee::Error, a refused connection, keep-alive reuse and
// reconnection, API keys, file uploads and streamed answers.
#include "client/http_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <random>
#include <thread>

#include "common/error_codes.h"
#include "common/sha256.h"
#include "marquee/env.h"
#include "serving/serving_test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;

// The code and message of the marquee::Error `fn` throws (kInternal, "" when it throws none).
template <typename Fn>
std::pair<ErrorCode, std::string> ErrorOf(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    return {e.code(), e.what()};
  }
  ADD_FAILURE() << "no marquee::Error thrown";
  return {ErrorCode::kInternal, ""};
}

constexpr char kKey[] = "client-test-key-0123456789";
constexpr char kWriteKey[] = "client-write-key-0123456789";

class HttpClientTest : public ::testing::Test {
 protected:
  void TearDown() override { server_.reset(); }

  void Start(std::string keys = "", std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    marquee::testing::InProcessServerOptions o;
    o.events = false;
    o.api_keys = std::move(keys);
    o.core.http.spool_dir = dir_.file("spool");
    o.core.http.request_timeout = timeout;
    o.core.http.on_accept = [this] { accepted_++; };
    server_ = std::make_unique<marquee::testing::InProcessServer>(dir_.file("home"), std::move(o));
    Service& s = *server_->service();
    s.AddRoute({"PUT", "/test/upload", kScopeWrite,
                [](const Request& req, Respond& done) {
                  const std::string data = Env::Default()->ReadFile(req.body_file);
                  Response r;
                  r.body = DumpJson({{"bytes", data.size()}, {"sha256", Sha256Hex(data)}});
                  done(std::move(r));
                },
                true, 0});
    s.AddRoute({"GET", "/test/count", kScopeNone, [](const Request& req, Respond& done) {
                  const int n = std::stoi(req.query("n").value_or("3"));
                  Response r;
                  r.content_type = "text/event-stream";
                  r.stream = [n](ResponseWriter& w) {
                    for (int i = 0; i < n && w.Write(fmt::format("data: {}\n\n", i)); ++i) {
                    }
                  };
                  done(std::move(r));
                }});
    // Answers a plain-text error, as a proxy in front of the server might.
    s.AddRoute({"GET", "/test/plain-error", kScopeNone, [](const Request&, Respond& done) {
                  Response r;
                  r.status = 502;
                  r.content_type = "text/plain";
                  r.body = "bad gateway";
                  done(std::move(r));
                }});
    server_->Start();
    url_ = fmt::format("http://127.0.0.1:{}", server_->port());
    // The fixture's own raw client connects at Start: count from there.
    for (int i = 0; i < 500 && accepted_ == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(accepted_, 1);
    accepted_ = 0;
  }

  marquee::testing::TempDir dir_;
  std::unique_ptr<marquee::testing::InProcessServer> server_;
  std::string url_;
  std::atomic<int> accepted_{0};
};

TEST(HttpClientUrl, BadUrlsAreRefusedNamingThem) {
  for (const char* url :
       {"ftp://h:1", "h:1", "http://", "http://:80", "http://h:", "http://h:abc", "http://h:0",
        "http://h:65536", "http://u@h:1", "http://h:1/x?y=1", "http://[::1:80"}) {
    auto [code, message] = ErrorOf([&] { HttpClient c(url); });
    EXPECT_EQ(code, ErrorCode::kInvalidArgument) << url;
    EXPECT_NE(message.find(url), std::string::npos) << message;
  }
  auto [code, message] = ErrorOf([] { HttpClient c("https://h:443"); });
  EXPECT_EQ(code, ErrorCode::kInvalidArgument);
  EXPECT_NE(message.find("https is not supported"), std::string::npos) << message;
  // Accepted forms.
  HttpClient a("http://localhost:8080/api/");
  HttpClient b("http://[::1]:8080");
  HttpClient c("http://example.org");
}

TEST(HttpClientErrors, CodeNamesMapBack) {
  for (int i = 0; i <= static_cast<int>(ErrorCode::kInternal); ++i) {
    const auto code = static_cast<ErrorCode>(i);
    EXPECT_EQ(ErrorCodeFromName(ErrorCodeName(code)), code);
  }
  EXPECT_FALSE(ErrorCodeFromName("no_such_code").has_value());
}

TEST(HttpClientErrors, ARefusedConnectionIsUnavailableNamingTheUrl) {
  const std::string url = fmt::format("http://127.0.0.1:{}", testing::FreePort());
  HttpClient c(url);
  auto [code, message] = ErrorOf([&] { c.Json("GET", "/healthz"); });
  EXPECT_EQ(code, ErrorCode::kUnavailable);
  EXPECT_NE(message.find(url), std::string::npos) << message;
}

TEST_F(HttpClientTest, ErrorAnswersBecomeTheServersErrors) {
  Start();
  HttpClient c(url_);
  auto [code, message] = ErrorOf([&] { c.Json("GET", "/v1/no-such-thing"); });
  EXPECT_EQ(code, ErrorCode::kNotFound);
  EXPECT_NE(message.find("no route"), std::string::npos) << message;
  EXPECT_NE(message.find("/v1/no-such-thing"), std::string::npos) << message;
  json bad = json::array();
  std::tie(code, message) = ErrorOf([&] { c.Json("POST", "/v1/recommend", &bad); });
  EXPECT_EQ(code, ErrorCode::kInvalidArgument);
  EXPECT_NE(message.find("JSON object"), std::string::npos) << message;
  // Not an API error: the status decides, the body is quoted.
  std::tie(code, message) = ErrorOf([&] { c.Json("GET", "/test/plain-error"); });
  EXPECT_EQ(code, ErrorCode::kUnavailable);
  EXPECT_NE(message.find("502"), std::string::npos) << message;
  EXPECT_NE(message.find("bad gateway"), std::string::npos) << message;
  // Send returns error answers as they are.
  ClientResponse r = c.Send("GET", "/v1/no-such-thing");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "not_found");
  // A streamed call that fails throws the same way.
  std::tie(code, message) =
      ErrorOf([&] { c.Stream("GET", "/v1/nothing", [](std::string_view) { return true; }); });
  EXPECT_EQ(code, ErrorCode::kNotFound);
}

TEST_F(HttpClientTest, OneConnectionServesManyCallsAndIsReopenedWhenStale) {
  Start("", std::chrono::milliseconds(300));  // idle connections close after 300 ms
  HttpClient c(url_);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(c.Json("GET", "/healthz")["status"], "ok");
  EXPECT_EQ(accepted_, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(800));  // the server closes it
  EXPECT_EQ(c.Json("GET", "/healthz")["status"], "ok");
  EXPECT_EQ(accepted_, 2);
  // The prefix of the base URL goes before every target.
  HttpClient p(url_ + "/v1/");
  EXPECT_TRUE(p.Json("GET", "/models").contains("models"));
}

TEST_F(HttpClientTest, SendsTheApiKey) {
  Start(fmt::format("{} read\n{} write\n", kKey, kWriteKey));
  HttpClient anonymous(url_);
  EXPECT_EQ(ErrorOf([&] { anonymous.Json("GET", "/v1/models"); }).first,
            ErrorCode::kUnauthenticated);
  HttpClient keyed(url_, kKey);
  EXPECT_TRUE(keyed.Json("GET", "/v1/models").contains("models"));
  // An upload is refused from its header, before its body is stored.
  const std::string path = dir_.file("upload.bin");
  Env::Default()->WriteFileAtomic(path, std::string(100 << 10, 'u'));
  EXPECT_EQ(anonymous.UploadFile("PUT", "/test/upload", path).status, 401);
  EXPECT_EQ(keyed.UploadFile("PUT", "/test/upload", path).status, 403);
  HttpClient writer(url_, kWriteKey);
  ClientResponse r = writer.UploadFile("PUT", "/test/upload", path);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["bytes"], 100 << 10);
  // The key is checked before the body is read: a header alone gets the answer.
  marquee::testing::HttpClient raw(server_->port());
  raw.SetTimeout(3000);
  raw.SendRaw("PUT /test/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n");
  EXPECT_EQ(raw.ReadResponse().status, 401);
}

TEST_F(HttpClientTest, UploadsAFileFromDisk) {
  Start();
  const std::string path = dir_.file("upload.bin");
  std::string data(5 << 20, '\0');
  std::mt19937 rng(7);
  for (auto& ch : data) ch = static_cast<char>(rng() & 0xff);
  Env::Default()->WriteFileAtomic(path, data);
  HttpClient c(url_);
  ClientResponse r = c.UploadFile("PUT", "/test/upload", path);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["sha256"], Sha256Hex(data));
  EXPECT_EQ(json::parse(r.body)["bytes"], data.size());
  // An empty file, then the same connection again.
  Env::Default()->WriteFileAtomic(path, "");
  r = c.UploadFile("PUT", "/test/upload", path);
  EXPECT_EQ(json::parse(r.body)["bytes"], 0);
  EXPECT_EQ(accepted_, 1);
  EXPECT_EQ(ErrorOf([&] { c.UploadFile("PUT", "/test/upload", dir_.file("absent")); }).first,
            ErrorCode::kNotFound);
}

TEST_F(HttpClientTest, StreamsHandEachPieceAndStopWhenAsked) {
  Start();
  HttpClient c(url_);
  std::string body;
  ClientResponse r = c.Stream("GET", "/test/count?n=5", [&](std::string_view d) {
    body.append(d);
    return true;
  });
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "text/event-stream");
  EXPECT_EQ(body, "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n");
  EXPECT_TRUE(r.body.empty());
  // Stopping early closes the connection; the next call opens another.
  size_t pieces = 0;
  c.Stream("GET", "/test/count?n=100000", [&](std::string_view) { return ++pieces < 2; });
  EXPECT_EQ(pieces, 2u);
  EXPECT_EQ(c.Json("GET", "/healthz")["status"], "ok");
  EXPECT_EQ(accepted_, 2);
}

}  // namespace
}  // namespace marquee

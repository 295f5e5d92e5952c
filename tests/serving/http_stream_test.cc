// The HTTP transport's streamed bodies, end to end over a real HttpServer (the ServerCore of
// `marquee serve`, with test routes): uploads spooled to disk (Content-Length and chunked, the
// row limit, the spool file's removal or keeping), streamed responses (many megabytes in order
// through HttpClient::Stream, a client that goes away, Shutdown with an open stream, the stream
// limit, metrics at the end).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "client/http_client.h"
#include "common/sha256.h"
#include "marquee/env.h"
#include "serving_test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;
using marquee::testing::HttpResult;
using RawClient = marquee::testing::HttpClient;

constexpr size_t kMemoryLimit = 64 << 10;     // the server's in-memory body limit in these tests
constexpr uint64_t kUploadLimit = 8u << 20;   // the upload row's limit
constexpr uint64_t kSmallLimit = 100u << 10;  // the small upload row's limit

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// Line i of the test stream: fixed width, so any reordering or loss shows.
std::string StreamLine(uint64_t i) { return fmt::format("line {:010d} of the stream\n", i); }

// Polls `done` for up to 10 s.
template <typename Pred>
bool Eventually(Pred done) {
  for (int i = 0; i < 1000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

class HttpStreamTest : public ::testing::Test {
 protected:
  void SetUp() override { spool_ = dir_.file("spool"); }
  void TearDown() override { server_.reset(); }

  void Start(bool with_spool = true, size_t max_streams = 32) {
    marquee::testing::InProcessServerOptions o;
    o.events = false;
    o.body_limit = kMemoryLimit;
    if (with_spool) o.core.http.spool_dir = spool_;
    o.core.http.max_streams = max_streams;
    o.core.http.request_timeout = std::chrono::milliseconds(5000);
    server_ = std::make_unique<marquee::testing::InProcessServer>(dir_.file("home"), std::move(o));
    AddRoutes(*server_->service());
    server_->Start();
  }

  void AddRoutes(Service& s) {
    // Answers the spooled body's size and digest; remembers its path.
    auto upload = [this](const Request& req, Respond& done) {
      EXPECT_TRUE(req.body.empty());
      const std::string data = Env::Default()->ReadFile(req.body_file);
      last_file_ = req.body_file;
      Response r;
      r.body = DumpJson({{"bytes", data.size()}, {"sha256", Sha256Hex(data)}});
      done(std::move(r));
    };
    s.AddRoute({"PUT", "/test/upload", kScopeNone, upload, true, kUploadLimit});
    s.AddRoute({"PUT", "/test/small", kScopeNone, upload, true, kSmallLimit});
    // Keeps the upload: renames it away before answering.
    s.AddRoute({"PUT", "/test/keep", kScopeNone,
                [this](const Request& req, Respond& done) {
                  Env::Default()->RenameFile(req.body_file, dir_.file("kept"));
                  last_file_ = req.body_file;
                  done(Response{});
                },
                true, 0});
    // ?lines=N lines of StreamLine, in order.
    s.AddRoute({"GET", "/test/stream", kScopeNone, [](const Request& req, Respond& done) {
                  const uint64_t lines = std::stoull(req.query("lines").value_or("10"));
                  Response r;
                  r.content_type = "application/x-ndjson";
                  r.stream = [lines](ResponseWriter& w) {
                    std::string batch;
                    for (uint64_t i = 0; i < lines; ++i) {
                      batch += StreamLine(i);
                      if (batch.size() >= 8192 || i + 1 == lines) {
                        if (!w.Write(batch)) return;
                        batch.clear();
                      }
                    }
                  };
                  done(std::move(r));
                }});
    // Answers the spooled body's size.
    s.AddRoute({"PUT", "/test/size", kScopeNone,
                [](const Request& req, Respond& done) {
                  Response r;
                  r.body = DumpJson({{"bytes", Env::Default()->FileSize(req.body_file)}});
                  done(std::move(r));
                },
                true, 0});
    // TryWrite until it refuses, counting what it queued.
    s.AddRoute({"GET", "/test/try", kScopeNone, [this](const Request&, Respond& done) {
                  Response r;
                  r.stream = [this](ResponseWriter& w) {
                    const std::string block(64 << 10, 'y');
                    while (w.TryWrite(block)) try_queued_ += block.size();
                    try_refused_ = true;
                  };
                  done(std::move(r));
                }});
    // Writes until Write returns false, then records that it ended.
    s.AddRoute({"GET", "/test/endless", kScopeNone, [this](const Request&, Respond& done) {
                  Response r;
                  r.content_type = "text/event-stream";
                  r.stream = [this](ResponseWriter& w) {
                    producers_started_++;
                    const std::string event = "data: " + std::string(1000, 'x') + "\n\n";
                    while (w.Write(event)) {
                    }
                    producers_ended_++;
                  };
                  done(std::move(r));
                }});
  }

  // Sends a streamed GET and reads the response header (the body keeps coming).
  std::unique_ptr<RawClient> OpenStream(const std::string& path) {
    auto c = std::make_unique<RawClient>(server_->port());
    c->SetTimeout(5000);
    c->SendRaw("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n");
    return c;
  }

  std::vector<std::string> SpoolFiles() {
    std::vector<std::string> out;
    if (!std::filesystem::exists(spool_)) return out;
    for (const auto& e : std::filesystem::directory_iterator(spool_)) out.push_back(e.path());
    return out;
  }

  marquee::testing::TempDir dir_;
  std::string spool_;
  std::unique_ptr<marquee::testing::InProcessServer> server_;
  std::string last_file_;  // set by the upload handlers (on an io thread, before they answer)
  std::atomic<int> producers_started_{0}, producers_ended_{0};
  std::atomic<uint64_t> try_queued_{0};
  std::atomic<bool> try_refused_{false};
};

TEST_F(HttpStreamTest, UploadLargerThanTheMemoryLimitArrivesWholeInAFileRemovedAfterwards) {
  Start();
  const std::string data = RandomBytes(3 << 20, 1);  // 48 times the in-memory limit
  RawClient c(server_->port());
  HttpResult r = c.Call("PUT", "/test/upload", data);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["bytes"], data.size());
  EXPECT_EQ(r.json()["sha256"], Sha256Hex(data));
  ASSERT_FALSE(last_file_.empty());
  EXPECT_EQ(std::filesystem::path(last_file_).parent_path(), std::filesystem::path(spool_));
  EXPECT_TRUE(Eventually([&] { return !std::filesystem::exists(last_file_); }))
      << last_file_ << " was not removed";
  EXPECT_TRUE(Eventually([&] { return SpoolFiles().empty(); }));
  // The same body to an in-memory row is refused by the in-memory limit, from its headers: the
  // server closes the connection while the body is still being sent, which the C++ client
  // (unlike RawClient) reads through.
  HttpClient client(fmt::format("http://127.0.0.1:{}", server_->port()));
  ClientResponse big = client.Send("POST", "/v1/events", data);
  EXPECT_EQ(big.status, 413) << big.body;
  EXPECT_NE(big.body.find(std::to_string(kMemoryLimit)), std::string::npos) << big.body;
}

// Resident memory of this process, in bytes.
uint64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

TEST_F(HttpStreamTest, ALargeUploadSlowIsNeverHeldInMemory) {
  Start();
  constexpr uint64_t kBytes = uint64_t{256} << 20;
  const uint64_t before = ResidentBytes();
  std::atomic<bool> sending{true};
  std::atomic<uint64_t> peak{before};
  std::thread sampler([&] {
    while (sending) {
      peak = std::max<uint64_t>(peak, ResidentBytes());
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  RawClient c(server_->port());
  c.SetTimeout(60000);
  c.SendRaw("PUT /test/size HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(kBytes) +
            "\r\n\r\n");
  const std::string piece = RandomBytes(1 << 20, 4);
  for (uint64_t sent = 0; sent < kBytes; sent += piece.size()) c.SendRaw(piece);
  HttpResult r = c.ReadResponse();
  sending = false;
  sampler.join();
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["bytes"], kBytes);
  // Held whole, the body alone would add 256 MiB.
  EXPECT_LT(peak - before, uint64_t{32} << 20) << "resident memory grew by " << (peak - before);
}

TEST_F(HttpStreamTest, UploadBeyondTheRowLimitIs413NamingIt) {
  Start();
  RawClient c(server_->port());
  c.SetTimeout(5000);
  // Content-Length over the limit: refused from the header, before any body byte.
  c.SendRaw("PUT /test/upload HTTP/1.1\r\nHost: x\r\nContent-Length: " +
            std::to_string(kUploadLimit + 1) + "\r\n\r\n");
  marquee::testing::ExpectErrorResponse(c.ReadResponse(), 413, "resource_exhausted",
                                        std::to_string(kUploadLimit));
  // Chunked past the limit of the small row: refused as the chunks pass it.
  RawClient d(server_->port());
  d.SetTimeout(5000);
  std::string req = "PUT /test/small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string piece(30 << 10, 'a');
  for (int i = 0; i < 4; ++i) req += fmt::format("{:x}\r\n{}\r\n", piece.size(), piece);
  req += "0\r\n\r\n";
  d.SendRaw(req);
  marquee::testing::ExpectErrorResponse(d.ReadResponse(), 413, "resource_exhausted",
                                        std::to_string(kSmallLimit));
  EXPECT_TRUE(Eventually([&] { return SpoolFiles().empty(); })) << "a partial upload was left";
}

TEST_F(HttpStreamTest, ChunkedUploadArrivesWhole) {
  Start();
  const std::string data = RandomBytes((1 << 20) + 12345, 2);
  std::string req = "PUT /test/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (size_t off = 0; off < data.size(); off += 70000) {
    const std::string_view piece = std::string_view(data).substr(off, 70000);
    req += fmt::format("{:x}\r\n", piece.size());
    req += piece;
    req += "\r\n";
  }
  req += "0\r\n\r\n";
  RawClient c(server_->port());
  c.SendRaw(req);
  HttpResult r = c.ReadResponse();
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["bytes"], data.size());
  EXPECT_EQ(r.json()["sha256"], Sha256Hex(data));
  // The connection stays usable after an upload.
  EXPECT_EQ(c.Get("/healthz").status, 200);
}

TEST_F(HttpStreamTest, ExpectContinueGets100BeforeTheBodyIsSent) {
  Start();
  RawClient c(server_->port());
  c.SetTimeout(5000);
  c.SendRaw(
      "PUT /test/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  HttpResult interim = c.ReadResponse();
  EXPECT_EQ(interim.status, 100);
  c.SendRaw("hello");
  HttpResult r = c.ReadResponse();
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["sha256"], Sha256Hex("hello"));
}

TEST_F(HttpStreamTest, AHandlerThatRenamesTheUploadKeepsIt) {
  Start();
  const std::string data = RandomBytes(200 << 10, 3);
  RawClient c(server_->port());
  ASSERT_EQ(c.Call("PUT", "/test/keep", data).status, 200);
  EXPECT_EQ(Env::Default()->ReadFile(dir_.file("kept")), data);
  EXPECT_FALSE(std::filesystem::exists(last_file_));
}

// ServerCore spools under $home/tmp/uploads unless told otherwise; an HttpServer given no spool
// directory refuses uploads.
TEST_F(HttpStreamTest, UploadsWithoutASpoolDirectoryAre503) {
  Start(/*with_spool=*/false);
  HttpServerOptions o;
  o.port = 0;
  HttpServer bare(o, server_->service(), server_->metrics());
  bare.Start();
  {
    RawClient c(bare.port());
    marquee::testing::ExpectErrorResponse(c.Call("PUT", "/test/upload", "abc"), 503, "unavailable",
                                          "uploads need a spool directory");
  }
  bare.Shutdown();
  bare.Wait();
  RawClient c(server_->port());
  EXPECT_EQ(c.Call("PUT", "/test/upload", "abc").status, 200);
}

TEST_F(HttpStreamTest, ManyMegabytesStreamCompleteAndInOrderThroughTheClient) {
  Start();
  const uint64_t lines = 1'000'000;  // 27 MB
  const size_t route = server_->service()->RouteIndex("/test/stream");
  HttpClient client(fmt::format("http://127.0.0.1:{}", server_->port()));
  uint64_t next = 0, bytes = 0;
  std::string partial;
  bool in_order = true;
  ClientResponse r =
      client.Stream("GET", fmt::format("/test/stream?lines={}", lines), [&](std::string_view data) {
        bytes += data.size();
        partial.append(data);
        size_t nl, start = 0;
        while ((nl = partial.find('\n', start)) != std::string::npos) {
          if (partial.compare(start, nl + 1 - start, StreamLine(next)) != 0) {
            in_order = false;
          }
          ++next;
          start = nl + 1;
        }
        partial.erase(0, start);
        return true;
      });
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/x-ndjson");
  EXPECT_EQ(r.header("transfer-encoding"), "chunked");
  EXPECT_TRUE(in_order);
  EXPECT_EQ(next, lines);
  EXPECT_TRUE(partial.empty());
  EXPECT_EQ(bytes, lines * StreamLine(0).size());
  // Observed once, when the stream ended; the connection is kept alive for the next call.
  EXPECT_TRUE(Eventually([&] { return server_->metrics()->requests(route, 200) == 1; }));
  EXPECT_EQ(client.Json("GET", "/healthz")["status"], "ok");
}

TEST_F(HttpStreamTest, TryWriteRefusesWhenTheQueueIsFullAndWhatItQueuedArrives) {
  Start();
  HttpClient client(fmt::format("http://127.0.0.1:{}", server_->port()));
  uint64_t received = 0;
  client.Stream("GET", "/test/try", [&](std::string_view data) {
    // Hold the first piece until the producer has filled the socket and the queue.
    if (received == 0) {
      EXPECT_TRUE(Eventually([&] { return try_refused_.load(); }));
    }
    received += data.size();
    return true;
  });
  EXPECT_TRUE(try_refused_);
  EXPECT_GE(try_queued_, uint64_t{1} << 20);  // at least the queue's worth went in before a refusal
  EXPECT_EQ(received, try_queued_);
}

TEST_F(HttpStreamTest, AProducerWhoseClientLeavesSeesWriteFail) {
  Start();
  {
    auto c = OpenStream("/test/endless");
    HttpResult head = c->ReadResponse();  // the header; the body is not read
    EXPECT_EQ(head.status, 200);
    ASSERT_TRUE(Eventually([&] { return producers_started_ == 1; }));
  }  // closes the connection
  EXPECT_TRUE(Eventually([&] { return producers_ended_ == 1; }))
      << "the producer did not notice its client had gone";
}

TEST_F(HttpStreamTest, ShutdownEndsAnOpenStreamAndJoinsIt) {
  Start();
  auto c = OpenStream("/test/endless");
  EXPECT_EQ(c->ReadResponse().status, 200);
  ASSERT_TRUE(Eventually([&] { return producers_started_ == 1; }));
  const auto t0 = std::chrono::steady_clock::now();
  server_->Stop();                 // the client holds its connection open and reads nothing
  EXPECT_EQ(producers_ended_, 1);  // joined before Stop returned
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(9));
}

TEST_F(HttpStreamTest, StreamsBeyondTheLimitAre503) {
  Start(/*with_spool=*/true, /*max_streams=*/1);
  auto c = OpenStream("/test/endless");
  EXPECT_EQ(c->ReadResponse().status, 200);
  ASSERT_TRUE(Eventually([&] { return producers_started_ == 1; }));
  RawClient d(server_->port());
  marquee::testing::ExpectErrorResponse(d.Get("/test/stream"), 503, "unavailable",
                                        "the limit is 1");
  c.reset();  // the first stream ends: its slot is free again once its thread has returned
  ASSERT_TRUE(Eventually([&] { return producers_ended_ == 1; }));
  HttpClient client(fmt::format("http://127.0.0.1:{}", server_->port()));
  std::string body;
  ClientResponse r;
  EXPECT_TRUE(Eventually([&] {
    body.clear();
    try {
      r = client.Stream("GET", "/test/stream?lines=3", [&](std::string_view data) {
        body.append(data);
        return true;
      });
      return true;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kUnavailable) << e.what();  // the thread is ending
      return false;
    }
  }));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(body, StreamLine(0) + StreamLine(1) + StreamLine(2));
}

TEST_F(HttpStreamTest, Http10StreamsAreNotChunked) {
  Start();
  RawClient c(server_->port());
  c.SetTimeout(5000);
  c.SendRaw("GET /test/stream?lines=2 HTTP/1.0\r\n\r\n");
  HttpResult r = c.ReadResponse();  // the header (no length: the body runs to the close)
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.find("transfer-encoding"), std::string::npos) << r.headers;
  EXPECT_EQ(r.headers.find("keep-alive"), std::string::npos) << r.headers;
}

}  // namespace
}  // namespace marquee

// Helpers for the serving suites: a blocking keep-alive HTTP/1.1 client on POSIX sockets, a home
// with registered model versions (trained in-process on a tiny two-taste data set), the check of
// an error response, and an in-process server (the ServerCore `marquee serve` runs).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/text.h"
#include "control/control_plane.h"
#include "events/event_log.h"
#include "kinds/recommender/model_bundle.h"
#include "marquee/env.h"
#include "marquee/recommender.h"
#include "registry/registry.h"
#include "serving/model_manager.h"
#include "serving/server_core.h"
#include "serving/service.h"
#include "test_util.h"

namespace marquee::testing {

struct HttpResult {
  int status = 0;
  std::string body;
  std::string headers;  // raw header block, lower-cased names
  nlohmann::json json() const { return nlohmann::json::parse(body); }
};

class HttpClient {
 public:
  explicit HttpClient(uint16_t port) : port_(port) { Connect(); }
  ~HttpClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  HttpClient(const HttpClient&) = delete;

  void Connect() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      throw std::runtime_error("connect failed: " + std::string(std::strerror(errno)));
    }
  }

  // Gives up a read after `ms` milliseconds (ReadResponse then answers status 0), so a test of
  // a misbehaving server fails instead of hanging.
  void SetTimeout(int ms) {
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }

  static std::string Format(const std::string& method, const std::string& path,
                            const std::string& body, const std::string& extra_headers = "") {
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers;
    if (!body.empty() || method == "POST") {
      req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\n";
    }
    return req + "\r\n" + body;
  }

  void SendRaw(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      off += static_cast<size_t>(n);
    }
  }

  // Reads one response (Content-Length framed; `to_head`: the answer to a HEAD, whose
  // Content-Length has no body after it). status 0 when the server closed the connection.
  HttpResult ReadResponse(bool to_head = false) {
    HttpResult r;
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return r;
    }
    std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    r.status = std::stoi(head.substr(9, 3));
    for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers = head;
    size_t len = 0;
    if (auto p = head.find("content-length:"); p != std::string::npos && !to_head) {
      len = std::stoul(head.substr(p + 15));
    }
    while (buf_.size() < len) {
      if (!Fill()) break;
    }
    r.body = buf_.substr(0, len);
    buf_.erase(0, len);
    return r;
  }

  HttpResult Call(const std::string& method, const std::string& path, const std::string& body = "",
                  const std::string& extra_headers = "") {
    SendRaw(Format(method, path, body, extra_headers));
    return ReadResponse();
  }
  HttpResult Post(const std::string& path, const nlohmann::json& body,
                  const std::string& extra_headers = "") {
    return Call("POST", path, body.dump(), extra_headers);
  }
  HttpResult Get(const std::string& path, const std::string& extra_headers = "") {
    return Call("GET", path, "", extra_headers);
  }

 private:
  bool Fill() {
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  uint16_t port_;
  int fd_ = -1;
  std::string buf_;
};

// Two taste groups: users u0..u59, even users like items i0..i9, odd users i10..i19.
inline CsrMatrix TwoTastes(int users, std::vector<std::string>& user_ids,
                           std::vector<std::string>& item_ids) {
  std::vector<uint32_t> r, c;
  std::vector<float> v;
  user_ids.clear();
  item_ids.clear();
  for (int i = 0; i < 20; ++i) item_ids.push_back("i" + std::to_string(i));
  for (int u = 0; u < users; ++u) {
    user_ids.push_back("u" + std::to_string(u));
    for (int k = 0; k < 5; ++k) {
      r.push_back(static_cast<uint32_t>(u));
      c.push_back(static_cast<uint32_t>((u % 2) * 10 + (u * 3 + k * 7) % 10));
      v.push_back(1.0f);
    }
  }
  return CsrMatrix::FromTriplets(static_cast<uint32_t>(users), 20, r, c, v);
}

// Trains `family` on TwoTastes and registers it as the next version of `model`; returns the
// version number.
inline int64_t RegisterModel(const std::string& home, const std::string& model,
                             const std::string& family = "ease",
                             const nlohmann::json& params = nlohmann::json::object()) {
  std::vector<std::string> users, items;
  CsrMatrix x = TwoTastes(60, users, items);
  auto rec = CreateRecommender(family, params);
  Context ctx;
  rec->Fit(x, ctx);
  TrainingHistory t{users, x};
  Registry reg(home);  // first: a home with artifacts but no registry is refused as damaged
  std::string digest;
  SaveModelBundle(*rec, items, {{"test", true}}, home, Env::Default(), &digest, &t);
  NewVersion nv;
  nv.model_name = model;
  nv.artifact = digest;
  nv.family = family;
  nv.created_at = 1;
  return reg.store().RegisterVersion(nv).version;
}

// Asserts an error response: `status`, {"error": {"code": code, "message": ... needle ...}}, and
// valid UTF-8 throughout (the body echoes user text).
inline void ExpectErrorResponse(const HttpResult& r, int status, const std::string& code,
                                const std::string& needle) {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_TRUE(IsValidUtf8(r.body)) << EscapeForTerminal(r.body);
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << EscapeForTerminal(r.body);
  ASSERT_TRUE(j["error"].is_object()) << r.body;
  EXPECT_EQ(j["error"]["code"], code) << r.body;
  ASSERT_TRUE(j["error"]["message"].is_string()) << r.body;
  EXPECT_NE(j["error"]["message"].get<std::string>().find(needle), std::string::npos)
      << "message lacks '" << needle << "': " << r.body;
}

struct InProcessServerOptions {
  std::vector<std::string> refs;  // recommenders loaded before Start
  bool events = true;             // an event log in $home/events (false: /v1/events is 503)
  std::string api_keys;           // key-file text; empty: no keys
  ServiceLimits limits;
  size_t body_limit = 0;      // 0: HttpServer's default
  bool serve_reload = false;  // the model manager's thread runs, so POST /admin/reload works
  int threads = 2;
  bool experiments = false;   // the experiment router and its exposure log
  bool control_plane = true;  // the /api/v1 routes (control/control_plane.h), as serve has them
  // The rest of ServerCoreOptions (bandits, experiments, log options, test hooks); the
  // fields above override theirs.
  ServerCoreOptions core;
};

// The serving stack of `marquee serve` in this process (ServerCore, without experiments
// unless asked), with the models loaded before Start and an HttpServer on
// 127.0.0.1 (port 0) with a client. Built in two steps so a test can configure the service
// before Start. Not thread-safe.
class InProcessServer {
 public:
  InProcessServer(const std::string& home, InProcessServerOptions o) {
    ServerCoreOptions c = std::move(o.core);
    c.home = home;
    c.models = std::move(o.refs);
    c.events = o.events;
    c.experiments = o.experiments;
    if (!o.api_keys.empty()) c.keys = ApiKeys::Parse(o.api_keys, "keys.txt");
    c.limits = o.limits;
    c.http.port = 0;
    c.http.threads = o.threads;
    if (o.body_limit > 0) c.http.body_limit = o.body_limit;
    c.poll = o.serve_reload;
    c.poll_interval = std::chrono::milliseconds(0);
    c.load_before_start = true;
    if (o.control_plane) AddControlPlane(c, ControlPlaneOptions{.home = home});
    core_ = std::make_unique<ServerCore>(std::move(c));
  }
  ~InProcessServer() { Stop(); }
  InProcessServer(const InProcessServer&) = delete;
  InProcessServer& operator=(const InProcessServer&) = delete;

  // Binds and serves; connects client().
  void Start() {
    core_->Start();
    client_ = std::make_unique<HttpClient>(core_->port());
  }
  // Shuts everything down in the order serve does (idempotent).
  void Stop() {
    client_.reset();
    core_->Stop();
  }

  uint16_t port() const { return core_->port(); }
  HttpClient* client() { return client_.get(); }
  EventLog* events() { return core_->events(); }
  ServingMetrics* metrics() { return core_->metrics(); }
  ModelManager* models() { return core_->models(); }
  Service* service() { return core_->service(); }
  ServerCore* core() { return core_.get(); }

 private:
  std::unique_ptr<ServerCore> core_;
  std::unique_ptr<HttpClient> client_;
};

}  // namespace marquee::testing

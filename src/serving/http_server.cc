#include "serving/http_server.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "marquee/error.h"

namespace marquee::serving {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class Session;

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions o, Service* service, ServingMetrics* metrics)
      : options_(std::move(o)), service_(service), metrics_(metrics) {
    // One io_context per thread (each run by exactly one thread, hence concurrency hint 1): a
    // connection lives on one context, so its handlers are serialised without a strand and
    // threads never contend on a shared handler queue.
    for (int i = 0; i < std::max(1, options_.threads); ++i) {
      iocs_.push_back(std::make_unique<asio::io_context>(1));
      guards_.emplace_back(asio::make_work_guard(*iocs_.back()));
    }
    acceptor_.emplace(*iocs_[0]);
  }

  void Start();
  void Accept();
  void Shutdown();
  void ReleaseContexts() {
    for (auto& g : guards_) g.reset();
  }
  void Wait() {
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  void Register(const std::shared_ptr<Session>& s);
  void Unregister(Session* s);

  HttpServerOptions options_;
  Service* service_;
  ServingMetrics* metrics_;
  std::vector<std::unique_ptr<asio::io_context>> iocs_;
  // Keep each context's run() going while it has no connection; released on shutdown.
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::optional<tcp::acceptor> acceptor_;  // on iocs_[0]
  size_t next_context_ = 0;                // round-robin for accepted connections
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  uint16_t port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<Session*> sessions_;
  std::vector<std::weak_ptr<Session>> weak_sessions_;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, HttpServer::Impl* server)
      : stream_(std::move(socket)), server_(server) {}
  ~Session() { server_->Unregister(this); }

  void Run() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Read(); });
  }

  // Called on shutdown, from any thread: closes the connection if it is waiting for a request.
  void CloseIfIdle() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->reading_ && self->buffer_.size() == 0 &&
          !(self->parser_ && self->parser_->got_some())) {
        beast::error_code ec;
        self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        self->stream_.socket().close(ec);
      }
    });
  }

 private:
  void Read() {
    if (server_->stopping_.load()) return Close();
    parser_.emplace();
    parser_->body_limit(server_->options_.body_limit);
    parser_->header_limit(16 * 1024);
    stream_.expires_after(server_->options_.request_timeout);
    reading_ = true;
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t) {
    reading_ = false;
    if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted ||
        ec == beast::error::timeout || ec == asio::error::connection_reset ||
        ec == asio::error::eof || ec == asio::error::bad_descriptor) {
      return Close();
    }
    start_ = std::chrono::steady_clock::now();
    if (ec == http::error::body_limit) {
      return WriteError(413, ErrorCode::kResourceExhausted,
                        fmt::format("the request body is larger than the limit of {} bytes",
                                    server_->options_.body_limit),
                        "other");
    }
    if (ec == http::error::header_limit) {
      return WriteError(431, ErrorCode::kResourceExhausted, "the request headers are too large",
                        "other");
    }
    if (ec) {
      return WriteError(400, ErrorCode::kInvalidArgument,
                        fmt::format("malformed HTTP request: {}", ec.message()), "other");
    }
    auto& req = parser_->get();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    Request r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    r.body = std::move(req.body());
    if (auto it = req.find(http::field::authorization); it != req.end()) {
      std::string_view v(it->value().data(), it->value().size());
      if (v.starts_with("Bearer ")) {
        r.has_api_key = true;
        r.api_key = std::string(v.substr(7));
      }
    }
    if (auto it = req.find("X-API-Key"); it != req.end() && !r.has_api_key) {
      r.has_api_key = true;
      r.api_key = std::string(it->value());
    }
    route_ = Service::RouteIndex(r.target);
    head_ = req.method() == http::verb::head;
    // The handler may answer on another thread (events: once durable); hop back to the
    // connection's io thread.
    server_->service_->Handle(r, [self = shared_from_this()](Response resp) {
      asio::dispatch(self->stream_.get_executor(),
                     [self, resp = std::move(resp)]() mutable { self->Write(std::move(resp)); });
    });
  }

  void WriteError(int status, ErrorCode code, const std::string& message, const char*) {
    keep_alive_ = false;
    version_ = 11;
    route_ = Service::Routes().size() - 1;
    Write(Service::ErrorResponse(status, code, message));
  }

  void Write(Response resp) {
    // One response in flight per connection: the message object is reused (its header storage
    // with it) rather than allocated per request.
    res_.clear();
    res_.result(static_cast<http::status>(resp.status));
    res_.version(version_);
    res_.set(http::field::server, "marquee");
    res_.set(http::field::content_type, resp.content_type);
    const bool keep = keep_alive_ && !server_->stopping_.load();
    res_.keep_alive(keep);
    status_ = resp.status;
    if (head_) {
      res_.body().clear();
      res_.content_length(resp.body.size());
    } else {
      res_.body() = std::move(resp.body);
      res_.prepare_payload();
    }
    stream_.expires_after(server_->options_.request_timeout);
    http::async_write(stream_, res_,
                      [self = shared_from_this(), keep](beast::error_code ec, size_t) {
                        self->OnWrite(ec, keep);
                      });
  }

  void OnWrite(beast::error_code ec, bool keep) {
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    server_->metrics_->Observe(route_, status_, secs);
    if (ec || !keep) return Close();
    Read();
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  HttpServer::Impl* server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  bool reading_ = false;
  bool keep_alive_ = true;
  bool head_ = false;
  unsigned version_ = 11;
  size_t route_ = 0;
  int status_ = 0;
  std::chrono::steady_clock::time_point start_;
};

void HttpServer::Impl::Register(const std::shared_ptr<Session>& s) {
  std::lock_guard lock(mu_);
  sessions_.insert(s.get());
  weak_sessions_.push_back(s);
  if (weak_sessions_.size() > 2 * sessions_.size() + 64) {
    std::erase_if(weak_sessions_, [](const auto& w) { return w.expired(); });
  }
}

void HttpServer::Impl::Unregister(Session* s) {
  std::lock_guard lock(mu_);
  sessions_.erase(s);
  if (sessions_.empty()) cv_.notify_all();
}

void HttpServer::Impl::Start() {
  beast::error_code ec;
  auto addr = asio::ip::make_address(options_.host, ec);
  if (ec) Fail(ErrorCode::kInvalidArgument, "--host '{}' is not an IP address", options_.host);
  tcp::endpoint ep(addr, options_.port);
  acceptor_->open(ep.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(ep, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    Fail(ErrorCode::kUnavailable, "cannot listen on {}:{}: {}", options_.host, options_.port,
         ec.message());
  }
  port_ = acceptor_->local_endpoint().port();
  Accept();
  for (auto& ioc : iocs_) {
    threads_.emplace_back([ctx = ioc.get()] { ctx->run(); });
  }
}

void HttpServer::Impl::Accept() {
  // Only the acceptor's thread touches next_context_.
  asio::io_context& target = *iocs_[next_context_++ % iocs_.size()];
  acceptor_->async_accept(target, [this](beast::error_code ec, tcp::socket sock) {
    if (ec) {
      if (!acceptor_->is_open() || stopping_) return;
      spdlog::warn("serve: accept failed: {}", ec.message());
    } else {
      beast::error_code ignored;
      sock.set_option(tcp::no_delay(true), ignored);
      auto s = std::make_shared<Session>(std::move(sock), this);
      Register(s);
      s->Run();
    }
    if (!stopping_) Accept();
  });
}

void HttpServer::Impl::Shutdown() {
  if (stopping_.exchange(true)) return;
  asio::post(acceptor_->get_executor(), [this] {
    beast::error_code ec;
    acceptor_->close(ec);
  });
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mu_);
    for (auto& w : weak_sessions_) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->CloseIfIdle();
  live.clear();
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, options_.shutdown_grace, [&] { return sessions_.empty(); })) {
    spdlog::warn("serve: {} connections still open after the grace period; closing them",
                 sessions_.size());
    lock.unlock();
    for (auto& ioc : iocs_) ioc->stop();
    return;
  }
  lock.unlock();
  // Every connection is gone: once the guards are released the io threads return on their own
  // (after the acceptor's close handler ran).
  ReleaseContexts();
}

HttpServer::HttpServer(HttpServerOptions options, Service* service, ServingMetrics* metrics)
    : impl_(std::make_unique<Impl>(std::move(options), service, metrics)) {}

HttpServer::~HttpServer() {
  if (!impl_->threads_.empty()) {
    Shutdown();
    Wait();
  }
}

void HttpServer::Start() { impl_->Start(); }
uint16_t HttpServer::port() const { return impl_->port_; }
void HttpServer::Shutdown() { impl_->Shutdown(); }
void HttpServer::Wait() { impl_->Wait(); }

}  // namespace marquee::serving

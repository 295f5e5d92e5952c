#include "serving/http_server.h"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "common/text.h"
#include "marquee/error.h"

namespace marquee {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class Session;

// A request or response at least this large counts as large: afterwards the connection gives its
// buffers back and the process returns freed heap pages to the system (see ScheduleTrim).
constexpr size_t kLargeMessage = 1 << 20;
// Kept per idle connection at most; larger buffers are released after the exchange.
constexpr size_t kKeepBuffer = 64 << 10;
// After an accept failure that a retry cannot fix at once (out of file descriptors, of memory),
// the next accept waits this long: retrying at once spins a core and floods the log.
constexpr std::chrono::milliseconds kAcceptBackoff{50};
// At most one accept-failure log line per this interval (the rest are counted in the next one).
constexpr std::chrono::seconds kAcceptLogInterval{10};
// Freed heap pages are returned to the system this long after a large exchange, at most once per
// interval.
constexpr std::chrono::milliseconds kTrimDelay{200};

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
    accept_backoff_.emplace(*iocs_[0]);
    trim_timer_.emplace(*iocs_[0]);
  }

  void Start();
  void Accept();
  void OnAcceptError(const beast::error_code& ec);
  // After a large exchange: return the heap pages freed by its buffers and parsed JSON to the
  // system (malloc_trim) a little later, once for every burst. Any thread.
  void ScheduleTrim();
  void Shutdown() EXCLUDES(mu_);
  void ReleaseContexts() {
    for (auto& g : guards_) g.reset();
  }
  void Wait() {
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  void Register(const std::shared_ptr<Session>& s) EXCLUDES(mu_);
  void Unregister(Session* s) EXCLUDES(mu_);

  // Set in the constructor and never replaced: the io threads only read them (no lock).
  HttpServerOptions options_;
  Service* service_;
  ServingMetrics* metrics_;
  std::vector<std::unique_ptr<asio::io_context>> iocs_;
  // Keep each context's run() going while it has no connection; released on shutdown (by the
  // thread calling Shutdown; the io threads never touch them).
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::optional<tcp::acceptor> acceptor_;  // on iocs_[0]
  // The acceptor's thread only (iocs_[0]): the retry delay after a failed accept and the
  // rate limit of its log line.
  std::optional<asio::steady_timer> accept_backoff_;
  std::chrono::steady_clock::time_point last_accept_log_{};
  uint64_t accept_errors_unlogged_ = 0;
  std::optional<asio::steady_timer> trim_timer_;  // on iocs_[0], armed there only
  std::atomic<bool> trim_pending_{false};
  size_t next_context_ = 0;  // round-robin for accepted connections; the acceptor's thread only
  // Set by Start before it returns (and before the first connection); Wait joins the threads.
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  Mutex mu_;
  CondVar cv_;                                                         // signals sessions_ emptied
  std::set<Session*> sessions_ GUARDED_BY(mu_);                        // the open connections
  std::vector<std::weak_ptr<Session>> weak_sessions_ GUARDED_BY(mu_);  // for Shutdown to close
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

  void OnRead(beast::error_code ec, size_t bytes) {
    reading_ = false;
    if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted ||
        ec == beast::error::timeout || ec == asio::error::connection_reset ||
        ec == asio::error::eof || ec == asio::error::bad_descriptor) {
      return Close();
    }
    start_ = std::chrono::steady_clock::now();
    large_ = bytes >= kLargeMessage;
    if (ec == http::error::body_limit) {
      large_ = true;
      return WriteError(413, ErrorCode::kResourceExhausted,
                        fmt::format("the request body is larger than the limit of {} bytes",
                                    server_->options_.body_limit));
    }
    if (ec == http::error::header_limit) {
      return WriteError(431, ErrorCode::kResourceExhausted, "the request headers are too large");
    }
    if (ec) {
      return WriteError(400, ErrorCode::kInvalidArgument,
                        fmt::format("malformed HTTP request: {}", ec.message()));
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
    if (auto it = req.find(http::field::content_type); it != req.end()) {
      r.content_type = std::string(it->value());
    }
    if (auto it = req.find(http::field::accept); it != req.end()) {
      r.accept = std::string(it->value());
    }
    parser_.reset();  // the request is copied out; its storage goes now, not at the next read
    route_ = server_->service_->RouteIndex(r.target);
    head_ = r.method == "HEAD";
    // Exactly one response per request: whichever comes first of the handler's answer and the
    // last-resort error below wins.
    auto answered = std::make_shared<std::atomic<bool>>(false);
    try {
      // The handler may answer on another thread (events: once durable); hop back to the
      // connection's io thread.
      server_->service_->Handle(r, [self = shared_from_this(), answered](Response resp) {
        if (answered->exchange(true)) return;
        asio::dispatch(self->stream_.get_executor(),
                       [self, resp = std::move(resp)]() mutable { self->Write(std::move(resp)); });
      });
    } catch (const std::exception& e) {
      // Service::Handle does not throw; this is the last line of defence for the process.
      spdlog::error("serve: {} {}: {}", EscapeForTerminal(r.method), QuoteForMessage(r.target),
                    EscapeForTerminal(e.what()));
      if (!answered->exchange(true)) {
        WriteError(500, ErrorCode::kInternal, "internal error while handling the request");
      }
    } catch (...) {
      spdlog::error("serve: {} {}: unknown exception", EscapeForTerminal(r.method),
                    QuoteForMessage(r.target));
      if (!answered->exchange(true)) {
        WriteError(500, ErrorCode::kInternal, "internal error while handling the request");
      }
    }
  }

  void WriteError(int status, ErrorCode code, const std::string& message) {
    keep_alive_ = false;
    version_ = 11;
    head_ = false;
    route_ = server_->service_->RouteIndex("");
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
    for (const auto& [name, value] : resp.headers) res_.set(name, value);
    const bool keep = keep_alive_ && !server_->stopping_.load();
    res_.keep_alive(keep);
    status_ = resp.status;
    large_ = large_ || resp.body.size() >= kLargeMessage;
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
    // An idle connection keeps small buffers only: a large response or a burst of pipelined
    // bytes does not stay allocated for the connection's lifetime.
    if (res_.body().capacity() > kKeepBuffer) std::string().swap(res_.body());
    if (buffer_.capacity() > kKeepBuffer) buffer_.shrink_to_fit();
    if (large_) {
      large_ = false;
      server_->ScheduleTrim();
    }
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
  bool large_ = false;  // this exchange moved at least kLargeMessage bytes
  unsigned version_ = 11;
  size_t route_ = 0;
  int status_ = 0;
  std::chrono::steady_clock::time_point start_;
};

void HttpServer::Impl::Register(const std::shared_ptr<Session>& s) {
  MutexLock lock(&mu_);
  sessions_.insert(s.get());
  weak_sessions_.push_back(s);
  if (weak_sessions_.size() > 2 * sessions_.size() + 64) {
    std::erase_if(weak_sessions_, [](const auto& w) { return w.expired(); });
  }
}

void HttpServer::Impl::Unregister(Session* s) {
  MutexLock lock(&mu_);
  sessions_.erase(s);
  if (sessions_.empty()) cv_.NotifyAll();
}

// glibc's defaults adapt to the largest block freed: after one multi-megabyte body, blocks of that
// size come from the heap instead of mmap and up to twice as much free memory stays at the top of
// each thread's arena (which malloc_trim does not touch outside the main arena): RSS grew by
// tens of megabytes per io thread and stayed. Fixed thresholds keep large blocks in mmap (given
// back when freed) and trim arena tops past 2 MiB. Process-wide, set once.
void BoundFreeMemory() {
  static std::once_flag once;
  std::call_once(once, [] {
    mallopt(M_MMAP_THRESHOLD, static_cast<int>(kLargeMessage));
    mallopt(M_TRIM_THRESHOLD, 2 << 20);
  });
}

void HttpServer::Impl::Start() {
  BoundFreeMemory();
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
    threads_.emplace_back([ctx = ioc.get()] {
      // No exception may end the process: one that escapes a handler is logged and the
      // thread goes on serving (run() resumes where it stopped).
      for (;;) {
        try {
          ctx->run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("serve: an io handler failed: {}", EscapeForTerminal(e.what()));
        } catch (...) {
          spdlog::error("serve: an io handler failed with an unknown exception");
        }
      }
    });
  }
}

void HttpServer::Impl::Accept() {
  // Only the acceptor's thread touches next_context_.
  asio::io_context& target = *iocs_[next_context_ % iocs_.size()];
  acceptor_->async_accept(target, [this](beast::error_code ec, tcp::socket sock) {
    if (ec) {
      if (!acceptor_->is_open() || stopping_) return;
      return OnAcceptError(ec);
    }
    ++next_context_;
    beast::error_code ignored;
    sock.set_option(tcp::no_delay(true), ignored);
    try {
      auto s = std::make_shared<Session>(std::move(sock), this);
      Register(s);
      s->Run();
    } catch (const std::exception& e) {  // out of memory: drop this connection, keep serving
      spdlog::error("serve: cannot start a connection: {}", e.what());
    }
    if (!stopping_) Accept();
  });
}

void HttpServer::Impl::OnAcceptError(const beast::error_code& ec) {
  // A client that gave up before its connection was accepted: nothing to wait for.
  const bool transient = ec == asio::error::connection_aborted || ec == asio::error::try_again ||
                         ec == asio::error::interrupted;
  const auto now = std::chrono::steady_clock::now();
  if (transient) {
    // Not worth a line each; counted into the next one.
    ++accept_errors_unlogged_;
  } else if (now - last_accept_log_ >= kAcceptLogInterval) {
    if (accept_errors_unlogged_ > 0) {
      spdlog::warn("serve: accept failed: {} ({} more accept failures in the last {} s)",
                   ec.message(), accept_errors_unlogged_, kAcceptLogInterval.count());
    } else {
      spdlog::warn("serve: accept failed: {}; retrying every {} ms", ec.message(),
                   kAcceptBackoff.count());
    }
    last_accept_log_ = now;
    accept_errors_unlogged_ = 0;
  } else {
    ++accept_errors_unlogged_;
  }
  if (transient) return Accept();
  // Out of file descriptors (EMFILE, ENFILE) or memory: the pending connection stays in the
  // backlog, so an immediate retry fails the same way. Wait; open connections are served
  // meanwhile, and one that closes frees a descriptor for the next try.
  accept_backoff_->expires_after(kAcceptBackoff);
  accept_backoff_->async_wait([this](beast::error_code wait_ec) {
    if (wait_ec || stopping_ || !acceptor_->is_open()) return;
    Accept();
  });
}

void HttpServer::Impl::ScheduleTrim() {
  if (trim_pending_.exchange(true)) return;  // a trim is already due and will cover this one
  asio::post(*iocs_[0], [this] {
    trim_timer_->expires_after(kTrimDelay);
    trim_timer_->async_wait([this](beast::error_code ec) {
      trim_pending_ = false;
      if (ec) return;
      // glibc keeps freed heap pages (in every thread's arena) mapped; after a multi-megabyte
      // body and its parsed JSON that is tens of megabytes per io thread. Give them back.
      malloc_trim(0);
    });
  });
}

void HttpServer::Impl::Shutdown() {
  if (stopping_.exchange(true)) return;
  asio::post(acceptor_->get_executor(), [this] {
    beast::error_code ec;
    acceptor_->close(ec);
    accept_backoff_->cancel();
    trim_timer_->cancel();
  });
  std::vector<std::shared_ptr<Session>> live;
  {
    MutexLock lock(&mu_);
    for (auto& w : weak_sessions_) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->CloseIfIdle();
  live.clear();
  bool drained = false;
  size_t still_open = 0;
  {
    MutexLock lock(&mu_);
    drained = cv_.WaitFor(&mu_, options_.shutdown_grace, [&] {
      mu_.AssertHeld();  // the predicate runs under mu_
      return sessions_.empty();
    });
    still_open = sessions_.size();
  }
  if (!drained) {
    spdlog::warn("serve: {} connections still open after the grace period; closing them",
                 still_open);
    for (auto& ioc : iocs_) ioc->stop();
    return;
  }
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

}  // namespace marquee

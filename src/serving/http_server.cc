#include "serving/http_server.h"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <limits>
#include <list>
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
using tcp_stream_executor = beast::tcp_stream::executor_type;

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
// A streamed request body is read and written to its spool file in pieces of this size.
constexpr size_t kSpoolPiece = 64 << 10;
// A streamed response's producer blocks in Write while this much is queued and not yet sent.
constexpr size_t kMaxQueued = 1 << 20;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// The queue between a streamed response's producer (ResponseWriter, on its own thread) and the
// connection's io thread, which takes what is queued and sends it. Thread-safe.
class StreamChannel final : public ResponseWriter {
 public:
  // `wake` is called (from the producer's thread) when data is queued and the io thread has not
  // yet been asked to take it.
  explicit StreamChannel(std::function<void()> wake) : wake_(std::move(wake)) {}

  bool Write(std::string_view chunk) override { return Put(chunk, /*wait=*/true); }
  bool TryWrite(std::string_view chunk) override { return Put(chunk, /*wait=*/false); }

  // The client has gone or the server is stopping: writers get false from now on (blocked ones
  // wake up) and what is queued is dropped.
  void Close() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    closed_ = true;
    queue_.clear();
    cv_.NotifyAll();
  }
  // The producer returned; `ok` false when it threw (the response is then cut off).
  void Finish(bool ok) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    finished_ = true;
    if (!ok) closed_ = true;
  }

  struct Taken {
    bool finished = false;  // the producer returned and nothing else will be queued
    bool closed = false;    // abort: do not send the rest
  };
  // The io thread: moves what is queued into `out` (in flight until Sent()).
  Taken Take(std::string& out) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    out.clear();
    out.swap(queue_);
    inflight_ = out.size();
    wake_pending_ = false;
    return {finished_, closed_};
  }
  bool closed() const EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    return closed_;
  }
  // The io thread: what Take gave has been sent; blocked writers may go on.
  void Sent() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    inflight_ = 0;
    cv_.NotifyAll();
  }

 private:
  bool Put(std::string_view chunk, bool wait) EXCLUDES(mu_) {
    bool wake = false;
    {
      MutexLock lock(&mu_);
      if (wait) {
        cv_.Wait(&mu_, [&] {
          mu_.AssertHeld();
          return closed_ || queue_.size() + inflight_ < kMaxQueued;
        });
      }
      if (closed_) return false;
      if (queue_.size() + inflight_ >= kMaxQueued) return false;  // TryWrite on a full queue
      if (chunk.empty()) return true;  // an empty chunk would end the chunked body
      queue_.append(chunk);
      wake = !wake_pending_;
      wake_pending_ = true;
    }
    if (wake) wake_();
    return true;
  }

  const std::function<void()> wake_;
  mutable Mutex mu_;
  CondVar cv_;  // signals room in the queue or closed_
  std::string queue_ GUARDED_BY(mu_);
  size_t inflight_ GUARDED_BY(mu_) = 0;
  bool closed_ GUARDED_BY(mu_) = false;
  bool finished_ GUARDED_BY(mu_) = false;
  bool wake_pending_ GUARDED_BY(mu_) = false;
};

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions o, Service* service, ServingMetrics* metrics)
      : options_(std::move(o)),
        service_(service),
        metrics_(metrics),
        env_(options_.env != nullptr ? options_.env : Env::Default()) {
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
  ~Impl() {
    JoinStreams();
    // Handlers still queued (after a shutdown past its grace period) may hold sessions, whose
    // destructors reach mu_: destroy them while every member is alive, objects on a context
    // before the context.
    acceptor_.reset();
    accept_backoff_.reset();
    trim_timer_.reset();
    guards_.clear();
    iocs_.clear();
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
    JoinStreams();
  }

  // Runs `produce` on a new stream thread, which keeps `session` alive until it has posted the
  // stream's end to it. False, with the reason in `why`, when max_streams are running or the
  // server is stopping.
  bool LaunchStream(std::shared_ptr<StreamChannel> channel,
                    std::function<void(ResponseWriter&)> produce, std::shared_ptr<Session> session,
                    std::string* why) EXCLUDES(streams_mu_);
  // Closes every open stream's channel (their writers return false).
  void CloseStreams() EXCLUDES(streams_mu_);
  // Joins every stream thread (after CloseStreams, they end once their producers return).
  void JoinStreams() EXCLUDES(streams_mu_);

  void Register(const std::shared_ptr<Session>& s) EXCLUDES(mu_);
  void Unregister(Session* s) EXCLUDES(mu_);

  // Set in the constructor and never replaced: the io threads only read them (no lock).
  HttpServerOptions options_;
  Service* service_;
  ServingMetrics* metrics_;
  Env* env_;                              // spool files
  std::atomic<uint64_t> next_upload_{0};  // spool file names
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
  struct StreamThread {
    std::thread thread;
    std::shared_ptr<StreamChannel> channel;
    std::shared_ptr<std::atomic<bool>> done;  // set by the thread as it ends
  };
  Mutex streams_mu_;
  std::list<StreamThread> streams_ GUARDED_BY(streams_mu_);
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, HttpServer::Impl* server)
      : stream_(std::move(socket)), server_(server) {}
  ~Session() {
    RemoveSpool();
    server_->Unregister(this);
  }

  void Run() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Read(); });
  }

  // Called on shutdown, from any thread: closes the connection if it is waiting for a request.
  void CloseIfIdle() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->reading_ && self->buffer_.size() == 0 &&
          !(self->header_parser_ && self->header_parser_->got_some())) {
        beast::error_code ec;
        self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        self->stream_.socket().close(ec);
      }
    });
  }

  tcp_stream_executor executor() { return stream_.get_executor(); }

  // The io thread: sends what the stream's producer queued, or ends the stream once it returned.
  void Pump() {
    if (!channel_) return;
    if (stream_writing_) {
      // A write stuck on a client that reads nothing would hold the stream until the timeout:
      // closing the socket ends it now (its handler pumps again).
      if (channel_->closed()) Close();
      return;
    }
    const StreamChannel::Taken t = channel_->Take(out_);
    if (t.closed) {
      // Cut off: no final chunk, so the client sees an incomplete body. The response ends when
      // the producer has returned (its last post calls Pump again).
      Close();
      if (t.finished) EndStream(asio::error::connection_aborted, false);
      return;
    }
    if (!out_.empty()) {
      stream_writing_ = true;
      if (out_.size() >= kLargeMessage) large_ = true;
      stream_.expires_after(server_->options_.request_timeout);
      auto sent = [self = shared_from_this()](beast::error_code ec, size_t) {
        self->stream_writing_ = false;
        self->channel_->Sent();
        if (ec) self->channel_->Close();
        self->Pump();
      };
      if (chunked_) {
        asio::async_write(stream_, http::make_chunk(asio::buffer(out_)), std::move(sent));
      } else {
        asio::async_write(stream_, asio::buffer(out_), std::move(sent));
      }
      return;
    }
    if (!t.finished) return;                     // the producer's next Write wakes us
    if (!chunked_) return EndStream({}, false);  // HTTP/1.0: the close ends the body
    stream_writing_ = true;
    stream_.expires_after(server_->options_.request_timeout);
    asio::async_write(stream_, http::make_chunk_last(),
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        self->stream_writing_ = false;
                        self->EndStream(ec, self->stream_keep_);
                      });
  }

 private:
  void Read() {
    if (server_->stopping_.load()) return Close();
    header_parser_.emplace();
    header_parser_->header_limit(16 * 1024);
    header_parser_->body_limit(
        std::numeric_limits<uint64_t>::max());  // the row's limit applies once the header is read
    stream_.expires_after(server_->options_.request_timeout);
    reading_ = true;
    http::async_read_header(stream_, buffer_, *header_parser_,
                            beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  // The connection is gone or timed out: nothing to answer.
  static bool Gone(const beast::error_code& ec) {
    return ec == http::error::end_of_stream || ec == asio::error::operation_aborted ||
           ec == beast::error::timeout || ec == asio::error::connection_reset ||
           ec == asio::error::eof || ec == asio::error::bad_descriptor;
  }

  void OnHeader(beast::error_code ec, size_t) {
    reading_ = false;
    if (Gone(ec)) return Close();
    start_ = std::chrono::steady_clock::now();
    large_ = false;
    if (ec == http::error::header_limit) {
      return WriteError(431, ErrorCode::kResourceExhausted, "the request headers are too large");
    }
    if (ec) {
      return WriteError(400, ErrorCode::kInvalidArgument,
                        fmt::format("malformed HTTP request: {}", ec.message()));
    }
    const auto& h = header_parser_->get();
    keep_alive_ = h.keep_alive();
    version_ = h.version();
    const RouteRow* row = server_->service_->FindRow(
        std::string_view(h.method_string().data(), h.method_string().size()),
        std::string_view(h.target().data(), h.target().size()));
    const bool spool = row != nullptr && row->stream_body;
    limit_ = row != nullptr && row->body_limit > 0 ? row->body_limit
             : spool                               ? server_->options_.stream_body_limit
                                                   : server_->options_.body_limit;
    if (auto n = header_parser_->content_length(); n && *n > limit_) return TooLarge();
    if (spool && server_->options_.spool_dir.empty()) {
      return WriteError(503, ErrorCode::kUnavailable, "uploads need a spool directory");
    }
    pending_ = RequestOf(h);
    if (spool) {
      // Before the body: a client that may not upload must not fill the disk.
      try {
        server_->service_->CheckKey(*row, *pending_);
      } catch (const Error& e) {
        return WriteError(HttpStatusFor(e.code()), e.code(), e.what());
      }
    }
    const bool expect_continue = !header_parser_->is_done() && version_ >= 11 &&
                                 beast::iequals(h[http::field::expect], "100-continue");
    if (!expect_continue) return spool ? StartSpool() : ReadBody();
    asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                      [self = shared_from_this(), spool](beast::error_code wec, size_t) {
                        if (wec) return self->Close();
                        spool ? self->StartSpool() : self->ReadBody();
                      });
  }

  // The request's fields from its header (the body comes later).
  static Request RequestOf(const http::request_header<>& h) {
    Request r;
    r.method = std::string(h.method_string());
    r.target = std::string(h.target());
    if (auto it = h.find(http::field::authorization); it != h.end()) {
      std::string_view v(it->value().data(), it->value().size());
      if (v.starts_with("Bearer ")) {
        r.has_api_key = true;
        r.api_key = std::string(v.substr(7));
      }
    }
    if (auto it = h.find("X-API-Key"); it != h.end() && !r.has_api_key) {
      r.has_api_key = true;
      r.api_key = std::string(it->value());
    }
    if (auto it = h.find(http::field::content_type); it != h.end()) {
      r.content_type = std::string(it->value());
    }
    if (auto it = h.find(http::field::accept); it != h.end()) {
      r.accept = std::string(it->value());
    }
    return r;
  }

  void TooLarge() {
    large_ = true;
    WriteError(413, ErrorCode::kResourceExhausted,
               fmt::format("the request body is larger than the limit of {} bytes", limit_));
  }

  // An in-memory body: read whole (within the request timeout set by Read).
  void ReadBody() {
    parser_.emplace(std::move(*header_parser_));
    header_parser_.reset();
    parser_->body_limit(limit_);
    if (parser_->is_done()) return OnBody({}, 0);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnBody, shared_from_this()));
  }

  void OnBody(beast::error_code ec, size_t) {
    if (Gone(ec)) return Close();
    if (ec == http::error::body_limit) return TooLarge();
    if (ec) {
      return WriteError(400, ErrorCode::kInvalidArgument,
                        fmt::format("malformed HTTP request: {}", ec.message()));
    }
    pending_->body = std::move(parser_->get().body());
    large_ = pending_->body.size() >= kLargeMessage;
    parser_.reset();  // the request is copied out; its storage goes now, not at the next read
    Dispatch();
  }

  // A streamed body: read in kSpoolPiece pieces into a new file of the spool directory.
  void StartSpool() {
    try {
      Env* env = server_->env_;
      env->CreateDirs(server_->options_.spool_dir);
      spool_path_ = fmt::format("{}/upload-{}-{}", server_->options_.spool_dir, ::getpid(),
                                server_->next_upload_.fetch_add(1));
      spool_file_ = env->NewWritableFile(spool_path_);
    } catch (const std::exception& e) {
      spdlog::error("serve: cannot spool an upload: {}", EscapeForTerminal(e.what()));
      return WriteError(500, ErrorCode::kIOError, "the server cannot store the upload");
    }
    spool_parser_.emplace(std::move(*header_parser_));
    header_parser_.reset();
    spool_parser_->body_limit(limit_);
    spool_buf_.resize(kSpoolPiece);
    SpoolRead();
  }

  void SpoolRead() {
    if (spool_parser_->is_done()) return SpoolDone();
    auto& body = spool_parser_->get().body();
    body.data = spool_buf_.data();
    body.size = spool_buf_.size();
    // Per piece, not per request: a long upload that keeps moving is never cut off.
    stream_.expires_after(server_->options_.request_timeout);
    http::async_read(stream_, buffer_, *spool_parser_,
                     beast::bind_front_handler(&Session::OnSpool, shared_from_this()));
  }

  void OnSpool(beast::error_code ec, size_t) {
    if (ec == http::error::need_buffer) ec = {};  // the piece is full
    const size_t n = spool_buf_.size() - spool_parser_->get().body().size;
    if (!ec && n > 0) {
      try {
        spool_file_->Append(std::string_view(spool_buf_.data(), n));
      } catch (const std::exception& e) {
        spdlog::error("serve: cannot spool an upload: {}", EscapeForTerminal(e.what()));
        EndSpool();
        return WriteError(500, ErrorCode::kIOError, "the server cannot store the upload");
      }
    }
    if (ec) EndSpool();  // an unfinished spool file is removed
    if (Gone(ec)) return Close();
    if (ec == http::error::body_limit) return TooLarge();
    if (ec) {
      return WriteError(400, ErrorCode::kInvalidArgument,
                        fmt::format("malformed HTTP request: {}", ec.message()));
    }
    SpoolRead();
  }

  void SpoolDone() {
    try {
      spool_file_->Commit();
    } catch (const std::exception& e) {
      spdlog::error("serve: cannot spool an upload: {}", EscapeForTerminal(e.what()));
      EndSpool();
      return WriteError(500, ErrorCode::kIOError, "the server cannot store the upload");
    }
    EndSpool();
    pending_->body_file = spool_path_;
    spooled_ = std::move(spool_path_);  // removed once the response is written
    Dispatch();
  }

  // Releases the spool's parser, buffer and (uncommitted: removed) file.
  void EndSpool() {
    spool_file_.reset();
    spool_parser_.reset();
    std::vector<char>().swap(spool_buf_);
  }

  // Deletes the spooled body of the last request unless its handler moved it away.
  void RemoveSpool() {
    if (spooled_.empty()) return;
    try {
      if (server_->env_->FileExists(spooled_)) server_->env_->RemoveFile(spooled_);
    } catch (const std::exception& e) {
      spdlog::warn("serve: cannot remove a spooled upload: {}", EscapeForTerminal(e.what()));
    }
    spooled_.clear();
  }

  void Dispatch() {
    Request r = std::move(*pending_);
    pending_.reset();
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

  // A whole (not streamed) response: its head (FormatHead) and body sent in one gathered write.
  void Write(Response resp) {
    if (resp.stream && !head_) return StartStream(std::move(resp));
    const bool keep = keep_alive_ && !server_->stopping_.load();
    status_ = resp.status;
    large_ = large_ || resp.body.size() >= kLargeMessage;
    const bool no_body = resp.status < 200 || resp.status == 204 || resp.status == 304;
    // HEAD: the length the GET would have had; a streamed body's length is not known ahead.
    std::optional<size_t> length;
    if (!no_body && !(head_ && resp.stream)) length = resp.body.size();
    FormatHead(resp, keep, length, /*chunked=*/false);
    if (head_ || no_body) {
      body_.clear();
    } else {
      body_ = std::move(resp.body);
    }
    stream_.expires_after(server_->options_.request_timeout);
    asio::async_write(
        stream_, std::array<asio::const_buffer, 2>{asio::buffer(head_out_), asio::buffer(body_)},
        [self = shared_from_this(), keep](beast::error_code ec, size_t) {
          self->OnWrite(ec, keep);
        });
  }

  // The status line and header fields of `resp` into head_out_, for whole and streamed
  // responses alike. Formatted here rather than by Beast's serializer, which spent about 7% of
  // the server's CPU in bench/serve_mix.sh on its buffer-sequence machinery for headers this
  // simple. The fields are those Beast wrote: Connection only where it differs from the request
  // version's default, then Transfer-Encoding (`chunked`) or Content-Length (`length`, if any).
  void FormatHead(const Response& resp, bool keep, std::optional<size_t> length, bool chunked) {
    head_out_.clear();
    auto out = std::back_inserter(head_out_);
    fmt::format_to(out, "HTTP/{}.{} {} {}\r\nServer: marquee\r\n", version_ / 10, version_ % 10,
                   resp.status, Reason(resp.status));
    AppendField("Content-Type", resp.content_type);
    for (const auto& [name, value] : resp.headers) AppendField(name, value);
    if (version_ >= 11 && !keep) head_out_ += "Connection: close\r\n";
    if (version_ < 11 && keep) head_out_ += "Connection: keep-alive\r\n";
    if (chunked) head_out_ += "Transfer-Encoding: chunked\r\n";
    if (length) fmt::format_to(out, "Content-Length: {}\r\n", *length);
    head_out_ += "\r\n";
  }

  // The standard reason phrase of `status` ("OK", "Not Found"; "Unknown Status" past the list).
  static std::string_view Reason(int status) {
    const beast::string_view r = http::obsolete_reason(static_cast<http::status>(status));
    return {r.data(), r.size()};
  }

  // "NAME: VALUE\r\n" into head_out_. Names and values come from the server's own code; one
  // with a line break would split the header, so it is dropped and logged rather than sent.
  void AppendField(std::string_view name, std::string_view value) {
    if (name.find_first_of("\r\n:") != std::string_view::npos ||
        value.find_first_of("\r\n") != std::string_view::npos) {
      spdlog::error("serve: a response header field was dropped: {}", QuoteForMessage(name));
      return;
    }
    head_out_.append(name).append(": ").append(value).append("\r\n");
  }

  // A streamed response: the header now, then what the producer writes (Pump).
  void StartStream(Response resp) {
    auto channel =
        std::make_shared<StreamChannel>([weak = weak_from_this(), ex = stream_.get_executor()] {
          asio::post(ex, [weak] {
            if (auto s = weak.lock()) s->Pump();
          });
        });
    std::string why;
    if (!server_->LaunchStream(channel, std::move(resp.stream), shared_from_this(), &why)) {
      return Write(Service::ErrorResponse(503, ErrorCode::kUnavailable, why));
    }
    channel_ = std::move(channel);
    status_ = resp.status;
    chunked_ = version_ >= 11;
    stream_keep_ = chunked_ && keep_alive_ && !server_->stopping_.load();
    FormatHead(resp, stream_keep_, std::nullopt, chunked_);
    stream_writing_ = true;
    stream_.expires_after(server_->options_.request_timeout);
    asio::async_write(stream_, asio::buffer(head_out_),
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        self->stream_writing_ = false;
                        if (ec) self->channel_->Close();
                        self->WatchPeer();
                        self->Pump();
                      });
  }

  // While streaming, notices a client that closes its end (without reading anything: bytes of
  // a pipelined request stay in the socket for the next read), so an idle producer learns it
  // from Write at once rather than after its next chunk fails.
  void WatchPeer() {
    if (watching_) return;
    watching_ = true;
    stream_.socket().async_wait(tcp::socket::wait_read,
                                [self = shared_from_this()](beast::error_code ec) {
                                  self->watching_ = false;
                                  if (!self->channel_) return;
                                  if (!ec) {
                                    char c;
                                    beast::error_code peek;
                                    const size_t n = self->stream_.socket().receive(
                                        asio::buffer(&c, 1), tcp::socket::message_peek, peek);
                                    if (!peek && n > 0)
                                      return;  // a pipelined request: the client is still there
                                  }
                                  self->channel_->Close();
                                  self->Pump();
                                });
  }

  // The stream is over (sent whole, or cut off): as the end of any response.
  void EndStream(beast::error_code ec, bool keep) {
    channel_.reset();
    std::string().swap(out_);
    OnWrite(ec, keep);
  }

  void OnWrite(beast::error_code ec, bool keep) {
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    server_->metrics_->Observe(route_, status_, secs);
    RemoveSpool();
    // An idle connection keeps small buffers only: a large response or a burst of pipelined
    // bytes does not stay allocated for the connection's lifetime.
    if (body_.capacity() > kKeepBuffer) std::string().swap(body_);
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
  // Reading a request: its header, then the body into memory (parser_) or a spool file
  // (spool_parser_, spool_file_).
  std::optional<http::request_parser<http::empty_body>> header_parser_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::request_parser<http::buffer_body>> spool_parser_;
  std::unique_ptr<WritableFile> spool_file_;
  std::vector<char> spool_buf_;
  std::string spool_path_;          // of spool_file_
  std::string spooled_;             // the last request's spooled body, removed after its response
  std::optional<Request> pending_;  // the request being read
  uint64_t limit_ = 0;              // its body limit
  // The response being written: its status line and header fields (FormatHead), and a whole
  // response's body.
  std::string head_out_;
  std::string body_;
  // A streamed response (io thread only): the channel from its producer and the bytes being
  // sent.
  std::shared_ptr<StreamChannel> channel_;
  std::string out_;
  bool chunked_ = true;
  bool stream_keep_ = false;
  bool stream_writing_ = false;
  bool watching_ = false;
  bool reading_ = false;
  bool keep_alive_ = true;
  bool head_ = false;
  bool large_ = false;  // this exchange moved at least kLargeMessage bytes
  unsigned version_ = 11;
  size_t route_ = 0;
  int status_ = 0;
  std::chrono::steady_clock::time_point start_;
};

bool HttpServer::Impl::LaunchStream(std::shared_ptr<StreamChannel> channel,
                                    std::function<void(ResponseWriter&)> produce,
                                    std::shared_ptr<Session> session, std::string* why) {
  MutexLock lock(&streams_mu_);
  for (auto it = streams_.begin(); it != streams_.end();) {
    if (it->done->load()) {
      it->thread.join();  // it has returned or is returning
      it = streams_.erase(it);
    } else {
      ++it;
    }
  }
  if (stopping_.load()) {
    *why = "the server is shutting down";
    return false;
  }
  if (streams_.size() >= options_.max_streams) {
    *why = fmt::format("too many streamed responses at once (the limit is {}); try again later",
                       options_.max_streams);
    return false;
  }
  auto done = std::make_shared<std::atomic<bool>>(false);
  try {
    std::thread t(
        [channel, produce = std::move(produce), session = std::move(session), done]() mutable {
          bool ok = true;
          try {
            produce(*channel);
          } catch (const std::exception& e) {
            spdlog::error("serve: a streamed response failed: {}", EscapeForTerminal(e.what()));
            ok = false;
          } catch (...) {
            spdlog::error("serve: a streamed response failed with an unknown exception");
            ok = false;
          }
          produce = nullptr;  // its captures go on this thread, before the stream ends
          channel->Finish(ok);
          auto ex = session->executor();
          asio::post(ex, [session = std::move(session)] { session->Pump(); });
          done->store(true);
        });
    streams_.push_back({std::move(t), std::move(channel), std::move(done)});
  } catch (const std::system_error& e) {
    *why = fmt::format("cannot start a streamed response: {}", e.what());
    return false;
  }
  return true;
}

void HttpServer::Impl::CloseStreams() {
  MutexLock lock(&streams_mu_);
  for (auto& s : streams_) s.channel->Close();
}

void HttpServer::Impl::JoinStreams() {
  std::list<StreamThread> all;
  {
    MutexLock lock(&streams_mu_);
    all.swap(streams_);
  }
  for (auto& s : all) {
    if (s.thread.joinable()) s.thread.join();
  }
}

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
    if (options_.on_accept) options_.on_accept();
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
  CloseStreams();
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
    JoinStreams();
    return;
  }
  // Every connection is gone: once the guards are released the io threads return on their own
  // (after the acceptor's close handler ran).
  ReleaseContexts();
  JoinStreams();
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

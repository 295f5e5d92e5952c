// HttpServer: the asynchronous HTTP/1.1 transport of `marquee serve`, on Boost.Beast/Asio.
// N io threads each run their own io_context; each connection lives on one of them (accepted
// round-robin), so its session is serialised without a strand. A session reads
// one request, hands it to the Service, writes the response and reads the next (keep-alive;
// pipelined requests are answered in order because the read buffer keeps the bytes that follow
// a request). No thread per connection; a slow client only holds its own socket.
//
// Limits: body size (413; a row's RouteRow::body_limit, else body_limit), header size (431), a
// per-request timeout covering the read of a request and the write of its response (an idle
// keep-alive connection is closed after it).
// Uploads (RouteRow::stream_body): the body is read in 64 KiB pieces into a file in spool_dir
// (Request::body_file), never held in memory; Content-Length and chunked bodies alike, up to the
// row's limit or stream_body_limit. For these the timeout applies to each piece, not to the
// whole body, so a long healthy upload is not cut off. The file is deleted once the response is
// written (a handler keeps it by renaming it away first); an interrupted upload leaves nothing.
// Requests with "Expect: 100-continue" get "100 Continue" before their body is read.
// Streamed responses (Response::stream): the status line and headers go out at once with
// chunked transfer encoding (HTTP/1.0: no framing, then close); the producer runs on a thread
// of the server's (at most max_streams at once; beyond, 503) and its chunks are sent on the
// connection's io thread, the timeout applying to each write. A client that goes away or
// Shutdown() makes ResponseWriter::Write return false; the connection is then closed without
// the final chunk, so the client can tell the body is incomplete. Metrics observe the request
// when the stream ends.
// Memory: a connection keeps at most 64 KiB of buffers between requests; after a request or
// response of 1 MiB or more, freed heap pages are returned to the system (malloc_trim, at most
// once per 200 ms), and Start() fixes glibc's mmap and trim thresholds (process-wide) so large
// blocks do not stay resident. Out of file descriptors (EMFILE/ENFILE), accepting pauses 50 ms
// between tries and logs at most one line per 10 s; open connections are served meanwhile.
// Errors: nothing a client sends ends the process; a handler that throws gets a 500.
// Shutdown(): stops accepting, closes idle connections, ends open streams (their writers return
// false), lets in-flight requests finish (their responses carry Connection: close), returns when
// every connection is gone or the grace period has passed, and joins the stream threads (a
// producer that never calls Write again delays it).
// Thread-safety: Start/Shutdown/Wait from one controlling thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "marquee/env.h"
#include "serving/metrics.h"
#include "serving/service.h"

namespace marquee {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: any free port (see port())
  int threads = 1;
  size_t body_limit = 8 << 20;
  std::chrono::milliseconds request_timeout{30000};
  std::chrono::milliseconds shutdown_grace{10000};
  // Where streamed request bodies are spooled (created if missing); empty: stream_body rows are
  // refused with 503.
  std::string spool_dir;
  uint64_t stream_body_limit = uint64_t{16} << 30;  // default limit of stream_body rows
  size_t max_streams = 32;                          // streamed responses at once
  Env* env = nullptr;                               // spool files; nullptr: Env::Default()
  // Test hook: called on the acceptor's thread for every accepted connection.
  std::function<void()> on_accept;
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, Service* service, ServingMetrics* metrics);
  ~HttpServer();  // Shutdown() and Wait() if still running

  // Binds and starts the io threads. kInvalidArgument for a bad host, kUnavailable when the
  // port cannot be bound (naming it and the reason).
  void Start();
  uint16_t port() const;  // the bound port
  void Shutdown();
  void Wait();  // joins the io threads (after Shutdown)

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace marquee

// HttpServer: the asynchronous HTTP/1.1 transport of `marquee serve`, on Boost.Beast/Asio.
// N io threads each run their own io_context; each connection lives on one of them (accepted
// round-robin), so its session is serialised without a strand. A session reads
// one request, hands it to the Service, writes the response and reads the next (keep-alive;
// pipelined requests are answered in order because the read buffer keeps the bytes that follow
// a request). No thread per connection; a slow client only holds its own socket.
//
// Limits: body size (413), header size (431), a per-request timeout covering the read of a
// request and the write of its response (an idle keep-alive connection is closed after it).
// Memory: a connection keeps at most 64 KiB of buffers between requests; after a request or
// response of 1 MiB or more, freed heap pages are returned to the system (malloc_trim, at most
// once per 200 ms), and Start() fixes glibc's mmap and trim thresholds (process-wide) so large
// blocks do not stay resident. Out of file descriptors (EMFILE/ENFILE), accepting pauses 50 ms
// between tries and logs at most one line per 10 s; open connections are served meanwhile.
// Errors: nothing a client sends ends the process; a handler that throws gets a 500.
// Shutdown(): stops accepting, closes idle connections, lets in-flight requests finish (their
// responses carry Connection: close), and returns when every connection is gone or the grace
// period has passed.
// Thread-safety: Start/Shutdown/Wait from one controlling thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

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

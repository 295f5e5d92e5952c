// HttpClient: a blocking HTTP/1.1 client of `marquee serve` (the CLI's --server mode and tests),
// on Boost.Beast. One keep-alive connection, reused across calls and opened again once when the
// server closed it meanwhile (a request that failed before any byte of its answer arrived on a
// reused connection is sent again, once).
//
// URLs: http://HOST[:PORT][/PREFIX] (HOST a name, an IPv4 address or [IPv6]; PORT default 80);
// every target is appended to PREFIX. https is not supported (put a TLS-terminating proxy in
// front of the server and reach it over http on a trusted network).
// Errors: marquee::Error. kInvalidArgument for a bad URL (naming it); kUnavailable naming the
// URL when the server cannot be reached, the connection breaks or a read or write takes longer
// than the timeout; Json and Stream turn an error answer ({"error": {"code", "message"}}) into the
// server's ErrorCode and message.
// Thread-safety: none; use one client per thread.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace marquee {

struct ClientResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // in order, as received
  std::string body;
  // The value of header `name` (case-insensitive; the first one), "" when absent.
  std::string header(std::string_view name) const;
};

class HttpClient {
 public:
  // Throws kInvalidArgument for a URL not of the form above. Connects on the first call.
  // `api_key`, when not empty, is sent as "Authorization: Bearer KEY". `timeout` bounds the
  // connect and each read or write (for uploads and streams: each piece, not the whole body).
  explicit HttpClient(std::string base_url, std::string api_key = "",
                      std::chrono::milliseconds timeout = std::chrono::seconds(60));
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request and reads the whole answer, whatever its status. `target` starts with '/'
  // (it may carry a query string). An empty `content_type` sends none.
  ClientResponse Send(std::string_view method, std::string_view target, std::string_view body = {},
                      std::string_view content_type = "application/json");
  // A JSON call: `body` (nullptr: none) as application/json; returns the parsed answer (null for
  // an empty one). Status >= 400: throws marquee::Error with the server's code and message (a
  // body that is not an API error: the code HTTP status suggests, quoting the start of the body).
  nlohmann::json Json(std::string_view method, std::string_view target,
                      const nlohmann::json* body = nullptr);
  // Sends the file at `path` as the body, read from disk piece by piece (never whole in memory),
  // with a Content-Length; returns the answer as Send does. kNotFound / kIOError for a file that
  // cannot be read.
  ClientResponse UploadFile(std::string_view method, std::string_view target,
                            const std::string& path,
                            std::string_view content_type = "application/octet-stream");
  // Reads a streamed answer (chunked, or up to the close), handing each piece to `on_data` as it
  // arrives, until the body ends or `on_data` returns false (the connection is then closed).
  // Returns status and headers (body empty). Status >= 400: throws as Json does, without calling
  // `on_data`. A body cut off before its end: kUnavailable.
  ClientResponse Stream(std::string_view method, std::string_view target,
                        const std::function<bool(std::string_view data)>& on_data,
                        std::string_view body = {},
                        std::string_view content_type = "application/json");

  const std::string& base_url() const { return base_url_; }

  class Impl;

 private:
  std::string base_url_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace marquee

#include "client/http_client.h"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <limits>
#include <optional>
#include <span>

#include "common/error_codes.h"
#include "common/text.h"
#include "marquee/env.h"
#include "marquee/error.h"

namespace marquee {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using json = nlohmann::json;

namespace {

// A request body is written, and a streamed answer read, in pieces of this size (each within the
// timeout).
constexpr size_t kWritePiece = 1 << 20;
constexpr size_t kReadPiece = 64 << 10;

beast::string_view Bsv(std::string_view s) { return {s.data(), s.size()}; }

struct Url {
  std::string host;    // as given, without brackets
  std::string port;    // digits
  std::string prefix;  // "" or "/a/b" (no trailing '/')
};

[[noreturn]] void BadUrl(std::string_view url, std::string_view why) {
  Fail(ErrorCode::kInvalidArgument, "server URL {}: {} (expected http://HOST:PORT[/PREFIX])",
       QuoteForMessage(url), why);
}

Url ParseUrl(std::string_view url) {
  if (url.starts_with("https://")) {
    BadUrl(url,
           "https is not supported; reach the server over http (a TLS proxy in front of it "
           "can serve https to others)");
  }
  if (!url.starts_with("http://")) BadUrl(url, "not an http:// URL");
  std::string_view rest = url.substr(7);
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) BadUrl(url, "user names are not supported");
  if (path.find_first_of("?#") != std::string_view::npos) {
    BadUrl(url, "a query or fragment is not allowed");
  }
  while (path.ends_with('/')) path.remove_suffix(1);
  Url u;
  u.prefix = std::string(path);
  std::string_view port;
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) BadUrl(url, "unterminated [IPv6] host");
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) BadUrl(url, "unexpected text after the [IPv6] host");
      port = after.substr(1);
      if (port.empty()) BadUrl(url, "empty port");
    }
  } else {
    const size_t colon = authority.find(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) BadUrl(url, "empty port");
    }
  }
  if (u.host.empty()) BadUrl(url, "no host");
  if (u.host.find_first_of(" \t\r\n") != std::string::npos) BadUrl(url, "blank in the host");
  if (port.empty()) port = "80";
  const bool digits =
      std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || port.size() > 5 || std::stoul(std::string(port)) == 0 ||
      std::stoul(std::string(port)) > 65535) {
    BadUrl(url, fmt::format("port {} is not a number in 1..65535", QuoteForMessage(port, 16)));
  }
  u.port = std::string(port);
  return u;
}

// The code an error answer that is not an API error ({"error": {...}}) stands for.
ErrorCode CodeForStatus(int status) {
  switch (status) {
    case 400:
    case 405:
      return ErrorCode::kInvalidArgument;
    case 401:
      return ErrorCode::kUnauthenticated;
    case 403:
      return ErrorCode::kPermissionDenied;
    case 404:
      return ErrorCode::kNotFound;
    case 409:
      return ErrorCode::kFailedPrecondition;
    case 413:
    case 429:
    case 431:
      return ErrorCode::kResourceExhausted;
    case 501:
      return ErrorCode::kUnimplemented;
    case 502:
    case 503:
    case 504:
      return ErrorCode::kUnavailable;
    default:
      return ErrorCode::kInternal;
  }
}

}  // namespace

std::string ClientResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (beast::iequals(k, Bsv(name))) return v;
  }
  return "";
}

class HttpClient::Impl {
 public:
  Impl(std::string_view url, std::string api_key, std::chrono::milliseconds timeout)
      : url_(url), parts_(ParseUrl(url)), api_key_(std::move(api_key)), timeout_(timeout) {
    const bool v6 = parts_.host.find(':') != std::string::npos;
    host_header_ = (v6 ? "[" + parts_.host + "]" : parts_.host) + ":" + parts_.port;
  }

  // Sends the request and reads the answer's header into header_parser_ (a reused connection
  // that fails before any byte of the answer is opened again and the request sent once more).
  void Exchange(std::string_view method, std::string_view target, std::span<const char> body,
                std::string_view content_type) {
    if (!target.starts_with('/')) {
      Fail(ErrorCode::kInvalidArgument, "request target {} must start with '/'",
           QuoteForMessage(target));
    }
    for (int attempt = 0;; ++attempt) {
      const bool reused = stream_.has_value();
      if (!reused) Connect();
      const beast::error_code sent = SendRequest(method, target, body, content_type);
      // Read the answer even when sending failed: a server may refuse a body it does not want
      // (401, 413) and close before reading it.
      header_parser_.emplace();
      header_parser_->body_limit(std::numeric_limits<uint64_t>::max());
      header_parser_->skip(method == "HEAD");
      stream_->expires_after(timeout_);
      beast::error_code ec = Run([&](auto handler) {
        http::async_read_header(*stream_, buffer_, *header_parser_, std::move(handler));
      });
      if (!ec) {
        close_after_ = static_cast<bool>(sent);  // the connection is unusable after this answer
        return;
      }
      if (sent) ec = sent;
      const bool nothing_back = !header_parser_ || !header_parser_->got_some();
      Disconnect();
      if (reused && nothing_back && attempt == 0 && ec != beast::error::timeout) continue;
      Fail(ErrorCode::kUnavailable, "{} {}{}: {}", method, url_, QuoteForMessage(target),
           ec == beast::error::timeout ? "timed out" : ec.message());
    }
  }

  // The answer whose header Exchange read, read whole.
  ClientResponse ReadWhole(std::string_view method, std::string_view target) {
    http::response_parser<http::string_body> p(std::move(*header_parser_));
    header_parser_.reset();
    ClientResponse out = HeaderOf(p.get());
    if (!p.is_done()) {
      stream_->expires_after(timeout_);
      beast::error_code ec =
          Run([&](auto handler) { http::async_read(*stream_, buffer_, p, std::move(handler)); });
      if (ec) Broken(method, target, ec);
    }
    out.body = std::move(p.get().body());
    if (!p.get().keep_alive() || close_after_) Disconnect();
    return out;
  }

  // The answer whose header Exchange read, piece by piece to `on_data`.
  ClientResponse ReadPieces(std::string_view method, std::string_view target,
                            const std::function<bool(std::string_view)>& on_data) {
    http::response_parser<http::buffer_body> p(std::move(*header_parser_));
    header_parser_.reset();
    ClientResponse out = HeaderOf(p.get());
    std::vector<char> piece(kReadPiece);
    while (!p.is_done()) {
      p.get().body().data = piece.data();
      p.get().body().size = piece.size();
      stream_->expires_after(timeout_);
      beast::error_code ec =
          Run([&](auto handler) { http::async_read(*stream_, buffer_, p, std::move(handler)); });
      if (ec == http::error::need_buffer) ec = {};
      if (ec) Broken(method, target, ec);
      const size_t n = piece.size() - p.get().body().size;
      if (n > 0 && !on_data(std::string_view(piece.data(), n))) {
        Disconnect();  // the rest of the body is unread: the connection cannot be reused
        return out;
      }
    }
    if (!p.get().keep_alive() || close_after_) Disconnect();
    return out;
  }

  void Disconnect() {
    if (stream_) {
      beast::error_code ec;
      stream_->socket().shutdown(tcp::socket::shutdown_both, ec);
      stream_->socket().close(ec);
    }
    stream_.reset();
    header_parser_.reset();
    buffer_.clear();
    close_after_ = false;
  }

  // The status of the answer whose header Exchange read.
  int status() const { return static_cast<int>(header_parser_->get().result_int()); }

 private:
  // Runs one asynchronous operation to completion on this thread; its error code.
  template <typename Start>
  beast::error_code Run(Start&& start) {
    beast::error_code result;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  void Connect() {
    tcp::resolver resolver(ioc_);
    tcp::resolver::results_type endpoints;
    beast::error_code ec = Run([&](auto handler) {
      resolver.async_resolve(
          parts_.host, parts_.port,
          [&endpoints, handler](beast::error_code e, tcp::resolver::results_type r) mutable {
            endpoints = std::move(r);
            handler(e);
          });
    });
    if (ec) Fail(ErrorCode::kUnavailable, "cannot resolve the host of {}: {}", url_, ec.message());
    stream_.emplace(ioc_);
    stream_->expires_after(timeout_);
    ec = Run([&](auto handler) { stream_->async_connect(endpoints, std::move(handler)); });
    if (ec) {
      stream_.reset();
      Fail(ErrorCode::kUnavailable, "cannot connect to {}: {}", url_,
           ec == beast::error::timeout ? "timed out" : ec.message());
    }
    beast::error_code ignored;
    stream_->socket().set_option(tcp::no_delay(true), ignored);
    buffer_.clear();
  }

  beast::error_code SendRequest(std::string_view method, std::string_view target,
                                std::span<const char> body, std::string_view content_type) {
    http::request<http::empty_body> req;
    req.method_string(Bsv(method));
    req.target(parts_.prefix + std::string(target));
    req.version(11);
    req.set(http::field::host, host_header_);
    req.set(http::field::user_agent, "marquee-client");
    if (!api_key_.empty()) req.set(http::field::authorization, "Bearer " + api_key_);
    if (!body.empty() && !content_type.empty())
      req.set(http::field::content_type, Bsv(content_type));
    if (!body.empty() || (method != "GET" && method != "HEAD" && method != "DELETE")) {
      req.content_length(body.size());
    }
    req.keep_alive(true);
    http::request_serializer<http::empty_body> sr(req);
    stream_->expires_after(timeout_);
    beast::error_code ec =
        Run([&](auto handler) { http::async_write_header(*stream_, sr, std::move(handler)); });
    for (size_t off = 0; !ec && off < body.size(); off += kWritePiece) {
      const size_t n = std::min(kWritePiece, body.size() - off);
      stream_->expires_after(timeout_);
      ec = Run([&](auto handler) {
        asio::async_write(*stream_, asio::buffer(body.data() + off, n), std::move(handler));
      });
    }
    return ec;
  }

  template <typename Message>
  static ClientResponse HeaderOf(const Message& m) {
    ClientResponse out;
    out.status = static_cast<int>(m.result_int());
    for (const auto& f : m)
      out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    return out;
  }

  [[noreturn]] void Broken(std::string_view method, std::string_view target,
                           const beast::error_code& ec) {
    Disconnect();
    Fail(ErrorCode::kUnavailable, "{} {}{}: the answer broke off: {}", method, url_,
         QuoteForMessage(target), ec == beast::error::timeout ? "timed out" : ec.message());
  }

  const std::string url_;
  const Url parts_;
  const std::string api_key_;
  const std::chrono::milliseconds timeout_;
  std::string host_header_;
  asio::io_context ioc_{1};
  std::optional<beast::tcp_stream> stream_;  // the keep-alive connection, when open
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::empty_body>> header_parser_;
  bool close_after_ = false;  // sending the request failed: close once its answer is read
};

namespace {

// Throws the marquee::Error an error answer (status >= 400) stands for.
[[noreturn]] void ThrowFor(const ClientResponse& r, std::string_view method, std::string_view url,
                           std::string_view target) {
  json j = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const json& e = j["error"];
    if (e.contains("message") && e["message"].is_string()) {
      std::optional<ErrorCode> code;
      if (e.contains("code") && e["code"].is_string()) {
        code = ErrorCodeFromName(e["code"].get<std::string>());
      }
      throw Error(code.value_or(CodeForStatus(r.status)), e["message"].get<std::string>());
    }
  }
  Fail(CodeForStatus(r.status), "{} {}{}: HTTP {}: {}", method, url, QuoteForMessage(target),
       r.status, QuoteForMessage(r.body, 200));
}

}  // namespace

HttpClient::HttpClient(std::string base_url, std::string api_key, std::chrono::milliseconds timeout)
    : base_url_(std::move(base_url)),
      impl_(std::make_unique<Impl>(base_url_, std::move(api_key), timeout)) {}

HttpClient::~HttpClient() = default;

ClientResponse HttpClient::Send(std::string_view method, std::string_view target,
                                std::string_view body, std::string_view content_type) {
  impl_->Exchange(method, target, std::span<const char>(body.data(), body.size()), content_type);
  return impl_->ReadWhole(method, target);
}

json HttpClient::Json(std::string_view method, std::string_view target, const json* body) {
  const std::string text = body == nullptr ? std::string() : body->dump();
  ClientResponse r = Send(method, target, text, body == nullptr ? "" : "application/json");
  if (r.status >= 400) ThrowFor(r, method, base_url_, target);
  if (r.body.empty()) return nullptr;
  json j = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    Fail(ErrorCode::kInternal, "{} {}{}: the answer is not JSON: {}", method, base_url_,
         QuoteForMessage(target), QuoteForMessage(r.body, 200));
  }
  return j;
}

ClientResponse HttpClient::UploadFile(std::string_view method, std::string_view target,
                                      const std::string& path, std::string_view content_type) {
  // Mapped, not read: the pages are read from disk as they are sent.
  std::unique_ptr<MappedFile> file = Env::Default()->MapFile(path);
  const auto bytes = file->data();
  impl_->Exchange(method, target,
                  std::span<const char>(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                  content_type);
  return impl_->ReadWhole(method, target);
}

ClientResponse HttpClient::Stream(std::string_view method, std::string_view target,
                                  const std::function<bool(std::string_view)>& on_data,
                                  std::string_view body, std::string_view content_type) {
  impl_->Exchange(method, target, std::span<const char>(body.data(), body.size()), content_type);
  // An error answer is small and whole: read it and throw.
  if (impl_->status() >= 400) ThrowFor(impl_->ReadWhole(method, target), method, base_url_, target);
  ClientResponse out = impl_->ReadPieces(method, target, on_data);
  return out;
}

}  // namespace marquee

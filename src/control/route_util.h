// Helpers of the control plane's route handlers (src/control/*_routes.cc, control_plane.cc):
// JSON answers, body and parameter parsing with errors that name the field. Internal to
// src/control.
#pragma once

#include <nlohmann/json.hpp>

#include <charconv>
#include <ctime>
#include <functional>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "common/text.h"
#include "common/time.h"
#include "marquee/error.h"
#include "serving/service.h"

namespace marquee::control_internal {

using json = nlohmann::json;

// A handler whose answer is a JSON value computed at once (status 200, or `status`).
inline std::function<void(const Request&, Respond&)> Sync(std::function<json(const Request&)> fn,
                                                          int status = 200) {
  return [fn = std::move(fn), status](const Request& req, Respond& done) {
    Response r;
    r.status = status;
    r.body = DumpJson(fn(req));
    done(std::move(r));
  };
}

// The request body as a JSON object (an empty body is {}), with only `known` fields.
inline json BodyObject(const Request& req, std::string_view where,
                       std::initializer_list<std::string_view> known) {
  json j = req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    Fail(ErrorCode::kInvalidArgument, "{}: the body must be a JSON object", where);
  }
  CheckKnownFields(j, where, known);
  return j;
}

inline std::string StringField(const json& j, const char* key, std::string_view where,
                               bool required = true) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) Fail(ErrorCode::kInvalidArgument, "{}: missing field '{}'", where, key);
    return "";
  }
  if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
  if (!it->is_string()) {
    Fail(ErrorCode::kInvalidArgument, "{}.{}: must be a string", where, key);
  }
  return it->get<std::string>();
}

// A string or a list of strings ("require": "auc>=production" or [...]).
inline std::vector<std::string> StringList(const json& j, const char* key, std::string_view where) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  if (it->is_string()) return {it->get<std::string>()};
  if (!it->is_array()) {
    Fail(ErrorCode::kInvalidArgument, "{}.{}: must be a string or a list of strings", where, key);
  }
  for (const auto& v : *it) {
    if (!v.is_string()) {
      Fail(ErrorCode::kInvalidArgument, "{}.{}: must hold strings only", where, key);
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

// "1,2,3" or repeated ?ids=1&ids=2.
inline std::vector<std::string> SplitIds(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const auto& v : values) {
    size_t start = 0;
    while (start <= v.size()) {
      size_t comma = v.find(',', start);
      if (comma == std::string::npos) comma = v.size();
      if (comma > start) out.push_back(v.substr(start, comma - start));
      start = comma + 1;
    }
  }
  return out;
}

inline int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

inline int64_t PathId(const Request& req, const char* name) {
  const std::string& t = req.param(name);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || p != t.data() + t.size() || v < 1) {
    Fail(ErrorCode::kInvalidArgument, "{}: expected a positive integer, got '{}'", name,
         QuoteForMessage(t, 64));
  }
  return v;
}

inline int64_t QueryInt(const Request& req, const char* name, int64_t fallback, int64_t min,
                        int64_t max) {
  auto t = req.query(name);
  if (!t) return fallback;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(t->data(), t->data() + t->size(), v);
  if (ec != std::errc() || p != t->data() + t->size() || v < min || v > max) {
    Fail(ErrorCode::kInvalidArgument,
         "query parameter {}: expected an integer in [{}, {}], got '{}'", name, min, max,
         QuoteForMessage(*t, 64));
  }
  return v;
}

// A time query parameter (Unix seconds or ISO 8601, not before 1970) as Unix seconds;
// `fallback` when absent. kInvalidArgument naming the parameter otherwise.
inline int64_t QueryTime(const Request& req, const char* name, int64_t fallback = 0) {
  auto t = req.query(name);
  if (!t) return fallback;
  auto parsed = ParseTime(*t);
  if (!parsed || *parsed < 0) {
    Fail(ErrorCode::kInvalidArgument, "{}: '{}' is not Unix seconds or an ISO 8601 time", name,
         QuoteForMessage(*t, 64));
  }
  return *parsed;
}

// One Server-Sent Events message: optional `event:` and `id:` fields, then `data` as one
// `data:` line per line of it, then the blank line that ends the message.
inline std::string SseMessage(std::string_view event, std::string_view id, std::string_view data) {
  std::string out;
  if (!event.empty()) out += "event: " + std::string(event) + "\n";
  if (!id.empty()) out += "id: " + std::string(id) + "\n";
  size_t start = 0;
  for (;;) {
    const size_t nl = data.find('\n', start);
    out += "data: ";
    out += data.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    out += "\n";
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  out += "\n";
  return out;
}

// Whether a client asked for an event stream (Accept: text/event-stream, or ?follow=1).
inline bool WantsEventStream(const Request& req) {
  if (req.accept.find("text/event-stream") != std::string::npos) return true;
  auto f = req.query("follow");
  return f && (*f == "1" || *f == "true");
}

}  // namespace marquee::control_internal

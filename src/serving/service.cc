#include "serving/service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <unordered_set>

#include "eval/metrics.h"
#include "events/event_log.h"
#include "marquee/error.h"
#include "serving/experiment_router.h"

namespace marquee::serving {
namespace {

using json = nlohmann::json;

std::string_view PathOf(std::string_view target) {
  auto q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

json ParseBody(const std::string& body) {
  if (body.empty())
    Fail(ErrorCode::kInvalidArgument, "the request body is empty; send a JSON object");
  try {
    json j = json::parse(body);
    if (!j.is_object()) Fail(ErrorCode::kInvalidArgument, "the request body must be a JSON object");
    return j;
  } catch (const json::parse_error& e) {
    Fail(ErrorCode::kInvalidArgument, "malformed JSON: {}", e.what());
  }
}

std::string TypeName(const json& v) { return v.type_name(); }

void CheckKnown(const json& j, std::string_view where, std::initializer_list<std::string_view> ok) {
  for (const auto& [key, v] : j.items()) {
    if (std::find(ok.begin(), ok.end(), key) == ok.end()) {
      std::string list;
      for (auto k : ok) list += (list.empty() ? "" : ", ") + std::string(k);
      Fail(ErrorCode::kInvalidArgument, "{}: unknown field '{}' (expected: {})", where, key, list);
    }
  }
}

std::string FieldName(std::string_view where, std::string_view key) {
  return where.empty() ? std::string(key) : fmt::format("{}.{}", where, key);
}

std::string GetString(const json& j, std::string_view where, const char* key) {
  const json& v = j.at(key);
  if (!v.is_string()) {
    Fail(ErrorCode::kInvalidArgument, "{}: must be a string, got {}", FieldName(where, key),
         TypeName(v));
  }
  return v.get<std::string>();
}

// Ids may be sent as strings or integers (MovieLens ids look numeric); both mean the same id.
std::string GetId(const json& v, const std::string& name) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return v.dump();
  Fail(ErrorCode::kInvalidArgument, "{}: must be a string id, got {}", name, TypeName(v));
}

std::vector<std::string> GetIdList(const json& j, std::string_view where, const char* key,
                                   size_t max) {
  const json& v = j.at(key);
  const std::string name = FieldName(where, key);
  if (!v.is_array()) {
    Fail(ErrorCode::kInvalidArgument, "{}: must be an array of item ids, got {}", name,
         TypeName(v));
  }
  if (v.size() > max) {
    Fail(ErrorCode::kResourceExhausted, "{}: {} entries, the limit is {}", name, v.size(), max);
  }
  std::vector<std::string> out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) out.push_back(GetId(v[i], fmt::format("{}[{}]", name, i)));
  return out;
}

uint32_t GetK(const json& j, std::string_view where, uint32_t max_k) {
  const json& v = j.at("k");
  if (!v.is_number_integer()) {
    Fail(ErrorCode::kInvalidArgument, "{}: must be an integer, got {}", FieldName(where, "k"),
         TypeName(v));
  }
  int64_t k = v.get<int64_t>();
  if (k < 1 || k > max_k) {
    Fail(ErrorCode::kInvalidArgument, "{}: {} is out of range [1, {}]", FieldName(where, "k"), k,
         max_k);
  }
  return static_cast<uint32_t>(k);
}

uint32_t ItemIndex(const ServableModel& m, const std::string& id, const std::string& field) {
  auto it = m.item_index.find(id);
  if (it == m.item_index.end()) {
    Fail(ErrorCode::kNotFound, "{}: unknown item '{}' (not in {} v{})", field, id, m.name,
         m.version);
  }
  return it->second;
}

json ErrorJson(ErrorCode code, const std::string& message) {
  return {{"error", {{"code", ErrorCodeName(code)}, {"message", message}}}};
}

// Per-thread scratch for scores, so a request allocates no catalogue-sized buffer.
std::vector<float>& ScoreBuffer(size_t n) {
  thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf;
}

// Top-k over `candidates` only (the allow list), skipping `excluded` (sorted).
void TopKOf(std::span<const float> scores, const std::vector<uint32_t>& candidates,
            std::span<const uint32_t> excluded, uint32_t k, std::vector<uint32_t>& out) {
  out.clear();
  for (uint32_t c : candidates) {
    if (!std::binary_search(excluded.begin(), excluded.end(), c)) out.push_back(c);
  }
  auto better = [&](uint32_t a, uint32_t b) {
    return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
  };
  const size_t take = std::min<size_t>(k, out.size());
  std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(take), out.end(),
                    better);
  out.resize(take);
}

struct Prepared {
  std::shared_ptr<const ServableModel> model;
  std::vector<uint32_t> history;   // sorted unique item indices (positives)
  std::vector<uint32_t> excluded;  // sorted unique
  std::vector<uint32_t> allow;     // sorted unique (when has_allow)
  bool has_allow = false;
  // The user's row in model->known_scores when their history is exactly their training row.
  int64_t cached_user = -1;
  std::optional<std::pair<ErrorCode, std::string>> error;  // the request failed before scoring
};

}  // namespace

const std::vector<std::string>& Service::Routes() {
  static const std::vector<std::string> routes = {"/healthz",
                                                  "/readyz",
                                                  "/metrics",
                                                  "/v1/models",
                                                  "/v1/recommend",
                                                  "/v1/recommend/batch",
                                                  "/v1/similar-items",
                                                  "/v1/events",
                                                  "/admin/reload",
                                                  "/v1/predict",
                                                  "/v1/decide",
                                                  "/v1/reward",
                                                  "other"};
  return routes;
}

size_t Service::RouteIndex(std::string_view target) {
  std::string_view path = PathOf(target);
  const auto& r = Routes();
  for (size_t i = 0; i + 1 < r.size(); ++i) {
    if (r[i] == path) return i;
  }
  return r.size() - 1;
}

Response Service::ToResponse(const Ranked& r) {
  if (r.error) return ErrorResponse(r.error->first, r.error->second);
  Response out;
  out.body = r.ToJson().dump();
  return out;
}

Response Service::ErrorResponse(ErrorCode code, const std::string& message) {
  return ErrorResponse(HttpStatusFor(code), code, message);
}

Response Service::ErrorResponse(int status, ErrorCode code, const std::string& message) {
  Response r;
  r.status = status;
  r.body = ErrorJson(code, message).dump();
  return r;
}

Service::Service(ModelManager* models, EventLog* events, ServingMetrics* metrics, ApiKeys keys,
                 ServiceLimits limits)
    : models_(models),
      events_(events),
      metrics_(metrics),
      keys_(std::move(keys)),
      limits_(limits) {}

void Service::set_route(std::string_view path, JsonRoute handler) {
  if (std::find(Routes().begin(), Routes().end(), path) == Routes().end()) {
    Fail(ErrorCode::kInvalidArgument, "set_route: {} is not a known route", path);
  }
  extensions_.emplace_back(std::string(path), std::move(handler));
}

void Service::add_model_kind(std::string key, std::function<json()> describe,
                             std::function<json()> reload) {
  model_kinds_.push_back({std::move(key), std::move(describe), std::move(reload)});
}

RecommendRequest ParseRecommendRequest(const json& j, std::string_view where,
                                       const ServiceLimits& limits) {
  if (!j.is_object()) {
    Fail(ErrorCode::kInvalidArgument, "{}: must be a JSON object, got {}",
         where.empty() ? "request" : where, TypeName(j));
  }
  CheckKnown(j, where.empty() ? "request" : where,
             {"model", "user", "k", "exclude_seen", "history", "filter", "experiment"});
  RecommendRequest r;
  if (j.contains("experiment")) {
    r.experiment = GetString(j, where, "experiment");
    if (j.contains("model")) {
      Fail(ErrorCode::kInvalidArgument, "{}: leave it out with 'experiment' (the cell decides)",
           FieldName(where, "model"));
    }
  } else if (!j.contains("model")) {
    Fail(ErrorCode::kInvalidArgument, "{}: missing", FieldName(where, "model"));
  }
  if (!r.experiment) r.model = GetString(j, where, "model");
  if (j.contains("user") && !j["user"].is_null())
    r.user = GetId(j["user"], FieldName(where, "user"));
  if (j.contains("k")) r.k = GetK(j, where, limits.max_k);
  if (j.contains("exclude_seen")) {
    if (!j["exclude_seen"].is_boolean()) {
      Fail(ErrorCode::kInvalidArgument, "{}: must be true or false, got {}",
           FieldName(where, "exclude_seen"), TypeName(j["exclude_seen"]));
    }
    r.exclude_seen = j["exclude_seen"].get<bool>();
  }
  if (j.contains("history")) r.history = GetIdList(j, where, "history", limits.max_history);
  if (j.contains("filter")) {
    const json& f = j["filter"];
    const std::string fw = FieldName(where, "filter");
    if (!f.is_object()) {
      Fail(ErrorCode::kInvalidArgument, "{}: must be an object, got {}", fw, TypeName(f));
    }
    CheckKnown(f, fw, {"allow", "deny"});
    if (f.contains("allow")) r.allow = GetIdList(f, fw, "allow", limits.max_history);
    if (f.contains("deny")) r.deny = GetIdList(f, fw, "deny", limits.max_history);
  }
  if (!r.user && !r.history) {
    Fail(ErrorCode::kInvalidArgument, "{}: give 'user', 'history' or both",
         where.empty() ? "request" : where);
  }
  return r;
}

json Ranked::ToJson() const {
  if (error) return ErrorJson(error->first, error->second);
  json items = json::array();
  for (size_t i = 0; i < this->items.size(); ++i) {
    items.push_back({{"id", model->bundle.item_ids[this->items[i]]}, {"score", scores[i]}});
  }
  json out = {{"model", model->name}, {"version", model->version}, {"items", std::move(items)}};
  if (fallback) out["fallback"] = "popularity";
  return out;
}

std::vector<json> Service::Recommend(const std::vector<RecommendRequest>& requests) const {
  std::vector<json> out;
  out.reserve(requests.size());
  for (const Ranked& r : Rank(requests)) out.push_back(r.ToJson());
  return out;
}

std::vector<Ranked> Service::Rank(
    std::span<const RecommendRequest> requests,
    std::span<const std::shared_ptr<const ServableModel>> resolved) const {
  std::vector<Prepared> prep(requests.size());
  // 1. Resolve models and assemble each history: training row ∪ logged events ∪ request history.
  for (size_t q = 0; q < requests.size(); ++q) {
    const RecommendRequest& r = requests[q];
    Prepared& p = prep[q];
    try {
      p.model = q < resolved.size() && resolved[q] ? resolved[q] : models_->Get(r.model);
      const ServableModel& m = *p.model;
      std::vector<uint32_t> seen;
      bool known = false;
      if (r.user) {
        if (auto it = m.user_index.find(*r.user); it != m.user_index.end()) {
          known = true;
          auto row = m.TrainingItems(it->second);
          p.history.assign(row.begin(), row.end());
          if (!m.known_scores.empty() && !r.history) p.cached_user = it->second;
        }
        if (events_ != nullptr) {
          for (const StoredEvent& e : events_->Recent(*r.user, limits_.recent_events)) {
            known = true;
            auto it = m.item_index.find(e.item);
            if (it == m.item_index.end()) continue;  // an item newer than the model
            seen.push_back(it->second);
            if (e.value > 0) {
              p.history.push_back(it->second);
              p.cached_user = -1;  // the history grew since training: score it
            }
          }
        }
        if (!known && !r.history) {
          Fail(ErrorCode::kNotFound,
               "unknown user '{}': not in the training data of {} v{} and no events; send "
               "'history' to fold in a new user",
               *r.user, m.name, m.version);
        }
      }
      if (r.history) {
        for (size_t i = 0; i < r.history->size(); ++i) {
          p.history.push_back(ItemIndex(m, (*r.history)[i], fmt::format("history[{}]", i)));
        }
      }
      std::sort(p.history.begin(), p.history.end());
      p.history.erase(std::unique(p.history.begin(), p.history.end()), p.history.end());
      if (r.exclude_seen) p.excluded.insert(p.excluded.end(), p.history.begin(), p.history.end());
      if (r.exclude_seen) p.excluded.insert(p.excluded.end(), seen.begin(), seen.end());
      for (size_t i = 0; i < r.deny.size(); ++i) {
        p.excluded.push_back(ItemIndex(m, r.deny[i], fmt::format("filter.deny[{}]", i)));
      }
      std::sort(p.excluded.begin(), p.excluded.end());
      p.excluded.erase(std::unique(p.excluded.begin(), p.excluded.end()), p.excluded.end());
      if (r.allow) {
        p.has_allow = true;
        for (size_t i = 0; i < r.allow->size(); ++i) {
          p.allow.push_back(ItemIndex(m, (*r.allow)[i], fmt::format("filter.allow[{}]", i)));
        }
        std::sort(p.allow.begin(), p.allow.end());
        p.allow.erase(std::unique(p.allow.begin(), p.allow.end()), p.allow.end());
      }
    } catch (const Error& e) {
      p.error.emplace(e.code(), e.what());
    }
  }
  // 2. Score: one ScoreBatch per model over every request that has a history (batched
  // matrix-vector products), then a bounded-heap top-k per row that skips exclusions in place.
  std::vector<Ranked> out(requests.size());
  std::map<const ServableModel*, std::vector<size_t>> groups;
  for (size_t q = 0; q < prep.size(); ++q) {
    if (prep[q].error) continue;
    if (prep[q].history.empty()) {
      // Nothing to fold in: the most popular items, marked as a fallback.
      const Prepared& p = prep[q];
      const ServableModel& m = *p.model;
      std::vector<uint32_t> top;
      if (p.has_allow) {
        TopKOf(m.popularity, p.allow, p.excluded, requests[q].k, top);
      } else {
        for (uint32_t i : m.popular) {
          if (top.size() >= requests[q].k) break;
          if (!std::binary_search(p.excluded.begin(), p.excluded.end(), i)) top.push_back(i);
        }
      }
      Ranked& o = out[q];
      o.model = p.model;
      o.fallback = true;
      o.items = std::move(top);
      for (uint32_t i : o.items) o.scores.push_back(m.popularity[i]);
      continue;
    }
    if (prep[q].cached_user >= 0) continue;  // answered from known_scores below
    groups[prep[q].model.get()].push_back(q);
  }
  // The answer to request q from its scores: a bounded-heap top-k that skips exclusions in place.
  std::vector<uint32_t> top;
  auto answer = [&](size_t q, std::span<const float> s) {
    const Prepared& p = prep[q];
    if (p.has_allow) {
      TopKOf(s, p.allow, p.excluded, requests[q].k, top);
    } else {
      TopK(s, p.excluded, requests[q].k, top);
    }
    Ranked& o = out[q];
    o.model = p.model;
    o.items.reserve(top.size());
    o.scores.reserve(top.size());
    for (uint32_t i : top) {
      if (!std::isfinite(s[i])) continue;  // items the model cannot score
      o.items.push_back(i);
      o.scores.push_back(s[i]);
    }
  };
  // Known users whose history is their training row: their materialised scores.
  for (size_t q = 0; q < prep.size(); ++q) {
    const Prepared& p = prep[q];
    if (p.error || p.cached_user < 0 || out[q].model) continue;
    const uint32_t n = p.model->num_items();
    answer(q, {p.model->known_scores.data() + static_cast<size_t>(p.cached_user) * n, n});
  }
  Context ctx;
  ctx.threads = 1;  // requests are the parallelism; the io threads are the cores
  for (const auto& [mp, qs] : groups) {
    const ServableModel& m = *mp;
    const uint32_t n = m.num_items();
    CsrMatrix h;
    h.cols = n;
    for (size_t q : qs) {
      h.AppendRow(prep[q].history, {});  // binary: every value 1
    }
    const size_t rows = qs.size();
    std::vector<float>& buf = ScoreBuffer(rows * n);
    std::span<float> scores(buf.data(), rows * n);
    try {
      m.bundle.model->ScoreBatch(h, scores, ctx);
    } catch (const Error& e) {
      for (size_t q : qs) out[q].error.emplace(e.code(), e.what());
      continue;
    }
    for (size_t row = 0; row < rows; ++row) {
      answer(qs[row], {scores.data() + row * n, n});
    }
  }
  for (size_t q = 0; q < prep.size(); ++q) {
    if (prep[q].error) out[q].error = std::move(prep[q].error);
  }
  return out;
}

Response Service::Similar(const json& body) const {
  CheckKnown(body, "request", {"model", "item", "k", "filter"});
  if (!body.contains("model")) Fail(ErrorCode::kInvalidArgument, "model: missing");
  if (!body.contains("item")) Fail(ErrorCode::kInvalidArgument, "item: missing");
  const std::string model = GetString(body, "", "model");
  const std::string item = GetId(body["item"], "item");
  uint32_t k = body.contains("k") ? GetK(body, "", limits_.max_k) : 10;
  std::vector<std::string> allow_ids, deny_ids;
  bool has_allow = false;
  if (body.contains("filter")) {
    const json& f = body["filter"];
    if (!f.is_object()) {
      Fail(ErrorCode::kInvalidArgument, "filter: must be an object, got {}", TypeName(f));
    }
    CheckKnown(f, "filter", {"allow", "deny"});
    if (f.contains("allow")) {
      allow_ids = GetIdList(f, "filter", "allow", limits_.max_history);
      has_allow = true;
    }
    if (f.contains("deny")) deny_ids = GetIdList(f, "filter", "deny", limits_.max_history);
  }
  auto mp = models_->Get(model);
  const ServableModel& m = *mp;
  const uint32_t idx = ItemIndex(m, item, "item");
  std::vector<uint32_t> excluded{idx}, allow;
  for (size_t i = 0; i < deny_ids.size(); ++i) {
    excluded.push_back(ItemIndex(m, deny_ids[i], fmt::format("filter.deny[{}]", i)));
  }
  for (size_t i = 0; i < allow_ids.size(); ++i) {
    allow.push_back(ItemIndex(m, allow_ids[i], fmt::format("filter.allow[{}]", i)));
  }
  std::sort(excluded.begin(), excluded.end());
  excluded.erase(std::unique(excluded.begin(), excluded.end()), excluded.end());
  const uint32_t n = m.num_items();
  CsrMatrix h;
  h.cols = n;
  const float one = 1.0f;
  h.AppendRow(std::span<const uint32_t>(&idx, 1), std::span<const float>(&one, 1));
  std::vector<float>& buf = ScoreBuffer(n);
  std::span<float> scores(buf.data(), n);
  Context ctx;
  ctx.threads = 1;
  m.bundle.model->ScoreBatch(h, scores, ctx);
  std::vector<uint32_t> top;
  if (has_allow) {
    TopKOf(scores, allow, excluded, k, top);
  } else {
    TopK(scores, excluded, k, top);
  }
  json items = json::array();
  for (uint32_t i : top) {
    if (std::isfinite(scores[i]))
      items.push_back({{"id", m.bundle.item_ids[i]}, {"score", scores[i]}});
  }
  Response r;
  r.body = json{{"model", m.name}, {"version", m.version}, {"item", item}, {"items", items}}.dump();
  return r;
}

void Service::Events(const json& body, Respond& done) {
  if (events_ == nullptr) Fail(ErrorCode::kUnavailable, "this server has no event log");
  CheckKnown(body, "request", {"events"});
  if (!body.contains("events")) Fail(ErrorCode::kInvalidArgument, "events: missing");
  const json& arr = body["events"];
  if (!arr.is_array()) {
    Fail(ErrorCode::kInvalidArgument, "events: must be an array, got {}", TypeName(arr));
  }
  if (arr.size() > limits_.max_events) {
    Fail(ErrorCode::kResourceExhausted, "events: {} events, the limit per request is {}",
         arr.size(), limits_.max_events);
  }
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  std::vector<Event> events;
  events.reserve(arr.size());
  for (size_t i = 0; i < arr.size(); ++i) {
    const std::string where = fmt::format("events[{}]", i);
    const json& e = arr[i];
    if (!e.is_object()) {
      Fail(ErrorCode::kInvalidArgument, "{}: must be an object, got {}", where, TypeName(e));
    }
    CheckKnown(e, where, {"user", "item", "type", "value", "ts"});
    Event ev;
    if (!e.contains("user")) Fail(ErrorCode::kInvalidArgument, "{}.user: missing", where);
    if (!e.contains("item")) Fail(ErrorCode::kInvalidArgument, "{}.item: missing", where);
    ev.user = GetId(e["user"], where + ".user");
    ev.item = GetId(e["item"], where + ".item");
    if (e.contains("type")) ev.type = GetString(e, where, "type");
    if (e.contains("value")) {
      if (!e["value"].is_number()) {
        Fail(ErrorCode::kInvalidArgument, "{}.value: must be a number, got {}", where,
             TypeName(e["value"]));
      }
      ev.value = e["value"].get<float>();
    }
    if (e.contains("ts")) {
      if (!e["ts"].is_number_integer()) {
        Fail(ErrorCode::kInvalidArgument, "{}.ts: must be integer Unix seconds, got {}", where,
             TypeName(e["ts"]));
      }
      ev.ts = e["ts"].get<int64_t>();
    } else {
      ev.ts = now;
    }
    ValidateEvent(ev, where);
    events.push_back(std::move(ev));
  }
  const size_t n = events.size();
  ServingMetrics* metrics = metrics_;
  events_->AppendAsync(std::move(events),
                       [n, metrics, done = std::move(done)](std::exception_ptr err) {
                         if (err) {
                           try {
                             std::rethrow_exception(err);
                           } catch (const Error& e) {
                             done(ErrorResponse(e.code(), e.what()));
                           } catch (const std::exception& e) {
                             done(ErrorResponse(ErrorCode::kInternal, e.what()));
                           }
                           return;
                         }
                         metrics->AddEvents(n);
                         Response r;
                         r.body = json{{"accepted", n}}.dump();
                         done(std::move(r));
                       });
}

void Service::Handle(const Request& req, Respond done) {
  const std::string_view path = PathOf(req.target);
  try {
    Route(req, path, done);
  } catch (const Error& e) {
    if (done) done(ErrorResponse(e.code(), e.what()));
  } catch (const json::exception& e) {
    if (done) done(ErrorResponse(ErrorCode::kInvalidArgument, e.what()));
  } catch (const std::bad_alloc&) {
    if (done) done(ErrorResponse(ErrorCode::kResourceExhausted, "out of memory"));
  } catch (const std::exception& e) {
    spdlog::error("serve: {} {}: {}", req.method, path, e.what());
    if (done) done(ErrorResponse(ErrorCode::kInternal, e.what()));
  }
}

// `done` is moved out of when the response is asynchronous (events, reload); Handle's catch
// answers only while it is still set.
void Service::Route(const Request& req, std::string_view path, Respond& done) {
  struct RouteSpec {
    std::string_view path;
    std::string_view method;
    Scope scope;
    bool extension = false;  // served by a handler given to set_route
  };
  static constexpr RouteSpec kSpecs[] = {
      {"/healthz", "GET", kScopeNone},           {"/readyz", "GET", kScopeNone},
      {"/metrics", "GET", kScopeNone},           {"/v1/models", "GET", kScopeRead},
      {"/v1/recommend", "POST", kScopeRead},     {"/v1/recommend/batch", "POST", kScopeRead},
      {"/v1/similar-items", "POST", kScopeRead}, {"/v1/events", "POST", kScopeWrite},
      {"/admin/reload", "POST", kScopeAdmin},    {"/v1/predict", "POST", kScopeRead},
      {"/v1/decide", "POST", kScopeRead, true},  {"/v1/reward", "POST", kScopeWrite, true}};
  const RouteSpec* spec = nullptr;
  for (const auto& s : kSpecs) {
    if (s.path == path) spec = &s;
  }
  if (spec == nullptr) Fail(ErrorCode::kNotFound, "no route {} {}", req.method, path);
  if (req.method != spec->method && !(spec->method == "GET" && req.method == "HEAD")) {
    done(ErrorResponse(
        405, ErrorCode::kInvalidArgument,
        fmt::format("method {} is not allowed on {}; use {}", req.method, path, spec->method)));
    return;
  }
  keys_.Check(req.has_api_key, req.api_key, spec->scope, path);

  if (spec->extension) {
    for (auto& [p, handler] : extensions_) {
      if (p == path) {
        json body = ParseBody(req.body);
        handler(body, done);
        return;
      }
    }
    Fail(ErrorCode::kUnavailable, "this server does not serve {} (no model of that kind)", path);
  }

  Response r;
  if (path == "/healthz") {
    r.body = R"({"status":"ok"})";
  } else if (path == "/readyz") {
    std::string why;
    if (!models_->ready()) {
      r = ErrorResponse(ErrorCode::kUnavailable, "not every model is loaded yet");
    } else if (events_ != nullptr && !events_->writable(&why)) {
      // Events cannot be made durable (a full disk): the log resumes by itself once space is
      // freed, and so does readiness.
      r = ErrorResponse(ErrorCode::kUnavailable, "the event log cannot store events: " + why);
    } else {
      r.body = R"({"status":"ready"})";
    }
  } else if (path == "/metrics") {
    r.content_type = "text/plain; version=0.0.4";
    r.body = metrics_->Render(models_->MetricsText() + (metrics_text_ ? metrics_text_() : ""));
  } else if (path == "/v1/models") {
    json d = models_->Describe();
    for (const auto& k : model_kinds_) d[k.key] = k.describe();
    r.body = d.dump();
  } else if (path == "/v1/recommend") {
    RecommendRequest rr = ParseRecommendRequest(ParseBody(req.body), "", limits_);
    if (rr.experiment) {  // A/B cells and interleaving: serving/experiment_router.h
      if (experiments_ == nullptr) Fail(ErrorCode::kUnavailable, "this server runs no experiments");
      r = experiments_->Recommend(rr, *models_, *this);
    } else {
      r = ToResponse(Rank(std::span(&rr, 1))[0]);
    }
  } else if (path == "/v1/recommend/batch") {
    json body = ParseBody(req.body);
    CheckKnown(body, "request", {"requests"});
    if (!body.contains("requests")) Fail(ErrorCode::kInvalidArgument, "requests: missing");
    const json& arr = body["requests"];
    if (!arr.is_array()) {
      Fail(ErrorCode::kInvalidArgument, "requests: must be an array, got {}", TypeName(arr));
    }
    if (arr.size() > limits_.max_batch) {
      Fail(ErrorCode::kResourceExhausted, "requests: {} requests, the limit is {}", arr.size(),
           limits_.max_batch);
    }
    // A malformed entry fails the whole call (it is the caller's bug); a model, user or item
    // that is not found fails only its own entry.
    std::vector<RecommendRequest> rs;
    for (size_t i = 0; i < arr.size(); ++i) {
      rs.push_back(ParseRecommendRequest(arr[i], fmt::format("requests[{}]", i), limits_));
      if (rs.back().experiment) {
        Fail(ErrorCode::kInvalidArgument,
             "requests[{}].experiment: not supported in a batch; use /v1/recommend", i);
      }
    }
    r.body = json{{"responses", Recommend(rs)}}.dump();
  } else if (path == "/v1/similar-items") {
    r = Similar(ParseBody(req.body));
  } else if (path == "/v1/predict") {
    if (predict_ == nullptr)
      Fail(ErrorCode::kUnavailable, "this server does not serve /v1/predict");
    r.body = predict_->Predict(ParseBody(req.body)).dump();
  } else if (path == "/v1/events") {
    json body = ParseBody(req.body);
    Events(body, done);
    return;
  } else if (path == "/admin/reload") {
    if (experiments_ != nullptr) experiments_->Refresh();  // experiment start/stop, at once
    models_->RequestRefresh(
        [d = std::move(done), models = models_, kinds = &model_kinds_](json result) {
          Response rr;
          if (result.contains("error")) {
            rr = ErrorResponse(ErrorCode::kUnavailable, result["error"].get<std::string>());
          } else {
            json out = {{"refresh", result}, {"models", models->Describe()["models"]}};
            for (const auto& k : *kinds) {
              out[k.key + "_refresh"] = k.reload();
              out[k.key] = k.describe();
            }
            rr.body = out.dump();
          }
          d(std::move(rr));
        });
    return;
  }
  done(std::move(r));
}

}  // namespace marquee::serving

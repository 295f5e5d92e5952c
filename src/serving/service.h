// Service: the JSON API of `marquee serve` (docs/api/openapi.yaml), independent of the HTTP
// transport so it can be tested and benchmarked without sockets. The server hands it a
// parsed Request and a callback; Handle answers on the calling thread except for
// POST /v1/events (answered from the event log's writer thread once the events are durable) and
// POST /admin/reload (answered from the model manager's thread).
//
// Errors: every failure is a marquee::Error turned into HttpStatusFor(code) with the body
// {"error": {"code": ErrorCodeName(code), "message": "..."}}, here and nowhere else.
// Thread-safety: Handle may be called from many threads at once.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "marquee/error.h"
#include "serving/auth.h"
#include "serving/metrics.h"
#include "serving/model_manager.h"
#include "serving/route_match.h"

namespace marquee {
class EventLog;
}

namespace marquee {

class ExperimentRouter;
class ShadowScorer;

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path, possibly with a query string
  std::string body;
  // The path of the spooled body of a RouteRow::stream_body row (`body` is then empty). The
  // server deletes the file after the response is written; a handler that keeps the upload
  // renames it into place (same file system) before it answers. "" for other rows.
  std::string body_file;
  bool has_api_key = false;
  std::string api_key;
  std::string content_type;  // the Content-Type header ("" when absent)
  std::string accept;        // the Accept header ("" when absent)
  // Set by the router (Service::Handle) on the request it was given: the values of the matched
  // row's {parameters}, decoded, in path order. Mutable so the transport's request is handed on
  // by reference: moving or copying it into the router kept freed pages of large bodies
  // resident (ServeLimitsSlow.MemoryReturnsNearItsBaselineAfterLargeBodies).
  mutable PathParams params;

  // The path parameter `name` of the matched row; kInternal if the row has none (a bug).
  const std::string& param(std::string_view name) const;
  // The query parameter `name` (decoded; the last one when repeated), nullopt when absent.
  // kInvalidArgument for a bad %-escape in the query string.
  std::optional<std::string> query(std::string_view name) const;
  // Every value of the repeated query parameter `name`, in order.
  std::vector<std::string> query_all(std::string_view name) const;
};

// The sink of a streamed response (Response::stream): the server sends each chunk on the
// connection's io thread, in order, with chunked transfer encoding.
// Thread-safety: used by the one producer thread the server runs the stream on.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  // Queues `chunk` (copied); blocks while about 1 MiB or more is queued and not yet sent
  // (backpressure). False once the client has gone or the server is shutting down: the
  // producer should return promptly (what it wrote after that is dropped).
  virtual bool Write(std::string_view chunk) = 0;
  // Write without blocking: false, queueing nothing, when the queue is full or the stream is
  // closed.
  virtual bool TryWrite(std::string_view chunk) = 0;
};

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  // Extra response headers (e.g. Allow on a 405), written as given.
  std::vector<std::pair<std::string, std::string>> headers;
  // A streamed body: when set, `body` is ignored and the server runs `stream` on a thread it
  // owns (a bounded number at once; beyond it the request gets 503), sending what it writes as
  // it comes. The response ends when `stream` returns (an exception aborts the connection).
  std::function<void(ResponseWriter&)> stream;
};

// The JSON text of a response body. Never throws on strings that are not valid UTF-8 (each
// invalid byte becomes U+FFFD), so no user byte can make an answer, or the error path, fail.
// Every response body goes through it. Thread-safe.
std::string DumpJson(const nlohmann::json& j);

// Throws kInvalidArgument "WHERE: unknown field 'KEY' (expected: ...)" when the object `j` has a
// key not in `known` (the key quoted and cut as user text). Every route's body check uses it.
void CheckKnownFields(const nlohmann::json& j, std::string_view where,
                      std::initializer_list<std::string_view> known);

using Respond = std::function<void(Response)>;

// One row of the server's route table: the router, the 405 answer and its Allow header, the
// API-key scope check, the /metrics route label and the documented route list all come from the
// rows (tests/serving/route_table_test.cc checks every row against docs/api/openapi.yaml).
// Routes are added by whoever serves them (Service its own, PredictHandler /v1/predict,
// BanditHandler /v1/decide and /v1/reward): adding a route is one row.
struct RouteRow {
  std::string method;  // "GET" (HEAD is answered too), "POST", "PUT" or "DELETE"
  // A literal path or a pattern with {parameters} (serving/route_match.h); when several rows
  // match a path, the one with the fewest parameters wins ("/api/v1/runs/compare" before
  // "/api/v1/runs/{id}").
  std::string path;
  Scope scope = kScopeNone;  // what an API key needs (serving/auth.h)
  // Answers `req` through `done` (moving it out; it may answer later, on any thread) or throws
  // marquee::Error before moving it. Called after the method and API-key checks.
  std::function<void(const Request& req, Respond& done)> handler;
  // The body is spooled to a file (Request::body_file) as it arrives, never held in memory
  // (uploads); needs HttpServerOptions::spool_dir.
  bool stream_body = false;
  // The largest body this row accepts, in bytes (0: the server's default for in-memory or
  // streamed bodies); beyond it the request gets 413.
  uint64_t body_limit = 0;
};

struct ServiceLimits {
  uint32_t max_k = 1000;
  size_t max_batch = 1000;      // requests in /v1/recommend/batch
  size_t max_events = 10000;    // events in one /v1/events call
  size_t max_history = 10000;   // items in a request's history / filter lists
  size_t recent_events = 1000;  // latest events per user read by /v1/recommend
};

// The fields of one recommendation request.
struct RecommendRequest {
  std::string model;
  std::optional<std::string> user;
  uint32_t k = 10;
  bool exclude_seen = true;
  std::optional<std::vector<std::string>> history;
  std::optional<std::vector<std::string>> allow;
  std::vector<std::string> deny;
  // "experiment": NAME: the model comes from the member's cell (ExperimentRouter); no "model".
  std::optional<std::string> experiment;
};

// One answer of Service::Rank: items of the model's catalogue, best first.
struct Ranked {
  std::shared_ptr<const ServableModel> model;  // null when the request failed
  std::vector<uint32_t> items;                 // indices into model->bundle.item_ids
  std::vector<float> scores;                   // of `items`
  bool fallback = false;                       // no history to fold in: the most popular items
  bool history_unavailable = false;            // the recent events could not be read (Redis down)
  std::optional<std::pair<ErrorCode, std::string>> error;  // set when the request failed
  // The /v1/recommend response object ({"model", "version", "items", ["fallback"],
  // ["history": "unavailable"]}), or the
  // {"error": {"code", "message"}} object.
  nlohmann::json ToJson() const;
  // Appends DumpJson(ToJson()) to `out`, byte for byte, without building the JSON value (the
  // response writer of /v1/recommend).
  void AppendJson(std::string& out) const;
};

// Parses and validates a request object; kInvalidArgument naming `where` and the field
// (unknown fields, wrong types, k out of range), kResourceExhausted for over-long lists.
RecommendRequest ParseRecommendRequest(const nlohmann::json& j, std::string_view where,
                                       const ServiceLimits& limits);

// A whole /v1/recommend body: checked (not empty, UTF-8, nesting), parsed with nlohmann and read
// by ParseRecommendRequest; its errors.
RecommendRequest ParseRecommendBody(const std::string& body, const ServiceLimits& limits);

// The same parsed with simdjson On Demand (no DOM): true and `r` as ParseRecommendBody gives it
// for the requests it takes; false, `r` unspecified, for any body it does not take as it is
// (unknown or repeated keys, ids that are numbers, a wrong type or value, malformed JSON, a body
// over 64 KiB), which the caller then parses with ParseRecommendBody so that errors keep one
// source. Thread-safe (a parser per thread).
bool ParseRecommendRequestFast(std::string_view body, const ServiceLimits& limits,
                               RecommendRequest& r);

// What the experiment router needs to rank for a cell, instead of the whole Service.
// Thread-safe (Service implements it).
class Ranker {
 public:
  virtual ~Ranker() = default;
  // The model serving `ref` for as long as the caller holds it (ModelManager::Get: kNotFound for
  // a model this server does not serve, kUnavailable while it loads).
  virtual std::shared_ptr<const ServableModel> Model(std::string_view ref) const = 0;
  // Ranks requests[q] with models[q] (see Service::Rank); per-request failures are in
  // Ranked::error.
  virtual std::vector<Ranked> Rank(
      std::span<const RecommendRequest> requests,
      std::span<const std::shared_ptr<const ServableModel>> models) const = 0;
};

class Service : public Ranker {
 public:
  // Registers its own rows (health, readiness, metrics, models, recommend, similar items,
  // events, reload); `metrics` gets one route label per path of the table.
  Service(ModelManager* models, EventLog* events, ServingMetrics* metrics, ApiKeys keys,
          ServiceLimits limits);

  // Adds a row to the route table (a row with the same method and path replaces the earlier
  // one). kInvalidArgument for a method other than GET/POST/PUT/DELETE or a path that is not a
  // valid pattern (ValidateRoutePattern).
  // Call before the server starts.
  void AddRoute(RouteRow row);
  // A RouteRow handler that parses the body as a JSON object (named 400s) first.
  using JsonRoute = std::function<void(const nlohmann::json& body, Respond& done)>;
  static std::function<void(const Request&, Respond&)> JsonBody(JsonRoute handler);
  // The row that serves `method` on `target` (HEAD finds the GET row), nullptr when none does
  // (the request then gets 404 or 405 from Handle). The transport asks it after reading a
  // request's header, before its body. Thread-safe once the server has started.
  const RouteRow* FindRow(std::string_view method, std::string_view target) const;
  // Throws what Handle would answer for `req`'s API key on `row` (kUnauthenticated,
  // kPermissionDenied). The transport asks before spooling an upload, so a client without the
  // row's scope cannot fill the disk. Thread-safe once the server has started.
  void CheckKey(const RouteRow& row, const Request& req) const;
  // The route table, in the order rows were added.
  const std::vector<RouteRow>& routes() const { return routes_; }
  // The metrics' route labels: each path of the table once, in table order, then "other".
  std::vector<std::string> RouteLabels() const;
  // Index of the route label of `target` (the last index, "other", for unknown paths): the
  // pattern of the row that would serve it.
  size_t RouteIndex(std::string_view target) const;

  // Serves /v1/recommend requests with "experiment" (not owned; null: they answer 503). Call
  // before the server starts.
  void set_experiments(ExperimentRouter* router) { experiments_ = router; }
  // Shadow scoring and canary routing of /v1/recommend (serving/shadow.h; not owned; null:
  // none). Call before the server starts.
  void set_shadow(ShadowScorer* shadow) { shadow_ = shadow; }

  // The models manager slots of another kind (bandit policies, tabular models): GET /v1/models
  // also lists them under `key` (ModelManager::Describe(kind)), and POST /admin/reload adds
  // their refresh outcomes under KEY_refresh and their state under `key`. Call before the
  // server starts.
  void add_model_kind(std::string key, std::string kind);
  // Extra Prometheus lines appended to /metrics (e.g. the bandit policies' counters); called on
  // the request's thread. Call before the server starts.
  void set_metrics_text(std::function<std::string()> fn) { metrics_text_ = std::move(fn); }
  // A store whose writes must be durable for the server to be ready (the decision log, the
  // exposure log; the event log given to the constructor is one already): GET /readyz answers
  // 503 "the WHAT cannot store writes: REASON" while writable(&reason) is false (a full disk;
  // the logs resume by themselves). Called on the request's thread. Call before the server
  // starts.
  void add_readiness_check(std::string what, std::function<bool(std::string* reason)> writable);

  // Answers `req` through `done`, exactly once, on any thread. Never throws: every failure,
  // including an unexpected exception, becomes an error response (500 for the unexpected).
  // The router fills req.params.
  void Handle(const Request& req, Respond done);

  // Recommendations for several requests (each may name a different model): requests on the
  // same model are scored in one ScoreBatch call. Each result is a response object or an
  // {"error": {...}} object. Public for tests and benchmarks.
  std::vector<nlohmann::json> Recommend(const std::vector<RecommendRequest>& requests) const;
  // The same, before the response is written: Recommend is Rank and Ranked::ToJson. A non-null
  // resolved[q] is the model to use for requests[q] instead of models->Get(requests[q].model)
  // (the experiment router resolves its cells itself).
  std::vector<Ranked> Rank(
      std::span<const RecommendRequest> requests,
      std::span<const std::shared_ptr<const ServableModel>> resolved = {}) const override;
  // Experiment cells are served through the router's own loading (on_new_cells), never on
  // demand.
  std::shared_ptr<const ServableModel> Model(std::string_view ref) const override {
    return models_->Get(ref);
  }
  // A recommender that no --model names is loaded by the first request that names it (a
  // control-plane server started without --model serves whatever the registry holds). Off:
  // such requests answer 404. Call before the server starts.
  void set_load_on_demand(bool on) { load_on_demand_ = on; }

  // A ranked answer as the /v1/recommend response (an error's HTTP status and body).
  static Response ToResponse(const Ranked& r);
  // Errors (marquee::Error) as a Response: {"error": {"code", "message"}}, always valid UTF-8
  // (invalid bytes in `message` become U+FFFD). Throws nothing but std::bad_alloc.
  static Response ErrorResponse(ErrorCode code, const std::string& message);
  static Response ErrorResponse(int status, ErrorCode code, const std::string& message);

 private:
  // The stages of Rank, in order. Prepared (service.cc) is one request on its way: its model,
  // history and filters, or the error that ended it; the stages answer each request once, by
  // the path Prepared::path() picks. Errors of one request never escape: they land in
  // Prepared::error (preparing) or Ranked::error (scoring). `top` is a top-k scratch vector.
  struct Prepared;
  // Resolves the model (`resolved`, else models_->Get(r.model)) and assembles history and
  // filters into `p`; a failure becomes p.error.
  void PrepareRequest(const RecommendRequest& r,
                      const std::shared_ptr<const ServableModel>& resolved, Prepared& p) const;
  // History = training row ∪ positive logged events ∪ request history (sorted unique); `seen`
  // gets every logged event's item. Throws kNotFound for an unknown user with no history.
  void AssembleHistory(const RecommendRequest& r, const ServableModel& m,
                       std::vector<uint32_t>& seen, Prepared& p) const;
  // Exclusions (seen items when exclude_seen, deny list) and the allow list; throws
  // kInvalidArgument for an unknown item.
  static void AssembleFilters(const RecommendRequest& r, const ServableModel& m,
                              std::span<const uint32_t> seen, Prepared& p);
  // No history to fold in: the most popular items allowed, marked as a fallback.
  static void AnswerFromPopularity(const Prepared& p, uint32_t k, Ranked& o);
  // The answer from the request's scores: a bounded-heap top-k that skips exclusions in place.
  static void AnswerFromScores(const Prepared& p, uint32_t k, std::span<const float> s,
                               std::vector<uint32_t>& top, Ranked& o);
  // Known users whose history is their training row: their materialised scores.
  static void AnswerFromCache(std::span<const RecommendRequest> requests,
                              std::span<const Prepared> prep, std::vector<uint32_t>& top,
                              std::span<Ranked> out);
  // Known users whose history grew, with an additive model (ServableModel::additive): their
  // training row's sum (kept in ServableModel::training_sums after the first time) plus the
  // rows of Prepared::extra: the floats ScoreBatch computes for the whole history. A scoring
  // failure becomes Ranked::error.
  static void AnswerFromTrainingSums(std::span<const RecommendRequest> requests,
                                     std::span<const Prepared> prep, std::vector<uint32_t>& top,
                                     std::span<Ranked> out);
  // Adds the rankings by path to the metrics (when there are metrics).
  void CountRankings(std::span<const Prepared> prep) const;
  // One ScoreBatch per model over its scored requests (into the thread's score buffer), then
  // AnswerFromScores per row; a ScoreBatch failure becomes Ranked::error of its requests.
  static void ScoreGroups(std::span<const RecommendRequest> requests,
                          std::span<const Prepared> prep, std::vector<uint32_t>& top,
                          std::span<Ranked> out);
  // ScoreGroups for a model with an HNSW index: the requests qs (rows of `histories`) are
  // folded in and searched (FactorIndex::TopK keeps their exclusions and allow lists).
  static void AnswerFromIndex(const ServableModel& m, const CsrMatrix& histories,
                              std::span<const size_t> qs,
                              std::span<const RecommendRequest> requests,
                              std::span<const Prepared> prep, std::span<Ranked> out);

  void Route(const Request& req, std::string_view path, Respond& done);
  // The pattern of the rows serving `path` (a literal path, else the matching pattern with the
  // fewest parameters; `params` gets its values), nullptr when none matches.
  const std::string* MatchPattern(std::string_view path, PathParams* params) const;
  // The row of `pattern` for `method` (HEAD: the GET row) or nullptr; `allow` (when not null)
  // gets the methods the pattern has, for a 405.
  const RouteRow* RowOf(const std::string& pattern, std::string_view method,
                        std::string* allow) const;
  // models_->Get(ref), or GetOrLoad when loading on demand.
  std::shared_ptr<const ServableModel> Recommender(std::string_view ref) const;
  void AddOwnRoutes();
  Response Ready() const;
  Response BatchRecommend(const nlohmann::json& body) const;
  void Reload(Respond& done);
  Response Similar(const nlohmann::json& body) const;
  // Moves `done` out only once the events are handed to the log (errors before that throw).
  void Events(const nlohmann::json& body, Respond& done);

  ModelManager* models_;
  EventLog* events_;  // may be null: /v1/events answers 503
  ServingMetrics* metrics_;
  ApiKeys keys_;
  ServiceLimits limits_;
  ExperimentRouter* experiments_ = nullptr;
  ShadowScorer* shadow_ = nullptr;
  bool load_on_demand_ = false;
  std::vector<RouteRow> routes_;
  std::vector<std::string> paths_;  // each path of routes_ once: the metrics' route labels
  struct ListedKind {
    std::string key;   // in /v1/models and /admin/reload
    std::string kind;  // the model manager's kind
  };
  std::vector<ListedKind> model_kinds_;
  std::function<std::string()> metrics_text_;
  struct ReadinessCheck {
    std::string what;
    std::function<bool(std::string*)> writable;
  };
  std::vector<ReadinessCheck> readiness_checks_;
};

}  // namespace marquee

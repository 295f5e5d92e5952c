#include "serving/service.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <ctime>
#include <iterator>
#include <limits>
#include <unordered_set>

#include "common/text.h"
#include "common/top_k.h"
#include "events/event_log.h"
#include "marquee/error.h"
#include "registry/registry.h"
#include "serving/experiment_router.h"
#include "serving/shadow.h"

namespace marquee {
namespace {

using json = nlohmann::json;

std::string_view PathOf(std::string_view target) {
  auto q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// The path of the first string (key or value) of `j` holding U+FFFD, or "" (searched to a depth
// of 32: the JSON's nesting is the caller's, and this recursion must stay bounded).
std::string FirstReplaced(const json& j, const std::string& where, int depth = 0) {
  if (depth > 32) return "";
  if (j.is_string()) {
    return j.get_ref<const std::string&>().find(kReplacement) != std::string::npos ? where : "";
  }
  if (j.is_object()) {
    for (const auto& [key, v] : j.items()) {
      const std::string name =
          where.empty() ? QuoteForMessage(key, 64) : where + "." + QuoteForMessage(key, 64);
      if (key.find(kReplacement) != std::string_view::npos) return name;
      if (std::string found = FirstReplaced(v, name, depth + 1); !found.empty()) return found;
    }
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) {
      std::string found = FirstReplaced(j[i], fmt::format("{}[{}]", where, i), depth + 1);
      if (!found.empty()) return found;
    }
  }
  return "";
}

// JSON text must be UTF-8 (RFC 8259). Names the field holding the first invalid byte when the
// body parses once invalid bytes are replaced (unless the body already held U+FFFD there).
[[noreturn]] void FailInvalidUtf8(const std::string& body, size_t offset) {
  std::string field;
  if (body.find(kReplacement) == std::string::npos) {
    json j = json::parse(SanitizeUtf8(body), nullptr, /*allow_exceptions=*/false);
    if (!j.is_discarded()) field = FirstReplaced(j, "");
  }
  Fail(ErrorCode::kInvalidArgument,
       "{}not valid UTF-8: byte 0x{:02x} at offset {} of the request body (JSON text must be "
       "UTF-8)",
       field.empty() ? std::string() : field + ": ", static_cast<unsigned char>(body[offset]),
       offset);
}

// No request of the API nests deeper than a few levels; copying or printing a JSON value recurses
// once per level, so a body of a million '[' would overflow the stack later.
constexpr int kMaxNesting = 64;

// Visits the brackets of `body` that are outside strings: `fn(offset, depth)` after each opening
// or closing one changed the depth, until `fn` returns false. Returns the offset it stopped at,
// or body.size().
template <typename Fn>
size_t ForEachBracket(std::string_view body, Fn&& fn) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{' || c == ']' || c == '}') {
      depth += c == '[' || c == '{' ? 1 : -1;
      if (!fn(i, depth)) return i;
    }
  }
  return body.size();
}

void CheckNesting(std::string_view body) {
  ForEachBracket(body, [](size_t i, int depth) {
    if (depth > kMaxNesting) {
      Fail(ErrorCode::kInvalidArgument,
           "the request body nests arrays and objects deeper than {} levels (at offset {})",
           kMaxNesting, i);
    }
    return true;
  });
}

json ParseBody(const std::string& body) {
  if (body.empty())
    Fail(ErrorCode::kInvalidArgument, "the request body is empty; send a JSON object");
  if (size_t bad = FirstInvalidUtf8(body); bad != body.size()) FailInvalidUtf8(body, bad);
  CheckNesting(body);
  try {
    json j = json::parse(body);
    if (!j.is_object()) Fail(ErrorCode::kInvalidArgument, "the request body must be a JSON object");
    return j;
  } catch (const json::parse_error& e) {
    // The parser quotes the bytes it read last, which may stop inside a UTF-8 character.
    Fail(ErrorCode::kInvalidArgument, "malformed JSON: {}", EscapeForTerminal(e.what()));
  }
}

std::string TypeName(const json& v) { return v.type_name(); }

std::string FieldName(std::string_view where, std::string_view key) {
  return where.empty() ? std::string(key) : fmt::format("{}.{}", where, key);
}

std::string GetString(const json& j, std::string_view where, const char* key) {
  const json& v = j.at(key);
  if (!v.is_string()) {
    Fail(ErrorCode::kInvalidArgument, "{}: must be a string, got {}", FieldName(where, key),
         TypeName(v));
  }
  const std::string& text = v.get_ref<const std::string&>();
  if (size_t bad = FirstInvalidUtf8(text); bad != text.size()) {
    Fail(ErrorCode::kInvalidArgument, "{}: not valid UTF-8 (byte 0x{:02x} at offset {})",
         FieldName(where, key), static_cast<unsigned char>(text[bad]), bad);
  }
  if (size_t nul = text.find('\0'); nul != std::string::npos) {
    Fail(ErrorCode::kInvalidArgument, "{}: contains a NUL character (at offset {})",
         FieldName(where, key), nul);
  }
  return text;
}

// Refuses id text that must not reach a log or a response: empty, over `max_bytes`, not valid
// UTF-8, or holding a NUL. kInvalidArgument naming the field.
void CheckIdText(std::string_view s, const std::string& name, size_t max_bytes) {
  if (s.empty()) Fail(ErrorCode::kInvalidArgument, "{}: must not be empty", name);
  if (s.size() > max_bytes) {
    Fail(ErrorCode::kInvalidArgument, "{}: {} bytes, the limit is {}", name, s.size(), max_bytes);
  }
  if (size_t bad = FirstInvalidUtf8(s); bad != s.size()) {
    Fail(ErrorCode::kInvalidArgument, "{}: not valid UTF-8 (byte 0x{:02x} at offset {})", name,
         static_cast<unsigned char>(s[bad]), bad);
  }
  if (size_t nul = s.find('\0'); nul != std::string_view::npos) {
    Fail(ErrorCode::kInvalidArgument, "{}: contains a NUL character (at offset {})", name, nul);
  }
}

// Ids to look up (users, items): no length limit of their own (catalogues may hold long ids),
// the body limit bounds them.
constexpr size_t kLookupIdBytes = SIZE_MAX;
// Ids that are stored (events): as the event log allows.
constexpr size_t kStoredIdBytes = 256;
// Event times: Unix seconds from 1970 to the end of year 9999.
constexpr int64_t kMaxTs = 253402300799;

// Ids may be sent as strings or integers (MovieLens ids look numeric); both mean the same id.
std::string GetId(const json& v, const std::string& name, size_t max_bytes = kLookupIdBytes) {
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    CheckIdText(s, name, max_bytes);
    return s;
  }
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
  for (size_t i = 0; i < v.size(); ++i) {
    // An id that GetId takes as it is (a non-empty valid string without NUL) skips it, so the
    // entry's name is formatted only for an error.
    if (const json& e = v[i]; e.is_string()) {
      const std::string& s = e.get_ref<const std::string&>();
      if (!s.empty() && IsValidUtf8(s) && s.find('\0') == std::string::npos) {
        out.push_back(s);
        continue;
      }
    }
    out.push_back(GetId(v[i], fmt::format("{}[{}]", name, i)));
  }
  return out;
}

// An integer field within [lo, hi]. JSON integers above INT64_MAX arrive as unsigned and must not
// wrap: they are refused like any other out-of-range value, quoting the number as sent.
int64_t GetInt(const json& v, const std::string& name, int64_t lo, int64_t hi) {
  if (!v.is_number_integer()) {
    Fail(ErrorCode::kInvalidArgument, "{}: must be an integer, got {}", name, TypeName(v));
  }
  const bool wraps = v.is_number_unsigned() &&
                     v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  const int64_t x = wraps ? 0 : v.get<int64_t>();
  if (wraps || x < lo || x > hi) {
    Fail(ErrorCode::kInvalidArgument, "{}: {} is out of range [{}, {}]", name, v.dump(), lo, hi);
  }
  return x;
}

uint32_t GetK(const json& j, std::string_view where, uint32_t max_k) {
  return static_cast<uint32_t>(GetInt(j.at("k"), FieldName(where, "k"), 1, max_k));
}

uint32_t ItemIndex(const ServableModel& m, const std::string& id, const std::string& field) {
  const std::optional<uint32_t> i = m.item_index.Find(id);
  if (!i) {
    Fail(ErrorCode::kNotFound, "{}: unknown item '{}' (not in {} v{})", field, QuoteForMessage(id),
         m.name, m.version);
  }
  return *i;
}

// The same for entry `i` of the list `list`: the field's name ("list[i]") is formatted only for
// the error, not for every id of every request.
uint32_t ItemIndex(const ServableModel& m, const std::string& id, std::string_view list, size_t i) {
  const std::optional<uint32_t> index = m.item_index.Find(id);
  if (!index) return ItemIndex(m, id, fmt::format("{}[{}]", list, i));
  return *index;
}

json ErrorJson(ErrorCode code, const std::string& message) {
  // Messages quote user text: make sure the body is valid UTF-8 whatever they hold.
  return {{"error",
           {{"code", ErrorCodeName(code)},
            {"message", IsValidUtf8(message) ? message : SanitizeUtf8(message)}}}};
}

// Per-thread scratch for scores, so a request allocates no catalogue-sized buffer.
std::vector<float>& ScoreBuffer(size_t n) {
  thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf;
}

// One element of POST /v1/events as an Event (ts defaults to `now`); kInvalidArgument naming
// `where` and the field.
Event ParseEvent(const json& e, const std::string& where, int64_t now) {
  if (!e.is_object()) {
    Fail(ErrorCode::kInvalidArgument, "{}: must be an object, got {}", where, TypeName(e));
  }
  CheckKnownFields(e, where, {"user", "item", "type", "value", "ts"});
  Event ev;
  if (!e.contains("user")) Fail(ErrorCode::kInvalidArgument, "{}.user: missing", where);
  if (!e.contains("item")) Fail(ErrorCode::kInvalidArgument, "{}.item: missing", where);
  ev.user = GetId(e["user"], where + ".user", kStoredIdBytes);
  ev.item = GetId(e["item"], where + ".item", kStoredIdBytes);
  if (e.contains("type")) ev.type = GetString(e, where, "type");
  if (e.contains("value")) {
    const json& v = e["value"];
    if (!v.is_number()) {
      Fail(ErrorCode::kInvalidArgument, "{}.value: must be a number, got {}", where, TypeName(v));
    }
    const double x = v.get<double>();
    if (!(std::abs(x) <= std::numeric_limits<float>::max())) {
      Fail(ErrorCode::kInvalidArgument, "{}.value: {} does not fit in a float32 (|value| <= {})",
           where, v.dump(), std::numeric_limits<float>::max());
    }
    ev.value = static_cast<float>(x);
  }
  if (e.contains("ts")) {
    if (!e["ts"].is_number_integer()) {
      Fail(ErrorCode::kInvalidArgument, "{}.ts: must be integer Unix seconds, got {}", where,
           TypeName(e["ts"]));
    }
    ev.ts = GetInt(e["ts"], where + ".ts", 0, kMaxTs);
  } else {
    ev.ts = now;
  }
  ValidateEvent(ev, where);
  return ev;
}

}  // namespace

std::shared_ptr<const ServableModel> Service::Recommender(std::string_view ref) const {
  if (!load_on_demand_ || models_->Find(ref, kKindRecommender) != nullptr) return models_->Get(ref);
  // Not served yet: resolve it in the registry, load it on this thread, and serve it from now
  // on, following its alias like every model (ModelManager::GetOrLoad).
  try {
    ParseModelRef(std::string(ref));
  } catch (const Error&) {
    return models_->Get(ref);  // not a reference at all: "unknown model ..." as before
  }
  try {
    return std::static_pointer_cast<const ServableModel>(models_->GetOrLoad(ref, kKindRecommender));
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kNotFound) throw;
    Fail(ErrorCode::kNotFound, "unknown model '{}': {}", QuoteForMessage(ref), e.what());
  }
}

std::vector<std::string> Service::RouteLabels() const {
  std::vector<std::string> labels = paths_;
  labels.push_back("other");
  return labels;
}

size_t Service::RouteIndex(std::string_view target) const {
  const std::string_view path = PathOf(target);
  for (size_t i = 0; i < paths_.size(); ++i) {
    // A literal row: the common case, no parsing.
    if (paths_[i] == path && paths_[i].find('{') == std::string::npos) return i;
  }
  size_t best = paths_.size();
  int best_params = 0;
  for (size_t i = 0; i < paths_.size(); ++i) {
    const int n = RouteParamCount(paths_[i]);
    if (n == 0 || (best != paths_.size() && n >= best_params)) continue;
    if (MatchRoute(paths_[i], path, nullptr)) {
      best = i;
      best_params = n;
    }
  }
  return best;
}

const std::string& Request::param(std::string_view name) const {
  for (const auto& [k, v] : params) {
    if (k == name) return v;
  }
  Fail(ErrorCode::kInternal, "route {} has no parameter '{}'", QuoteForMessage(target), name);
}

std::optional<std::string> Request::query(std::string_view name) const {
  std::optional<std::string> out;
  for (auto& [k, v] : ParseQuery(target)) {
    if (k == name) out = std::move(v);
  }
  return out;
}

std::vector<std::string> Request::query_all(std::string_view name) const {
  std::vector<std::string> out;
  for (auto& [k, v] : ParseQuery(target)) {
    if (k == name) out.push_back(std::move(v));
  }
  return out;
}

std::string DumpJson(const json& j) {
  return j.dump(-1, ' ', /*ensure_ascii=*/false, json::error_handler_t::replace);
}

void CheckKnownFields(const json& j, std::string_view where,
                      std::initializer_list<std::string_view> known) {
  for (const auto& [key, v] : j.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::string list;
      for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      Fail(ErrorCode::kInvalidArgument, "{}: unknown field '{}' (expected: {})", where,
           QuoteForMessage(key, 64), list);
    }
  }
}

Response Service::ToResponse(const Ranked& r) {
  if (r.error) return ErrorResponse(r.error->first, r.error->second);
  Response out;
  out.body.reserve(64 + 48 * r.items.size());
  r.AppendJson(out.body);
  return out;
}

Response Service::ErrorResponse(ErrorCode code, const std::string& message) {
  return ErrorResponse(HttpStatusFor(code), code, message);
}

Response Service::ErrorResponse(int status, ErrorCode code, const std::string& message) {
  Response r;
  r.status = status;
  r.body = DumpJson(ErrorJson(code, message));
  return r;
}

Service::Service(ModelManager* models, EventLog* events, ServingMetrics* metrics, ApiKeys keys,
                 ServiceLimits limits)
    : models_(models), events_(events), metrics_(metrics), keys_(std::move(keys)), limits_(limits) {
  AddOwnRoutes();
  if (events_ != nullptr) {
    add_readiness_check("event log", [e = events_](std::string* why) { return e->writable(why); });
  }
}

void Service::add_readiness_check(std::string what,
                                  std::function<bool(std::string* reason)> writable) {
  readiness_checks_.push_back({std::move(what), std::move(writable)});
}

void Service::AddRoute(RouteRow row) {
  if (row.method != "GET" && row.method != "POST" && row.method != "PUT" &&
      row.method != "DELETE") {
    Fail(ErrorCode::kInvalidArgument, "AddRoute {}: method {} (GET, POST, PUT or DELETE)", row.path,
         row.method);
  }
  ValidateRoutePattern(row.path);
  for (RouteRow& r : routes_) {
    if (r.method == row.method && r.path == row.path) {
      r = std::move(row);
      return;
    }
  }
  if (std::find(paths_.begin(), paths_.end(), row.path) == paths_.end()) {
    paths_.push_back(row.path);
    if (metrics_ != nullptr) metrics_->AddRoute(row.path);
  }
  routes_.push_back(std::move(row));
}

std::function<void(const Request&, Respond&)> Service::JsonBody(JsonRoute handler) {
  return
      [h = std::move(handler)](const Request& req, Respond& done) { h(ParseBody(req.body), done); };
}

void Service::add_model_kind(std::string key, std::string kind) {
  model_kinds_.push_back({std::move(key), std::move(kind)});
}

RecommendRequest ParseRecommendRequest(const json& j, std::string_view where,
                                       const ServiceLimits& limits) {
  if (!j.is_object()) {
    Fail(ErrorCode::kInvalidArgument, "{}: must be a JSON object, got {}",
         where.empty() ? "request" : where, TypeName(j));
  }
  CheckKnownFields(j, where.empty() ? "request" : where,
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
    CheckKnownFields(f, fw, {"allow", "deny"});
    if (f.contains("allow")) r.allow = GetIdList(f, fw, "allow", limits.max_history);
    if (f.contains("deny")) r.deny = GetIdList(f, fw, "deny", limits.max_history);
  }
  if (!r.user && !r.history) {
    Fail(ErrorCode::kInvalidArgument, "{}: give 'user', 'history' or both",
         where.empty() ? "request" : where);
  }
  return r;
}

RecommendRequest ParseRecommendBody(const std::string& body, const ServiceLimits& limits) {
  return ParseRecommendRequest(ParseBody(body), "", limits);
}

namespace {

namespace od = simdjson::ondemand;

// A string value that ParseRecommendRequest's GetString takes as it is (no NUL); false otherwise.
// The body's UTF-8 was validated by simdjson as a whole.
bool FastString(od::value& v, std::string& out) {
  std::string_view s;
  if (v.get_string().get(s) || s.find('\0') != std::string_view::npos) return false;
  out.assign(s);
  return true;
}

// Whether `body` holds nothing but JSON whitespace after its first object (On Demand stops at the
// end of the object it iterated and, in this simdjson, cannot say whether text follows).
bool OnlyOneValue(std::string_view body) {
  const size_t end = ForEachBracket(body, [](size_t, int depth) { return depth != 0; });
  if (end == body.size()) return false;
  return body.find_first_not_of(" \t\n\r", end + 1) == std::string_view::npos;
}

// An id as GetId takes a string as it is: not empty, no NUL.
bool FastId(od::value& v, std::string& out) { return FastString(v, out) && !out.empty(); }

// An array of at most `max` string ids; anything else (numbers, more entries) is the slow path's.
bool FastIdList(od::value& v, size_t max, std::vector<std::string>& out) {
  od::array arr;
  if (v.get_array().get(arr)) return false;
  out.clear();
  for (auto element : arr) {
    od::value e;
    if (element.get(e)) return false;
    if (out.size() == max) return false;  // kResourceExhausted, said by the slow path
    out.emplace_back();
    if (!FastId(e, out.back())) return false;
  }
  return true;
}

bool FastFilter(od::value& v, size_t max, RecommendRequest& r) {
  od::object obj;
  if (v.get_object().get(obj)) return false;
  bool have_allow = false, have_deny = false;
  for (auto field : obj) {
    std::string_view key;
    od::value fv;
    if (field.unescaped_key().get(key) || field.value().get(fv)) return false;
    if (key == "allow" && !have_allow) {
      have_allow = true;
      r.allow.emplace();
      if (!FastIdList(fv, max, *r.allow)) return false;
    } else if (key == "deny" && !have_deny) {
      have_deny = true;
      if (!FastIdList(fv, max, r.deny)) return false;
    } else {
      return false;  // unknown or repeated (nlohmann keeps the last): the slow path
    }
  }
  return true;
}

}  // namespace

bool ParseRecommendRequestFast(std::string_view body, const ServiceLimits& limits,
                               RecommendRequest& r) {
  // The thread's parser and copy keep the capacity of the largest body they took: bounded here
  // (a request is a few hundred bytes; longer ones take the nlohmann path).
  constexpr size_t kMaxFastBody = 64 << 10;
  if (body.size() > kMaxFastBody) return false;
  thread_local od::parser parser;
  thread_local std::string padded;
  padded.assign(body);
  padded.resize(body.size() + simdjson::SIMDJSON_PADDING, ' ');
  r = RecommendRequest{};
  od::document doc;
  if (parser.iterate(padded.data(), body.size(), padded.size()).get(doc)) return false;
  od::object obj;
  if (doc.get_object().get(obj)) return false;
  enum Seen : unsigned {
    kModel = 1,
    kUser = 2,
    kK = 4,
    kExclude = 8,
    kHistory = 16,
    kFilter = 32,
    kExperiment = 64
  };
  unsigned seen = 0;
  for (auto field : obj) {
    std::string_view key;
    od::value v;
    if (field.unescaped_key().get(key) || field.value().get(v)) return false;
    unsigned bit = 0;
    if (key == "model") {
      bit = kModel;
      if (!FastString(v, r.model)) return false;
    } else if (key == "user") {
      bit = kUser;
      bool null = false;
      if (v.is_null().get(null)) return false;
      if (!null && !FastId(v, r.user.emplace())) return false;
      if (null) r.user.reset();
    } else if (key == "k") {
      bit = kK;
      int64_t k = 0;
      if (v.get_int64().get(k) || k < 1 || k > static_cast<int64_t>(limits.max_k)) return false;
      r.k = static_cast<uint32_t>(k);
    } else if (key == "exclude_seen") {
      bit = kExclude;
      if (v.get_bool().get(r.exclude_seen)) return false;
    } else if (key == "history") {
      bit = kHistory;
      if (!FastIdList(v, limits.max_history, r.history.emplace())) return false;
    } else if (key == "filter") {
      bit = kFilter;
      if (!FastFilter(v, limits.max_history, r)) return false;
    } else if (key == "experiment") {
      bit = kExperiment;
      if (!FastString(v, r.experiment.emplace())) return false;
    }
    if (bit == 0 || (seen & bit) != 0) return false;  // unknown or repeated: the slow path
    seen |= bit;
  }
  if (!OnlyOneValue(body)) return false;  // trailing text: the slow path names it
  // Exactly one of model and experiment, and someone to recommend for.
  if (((seen & kModel) != 0) == ((seen & kExperiment) != 0)) return false;
  return r.user.has_value() || r.history.has_value();
}

namespace {

// Appends `s` as DumpJson writes a JSON string: as it is between quotes when no byte needs
// escaping or replacing (the common case: ids and names), else through DumpJson itself.
void AppendJsonString(std::string& out, std::string_view s) {
  const bool plain = std::all_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
  });
  if (!plain) {
    out += DumpJson(json(std::string(s)));
    return;
  }
  out += '"';
  out.append(s);
  out += '"';
}

// Appends a float as DumpJson writes it (nlohmann stores it as a double: the shortest digits that
// read back as that double, by nlohmann's own to_chars; non-finite values as null).
void AppendJsonNumber(std::string& out, double x) {
  if (!std::isfinite(x)) {
    out += "null";
    return;
  }
  char buf[64];
  const char* end = nlohmann::detail::to_chars(buf, buf + sizeof(buf), x);
  out.append(buf, static_cast<size_t>(end - buf));
}

}  // namespace

void Ranked::AppendJson(std::string& out) const {
  if (error || model == nullptr) {
    out += DumpJson(ToJson());
    return;
  }
  // The keys in nlohmann's order (sorted): fallback, history, items, model, version.
  out += '{';
  if (fallback) out += R"("fallback":"popularity",)";
  if (history_unavailable) out += R"("history":"unavailable",)";
  out += R"("items":[)";
  for (size_t i = 0; i < items.size(); ++i) {
    out += i == 0 ? R"({"id":)" : R"(,{"id":)";
    AppendJsonString(out, model->bundle.item_ids[items[i]]);
    out += R"(,"score":)";
    AppendJsonNumber(out, scores[i]);
    out += '}';
  }
  out += R"(],"model":)";
  AppendJsonString(out, model->name);
  out += R"(,"version":)";
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), model->version);
  out.append(buf, static_cast<size_t>(end - buf));
  out += '}';
}

json Ranked::ToJson() const {
  if (error) return ErrorJson(error->first, error->second);
  json items = json::array();
  for (size_t i = 0; i < this->items.size(); ++i) {
    items.push_back({{"id", model->bundle.item_ids[this->items[i]]}, {"score", scores[i]}});
  }
  json out = {{"model", model->name}, {"version", model->version}, {"items", std::move(items)}};
  if (fallback) out["fallback"] = "popularity";
  if (history_unavailable) out["history"] = "unavailable";
  return out;
}

std::vector<json> Service::Recommend(const std::vector<RecommendRequest>& requests) const {
  std::vector<json> out;
  out.reserve(requests.size());
  for (const Ranked& r : Rank(requests)) out.push_back(r.ToJson());
  return out;
}

// One request on its way through Rank: its model, history and filters, or why it failed.
struct Service::Prepared {
  std::shared_ptr<const ServableModel> model;
  std::vector<uint32_t> history;   // sorted unique item indices (positives)
  std::vector<uint32_t> excluded;  // sorted unique
  std::vector<uint32_t> allow;     // sorted unique (when has_allow)
  bool has_allow = false;
  // The user's row in model->known_scores when their history is exactly their training row.
  int64_t cached_user = -1;
  // A known user's index in the training data (their training row), else -1.
  int64_t training_user = -1;
  // What the history holds beyond the training row (sorted), when `grown`: the history is
  // scored as the training row's kept sum plus these rows (AnswerFromTrainingSums).
  std::vector<uint32_t> extra;
  bool grown = false;
  bool history_unavailable = false;  // the event log could not be read (Ranked's)
  std::optional<std::pair<ErrorCode, std::string>> error;  // the request failed before scoring

  // Which stage answers the request.
  enum class Path { kFailed, kFallback, kCached, kGrown, kScored };
  Path path() const {
    if (error) return Path::kFailed;
    if (history.empty()) return Path::kFallback;  // nothing to fold in
    if (cached_user >= 0) return Path::kCached;
    return grown ? Path::kGrown : Path::kScored;
  }
};

std::vector<Ranked> Service::Rank(
    std::span<const RecommendRequest> requests,
    std::span<const std::shared_ptr<const ServableModel>> resolved) const {
  static const std::shared_ptr<const ServableModel> kUnresolved;
  const auto start = std::chrono::steady_clock::now();
  std::vector<Prepared> prep(requests.size());
  for (size_t q = 0; q < requests.size(); ++q) {
    PrepareRequest(requests[q], q < resolved.size() ? resolved[q] : kUnresolved, prep[q]);
  }
  std::vector<Ranked> out(requests.size());
  std::vector<uint32_t> top;  // top-k scratch shared by the stages
  for (size_t q = 0; q < prep.size(); ++q) {
    if (prep[q].path() == Prepared::Path::kFallback) {
      AnswerFromPopularity(prep[q], requests[q].k, out[q]);
    }
  }
  AnswerFromCache(requests, prep, top, out);
  AnswerFromTrainingSums(requests, prep, top, out);
  CountRankings(prep);
  ScoreGroups(requests, prep, top, out);
  for (size_t q = 0; q < prep.size(); ++q) {
    if (prep[q].error) out[q].error = std::move(prep[q].error);
    out[q].history_unavailable = prep[q].history_unavailable;
  }
  // Each request that reached a version counts on it, with the whole call's time.
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (size_t q = 0; q < prep.size(); ++q) {
    if (prep[q].model) ObserveVersion(*prep[q].model, out[q].error.has_value(), seconds);
  }
  return out;
}

void Service::PrepareRequest(const RecommendRequest& r,
                             const std::shared_ptr<const ServableModel>& resolved,
                             Prepared& p) const {
  try {
    p.model = resolved ? resolved : Recommender(r.model);
    std::vector<uint32_t> seen;  // items of the user's logged events, positive or not
    AssembleHistory(r, *p.model, seen, p);
    AssembleFilters(r, *p.model, seen, p);
  } catch (const Error& e) {
    p.error.emplace(e.code(), e.what());
  }
}

void Service::AssembleHistory(const RecommendRequest& r, const ServableModel& m,
                              std::vector<uint32_t>& seen, Prepared& p) const {
  if (r.user) {
    bool known = false;
    if (const std::optional<uint32_t> u = m.user_index.Find(*r.user)) {
      known = true;
      p.training_user = *u;
      auto row = m.TrainingItems(*u);
      p.history.assign(row.begin(), row.end());
      if (!m.known_scores.empty() && !r.history) p.cached_user = *u;
    }
    std::vector<StoredEvent> recent;
    if (events_ != nullptr) {
      try {
        recent = events_->Recent(*r.user, limits_.recent_events);
      } catch (const Error& e) {
        // The state is out of reach (Redis down): answer without the recent history, marked.
        if (e.code() != ErrorCode::kUnavailable) throw;
        p.history_unavailable = true;
        known = true;
      }
      for (const StoredEvent& e : recent) {
        known = true;
        const std::optional<uint32_t> i = m.item_index.Find(e.item);
        if (!i) continue;  // an item newer than the model
        seen.push_back(*i);
        if (e.value > 0) {
          p.history.push_back(*i);
          p.cached_user = -1;  // the history grew since training: score it
        }
      }
    }
    if (!known && !r.history) {
      Fail(ErrorCode::kNotFound,
           "unknown user '{}': not in the training data of {} v{} and no events; send "
           "'history' to fold in a new user",
           QuoteForMessage(*r.user), m.name, m.version);
    }
  }
  if (r.history) {
    for (size_t i = 0; i < r.history->size(); ++i) {
      p.history.push_back(ItemIndex(m, (*r.history)[i], "history", i));
    }
  }
  SortUnique(p.history);
  if (p.training_user < 0 || p.cached_user >= 0 || m.additive == nullptr || !m.training_sums ||
      m.index) {
    return;
  }
  // A known user whose history is no longer their training row alone: what it adds.
  const auto row = m.TrainingItems(static_cast<uint32_t>(p.training_user));
  p.extra.clear();
  std::set_difference(p.history.begin(), p.history.end(), row.begin(), row.end(),
                      std::back_inserter(p.extra));
  if (p.extra.empty()) {
    // The events only repeated training items: the cache answers, when there is one.
    if (!m.known_scores.empty()) p.cached_user = p.training_user;
    return;
  }
  p.grown = row.size() + p.extra.size() <= m.additive->max_rows();
}

void Service::AssembleFilters(const RecommendRequest& r, const ServableModel& m,
                              std::span<const uint32_t> seen, Prepared& p) {
  if (r.exclude_seen) p.excluded.insert(p.excluded.end(), p.history.begin(), p.history.end());
  if (r.exclude_seen) p.excluded.insert(p.excluded.end(), seen.begin(), seen.end());
  for (size_t i = 0; i < r.deny.size(); ++i) {
    p.excluded.push_back(ItemIndex(m, r.deny[i], "filter.deny", i));
  }
  SortUnique(p.excluded);
  if (r.allow) {
    p.has_allow = true;
    for (size_t i = 0; i < r.allow->size(); ++i) {
      p.allow.push_back(ItemIndex(m, (*r.allow)[i], "filter.allow", i));
    }
    SortUnique(p.allow);
  }
}

void Service::AnswerFromPopularity(const Prepared& p, uint32_t k, Ranked& o) {
  const ServableModel& m = *p.model;
  if (p.has_allow) {
    TopKOf(m.popularity, p.allow, p.excluded, k, o.items);
  } else {
    for (uint32_t i : m.popular) {
      if (o.items.size() >= k) break;
      if (!std::binary_search(p.excluded.begin(), p.excluded.end(), i)) o.items.push_back(i);
    }
  }
  o.model = p.model;
  o.fallback = true;
  for (uint32_t i : o.items) o.scores.push_back(m.popularity[i]);
}

void Service::AnswerFromScores(const Prepared& p, uint32_t k, std::span<const float> s,
                               std::vector<uint32_t>& top, Ranked& o) {
  if (p.has_allow) {
    TopKOf(s, p.allow, p.excluded, k, top);
  } else {
    TopK(s, p.excluded, k, top);
  }
  o.model = p.model;
  o.items.reserve(top.size());
  o.scores.reserve(top.size());
  for (uint32_t i : top) {
    if (!std::isfinite(s[i])) continue;  // items the model cannot score
    o.items.push_back(i);
    o.scores.push_back(s[i]);
  }
}

void Service::AnswerFromCache(std::span<const RecommendRequest> requests,
                              std::span<const Prepared> prep, std::vector<uint32_t>& top,
                              std::span<Ranked> out) {
  for (size_t q = 0; q < prep.size(); ++q) {
    const Prepared& p = prep[q];
    if (p.path() != Prepared::Path::kCached) continue;
    const uint32_t n = p.model->num_items();
    AnswerFromScores(p, requests[q].k,
                     {p.model->known_scores.data() + static_cast<size_t>(p.cached_user) * n, n},
                     top, out[q]);
  }
}

void Service::AnswerFromTrainingSums(std::span<const RecommendRequest> requests,
                                     std::span<const Prepared> prep, std::vector<uint32_t>& top,
                                     std::span<Ranked> out) {
  thread_local std::vector<double> acc;
  for (size_t q = 0; q < prep.size(); ++q) {
    const Prepared& p = prep[q];
    if (p.path() != Prepared::Path::kGrown) continue;
    const ServableModel& m = *p.model;
    const uint32_t user = static_cast<uint32_t>(p.training_user);
    acc.resize(m.additive->accumulator_size());
    try {
      if (!m.training_sums->CopyTo(user, acc.data())) {
        std::fill(acc.begin(), acc.end(), 0.0);
        m.additive->Accumulate(m.TrainingItems(user), acc.data());
        m.training_sums->Put(user, acc.data());
      }
      m.additive->Accumulate(p.extra, acc.data());
      const uint32_t n = m.num_items();
      std::span<float> scores(ScoreBuffer(n).data(), n);
      m.additive->Finish(acc.data(), scores);
      AnswerFromScores(p, requests[q].k, scores, top, out[q]);
    } catch (const Error& e) {
      out[q].error.emplace(e.code(), e.what());
    }
  }
}

void Service::CountRankings(std::span<const Prepared> prep) const {
  if (metrics_ == nullptr) return;
  uint64_t cached = 0, scored = 0, fallback = 0, grown = 0;
  for (const Prepared& p : prep) {
    switch (p.path()) {
      case Prepared::Path::kFailed:
        break;
      case Prepared::Path::kFallback:
        ++fallback;
        break;
      case Prepared::Path::kCached:
        ++cached;
        break;
      case Prepared::Path::kGrown:
        ++grown;
        break;
      case Prepared::Path::kScored:
        ++scored;
        break;
    }
  }
  metrics_->AddRankings(cached, scored, fallback, grown);
}

void Service::ScoreGroups(std::span<const RecommendRequest> requests,
                          std::span<const Prepared> prep, std::vector<uint32_t>& top,
                          std::span<Ranked> out) {
  // The scored requests by model, in order of first appearance (a call holds one or a few).
  std::vector<std::pair<const ServableModel*, std::vector<size_t>>> groups;
  for (size_t q = 0; q < prep.size(); ++q) {
    if (prep[q].path() != Prepared::Path::kScored) continue;
    auto g = std::find_if(groups.begin(), groups.end(),
                          [&](const auto& e) { return e.first == prep[q].model.get(); });
    if (g == groups.end()) g = groups.insert(groups.end(), {prep[q].model.get(), {}});
    g->second.push_back(q);
  }
  Context ctx;
  ctx.threads = 1;  // requests are the parallelism; the io threads are the cores
  // The histories as a matrix, reused by the thread: a request allocates none of it.
  thread_local CsrMatrix h;
  for (const auto& [mp, qs] : groups) {
    const ServableModel& m = *mp;
    const uint32_t n = m.num_items();
    h.rows = 0;
    h.cols = n;
    h.indptr.assign(1, 0);
    h.indices.clear();
    for (size_t q : qs) {
      // Sorted unique indices below n (PrepareRequest): the row as AppendRow would store it.
      h.indices.insert(h.indices.end(), prep[q].history.begin(), prep[q].history.end());
      h.indptr.push_back(h.indices.size());
      ++h.rows;
    }
    h.values.assign(h.indices.size(), 1.0f);  // binary: every value 1
    if (m.index) {  // an HNSW index: fold in, then search instead of scoring every item
      AnswerFromIndex(m, h, qs, requests, prep, out);
      continue;
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
      AnswerFromScores(prep[qs[row]], requests[qs[row]].k, {scores.data() + row * n, n}, top,
                       out[qs[row]]);
    }
  }
}

void Service::AnswerFromIndex(const ServableModel& m, const CsrMatrix& histories,
                              std::span<const size_t> qs,
                              std::span<const RecommendRequest> requests,
                              std::span<const Prepared> prep, std::span<Ranked> out) {
  const size_t d = m.bundle.model->item_factors().dim;
  std::vector<float> queries(qs.size() * d);
  Context ctx;
  ctx.threads = 1;
  try {
    m.bundle.model->FoldIn(histories, queries, ctx);
  } catch (const Error& e) {
    for (size_t q : qs) out[q].error.emplace(e.code(), e.what());
    return;
  }
  for (size_t row = 0; row < qs.size(); ++row) {
    const Prepared& p = prep[qs[row]];
    Ranked& o = out[qs[row]];
    o.model = p.model;
    m.index->TopK(queries.data() + row * d, requests[qs[row]].k, p.excluded,
                  p.has_allow ? &p.allow : nullptr, o.items, o.scores);
  }
}

Response Service::Similar(const json& body) const {
  VersionTimer timer;
  CheckKnownFields(body, "request", {"model", "item", "k", "filter"});
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
    CheckKnownFields(f, "filter", {"allow", "deny"});
    if (f.contains("allow")) {
      allow_ids = GetIdList(f, "filter", "allow", limits_.max_history);
      has_allow = true;
    }
    if (f.contains("deny")) deny_ids = GetIdList(f, "filter", "deny", limits_.max_history);
  }
  auto mp = Recommender(model);
  timer.Served(mp);
  const ServableModel& m = *mp;
  const uint32_t idx = ItemIndex(m, item, "item");
  std::vector<uint32_t> excluded{idx}, allow;
  for (size_t i = 0; i < deny_ids.size(); ++i) {
    excluded.push_back(ItemIndex(m, deny_ids[i], "filter.deny", i));
  }
  for (size_t i = 0; i < allow_ids.size(); ++i) {
    allow.push_back(ItemIndex(m, allow_ids[i], "filter.allow", i));
  }
  SortUnique(excluded);
  const uint32_t n = m.num_items();
  CsrMatrix h;
  h.cols = n;
  const float one = 1.0f;
  h.AppendRow(std::span<const uint32_t>(&idx, 1), std::span<const float>(&one, 1));
  Context ctx;
  ctx.threads = 1;
  json items = json::array();
  if (m.index) {  // the item's fold-in searched in the HNSW index, as /v1/recommend does
    std::vector<float> query(m.bundle.model->item_factors().dim);
    m.bundle.model->FoldIn(h, query, ctx);
    std::vector<uint32_t> top;
    std::vector<float> top_scores;
    SortUnique(allow);
    m.index->TopK(query.data(), k, excluded, has_allow ? &allow : nullptr, top, top_scores);
    for (size_t r = 0; r < top.size(); ++r) {
      items.push_back({{"id", m.bundle.item_ids[top[r]]}, {"score", top_scores[r]}});
    }
  } else {
    std::vector<float>& buf = ScoreBuffer(n);
    std::span<float> scores(buf.data(), n);
    m.bundle.model->ScoreBatch(h, scores, ctx);
    std::vector<uint32_t> top;
    if (has_allow) {
      TopKOf(scores, allow, excluded, k, top);
    } else {
      TopK(scores, excluded, k, top);
    }
    for (uint32_t i : top) {
      if (std::isfinite(scores[i]))
        items.push_back({{"id", m.bundle.item_ids[i]}, {"score", scores[i]}});
    }
  }
  Response r;
  r.body =
      DumpJson(json{{"model", m.name}, {"version", m.version}, {"item", item}, {"items", items}});
  timer.Ok();
  return r;
}

void Service::Events(const json& body, Respond& done) {
  if (events_ == nullptr) Fail(ErrorCode::kUnavailable, "this server has no event log");
  CheckKnownFields(body, "request", {"events"});
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
    events.push_back(ParseEvent(arr[i], fmt::format("events[{}]", i), now));
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
                           } catch (...) {
                             done(ErrorResponse(ErrorCode::kInternal, "unknown exception"));
                           }
                           return;
                         }
                         metrics->AddEvents(n);
                         Response r;
                         r.body = DumpJson(json{{"accepted", n}});
                         done(std::move(r));
                       });
}

void Service::Handle(const Request& req, Respond done) {
  const std::string_view path = PathOf(req.target);
  std::optional<Response> failure;
  try {
    Route(req, path, done);
    return;
  } catch (const Error& e) {
    failure = ErrorResponse(e.code(), e.what());
  } catch (const json::exception& e) {
    failure = ErrorResponse(ErrorCode::kInvalidArgument, e.what());
  } catch (const std::bad_alloc&) {
    failure = ErrorResponse(ErrorCode::kResourceExhausted, "out of memory");
  } catch (const std::exception& e) {
    spdlog::error("serve: {} {}: {}", EscapeForTerminal(req.method), QuoteForMessage(path),
                  EscapeForTerminal(e.what()));
    failure = ErrorResponse(ErrorCode::kInternal, e.what());
  } catch (...) {
    spdlog::error("serve: {} {}: unknown exception", EscapeForTerminal(req.method),
                  QuoteForMessage(path));
    failure = ErrorResponse(ErrorCode::kInternal, "unknown exception");
  }
  if (done) done(std::move(*failure));
}

void Service::AddOwnRoutes() {
  // Routes answered at once: the handler's Response is the answer.
  auto sync = [](std::function<Response(const Request&)> fn) {
    return [fn = std::move(fn)](const Request& req, Respond& done) { done(fn(req)); };
  };
  AddRoute({"GET", "/healthz", kScopeNone, sync([](const Request&) {
              Response r;
              r.body = R"({"status":"ok"})";
              return r;
            })});
  AddRoute({"GET", "/readyz", kScopeNone, sync([this](const Request&) { return Ready(); })});
  AddRoute({"GET", "/metrics", kScopeNone, sync([this](const Request&) {
              Response r;
              r.content_type = "text/plain; version=0.0.4";
              std::string extra = models_->MetricsText();
              if (events_ != nullptr) {
                extra += fmt::format(
                    "# HELP marquee_events_group_commits_total Writes of the event log, each "
                    "holding every event queued while the previous one ran (group commit).\n"
                    "# TYPE marquee_events_group_commits_total counter\n"
                    "marquee_events_group_commits_total {}\n",
                    events_->group_commits());
              }
              if (metrics_text_) extra += metrics_text_();
              r.body = metrics_->Render(extra);
              return r;
            })});
  AddRoute({"GET", "/v1/models", kScopeRead, sync([this](const Request&) {
              json d = models_->Describe();
              for (const auto& k : model_kinds_) d[k.key] = models_->Describe(k.kind)["models"];
              Response r;
              r.body = DumpJson(d);
              return r;
            })});
  AddRoute({"POST", "/v1/recommend", kScopeRead, sync([this](const Request& req) {
              // simdjson without a DOM; anything unusual (or wrong) through nlohmann, which
              // names what is wrong.
              RecommendRequest rr;
              if (!ParseRecommendRequestFast(req.body, limits_, rr)) {
                rr = ParseRecommendBody(req.body, limits_);
              }
              // A model under a canary: its requests go through the canary experiment.
              if (!rr.experiment && shadow_ != nullptr && experiments_ != nullptr) {
                if (auto canary = shadow_->CanaryFor(rr.model)) {
                  RecommendRequest xr = rr;
                  xr.experiment = std::move(canary);
                  try {
                    return experiments_->Recommend(xr, *this);
                  } catch (const Error& e) {
                    // Stopped or unknown before this replica's next poll, or a cell still
                    // loading: production answers.
                    if (e.code() != ErrorCode::kFailedPrecondition &&
                        e.code() != ErrorCode::kNotFound && e.code() != ErrorCode::kUnavailable) {
                      throw;
                    }
                  }
                }
              }
              if (!rr.experiment) {
                Ranked ranked = std::move(Rank(std::span(&rr, 1))[0]);
                if (shadow_ != nullptr) shadow_->Offer(rr, ranked);  // copies; never blocks
                return ToResponse(ranked);
              }
              // A/B cells and interleaving: serving/experiment_router.h
              if (experiments_ == nullptr) {
                Fail(ErrorCode::kUnavailable, "this server runs no experiments");
              }
              return experiments_->Recommend(rr, *this);
            })});
  AddRoute({"POST", "/v1/recommend/batch", kScopeRead,
            sync([this](const Request& req) { return BatchRecommend(ParseBody(req.body)); })});
  AddRoute({"POST", "/v1/similar-items", kScopeRead,
            sync([this](const Request& req) { return Similar(ParseBody(req.body)); })});
  AddRoute({"POST", "/v1/events", kScopeWrite,
            JsonBody([this](const json& body, Respond& done) { Events(body, done); })});
  AddRoute({"POST", "/admin/reload", kScopeAdmin,
            [this](const Request&, Respond& done) { Reload(done); }});
}

Response Service::Ready() const {
  if (!models_->ready()) {
    return ErrorResponse(ErrorCode::kUnavailable, "not every model is loaded yet");
  }
  // A log that cannot make writes durable (a full disk) resumes by itself once space is freed,
  // and so does readiness.
  std::string why;
  for (const auto& check : readiness_checks_) {
    if (check.writable(&why)) continue;
    return ErrorResponse(ErrorCode::kUnavailable,
                         fmt::format("the {} cannot store writes: {}", check.what, why));
  }
  Response r;
  r.body = R"({"status":"ready"})";
  return r;
}

Response Service::BatchRecommend(const json& body) const {
  CheckKnownFields(body, "request", {"requests"});
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
  Response r;
  r.body = DumpJson(json{{"responses", Recommend(rs)}});
  return r;
}

// Answered from the model manager's thread.
void Service::Reload(Respond& done) {
  if (experiments_ != nullptr) experiments_->Refresh();  // experiment start/stop, at once
  if (shadow_ != nullptr) shadow_->Refresh();            // shadow and canary settings, at once
  models_->RequestRefresh(
      [d = std::move(done), models = models_, kinds = &model_kinds_](json result) {
        Response rr;
        if (result.contains("error")) {
          rr = ErrorResponse(ErrorCode::kUnavailable, result["error"].get<std::string>());
        } else {
          // The one refresh's outcomes, split by kind: "refresh" the recommenders', KEY_refresh
          // each other kind's.
          auto outcomes = [&](std::string_view kind) {
            json part = json::object();
            for (const std::string& ref : models->Refs(kind)) {
              if (result.contains(ref)) part[ref] = result[ref];
            }
            return part;
          };
          json out = {{"refresh", outcomes(kKindRecommender)},
                      {"models", models->Describe()["models"]}};
          for (const auto& k : *kinds) {
            out[k.key + "_refresh"] = outcomes(k.kind);
            out[k.key] = models->Describe(k.kind)["models"];
          }
          rr.body = DumpJson(out);
        }
        d(std::move(rr));
      });
}

const std::string* Service::MatchPattern(std::string_view path, PathParams* params) const {
  for (const RouteRow& r : routes_) {
    if (r.path == path && r.path.find('{') == std::string::npos) return &r.path;
  }
  const std::string* pattern = nullptr;
  int best_params = 0;
  PathParams found;
  for (const RouteRow& r : routes_) {
    const int n = RouteParamCount(r.path);
    if (n == 0 || (pattern != nullptr && n >= best_params)) continue;
    if (MatchRoute(r.path, path, params != nullptr ? &found : nullptr)) {
      pattern = &r.path;
      best_params = n;
      if (params != nullptr) *params = std::move(found);
    }
  }
  return pattern;
}

const RouteRow* Service::RowOf(const std::string& pattern, std::string_view method,
                               std::string* allow) const {
  const RouteRow* row = nullptr;
  for (const RouteRow& r : routes_) {
    if (r.path != pattern) continue;
    if (r.method == method || (r.method == "GET" && method == "HEAD")) row = &r;
    if (allow != nullptr) {
      *allow += (allow->empty() ? "" : ", ") + r.method + (r.method == "GET" ? ", HEAD" : "");
    }
  }
  return row;
}

const RouteRow* Service::FindRow(std::string_view method, std::string_view target) const {
  const std::string* pattern = MatchPattern(PathOf(target), nullptr);
  return pattern == nullptr ? nullptr : RowOf(*pattern, method, nullptr);
}

void Service::CheckKey(const RouteRow& row, const Request& req) const {
  keys_.Check(req.has_api_key, req.api_key, row.scope, row.path);
}

// `done` is moved out of when the response is asynchronous (events, reload); Handle's catch
// answers only while it is still set.
void Service::Route(const Request& req, std::string_view path, Respond& done) {
  const std::string* pattern = MatchPattern(path, &req.params);
  if (pattern == nullptr) {
    Fail(ErrorCode::kNotFound, "no route {} {}", QuoteForMessage(req.method, 32),
         QuoteForMessage(path));
  }
  std::string allow;  // the methods the pattern has, for a 405
  const RouteRow* row = RowOf(*pattern, req.method, &allow);
  if (row == nullptr) {
    Response r = ErrorResponse(405, ErrorCode::kInvalidArgument,
                               fmt::format("method {} is not allowed on {}; use {}",
                                           QuoteForMessage(req.method, 32), *pattern, allow));
    r.headers.emplace_back("Allow", allow);
    done(std::move(r));
    return;
  }
  CheckKey(*row, req);
  row->handler(req, done);
}

}  // namespace marquee

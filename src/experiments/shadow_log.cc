#include "experiments/shadow_log.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "events/durable_log.h"
#include "marquee/error.h"
#include "registry/registry.h"
#include "state/online_state.h"

namespace marquee {
namespace {

using json = nlohmann::json;

// "s" model '\0': the prefix of one model's records (model names never hold NUL).
std::string Prefix(std::string_view model) {
  std::string k = "s";
  k.append(model);
  k.push_back('\0');
  return k;
}

bool StringList(const json& j, std::vector<std::string>& out) {
  if (!j.is_array()) return false;
  out.clear();
  for (const json& v : j) {
    if (!v.is_string()) return false;
    out.push_back(v.get<std::string>());
  }
  return true;
}

}  // namespace

std::string EncodeShadowRecord(const ShadowRecord& r) {
  return json{{"m", r.model},
              {"pv", r.production_version},
              {"cv", r.candidate_version},
              {"u", r.user},
              {"ts", r.ts},
              {"k", r.k},
              {"p", r.production},
              {"c", r.candidate}}
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

bool DecodeShadowRecord(std::string_view bytes, ShadowRecord& out) {
  const json j = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return false;
  auto str = [&](const char* key, std::string& v) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) return false;
    v = it->get<std::string>();
    return true;
  };
  auto integer = [&](const char* key, int64_t& v) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_integer()) return false;
    v = it->get<int64_t>();
    return true;
  };
  int64_t k = 0;
  if (!str("m", out.model) || !str("u", out.user) || !integer("pv", out.production_version) ||
      !integer("cv", out.candidate_version) || !integer("ts", out.ts) || !integer("k", k) ||
      k < 0 || k > std::numeric_limits<uint32_t>::max()) {
    return false;
  }
  out.k = static_cast<uint32_t>(k);
  auto p = j.find("p"), c = j.find("c");
  return p != j.end() && c != j.end() && StringList(*p, out.production) &&
         StringList(*c, out.candidate);
}

ShadowLog::ShadowLog(std::unique_ptr<DurableLog> log, ShadowLogOptions options)
    : log_(std::move(log)), options_(options) {}

ShadowLog::~ShadowLog() = default;  // DurableLog's destructor drains its queue

std::unique_ptr<ShadowLog> ShadowLog::Open(const std::string& dir, ShadowLogOptions options) {
  DurableLogOptions o;
  o.what = "shadow log";
  o.sync = options.sync;
  o.read_only = options.read_only;
  o.background = true;  // nobody waits on its appends
  return std::unique_ptr<ShadowLog>(new ShadowLog(DurableLog::Open(dir, o), options));
}

bool ShadowLog::writable(std::string* reason) const { return log_->writable(reason); }

bool ShadowLog::Record(const ShadowRecord& r) {
  if (options_.read_only) Fail(ErrorCode::kFailedPrecondition, "shadow log: opened read-only");
  if (pending_.fetch_add(1) >= options_.max_pending) {
    pending_.fetch_sub(1);
    if (dropped_.fetch_add(1) % 10000 == 0) {
      spdlog::warn("shadow log: {} records waiting: shadowed requests are being dropped",
                   options_.max_pending);
    }
    return false;
  }
  std::string key = Prefix(r.model);
  PutBe64(key, static_cast<uint64_t>(std::max<int64_t>(r.ts, 0)));
  std::vector<LogRecord> records;
  records.push_back(LogRecord{std::move(key), EncodeShadowRecord(r)});
  log_->AppendAsync(std::move(records), [this](std::exception_ptr e) {
    pending_.fetch_sub(1);
    if (e) {
      failed_.fetch_add(1);
    } else {
      recorded_.fetch_add(1);
    }
  });
  return true;
}

// An erase of a key no record uses: a real write, queued behind every earlier record, so its
// commit follows theirs.
void ShadowLog::Flush() { log_->Append({LogRecord{"f", "", /*sequenced=*/false, /*erase=*/true}}); }

void ShadowLog::ForEach(std::string_view model, int64_t since, int64_t until,
                        const std::function<bool(const ShadowRecord&)>& fn) const {
  const std::string prefix = Prefix(model);
  std::string from = prefix, upper = prefix;
  PutBe64(from, static_cast<uint64_t>(std::max<int64_t>(since, 0)));
  upper.back() = '\1';  // just past every key of the prefix
  ShadowRecord r;
  log_->Scan(from, upper, [&](std::string_view, std::string_view value) {
    if (!DecodeShadowRecord(value, r)) {
      Fail(ErrorCode::kCorruption, "shadow log: a record of model '{}' is not readable", model);
    }
    if (r.ts >= until) return false;
    return fn(r);
  });
}

json ShadowMetrics(const std::vector<ShadowRecord>& records,
                   const std::function<std::vector<StoredEvent>(const std::string&)>& events_of,
                   const ShadowMetricsOptions& o) {
  std::vector<const ShadowRecord*> kept;
  for (const ShadowRecord& r : records) {
    if (r.ts < o.since || r.ts >= o.until) continue;
    if (o.candidate_version != 0 && r.candidate_version != o.candidate_version) continue;
    kept.push_back(&r);
  }
  std::set<int64_t> pversions, cversions;
  std::unordered_map<std::string, std::vector<const ShadowRecord*>> by_user;
  double overlap_sum = 0, jaccard_sum = 0;
  std::vector<uint64_t> histogram(10, 0);
  for (const ShadowRecord* r : kept) {
    pversions.insert(r->production_version);
    cversions.insert(r->candidate_version);
    by_user[r->user].push_back(r);
    const std::unordered_set<std::string> p(r->production.begin(), r->production.end());
    const std::unordered_set<std::string> c(r->candidate.begin(), r->candidate.end());
    size_t both = 0;
    for (const std::string& item : c) both += p.count(item);
    const size_t either = p.size() + c.size() - both;
    const double jaccard = either == 0 ? 1.0 : static_cast<double>(both) / either;
    const double k = std::max<double>(1, r->k);
    overlap_sum += std::min(1.0, static_cast<double>(both) / k);
    jaccard_sum += jaccard;
    ++histogram[std::min<size_t>(9, static_cast<size_t>(jaccard * 10))];
  }
  const std::unordered_set<std::string> types(o.event_types.begin(), o.event_types.end());
  uint64_t with_plays = 0, plays_total = 0;
  double recall_p = 0, recall_c = 0;
  for (auto& [user, rs] : by_user) {
    std::vector<StoredEvent> events = events_of(user);
    for (const ShadowRecord* r : rs) {
      std::unordered_set<std::string> plays;
      for (const StoredEvent& e : events) {
        if (e.value <= 0 || e.ts <= r->ts || e.ts > r->ts + o.window) continue;
        if (!types.empty() && !types.count(e.type)) continue;
        plays.insert(e.item);
      }
      if (plays.empty()) continue;
      ++with_plays;
      plays_total += plays.size();
      auto recall = [&](const std::vector<std::string>& list) {
        size_t hits = 0;
        for (const std::string& item : std::unordered_set<std::string>(list.begin(), list.end())) {
          hits += plays.count(item);
        }
        const size_t denom = std::min<size_t>(plays.size(), std::max<uint32_t>(1, r->k));
        return std::min(1.0, static_cast<double>(hits) / denom);
      };
      recall_p += recall(r->production);
      recall_c += recall(r->candidate);
    }
  }
  auto mean = [](double sum, uint64_t n) { return n == 0 ? json(nullptr) : json(sum / n); };
  json recall = {
      {"requests_with_plays", with_plays},
      {"plays", plays_total},
      {"production", mean(recall_p, with_plays)},
      {"candidate", mean(recall_c, with_plays)},
      {"difference", with_plays == 0 ? json(nullptr) : json((recall_c - recall_p) / with_plays)}};
  return json{{"requests", kept.size()},
              {"members", by_user.size()},
              {"production_versions", pversions},
              {"candidate_versions", cversions},
              {"window", o.window},
              {"agreement",
               {{"overlap_mean", mean(overlap_sum, kept.size())},
                {"jaccard_mean", mean(jaccard_sum, kept.size())},
                {"jaccard_histogram", histogram}}},
              {"recall", std::move(recall)}};
}

json ShadowMetricsFromHome(const std::string& home, const std::string& model,
                           const ShadowMetricsOptions& o) {
  std::vector<ShadowRecord> records;
  const std::string sdir = home + "/serving/shadow";
  if (std::filesystem::exists(sdir)) {
    auto log = ShadowLog::Open(sdir, ShadowLogOptions{.read_only = true});
    log->ForEach(model, o.since, o.until, [&](const ShadowRecord& r) {
      records.push_back(r);
      return true;
    });
  }
  // The plays are wherever the home's online state is (its RocksDB, or the Redis that every
  // replica of a cluster shares): the shadow records are this replica's, the plays everyone's.
  std::unique_ptr<EventLog> events;
  if (!records.empty()) {
    try {
      std::string where;
      events = OpenEventStoreForRead(home, &where);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kNotFound) throw;  // no event logged yet: no plays
    }
  }
  return ShadowMetrics(
      records,
      [&](const std::string& user) {
        return events ? events->Recent(user, 1u << 20) : std::vector<StoredEvent>{};
      },
      o);
}

ShadowSetting GetShadow(Registry& registry, const std::string& model) {
  MetadataStore& store = registry.store();
  if (!store.GetModel(model)) Fail(ErrorCode::kNotFound, "unknown model '{}'", model);
  ShadowSetting s;
  const auto alias = store.GetAlias(model, std::string(kShadowAlias));
  if (!alias) return s;
  s.candidate = *alias;
  for (const AliasMove& m : store.AliasHistory(model, std::string(kShadowAlias))) s.since = m.at;
  const auto tags = store.GetTags(model, 0);
  if (auto it = tags.find(std::string(kShadowSampleTag)); it != tags.end()) {
    char* end = nullptr;
    const double v = std::strtod(it->second.c_str(), &end);
    if (end != nullptr && *end == '\0' && v >= 0 && v <= 1) s.sample = v;
  }
  return s;
}

ShadowSetting SetShadow(Registry& registry, const std::string& model, int64_t version,
                        double sample, const std::string& note) {
  if (!(sample > 0 && sample <= 1)) {
    Fail(ErrorCode::kInvalidArgument, "sample: must be in (0, 1], got {}", sample);
  }
  const VersionRecord v = registry.Resolve(fmt::format("{}/{}", model, version));
  if (registry.store().GetAlias(model, std::string(kShadowAlias)) != v.version) {
    registry.Promote(fmt::format("{}/{}", model, v.version), std::string(kShadowAlias), {},
                     note.empty() ? "shadow" : note);
  }
  registry.SetTags(ParseModelRef(model),
                   {{std::string(kShadowSampleTag), fmt::format("{}", sample)}}, {});
  return GetShadow(registry, model);
}

void ClearShadow(Registry& registry, const std::string& model) {
  if (!GetShadow(registry, model).active()) {
    Fail(ErrorCode::kNotFound, "model '{}' is not being shadowed", model);
  }
  registry.SetTags(ParseModelRef(model), {}, {std::string(kShadowSampleTag)});
}

}  // namespace marquee

#include "experiments/shadow_log.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "bandits/decision_log.h"
#include "bandits/ope.h"
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

// The records of `kind` that `o` selects (time range, candidate version).
std::vector<const ShadowRecord*> Kept(const std::vector<ShadowRecord>& records, ShadowKind kind,
                                      const ShadowMetricsOptions& o) {
  std::vector<const ShadowRecord*> kept;
  for (const ShadowRecord& r : records) {
    if (r.kind != kind || r.ts < o.since || r.ts >= o.until) continue;
    if (o.candidate_version != 0 && r.candidate_version != o.candidate_version) continue;
    kept.push_back(&r);
  }
  return kept;
}

json Mean(double sum, uint64_t n) { return n == 0 ? json(nullptr) : json(sum / n); }

// The versions and members of `kept`, the fields every kind's metrics start with.
json Common(ShadowKind kind, const std::vector<const ShadowRecord*>& kept) {
  std::set<int64_t> pversions, cversions;
  std::set<std::string_view> members;
  for (const ShadowRecord* r : kept) {
    pversions.insert(r->production_version);
    cversions.insert(r->candidate_version);
    members.insert(r->user);
  }
  return json{{"kind", ShadowKindName(kind)},
              {"requests", kept.size()},
              {"members", members.size()},
              {"production_versions", pversions},
              {"candidate_versions", cversions}};
}

}  // namespace

std::string_view ShadowKindName(ShadowKind k) {
  switch (k) {
    case ShadowKind::kBandit:
      return "bandit";
    case ShadowKind::kTabular:
      return "tabular";
    case ShadowKind::kRecommender:
      break;
  }
  return "recommender";
}

std::optional<ShadowKind> ShadowKindFromName(std::string_view name) {
  for (ShadowKind k : {ShadowKind::kRecommender, ShadowKind::kBandit, ShadowKind::kTabular}) {
    if (ShadowKindName(k) == name) return k;
  }
  return std::nullopt;
}

std::string EncodeShadowRecord(const ShadowRecord& r) {
  json j = {{"m", r.model},
            {"pv", r.production_version},
            {"cv", r.candidate_version},
            {"u", r.user},
            {"ts", r.ts}};
  switch (r.kind) {
    case ShadowKind::kRecommender:  // as version 1 wrote it: no "kind"
      j["k"] = r.k;
      j["p"] = r.production;
      j["c"] = r.candidate;
      break;
    case ShadowKind::kBandit:
      j["kind"] = ShadowKindName(r.kind);
      j["d"] = r.decision_id;
      j["a"] = r.actions;
      j["pp"] = r.production_probabilities;
      j["ch"] = r.chosen;
      j["cp"] = r.candidate_probabilities;
      j["g"] = r.candidate_greedy;
      break;
    case ShadowKind::kTabular:
      j["kind"] = ShadowKindName(r.kind);
      j["n"] = r.rows;
      j["w"] = r.width;
      j["ps"] = r.production_scores;
      j["cs"] = r.candidate_scores;
      break;
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

bool NumberList(const json& j, const char* key, std::vector<double>& out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return false;
  out.clear();
  for (const json& v : *it) {
    if (!v.is_number()) return false;
    out.push_back(v.get<double>());
    if (!std::isfinite(out.back())) return false;
  }
  return true;
}

// An integer field in [0, max].
bool Index(const json& j, const char* key, uint64_t max, uint64_t& out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return false;
  if (it->is_number_unsigned()) {
    out = it->get<uint64_t>();
  } else {
    const int64_t v = it->get<int64_t>();
    if (v < 0) return false;
    out = static_cast<uint64_t>(v);
  }
  return out <= max;
}

// One probability in [0, 1] per action, summing to 1.
bool Distribution(const std::vector<double>& p, size_t n) {
  if (p.size() != n) return false;
  double sum = 0;
  for (double x : p) {
    if (!(x >= 0 && x <= 1)) return false;
    sum += x;
  }
  return std::abs(sum - 1.0) <= 1e-6;
}

bool DecodeBandit(const json& j, ShadowRecord& out) {
  auto d = j.find("d"), a = j.find("a");
  if (d == j.end() || !d->is_string() || a == j.end() || !StringList(*a, out.actions)) {
    return false;
  }
  out.decision_id = d->get<std::string>();
  const size_t n = out.actions.size();
  if (n == 0 || std::set<std::string>(out.actions.begin(), out.actions.end()).size() != n) {
    return false;
  }
  uint64_t chosen = 0, greedy = 0;
  if (!NumberList(j, "pp", out.production_probabilities) ||
      !NumberList(j, "cp", out.candidate_probabilities) || !Index(j, "ch", n - 1, chosen) ||
      !Index(j, "g", n - 1, greedy) || !Distribution(out.production_probabilities, n) ||
      !Distribution(out.candidate_probabilities, n) ||
      !(out.production_probabilities[chosen] > 0)) {
    return false;
  }
  out.chosen = static_cast<uint32_t>(chosen);
  out.candidate_greedy = static_cast<uint32_t>(greedy);
  return true;
}

bool DecodeTabular(const json& j, ShadowRecord& out) {
  uint64_t width = 0;
  if (!Index(j, "n", std::numeric_limits<int64_t>::max(), out.rows) ||
      !Index(j, "w", std::numeric_limits<uint32_t>::max(), width) || width == 0 ||
      !NumberList(j, "ps", out.production_scores) || !NumberList(j, "cs", out.candidate_scores)) {
    return false;
  }
  out.width = static_cast<uint32_t>(width);
  const size_t values = out.production_scores.size();
  return values == out.candidate_scores.size() && values % width == 0 && values / width <= out.rows;
}

}  // namespace

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
  out = ShadowRecord{};
  if (auto it = j.find("kind"); it != j.end()) {
    const auto kind =
        it->is_string() ? ShadowKindFromName(it->get_ref<const std::string&>()) : std::nullopt;
    if (!kind) return false;
    out.kind = *kind;
  }
  if (!str("m", out.model) || !str("u", out.user) || !integer("pv", out.production_version) ||
      !integer("cv", out.candidate_version) || !integer("ts", out.ts)) {
    return false;
  }
  switch (out.kind) {
    case ShadowKind::kBandit:
      return DecodeBandit(j, out);
    case ShadowKind::kTabular:
      return DecodeTabular(j, out);
    case ShadowKind::kRecommender:
      break;
  }
  uint64_t k = 0;
  if (!Index(j, "k", std::numeric_limits<uint32_t>::max(), k)) return false;
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
  const std::vector<const ShadowRecord*> kept = Kept(records, ShadowKind::kRecommender, o);
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
  json recall = {
      {"requests_with_plays", with_plays},
      {"plays", plays_total},
      {"production", Mean(recall_p, with_plays)},
      {"candidate", Mean(recall_c, with_plays)},
      {"difference", with_plays == 0 ? json(nullptr) : json((recall_c - recall_p) / with_plays)}};
  return json{{"kind", ShadowKindName(ShadowKind::kRecommender)},
              {"requests", kept.size()},
              {"members", by_user.size()},
              {"production_versions", pversions},
              {"candidate_versions", cversions},
              {"window", o.window},
              {"agreement",
               {{"overlap_mean", Mean(overlap_sum, kept.size())},
                {"jaccard_mean", Mean(jaccard_sum, kept.size())},
                {"jaccard_histogram", histogram}}},
              {"recall", std::move(recall)}};
}

json BanditShadowMetrics(
    const std::vector<ShadowRecord>& records,
    const std::function<std::optional<ShadowOutcome>(const std::string&)>& outcome_of,
    const ShadowMetricsOptions& o) {
  const std::vector<const ShadowRecord*> kept = Kept(records, ShadowKind::kBandit, o);
  json out = Common(ShadowKind::kBandit, kept);
  double greedy_match = 0, candidate_p = 0, production_p = 0;
  // The rewarded decisions as a bandit log (action ids only: IPS and SNIPS read no features),
  // with the candidate's distributions, for the project's one off-policy estimator.
  BanditLog log;
  std::map<std::vector<std::string>, uint32_t> sets;
  CandidateDistributions pi;
  uint64_t joined = 0;
  for (const ShadowRecord* r : kept) {
    greedy_match += r->candidate_greedy == r->chosen ? 1 : 0;
    candidate_p += r->candidate_probabilities[r->chosen];
    production_p += r->production_probabilities[r->chosen];
    const std::optional<ShadowOutcome> outcome = outcome_of(r->decision_id);
    if (!outcome) continue;
    joined += outcome->joined ? 1 : 0;
    auto [it, added] = sets.emplace(r->actions, static_cast<uint32_t>(log.action_sets.size()));
    if (added) {
      std::vector<Action> set;
      for (const std::string& id : r->actions) set.push_back(Action{id, {}});
      log.action_sets.push_back(std::move(set));
    }
    LoggedDecision row;
    row.action_set = it->second;
    row.chosen = r->chosen;
    row.propensity = r->production_probabilities[r->chosen];
    row.reward = outcome->reward;
    row.ts = r->ts;
    if (!r->user.empty()) row.user = r->user;
    log.rows.push_back(std::move(row));
    pi.push_back(r->candidate_probabilities);
  }
  out["agreement"] = {{"greedy_match", Mean(greedy_match, kept.size())},
                      {"candidate_p_chosen_mean", Mean(candidate_p, kept.size())},
                      {"production_p_chosen_mean", Mean(production_p, kept.size())}};
  json value = {{"rewarded", log.rows.size()},
                {"joined", joined},
                {"production", nullptr},
                {"ips", nullptr},
                {"snips", nullptr},
                {"difference", nullptr},
                {"ess", nullptr},
                {"max_weight", nullptr},
                {"bootstrap", o.bootstrap},
                {"warnings", json::array()}};
  if (!log.rows.empty()) {
    OpeOptions oo;
    oo.estimators = {"ips", "snips"};
    oo.bootstrap = o.bootstrap;
    oo.seed = o.seed;
    oo.reward_model = "mean";  // not read by ips or snips
    oo.replay = false;
    const OpeResult res = EvaluateOffPolicy(log, pi, oo);
    const json est = res.ToJson()["estimates"];
    value["production"] = res.logged_reward;
    value["ips"] = est["ips"];
    value["snips"] = est["snips"];
    value["difference"] = res.estimates.at("snips").value - res.logged_reward;
    value["ess"] = res.ess;
    value["max_weight"] = res.max_weight;
    value["warnings"] = res.warnings;
  }
  out["value"] = std::move(value);
  return out;
}

json TabularShadowMetrics(const std::vector<ShadowRecord>& records, const ShadowMetricsOptions& o) {
  const std::vector<const ShadowRecord*> kept = Kept(records, ShadowKind::kTabular, o);
  json out = Common(ShadowKind::kTabular, kept);
  uint64_t rows = 0, agree = 0;
  std::vector<double> p, c;  // every recorded output
  for (const ShadowRecord* r : kept) {
    const size_t w = r->width;
    const size_t n = r->production_scores.size() / w;
    for (size_t i = 0; i < n; ++i) {
      const double* ps = &r->production_scores[i * w];
      const double* cs = &r->candidate_scores[i * w];
      p.insert(p.end(), ps, ps + w);
      c.insert(c.end(), cs, cs + w);
      const bool same =
          w == 1 ? (ps[0] >= 0.5) == (cs[0] >= 0.5)
                 : std::max_element(ps, ps + w) - ps == std::max_element(cs, cs + w) - cs;
      agree += same ? 1 : 0;
      ++rows;
    }
  }
  double sum_abs = 0, max_abs = 0, sp = 0, sc = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double d = std::abs(c[i] - p[i]);
    sum_abs += d;
    max_abs = std::max(max_abs, d);
    sp += p[i];
    sc += c[i];
  }
  json pearson = nullptr;
  if (!p.empty()) {
    const double mp = sp / p.size(), mc = sc / c.size();
    double cov = 0, vp = 0, vc = 0;
    for (size_t i = 0; i < p.size(); ++i) {
      cov += (p[i] - mp) * (c[i] - mc);
      vp += (p[i] - mp) * (p[i] - mp);
      vc += (c[i] - mc) * (c[i] - mc);
    }
    if (vp > 0 && vc > 0) pearson = cov / std::sqrt(vp * vc);
  }
  out["rows"] = rows;
  out["outputs"] = p.size();
  out["score"] = {{"mean_abs_diff", Mean(sum_abs, p.size())},
                  {"max_abs_diff", p.empty() ? json(nullptr) : json(max_abs)},
                  {"pearson", pearson},
                  {"production_mean", Mean(sp, p.size())},
                  {"candidate_mean", Mean(sc, c.size())}};
  out["class_agreement"] = Mean(static_cast<double>(agree), rows);
  return out;
}

json ShadowMetricsFromHome(const std::string& home, const std::string& model,
                           const ShadowMetricsOptions& o) {
  std::vector<ShadowRecord> records;
  const std::string sdir = home + "/serving/shadow";
  if (std::filesystem::exists(sdir)) {
    auto log = ShadowLog::Open(sdir, ShadowLogOptions{.read_only = true});
    log->ForEach(model, o.since, o.until, [&](const ShadowRecord& r) {
      if (r.kind == o.kind) records.push_back(r);
      return true;
    });
  }
  if (o.kind == ShadowKind::kTabular) return TabularShadowMetrics(records, o);
  if (o.kind == ShadowKind::kBandit) {
    // The outcomes are wherever the home's decision log is (its RocksDB, or the Redis every
    // replica shares): the shadow records are this replica's, the rewards everyone's.
    std::unique_ptr<DecisionLog> decisions;
    if (!records.empty()) {
      try {
        decisions = OpenDecisionStoreForRead(home);
      } catch (const Error& e) {
        if (e.code() != ErrorCode::kNotFound) throw;  // no decision logged: no outcomes
      }
    }
    return BanditShadowMetrics(
        records,
        [&](const std::string& id) -> std::optional<ShadowOutcome> {
          if (!decisions) return std::nullopt;
          std::optional<Decision> d;
          try {
            d = decisions->Get(id);
          } catch (const Error& e) {
            if (e.code() != ErrorCode::kInvalidArgument) throw;  // not a decision id
          }
          if (!d || d->outcome.kind == OutcomeKind::kOpen) return std::nullopt;
          return ShadowOutcome{d->outcome.reward, d->outcome.kind == OutcomeKind::kJoined};
        },
        o);
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

#include "control/insight_views.h"

#include <map>
#include <optional>

#include "bandits/decision_stats.h"
#include "bandits/ope_record.h"
#include "common/text.h"
#include "common/time.h"
#include "data/catalog.h"
#include "experiments/analysis.h"
#include "experiments/experiment.h"
#include "kinds/builtin.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "serving/servable.h"
#include "state/online_state.h"

namespace marquee {
namespace {

using json = nlohmann::json;

// A registry model whose latest version is a bandit policy.
struct BanditModel {
  std::string family;
  std::map<std::string, int64_t> aliases;
};

// `m` as a bandit policy, when its latest version is one.
std::optional<BanditModel> AsBandit(Registry& reg, const ModelSummary& m) {
  const std::vector<VersionDetail> versions = reg.Versions(m.model.name);
  if (versions.empty()) return std::nullopt;
  const std::string& family = versions.back().record.family;
  if (!BuiltinKinds().IsKind(family, kKindBandit)) return std::nullopt;
  return BanditModel{family, m.aliases};
}

// The home's decisions (of `o.policy` when set), or none when no server has logged any: from
// `live` (the server's own log) when given.
std::vector<PolicyActivity> Activity(const std::string& home, const ActivityOptions& o,
                                     const DecisionLog* live) {
  if (live != nullptr) return SummarizeDecisions(*live, o);
  // Wherever the home's backends keep the decisions: its RocksDB (none yet: no decisions) or
  // Redis.
  const StateBackend state = ResolveStateBackend(home, "", Env::Default());
  if (state.kind != StateBackend::Kind::kRedis &&
      !Env::Default()->FileExists(home + "/decisions")) {
    return {};
  }
  DecisionLogOptions lo;
  lo.read_only = true;  // beside the server's own writer, as `decisions export`
  return SummarizeDecisions(*OpenDecisionStore(state, home, std::move(lo)), o);
}

json RateJson(const DecisionCounts& c) {
  return c.closed > 0 ? json(c.rewards / static_cast<double>(c.closed)) : json(nullptr);
}

json CountsJson(const DecisionCounts& c) {
  return {{"decisions", c.decisions},
          {"closed", c.closed},
          {"joined", c.joined},
          {"rewards", c.rewards},
          {"reward_rate", RateJson(c)}};
}

// The fields a policy has in the list and in its own view.
json PolicyJson(const std::string& name, const PolicyActivity* activity, const BanditModel* model) {
  json j = CountsJson(activity ? activity->counts : DecisionCounts{});
  j["name"] = name;
  j["family"] = model ? json(model->family) : json(nullptr);
  j["aliases"] = model ? json(model->aliases) : json::object();
  j["versions"] = activity ? json(activity->versions) : json::array();
  j["last_decision_at"] = activity ? json(IsoUtc(activity->last_ms / 1000)) : json(nullptr);
  return j;
}

}  // namespace

json ExperimentTimeseriesView(Registry& reg, const std::string& home, const std::string& name) {
  return TimeseriesFromHome(home, GetExperiment(reg, name));
}

json BanditsListView(Registry& reg, const std::string& home, const DecisionLog* live) {
  std::map<std::string, BanditModel> models;
  for (const ModelSummary& m : reg.ListModels()) {
    if (auto b = AsBandit(reg, m)) models[m.model.name] = std::move(*b);
  }
  std::map<std::string, PolicyActivity> activity;
  for (PolicyActivity& a : Activity(home, {}, live)) activity[a.policy] = std::move(a);
  std::map<std::string, json> entries;  // by name
  for (const auto& [name, a] : activity) {
    auto m = models.find(name);
    entries[name] = PolicyJson(name, &a, m == models.end() ? nullptr : &m->second);
  }
  for (const auto& [name, m] : models) {
    if (!entries.contains(name)) entries[name] = PolicyJson(name, nullptr, &m);
  }
  json policies = json::array();
  for (auto& [name, e] : entries) policies.push_back(std::move(e));
  return {{"policies", policies}};
}

json BanditView(Registry& reg, const std::string& home, const std::string& name,
                const std::string& bucket, int64_t since, const DecisionLog* live) {
  ValidateCatalogName(name, "policy");
  int64_t width = 0;
  if (bucket == "hour") {
    width = 3600;
  } else if (bucket == "day") {
    width = 86400;
  } else {
    Fail(ErrorCode::kInvalidArgument, "bucket: '{}' is not hour or day",
         QuoteForMessage(bucket, 32));
  }
  ActivityOptions o;
  o.policy = name;
  o.since_ms = since * 1000;
  o.bucket_seconds = width;
  o.actions = true;
  const std::vector<PolicyActivity> found = Activity(home, o, live);
  const PolicyActivity* a = found.empty() ? nullptr : &found.front();
  std::optional<BanditModel> registered;
  for (const ModelSummary& m : reg.ListModels()) {
    if (m.model.name == name) registered = AsBandit(reg, m);
  }
  const BanditModel* model = registered ? &*registered : nullptr;
  const std::optional<json> ope = LoadOpeRecord(Env::Default(), home, name);
  if (a == nullptr && model == nullptr && !ope) {
    Fail(ErrorCode::kNotFound,
         "no bandit policy named '{}': no decisions of it in the log, no bandit model of that "
         "name in the registry and no off-policy evaluation recorded",
         name);
  }
  json j = PolicyJson(name, a, model);
  j["policy"] = name;
  j["bucket"] = bucket;
  j["bucket_seconds"] = width;
  json series = json::array(), actions = json::array();
  if (a != nullptr) {
    for (const DecisionBucket& b : a->series) {
      json point = CountsJson(b.counts);
      point.erase("joined");
      point["start"] = IsoUtc(b.start);
      series.push_back(std::move(point));
    }
    for (const auto& [id, n] : a->actions) {
      actions.push_back({{"action", id},
                         {"decisions", n},
                         {"share", static_cast<double>(n) / a->counts.decisions}});
    }
  }
  j["series"] = series;
  j["actions"] = actions;
  j["other_actions"] = a ? a->other_actions : 0;
  j["ope"] = ope ? *ope : json(nullptr);
  return j;
}

}  // namespace marquee

#include "serving/bandit_handler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <set>

#include "bandits/features.h"
#include "bandits/train.h"
#include "common/text.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "serving/model_manager.h"
#include "serving/shadow.h"

namespace marquee {
namespace {

using json = nlohmann::json;

// Text from the request that the decision log stores: valid UTF-8 without NUL (JSON parsing
// guarantees the first for strings, the check keeps it true for any caller).
void CheckText(std::string_view s, const std::string& field) {
  if (size_t bad = FirstInvalidUtf8(s); bad != s.size()) {
    Fail(ErrorCode::kInvalidArgument, "{}: not valid UTF-8 (byte 0x{:02x} at offset {})", field,
         static_cast<unsigned char>(s[bad]), bad);
  }
  if (size_t nul = s.find('\0'); nul != std::string_view::npos) {
    Fail(ErrorCode::kInvalidArgument, "{}: contains a NUL character (at offset {})", field, nul);
  }
}

// Policies featurise in float32 (bandits/features.h): a larger finite value becomes infinity
// there and the policy's distribution NaN.
constexpr double kMaxFeatureValue = std::numeric_limits<float>::max();

// An id sent as a string or an integer.
std::string IdOf(const json& v, const std::string& field) {
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (s.empty() || s.size() > 256) {
      Fail(ErrorCode::kInvalidArgument, "{}: must be 1 to 256 bytes, got {}", field, s.size());
    }
    CheckText(s, field);
    return s;
  }
  if (v.is_number_integer()) return v.dump();
  Fail(ErrorCode::kInvalidArgument, "{}: must be a string id, got {}", field, v.type_name());
}

// A feature object: name -> finite number or string. Returns it normalised (integers as
// numbers) and fills `out`.
// `logged`: the features of a logged decision (replayed at load), taken as they were accepted.
json ParseFeatures(const json& j, const std::string& field, size_t max, FeatureMap& out,
                   bool logged) {
  if (!j.is_object()) {
    Fail(ErrorCode::kInvalidArgument,
         "{}: must be an object of feature name -> number or string, "
         "got {}",
         field, j.type_name());
  }
  if (j.size() > max) {
    Fail(ErrorCode::kResourceExhausted, "{}: {} features, the limit is {}", field, j.size(), max);
  }
  json norm = json::object();
  for (const auto& [name, v] : j.items()) {
    if (name.empty() || name.size() > 256) {
      Fail(ErrorCode::kInvalidArgument, "{}: feature names must be 1 to 256 bytes", field);
    }
    CheckText(name, field + " (a feature name)");
    const std::string f = field + "." + name;
    if (v.is_number()) {
      const double x = v.get<double>();
      if (!std::isfinite(x)) Fail(ErrorCode::kInvalidArgument, "{}: not a finite number", f);
      // Policies compute in float32: a larger value becomes infinity there.
      if (!logged && std::abs(x) > kMaxFeatureValue) {
        Fail(ErrorCode::kInvalidArgument, "{}: {} does not fit in a float32 (|value| <= {:g})", f,
             v.dump(), kMaxFeatureValue);
      }
      out.emplace_back(name, x);
      norm[name] = v;
    } else if (v.is_string()) {
      if (v.get_ref<const std::string&>().size() > 1024) {
        Fail(ErrorCode::kInvalidArgument, "{}: longer than 1024 bytes", f);
      }
      CheckText(v.get_ref<const std::string&>(), f);
      out.emplace_back(name, v.get<std::string>());
      norm[name] = v;
    } else if (v.is_boolean()) {  // as the bandit-log JSONL reads them: true 1, false 0
      const double x = v.get<bool>() ? 1.0 : 0.0;
      out.emplace_back(name, x);
      norm[name] = x;
    } else {
      Fail(ErrorCode::kInvalidArgument,
           "{}: must be a number, a string (categorical) or a boolean, got {}", f, v.type_name());
    }
  }
  return norm;
}

std::mt19937_64& ThreadRng() {
  thread_local std::mt19937_64 rng = [] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }();
  return rng;
}

Response ErrorFrom(std::exception_ptr err) {
  try {
    std::rethrow_exception(err);
  } catch (const Error& e) {
    return Service::ErrorResponse(e.code(), e.what());
  } catch (const std::exception& e) {
    return Service::ErrorResponse(ErrorCode::kInternal, e.what());
  } catch (...) {
    return Service::ErrorResponse(ErrorCode::kInternal, "unknown exception");
  }
}

// Numbers at least this large are named as the cause when a policy's distribution is not finite.
constexpr double kLargeFeatureValue = 1e6;

// The numeric feature of the largest magnitude ("context.x", "actions[2].features.f"), or
// {"", 0} when there is none.
std::pair<std::string, double> LargestFeature(const DecisionInput& in) {
  std::pair<std::string, double> best{"", 0.0};
  auto scan = [&](const FeatureMap& m, const std::string& where) {
    for (const auto& [name, v] : m) {
      if (const double* x = std::get_if<double>(&v);
          x != nullptr && std::abs(*x) > std::abs(best.second)) {
        best = {where + "." + name, *x};
      }
    }
  };
  scan(in.context, "context");
  for (size_t i = 0; i < in.actions.size(); ++i) {
    scan(in.actions[i].features, fmt::format("actions[{}].features", i));
  }
  return best;
}

DecideRequest ParseDecide(const json& body, const BanditLimits& limits, bool logged) {
  CheckKnownFields(body, "request", {"model", "user", "context", "actions"});
  DecideRequest r;
  if (!body.contains("model")) Fail(ErrorCode::kInvalidArgument, "model: missing");
  if (!body["model"].is_string()) {
    Fail(ErrorCode::kInvalidArgument, "model: must be a string reference, got {}",
         body["model"].type_name());
  }
  r.model = body["model"].get<std::string>();
  CheckText(r.model, "model");
  if (body.contains("user") && !body["user"].is_null()) r.user = IdOf(body["user"], "user");
  r.input.user = r.user;
  if (body.contains("context")) {
    r.context =
        ParseFeatures(body["context"], "context", limits.max_features, r.input.context, logged);
  }
  if (!body.contains("actions")) Fail(ErrorCode::kInvalidArgument, "actions: missing");
  const json& acts = body["actions"];
  if (!acts.is_array()) {
    Fail(ErrorCode::kInvalidArgument,
         "actions: must be an array of {{\"id\", \"features\"}}, got {}", acts.type_name());
  }
  if (acts.empty()) Fail(ErrorCode::kInvalidArgument, "actions: must offer at least one action");
  if (acts.size() > limits.max_actions) {
    Fail(ErrorCode::kResourceExhausted, "actions: {} actions, the limit is {}", acts.size(),
         limits.max_actions);
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < acts.size(); ++i) {
    const std::string where = fmt::format("actions[{}]", i);
    const json& a = acts[i];
    if (!a.is_object()) {
      Fail(ErrorCode::kInvalidArgument, "{}: must be an object {{\"id\", \"features\"}}, got {}",
           where, a.type_name());
    }
    CheckKnownFields(a, where, {"id", "features"});
    if (!a.contains("id")) Fail(ErrorCode::kInvalidArgument, "{}.id: missing", where);
    Action action;
    action.id = IdOf(a["id"], where + ".id");
    if (!seen.insert(action.id).second) {
      Fail(ErrorCode::kInvalidArgument, "{}.id: duplicate action id '{}'", where,
           QuoteForMessage(action.id));
    }
    json features = json::object();
    if (a.contains("features")) {
      features = ParseFeatures(a["features"], where + ".features", limits.max_features,
                               action.features, logged);
    }
    r.actions.push_back({{"id", action.id}, {"features", std::move(features)}});
    r.input.actions.push_back(std::move(action));
  }
  ValidateInput(r.input);
  return r;
}

}  // namespace

DecideRequest ParseDecideRequest(const json& body, const BanditLimits& limits) {
  return ParseDecide(body, limits, /*logged=*/false);
}

DecisionInput InputOf(const Decision& d) {
  json body = {{"model", d.model}, {"context", d.context}, {"actions", d.actions}};
  if (d.user) body["user"] = *d.user;
  BanditLimits unlimited{SIZE_MAX, SIZE_MAX};
  return ParseDecide(body, unlimited, /*logged=*/true).input;
}

BanditHandler::BanditHandler(ModelManager* models, BanditLimits limits)
    : models_(models), limits_(limits) {}

void BanditHandler::Prepare(Servable& servable) {
  auto* live = dynamic_cast<LivePolicy*>(&servable);
  if (live == nullptr || log_ == nullptr) return;
  // Replay the outcomes of the decisions this version already made (before a restart, or
  // before its alias moved away and its retired copy was dropped), so online learning is not
  // lost. Not shared yet: the lock only tells the analysis.
  WriterLock lock(&live->mu);
  uint64_t n = 0;
  log_->ForEach(0, [&](const Decision& d) {
    live->mu.AssertHeld();  // the callback runs under the lock above
    if (d.model != live->name || d.version != live->version ||
        d.outcome.kind == OutcomeKind::kOpen) {
      return true;
    }
    live->policy->Update(InputOf(d), d.chosen, d.outcome.reward, d.probabilities[d.chosen]);
    ++n;
    return true;
  });
  live->updates = n;
  replayed_total_ += n;
  if (n > 0) {
    spdlog::info("serve: {} v{}: replayed {} logged rewards", live->name, live->version, n);
  }
}

json BanditHandler::Refresh() { return models_->RefreshKind(kKindBandit, true, false); }

std::shared_ptr<const LivePolicy> BanditHandler::Get(std::string_view model) const {
  std::shared_ptr<const Servable> s = models_->Find(model, kKindBandit);
  if (s == nullptr) {
    const std::vector<std::string> refs = models_->Refs(kKindBandit);
    Fail(ErrorCode::kNotFound, "model: '{}' is not a bandit policy this server serves ({})", model,
         refs.empty() ? std::string("none: start it with --bandit REF")
                      : fmt::format("{}", fmt::join(refs, ", ")));
  }
  // Every servable in a bandit slot comes from the bandit kind's Load.
  return std::static_pointer_cast<const LivePolicy>(std::move(s));
}

json BanditHandler::Describe() const {
  return {{"bandits", models_->Describe(kKindBandit)["models"]}};
}

std::string BanditHandler::MetricsText() const {
  std::string out =
      "# HELP marquee_bandit_version The version each served bandit reference has loaded.\n"
      "# TYPE marquee_bandit_version gauge\n";
  std::string updates =
      "# HELP marquee_bandit_online_updates Online updates of the loaded version (rewards "
      "learned from, including the replay at load).\n"
      "# TYPE marquee_bandit_online_updates gauge\n";
  const json served = models_->Describe(kKindBandit);  // (kept alive for the loop)
  for (const json& b : served["models"]) {
    const auto ref = b["ref"].get<std::string>();
    const auto model = b["model"].get<std::string>();
    out += fmt::format("marquee_bandit_version{{ref=\"{}\",model=\"{}\"}} {}\n", ref, model,
                       b.value("version", int64_t{0}));
    updates += fmt::format("marquee_bandit_online_updates{{ref=\"{}\",model=\"{}\"}} {}\n", ref,
                           model, b.value("updates", uint64_t{0}));
  }
  out += updates;
  if (log_ != nullptr) {
    const auto st = log_->stats();
    out += fmt::format(
        "# HELP marquee_bandit_decisions_total Decisions logged durably by this process.\n"
        "# TYPE marquee_bandit_decisions_total counter\n"
        "marquee_bandit_decisions_total {}\n"
        "# HELP marquee_bandit_rewards_total Decisions closed by this process, by outcome.\n"
        "# TYPE marquee_bandit_rewards_total counter\n"
        "marquee_bandit_rewards_total{{outcome=\"joined\"}} {}\n"
        "marquee_bandit_rewards_total{{outcome=\"default\"}} {}\n"
        "# HELP marquee_bandit_replayed_rewards_total Logged rewards replayed into policies "
        "loaded by this process.\n"
        "# TYPE marquee_bandit_replayed_rewards_total counter\n"
        "marquee_bandit_replayed_rewards_total {}\n"
        "# HELP marquee_bandit_resumed_total Alias moves answered by a retired version that kept "
        "learning (no replay).\n"
        "# TYPE marquee_bandit_resumed_total counter\n"
        "marquee_bandit_resumed_total {}\n"
        "# HELP marquee_bandit_group_commits_total fsynced decision-log batches.\n"
        "# TYPE marquee_bandit_group_commits_total counter\n"
        "marquee_bandit_group_commits_total {}\n",
        st.decisions, st.joined, st.defaulted, replayed_total_.load(), models_->resumed_total(),
        st.group_commits);
  }
  return out;
}

void BanditHandler::AddRoutes(Service& service) {
  service.AddRoute({"POST", "/v1/decide", kScopeRead,
                    Service::JsonBody([this](const json& b, Respond& d) { Decide(b, d); })});
  service.AddRoute({"POST", "/v1/reward", kScopeWrite,
                    Service::JsonBody([this](const json& b, Respond& d) { Reward(b, d); })});
  if (models_->Refs(kKindBandit).empty()) return;
  service.set_metrics_text([this] { return MetricsText(); });
  service.add_model_kind("bandits", kKindBandit);
  if (log_ != nullptr) {
    service.add_readiness_check("decision log",
                                [d = log_](std::string* why) { return d->writable(why); });
  }
}

void BanditHandler::CheckServing(std::string_view path) const {
  if (models_->Refs(kKindBandit).empty()) {
    Fail(ErrorCode::kUnavailable, "this server does not serve {} (no model of that kind)", path);
  }
  if (log_ == nullptr) Fail(ErrorCode::kUnavailable, "this server has no decision log");
}

void BanditHandler::Decide(const json& body, Respond& done) {
  VersionTimer timer;  // until the decision is handed to the log; its callback counts after
  CheckServing("/v1/decide");
  DecideRequest req = ParseDecideRequest(body, limits_);
  std::shared_ptr<const LivePolicy> live = Get(req.model);
  timer.Served(live);
  Decision d;
  {
    ReaderLock lock(&live->mu);
    auto [chosen, probs] = live->policy->Decide(req.input, ThreadRng());
    d.updates = live->updates.load();
    d.chosen = static_cast<uint32_t>(chosen);
    d.probabilities = std::move(probs);
  }
  // NaN compares false: check every probability, or a NaN distribution would be logged.
  bool valid = d.probabilities.size() == req.actions.size() && d.chosen < req.actions.size();
  double sum = 0;
  for (double p : d.probabilities) {
    valid = valid && std::isfinite(p) && p >= 0;
    sum += p;
  }
  if (!valid || std::abs(sum - 1.0) > 1e-6) {
    // Float32 arithmetic inside the policy overflowed: blame the input when it holds a value
    // large enough to do that (products of two features past 1e19 overflow float32).
    const auto [field, value] = LargestFeature(req.input);
    if (std::abs(value) >= kLargeFeatureValue) {
      Fail(ErrorCode::kInvalidArgument,
           "{}: {:g} is too large for policy {} v{}: its probabilities are not finite numbers; "
           "scale features to |value| < {:g}",
           field, value, live->name, live->version, kLargeFeatureValue);
    }
    Fail(ErrorCode::kInternal, "policy {} v{} returned an invalid distribution (sum {})",
         live->name, live->version, sum);
  }
  d.ts_ms = log_->NowMs();
  d.id = DecisionLog::NewId(d.ts_ms);
  d.model = live->name;
  d.version = live->version;
  d.user = req.user;
  json probs = json::array();
  for (size_t i = 0; i < d.probabilities.size(); ++i) {
    probs.push_back({{"id", req.input.actions[i].id}, {"p", d.probabilities[i]}});
  }
  // A sampled decision is copied for the shadow candidate before the log takes it, and offered
  // once it is handed to the log (Sample is one relaxed load when no model has a shadow).
  std::optional<ShadowDecision> shadowed;
  if (shadow_ != nullptr) {
    if (const int64_t candidate = shadow_->Sample(live->name, live->version)) {
      shadowed = ShadowDecision{live, candidate, req.input, d.id, d.probabilities, d.chosen};
    }
  }
  d.context = std::move(req.context);
  d.actions = std::move(req.actions);
  Response ok;
  ok.body = DumpJson(json{{"decision_id", d.id},
                          {"action", req.input.actions[d.chosen].id},
                          {"probabilities", std::move(probs)},
                          {"model", live->name},
                          {"version", live->version}});
  timer.Served(nullptr);
  log_->AppendAsync(std::move(d), [ok = std::move(ok), done = std::move(done), live,
                                   start = timer.start()](std::exception_ptr err) mutable {
    ObserveVersion(*live, err != nullptr,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    done(err ? ErrorFrom(err) : std::move(ok));
  });
  // On this (io) thread, which the server stops before the scorer goes: a decision whose write
  // fails is never joined to an outcome, so it never counts as rewarded in the shadow metrics.
  if (shadowed) shadow_->Offer(std::move(*shadowed));
}

void BanditHandler::Reward(const json& body, Respond& done) {
  CheckServing("/v1/reward");
  CheckKnownFields(body, "request", {"decision_id", "reward"});
  if (!body.contains("decision_id")) Fail(ErrorCode::kInvalidArgument, "decision_id: missing");
  if (!body["decision_id"].is_string()) {
    Fail(ErrorCode::kInvalidArgument, "decision_id: must be a string, got {}",
         body["decision_id"].type_name());
  }
  if (!body.contains("reward")) Fail(ErrorCode::kInvalidArgument, "reward: missing");
  if (!body["reward"].is_number()) {
    Fail(ErrorCode::kInvalidArgument, "reward: must be a number, got {}",
         body["reward"].type_name());
  }
  std::string id = body["decision_id"].get<std::string>();
  if (id.size() != 32) {  // quoted here, cut on a character boundary
    Fail(ErrorCode::kInvalidArgument,
         "decision_id: '{}' is not a decision id (32 lower-case hex digits, as /v1/decide "
         "returns)",
         QuoteForMessage(id, 64));
  }
  ValidateDecisionId(id, "decision_id");
  const double reward = body["reward"].get<double>();
  if (!std::isfinite(reward)) Fail(ErrorCode::kInvalidArgument, "reward: must be finite");
  log_->RewardAsync(std::move(id), reward,
                    [done = std::move(done)](std::exception_ptr err, const Decision* d) {
                      if (err) {
                        done(ErrorFrom(err));
                        return;
                      }
                      Response r;
                      r.body = DumpJson(json{{"joined", true},
                                             {"decision_id", d->id},
                                             {"reward", d->outcome.reward},
                                             {"model", d->model},
                                             {"version", d->version}});
                      done(std::move(r));
                    });
}

void BanditHandler::OnClosed(const Decision& d) {
  std::optional<DecisionInput> in;  // parsed once, for the first version found
  models_->ForEachVersion(kKindBandit, d.model, d.version, [&](const Servable& s) {
    const auto& p = static_cast<const LivePolicy&>(s);  // bandit slots hold LivePolicy
    if (!in) in = InputOf(d);
    WriterLock lock(&p.mu);
    p.policy->Update(*in, d.chosen, d.outcome.reward, d.probabilities[d.chosen]);
    ++p.updates;
  });
}

}  // namespace marquee

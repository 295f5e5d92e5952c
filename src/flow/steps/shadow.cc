// Step kind "shadow": the serving replicas score the latest candidate on a sample of the
// model's live requests without returning it (serving/shadow.h), and the step compares the two
// on the same requests (experiments/shadow_log.h: the metrics of the candidate's kind). Through
// the flow's [server] url when it has one (POST/GET/DELETE /api/v1/models/{name}/shadow), else
// the home's registry and logs.
//
// It polls the metrics every `poll` until there is enough traffic, then judges; not enough
// traffic before `timeout` fails the step. The shadow is stopped whatever the outcome. By the
// candidate's kind (KindRegistry::OfVersion of its family):
//   recommender  /v1/recommend: enough once `min_requests` requests were shadowed and
//                `min_requests_with_plays` of them were followed by plays within `window`;
//                passes when the candidate's recall of those plays is not below production's by
//                more than `max_recall_drop` (absolute)
//   bandit       /v1/decide: enough once `min_requests` decisions were shadowed and
//                `min_rewarded` of them are closed (a joined or default reward); passes when the
//                candidate's SNIPS estimate on them is not below production's observed mean
//                reward on the same decisions by more than `max_value_drop` (absolute, in
//                reward units)
//   tabular      /v1/predict: enough once `min_requests` requests were shadowed; passes when the
//                mean |candidate - production| score is at most `max_mean_abs_diff` and the
//                share of rows given the same class (threshold 0.5) at least
//                `min_class_agreement`
// Keys (every kind accepts all; each reads its own): sample (0.2), min_requests (100),
// min_requests_with_plays (20), max_recall_drop (0.02), window ("1h"), event_types ([]),
// min_rewarded (50), max_value_drop (0.02), max_mean_abs_diff (0.05),
// min_class_agreement (0.95), timeout ("10m"), poll ("2s").
// Outputs: {"shadow": {model, version, kind, sample, metrics}}.
#include <fmt/format.h>

#include <optional>
#include <thread>

#include "client/http_client.h"
#include "core/model_kind.h"
#include "experiments/shadow_log.h"
#include "flow/step.h"
#include "flow/steps/live_keys.h"
#include "kinds/builtin.h"
#include "marquee/error.h"

namespace marquee::flow {
namespace {

using json = nlohmann::json;

std::string PathEscape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

// j[key], or null when j is not an object holding it (metrics of a model that was never
// shadowed have null sections).
const json& At(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

int64_t Count(const json& j) { return j.is_number_integer() ? j.get<int64_t>() : 0; }

double Number(const json& j, double fallback = 0) {
  return j.is_number() ? j.get<double>() : fallback;
}

// What the metrics of one poll say: whether there is enough traffic (`traffic` tells how much
// against what is needed) and, when there is, whether the candidate passes and why.
struct Verdict {
  bool enough = false;
  bool passed = false;
  std::string traffic, reason;
};

// `v` judged: it fails when the candidate's measure is `below` production's by more than
// `max_drop`; `summary` says what was measured.
Verdict Decided(Verdict v, bool below, const std::string& summary, double max_drop) {
  v.passed = !below;
  v.reason =
      below ? fmt::format("{}: below production by more than {}", summary, max_drop) : summary;
  return v;
}

Verdict JudgeRecommender(const json& spec, const json& m, int64_t version) {
  const auto min_requests = static_cast<int64_t>(NumberKey(spec, "min_requests", 100));
  const auto min_played = static_cast<int64_t>(NumberKey(spec, "min_requests_with_plays", 20));
  const double max_drop = NumberKey(spec, "max_recall_drop", 0.02);
  const int64_t requests = Count(At(m, "requests"));
  const int64_t played = Count(At(At(m, "recall"), "requests_with_plays"));
  Verdict v;
  v.traffic = fmt::format("{} requests shadowed (need {}), {} followed by plays (need {})",
                          requests, min_requests, played, min_played);
  v.enough = requests >= min_requests && played >= min_played;
  const json& recall = At(m, "recall");
  const double prod = Number(At(recall, "production"));
  const double cand = Number(At(recall, "candidate"));
  const std::string summary = fmt::format(
      "online recall {:.3f} (candidate v{}) vs {:.3f} (production) on {} requests with plays; "
      "agreement (Jaccard) {:.3f}",
      cand, version, prod, played, Number(At(At(m, "agreement"), "jaccard_mean")));
  return Decided(std::move(v), played > 0 && cand < prod - max_drop, summary, max_drop);
}

Verdict JudgeBandit(const json& spec, const json& m, int64_t version) {
  const auto min_requests = static_cast<int64_t>(NumberKey(spec, "min_requests", 100));
  const auto min_rewarded = static_cast<int64_t>(NumberKey(spec, "min_rewarded", 50));
  const double max_drop = NumberKey(spec, "max_value_drop", 0.02);
  const int64_t requests = Count(At(m, "requests"));
  const json& value = At(m, "value");
  const int64_t rewarded = Count(At(value, "rewarded"));
  Verdict v;
  v.traffic = fmt::format("{} decisions shadowed (need {}), {} rewarded (need {})", requests,
                          min_requests, rewarded, min_rewarded);
  v.enough = requests >= min_requests && rewarded >= min_rewarded;
  const double prod = Number(At(value, "production"));
  const double snips = Number(At(At(value, "snips"), "value"));
  const std::string summary = fmt::format(
      "SNIPS value {:.4f} (candidate v{}) vs observed {:.4f} (production) on {} rewarded "
      "decisions (IPS {:.4f}, effective sample size {:.1f}); greedy agreement {:.3f}",
      snips, version, prod, rewarded, Number(At(At(value, "ips"), "value")),
      Number(At(value, "ess")), Number(At(At(m, "agreement"), "greedy_match")));
  return Decided(std::move(v), rewarded > 0 && snips < prod - max_drop, summary, max_drop);
}

Verdict JudgeTabular(const json& spec, const json& m, int64_t version) {
  const auto min_requests = static_cast<int64_t>(NumberKey(spec, "min_requests", 100));
  const double max_diff = NumberKey(spec, "max_mean_abs_diff", 0.05);
  const double min_agree = NumberKey(spec, "min_class_agreement", 0.95);
  const int64_t requests = Count(At(m, "requests"));
  Verdict v;
  v.traffic = fmt::format("{} requests shadowed (need {}), {} rows scored", requests, min_requests,
                          Count(At(m, "rows")));
  v.enough = requests >= min_requests;
  const double diff = Number(At(At(m, "score"), "mean_abs_diff"));
  const double agree = Number(At(m, "class_agreement"), 1.0);
  const std::string summary = fmt::format(
      "mean |score difference| {:.4f} (max {:.4f}), class agreement {:.3f}, Pearson {:.3f} "
      "(candidate v{} vs production) on {} rows",
      diff, Number(At(At(m, "score"), "max_abs_diff")), agree,
      Number(At(At(m, "score"), "pearson")), version, Count(At(m, "rows")));
  std::vector<std::string> failed;
  if (diff > max_diff) failed.push_back(fmt::format("mean difference above {}", max_diff));
  if (agree < min_agree) failed.push_back(fmt::format("class agreement below {}", min_agree));
  v.passed = failed.empty();
  v.reason = v.passed ? summary : fmt::format("{}: {}", summary, fmt::join(failed, ", "));
  return v;
}

Verdict Judge(ShadowKind kind, const json& spec, const json& m, int64_t version) {
  switch (kind) {
    case ShadowKind::kBandit:
      return JudgeBandit(spec, m, version);
    case ShadowKind::kTabular:
      return JudgeTabular(spec, m, version);
    case ShadowKind::kRecommender:
      break;
  }
  return JudgeRecommender(spec, m, version);
}

class ShadowStep final : public PipelineStep {
 public:
  void Validate(const json& spec) const override {
    CheckStepKeys(spec, {"sample", "min_requests", "min_requests_with_plays", "max_recall_drop",
                         "window", "timeout", "poll", "event_types", "min_rewarded",
                         "max_value_drop", "max_mean_abs_diff", "min_class_agreement"});
    const double sample = NumberKey(spec, "sample", 0.2);
    if (!(sample > 0 && sample <= 1)) {
      Fail(ErrorCode::kInvalidArgument, "'sample' must be in (0, 1], got {}", sample);
    }
    if (NumberKey(spec, "min_requests", 100) < 1) {
      Fail(ErrorCode::kInvalidArgument, "'min_requests' must be at least 1");
    }
    if (NumberKey(spec, "min_requests_with_plays", 20) < 0) {
      Fail(ErrorCode::kInvalidArgument, "'min_requests_with_plays' must not be negative");
    }
    const double drop = NumberKey(spec, "max_recall_drop", 0.02);
    if (!(drop >= 0 && drop <= 1)) {
      Fail(ErrorCode::kInvalidArgument, "'max_recall_drop' must be in [0, 1], got {}", drop);
    }
    if (NumberKey(spec, "min_rewarded", 50) < 0) {
      Fail(ErrorCode::kInvalidArgument, "'min_rewarded' must not be negative");
    }
    if (!(NumberKey(spec, "max_value_drop", 0.02) >= 0)) {
      Fail(ErrorCode::kInvalidArgument, "'max_value_drop' must not be negative");
    }
    if (!(NumberKey(spec, "max_mean_abs_diff", 0.05) >= 0)) {
      Fail(ErrorCode::kInvalidArgument, "'max_mean_abs_diff' must not be negative");
    }
    const double agree = NumberKey(spec, "min_class_agreement", 0.95);
    if (!(agree >= 0 && agree <= 1)) {
      Fail(ErrorCode::kInvalidArgument, "'min_class_agreement' must be in [0, 1], got {}", agree);
    }
    DurationKey(spec, "window", std::chrono::hours(1));
    DurationKey(spec, "timeout", std::chrono::minutes(10));
    DurationKey(spec, "poll", std::chrono::seconds(2));
    EventTypesKey(spec);
  }

  StepResult Run(const json& spec, StepContext& ctx) override {
    const VersionRecord v = LatestCandidate(ctx);
    const std::string& model = v.model_name;
    const ModelKind* model_kind = BuiltinKinds().OfVersion(v.family);
    const std::optional<ShadowKind> found =
        model_kind != nullptr ? ShadowKindFromName(model_kind->name()) : std::nullopt;
    if (!found) {
      Fail(ErrorCode::kFailedPrecondition, "{} v{}: family '{}' is not of a kind that is shadowed",
           model, v.version, v.family);
    }
    const ShadowKind kind = *found;
    const double sample = NumberKey(spec, "sample", 0.2);
    const auto window = std::chrono::duration_cast<std::chrono::seconds>(
        DurationKey(spec, "window", std::chrono::hours(1)));
    const auto timeout = DurationKey(spec, "timeout", std::chrono::minutes(10));
    const auto poll = DurationKey(spec, "poll", std::chrono::seconds(2));
    const std::vector<std::string> types = EventTypesKey(spec);

    // Start, read and stop the shadow: over the server's API, or in the home.
    std::unique_ptr<HttpClient> client;
    const std::string path = "/api/v1/models/" + PathEscape(model) + "/shadow";
    std::function<json()> metrics;
    std::function<void()> stop;
    if (!ctx.server_url.empty()) {
      client = std::make_unique<HttpClient>(ctx.server_url, ctx.server_token);
      const json body = {
          {"version", v.version},
          {"sample", sample},
          {"note", fmt::format("pipeline {} run {}", ctx.pipeline, ctx.pipeline_run)}};
      client->Json("POST", path, &body);
      std::string query = fmt::format("?window={}", window.count());
      for (const auto& t : types) query += "&event_type=" + PathEscape(t);
      metrics = [&, query] { return client->Json("GET", path + query)["metrics"]; };
      stop = [&] { client->Json("DELETE", path); };
    } else {
      const ShadowSetting set =
          SetShadow(ctx.registry, model, v.version, sample,
                    fmt::format("pipeline {} run {}", ctx.pipeline, ctx.pipeline_run));
      ShadowMetricsOptions mo;
      mo.window = window.count();
      mo.event_types = types;
      mo.since = set.since;
      mo.candidate_version = v.version;
      mo.kind = kind;
      metrics = [&, mo] { return ShadowMetricsFromHome(ctx.home, model, mo); };
      stop = [&] { ClearShadow(ctx.registry, model); };
    }
    ctx.Log(fmt::format("shadow: {} {}/{} on {:.0f}% of {}'s requests", ShadowKindName(kind), model,
                        v.version, sample * 100, model));

    StepResult r;
    json m;
    Verdict verdict;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    try {
      for (;;) {
        m = metrics();
        verdict = Judge(kind, spec, m, v.version);
        ctx.Log("shadow: " + verdict.traffic);
        if (verdict.enough || ctx.cancelled() ||
            std::chrono::steady_clock::now() + poll > deadline) {
          break;
        }
        std::this_thread::sleep_for(poll);
      }
    } catch (...) {
      try {
        stop();
      } catch (const std::exception&) {  // the first error is the one to report
      }
      throw;
    }
    stop();
    r.outputs = {{"shadow",
                  {{"model", model},
                   {"version", v.version},
                   {"kind", ShadowKindName(kind)},
                   {"sample", sample},
                   {"metrics", m}}}};
    if (!verdict.enough) {
      r.passed = false;
      r.reason =
          ctx.cancelled()
              ? "cancelled"
              : fmt::format("not enough traffic: {} within {} s", verdict.traffic,
                            std::chrono::duration_cast<std::chrono::seconds>(timeout).count());
      return r;
    }
    r.passed = verdict.passed;
    r.reason = verdict.reason;
    return r;
  }
};

}  // namespace

std::unique_ptr<PipelineStep> NewShadowStep() { return std::make_unique<ShadowStep>(); }

}  // namespace marquee::flow

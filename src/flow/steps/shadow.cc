// Step kind "shadow": the serving replicas score the latest candidate on a sample of the
// model's live /v1/recommend requests without returning it (serving/shadow.h), and the step
// compares the two on the same requests (ShadowMetrics, experiments/shadow_log.h). Through the
// flow's [server] url when it has one (POST/GET/DELETE /api/v1/models/{name}/shadow), else the
// home's registry and logs.
//
// It polls the metrics every `poll` until `min_requests` requests were shadowed and
// `min_requests_with_plays` of them were followed by plays within `window`, then passes when the
// candidate's recall of those plays is not below production's by more than `max_recall_drop`
// (absolute). Not enough traffic before `timeout` fails the step. The shadow is stopped
// whatever the outcome. Keys: sample (0.2), min_requests (100), min_requests_with_plays (20),
// max_recall_drop (0.02), window ("1h"), timeout ("10m"), poll ("2s"), event_types ([]).
// Outputs: {"shadow": {model, version, sample, metrics}}.
#include <fmt/format.h>

#include <thread>

#include "client/http_client.h"
#include "experiments/shadow_log.h"
#include "flow/step.h"
#include "flow/steps/live_keys.h"
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

class ShadowStep final : public PipelineStep {
 public:
  void Validate(const json& spec) const override {
    CheckStepKeys(spec, {"sample", "min_requests", "min_requests_with_plays", "max_recall_drop",
                         "window", "timeout", "poll", "event_types"});
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
    DurationKey(spec, "window", std::chrono::hours(1));
    DurationKey(spec, "timeout", std::chrono::minutes(10));
    DurationKey(spec, "poll", std::chrono::seconds(2));
    EventTypesKey(spec);
  }

  StepResult Run(const json& spec, StepContext& ctx) override {
    const VersionRecord v = LatestCandidate(ctx);
    const std::string& model = v.model_name;
    const double sample = NumberKey(spec, "sample", 0.2);
    const auto min_requests = static_cast<int64_t>(NumberKey(spec, "min_requests", 100));
    const auto min_played = static_cast<int64_t>(NumberKey(spec, "min_requests_with_plays", 20));
    const double max_drop = NumberKey(spec, "max_recall_drop", 0.02);
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
      metrics = [&, mo] { return ShadowMetricsFromHome(ctx.home, model, mo); };
      stop = [&] { ClearShadow(ctx.registry, model); };
    }
    ctx.Log(fmt::format("shadow: {}/{} on {:.0f}% of {}'s requests", model, v.version, sample * 100,
                        model));

    StepResult r;
    json m;
    bool enough = false;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    try {
      for (;;) {
        m = metrics();
        const int64_t requests = m.value("requests", int64_t{0});
        const int64_t played = m["recall"].value("requests_with_plays", int64_t{0});
        ctx.Log(
            fmt::format("shadow: {} requests shadowed, {} followed by plays", requests, played));
        enough = requests >= min_requests && played >= min_played;
        if (enough || ctx.cancelled() || std::chrono::steady_clock::now() + poll > deadline) {
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
    r.outputs = {
        {"shadow", {{"model", model}, {"version", v.version}, {"sample", sample}, {"metrics", m}}}};
    const int64_t requests = m.value("requests", int64_t{0});
    const int64_t played = m["recall"].value("requests_with_plays", int64_t{0});
    if (!enough) {
      r.passed = false;
      r.reason = ctx.cancelled()
                     ? "cancelled"
                     : fmt::format(
                           "not enough traffic: {} requests shadowed (need {}), {} "
                           "followed by plays (need {}) within {} s",
                           requests, min_requests, played, min_played,
                           std::chrono::duration_cast<std::chrono::seconds>(timeout).count());
      return r;
    }
    const json& recall = m["recall"];
    const double prod = recall["production"].is_number() ? recall["production"].get<double>() : 0;
    const double cand = recall["candidate"].is_number() ? recall["candidate"].get<double>() : 0;
    const std::string summary = fmt::format(
        "online recall {:.3f} (candidate v{}) vs {:.3f} (production) on {} requests with plays; "
        "agreement (Jaccard) {:.3f}",
        cand, v.version, prod, played,
        m["agreement"]["jaccard_mean"].is_number() ? m["agreement"]["jaccard_mean"].get<double>()
                                                   : 0.0);
    if (played > 0 && cand < prod - max_drop) {
      r.passed = false;
      r.reason = fmt::format("{}: below production by more than {}", summary, max_drop);
      return r;
    }
    r.reason = summary;
    return r;
  }
};

}  // namespace

std::unique_ptr<PipelineStep> NewShadowStep() { return std::make_unique<ShadowStep>(); }

}  // namespace marquee::flow

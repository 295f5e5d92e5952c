#include "experiments/canary.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <optional>
#include <thread>

#include "client/http_client.h"
#include "experiments/analysis.h"
#include "experiments/experiment.h"
#include "experiments/shadow_log.h"
#include "marquee/error.h"
#include "registry/registry.h"

namespace marquee {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What RunCanary needs of the platform, over HTTP or a home.
struct Backend {
  std::function<void(const std::string& toml, const std::string& name)> create_and_start;
  std::function<void(const std::string& name)> route;    // sets the model's canary tag
  std::function<json(const std::string& name)> analyze;  // the experiment's analysis
  std::function<void(const std::string& name)> finish;   // removes the tag, stops
};

void CheckOptions(const CanaryOptions& o) {
  if (o.model.empty()) Fail(ErrorCode::kInvalidArgument, "canary: model: missing");
  if (o.candidate <= 0) Fail(ErrorCode::kInvalidArgument, "canary: candidate: missing");
  if (!(o.share > 0 && o.share < 1)) {
    Fail(ErrorCode::kInvalidArgument, "canary: share: must be in (0, 1), got {}", o.share);
  }
  if (o.min_members < 2) {
    Fail(ErrorCode::kInvalidArgument, "canary: min_members: must be at least 2");
  }
  if (!(o.max_drop >= 0 && o.max_drop < 1)) {
    Fail(ErrorCode::kInvalidArgument, "canary: max_drop: must be in [0, 1), got {}", o.max_drop);
  }
  if (!(o.alpha > 0 && o.alpha < 1)) {
    Fail(ErrorCode::kInvalidArgument, "canary: alpha: must be in (0, 1), got {}", o.alpha);
  }
  if (!(o.max_head_share_change < 0 || o.max_head_share_change <= 1)) {
    Fail(ErrorCode::kInvalidArgument,
         "canary: max_head_share_change: must be in [0, 1] (or negative: off), got {}",
         o.max_head_share_change);
  }
  if (o.attribution_window <= 0) {
    Fail(ErrorCode::kInvalidArgument, "canary: attribution_window: must be positive");
  }
}

// A TOML basic string (names and references are catalog names; quotes and backslashes escaped
// anyway).
std::string Quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

CanaryResult Run(const CanaryOptions& o, Backend& b) {
  CheckOptions(o);
  CanaryResult result;
  result.experiment = o.experiment.empty()
                          ? fmt::format("canary-{}-v{}-{}", o.model, o.candidate, NowSeconds())
                          : o.experiment;
  auto say = [&](const std::string& line) {
    if (o.log) o.log(line);
  };
  b.create_and_start(CanaryExperimentToml(o, result.experiment), result.experiment);
  bool started = true;
  try {
    b.route(result.experiment);
    say(fmt::format("canary {}: {}/{} gets {:.0f}% of {}'s members", result.experiment, o.model,
                    o.candidate, o.share * 100, o.model));
    const auto deadline = Clock::now() + o.timeout;
    for (;;) {
      if (o.cancelled && o.cancelled()) {
        result.reason = "cancelled";
        break;
      }
      result.analysis = b.analyze(result.experiment);
      ++result.looks;
      std::string why;
      const int verdict = JudgeCanary(result.analysis, o, &why);
      say(fmt::format("canary {}: look {}: {}", result.experiment, result.looks, why));
      if (verdict != 0) {
        result.passed = verdict > 0;
        result.reason = why;
        break;
      }
      if (Clock::now() + o.poll > deadline) {
        result.reason =
            fmt::format("inconclusive after {} s: {}",
                        std::chrono::duration_cast<std::chrono::seconds>(o.timeout).count(), why);
        break;
      }
      std::this_thread::sleep_for(o.poll);
    }
  } catch (...) {
    if (started) {
      try {
        b.finish(result.experiment);
      } catch (const std::exception& e) {
        spdlog::warn("canary {}: could not stop it: {}", result.experiment, e.what());
      }
    }
    throw;
  }
  b.finish(result.experiment);
  say(fmt::format("canary {}: {}: {}", result.experiment, result.passed ? "passed" : "failed",
                  result.reason));
  return result;
}

std::string UrlEscape(const std::string& s) {
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

}  // namespace

json CanaryResult::ToJson() const {
  return json{{"passed", passed},
              {"reason", reason},
              {"experiment", experiment},
              {"looks", looks},
              {"analysis", analysis}};
}

std::string CanaryExperimentToml(const CanaryOptions& o, const std::string& name) {
  CheckOptions(o);
  std::string types;
  for (const std::string& t : o.event_types) types += (types.empty() ? "" : ", ") + Quoted(t);
  std::string text = fmt::format(
      "[experiment]\nname = {}\nsalt = {}\nmode = \"ab\"\nattribution_window = \"{}s\"\n"
      "description = {}\n",
      Quoted(name), Quoted(name), o.attribution_window,
      Quoted(fmt::format("canary of {}/{} against {}@{}", o.model, o.candidate, o.model,
                         o.production_alias)));
  if (!types.empty()) text += "event_types = [" + types + "]\n";
  text += fmt::format(
      "[[cell]]\nname = \"production\"\nmodel = {}\nweight = {}\n"
      "[[cell]]\nname = \"candidate\"\nmodel = {}\nweight = {}\n",
      Quoted(o.model + "@" + o.production_alias), 1 - o.share,
      Quoted(fmt::format("{}/{}", o.model, o.candidate)), o.share);
  return text;
}

int JudgeCanary(const json& a, const CanaryOptions& o, std::string* reason) {
  auto set = [&](std::string why) {
    if (reason) *reason = std::move(why);
  };
  // The analysis comes from a server: every field is checked before use (a missing or
  // mistyped one reads as absent).
  auto number = [](const json& j, const char* key) -> std::optional<double> {
    if (!j.is_object()) return std::nullopt;
    auto it = j.find(key);
    if (it == j.end() || !it->is_number()) return std::nullopt;
    return it->get<double>();
  };
  auto cells = a.is_object() ? a.find("cells") : a.end();
  if (!a.is_object() || cells == a.end() || !cells->is_array() || cells->size() != 2) {
    set("no analysis yet");
    return 0;
  }
  const json& control = (*cells)[0];
  const json& cand = (*cells)[1];
  const double cm = number(control, "members").value_or(0);
  const double tm = number(cand, "members").value_or(0);
  const double cp = number(control, "plays_per_member").value_or(0);
  const double tp = number(cand, "plays_per_member").value_or(0);
  std::string state =
      fmt::format("members {} / {}, plays per member {:.3f} / {:.3f}", cm, tm, cp, tp);
  // The guardrail, by the always-valid test: significantly worse by more than max_drop.
  std::optional<double> p, lift;
  auto comparisons = a.find("comparisons");
  if (comparisons != a.end() && comparisons->is_array() && !comparisons->empty() &&
      (*comparisons)[0].is_object()) {
    auto ppm = (*comparisons)[0].find("plays_per_member");
    if (ppm != (*comparisons)[0].end()) {
      p = number(*ppm, "sequential_p_value");
      lift = number(*ppm, "rel_lift");
    }
  }
  if (p && lift) {
    state += fmt::format(", relative lift {:+.1f}%, sequential p {:.4f}", *lift * 100, *p);
  } else if (cp > 0) {
    lift = tp / cp - 1;  // no test yet: the point estimate only, never enough to fail
  }
  if (p && lift && *lift < -o.max_drop && *p < o.alpha) {
    set(
        fmt::format("guardrail failed: plays per member {:+.1f}% (limit -{:.1f}%), sequential "
                    "p {:.4f} < {}; {}",
                    *lift * 100, o.max_drop * 100, *p, o.alpha, state));
    return -1;
  }
  // The concentration guardrail: the candidate's head share against production's.
  bool concentration_judged = o.max_head_share_change < 0;
  if (!concentration_judged) {
    auto concentration = [&](const json& cell) {
      return cell.is_object() && cell.contains("concentration") ? cell["concentration"] : json();
    };
    const json cc = concentration(control), tc = concentration(cand);
    const auto ch = number(cc, "head_share"), th = number(tc, "head_share");
    const double ce = number(control, "exposures").value_or(0);
    const double te = number(cand, "exposures").value_or(0);
    if (ch && th && ce >= kConcentrationMinExposures && te >= kConcentrationMinExposures) {
      concentration_judged = true;
      state += fmt::format(", head share {:.3f} / {:.3f}", *ch, *th);
      if (std::abs(*th - *ch) > o.max_head_share_change) {
        set(fmt::format(
            "guardrail failed: concentration: the candidate's head share {:.3f} against "
            "production's {:.3f} ({:+.3f}, limit {:.3f}: it shows {} production's most-shown "
            "items); {}",
            *th, *ch, *th - *ch, o.max_head_share_change, *th > *ch ? "mostly" : "few of", state));
        return -1;
      }
    }
  }
  if (cm >= static_cast<double>(o.min_members) && tm >= static_cast<double>(o.min_members)) {
    if (!concentration_judged) {
      set(
          fmt::format("enough members, waiting for {} exposures per cell to judge concentration: "
                      "{}",
                      kConcentrationMinExposures, state));
      return 0;
    }
    // Enough members and no significant failure: but a drop beyond the limit that the test
    // could not yet confirm is not a pass either.
    if (lift && *lift < -o.max_drop) {
      set("enough members, but plays per member are below the limit without significance: " +
          state);
      return 0;
    }
    set("passed: " + state);
    return 1;
  }
  set(state);
  return 0;
}

CanaryResult RunCanary(const std::string& url, const std::string& api_key, const CanaryOptions& o) {
  HttpClient client(url, api_key);
  const std::string tags = "/api/v1/models/" + UrlEscape(o.model) + "/tags";
  // Asks this replica to follow the change now (others follow at their next poll); a key
  // without admin scope only delays that.
  auto reload = [&] {
    try {
      client.Send("POST", "/admin/reload", "{}");
    } catch (const std::exception&) {
    }
  };
  Backend b;
  b.create_and_start = [&](const std::string& toml, const std::string& name) {
    const json body = {{"toml", toml}};
    client.Json("POST", "/api/v1/experiments", &body);
    const json empty = json::object();
    client.Json("POST", "/api/v1/experiments/" + UrlEscape(name) + "/start", &empty);
  };
  b.route = [&](const std::string& name) {
    const json body = {{"set", {{std::string(kCanaryTag), name}}}};
    client.Json("PUT", tags, &body);
    reload();
  };
  b.analyze = [&](const std::string& name) {
    return client.Json("GET", "/api/v1/experiments/" + UrlEscape(name) + "/analysis");
  };
  b.finish = [&](const std::string& name) {
    const json body = {{"remove", {std::string(kCanaryTag)}}};
    try {
      client.Json("PUT", tags, &body);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kNotFound) throw;  // removed already
    }
    const json empty = json::object();
    try {
      client.Json("POST", "/api/v1/experiments/" + UrlEscape(name) + "/stop", &empty);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kFailedPrecondition) throw;  // stopped already
    }
    reload();
  };
  return Run(o, b);
}

CanaryResult RunCanary(Registry& registry, const std::string& home, const CanaryOptions& o) {
  Backend b;
  b.create_and_start = [&](const std::string& toml, const std::string& name) {
    CreateExperiment(registry, ParseExperimentToml(toml, "canary"), toml, NowSeconds());
    StartExperiment(registry, name, NowSeconds());
  };
  b.route = [&](const std::string& name) {
    registry.SetTags(ParseModelRef(o.model), {{std::string(kCanaryTag), name}}, {});
  };
  b.analyze = [&](const std::string& name) {
    return AnalyzeFromHome(home, GetExperiment(registry, name));
  };
  b.finish = [&](const std::string& name) {
    const auto t = registry.store().GetTags(o.model, 0);
    if (t.count(std::string(kCanaryTag))) {
      registry.SetTags(ParseModelRef(o.model), {}, {std::string(kCanaryTag)});
    }
    if (GetExperiment(registry, name).record.state == ExperimentState::kRunning) {
      StopExperiment(registry, name, NowSeconds());
    }
  };
  return Run(o, b);
}

}  // namespace marquee

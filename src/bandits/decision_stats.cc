#include "bandits/decision_stats.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "marquee/error.h"

namespace marquee {
namespace {

// Floor of a / b for b > 0 (decisions before 1970 stay in the right bucket).
int64_t FloorDiv(int64_t a, int64_t b) { return a / b - (a % b != 0 && a < 0 ? 1 : 0); }

// The id of the action a decision chose ("" when the record holds none).
std::string ChosenAction(const Decision& d) {
  const nlohmann::json& a = d.actions[d.chosen];
  if (a.is_object()) {
    auto it = a.find("id");
    if (it != a.end() && it->is_string()) return it->get<std::string>();
  }
  return "";
}

// A policy's state during the pass.
struct Accumulator {
  PolicyActivity out;
  std::set<int64_t> versions;
  std::map<int64_t, DecisionCounts> buckets;
  std::unordered_map<std::string, uint64_t> actions;
};

}  // namespace

void DecisionCounts::Add(const Decision& d) {
  ++decisions;
  if (d.outcome.kind == OutcomeKind::kOpen) return;
  ++closed;
  if (d.outcome.kind == OutcomeKind::kJoined) ++joined;
  rewards += d.outcome.reward;
}

std::vector<PolicyActivity> SummarizeDecisions(const DecisionLog& log,
                                               const ActivityOptions& options) {
  if (options.bucket_seconds < 0) {
    Fail(ErrorCode::kInvalidArgument, "bucket width {} s must not be negative",
         options.bucket_seconds);
  }
  std::map<std::string, Accumulator> policies;
  log.ForEach(options.since_ms, [&](const Decision& d) {
    if (!options.policy.empty() && d.model != options.policy) return true;
    Accumulator& a = policies[d.model];
    if (a.out.counts.decisions == 0) a.out.first_ms = d.ts_ms;
    a.out.last_ms = std::max(a.out.last_ms, d.ts_ms);
    a.out.counts.Add(d);
    a.versions.insert(d.version);
    if (options.bucket_seconds > 0) {
      const int64_t ms = options.bucket_seconds * 1000;
      a.buckets[FloorDiv(d.ts_ms, ms) * options.bucket_seconds].Add(d);
    }
    if (options.actions) {
      std::string id = ChosenAction(d);
      auto it = a.actions.find(id);
      if (it != a.actions.end()) {
        ++it->second;
      } else if (a.actions.size() < options.max_actions) {
        a.actions.emplace(std::move(id), 1);
      } else {
        ++a.out.other_actions;
      }
    }
    return true;
  });
  std::vector<PolicyActivity> out;
  for (auto& [name, a] : policies) {
    a.out.policy = name;
    a.out.versions.assign(a.versions.begin(), a.versions.end());
    for (const auto& [start, counts] : a.buckets) a.out.series.push_back({start, counts});
    a.out.actions.assign(a.actions.begin(), a.actions.end());
    std::sort(a.out.actions.begin(), a.out.actions.end(), [](const auto& x, const auto& y) {
      return x.second > y.second || (x.second == y.second && x.first < y.first);
    });
    out.push_back(std::move(a.out));
  }
  return out;
}

}  // namespace marquee

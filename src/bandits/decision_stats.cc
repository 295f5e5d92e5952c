#include "bandits/decision_stats.h"

#include <algorithm>
#include <map>
#include <optional>
#include <queue>
#include <set>
#include <unordered_map>

#include "marquee/error.h"

namespace marquee {
namespace {

constexpr int64_t kHourMs = 3600 * 1000;

// Floor of a / b for b > 0 (decisions before 1970 stay in the right bucket).
int64_t FloorDiv(int64_t a, int64_t b) { return a / b - (a % b != 0 && a < 0 ? 1 : 0); }

void CheckOptions(const ActivityOptions& o) {
  if (o.bucket_seconds < 0 || o.bucket_seconds % 3600 != 0) {
    Fail(ErrorCode::kInvalidArgument,
         "bucket width {} s: must be a whole number of hours (3600 s = hour, 86400 s = day)",
         o.bucket_seconds);
  }
}

// The first hour counted: since_ms's hour.
int64_t FromHour(const ActivityOptions& o) { return FloorDiv(o.since_ms, kHourMs); }

// The `k` most chosen action ids (ties by id), the rest summed; memory O(k).
class TopActions {
 public:
  explicit TopActions(size_t k) : k_(k) {}

  void Add(std::string id, uint64_t n) {
    if (k_ == 0) {
      other_ += n;
      return;
    }
    heap_.emplace(n, std::move(id));
    if (heap_.size() > k_) {
      other_ += heap_.top().first;
      heap_.pop();
    }
  }

  void Finish(PolicyActivity* a) {
    a->actions.clear();
    while (!heap_.empty()) {
      a->actions.emplace_back(heap_.top().second, heap_.top().first);
      heap_.pop();
    }
    std::reverse(a->actions.begin(), a->actions.end());
    a->other_actions = other_;
  }

 private:
  using Entry = std::pair<uint64_t, std::string>;
  // Orders the heap so that its top is the entry reported last: fewest decisions, then the
  // greatest id.
  struct Better {
    bool operator()(const Entry& x, const Entry& y) const {
      return x.first > y.first || (x.first == y.first && x.second < y.second);
    }
  };
  size_t k_;
  std::priority_queue<Entry, std::vector<Entry>, Better> heap_;
  uint64_t other_ = 0;
};

void AddToBucket(std::vector<DecisionBucket>& series, int64_t start, const DecisionCounts& c) {
  if (series.empty() || series.back().start != start) series.push_back({start, {}});
  series.back().counts.Merge(c);
}

std::vector<PolicyActivity> SortedByPolicy(std::vector<PolicyActivity> out) {
  std::sort(out.begin(), out.end(),
            [](const PolicyActivity& x, const PolicyActivity& y) { return x.policy < y.policy; });
  return out;
}

// One policy from the counters, or nothing when it has no decisions from `from` on.
std::optional<PolicyActivity> FromCounters(const DecisionCounters& c, const std::string& policy,
                                           const DecisionCounts& totals, const ActivityOptions& o) {
  const int64_t from = FromHour(o);
  const int64_t from_ms = from * kHourMs;
  // Everything the policy decided is from `from` on: its totals answer without the hours.
  const bool whole = totals.first_ms >= from_ms;
  PolicyActivity a;
  a.policy = policy;
  if (whole) a.counts = totals;
  if (!whole || o.bucket_seconds > 0) {
    const int64_t width = o.bucket_seconds;
    c.Hours(policy, from, [&](int64_t hour, const DecisionCounts& n) {
      if (!whole) a.counts.Merge(n);
      if (width > 0) AddToBucket(a.series, FloorDiv(hour * 3600, width) * width, n);
    });
  }
  if (a.counts.decisions == 0) return std::nullopt;
  a.first_ms = a.counts.first_ms;
  a.last_ms = a.counts.last_ms;
  c.Versions(policy, [&](int64_t version, const DecisionCounts& n) {
    if (n.last_ms >= from_ms) a.versions.push_back(version);
  });
  if (o.actions) {
    TopActions top(o.max_actions);
    if (whole) {
      c.Actions(policy,
                [&](const std::string& id, const DecisionCounts& n) { top.Add(id, n.decisions); });
    } else {
      std::unordered_map<std::string, uint64_t> since;
      c.ActionHours(policy, from, [&](int64_t, const std::string& id, const DecisionCounts& n) {
        since[id] += n.decisions;
      });
      for (auto& [id, n] : since) top.Add(id, n);
    }
    top.Finish(&a);
  }
  return a;
}

}  // namespace

std::vector<PolicyActivity> SummarizeDecisions(const DecisionLog& log,
                                               const ActivityOptions& options) {
  CheckOptions(options);
  std::vector<PolicyActivity> out;
  const bool counted = log.WithCounters([&](const DecisionCounters& c) {
    auto add = [&](const std::string& policy, const DecisionCounts& totals) {
      if (auto a = FromCounters(c, policy, totals, options)) out.push_back(std::move(*a));
    };
    if (options.policy.empty()) {
      c.Policies(add);
    } else if (DecisionCounts totals; c.Totals(options.policy, &totals)) {
      add(options.policy, totals);
    }
  });
  if (!counted) return SummarizeDecisionsByScan(log, options);
  return SortedByPolicy(std::move(out));
}

std::vector<PolicyActivity> SummarizeDecisionsByScan(const DecisionLog& log,
                                                     const ActivityOptions& options) {
  CheckOptions(options);
  // A policy's state during the pass.
  struct Accumulator {
    PolicyActivity out;
    std::set<int64_t> versions;
    std::map<int64_t, DecisionCounts> buckets;
    std::unordered_map<std::string, uint64_t> actions;
  };
  std::map<std::string, Accumulator> policies;
  log.ForEach(FromHour(options) * kHourMs, [&](const Decision& d) {
    if (!options.policy.empty() && d.model != options.policy) return true;
    Accumulator& a = policies[d.model];
    a.out.counts.Add(d);
    a.versions.insert(d.version);
    if (options.bucket_seconds > 0) {
      const int64_t ms = options.bucket_seconds * 1000;
      a.buckets[FloorDiv(d.ts_ms, ms) * options.bucket_seconds].Add(d);
    }
    if (options.actions) ++a.actions[ChosenActionId(d)];
    return true;
  });
  std::vector<PolicyActivity> out;
  for (auto& [name, a] : policies) {
    a.out.policy = name;
    a.out.first_ms = a.out.counts.first_ms;
    a.out.last_ms = a.out.counts.last_ms;
    a.out.versions.assign(a.versions.begin(), a.versions.end());
    for (const auto& [start, counts] : a.buckets) a.out.series.push_back({start, counts});
    if (options.actions) {
      TopActions top(options.max_actions);
      for (auto& [id, n] : a.actions) top.Add(id, n);
      top.Finish(&a.out);
    }
    out.push_back(std::move(a.out));
  }
  return out;
}

}  // namespace marquee

#include "serving/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>

namespace marquee {
namespace {
// Status codes we track individually; anything else lands in its class's "other" slot.
constexpr int kStatuses[] = {200, 202, 204, 400, 401, 403, 404, 405, 408, 409,
                             413, 415, 422, 429, 431, 500, 501, 503, 504};

static_assert(VersionCounters::kLatencyBuckets == ServingMetrics::kBuckets.size() + 1,
              "a version's latency histogram has the routes' buckets");

size_t LatencyBucket(double seconds) {
  size_t b = 0;
  while (b < ServingMetrics::kBuckets.size() && seconds > ServingMetrics::kBuckets[b]) ++b;
  return b;
}

}  // namespace

LatencyPercentiles PercentilesOf(std::span<const uint64_t> buckets) {
  const auto& bounds = ServingMetrics::kBuckets;
  uint64_t total = 0;
  for (uint64_t n : buckets) total += n;
  auto at = [&](double q) {
    if (total == 0) return 0.0;
    const double rank = q * static_cast<double>(total);
    uint64_t below = 0;
    for (size_t b = 0; b < buckets.size(); ++b) {
      if (buckets[b] == 0 || static_cast<double>(below + buckets[b]) < rank) {
        below += buckets[b];
        continue;
      }
      // Above the last bound nothing is known but the bound itself.
      if (b >= bounds.size()) return bounds.back() * 1e3;
      const double lo = b == 0 ? 0.0 : bounds[b - 1];
      const double frac = (rank - static_cast<double>(below)) / static_cast<double>(buckets[b]);
      return (lo + (bounds[b] - lo) * std::clamp(frac, 0.0, 1.0)) * 1e3;
    }
    return bounds.back() * 1e3;
  };
  return {at(0.5), at(0.9), at(0.99)};
}

void ObserveVersion(const Servable& s, bool error, double seconds) {
  VersionCounters& c = s.counters;
  c.requests.fetch_add(1, std::memory_order_relaxed);
  if (error) c.errors.fetch_add(1, std::memory_order_relaxed);
  c.latency[LatencyBucket(seconds)].fetch_add(1, std::memory_order_relaxed);
  c.sum_ns.fetch_add(static_cast<uint64_t>(seconds * 1e9), std::memory_order_relaxed);
}

VersionTimer::~VersionTimer() {
  if (servable_ == nullptr) return;
  ObserveVersion(*servable_, !ok_,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
}

std::string RenderVersionMetrics(std::span<const VersionStats> versions) {
  std::string requests =
      "# HELP marquee_model_requests_total Scoring requests answered by each loaded model "
      "version (a batch's requests count one each).\n"
      "# TYPE marquee_model_requests_total counter\n";
  std::string errors =
      "# HELP marquee_model_request_errors_total Of marquee_model_requests_total, those "
      "answered with an error.\n"
      "# TYPE marquee_model_request_errors_total counter\n";
  std::string latency =
      "# HELP marquee_model_request_duration_seconds Time each model version took to answer "
      "(a batch's requests each take the whole call's time).\n"
      "# TYPE marquee_model_request_duration_seconds histogram\n";
  for (const VersionStats& v : versions) {
    if (!v.version) continue;
    const std::string labels = fmt::format("model=\"{}\",version=\"{}\"", v.model, *v.version);
    requests += fmt::format("marquee_model_requests_total{{{}}} {}\n", labels, v.requests);
    errors += fmt::format("marquee_model_request_errors_total{{{}}} {}\n", labels, v.errors);
    uint64_t cum = 0;
    for (size_t b = 0; b < ServingMetrics::kBuckets.size(); ++b) {
      cum += v.latency[b];
      latency += fmt::format("marquee_model_request_duration_seconds_bucket{{{},le=\"{}\"}} {}\n",
                             labels, ServingMetrics::kBuckets[b], cum);
    }
    cum += v.latency.back();
    latency += fmt::format("marquee_model_request_duration_seconds_bucket{{{},le=\"+Inf\"}} {}\n",
                           labels, cum);
    latency += fmt::format("marquee_model_request_duration_seconds_sum{{{}}} {:.9f}\n", labels,
                           static_cast<double>(v.sum_ns) / 1e9);
    latency += fmt::format("marquee_model_request_duration_seconds_count{{{}}} {}\n", labels, cum);
  }
  return requests + errors + latency;
}

ServingMetrics::ServingMetrics(std::vector<std::string> routes) {
  for (auto& r : routes) {
    routes_.push_back(std::make_unique<Route>());
    routes_.back()->name = std::move(r);
  }
}

void ServingMetrics::AddRoute(std::string name) {
  for (const auto& r : routes_) {
    if (r->name == name) return;
  }
  auto route = std::make_unique<Route>();
  route->name = std::move(name);
  routes_.insert(routes_.empty() ? routes_.end() : routes_.end() - 1, std::move(route));
}

size_t ServingMetrics::StatusSlot(int status) {
  for (size_t i = 0; i < std::size(kStatuses); ++i) {
    if (kStatuses[i] == status) return i;
  }
  return 63;
}

void ServingMetrics::Observe(size_t route, int status, double seconds) {
  if (route >= routes_.size()) route = routes_.size() - 1;
  Route& r = *routes_[route];
  if (status >= 500) {
    r.errors_5xx.fetch_add(1, std::memory_order_relaxed);
  } else if (status >= 400) {
    r.errors_4xx.fetch_add(1, std::memory_order_relaxed);
  }
  size_t slot = StatusSlot(status);
  r.by_status[slot].fetch_add(1, std::memory_order_relaxed);
  r.buckets[LatencyBucket(seconds)].fetch_add(1, std::memory_order_relaxed);
  r.count.fetch_add(1, std::memory_order_relaxed);
  r.sum_ns.fetch_add(static_cast<uint64_t>(seconds * 1e9), std::memory_order_relaxed);
}

std::vector<ServingMetrics::RouteStats> ServingMetrics::Routes() const {
  std::vector<RouteStats> out;
  out.reserve(routes_.size());
  for (const auto& r : routes_) {
    RouteStats st;
    st.route = r->name;
    for (size_t b = 0; b < st.latency.size(); ++b) {
      st.latency[b] = r->buckets[b].load(std::memory_order_relaxed);
      st.requests += st.latency[b];
    }
    st.errors_4xx = r->errors_4xx.load(std::memory_order_relaxed);
    st.errors_5xx = r->errors_5xx.load(std::memory_order_relaxed);
    out.push_back(std::move(st));
  }
  return out;
}

uint64_t ServingMetrics::requests(size_t route, int status) const {
  if (route >= routes_.size()) return 0;
  return routes_[route]->by_status[StatusSlot(status)].load();
}

std::string ServingMetrics::Render(const std::string& extra) const {
  std::string out;
  out += "# HELP marquee_http_requests_total HTTP requests by route and status code.\n";
  out += "# TYPE marquee_http_requests_total counter\n";
  for (const auto& r : routes_) {
    for (size_t i = 0; i < std::size(kStatuses); ++i) {
      uint64_t n = r->by_status[i].load(std::memory_order_relaxed);
      if (n > 0) {
        out += fmt::format("marquee_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n",
                           r->name, kStatuses[i], n);
      }
    }
    uint64_t other = r->by_status[63].load(std::memory_order_relaxed);
    if (other > 0) {
      out += fmt::format("marquee_http_requests_total{{route=\"{}\",status=\"other\"}} {}\n",
                         r->name, other);
    }
  }
  out +=
      "# HELP marquee_http_request_duration_seconds Time from a request's last byte read to "
      "its response handed to the socket.\n";
  out += "# TYPE marquee_http_request_duration_seconds histogram\n";
  for (const auto& r : routes_) {
    uint64_t count = r->count.load(std::memory_order_relaxed);
    if (count == 0) continue;
    uint64_t cum = 0;
    for (size_t b = 0; b < kBuckets.size(); ++b) {
      cum += r->buckets[b].load(std::memory_order_relaxed);
      out +=
          fmt::format("marquee_http_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {}\n",
                      r->name, kBuckets[b], cum);
    }
    cum += r->buckets[kBuckets.size()].load(std::memory_order_relaxed);
    out +=
        fmt::format("marquee_http_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {}\n",
                    r->name, cum);
    out += fmt::format("marquee_http_request_duration_seconds_sum{{route=\"{}\"}} {:.9f}\n",
                       r->name, r->sum_ns.load(std::memory_order_relaxed) / 1e9);
    out += fmt::format("marquee_http_request_duration_seconds_count{{route=\"{}\"}} {}\n", r->name,
                       cum);
  }
  out += "# HELP marquee_events_ingested_total Events made durable through POST /v1/events.\n";
  out += "# TYPE marquee_events_ingested_total counter\n";
  out += fmt::format("marquee_events_ingested_total {}\n", events_.load());
  out += "# HELP marquee_model_swaps_total Model versions swapped in after the first load.\n";
  out += "# TYPE marquee_model_swaps_total counter\n";
  out += fmt::format("marquee_model_swaps_total {}\n", swaps_.load());
  out += "# HELP marquee_model_load_failures_total Model versions that failed to load.\n";
  out += "# TYPE marquee_model_load_failures_total counter\n";
  out += fmt::format("marquee_model_load_failures_total {}\n", load_failures_.load());
  out +=
      "# HELP marquee_recommend_rankings_total Recommendation rankings by how they were scored: "
      "score_cache (a known user's materialised scores), training_sums (a known user whose "
      "history grew: their kept training sum plus the new items' rows), per_request (folded in "
      "and scored), popularity_fallback (nothing to fold in).\n";
  out += "# TYPE marquee_recommend_rankings_total counter\n";
  out += fmt::format("marquee_recommend_rankings_total{{scored_by=\"score_cache\"}} {}\n",
                     rank_cached_.load());
  out += fmt::format("marquee_recommend_rankings_total{{scored_by=\"training_sums\"}} {}\n",
                     rank_grown_.load());
  out += fmt::format("marquee_recommend_rankings_total{{scored_by=\"per_request\"}} {}\n",
                     rank_scored_.load());
  out += fmt::format("marquee_recommend_rankings_total{{scored_by=\"popularity_fallback\"}} {}\n",
                     rank_fallback_.load());
  out += extra;
  return out;
}

}  // namespace marquee

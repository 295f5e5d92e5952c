#include "serving/metrics.h"

#include <fmt/format.h>

#include <memory>

namespace marquee {
namespace {
// Status codes we track individually; anything else lands in its class's "other" slot.
constexpr int kStatuses[] = {200, 202, 204, 400, 401, 403, 404, 405, 408, 409,
                             413, 415, 422, 429, 431, 500, 501, 503, 504};
}  // namespace

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
  size_t slot = StatusSlot(status);
  if (slot == 63) status = 0;
  r.by_status[slot].fetch_add(1, std::memory_order_relaxed);
  size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  r.buckets[b].fetch_add(1, std::memory_order_relaxed);
  r.count.fetch_add(1, std::memory_order_relaxed);
  r.sum_ns.fetch_add(static_cast<uint64_t>(seconds * 1e9), std::memory_order_relaxed);
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
      "score_cache (a known user's materialised scores), per_request (folded in and scored), "
      "popularity_fallback (nothing to fold in).\n";
  out += "# TYPE marquee_recommend_rankings_total counter\n";
  out += fmt::format("marquee_recommend_rankings_total{{scored_by=\"score_cache\"}} {}\n",
                     rank_cached_.load());
  out += fmt::format("marquee_recommend_rankings_total{{scored_by=\"per_request\"}} {}\n",
                     rank_scored_.load());
  out += fmt::format("marquee_recommend_rankings_total{{scored_by=\"popularity_fallback\"}} {}\n",
                     rank_fallback_.load());
  out += extra;
  return out;
}

}  // namespace marquee

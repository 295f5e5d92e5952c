// ServingMetrics: the counters and histograms `GET /metrics` exposes in the Prometheus text
// format (version 0.0.4). Hot-path updates are lock-free atomics on preallocated cells: routes
// and status codes are a small fixed set registered up front, so no map is touched per request.
// Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/servable.h"

namespace marquee {

// Latency percentiles (milliseconds) read from a histogram of ServingMetrics::kBuckets (plus the
// bucket above the last bound), interpolated linearly inside the bucket the rank falls in (as
// Prometheus' histogram_quantile does): each lies within its bucket's bounds, between 0 and the
// last finite bound, and p50 <= p90 <= p99. All 0 for an empty histogram.
struct LatencyPercentiles {
  double p50 = 0, p90 = 0, p99 = 0;
};
LatencyPercentiles PercentilesOf(std::span<const uint64_t> buckets);

// What one loaded version answered (ModelManager::VersionStats), summed over the servables of
// the same kind, model and version the server holds.
struct VersionStats {
  std::string kind, model;
  std::optional<int64_t> version;    // unset for a reference with no version loaded yet
  std::vector<std::string> refs;     // the references it serves, as given
  std::vector<std::string> aliases;  // the aliases among them
  std::string state;                 // "ready", "retired" (kept), "loading" or "failed"
  std::string error;                 // the latest failed load of its references ("" if none)
  int64_t loaded_at = 0;             // Unix seconds
  uint64_t requests = 0, errors = 0, sum_ns = 0;
  std::array<uint64_t, VersionCounters::kLatencyBuckets> latency{};
};

// Records one request answered by version `s` in `seconds` (`error`: answered with an error) on
// its VersionCounters: four relaxed atomic adds, no lock. Thread-safe.
void ObserveVersion(const Servable& s, bool error, double seconds);

// Measures a scoring request for its version: Served(s) names the version once the handler
// knows it; the destructor records the time since construction, as an error unless Ok() was
// called (an exception or an error answer after the version was known). Nothing is recorded
// when no version was named. One per request, on the request's thread.
class VersionTimer {
 public:
  VersionTimer() : start_(std::chrono::steady_clock::now()) {}
  ~VersionTimer();
  VersionTimer(const VersionTimer&) = delete;
  VersionTimer& operator=(const VersionTimer&) = delete;
  // nullptr: records nothing (a handler that counts the request itself later).
  void Served(std::shared_ptr<const Servable> s) { servable_ = std::move(s); }
  void Ok() { ok_ = true; }
  std::chrono::steady_clock::time_point start() const { return start_; }

 private:
  std::chrono::steady_clock::time_point start_;
  std::shared_ptr<const Servable> servable_;
  bool ok_ = false;
};

// The Prometheus lines of the per-version counters (marquee_model_requests_total,
// marquee_model_request_errors_total, marquee_model_request_duration_seconds{model, version,
// le}) for the versions given (those with a version).
std::string RenderVersionMetrics(std::span<const VersionStats> versions);

class ServingMetrics {
 public:
  // Upper bounds (seconds) of the latency histogram buckets.
  static constexpr std::array<double, 14> kBuckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};
  // `routes`: the route labels, the last one for requests no route serves ("other").
  explicit ServingMetrics(std::vector<std::string> routes = {"other"});
  // Adds a route label before the last one (no-op for a label it has); Service::AddRoute calls
  // it for each path of the route table. Call before requests are observed (not thread-safe).
  void AddRoute(std::string name);

  // `route` is an index into the routes given at construction (out of range: the last one).
  void Observe(size_t route, int status, double seconds);
  void AddEvents(uint64_t n) { events_.fetch_add(n, std::memory_order_relaxed); }
  void AddSwap() { swaps_.fetch_add(1, std::memory_order_relaxed); }
  void AddLoadFailure() { load_failures_.fetch_add(1, std::memory_order_relaxed); }
  // Recommendation rankings (single, batch and experiment requests) by how they were scored:
  // `cached` answered from a known user's materialised scores (the score cache), `scored` folded
  // in and scored per request, `fallback` the popularity list (nothing to fold in). Exposed as
  // marquee_recommend_rankings_total{scored_by=...}; the cache hit rate is cached / all three.
  void AddRankings(uint64_t cached, uint64_t scored, uint64_t fallback, uint64_t grown = 0) {
    if (cached > 0) rank_cached_.fetch_add(cached, std::memory_order_relaxed);
    if (grown > 0) rank_grown_.fetch_add(grown, std::memory_order_relaxed);
    if (scored > 0) rank_scored_.fetch_add(scored, std::memory_order_relaxed);
    if (fallback > 0) rank_fallback_.fetch_add(fallback, std::memory_order_relaxed);
  }
  uint64_t rankings_cached() const { return rank_cached_.load(); }
  uint64_t rankings_scored() const { return rank_scored_.load(); }
  uint64_t rankings_fallback() const { return rank_fallback_.load(); }
  uint64_t rankings_grown() const { return rank_grown_.load(); }
  uint64_t swaps() const { return swaps_.load(); }
  uint64_t requests(size_t route, int status) const;
  uint64_t events() const { return events_.load(); }

  // One route's counters as they stand (GET /api/v1/serving/stats).
  struct RouteStats {
    std::string route;
    uint64_t requests = 0, errors_4xx = 0, errors_5xx = 0;
    std::array<uint64_t, kBuckets.size() + 1> latency{};
  };
  // Every route label with its counters, in label order (routes no request reached included).
  std::vector<RouteStats> Routes() const;
  // When this object was made (the server's start), wall clock.
  std::chrono::system_clock::time_point started_at() const { return started_at_; }

  // The exposition text; `extra` appends model gauges etc. (already formatted lines).
  std::string Render(const std::string& extra) const;

 private:
  static size_t StatusSlot(int status);
  struct Route {
    std::string name;
    std::array<std::atomic<uint64_t>, 64> by_status{};  // see StatusSlot
    std::array<std::atomic<uint64_t>, kBuckets.size() + 1> buckets{};
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> sum_ns{0};
    std::atomic<uint64_t> errors_4xx{0}, errors_5xx{0};  // by status class, any code
  };
  std::chrono::system_clock::time_point started_at_ = std::chrono::system_clock::now();
  // Filled by the constructor and AddRoute before requests are observed, read-only after: no
  // lock (the cells it points to are atomics).
  std::vector<std::unique_ptr<Route>> routes_;
  std::atomic<uint64_t> events_{0}, swaps_{0}, load_failures_{0};
  std::atomic<uint64_t> rank_cached_{0}, rank_scored_{0}, rank_fallback_{0}, rank_grown_{0};
};

}  // namespace marquee

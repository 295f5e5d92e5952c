// ServingMetrics: the counters and histograms `GET /metrics` exposes in the Prometheus text
// format (version 0.0.4). Hot-path updates are lock-free atomics on preallocated cells: routes
// and status codes are a small fixed set registered up front, so no map is touched per request.
// Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace marquee {

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
  void AddRankings(uint64_t cached, uint64_t scored, uint64_t fallback) {
    if (cached > 0) rank_cached_.fetch_add(cached, std::memory_order_relaxed);
    if (scored > 0) rank_scored_.fetch_add(scored, std::memory_order_relaxed);
    if (fallback > 0) rank_fallback_.fetch_add(fallback, std::memory_order_relaxed);
  }
  uint64_t rankings_cached() const { return rank_cached_.load(); }
  uint64_t rankings_scored() const { return rank_scored_.load(); }
  uint64_t rankings_fallback() const { return rank_fallback_.load(); }
  uint64_t swaps() const { return swaps_.load(); }
  uint64_t requests(size_t route, int status) const;

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
  };
  // Filled by the constructor and AddRoute before requests are observed, read-only after: no
  // lock (the cells it points to are atomics).
  std::vector<std::unique_ptr<Route>> routes_;
  std::atomic<uint64_t> events_{0}, swaps_{0}, load_failures_{0};
  std::atomic<uint64_t> rank_cached_{0}, rank_scored_{0}, rank_fallback_{0};
};

}  // namespace marquee

// Servable: one loaded model version as a server holds it, whatever its kind, and the request a
// kind's Load gets (TF Serving's servable and loader, in one small header).
//
// A kind's ModelKind::Load builds one from a verified artifact; serving's ModelManager holds it
// in a slot (std::atomic<std::shared_ptr<const Servable>>), swaps it in once loaded and warmed,
// and hands each request its own shared_ptr, so a version is freed when its last request ends.
// The route handlers that answer a kind's routes know its concrete type (the recommender's
// ServableModel, the bandit's LivePolicy, the tabular TabularServable) and cast to it.
//
// Layer 1 (docs/ARCHITECTURE.md): depends on common only.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace marquee {

class Env;

// The requests one loaded version answered, kept by the server's scoring routes while it
// serves (serving/metrics.h records and reads them: ObserveVersion, VersionStats). They live in
// the version so that a request reaches them through the servable it already holds, with no
// lookup and no lock. Relaxed atomics: each count is exact, no order holds between them.
struct VersionCounters {
  // Latency buckets: ServingMetrics::kBuckets (checked there) and one above the last bound.
  static constexpr size_t kLatencyBuckets = 15;
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> errors{0};  // of `requests`, those answered with an error
  std::atomic<uint64_t> sum_ns{0};  // total latency
  std::array<std::atomic<uint64_t>, kLatencyBuckets> latency{};
};

// One loaded model version. Immutable once loaded, except for state a kind synchronises itself
// (a bandit policy learning online guards its policy with its own lock) and `counters`.
struct Servable {
  virtual ~Servable() = default;
  std::string name;  // the registry model name
  int64_t version = 0;
  std::string digest;  // the artifact's sha256
  std::string family;
  int64_t loaded_at = 0;  // unix seconds
  double load_seconds = 0;
  mutable VersionCounters counters;  // of the requests this version answered; thread-safe

  // The /v1/models fields of this version ({"version", "family", "artifact", ...}).
  virtual nlohmann::json Describe() const {
    return {{"version", version},
            {"family", family},
            {"artifact", digest},
            {"loaded_at", loaded_at},
            {"load_seconds", load_seconds}};
  }
  // Whether a version an alias moved away from is kept loaded (a few per reference) so that
  // moving the alias back resumes it instead of loading it again. True for versions whose state
  // changes while served (bandit policies learning online); false by default.
  virtual bool KeepWhenRetired() const { return false; }
};

// How a recommender version finds its best items (docs/config.md, "[serve]"): "exact" scores
// every item per request; "hnsw" builds an HNSW graph over a factor model's item rows at load
// (models/ann_index.h) and searches it (other families, which have no item rows, stay exact).
struct RetrievalSpec {
  std::string index = "exact";
  uint32_t hnsw_m = 16;                 // graph degree
  uint32_t hnsw_ef_construction = 100;  // candidate list while building
  uint32_t hnsw_ef_search = 200;        // candidate list while searching
  // How the graph stores the rows: "none" (floats) or "sq8" (int8 codes; models/ann_index.h).
  std::string hnsw_quantization = "sq8";
  int threads = 0;  // build threads (0: every core)
  // Where built graphs are saved and read back at the next load of the same artifact and
  // settings (models/ann_index.h; the server's $home/serving/index). "": never saved.
  std::string index_dir;
};

// What ModelKind::Load loads.
struct ServableSpec {
  std::string artifact_path;  // verified by the caller (digest == `digest`)
  std::string name;           // registry model name
  int64_t version = 0;
  std::string digest;
  std::string family;  // as the registry records it ("" for versions registered before families)
  Env* env = nullptr;  // nullptr: Env::Default()
  // Memory a recommender may spend per version on materialised scores of its training users.
  size_t score_cache_bytes = 0;
  RetrievalSpec retrieval;
};

}  // namespace marquee

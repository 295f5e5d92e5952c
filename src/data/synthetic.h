// Synthetic interaction data with power-law item popularity and latent taste clusters, for the
// quickstart (nothing to download) and for benchmarks of MovieLens-20M shape.
#pragma once

#include <cstdint>

#include "marquee/dataset.h"

namespace marquee {

struct SyntheticOptions {
  uint32_t users = 2000;
  uint32_t items = 1000;
  uint64_t interactions = 100000;  // target count; duplicates of a (user, item) are not drawn
  uint32_t clusters = 16;          // latent taste clusters
  double popularity_exponent = 1.0;  // Zipf exponent of global item popularity
  double user_activity_exponent = 1.0;  // heavy tail of interactions per user
  double cluster_affinity = 0.75;  // share of a user's items drawn from their cluster's taste
  bool ratings = true;             // 1..5 ratings, higher inside the user's cluster
  uint64_t seed = 7;
};

// Deterministic for a given options struct (independent of thread count).
Dataset GenerateSynthetic(const SyntheticOptions& options, int threads);

}  // namespace marquee

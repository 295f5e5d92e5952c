// Synthetic interaction data with power-law item popularity and latent taste clusters, for the
// quickstart (nothing to download) and for benchmarks of MovieLens-20M shape.
#pragma once

#include <cstdint>

#include "marquee/dataset.h"

namespace marquee {

struct SyntheticOptions {
  uint32_t users = 2000;
  uint32_t items = 1000;
  uint64_t interactions = 100000;       // target count; duplicates of a (user, item) are not drawn
  uint32_t clusters = 16;               // latent taste clusters
  double popularity_exponent = 1.0;     // Zipf exponent of global item popularity
  double user_activity_exponent = 1.0;  // heavy tail of interactions per user
  double cluster_affinity = 0.75;       // share of a user's items drawn from their cluster's taste
  bool ratings = true;                  // 1..5 ratings, higher inside the user's cluster
  uint64_t seed = 7;
};

// Deterministic for a given options struct (independent of thread count). User ids are
// "u1".."uN" and item ids "i1".."iM"; every user has at least 5 interactions and no (user, item)
// pair repeats; times are Unix seconds from 2015 on (a user's history spans at most about three
// years), strictly increasing per user. Throws kInvalidArgument when the counts cannot be met
// (interactions < 5 * users or > users * items) or an option is out of range.
Dataset GenerateSynthetic(const SyntheticOptions& options, int threads);

}  // namespace marquee

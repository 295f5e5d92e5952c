// Top-k: the one ranking of scored items that evaluation, serving and the replay simulator share,
// so an offline metric, a served list and a simulated one rank the same scores the same way.
//
// The order: higher score first, ties broken by the lower item index, NaN below every number
// (a model that emits NaN cannot crowd out real scores, and the order stays a strict weak
// ordering, which std::sort and the heaps require). Pure functions; thread-safe.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace marquee {

// The score as the ranking compares it (NaN -> -infinity).
inline float RankKey(float score) {
  return std::isnan(score) ? -std::numeric_limits<float>::infinity() : score;
}

// Whether item `a` ranks above item `b` under `scores`.
inline bool RanksAbove(std::span<const float> scores, uint32_t a, uint32_t b) {
  const float sa = RankKey(scores[a]), sb = RankKey(scores[b]);
  return sa > sb || (sa == sb && a < b);
}

// Sorts `v` and drops repeated entries: the form TopK's `excluded` and the allow lists take.
// Fast for what requests build: a sorted run (a member's training row) with a few more after it.
void SortUnique(std::vector<uint32_t>& v);

// The k best item indices of `scores`, best first, skipping items in `excluded` (sorted; ids
// beyond the scores are ignored). A bounded heap: O(n log k), no copy of the catalogue.
void TopK(std::span<const float> scores, std::span<const uint32_t> excluded, uint32_t k,
          std::vector<uint32_t>& out);
// The same list, without the seeded start TopK uses where the CPU has AVX-512 (the heap filled
// from the first eligible items): the reference bench/bench_top_k.cc times TopK against.
void TopKUnseeded(std::span<const float> scores, std::span<const uint32_t> excluded, uint32_t k,
                  std::vector<uint32_t>& out);

// The same over `candidates` only (an allow list; ids must be below scores.size()).
void TopKOf(std::span<const float> scores, std::span<const uint32_t> candidates,
            std::span<const uint32_t> excluded, uint32_t k, std::vector<uint32_t>& out);

}  // namespace marquee

// Top-K ranking metrics, with the definitions of Liang et al. 2018 (used by Steck 2019 and
// Rendle et al. 2022): Recall@K = hits / min(K, |T|); NDCG@K = DCG@K / IDCG over min(K, |T|).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/top_k.h"  // TopK: the ranking every metric here reads

namespace marquee {

enum class MetricKind { kRecall, kNdcg, kHitRate, kPrecision, kMap, kMrr, kCoverage };

struct MetricSpec {
  MetricKind kind;
  uint32_t k = 0;    // 0 only for "mrr" (reciprocal rank over the full ranking)
  std::string name;  // canonical name as asked, e.g. "recall@20"
};

// Parses "recall@20", "ndcg@100", "hitrate@10" (alias "hr@10"), "precision@10", "map@10",
// "mrr" / "mrr@10", "coverage@20". kInvalidArgument names the bad entry and the valid forms.
MetricSpec ParseMetric(std::string_view name);

// Per-user metric values. `ranked` is the top-K list (best first, length >= spec.k unless the
// catalogue is smaller); `targets` is sorted and unique. For kMrr with k == 0, pass
// `full_rank` = 1-based rank of the best-ranked target in the full ranking (0 if none).
double RecallAtK(std::span<const uint32_t> ranked, std::span<const uint32_t> targets, uint32_t k);
double NdcgAtK(std::span<const uint32_t> ranked, std::span<const uint32_t> targets, uint32_t k);
double HitRateAtK(std::span<const uint32_t> ranked, std::span<const uint32_t> targets, uint32_t k);
double PrecisionAtK(std::span<const uint32_t> ranked, std::span<const uint32_t> targets,
                    uint32_t k);
double MapAtK(std::span<const uint32_t> ranked, std::span<const uint32_t> targets, uint32_t k);
double MrrAtK(std::span<const uint32_t> ranked, std::span<const uint32_t> targets, uint32_t k);


// 1-based rank, in the full ranking TopK (common/top_k.h) would produce (excluded items skipped), of the
// best-ranked item of `targets` (sorted): 1 + #{non-excluded items ranked above it}. Returns 0
// when every target is excluded or out of range. O(n), no sort. This is `full_rank` for "mrr".
uint64_t RankOfBestTarget(std::span<const float> scores, std::span<const uint32_t> excluded,
                          std::span<const uint32_t> targets);

}  // namespace marquee

// Top-K ranking metrics. Definitions follow Liang et al. 2018 ("Variational Autoencoders for
// Collaborative Filtering"), as used by Steck 2019 (EASE) and Rendle et al. 2022:
//
//   hits@K       = |top-K ∩ T|
//   Recall@K     = hits@K / min(K, |T|)
//   NDCG@K       = DCG@K / IDCG@K,  DCG@K = Σ_{r ≤ K, item_r ∈ T} 1 / log2(r + 1),
//                                   IDCG@K = Σ_{r = 1}^{min(K, |T|)} 1 / log2(r + 1)
//   HitRate@K    = 1 if hits@K > 0 else 0
//   Precision@K  = hits@K / K
//   MAP@K        = (1 / min(K, |T|)) Σ_{r ≤ K} Precision@r · rel_r
//   MRR@K        = 1 / rank of the first hit within the top K (0 if none)
//
// Ranks r are 1-based. `ranked` may be shorter than K when the catalogue (minus the excluded
// items) is smaller; the missing positions simply count as misses.
#include "eval/metrics.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

#include "common/top_k.h"
#include "marquee/error.h"

namespace marquee {
namespace {

constexpr std::string_view kValidForms =
    "recall@K, ndcg@K, hitrate@K (or hr@K), precision@K, map@K, mrr or mrr@K, coverage@K "
    "(K a positive integer)";

struct KindName {
  std::string_view prefix;
  MetricKind kind;
  std::string_view canonical;
};

constexpr std::array<KindName, 8> kKinds = {{
    {"recall", MetricKind::kRecall, "recall"},
    {"ndcg", MetricKind::kNdcg, "ndcg"},
    {"hitrate", MetricKind::kHitRate, "hitrate"},
    {"hr", MetricKind::kHitRate, "hitrate"},
    {"precision", MetricKind::kPrecision, "precision"},
    {"map", MetricKind::kMap, "map"},
    {"mrr", MetricKind::kMrr, "mrr"},
    {"coverage", MetricKind::kCoverage, "coverage"},
}};

bool IsTarget(std::span<const uint32_t> targets, uint32_t item) {
  return std::binary_search(targets.begin(), targets.end(), item);
}

// Number of ranked positions a metric at cut-off k looks at.
size_t Depth(std::span<const uint32_t> ranked, uint32_t k) {
  return std::min<size_t>(ranked.size(), k);
}

void RequireK(uint32_t k, std::string_view metric) {
  if (k == 0) Fail(ErrorCode::kInvalidArgument, "{}@K needs K >= 1 (got 0)", metric);
}

// 1 / log2(r + 1) for 1-based rank r.
double Discount(size_t r) { return 1.0 / std::log2(static_cast<double>(r) + 1.0); }

}  // namespace

MetricSpec ParseMetric(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // Surrounding blanks are tolerated ("recall@20, ndcg@100" split on commas).
  const size_t first = lower.find_first_not_of(" \t");
  const size_t last = lower.find_last_not_of(" \t");
  const std::string s =
      first == std::string::npos ? std::string() : lower.substr(first, last - first + 1);
  const size_t at = s.find('@');
  const std::string_view base = std::string_view(s).substr(0, at);
  const KindName* kind = nullptr;
  for (const auto& k : kKinds) {
    if (k.prefix == base) kind = &k;
  }
  if (kind == nullptr) {
    Fail(ErrorCode::kInvalidArgument, "unknown metric '{}'; valid forms: {}", name, kValidForms);
  }
  MetricSpec spec{kind->kind, 0, std::string(kind->canonical)};
  if (at == std::string::npos) {
    if (kind->kind != MetricKind::kMrr) {
      Fail(ErrorCode::kInvalidArgument,
           "metric '{}' needs a cut-off, e.g. '{}@10'; valid forms: {}", name, kind->canonical,
           kValidForms);
    }
    return spec;  // "mrr": reciprocal rank over the full ranking
  }
  const std::string_view digits = std::string_view(s).substr(at + 1);
  uint32_t k = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), k);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() || k == 0) {
    Fail(ErrorCode::kInvalidArgument, "metric '{}' has a bad cut-off '{}'; valid forms: {}", name,
         digits, kValidForms);
  }
  spec.k = k;
  spec.name = fmt::format("{}@{}", kind->canonical, k);
  return spec;
}

double RecallAtK(std::span<const uint32_t> ranked, std::span<const uint32_t> targets, uint32_t k) {
  RequireK(k, "recall");
  if (targets.empty()) return 0.0;
  size_t hits = 0;
  const size_t depth = Depth(ranked, k);
  for (size_t r = 0; r < depth; ++r) hits += IsTarget(targets, ranked[r]) ? 1 : 0;
  return static_cast<double>(hits) / static_cast<double>(std::min<size_t>(k, targets.size()));
}

double NdcgAtK(std::span<const uint32_t> ranked, std::span<const uint32_t> targets, uint32_t k) {
  RequireK(k, "ndcg");
  if (targets.empty()) return 0.0;
  double dcg = 0.0;
  const size_t depth = Depth(ranked, k);
  for (size_t r = 0; r < depth; ++r) {
    if (IsTarget(targets, ranked[r])) dcg += Discount(r + 1);
  }
  double idcg = 0.0;
  const size_t ideal = std::min<size_t>(k, targets.size());
  for (size_t r = 1; r <= ideal; ++r) idcg += Discount(r);
  return dcg / idcg;
}

double HitRateAtK(std::span<const uint32_t> ranked, std::span<const uint32_t> targets, uint32_t k) {
  RequireK(k, "hitrate");
  const size_t depth = Depth(ranked, k);
  for (size_t r = 0; r < depth; ++r) {
    if (IsTarget(targets, ranked[r])) return 1.0;
  }
  return 0.0;
}

double PrecisionAtK(std::span<const uint32_t> ranked, std::span<const uint32_t> targets,
                    uint32_t k) {
  RequireK(k, "precision");
  size_t hits = 0;
  const size_t depth = Depth(ranked, k);
  for (size_t r = 0; r < depth; ++r) hits += IsTarget(targets, ranked[r]) ? 1 : 0;
  return static_cast<double>(hits) / static_cast<double>(k);
}

double MapAtK(std::span<const uint32_t> ranked, std::span<const uint32_t> targets, uint32_t k) {
  RequireK(k, "map");
  if (targets.empty()) return 0.0;
  size_t hits = 0;
  double sum = 0.0;
  const size_t depth = Depth(ranked, k);
  for (size_t r = 0; r < depth; ++r) {
    if (!IsTarget(targets, ranked[r])) continue;
    ++hits;
    sum += static_cast<double>(hits) / static_cast<double>(r + 1);  // Precision@(r+1) · rel
  }
  return sum / static_cast<double>(std::min<size_t>(k, targets.size()));
}

double MrrAtK(std::span<const uint32_t> ranked, std::span<const uint32_t> targets, uint32_t k) {
  // k == 0: the whole of `ranked` (the evaluator computes full-ranking "mrr" from the rank of
  // the best target directly, without materialising the ranking).
  const size_t depth = k == 0 ? ranked.size() : Depth(ranked, k);
  for (size_t r = 0; r < depth; ++r) {
    if (IsTarget(targets, ranked[r])) return 1.0 / static_cast<double>(r + 1);
  }
  return 0.0;
}

uint64_t RankOfBestTarget(std::span<const float> scores, std::span<const uint32_t> excluded,
                          std::span<const uint32_t> targets) {
  // The order of TopK (common/top_k.h).
  auto better = [&scores](uint32_t a, uint32_t b) { return RanksAbove(scores, a, b); };
  auto is_excluded = [&excluded](uint32_t i) {
    return std::binary_search(excluded.begin(), excluded.end(), i);
  };
  bool found = false;
  uint32_t best = 0;
  for (uint32_t t : targets) {
    if (t >= scores.size() || is_excluded(t)) continue;
    if (!found || better(t, best)) best = t;
    found = true;
  }
  if (!found) return 0;
  uint64_t above = 0;
  size_t ex = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    const uint32_t item = static_cast<uint32_t>(i);
    while (ex < excluded.size() && excluded[ex] < item) ++ex;
    if (ex < excluded.size() && excluded[ex] == item) continue;
    above += better(item, best) ? 1 : 0;
  }
  return above + 1;
}

}  // namespace marquee

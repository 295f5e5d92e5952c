#include "tabular/split.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "marquee/error.h"

namespace marquee {
namespace {

void CheckFraction(double f) {
  if (!(f > 0 && f < 1)) {
    Fail(ErrorCode::kInvalidArgument, "[split] test_fraction must be in (0, 1), got {}", f);
  }
}

// Rows grouped by class (one group without stratification), each group shuffled.
std::vector<std::vector<uint32_t>> ShuffledGroups(std::span<const float> labels, uint64_t seed,
                                                  bool stratify) {
  std::vector<std::vector<uint32_t>> groups(stratify ? 2 : 1);
  for (uint32_t i = 0; i < labels.size(); ++i) {
    groups[stratify && labels[i] > 0.5f ? 1 : 0].push_back(i);
  }
  std::mt19937_64 rng(seed);
  for (auto& g : groups) std::shuffle(g.begin(), g.end(), rng);
  return groups;
}

}  // namespace

RowSplit StratifiedHoldout(std::span<const float> labels, double test_fraction, uint64_t seed,
                           bool stratify) {
  CheckFraction(test_fraction);
  RowSplit s;
  for (const auto& g : ShuffledGroups(labels, seed, stratify)) {
    const size_t k =
        static_cast<size_t>(std::llround(test_fraction * static_cast<double>(g.size())));
    s.test.insert(s.test.end(), g.begin(), g.begin() + static_cast<std::ptrdiff_t>(k));
    s.train.insert(s.train.end(), g.begin() + static_cast<std::ptrdiff_t>(k), g.end());
  }
  if (s.train.empty() || s.test.empty()) {
    Fail(ErrorCode::kInvalidArgument,
         "the holdout split of {} rows at test_fraction {} leaves one side empty", labels.size(),
         test_fraction);
  }
  std::sort(s.train.begin(), s.train.end());
  std::sort(s.test.begin(), s.test.end());
  return s;
}

std::vector<RowSplit> StratifiedKFold(std::span<const float> labels, int folds, uint64_t seed,
                                      bool stratify) {
  if (folds < 2) Fail(ErrorCode::kInvalidArgument, "[split] folds must be >= 2, got {}", folds);
  if (labels.size() < static_cast<size_t>(folds)) {
    Fail(ErrorCode::kInvalidArgument, "{} rows cannot make {} folds", labels.size(), folds);
  }
  std::vector<int> fold_of(labels.size());
  size_t next = 0;
  for (const auto& g : ShuffledGroups(labels, seed, stratify)) {
    for (uint32_t r : g) fold_of[r] = static_cast<int>(next++ % static_cast<size_t>(folds));
  }
  std::vector<RowSplit> out(static_cast<size_t>(folds));
  for (uint32_t r = 0; r < labels.size(); ++r) {
    for (int k = 0; k < folds; ++k) {
      (fold_of[r] == k ? out[k].test : out[k].train).push_back(r);
    }
  }
  return out;
}

RowSplit TemporalSplit(std::span<const int64_t> times, double test_fraction) {
  CheckFraction(test_fraction);
  if (times.empty()) Fail(ErrorCode::kInvalidArgument, "the temporal split needs a time column");
  std::vector<uint32_t> idx(times.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(),
                   [&](uint32_t a, uint32_t b) { return times[a] < times[b]; });
  const size_t k =
      static_cast<size_t>(std::llround(test_fraction * static_cast<double>(idx.size())));
  RowSplit s;
  s.train.assign(idx.begin(), idx.end() - static_cast<std::ptrdiff_t>(k));
  s.test.assign(idx.end() - static_cast<std::ptrdiff_t>(k), idx.end());
  if (s.train.empty() || s.test.empty()) {
    Fail(ErrorCode::kInvalidArgument,
         "the temporal split of {} rows at test_fraction {} leaves one side empty", idx.size(),
         test_fraction);
  }
  std::sort(s.train.begin(), s.train.end());
  std::sort(s.test.begin(), s.test.end());
  return s;
}

}  // namespace marquee

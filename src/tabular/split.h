// Row splits for tabular data: stratified random holdout, stratified k-fold cross-validation,
// and a temporal split by a time column. All are deterministic for a given seed.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace marquee {

struct RowSplit {
  std::vector<uint32_t> train, test;  // row indices, ascending
};

// Holds out `test_fraction` of each class (labels > 0.5 are positives; with `stratify` false,
// of all rows). kInvalidArgument unless 0 < test_fraction < 1 and both sides are non-empty.
RowSplit StratifiedHoldout(std::span<const float> labels, double test_fraction, uint64_t seed,
                           bool stratify = true);
// `folds` folds, each class dealt round-robin after a shuffle; fold k's test rows are the k-th.
std::vector<RowSplit> StratifiedKFold(std::span<const float> labels, int folds, uint64_t seed,
                                      bool stratify = true);
// The latest `test_fraction` of rows by time (ties broken by row order) are the test set.
RowSplit TemporalSplit(std::span<const int64_t> times, double test_fraction);

}  // namespace marquee

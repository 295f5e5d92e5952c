// The merge rule of every CSR builder (CsrMatrix::FromTriplets and AppendRow in sparse.cc,
// Dataset::ToCsr in data/dataset.cc), kept in one place.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace marquee {

// Sorts one row's (column, value) pairs by column in place and appends them to `indices` and
// `values`, a duplicate column keeping the largest value. Columns are not range-checked here.
void AppendMergedRow(std::vector<std::pair<uint32_t, float>>& row, std::vector<uint32_t>& indices,
                     std::vector<float>& values);

}  // namespace marquee

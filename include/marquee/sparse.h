// CsrMatrix: compressed sparse rows, the interaction matrix every model trains and scores on
// (rows are users or queries, columns are items). Column indices within a row are sorted and
// unique. Plain value type; not synchronised.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace marquee {

struct CsrMatrix {
  uint32_t rows = 0;
  uint32_t cols = 0;
  std::vector<uint64_t> indptr{0};  // size rows + 1
  std::vector<uint32_t> indices;    // size nnz
  std::vector<float> values;        // size nnz

  uint64_t nnz() const { return indices.size(); }
  std::span<const uint32_t> row_indices(uint32_t r) const {
    return {indices.data() + indptr[r], indices.data() + indptr[r + 1]};
  }
  std::span<const float> row_values(uint32_t r) const {
    return {values.data() + indptr[r], values.data() + indptr[r + 1]};
  }
  uint32_t row_size(uint32_t r) const { return static_cast<uint32_t>(indptr[r + 1] - indptr[r]); }

  // Builds a matrix from (row, col, value) triplets. Duplicate (row, col) pairs keep the
  // largest value. Throws kInvalidArgument when an index is out of range.
  static CsrMatrix FromTriplets(uint32_t rows, uint32_t cols, std::span<const uint32_t> r,
                                std::span<const uint32_t> c, std::span<const float> v);
  // Appends one row (indices need not be sorted; duplicates keep the largest value).
  void AppendRow(std::span<const uint32_t> cols_of_row, std::span<const float> vals);
  CsrMatrix Transpose() const;
  // A copy with every stored value set to 1.
  CsrMatrix Binarized() const;
  // Selected rows, in the given order.
  CsrMatrix SelectRows(std::span<const uint32_t> row_ids) const;
};

}  // namespace marquee

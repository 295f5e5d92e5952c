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

// How a distributed fit (Recommender::distributed_fit, under mpirun; issue #18) cuts its
// interactions across ranks: contiguous blocks of users, and with `item_rows` of items too,
// from PartitionRows (src/common/communicator.h), a row costing its entries plus `row_cost`.
struct ShardPlan {
  uint64_t row_cost = 0;
  bool item_rows = false;  // the fit also solves item rows, so it needs its items' rows of Xᵀ
};

// One rank's share of a distributed fit's users x items matrix X (Context::shard; built by
// BuildShard, src/common/shard.h). The matrix passed to Fit beside it has X's shape and holds
// the rows of this rank's users, [user_offsets[rank], user_offsets[rank + 1]), every other row
// empty; `item_rows` is Xᵀ's shape (items x users) with the rows of this rank's items filled
// (an items x users matrix with no entries when the plan has no item rows). The string id
// dictionaries are not here: every rank keeps them whole.
struct InteractionShard {
  int rank = 0;
  std::vector<uint64_t> user_offsets;  // ranks + 1 offsets: the users each rank holds
  std::vector<uint64_t> item_offsets;  // ranks + 1 offsets: the items each rank holds
  CsrMatrix item_rows;                 // Xᵀ: this rank's items' rows
  std::vector<uint32_t> item_counts;   // entries of every item in all of X
  uint64_t nnz = 0;                    // entries of all of X
  uint32_t nonempty_users = 0;         // users with at least one entry in all of X
};

}  // namespace marquee

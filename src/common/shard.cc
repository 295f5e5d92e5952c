#include "common/shard.h"

#include <vector>

#include "common/communicator.h"
#include "marquee/error.h"

namespace marquee {

InteractionShard BuildShard(uint32_t rows, uint32_t cols, int rank, int ranks,
                            const ShardPlan& plan, const RowSource& source, CsrMatrix& local) {
  if (ranks < 1 || rank < 0 || rank >= ranks) {
    Fail(ErrorCode::kInternal, "BuildShard: rank {} of {}", rank, ranks);
  }
  InteractionShard s;
  s.rank = rank;
  // Pass 1: the global counts, and the blocks cut from them.
  std::vector<uint64_t> row_ptr(static_cast<size_t>(rows) + 1, 0);
  s.item_counts.assign(cols, 0);
  source([&](uint32_t r, std::span<const uint32_t> c, std::span<const float>) {
    if (r >= rows) Fail(ErrorCode::kInternal, "BuildShard: row {} of {}", r, rows);
    row_ptr[r + 1] = c.size();
    for (uint32_t i : c) {
      if (i >= cols) Fail(ErrorCode::kInternal, "BuildShard: column {} of {}", i, cols);
      ++s.item_counts[i];
    }
  });
  for (uint32_t r = 0; r < rows; ++r) {
    s.nonempty_users += row_ptr[r + 1] > 0 ? 1 : 0;
    row_ptr[r + 1] += row_ptr[r];
  }
  s.nnz = row_ptr.back();
  s.user_offsets = PartitionRows(row_ptr, ranks, plan.row_cost);
  std::vector<uint64_t> col_ptr(static_cast<size_t>(cols) + 1, 0);
  for (uint32_t i = 0; i < cols; ++i) col_ptr[i + 1] = col_ptr[i] + s.item_counts[i];
  s.item_offsets = PartitionRows(col_ptr, ranks, plan.row_cost);

  const uint64_t u0 = s.user_offsets[static_cast<size_t>(rank)];
  const uint64_t u1 = s.user_offsets[static_cast<size_t>(rank) + 1];
  const uint64_t i0 = plan.item_rows ? s.item_offsets[static_cast<size_t>(rank)] : 0;
  const uint64_t i1 = plan.item_rows ? s.item_offsets[static_cast<size_t>(rank) + 1] : 0;
  // The shapes, with room for exactly this rank's entries.
  local = CsrMatrix{};
  local.rows = rows;
  local.cols = cols;
  local.indptr.assign(static_cast<size_t>(rows) + 1, 0);
  for (uint32_t r = 0; r < rows; ++r) {
    const uint64_t n = r >= u0 && r < u1 ? row_ptr[r + 1] - row_ptr[r] : 0;
    local.indptr[r + 1] = local.indptr[r] + n;
  }
  row_ptr = {};
  local.indices.resize(local.indptr.back());
  local.values.resize(local.indptr.back());
  CsrMatrix& t = s.item_rows;
  t.rows = cols;
  t.cols = rows;
  t.indptr.assign(static_cast<size_t>(cols) + 1, 0);
  for (uint32_t i = 0; i < cols; ++i) {
    const uint64_t n = i >= i0 && i < i1 ? s.item_counts[i] : 0;
    t.indptr[i + 1] = t.indptr[i] + n;
  }
  t.indices.resize(t.indptr.back());
  t.values.resize(t.indptr.back());
  // Pass 2: this rank's entries. Rows come in ascending order, so every row of the transpose
  // is filled sorted.
  std::vector<uint64_t> fill(t.indptr.begin(), t.indptr.end() - 1);
  source([&](uint32_t r, std::span<const uint32_t> c, std::span<const float> v) {
    if (r >= u0 && r < u1) {
      if (c.size() != local.indptr[r + 1] - local.indptr[r]) {
        Fail(ErrorCode::kInternal, "BuildShard: row {} changed between passes", r);
      }
      std::copy(c.begin(), c.end(), local.indices.begin() + static_cast<int64_t>(local.indptr[r]));
      std::copy(v.begin(), v.end(), local.values.begin() + static_cast<int64_t>(local.indptr[r]));
    }
    if (i1 == 0) return;
    for (size_t k = 0; k < c.size(); ++k) {
      if (c[k] < i0 || c[k] >= i1) continue;
      const uint64_t q = fill[c[k]]++;
      t.indices[q] = r;
      t.values[q] = v[k];
    }
  });
  for (uint64_t i = i0; i < i1; ++i) {
    if (fill[i] != t.indptr[i + 1]) {
      Fail(ErrorCode::kInternal, "BuildShard: column {} changed between passes", i);
    }
  }
  return s;
}

InteractionShard BuildShard(const CsrMatrix& m, int rank, int ranks, const ShardPlan& plan,
                            CsrMatrix& local) {
  if (&m == &local) Fail(ErrorCode::kInternal, "BuildShard: the share would overwrite its source");
  return BuildShard(
      m.rows, m.cols, rank, ranks, plan,
      [&m](const RowVisitor& visit) {
        for (uint32_t r = 0; r < m.rows; ++r) visit(r, m.row_indices(r), m.row_values(r));
      },
      local);
}

void CheckShard(const Context& ctx) {
  if (ctx.shard == nullptr) return;
  const int ranks = ctx.comm != nullptr ? ctx.comm->size() : 1;
  const int rank = ctx.comm != nullptr ? ctx.comm->rank() : 0;
  const auto parts = static_cast<size_t>(ranks) + 1;
  if (ctx.shard->rank != rank || ctx.shard->user_offsets.size() != parts ||
      ctx.shard->item_offsets.size() != parts) {
    Fail(ErrorCode::kInternal, "a shard cut for rank {} of {} given to rank {} of {}",
         ctx.shard->rank, static_cast<int>(ctx.shard->user_offsets.size()) - 1, rank, ranks);
  }
}

}  // namespace marquee

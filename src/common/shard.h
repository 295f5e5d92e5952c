// BuildShard: one rank's share of a users x items matrix for a distributed fit (issue #18;
// marquee/sparse.h's InteractionShard, docs/SCALING.md "Distributed training"). The matrix is
// never held whole: its rows are enumerated twice, a first pass counting the entries of every
// row and column (the blocks are cut from these global counts alone, with PartitionRows, the
// same cut every rank computes) and a second keeping only this rank's entries.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "marquee/context.h"
#include "marquee/sparse.h"

namespace marquee {

// Called with each row's index, sorted unique columns and values, rows in ascending order.
using RowVisitor =
    std::function<void(uint32_t row, std::span<const uint32_t> cols, std::span<const float> vals)>;
// Visits every row of the matrix (rows without entries may be skipped) with `visit`.
using RowSource = std::function<void(const RowVisitor& visit)>;

// Rank `rank` of `ranks`'s share of the rows x cols matrix `source` enumerates (called twice):
// into `local` the rows of its block of rows (the global shape, other rows empty), into the
// result the blocks, the global counts and, with plan.item_rows, the rows of its block of
// columns of the transpose. Memory: the share plus a count per row and per column.
InteractionShard BuildShard(uint32_t rows, uint32_t cols, int rank, int ranks,
                            const ShardPlan& plan, const RowSource& source, CsrMatrix& local);

// The same from a matrix held whole (which the caller may then release).
InteractionShard BuildShard(const CsrMatrix& m, int rank, int ranks, const ShardPlan& plan,
                            CsrMatrix& local);

// For a Fit given ctx.shard: kInternal unless the shard was cut for ctx.comm's rank and rank
// count. Nothing without a shard.
void CheckShard(const Context& ctx);

}  // namespace marquee

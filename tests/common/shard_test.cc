#include "common/shard.h"

#include <gtest/gtest.h>

#include <vector>

#include "common/communicator.h"
#include "marquee/error.h"

namespace marquee {
namespace {

// 6 users x 4 items.
CsrMatrix Small() {
  const std::vector<uint32_t> r = {0, 0, 1, 2, 2, 2, 3, 4, 4, 5};
  const std::vector<uint32_t> c = {0, 3, 1, 0, 1, 2, 3, 0, 2, 1};
  const std::vector<float> v = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  return CsrMatrix::FromTriplets(6, 4, r, c, v);
}

TEST(BuildShard, EachRankKeepsItsUsersRowsAndItsItemsRowsOfTheTranspose) {
  const CsrMatrix x = Small();
  const CsrMatrix xt = x.Transpose();
  for (int ranks : {1, 2, 3}) {
    uint64_t users_held = 0, items_held = 0;
    for (int rank = 0; rank < ranks; ++rank) {
      CsrMatrix local;
      const InteractionShard s = BuildShard(x, rank, ranks, ShardPlan{1, true}, local);
      EXPECT_EQ(s.rank, rank);
      EXPECT_EQ(s.nnz, x.nnz());
      EXPECT_EQ(s.nonempty_users, 6u);
      EXPECT_EQ(s.user_offsets, PartitionRows(x.indptr, ranks, 1));
      EXPECT_EQ(s.item_offsets, PartitionRows(xt.indptr, ranks, 1));
      EXPECT_EQ(s.item_counts, (std::vector<uint32_t>{3, 3, 2, 2}));
      ASSERT_EQ(local.rows, x.rows);
      ASSERT_EQ(local.cols, x.cols);
      for (uint32_t u = 0; u < x.rows; ++u) {
        const bool mine = u >= s.user_offsets[rank] && u < s.user_offsets[rank + 1];
        const auto got = local.row_indices(u);
        const auto want = x.row_indices(u);
        EXPECT_EQ(std::vector<uint32_t>(got.begin(), got.end()),
                  mine ? std::vector<uint32_t>(want.begin(), want.end()) : std::vector<uint32_t>{});
      }
      for (uint32_t i = 0; i < x.cols; ++i) {
        const bool mine = i >= s.item_offsets[rank] && i < s.item_offsets[rank + 1];
        const auto got = s.item_rows.row_values(i);
        const auto want = xt.row_values(i);
        EXPECT_EQ(std::vector<float>(got.begin(), got.end()),
                  mine ? std::vector<float>(want.begin(), want.end()) : std::vector<float>{});
      }
      users_held += local.nnz();
      items_held += s.item_rows.nnz();
    }
    EXPECT_EQ(users_held, x.nnz());
    EXPECT_EQ(items_held, x.nnz());
  }
}

TEST(BuildShard, WithoutItemRowsKeepsNoneAndRefusesToOverwriteItsSource) {
  CsrMatrix x = Small();
  CsrMatrix local;
  const InteractionShard s = BuildShard(x, 1, 2, ShardPlan{}, local);
  EXPECT_EQ(s.item_rows.rows, x.cols);
  EXPECT_EQ(s.item_rows.nnz(), 0u);
  EXPECT_LT(local.nnz(), x.nnz());
  EXPECT_THROW(BuildShard(x, 0, 2, ShardPlan{}, x), Error);
  EXPECT_THROW(BuildShard(x, 2, 2, ShardPlan{}, local), Error);
}

TEST(CheckShard, RefusesAShardCutForAnotherRankCount) {
  CsrMatrix local;
  const InteractionShard s = BuildShard(Small(), 0, 2, ShardPlan{}, local);
  Context ctx;
  EXPECT_NO_THROW(CheckShard(ctx));  // no shard
  ctx.shard = &s;                    // one process (no comm) given a shard of 2
  EXPECT_THROW(CheckShard(ctx), Error);
}

}  // namespace
}  // namespace marquee

// The one top-k (common/top_k.h) that evaluation, serving and the replay simulator share.
#include "common/top_k.h"

#include <gtest/gtest.h>

#include <limits>
#include <vector>

namespace marquee {
namespace {

TEST(TopK, OrdersByScoreThenLowerIndex) {
  const std::vector<float> scores = {0.1f, 0.5f, 0.5f, 0.9f, 0.2f, 0.5f};
  std::vector<uint32_t> out;
  TopK(scores, {}, 3, out);
  EXPECT_EQ(out, (std::vector<uint32_t>{3, 1, 2}));
  TopK(scores, {}, 4, out);
  EXPECT_EQ(out, (std::vector<uint32_t>{3, 1, 2, 5}));
  // All equal: plain index order.
  TopK(std::vector<float>(5, 1.0f), {}, 3, out);
  EXPECT_EQ(out, (std::vector<uint32_t>{0, 1, 2}));
  TopK(scores, {}, 0, out);
  EXPECT_TRUE(out.empty());
}

TEST(TopK, SkipsExcludedItems) {
  const std::vector<float> scores = {0.1f, 0.5f, 0.5f, 0.9f, 0.2f, 0.5f};
  std::vector<uint32_t> out;
  TopK(scores, std::vector<uint32_t>{1, 3}, 3, out);
  EXPECT_EQ(out, (std::vector<uint32_t>{2, 5, 4}));
  // K above what is left: everything not excluded, best first.
  TopK(scores, std::vector<uint32_t>{0, 2, 3}, 10, out);
  EXPECT_EQ(out, (std::vector<uint32_t>{1, 5, 4}));
  // Everything excluded.
  TopK(scores, std::vector<uint32_t>{0, 1, 2, 3, 4, 5}, 3, out);
  EXPECT_TRUE(out.empty());
}

TEST(TopK, NanRanksLast) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<uint32_t> out;
  TopK(std::vector<float>{nan, -1.0f, nan, 2.0f}, {}, 4, out);
  EXPECT_EQ(out, (std::vector<uint32_t>{3, 1, 0, 2}));
}

// The allow-list form ranks the same way, NaN included (serving's and the replay simulator's
// own copies compared raw floats: with a NaN, partial_sort had no strict weak ordering).
TEST(TopKOf, RanksTheCandidatesOnlyInTheSameOrderWithNanLast) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> scores = {0.1f, nan, 0.5f, 0.9f, nan, 0.5f, 2.0f};
  std::vector<uint32_t> out;
  TopKOf(scores, std::vector<uint32_t>{0, 1, 2, 4, 5}, {}, 10, out);
  EXPECT_EQ(out, (std::vector<uint32_t>{2, 5, 0, 1, 4}));
  TopKOf(scores, std::vector<uint32_t>{0, 1, 2, 4, 5}, std::vector<uint32_t>{2}, 2, out);
  EXPECT_EQ(out, (std::vector<uint32_t>{5, 0}));
  // The same items through TopK give the same order.
  std::vector<uint32_t> full;
  TopK(scores, std::vector<uint32_t>{3, 6}, 10, full);
  EXPECT_EQ(full, (std::vector<uint32_t>{2, 5, 0, 1, 4}));
}

}  // namespace
}  // namespace marquee

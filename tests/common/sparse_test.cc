#include "marquee/sparse.h"

#include <gtest/gtest.h>

#include "marquee/error.h"

namespace marquee {
namespace {

TEST(CsrMatrix, FromTripletsSortsAndKeepsLargestDuplicate) {
  std::vector<uint32_t> r = {1, 0, 1, 1};
  std::vector<uint32_t> c = {2, 1, 0, 2};
  std::vector<float> v = {1.0f, 2.0f, 3.0f, 5.0f};
  CsrMatrix m = CsrMatrix::FromTriplets(2, 3, r, c, v);
  EXPECT_EQ(m.nnz(), 3u);
  EXPECT_EQ(std::vector<uint32_t>(m.row_indices(1).begin(), m.row_indices(1).end()),
            (std::vector<uint32_t>{0, 2}));
  EXPECT_FLOAT_EQ(m.row_values(1)[1], 5.0f);
  EXPECT_THROW(CsrMatrix::FromTriplets(2, 2, r, c, v), Error);
}

TEST(CsrMatrix, TransposeTwiceIsIdentity) {
  std::vector<uint32_t> r = {0, 0, 2, 3}, c = {1, 3, 0, 3};
  std::vector<float> v = {1, 2, 3, 4};
  CsrMatrix m = CsrMatrix::FromTriplets(4, 4, r, c, v);
  CsrMatrix t = m.Transpose();
  EXPECT_EQ(t.row_size(3), 2u);
  CsrMatrix back = t.Transpose();
  EXPECT_EQ(back.indptr, m.indptr);
  EXPECT_EQ(back.indices, m.indices);
  EXPECT_EQ(back.values, m.values);
}

TEST(CsrMatrix, SelectRowsAndAppendRow) {
  std::vector<uint32_t> r = {0, 1, 2}, c = {0, 1, 2};
  CsrMatrix m = CsrMatrix::FromTriplets(3, 3, r, c, {});
  CsrMatrix s = m.SelectRows(std::vector<uint32_t>{2, 0});
  ASSERT_EQ(s.rows, 2u);
  EXPECT_EQ(s.row_indices(0)[0], 2u);
  std::vector<uint32_t> add = {2, 0, 2};
  s.AppendRow(add, {});
  EXPECT_EQ(s.row_size(2), 2u);
  EXPECT_THROW(s.AppendRow(std::vector<uint32_t>{7}, {}), Error);
}

}  // namespace
}  // namespace marquee

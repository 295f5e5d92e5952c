#include "marquee/sparse.h"

#include <algorithm>
#include <numeric>

#include "common/sparse_rows.h"
#include "marquee/error.h"

namespace marquee {

void AppendMergedRow(std::vector<std::pair<uint32_t, float>>& row, std::vector<uint32_t>& indices,
                     std::vector<float>& values) {
  std::sort(row.begin(), row.end());
  for (size_t k = 0; k < row.size(); ++k) {
    if (k + 1 < row.size() && row[k + 1].first == row[k].first) {
      row[k + 1].second = std::max(row[k + 1].second, row[k].second);
      continue;
    }
    indices.push_back(row[k].first);
    values.push_back(row[k].second);
  }
}

CsrMatrix CsrMatrix::FromTriplets(uint32_t rows, uint32_t cols, std::span<const uint32_t> r,
                                  std::span<const uint32_t> c, std::span<const float> v) {
  if (r.size() != c.size() || (!v.empty() && v.size() != r.size())) {
    Fail(ErrorCode::kInvalidArgument, "triplet arrays differ in length ({}, {}, {})", r.size(),
         c.size(), v.size());
  }
  CsrMatrix m;
  m.rows = rows;
  m.cols = cols;
  std::vector<uint64_t> counts(static_cast<size_t>(rows) + 1, 0);
  for (size_t k = 0; k < r.size(); ++k) {
    if (r[k] >= rows || c[k] >= cols) {
      Fail(ErrorCode::kInvalidArgument, "triplet ({}, {}) outside a {}x{} matrix", r[k], c[k], rows,
           cols);
    }
    ++counts[r[k] + 1];
  }
  std::partial_sum(counts.begin(), counts.end(), counts.begin());
  std::vector<uint32_t> idx(r.size());
  std::vector<float> val(r.size());
  std::vector<uint64_t> fill(counts.begin(), counts.end() - 1);
  for (size_t k = 0; k < r.size(); ++k) {
    uint64_t pos = fill[r[k]]++;
    idx[pos] = c[k];
    val[pos] = v.empty() ? 1.0f : v[k];
  }
  // Sort each row by column and merge duplicates (keep the largest value).
  m.indptr.assign(static_cast<size_t>(rows) + 1, 0);
  m.indices.reserve(r.size());
  m.values.reserve(r.size());
  std::vector<std::pair<uint32_t, float>> row;
  for (uint32_t i = 0; i < rows; ++i) {
    row.clear();
    for (uint64_t p = counts[i]; p < counts[i + 1]; ++p) row.emplace_back(idx[p], val[p]);
    AppendMergedRow(row, m.indices, m.values);
    m.indptr[i + 1] = m.indices.size();
  }
  return m;
}

void CsrMatrix::AppendRow(std::span<const uint32_t> cols_of_row, std::span<const float> vals) {
  std::vector<std::pair<uint32_t, float>> row;
  row.reserve(cols_of_row.size());
  for (size_t k = 0; k < cols_of_row.size(); ++k) {
    if (cols_of_row[k] >= cols) {
      Fail(ErrorCode::kInvalidArgument, "column {} outside a matrix of {} columns", cols_of_row[k],
           cols);
    }
    row.emplace_back(cols_of_row[k], vals.empty() ? 1.0f : vals[k]);
  }
  AppendMergedRow(row, indices, values);
  indptr.push_back(indices.size());
  ++rows;
}

CsrMatrix CsrMatrix::Transpose() const {
  CsrMatrix t;
  t.rows = cols;
  t.cols = rows;
  t.indptr.assign(static_cast<size_t>(cols) + 1, 0);
  for (uint32_t c : indices) ++t.indptr[c + 1];
  std::partial_sum(t.indptr.begin(), t.indptr.end(), t.indptr.begin());
  t.indices.resize(indices.size());
  t.values.resize(values.size());
  std::vector<uint64_t> fill(t.indptr.begin(), t.indptr.end() - 1);
  for (uint32_t r = 0; r < rows; ++r) {
    for (uint64_t p = indptr[r]; p < indptr[r + 1]; ++p) {
      uint64_t q = fill[indices[p]]++;
      t.indices[q] = r;  // rows visited in order, so each output row stays sorted
      t.values[q] = values[p];
    }
  }
  return t;
}

CsrMatrix CsrMatrix::Binarized() const {
  CsrMatrix b = *this;
  std::fill(b.values.begin(), b.values.end(), 1.0f);
  return b;
}

CsrMatrix CsrMatrix::SelectRows(std::span<const uint32_t> row_ids) const {
  CsrMatrix s;
  s.cols = cols;
  for (uint32_t r : row_ids) {
    if (r >= rows) Fail(ErrorCode::kInvalidArgument, "row {} outside a matrix of {} rows", r, rows);
    s.indices.insert(s.indices.end(), indices.begin() + static_cast<ptrdiff_t>(indptr[r]),
                     indices.begin() + static_cast<ptrdiff_t>(indptr[r + 1]));
    s.values.insert(s.values.end(), values.begin() + static_cast<ptrdiff_t>(indptr[r]),
                    values.begin() + static_cast<ptrdiff_t>(indptr[r + 1]));
    s.indptr.push_back(s.indices.size());
    ++s.rows;
  }
  return s;
}

}  // namespace marquee

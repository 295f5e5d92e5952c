#include "models/item_graph.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "common/log.h"
#include "common/thread_pool.h"
#include "marquee/error.h"

namespace marquee {
namespace {

bool Better(const Neighbor& a, const Neighbor& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

}  // namespace

void TopNeighbors::Offer(float weight, uint32_t item) {
  const Neighbor cand{weight, item};
  if (heap_.size() < n_) {
    heap_.push_back(cand);
    std::push_heap(heap_.begin(), heap_.end(), Better);
  } else if (n_ > 0 && Better(cand, heap_.front())) {
    std::pop_heap(heap_.begin(), heap_.end(), Better);
    heap_.back() = cand;
    std::push_heap(heap_.begin(), heap_.end(), Better);
  }
}

void TopNeighbors::TakeSorted(std::vector<Neighbor>* out) {
  std::sort_heap(heap_.begin(), heap_.end(), Better);  // ascending in Better: best first
  out->assign(heap_.begin(), heap_.end());
  heap_.clear();
}

CsrMatrix ItemMatrixFromRows(std::vector<std::vector<Neighbor>>& rows) {
  CsrMatrix m;
  const size_t n = rows.size();
  m.rows = m.cols = static_cast<uint32_t>(n);
  m.indptr.assign(n + 1, 0);
  for (size_t i = 0; i < n; ++i) m.indptr[i + 1] = m.indptr[i] + rows[i].size();
  m.indices.resize(m.indptr[n]);
  m.values.resize(m.indptr[n]);
  for (size_t i = 0; i < n; ++i) {
    for (size_t k = 0; k < rows[i].size(); ++k) {
      m.indices[m.indptr[i] + k] = rows[i][k].second;
      m.values[m.indptr[i] + k] = rows[i][k].first;
    }
    std::vector<Neighbor>().swap(rows[i]);
  }
  return m;
}

void SaveItemMatrix(const CsrMatrix& m, ArtifactWriter& w) {
  w.Add<uint64_t>("indptr", m.indptr);
  w.Add<uint32_t>("indices", m.indices);
  w.Add<float>("values", m.values);
}

CsrMatrix LoadItemMatrix(const ArtifactReader& r, std::string_view family) {
  CsrMatrix m;
  m.indptr = r.GetVector<uint64_t>("indptr");
  m.indices = r.GetVector<uint32_t>("indices");
  m.values = r.GetVector<float>("values");
  if (m.indptr.empty() || m.indptr.front() != 0 || m.indptr.back() != m.indices.size() ||
      m.values.size() != m.indices.size() || !std::is_sorted(m.indptr.begin(), m.indptr.end())) {
    Fail(ErrorCode::kCorruption, "{} artifact: inconsistent CSR item matrix", family);
  }
  m.rows = m.cols = static_cast<uint32_t>(m.indptr.size() - 1);
  for (uint32_t j : m.indices) {
    if (j >= m.cols) Fail(ErrorCode::kCorruption, "{} artifact: item {} out of range", family, j);
  }
  for (float w : m.values) {
    if (!std::isfinite(w)) Fail(ErrorCode::kCorruption, "{} artifact: non-finite weight", family);
  }
  return m;
}

void ScoreByRows(const CsrMatrix& m, const CsrMatrix& hist, std::span<float> out,
                 const Context& ctx) {
  const size_t ni = m.cols;
  if (out.size() != static_cast<size_t>(hist.rows) * ni) {
    Fail(ErrorCode::kInternal, "ScoreBatch: output has {} floats, need {}", out.size(),
         static_cast<size_t>(hist.rows) * ni);
  }
  ParallelFor(hist.rows, ctx.threads, [&](size_t begin, size_t end, int) {
    for (size_t r = begin; r < end; ++r) {
      float* o = out.data() + r * ni;
      std::fill(o, o + ni, 0.0f);
      for (uint32_t i : hist.row_indices(static_cast<uint32_t>(r))) {
        if (i >= m.rows) continue;  // items unknown to the model carry no signal
        const auto cols = m.row_indices(i);
        const auto vals = m.row_values(i);
        for (size_t p = 0; p < cols.size(); ++p) o[cols[p]] += vals[p];
      }
    }
  });
}

void ItemGraphModel::Fit(const CsrMatrix& x, const Context& ctx) {
  Stopwatch sw;
  ctx.Report(family_, 0.0);
  const CsrMatrix xt = x.Transpose();  // items x users; stored values are ignored (binary)
  std::vector<std::vector<Neighbor>> rows(x.cols);
  ComputeRows(x, xt, ctx, rows);
  graph_ = ItemMatrixFromRows(rows);
  BuildScoringIndex();
  ctx.Report(family_, 1.0);
  spdlog::info("{}: {} items, {} users, {} nnz -> {} {} in {:.2f}s", family_, x.cols, x.rows,
               x.nnz(), graph_.nnz(), weights_, sw.Seconds());
}

void ItemGraphModel::ScoreBatch(const CsrMatrix& hist, std::span<float> out,
                                const Context& ctx) const {
  ScoreByRows(by_ == ScoreBy::kRows ? graph_ : by_column_, hist, out, ctx);
}

void ItemGraphModel::Load(const ArtifactReader& r) {
  graph_ = LoadItemMatrix(r, family_);
  BuildScoringIndex();
}

void ItemGraphModel::BuildScoringIndex() {
  if (by_ == ScoreBy::kColumns) by_column_ = graph_.Transpose();
}

}  // namespace marquee

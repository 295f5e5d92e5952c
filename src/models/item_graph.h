// The learned state of the neighbourhood families (itemknn, rp3beta): a sparse item x item weight
// matrix in CSR (a CsrMatrix), built from per-item neighbour lists kept by a bounded top-N, saved
// as the tensors `indptr` u64[items+1], `indices` u32 and `values` f32
// (docs/formats/model-artifact.md). ItemGraphModel is their common Recommender: a family
// implements only its params and how a row of neighbour weights is computed.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "common/thread_pool.h"
#include "marquee/context.h"
#include "marquee/recommender.h"
#include "marquee/sparse.h"
#include "models/artifact.h"

namespace marquee {

// One neighbour: (weight, item).
using Neighbor = std::pair<float, uint32_t>;

// Keeps the `n` best neighbours offered: larger weight first, ties to the lower item index.
// Reusable (Clear); not thread-safe (one per thread).
class TopNeighbors {
 public:
  explicit TopNeighbors(uint32_t n = 0) : n_(n) {}
  void Reset(uint32_t n) {
    n_ = n;
    heap_.clear();
  }
  void Offer(float weight, uint32_t item);
  // The kept neighbours, best first; leaves the heap empty.
  void TakeSorted(std::vector<Neighbor>* out);

 private:
  uint32_t n_;
  std::vector<Neighbor> heap_;  // the worst kept neighbour on top
};

// The items x items matrix whose row i is rows[i] (its pairs in order); frees each list as it
// is copied.
CsrMatrix ItemMatrixFromRows(std::vector<std::vector<Neighbor>>& rows);
// Saves `m` as the tensors indptr/indices/values.
void SaveItemMatrix(const CsrMatrix& m, ArtifactWriter& w);
// Loads what SaveItemMatrix saved; kCorruption naming `family` for an inconsistent CSR, an item
// out of range or a non-finite weight.
CsrMatrix LoadItemMatrix(const ArtifactReader& r, std::string_view family);

// Scores of the neighbourhood families: out[r, c] = Σ_{i in history row r} m(i, c), each
// history item adding its row of `m` (items x items); history items beyond m carry no signal.
// `out` holds hist.rows x m.cols floats (kInternal otherwise). Parallel over rows.
void ScoreByRows(const CsrMatrix& m, const CsrMatrix& hist, std::span<float> out,
                 const Context& ctx);

// A Recommender whose learned state is one item x item matrix G (row i = the kept neighbours of
// item i with their weights): Fit builds G row by row (ComputeRows), Save/Load write and read it
// as the tensors above, and a history scores by adding rows of G (or of its transpose, per
// ScoreBy). Not thread-safe while fitting or loading; ScoreBatch is safe from many threads once
// fitted or loaded.
class ItemGraphModel : public Recommender {
 public:
  std::string_view family() const final { return family_; }
  nlohmann::json params() const final { return params_; }
  uint32_t num_items() const final { return graph_.rows; }
  // G from ComputeRows over the items of `x` (users x items; stored values ignored).
  void Fit(const CsrMatrix& x, const Context& ctx) final;
  // out[r, c] = Σ_{i in history row r} S(i, c), S = G (kRows) or Gᵀ (kColumns).
  void ScoreBatch(const CsrMatrix& hist, std::span<float> out, const Context& ctx) const final;
  void Save(ArtifactWriter& w) const final { SaveItemMatrix(graph_, w); }
  // kCorruption naming the family for an inconsistent matrix (LoadItemMatrix).
  void Load(const ArtifactReader& r) final;

 protected:
  // How a history scores: each history item adds its row of G (kRows), or each candidate adds
  // its weights to the history's items, i.e. the rows of Gᵀ (kColumns).
  enum class ScoreBy { kRows, kColumns };
  // `family` names the family in logs, progress and errors; `weights` names G's entries in
  // the Fit log line ("similarities").
  ItemGraphModel(std::string_view family, std::string_view weights, ScoreBy by)
      : family_(family), weights_(weights), by_(by) {}
  // The resolved params, as params() reports them (call from the family's constructor).
  void set_params(nlohmann::json params) { params_ = std::move(params); }

  // Fills rows[i] (rows.size() == x.cols) with the kept neighbours of item i, best first. `xt`
  // is x's transpose (items x users). Called by Fit; may throw marquee::Error.
  virtual void ComputeRows(const CsrMatrix& x, const CsrMatrix& xt, const Context& ctx,
                           std::vector<std::vector<Neighbor>>& rows) const = 0;

  // Calls fn(item, scratch) for every item < n, in parallel over ctx.threads threads (dynamic
  // blocks of 16 items), each thread with its own copy of `scratch`, reporting progress as the
  // family every 1024 items. fn must give the same result whichever thread runs it.
  template <class Scratch, class Fn>
  void ForEachItem(uint32_t n, const Context& ctx, const Scratch& scratch, Fn fn) const {
    std::vector<Scratch> per_thread(static_cast<size_t>(std::max(ctx.threads, 1)), scratch);
    std::atomic<uint32_t> done{0};
    ParallelForDynamic(n, ctx.threads, 16, [&](size_t item, int t) {
      fn(static_cast<uint32_t>(item), per_thread[static_cast<size_t>(t)]);
      const uint32_t d = done.fetch_add(1) + 1;
      if (d % 1024 == 0) ctx.Report(family_, static_cast<double>(d) / n);
    });
  }

 private:
  // by_column_ = Gᵀ when scoring by columns (rebuilt after Fit and Load).
  void BuildScoringIndex();

  std::string_view family_;
  std::string_view weights_;
  ScoreBy by_;
  nlohmann::json params_;
  CsrMatrix graph_;      // G: saved as is
  CsrMatrix by_column_;  // Gᵀ when by_ == kColumns, else empty
};

}  // namespace marquee

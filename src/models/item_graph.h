// The learned state of the neighbourhood families (itemknn, rp3beta): a sparse item x item weight
// matrix in CSR (a CsrMatrix), built from per-item neighbour lists kept by a bounded top-N, saved
// as the tensors `indptr` u64[items+1], `indices` u32 and `values` f32
// (docs/formats/model-artifact.md).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "marquee/context.h"
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

}  // namespace marquee

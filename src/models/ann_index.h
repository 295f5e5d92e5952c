// FactorIndex: approximate maximum-inner-product retrieval over a factor model's item rows
// (iALS, BPR; Recommender::item_factors), so that serving a catalogue of millions of items does
// not score every item for every request. An HNSW graph (Malkov & Yashunin 2018, through
// Debian's header-only hnswlib) in hnswlib's inner-product space: the graph is searched with the
// query vector itself. On 50,000 items drawn like a trained iALS model it reached recall@10
// 0.992 at ef 200, where the MIPS-to-L2 transform (one extra coordinate
// sqrt(max_norm² − |x|²), HnswParams::l2_transform) reached 0.405 (docs/BENCHMARKS.md, "ANN
// retrieval").
//
// What the index returns is exact where it matters: every candidate it finds is re-scored with
// DotFixedOrder, the same float the exact path (ScoreBatch) computes, and ranked by the one
// order of common/top_k.h. Exclusions and allow lists are honoured by over-fetching
// (max(k, ef_search) plus the excluded count, divided by the allowed share of the catalogue, so
// that about ef_search candidates survive the filters) and filtering; a search that keeps fewer
// than k is repeated with 4x the fetch, and past max_fetch the request is answered exactly
// (every item scored, or only the allowed ones when that is cheaper than a graph search).
//
// Saved graphs: Save writes the graph in hnswlib's own file layout and, beside it, a manifest
// (PATH.json: the settings, the catalogue's shape, the file's size and sha256), so that a large
// catalogue's server start reads its graph back (Load) instead of building it again (143 s for
// 1,000,000 x 128 on 2 threads, docs/BENCHMARKS.md). The manifest is written last and
// atomically; Load recomputes the sha256 before hnswlib reads a byte, so a torn or foreign file
// is refused (kCorruption), never loaded. What the graph belongs to (which model's rows) is the
// caller's key: the path (kinds/recommender/servable.cc names it by the artifact's digest).
//
// SQ8 (HnswParams::quantization = kSq8, after faiss's IndexHNSWSQ): the graph stores each row as
// int8 codes (one symmetric scale for the whole catalogue, max|x| / 127) instead of floats, so a
// node's vector is dim bytes instead of 4·dim, and its distance is the negative int8·int8 dot
// (models/sq8_kernels.h: AVX-512 VNNI where the CPU has it). A query is quantized with its own
// scale (max|q| / 127: a positive factor on the query does not change its ranking), so the
// search and the build (stored against stored) compare the same kind of codes. The graph only
// chooses the candidates: they are re-scored exactly as above, so the scores stay exact.
//
// Thread-safety: built once (Build uses `threads` threads) or loaded, then TopK is const and
// may be called from any number of threads at once. The item rows must outlive the index.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "marquee/recommender.h"

namespace marquee {

class Env;

// How the graph stores its copy of the rows.
enum class HnswQuantization {
  kNone,  // floats (hnswlib's inner-product or L2 space)
  kSq8,   // int8 codes with one scale per catalogue (see above); not with l2_transform
};
// "none" / "sq8" (the [serve] hnsw_quantization and manifest spelling).
const char* HnswQuantizationName(HnswQuantization q);
// kInvalidArgument for other names.
HnswQuantization ParseHnswQuantization(std::string_view name);

struct HnswParams {
  uint32_t m = 16;                 // graph degree (2m on the bottom layer)
  uint32_t ef_construction = 100;  // candidate list while inserting
  uint32_t ef_search = 200;        // candidate list while searching (at least the fetch count)
  int threads = 1;                 // build threads; the graph differs between thread counts > 1
  // The MIPS-to-L2 transform (Bachrach et al. 2014: each item row gets the coordinate
  // sqrt(max_norm² − |x|²), each query 0, so L2-nearest is inner-product best) in hnswlib's L2
  // space instead of its inner-product space. Off: kept to measure the choice (bench_ann).
  bool l2_transform = false;
  // The graph's bottom layer on transparent huge pages (madvise; Linux with THP "madvise" or
  // "always"), for fewer TLB misses in a search's random hops. Off: kept to measure it.
  bool huge_pages = true;
  // SQ8 by default: on 1,000,000 items x 128 factors (m 32, ef_construction 200) it found as
  // many of the exact top 10 as the float graph (within 0.0003 or above at each ef from 150 to
  // 300; 0.9804 against 0.9784 at ef 200), in 0.57-0.80x the time, with 56% of its memory
  // (docs/BENCHMARKS.md).
  HnswQuantization quantization = HnswQuantization::kSq8;
};

// How a TopK call was answered (for tests and metrics).
enum class IndexPath {
  kGraph,         // the graph's candidates, filtered
  kExactAllowed,  // the allow list scored exactly (smaller than a graph search)
  kExactAll,      // every item scored: the filters removed too much for over-fetching
};

class FactorIndex {
 public:
  // Builds the graph over `items` (item_factors() of a factor model). kInvalidArgument for a
  // model that is not a factor model or has no items, for m < 2, or for SQ8 with the L2
  // transform; kResourceExhausted when
  // the graph cannot be allocated.
  static std::unique_ptr<FactorIndex> Build(ItemFactors items, const HnswParams& params);
  // The graph Save wrote at `path` for these rows and settings (m, ef_construction,
  // l2_transform, quantization), or nullptr when there is none (no graph or no manifest).
  // kCorruption when the manifest is unreadable, names other settings or another catalogue shape,
  // or the file's size or sha256 differ from it; kResourceExhausted when it cannot be allocated.
  // hnswlib reads the verified file itself (std::ifstream, outside `env`).
  static std::unique_ptr<FactorIndex> Load(ItemFactors items, const HnswParams& params,
                                           const std::string& path, Env* env);
  // Writes the graph to `path` (hnswlib writes a temporary beside it, which is checked for its
  // expected size, hashed and renamed into place) and then `path`.json atomically through `env`.
  // kIOError (the temporary removed) when the write fails or comes out short.
  void Save(const std::string& path, Env* env) const;
  ~FactorIndex();
  FactorIndex(const FactorIndex&) = delete;
  FactorIndex& operator=(const FactorIndex&) = delete;

  // The (up to) k best items for `query` (item_factors().dim floats) by inner product, best
  // first as common/top_k.h orders them, with their exact scores. Skips `excluded` (sorted);
  // with `allow` (sorted unique) considers only those items. Items with non-finite scores are
  // dropped. `ef_search` > 0 replaces params().ef_search for this call (benchmarks sweep it).
  // Returns how the answer was found.
  IndexPath TopK(const float* query, uint32_t k, std::span<const uint32_t> excluded,
                 const std::vector<uint32_t>* allow, std::vector<uint32_t>& items,
                 std::vector<float>& scores, uint32_t ef_search = 0) const;

  // Copies the graph's bottom layer into a fresh region advised for huge pages, or against them
  // (Build and Load place it on them with params().huge_pages; bench_ann measures both in
  // alternating rounds). Not thread-safe: no TopK may run meanwhile.
  void PlaceOnHugePages(bool huge);

  // The score of item i for `query`: DotFixedOrder, as ScoreBatch computes it.
  float Score(const float* query, uint32_t i) const;

  const HnswParams& params() const { return params_; }
  double build_seconds() const { return build_seconds_; }
  // Seconds Load took (0 for a built index); whether the graph was read back from a file.
  double load_seconds() const { return load_seconds_; }
  bool loaded() const { return loaded_; }
  // Bytes the graph holds (its copy of the vectors, the links of every layer).
  size_t memory_bytes() const;
  // The largest fetch tried on the graph before answering exactly.
  uint32_t max_fetch() const;

 private:
  struct Graph;
  FactorIndex(ItemFactors items, const HnswParams& params);

  ItemFactors items_;
  HnswParams params_;
  double build_seconds_ = 0;
  double load_seconds_ = 0;
  bool loaded_ = false;
  std::unique_ptr<Graph> graph_;
};

// Where a graph of the artifact `digest` built with `params` is saved in `dir`
// (dir/DIGEST-mM-efcE.hnsw, or DIGEST-mM-efcE-sq8.hnsw for SQ8; docs/formats/hnsw-index.md).
std::string SavedGraphPath(const std::string& dir, const std::string& digest,
                           const HnswParams& params);

// A saved graph's manifest (PATH.json), docs/formats/hnsw-index.md.
// Format 2 added `quantization`; a format-1 manifest reads as quantization "none".
struct HnswManifest {
  int format = 2;
  uint64_t items = 0;
  uint32_t dim = 0;
  uint32_t m = 0;
  uint32_t ef_construction = 0;
  bool l2_transform = false;
  HnswQuantization quantization = HnswQuantization::kNone;
  uint64_t bytes = 0;  // the graph file's size
  std::string sha256;  // of the graph file, lower-case hex
};
std::string EncodeHnswManifest(const HnswManifest& m);
// kCorruption naming the field for bytes that are not a format-1 or format-2 manifest (fuzzed:
// tests/fuzz/fuzz_hnsw_manifest.cc).
HnswManifest ParseHnswManifest(std::string_view bytes);

}  // namespace marquee

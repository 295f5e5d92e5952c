#include "models/ann_index.h"

#include <hnswlib/hnswlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <utility>

#include "common/log.h"
#include "common/mutex.h"
#include "common/sha256.h"
#include "common/temp_name.h"
#include "common/thread_pool.h"
#include "common/top_k.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "models/ials/factor_math.h"
#include "models/sq8_kernels.h"

namespace marquee {
namespace {

// hnswlib's InnerProductSpace constructor picks its SIMD kernels by writing file-level function
// pointers (the same values every time); constructions are serialised so that two models
// loading at once do not race on them.
Mutex g_space_mu;

bool Contains(std::span<const uint32_t> sorted, uint32_t i) {
  return std::binary_search(sorted.begin(), sorted.end(), i);
}

// The size of the file hnswlib's saveIndex writes for `g`: its header fields, the bottom layer,
// and each item's upper-layer links behind their length.
template <typename G>
uint64_t SavedBytes(const G& g) {
  uint64_t bytes = sizeof(g.offsetLevel0_) + sizeof(g.max_elements_) + sizeof(g.cur_element_count) +
                   sizeof(g.size_data_per_element_) + sizeof(g.label_offset_) +
                   sizeof(g.offsetData_) + sizeof(g.maxlevel_) + sizeof(g.enterpoint_node_) +
                   sizeof(g.maxM_) + sizeof(g.maxM0_) + sizeof(g.M_) + sizeof(g.mult_) +
                   sizeof(g.ef_construction_);
  bytes += static_cast<uint64_t>(g.cur_element_count) * g.size_data_per_element_;
  for (size_t i = 0; i < g.cur_element_count; ++i) {
    bytes += sizeof(unsigned int);
    if (g.element_levels_[i] > 0) {
      bytes += static_cast<uint64_t>(g.size_links_per_element_) * g.element_levels_[i];
    }
  }
  return bytes;
}

constexpr size_t kHugePage = size_t{2} << 20;

// Asks the kernel for transparent huge pages behind [p, p + bytes), or for none (Linux's
// MADV_HUGEPAGE / MADV_NOHUGEPAGE; a no-op where THP is off). Pages already touched keep their
// size.
void AdviseHugePages(void* p, size_t bytes, bool huge = true) {
  const auto begin = reinterpret_cast<uintptr_t>(p);
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = (begin + page - 1) / page * page;
  if (bytes < kHugePage || first >= begin + bytes) return;
  ::madvise(reinterpret_cast<void*>(first), begin + bytes - first,
            huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
}

// Moves hnswlib's bottom layer (each item's vector, label and links: the memory every search
// hops through at random) into a fresh region placed on huge pages (or kept off them), so that a
// search's hops miss the TLB far less (a 1,000,000 x 128 graph spans 780 MB: 190,000 small
// pages). hnswlib frees the region with free(), which takes aligned_alloc's memory.
template <typename G>
void PlaceBottomLayer(G& g, bool huge) {
  const size_t bytes = g.max_elements_ * g.size_data_per_element_;
  if (bytes < kHugePage) return;
  const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* fresh = std::aligned_alloc(kHugePage, rounded);
  if (fresh == nullptr) return;  // stays where it is
  AdviseHugePages(fresh, rounded, huge);
  std::memcpy(fresh, g.data_level0_memory_, g.cur_element_count * g.size_data_per_element_);
  std::free(g.data_level0_memory_);
  g.data_level0_memory_ = static_cast<char*>(fresh);
}

// The SQ8 graph's space: a stored vector is `dim` int8 codes, and the distance of two is their
// negative dot product (models/sq8_kernels.h). hnswlib calls it with a query's codes against a
// stored vector while searching, and with two stored vectors while building: both are codes of
// the same kind (QuantizeRow), so one kernel serves both.
// Bytes of a stored code vector: `dim` codes, zero-padded to a multiple of 4. hnswlib packs each
// element as links, vector, label, and reads the next element's link list as ints, so a vector
// of an odd size would leave them misaligned (UBSan found it with dim 3: fuzz_hnsw_manifest).
size_t Sq8CodeBytes(size_t dim) { return (dim + 3) / 4 * 4; }

class Sq8Space : public hnswlib::SpaceInterface<float> {
 public:
  explicit Sq8Space(size_t dim) : dim_(dim), distance_(sq8::ActiveKernels().distance) {}
  // The kernel reads `dim_` codes (its parameter); the padding is never compared.
  size_t get_data_size() override { return Sq8CodeBytes(dim_); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return distance_; }
  void* get_dist_func_param() override { return &dim_; }

 private:
  size_t dim_;
  hnswlib::DISTFUNC<float> distance_;
};

// The largest |x| over `n` floats (non-finite ones skipped).
float MaxAbs(const float* x, size_t n) {
  float m = 0;
  for (size_t j = 0; j < n; ++j) {
    if (std::isfinite(x[j])) m = std::max(m, std::fabs(x[j]));
  }
  return m;
}

// codes[j] = round(x[j] · inv_scale) clamped to [−127, 127] (NaN to 0): symmetric int8, so that
// the dot of two code vectors is the dot of the rows divided by the product of their scales.
void QuantizeRow(const float* x, size_t d, float inv_scale, int8_t* codes) {
  for (size_t j = 0; j < d; ++j) {
    const float v = x[j] * inv_scale;
    codes[j] = std::isnan(v) ? int8_t{0}
                             : static_cast<int8_t>(std::nearbyint(std::clamp(v, -127.0f, 127.0f)));
  }
}

// A query's codes with its own scale (127 / max|q|): the ranking of q·x does not change with a
// positive factor on q, and the query's whole range is used.
void QuantizeQuery(const float* q, size_t d, int8_t* codes) {
  const float m = MaxAbs(q, d);
  QuantizeRow(q, d, m > 0 ? 127.0f / m : 0.0f, codes);
}

}  // namespace

const char* HnswQuantizationName(HnswQuantization q) {
  return q == HnswQuantization::kSq8 ? "sq8" : "none";
}

HnswQuantization ParseHnswQuantization(std::string_view name) {
  if (name == "none") return HnswQuantization::kNone;
  if (name == "sq8") return HnswQuantization::kSq8;
  Fail(ErrorCode::kInvalidArgument, "HNSW quantization '{}': expected \"none\" or \"sq8\"", name);
}

struct FactorIndex::Graph {
  Graph(size_t dim, size_t items, size_t m, size_t ef_construction, const HnswParams& p)
      : space(MakeSpace(dim, p)), hnsw(space.get(), items, m, ef_construction) {}
  // Reads a graph hnswlib saved (hnswlib's loadIndex).
  Graph(size_t dim, const std::string& path, size_t items, const HnswParams& p)
      : space(MakeSpace(dim, p)), hnsw(space.get(), path, false, items) {}
  static std::unique_ptr<hnswlib::SpaceInterface<float>> MakeSpace(size_t dim,
                                                                   const HnswParams& p) {
    if (p.quantization == HnswQuantization::kSq8) return std::make_unique<Sq8Space>(dim);
    MutexLock lock(&g_space_mu);
    if (p.l2_transform) return std::make_unique<hnswlib::L2Space>(dim + 1);
    return std::make_unique<hnswlib::InnerProductSpace>(dim);
  }
  std::unique_ptr<hnswlib::SpaceInterface<float>> space;
  hnswlib::HierarchicalNSW<float> hnsw;
  double max_norm2 = 0;  // l2 transform: the largest squared norm of an item row
};

FactorIndex::FactorIndex(ItemFactors items, const HnswParams& params)
    : items_(items), params_(params) {}

FactorIndex::~FactorIndex() = default;

std::unique_ptr<FactorIndex> FactorIndex::Build(ItemFactors items, const HnswParams& params) {
  if (items.data == nullptr || items.items == 0 || items.dim == 0) {
    Fail(ErrorCode::kInvalidArgument, "an HNSW index needs a factor model (iALS, BPR) with items");
  }
  if (params.m < 2 || params.ef_construction < 1 || params.ef_search < 1) {
    Fail(ErrorCode::kInvalidArgument,
         "HNSW parameters: m must be at least 2 and ef_construction, ef_search at least 1 "
         "(got m = {}, ef_construction = {}, ef_search = {})",
         params.m, params.ef_construction, params.ef_search);
  }
  const bool sq8 = params.quantization == HnswQuantization::kSq8;
  if (sq8 && params.l2_transform) {
    Fail(ErrorCode::kInvalidArgument,
         "HNSW: SQ8 quantization works in the inner-product space, "
         "not with the L2 transform");
  }
  std::unique_ptr<FactorIndex> index(new FactorIndex(items, params));
  Stopwatch sw;
  const size_t d = items.dim;
  try {
    index->graph_ =
        std::make_unique<Graph>(d, items.items, params.m, params.ef_construction, params);
    Graph& graph = *index->graph_;
    // hnswlib's malloc of the bottom layer is untouched yet: its pages fault in as huge pages.
    if (params.huge_pages) {
      AdviseHugePages(graph.hnsw.data_level0_memory_,
                      graph.hnsw.max_elements_ * graph.hnsw.size_data_per_element_);
    }
    auto norm2 = [&](size_t i) {
      double s = 0;
      for (size_t j = 0; j < d; ++j) s += double{items.data[i * d + j]} * items.data[i * d + j];
      return s;
    };
    if (params.l2_transform) {
      for (size_t i = 0; i < items.items; ++i)
        graph.max_norm2 = std::max(graph.max_norm2, norm2(i));
    }
    // Inserts are independent calls that lock the nodes they link (hnswlib); blocks of 256
    // keep the threads on nearby rows. With one thread the graph is a function of the rows.
    // SQ8: one symmetric scale for the catalogue, so that the dot of two stored code vectors
    // (the build's comparisons) is their rows' dot over one constant.
    const float max_abs = sq8 ? MaxAbs(items.data, size_t{items.items} * d) : 0.0f;
    const float inv_scale = max_abs > 0 ? 127.0f / max_abs : 0.0f;
    ParallelForDynamic(items.items, params.threads, 256, [&](size_t i, int) {
      if (sq8) {
        thread_local std::vector<int8_t> codes;
        codes.assign(Sq8CodeBytes(d), 0);
        QuantizeRow(items.data + i * d, d, inv_scale, codes.data());
        graph.hnsw.addPoint(codes.data(), i);
        return;
      }
      if (!params.l2_transform) {
        graph.hnsw.addPoint(items.data + i * d, i);
        return;
      }
      std::vector<float> row(items.data + i * d, items.data + (i + 1) * d);
      row.push_back(static_cast<float>(std::sqrt(std::max(0.0, graph.max_norm2 - norm2(i)))));
      graph.hnsw.addPoint(row.data(), i);
    });
    hnswlib::HierarchicalNSW<float>& g = graph.hnsw;
    // hnswlib searches with max(its ef, the count asked for); TopK asks for at least ef_search
    // results, so the count is the whole control.
    g.setEf(1);
  } catch (const std::bad_alloc&) {
    Fail(ErrorCode::kResourceExhausted, "HNSW index of {} items x {} factors: out of memory",
         items.items, items.dim);
  } catch (const std::runtime_error& e) {  // hnswlib's allocation failures
    Fail(ErrorCode::kResourceExhausted, "HNSW index of {} items x {} factors: {}", items.items,
         items.dim, e.what());
  }
  index->build_seconds_ = sw.Seconds();
  return index;
}

std::unique_ptr<FactorIndex> FactorIndex::Load(ItemFactors items, const HnswParams& params,
                                               const std::string& path, Env* env) {
  const std::string manifest_path = path + ".json";
  if (!env->FileExists(path) || !env->FileExists(manifest_path)) return nullptr;
  Stopwatch sw;
  const HnswManifest m = ParseHnswManifest(env->ReadFile(manifest_path));
  if (m.items != items.items || m.dim != items.dim || m.m != params.m ||
      m.ef_construction != params.ef_construction || m.l2_transform != params.l2_transform ||
      m.quantization != params.quantization) {
    Fail(ErrorCode::kCorruption,
         "saved HNSW graph {}: built for {} items x {} factors, m {}, ef_construction {}{}, "
         "quantization {}, not {} x {}, m {}, ef_construction {}{}, quantization {}",
         path, m.items, m.dim, m.m, m.ef_construction, m.l2_transform ? " (l2)" : "",
         HnswQuantizationName(m.quantization), items.items, items.dim, params.m,
         params.ef_construction, params.l2_transform ? " (l2)" : "",
         HnswQuantizationName(params.quantization));
  }
  const uint64_t size = env->FileSize(path);
  if (size != m.bytes) {
    Fail(ErrorCode::kCorruption, "saved HNSW graph {}: {} bytes, its manifest says {}", path, size,
         m.bytes);
  }
  if (Sha256File(path, env) != m.sha256) {
    Fail(ErrorCode::kCorruption, "saved HNSW graph {}: its sha256 differs from its manifest's",
         path);
  }
  std::unique_ptr<FactorIndex> index(new FactorIndex(items, params));
  try {
    index->graph_ = std::make_unique<Graph>(items.dim, path, items.items, params);
  } catch (const std::bad_alloc&) {
    Fail(ErrorCode::kResourceExhausted, "saved HNSW graph {}: out of memory", path);
  } catch (const std::runtime_error& e) {
    Fail(ErrorCode::kCorruption, "saved HNSW graph {}: {}", path, e.what());
  }
  const auto& g = index->graph_->hnsw;
  const size_t row_bytes = params.quantization == HnswQuantization::kSq8
                               ? Sq8CodeBytes(items.dim)
                               : (items.dim + (params.l2_transform ? 1 : 0)) * sizeof(float);
  // hnswlib takes the vector size from the space but the element layout from the file: they must
  // agree, or a search reads vectors and link lists at the wrong offsets (misaligned too).
  const bool layout = g.offsetLevel0_ == 0 && g.offsetData_ == g.size_links_level0_ &&
                      g.label_offset_ == g.size_links_level0_ + row_bytes &&
                      g.size_data_per_element_ == g.label_offset_ + sizeof(hnswlib::labeltype);
  if (g.cur_element_count != items.items || g.M_ != params.m || !layout || SavedBytes(g) != size) {
    Fail(ErrorCode::kCorruption, "saved HNSW graph {}: its contents do not match its manifest",
         path);
  }
  if (params.huge_pages) PlaceBottomLayer(index->graph_->hnsw, true);
  index->graph_->hnsw.setEf(1);
  index->loaded_ = true;
  index->load_seconds_ = sw.Seconds();
  return index;
}

void FactorIndex::Save(const std::string& path, Env* env) const {
  // The Env's own temporary naming, so that a leftover is recognisable as one.
  const std::string tmp = TempName(path);
  auto& g = graph_->hnsw;  // saveIndex is not const in hnswlib, though it only reads
  const uint64_t expected = SavedBytes(g);
  try {
    g.saveIndex(tmp);  // hnswlib's writer reports no errors: the size check below does
    const uint64_t size = env->FileExists(tmp) ? env->FileSize(tmp) : 0;
    if (size != expected) {
      Fail(ErrorCode::kIOError, "saving the HNSW graph to {}: wrote {} of {} bytes", path, size,
           expected);
    }
    HnswManifest m;
    m.items = items_.items;
    m.dim = items_.dim;
    m.m = params_.m;
    m.ef_construction = params_.ef_construction;
    m.l2_transform = params_.l2_transform;
    m.quantization = params_.quantization;
    m.bytes = size;
    m.sha256 = Sha256File(tmp, env);
    env->RenameFile(tmp, path);
    env->WriteFileAtomic(path + ".json", EncodeHnswManifest(m));
  } catch (...) {
    try {
      if (env->FileExists(tmp)) env->RemoveFile(tmp);
    } catch (const Error&) {  // the first error is the one to report
    }
    throw;
  }
}

std::string SavedGraphPath(const std::string& dir, const std::string& digest,
                           const HnswParams& params) {
  return fmt::format("{}/{}-m{}-efc{}{}.hnsw", dir, digest, params.m, params.ef_construction,
                     params.quantization == HnswQuantization::kSq8 ? "-sq8" : "");
}

std::string EncodeHnswManifest(const HnswManifest& m) {
  return nlohmann::json{{"format", m.format},
                        {"items", m.items},
                        {"dim", m.dim},
                        {"m", m.m},
                        {"ef_construction", m.ef_construction},
                        {"space", m.l2_transform ? "l2" : "ip"},
                        {"quantization", HnswQuantizationName(m.quantization)},
                        {"bytes", m.bytes},
                        {"sha256", m.sha256}}
             .dump(2) +
         "\n";
}

HnswManifest ParseHnswManifest(std::string_view bytes) {
  const nlohmann::json j = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) Fail(ErrorCode::kCorruption, "HNSW manifest: not a JSON object");
  auto unsigned_field = [&](const char* key, uint64_t max) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_unsigned() || it->get<uint64_t>() > max) {
      Fail(ErrorCode::kCorruption, "HNSW manifest: '{}' must be an integer in [0, {}]", key, max);
    }
    return it->get<uint64_t>();
  };
  HnswManifest m;
  m.format = static_cast<int>(unsigned_field("format", 1000));
  if (m.format != 1 && m.format != 2) {
    Fail(ErrorCode::kCorruption, "HNSW manifest: format {} is not 1 or 2", m.format);
  }
  m.items = unsigned_field("items", std::numeric_limits<uint32_t>::max());
  m.dim = static_cast<uint32_t>(unsigned_field("dim", std::numeric_limits<uint32_t>::max()));
  m.m = static_cast<uint32_t>(unsigned_field("m", std::numeric_limits<uint32_t>::max()));
  m.ef_construction = static_cast<uint32_t>(
      unsigned_field("ef_construction", std::numeric_limits<uint32_t>::max()));
  m.bytes = unsigned_field("bytes", std::numeric_limits<uint64_t>::max());
  auto space = j.find("space");
  if (space == j.end() || !space->is_string() ||
      (space->get<std::string>() != "ip" && space->get<std::string>() != "l2")) {
    Fail(ErrorCode::kCorruption, "HNSW manifest: 'space' must be \"ip\" or \"l2\"");
  }
  m.l2_transform = space->get<std::string>() == "l2";
  if (m.format >= 2) {  // format 1 knew float graphs only
    auto q = j.find("quantization");
    if (q == j.end() || !q->is_string() ||
        (q->get<std::string>() != "none" && q->get<std::string>() != "sq8")) {
      Fail(ErrorCode::kCorruption, "HNSW manifest: 'quantization' must be \"none\" or \"sq8\"");
    }
    m.quantization = ParseHnswQuantization(q->get<std::string>());
    if (m.quantization == HnswQuantization::kSq8 && m.l2_transform) {
      Fail(ErrorCode::kCorruption, "HNSW manifest: an SQ8 graph has space \"ip\"");
    }
  }
  auto sha = j.find("sha256");
  if (sha == j.end() || !sha->is_string() || sha->get<std::string>().size() != 64 ||
      sha->get<std::string>().find_first_not_of("0123456789abcdef") != std::string::npos) {
    Fail(ErrorCode::kCorruption, "HNSW manifest: 'sha256' must be 64 lower-case hex digits");
  }
  m.sha256 = sha->get<std::string>();
  return m;
}

void FactorIndex::PlaceOnHugePages(bool huge) { PlaceBottomLayer(graph_->hnsw, huge); }

float FactorIndex::Score(const float* query, uint32_t i) const {
  return DotFixedOrder(items_.data + static_cast<size_t>(i) * items_.dim, query, items_.dim);
}

uint32_t FactorIndex::max_fetch() const {
  // Past this a graph search costs a good share of scoring everything, and the exact answer is
  // the better buy. A catalogue smaller than that is searched whole (ef >= items).
  return std::min<uint32_t>(items_.items, std::max<uint32_t>(8 * params_.ef_search, 4096));
}

size_t FactorIndex::memory_bytes() const {
  const auto& g = graph_->hnsw;
  size_t bytes = g.max_elements_ * g.size_data_per_element_;  // level 0: links, vector, label
  for (size_t i = 0; i < g.cur_element_count; ++i) {
    bytes += static_cast<size_t>(std::max(g.element_levels_[i], 0)) * g.size_links_per_element_;
  }
  // Per-item bookkeeping: the upper-level pointer, the level, the link lock, the label map entry.
  bytes += g.max_elements_ *
           (sizeof(char*) + sizeof(int) + sizeof(decltype(g.link_list_locks_)::value_type) + 32);
  return bytes;
}

IndexPath FactorIndex::TopK(const float* query, uint32_t k, std::span<const uint32_t> excluded,
                            const std::vector<uint32_t>* allow, std::vector<uint32_t>& items,
                            std::vector<float>& scores, uint32_t ef_search) const {
  const uint32_t ef = ef_search > 0 ? ef_search : params_.ef_search;
  items.clear();
  scores.clear();
  const uint32_t n = items_.items;
  // Ranks `candidates` (exact scores, exclusions and non-finite scores dropped) into the output.
  std::vector<std::pair<float, uint32_t>> ranked;
  auto answer = [&](std::span<const uint32_t> candidates, IndexPath path) {
    ranked.clear();
    for (uint32_t c : candidates) {
      if (Contains(excluded, c)) continue;
      const float s = Score(query, c);
      if (std::isfinite(s)) ranked.emplace_back(s, c);
    }
    const size_t keep = std::min<size_t>(k, ranked.size());
    std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(keep),
                      ranked.end(), [](const auto& a, const auto& b) {
                        return a.first > b.first || (a.first == b.first && a.second < b.second);
                      });
    for (size_t r = 0; r < keep; ++r) {
      items.push_back(ranked[r].second);
      scores.push_back(ranked[r].first);
    }
    return path;
  };
  if (k == 0) return IndexPath::kGraph;
  const size_t allowed = allow != nullptr ? allow->size() : n;
  if (allowed == 0) return IndexPath::kExactAllowed;
  // Enough candidates that k survive the filters when the excluded items all rank high and the
  // allowed ones are spread like the rest; the search keeps ef candidates after filtering, so
  // that the survivors are found as well as an unfiltered search finds its top k.
  const double share = static_cast<double>(n) / static_cast<double>(allowed);
  const double want = (static_cast<double>(k) + static_cast<double>(excluded.size())) * share;
  const uint32_t cap = max_fetch();
  // A search computes about 2·m·ef distances: an allow list smaller than that is scored exactly.
  const size_t search_cost = 2 * static_cast<size_t>(params_.m) * ef;
  if (allow != nullptr && (allowed <= search_cost || want > cap)) {
    return answer(*allow, IndexPath::kExactAllowed);
  }
  std::vector<uint32_t> found;
  const void* search_query = query;
  std::vector<float> padded;
  std::vector<int8_t> codes;
  if (params_.quantization == HnswQuantization::kSq8) {
    codes.assign(Sq8CodeBytes(items_.dim), 0);
    QuantizeQuery(query, items_.dim, codes.data());
    search_query = codes.data();
  } else if (params_.l2_transform) {  // the query's extra coordinate is 0
    padded.assign(query, query + items_.dim);
    padded.push_back(0.0f);
    search_query = padded.data();
  }
  if (want <= cap) {
    size_t fetch = std::min<size_t>(
        cap, static_cast<size_t>(std::ceil(
                 (std::max<double>(k, ef) + static_cast<double>(excluded.size())) * share)));
    while (true) {
      auto result = graph_->hnsw.searchKnn(search_query, fetch);
      const size_t returned = result.size();
      found.clear();
      for (; !result.empty(); result.pop()) {
        const auto label = static_cast<uint32_t>(result.top().second);
        if (allow != nullptr && !Contains(*allow, label)) continue;
        if (Contains(excluded, label)) continue;
        found.push_back(label);
      }
      // Enough survived, or the graph has nothing more to give.
      if (found.size() >= k || returned < fetch) return answer(found, IndexPath::kGraph);
      if (fetch >= cap) break;
      fetch = std::min<size_t>(cap, fetch * 4);
    }
  }
  // The filters removed too much: score every item (or every allowed one) exactly.
  if (allow != nullptr) return answer(*allow, IndexPath::kExactAllowed);
  static thread_local std::vector<float> all;
  all.resize(n);
  ScoreWithFactors(query, 1, items_.data, n, items_.dim, all.data(), n);
  std::vector<uint32_t> top;
  marquee::TopK(all, excluded, k, top);
  for (uint32_t i : top) {
    if (!std::isfinite(all[i])) continue;
    items.push_back(i);
    scores.push_back(all[i]);
  }
  return IndexPath::kExactAll;
}

}  // namespace marquee

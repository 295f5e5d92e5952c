#include "models/ann_index.h"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <cmath>
#include <new>
#include <stdexcept>
#include <utility>

#include "common/log.h"
#include "common/mutex.h"
#include "common/thread_pool.h"
#include "common/top_k.h"
#include "marquee/error.h"
#include "models/ials/factor_math.h"

namespace marquee {
namespace {

// hnswlib's InnerProductSpace constructor picks its SIMD kernels by writing file-level function
// pointers (the same values every time); constructions are serialised so that two models
// loading at once do not race on them.
Mutex g_space_mu;

bool Contains(std::span<const uint32_t> sorted, uint32_t i) {
  return std::binary_search(sorted.begin(), sorted.end(), i);
}

}  // namespace

struct FactorIndex::Graph {
  Graph(size_t dim, size_t items, size_t m, size_t ef_construction, bool l2)
      : space(MakeSpace(dim, l2)), hnsw(space.get(), items, m, ef_construction) {}
  static std::unique_ptr<hnswlib::SpaceInterface<float>> MakeSpace(size_t dim, bool l2) {
    MutexLock lock(&g_space_mu);
    if (l2) return std::make_unique<hnswlib::L2Space>(dim + 1);
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
  std::unique_ptr<FactorIndex> index(new FactorIndex(items, params));
  Stopwatch sw;
  const size_t d = items.dim;
  try {
    index->graph_ = std::make_unique<Graph>(d, items.items, params.m, params.ef_construction,
                                            params.l2_transform);
    Graph& graph = *index->graph_;
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
    ParallelForDynamic(items.items, params.threads, 256, [&](size_t i, int) {
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
  const float* search_query = query;
  std::vector<float> padded;
  if (params_.l2_transform) {  // the query's extra coordinate is 0
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

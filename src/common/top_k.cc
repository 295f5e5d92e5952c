#include "common/top_k.h"

#include <algorithm>
#include <bit>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace marquee {

void TopK(std::span<const float> scores, std::span<const uint32_t> excluded, uint32_t k,
          std::vector<uint32_t>& out) {
  out.clear();
  if (k == 0 || scores.empty()) return;
  // `better(a, b)`: a ranks above b (higher score; ties -> lower index). With it as the heap
  // comparator, the heap's front is the worst of the kept items, the one to evict.
  auto better = [&scores](uint32_t a, uint32_t b) { return RanksAbove(scores, a, b); };
  const size_t n = scores.size();
  // Exclusions as a bitmap (n / 8 bytes, per thread): the items that pass the score test below
  // are mostly the excluded ones (a history scores itself high), so each test must be O(1).
  thread_local std::vector<uint64_t> bits;
  bits.assign((n + 63) / 64, 0);
  for (uint32_t e : excluded) {
    if (e < n) bits[e >> 6] |= uint64_t{1} << (e & 63);
  }
  auto is_excluded = [](size_t i) { return (bits[i >> 6] >> (i & 63)) & 1; };
  const size_t cap = std::min<size_t>(k, n);
  out.reserve(cap);
  size_t i = 0;
  for (; i < n && out.size() < cap; ++i) {
    if (is_excluded(i)) continue;
    out.push_back(static_cast<uint32_t>(i));
    std::push_heap(out.begin(), out.end(), better);
  }
  if (out.size() == cap) {
    // Every later item has a higher index than the kept ones, so it displaces the worst kept item
    // only with a strictly greater score (NaN never does): one compare per item on the common
    // path, and the exclusion list is consulted only for the few items that pass it.
    float worst = RankKey(scores[out.front()]);
    auto consider = [&](size_t j) {
      if (!(scores[j] > worst) || is_excluded(j)) return;
      std::pop_heap(out.begin(), out.end(), better);
      out.back() = static_cast<uint32_t>(j);
      std::push_heap(out.begin(), out.end(), better);
      worst = RankKey(scores[out.front()]);
    };
#if defined(__AVX512F__)
    // Sixteen scores a compare: most pieces hold none above the worst kept one and are skipped
    // whole; the others visit their candidates in index order, as the loop below does.
    for (; i + 16 <= n; i += 16) {
      uint32_t above =
          _mm512_cmp_ps_mask(_mm512_loadu_ps(scores.data() + i), _mm512_set1_ps(worst), _CMP_GT_OQ);
      while (above != 0) {
        consider(i + static_cast<size_t>(std::countr_zero(above)));
        above &= above - 1;
        // `worst` may have risen: candidates of this piece that no longer beat it are dropped
        // by consider's own test.
      }
    }
#endif
    for (; i < n; ++i) consider(i);
  }
  std::sort_heap(out.begin(), out.end(), better);  // ascending in `better`: best first
}

void TopKOf(std::span<const float> scores, std::span<const uint32_t> candidates,
            std::span<const uint32_t> excluded, uint32_t k, std::vector<uint32_t>& out) {
  out.clear();
  for (uint32_t c : candidates) {
    if (!std::binary_search(excluded.begin(), excluded.end(), c)) out.push_back(c);
  }
  auto better = [&scores](uint32_t a, uint32_t b) { return RanksAbove(scores, a, b); };
  const size_t take = std::min<size_t>(k, out.size());
  std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(take), out.end(),
                    better);
  out.resize(take);
}

void SortUnique(std::vector<uint32_t>& v) {
  // Only the part after the sorted run is sorted, then merged into it.
  const auto mid = std::is_sorted_until(v.begin(), v.end());
  if (mid != v.end()) {
    std::sort(mid, v.end());
    std::inplace_merge(v.begin(), mid, v.end());
  }
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

}  // namespace marquee

#include "common/top_k.h"

#include <algorithm>
#include <bit>
#include <functional>
#include <limits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace marquee {
namespace {

#if defined(__AVX512F__)
// The start of TopK's scan without a heap for every early item: the heap starts as the exact top
// `cap` of a prefix of the catalogue, found through the maxima of its 16-score pieces. Each
// piece's best item that is neither excluded nor NaN is a real candidate, so the cap-th largest
// of those maxima, T, has at least `cap` eligible items at or above it (one per piece), and the
// prefix's top `cap` are all among its eligible items scoring >= T: usually a few more than cap.
// Returns how many items the prefix covered (0: no seed, the heap fills as before), with `out`
// then holding its top `cap` as a heap under the caller's comparator.
size_t SeedFromBlockMaxima(std::span<const float> scores, const std::vector<uint64_t>& bits,
                           size_t cap, std::vector<uint32_t>& out) {
  // A catalogue of up to 8,192 items is seeded whole (the scan after it has nothing left to do,
  // whatever order the scores come in); a larger one from a prefix of enough pieces for T to sit
  // well above a typical score, few enough that picking T stays cheap next to the scan of the
  // rest against the seeded heap.
  const size_t all = scores.size() / 16;
  const size_t pieces = all <= 512 ? all : std::min(all, std::max<size_t>(4 * cap, 32));
  if (cap == 0 || pieces < cap) return 0;
  auto eligible_mask = [&](size_t piece) {  // neither excluded (bit set) nor NaN
    const size_t first = piece * 16;
    const auto excluded = static_cast<__mmask16>(bits[first >> 6] >> (first & 63));
    const __m512 v = _mm512_loadu_ps(scores.data() + first);
    return static_cast<__mmask16>(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q) & ~excluded);
  };
  float threshold;
  if (cap <= 16) {
    // The cap largest maxima kept sorted in registers, each maximum inserted without a branch:
    // the scores of a request are new to the branch predictor, and a selection by comparisons
    // (nth_element) spent most of its time in mispredicted branches. Two registers (even and
    // odd pieces) halve the chain of dependent inserts; the 16 largest of both are then
    // max(a, reversed b), sorted by inserting its lanes into a third register.
    const __m512i shift = _mm512_set_epi32(14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0);
    const __m512 neg_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    auto insert = [&shift](__m512 top, __m512 x) {  // top: descending; x: one value, broadcast
      const __mmask16 below = _mm512_cmp_ps_mask(top, x, _CMP_LT_OQ);  // a suffix of the lanes
      const auto first = static_cast<__mmask16>(below & ~(below << 1));
      top = _mm512_mask_mov_ps(top, static_cast<__mmask16>(below & ~first),
                               _mm512_permutexvar_ps(shift, top));
      return _mm512_mask_mov_ps(top, first, x);
    };
    auto piece_max = [&](size_t p) {  // -inf when nothing is eligible: it never enters
      return _mm512_set1_ps(
          _mm512_mask_reduce_max_ps(eligible_mask(p), _mm512_loadu_ps(scores.data() + p * 16)));
    };
    __m512 even = neg_inf, odd = neg_inf;
    size_t p = 0;
    for (; p + 2 <= pieces; p += 2) {
      even = insert(even, piece_max(p));
      odd = insert(odd, piece_max(p + 1));
    }
    if (p < pieces) even = insert(even, piece_max(p));
    const __m512i reverse = _mm512_set_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    alignas(64) float both[16];
    _mm512_store_ps(both, _mm512_max_ps(even, _mm512_permutexvar_ps(reverse, odd)));
    __m512 top = neg_inf;
    for (float x : both) top = insert(top, _mm512_set1_ps(x));
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, top);
    threshold = lanes[cap - 1];
  } else {
    thread_local std::vector<float> maxima;
    maxima.clear();
    for (size_t p = 0; p < pieces; ++p) {
      const __mmask16 m = eligible_mask(p);
      if (m != 0)
        maxima.push_back(_mm512_mask_reduce_max_ps(m, _mm512_loadu_ps(scores.data() + p * 16)));
    }
    if (maxima.size() < cap) return 0;
    std::nth_element(maxima.begin(), maxima.begin() + static_cast<std::ptrdiff_t>(cap - 1),
                     maxima.end(), std::greater<float>());
    threshold = maxima[cap - 1];
  }
  // At T = -inf fewer than cap pieces hold an eligible number, or a NaN (ranked as -inf, ties
  // by index) could belong to the top: no seed then.
  if (!(threshold > -std::numeric_limits<float>::infinity())) return 0;
  const __m512 t = _mm512_set1_ps(threshold);
  for (size_t p = 0; p < pieces; ++p) {
    uint32_t at_least = _mm512_mask_cmp_ps_mask(
        eligible_mask(p), _mm512_loadu_ps(scores.data() + p * 16), t, _CMP_GE_OQ);
    while (at_least != 0) {
      out.push_back(
          static_cast<uint32_t>(p * 16 + static_cast<size_t>(std::countr_zero(at_least))));
      at_least &= at_least - 1;
    }
  }
  auto better = [&scores](uint32_t a, uint32_t b) { return RanksAbove(scores, a, b); };
  std::nth_element(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(cap - 1), out.end(),
                   better);
  out.resize(cap);
  std::make_heap(out.begin(), out.end(), better);
  return pieces * 16;
}
#endif

void TopKImpl(std::span<const float> scores, std::span<const uint32_t> excluded, uint32_t k,
              bool seed, std::vector<uint32_t>& out) {
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
#if defined(__AVX512F__)
  if (seed) i = SeedFromBlockMaxima(scores, bits, cap, out);
#else
  (void)seed;
#endif
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

}  // namespace

void TopK(std::span<const float> scores, std::span<const uint32_t> excluded, uint32_t k,
          std::vector<uint32_t>& out) {
  TopKImpl(scores, excluded, k, /*seed=*/true, out);
}

void TopKUnseeded(std::span<const float> scores, std::span<const uint32_t> excluded, uint32_t k,
                  std::vector<uint32_t>& out) {
  TopKImpl(scores, excluded, k, /*seed=*/false, out);
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

#include "common/top_k.h"

#include <algorithm>

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
    for (; i < n; ++i) {
      if (!(scores[i] > worst) || is_excluded(i)) continue;
      std::pop_heap(out.begin(), out.end(), better);
      out.back() = static_cast<uint32_t>(i);
      std::push_heap(out.begin(), out.end(), better);
      worst = RankKey(scores[out.front()]);
    }
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

}  // namespace marquee

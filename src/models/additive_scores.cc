#include "models/additive_scores.h"

#include <algorithm>
#include <cmath>

namespace marquee {

int SumGridBits(uint32_t n) {
  int log2n = 0;
  while ((uint64_t{1} << log2n) < std::max<uint32_t>(n, 2)) ++log2n;
  return 28 - log2n;
}

void RoundToSumGrid(std::span<float> values, uint32_t n) {
  float largest = 0.0f;
  for (float v : values) {
    if (std::isfinite(v)) largest = std::max(largest, std::fabs(v));
  }
  if (largest == 0.0f) return;
  int e = 0;
  std::frexp(largest, &e);  // largest < 2^e
  const int shift = 24 + SumGridBits(n) - e;
  for (float& v : values) {
    if (!std::isfinite(v)) continue;
    v = static_cast<float>(
        std::ldexp(std::nearbyint(std::ldexp(static_cast<double>(v), shift)), -shift));
  }
}

}  // namespace marquee

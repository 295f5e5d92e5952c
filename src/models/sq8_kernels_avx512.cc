// AVX-512 SQ8 kernels (see sq8_kernels.h), selected at runtime by ActiveKernels(). This TU alone
// is compiled with -mavx512f -mavx512bw -mavx512vnni (src/CMakeLists.txt), so it includes
// nothing whose inline functions a portable TU could share. 32 codes at a time: each side
// sign-extended to 16 bits, then vpdpwssd adds the pairs' products into 16 int32 lanes; the tail
// (n mod 32) one by one. Integer sums: the same value as the portable kernel, in any order.
#include "models/sq8_kernels.h"

#if defined(__AVX512BW__) && defined(__AVX512VNNI__)
#include <immintrin.h>

namespace marquee::sq8 {
namespace {

int32_t Dot(const int8_t* a, const int8_t* b, size_t n) {
  __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
  size_t j = 0;
  for (; j + 64 <= n; j += 64) {
    const __m512i a0 =
        _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + j)));
    const __m512i b0 =
        _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + j)));
    const __m512i a1 =
        _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + j + 32)));
    const __m512i b1 =
        _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + j + 32)));
    acc0 = _mm512_dpwssd_epi32(acc0, a0, b0);
    acc1 = _mm512_dpwssd_epi32(acc1, a1, b1);
  }
  for (; j + 32 <= n; j += 32) {
    const __m512i a0 =
        _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + j)));
    const __m512i b0 =
        _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + j)));
    acc0 = _mm512_dpwssd_epi32(acc0, a0, b0);
  }
  // Not _mm512_reduce_add_epi32: GCC 12's version trips -Werror=uninitialized.
  alignas(64) int32_t lanes[16];
  _mm512_store_si512(lanes, _mm512_add_epi32(acc0, acc1));
  int32_t s = 0;
  for (int32_t lane : lanes) s += lane;
  for (; j < n; ++j) s += int32_t{a[j]} * int32_t{b[j]};
  return s;
}

float Distance(const void* a, const void* b, const void* n) {
  return -static_cast<float>(Dot(static_cast<const int8_t*>(a), static_cast<const int8_t*>(b),
                                 *static_cast<const size_t*>(n)));
}

constexpr Kernels kAvx512{"avx512vnni", Dot, Distance};

}  // namespace

const Kernels& Avx512KernelTable() { return kAvx512; }

}  // namespace marquee::sq8
#endif

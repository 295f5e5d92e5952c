// The transposing reduction shared by the AVX-512 dot-product kernels (the serving scores in
// models/ials/factor_math.h, the training kernels in models/ials/cg_kernels_avx512.cc). Only
// shuffles and adds, and `static` (internal linkage): a translation unit compiled with
// -mavx512f for runtime dispatch gets its own copy, never one shared with a portable TU.
#pragma once

#if defined(__AVX512F__)
#include <immintrin.h>

namespace marquee {

// Sixteen DotFixedOrder results at once: acc[t] holds item t's 16 partial sums (lane l = the
// sum of a[k + l] * b[k + l] over the blocks, in block order). The fixed tree lanes[l] +=
// lanes[l + w] (w = 8, 4, 2, 1) is applied to all sixteen with shuffles that pair exactly the
// same lanes, so every result equals DotFixedOrder bit for bit.
//
// The 128-bit-lane shuffle and the final permutation use their full-mask forms with a zero
// pass-through: the plain intrinsics pass _mm512_undefined_ps, which GCC 12 reports as used
// uninitialized once they are inlined deep enough (-Wuninitialized, GCC bug 105593); a mask of
// all ones compiles to the same instruction.
template <int kImm>
static inline __m512 ShuffleF32x4(__m512 a, __m512 b) {
  return _mm512_mask_shuffle_f32x4(_mm512_setzero_ps(), 0xFFFF, a, b, kImm);
}
static inline __m512 ReduceSixteen(const __m512 (&acc)[16]) {
  __m512 b[8], c[4], d[2];
  for (int i = 0; i < 8; ++i) {  // w = 8: item pairs (2i, 2i+1), 8 lanes each
    b[i] = _mm512_add_ps(ShuffleF32x4<0x44>(acc[2 * i], acc[2 * i + 1]),
                         ShuffleF32x4<0xEE>(acc[2 * i], acc[2 * i + 1]));
  }
  for (int i = 0; i < 4; ++i) {  // w = 4: items 4i..4i+3, 4 lanes each (one per quarter)
    c[i] = _mm512_add_ps(ShuffleF32x4<0x88>(b[2 * i], b[2 * i + 1]),
                         ShuffleF32x4<0xDD>(b[2 * i], b[2 * i + 1]));
  }
  for (int i = 0; i < 2; ++i) {  // w = 2: quarter q holds items (8i + q, 8i + 4 + q), 2 lanes
    d[i] = _mm512_add_ps(_mm512_shuffle_ps(c[2 * i], c[2 * i + 1], 0x44),
                         _mm512_shuffle_ps(c[2 * i], c[2 * i + 1], 0xEE));
  }
  // w = 1: lane 4q + j holds item q + 4j.
  const __m512 e =
      _mm512_add_ps(_mm512_shuffle_ps(d[0], d[1], 0x88), _mm512_shuffle_ps(d[0], d[1], 0xDD));
  const __m512i to_item_order =
      _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_mask_permutexvar_ps(_mm512_setzero_ps(), 0xFFFF, to_item_order, e);
}

}  // namespace marquee
#endif

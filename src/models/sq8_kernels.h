// The distance kernel of the scalar-quantized (SQ8) HNSW graph (models/ann_index.h): the dot
// product of two vectors of int8 codes, summed in int32, so every implementation gives the same
// integer (tests/models/ann_index_test.cc checks the AVX-512 one against the portable one). A
// portable TU and an AVX-512 TU (AVX-512BW sign extension + VNNI's vpdpwssd) chosen at runtime,
// like models/ials/cg_kernels.h.
#pragma once

#include <cstddef>
#include <cstdint>

namespace marquee::sq8 {

struct Kernels {
  const char* name;  // "avx512vnni" or "portable"
  // Σ a[j]·b[j] over n codes. Exact: |sum| <= n·127² fits int32 for n < 133,000.
  int32_t (*dot)(const int8_t* a, const int8_t* b, size_t n);
  // hnswlib's distance signature (SpaceInterface::get_dist_func): −dot(a, b, *(size_t*)n) as a
  // float (exact below 2^24, that is n < 1,040 codes at full scale).
  float (*distance)(const void* a, const void* b, const void* n);
};

// The portable kernels (the definition the AVX-512 ones must equal).
const Kernels& PortableKernels();
// The AVX-512 kernels, or nullptr where the build or the CPU lacks AVX-512BW and AVX-512 VNNI.
const Kernels* Avx512Kernels();
// What the graph uses: AVX-512 where the CPU has it, unless the environment sets
// MARQUEE_SIMD=portable (read once).
const Kernels& ActiveKernels();

}  // namespace marquee::sq8

#include "models/sq8_kernels.h"

#include "models/simd_choice.h"

namespace marquee::sq8 {

const Kernels& Avx512KernelTable();  // sq8_kernels_avx512.cc, only with MARQUEE_SQ8_AVX512

namespace {

int32_t Dot(const int8_t* a, const int8_t* b, size_t n) {
  int32_t s = 0;
  for (size_t j = 0; j < n; ++j) s += int32_t{a[j]} * int32_t{b[j]};
  return s;
}

float Distance(const void* a, const void* b, const void* n) {
  return -static_cast<float>(Dot(static_cast<const int8_t*>(a), static_cast<const int8_t*>(b),
                                 *static_cast<const size_t*>(n)));
}

constexpr Kernels kPortable{"portable", Dot, Distance};

}  // namespace

const Kernels& PortableKernels() { return kPortable; }

const Kernels* Avx512Kernels() {
#if defined(MARQUEE_SQ8_AVX512)
  static const bool cpu_has =
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
  if (cpu_has) return &Avx512KernelTable();
#endif
  return nullptr;
}

const Kernels& ActiveKernels() { return ActiveOf(kPortable, Avx512Kernels); }

}  // namespace marquee::sq8

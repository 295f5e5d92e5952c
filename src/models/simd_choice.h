// Which of a kernel family's implementations runs (models/ials/cg_kernels.h,
// models/ials/ridge_kernels.h, models/sq8_kernels.h): the fast one where the build and the CPU
// have it, unless the environment sets MARQUEE_SIMD=portable (for benchmarks and checks). Callers
// keep the answer in a static (ActiveOf), so the environment is read once.
#pragma once

#include <cstdlib>
#include <cstring>

namespace marquee {

template <typename Kernels>
const Kernels* ChooseKernels(const Kernels* portable, const Kernels* fast) {
  const char* env = std::getenv("MARQUEE_SIMD");
  if (env != nullptr && std::strcmp(env, "portable") == 0) return portable;
  return fast != nullptr ? fast : portable;
}

// A family's ActiveKernels(): ChooseKernels of its portable table and of fast(), decided once
// (one static per Kernels type, that is per family).
template <typename Kernels>
const Kernels& ActiveOf(const Kernels& portable, const Kernels* (*fast)()) {
  static const Kernels* active = ChooseKernels(&portable, fast());
  return *active;
}

// Whether the CPU has AVX-512F (asked once), for the families whose fast TU needs nothing more.
inline bool CpuHasAvx512f() {
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
}

}  // namespace marquee

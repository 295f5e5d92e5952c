// Which of a kernel family's implementations runs (models/ials/cg_kernels.h,
// models/sq8_kernels.h): the fast one where the build and the CPU have it, unless the environment
// sets MARQUEE_SIMD=portable (for benchmarks and checks). Callers keep the answer in a static, so
// the environment is read once.
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

}  // namespace marquee

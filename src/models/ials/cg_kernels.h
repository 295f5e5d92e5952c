// The per-row arithmetic of iALS's conjugate-gradient solver (Takács, Pilászy & Tikk 2011), as
// kernels with a portable and an AVX-512 implementation chosen at runtime. Both compute the same
// float32 operations in the same order (no fused multiply-add: these TUs are compiled with
// -ffp-contract=off), so a trained model is bit for bit the same on either path, for any thread
// count (tests/models/cg_kernels_test.cc checks the two paths against each other).
//
// For one row (a user, or an item) with history rows h_1..h_n of the fixed side, confidences
// c_i, the Gram term a0g = α0·G (k x k, symmetric) and the ridge λ, CG applies
//
//   A·v = a0g·v + λ·v + Σ_i c_i ⟨h_i, v⟩ h_i
//
// without forming A. The history term is the expensive part (4·n·k flops per application): the
// kernel walks the history in tiles of 16 rows, takes their 16 dot products at once (summed in
// the fixed order of DotFixedOrder, see models/ials/factor_math.h) and adds the 16 scaled rows
// while they are still in L1, so each history row is read once per CG step.
#pragma once

#include <cstddef>
#include <cstdint>

namespace marquee::cg {

struct Kernels {
  const char* name;  // "avx512" or "portable"
  // acc = a0g·v + lam·v (overwrites acc): acc starts at 0 and the rows g of a0g are added in
  // order, four at a time as acc += (v_g·a0g_g + v_g+1·a0g_g+1) + (v_g+2·a0g_g+2 + v_g+3·a0g_g+3)
  // (the last k mod 4 one by one), then acc += lam·v.
  void (*gram)(const float* a0g, const float* v, float lam, int k, float* acc);
  // acc += Σ_i s_i·rows[i] with q_i = DotFixed(rows[i], v, k) and s_i = residual ?
  // conf[i]·(1 − q_i) : conf[i]·q_i, the rows added in order, four at a time as acc +=
  // (s_i·h_i + s_i+1·h_i+1) + (s_i+2·h_i+2 + s_i+3·h_i+3) (the last n mod 4 one by one). The
  // pairing halves the chain of dependent adds on acc twice, which bounded the kernel's speed.
  void (*rows)(const float* const* rows, const float* conf, size_t n, int k, const float* v,
               bool residual, float* acc);
};

// The portable kernels (the definition the AVX-512 ones must equal bit for bit).
const Kernels& PortableKernels();
// The AVX-512 kernels, or nullptr where the build or the CPU lacks AVX-512F.
const Kernels* Avx512Kernels();
// What training uses: AVX-512 where the CPU has it, unless the environment sets
// MARQUEE_SIMD=portable (read once; for benchmarks and checks).
const Kernels& ActiveKernels();

// Floats of scratch SolveRow needs for k factors.
constexpr size_t SolveRowScratch(int k) { return 3 * static_cast<size_t>(k); }

// `steps` CG steps on A·w = b, b = Σ_i c_i h_i, warm-started from w (k floats, updated in place):
// r = b − A·w, then the textbook recurrence with float32 vectors and double scalars. Stops early
// when ‖r‖² ≤ 1e-20 or pᵀAp ≤ 0. `scratch` holds SolveRowScratch(k) floats.
void SolveRow(const Kernels& kern, const float* const* rows, const float* conf, size_t n, int k,
              const float* a0g, float lam, int steps, float* w, float* scratch);

// ⟨a, b⟩ over k floats in DotFixedOrder's order (16 interleaved partial sums, then a fixed
// tree), without contraction into fused multiply-adds. The partial sums start from the first 16
// products rather than from 0 + product (one add fewer per row; the two differ at most in the
// sign of a zero).
float DotFixed(const float* a, const float* b, int k);

}  // namespace marquee::cg

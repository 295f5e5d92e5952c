// iALS's CG kernels: the AVX-512 path must equal the portable one bit for bit (so a trained model
// does not depend on the CPU it was trained on), and both must compute A·v and the residual of
// their definition (checked against double-precision sums).
#include "models/ials/cg_kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace marquee::cg {
namespace {

struct Problem {
  int k;
  size_t n;
  std::vector<float> fixed, conf, gram, v, acc0;
  std::vector<const float*> rows;
};

// n history rows drawn from a 3n-row fixed side (out of order, with repeats), random
// confidences, a random symmetric Gram term and a non-zero starting accumulator.
Problem Make(int k, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  Problem p{k, n, {}, {}, {}, {}, {}, {}};
  const size_t pool = 3 * n + 1;
  p.fixed.resize(pool * static_cast<size_t>(k));
  // A quarter of the entries are −0: the partial sums must agree on the sign of zeros too.
  for (float& x : p.fixed) x = rng() % 4 == 0 ? -0.0f : nd(rng);
  for (size_t i = 0; i < n; ++i) {
    p.rows.push_back(p.fixed.data() + (rng() % pool) * static_cast<size_t>(k));
    p.conf.push_back(1.0f + std::abs(nd(rng)));
  }
  p.gram.resize(static_cast<size_t>(k) * static_cast<size_t>(k));
  for (int a = 0; a < k; ++a) {
    for (int b = 0; b <= a; ++b) {
      p.gram[static_cast<size_t>(a * k + b)] = p.gram[static_cast<size_t>(b * k + a)] = nd(rng);
    }
  }
  for (int f = 0; f < k; ++f) {
    p.v.push_back(rng() % 4 == 0 ? -0.0f : nd(rng));
    p.acc0.push_back(nd(rng));
  }
  return p;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Widths around the 16-float vector edges and the register-held limit (128), history lengths
// around the 16-row tile.
const int kWidths[] = {1, 7, 16, 33, 64, 100, 128, 130};
const size_t kLengths[] = {0, 1, 15, 16, 17, 47, 200};

TEST(CgKernels, Avx512EqualsPortableBitForBit) {
  const Kernels* fast = Avx512Kernels();
  if (fast == nullptr) GTEST_SKIP() << "no AVX-512 on this CPU or build";
  const Kernels& ref = PortableKernels();
  for (int k : kWidths) {
    for (size_t n : kLengths) {
      const Problem p = Make(k, n, static_cast<uint32_t>(k * 1000 + n));
      std::vector<float> a(p.acc0), b(p.acc0);
      ref.gram(p.gram.data(), p.v.data(), 0.37f, k, a.data());
      fast->gram(p.gram.data(), p.v.data(), 0.37f, k, b.data());
      ASSERT_TRUE(SameBits(a, b)) << "gram k=" << k;
      for (bool residual : {false, true}) {
        a = b = p.acc0;
        ref.rows(p.rows.data(), p.conf.data(), n, k, p.v.data(), residual, a.data());
        fast->rows(p.rows.data(), p.conf.data(), n, k, p.v.data(), residual, b.data());
        ASSERT_TRUE(SameBits(a, b)) << "rows k=" << k << " n=" << n << " residual=" << residual;
      }
      // A whole solve, through the shared recurrence.
      std::vector<float> wa(p.v), wb(p.v), scratch(SolveRowScratch(k));
      SolveRow(ref, p.rows.data(), p.conf.data(), n, k, p.gram.data(), 5.0f, 3, wa.data(),
               scratch.data());
      SolveRow(*fast, p.rows.data(), p.conf.data(), n, k, p.gram.data(), 5.0f, 3, wb.data(),
               scratch.data());
      ASSERT_TRUE(SameBits(wa, wb)) << "solve k=" << k << " n=" << n;
    }
  }
}

TEST(CgKernels, BothPathsComputeTheirDefinition) {
  std::vector<const Kernels*> paths = {&PortableKernels()};
  if (Avx512Kernels() != nullptr) paths.push_back(Avx512Kernels());
  for (const Kernels* kern : paths) {
    for (int k : {16, 64, 130}) {
      const size_t n = 47;
      const Problem p = Make(k, n, 7);
      std::vector<float> g(static_cast<size_t>(k)), r(p.acc0);
      kern->gram(p.gram.data(), p.v.data(), 0.5f, k, g.data());
      kern->rows(p.rows.data(), p.conf.data(), n, k, p.v.data(), true, r.data());
      for (int f = 0; f < k; ++f) {
        double want_g = 0.5 * p.v[f], want_r = p.acc0[f];
        for (int e = 0; e < k; ++e) want_g += double(p.gram[size_t(e * k + f)]) * p.v[e];
        for (size_t i = 0; i < n; ++i) {
          double q = 0.0;
          for (int e = 0; e < k; ++e) q += double(p.rows[i][e]) * p.v[e];
          want_r += p.conf[i] * (1.0 - q) * p.rows[i][f];
        }
        EXPECT_NEAR(g[size_t(f)], want_g, 1e-4 * (1.0 + std::abs(want_g))) << kern->name;
        EXPECT_NEAR(r[size_t(f)], want_r, 1e-3 * (1.0 + std::abs(want_r))) << kern->name;
      }
    }
  }
}

TEST(CgKernels, SolveRowConvergesToTheRidgeSolution) {
  // A well-conditioned system (Gram term = 2·I plus the history): enough CG steps reach the
  // exact solution of A w = Σ c h.
  for (const Kernels* kern : {&PortableKernels(), Avx512Kernels()}) {
    if (kern == nullptr) continue;
    const int k = 24;
    const size_t n = 40;
    Problem p = Make(k, n, 3);
    std::fill(p.gram.begin(), p.gram.end(), 0.0f);
    for (int f = 0; f < k; ++f) p.gram[size_t(f * k + f)] = 2.0f;
    std::vector<float> w(size_t(k), 0.0f), scratch(SolveRowScratch(k));
    SolveRow(*kern, p.rows.data(), p.conf.data(), n, k, p.gram.data(), 0.1f, 60, w.data(),
             scratch.data());
    // Residual of the solution: b − A·w must vanish.
    std::vector<float> res(static_cast<size_t>(k));
    kern->gram(p.gram.data(), w.data(), 0.1f, k, res.data());
    for (float& x : res) x = -x;
    kern->rows(p.rows.data(), p.conf.data(), n, k, w.data(), true, res.data());
    double norm = 0.0, wnorm = 0.0;
    for (int f = 0; f < k; ++f) {
      norm += double(res[size_t(f)]) * res[size_t(f)];
      wnorm += double(w[size_t(f)]) * w[size_t(f)];
    }
    EXPECT_GT(wnorm, 1e-3) << kern->name;
    EXPECT_LT(std::sqrt(norm), 1e-3) << kern->name;
  }
}

}  // namespace
}  // namespace marquee::cg

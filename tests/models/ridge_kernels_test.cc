// The exact ridge solve (models/ials/ridge_kernels.h, RidgeSolve in factor_math.h): the AVX-512
// path must equal the portable one bit for bit (so a model trained with solver = cholesky, and a
// fold-in at serving, do not depend on the CPU), both must solve the system (checked against
// Eigen's LLT), a matrix that is not positive definite must be reported, and an iALS model must be
// the same bytes on either path and for any thread count.
#include "models/ials/ridge_kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "marquee/recommender.h"
#include "model_test_util.h"
#include "models/ials/factor_math.h"
#include "test_util.h"

namespace marquee {
namespace {

// A history of n rows drawn from a fixed side of 3n + 1 rows (out of order, with repeats), with
// confidences (every third one exactly 1) and targets, and the fixed side's Gram matrix.
struct History {
  RowMatrixXf h;
  Eigen::MatrixXd gram;
  std::vector<uint32_t> items;
  std::vector<double> c, t;
};

History MakeHistory(int k, size_t n, uint32_t seed, bool unit_weights = false) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  History p;
  const auto pool = static_cast<Eigen::Index>(3 * n + 1);
  p.h.resize(pool, k);
  // A quarter of the entries are −0: the chains must agree on the sign of zeros too.
  for (Eigen::Index i = 0; i < p.h.size(); ++i) {
    p.h.data()[i] = rng() % 4 == 0 ? -0.0f : 0.3f * nd(rng);
  }
  p.gram = Gramian(p.h, 1);
  for (size_t i = 0; i < n; ++i) {
    p.items.push_back(static_cast<uint32_t>(rng() % static_cast<uint32_t>(pool)));
    p.c.push_back(unit_weights || i % 3 == 0 ? 1.0 : 1.0 + std::abs(nd(rng)));
    p.t.push_back(unit_weights ? 1.0 : 1.0 + 0.25 * nd(rng));
  }
  return p;
}

// RidgeSolve of the history on the given path, as floats.
std::vector<float> Solve(const History& p, const ridge::Kernels& kern, double a0, double reg) {
  RidgeScratch s;
  s.kernels = &kern;
  std::vector<float> w(static_cast<size_t>(p.h.cols()));
  RidgeSolve(
      p.h, p.items,
      [&](size_t n, double& c, double& t) {
        c = p.c[n];
        t = p.t[n];
      },
      p.gram, a0, reg, s, w.data());
  return w;
}

// A, its factor and the double solution of one path, kernel by kernel.
struct Steps {
  std::vector<double> a, l, x;
  bool ok = false;
};

Steps RunKernels(const History& p, const ridge::Kernels& kern, double a0, double reg) {
  const int k = static_cast<int>(p.h.cols());
  const size_t kk = static_cast<size_t>(k);
  std::vector<const float*> rows;
  std::vector<double> ct;
  for (size_t n = 0; n < p.items.size(); ++n) {
    rows.push_back(p.h.row(p.items[n]).data());
    ct.push_back(p.c[n] * p.t[n]);
  }
  Steps s;
  s.a.assign(kk * kk, 0.0);
  s.x.assign(kk, 0.0);
  std::vector<double> work(ridge::AccumulateScratch(k));
  ridge::Init(p.gram.data(), a0, reg, k, s.a.data());
  kern.accumulate(rows.data(), p.c.data(), ct.data(), rows.size(), k, s.a.data(), s.x.data(),
                  work.data());
  s.l = s.a;
  s.ok = kern.factor(s.l.data(), k);
  if (s.ok) kern.solve(s.l.data(), k, s.x.data());
  return s;
}

// The lower triangles (the only meaningful part) of two column-major k x k matrices, bit for bit.
bool SameLowerBits(const std::vector<double>& a, const std::vector<double>& b, int k) {
  const size_t n = static_cast<size_t>(k);
  for (size_t j = 0; j < n; ++j) {
    if (std::memcmp(&a[j * n + j], &b[j * n + j], (n - j) * sizeof(double)) != 0) return false;
  }
  return true;
}

template <typename T>
bool SameBits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// Widths around the 8-double vector, the 4-column block and 32-row tile edges; lengths around
// the history tile (16 rows at k = 128, 32 at k = 64).
const int kWidths[] = {1, 2, 3, 15, 16, 17, 31, 64, 100, 128, 200};
const size_t kLengths[] = {0, 1, 2, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 211, 300};

TEST(RidgeKernels, Avx512EqualsPortableBitForBit) {
  const ridge::Kernels* fast = ridge::Avx512Kernels();
  if (fast == nullptr) GTEST_SKIP() << "no AVX-512 on this CPU or build";
  const ridge::Kernels& ref = ridge::PortableKernels();
  for (int k : kWidths) {
    for (size_t n : kLengths) {
      for (bool unit : {false, true}) {
        const History p = MakeHistory(k, n, static_cast<uint32_t>(k * 1000 + n), unit);
        const double a0 = 0.1, reg = 0.05 * (1.0 + static_cast<double>(n));
        const Steps a = RunKernels(p, ref, a0, reg), b = RunKernels(p, *fast, a0, reg);
        ASSERT_TRUE(a.ok && b.ok) << "k=" << k << " n=" << n;
        ASSERT_TRUE(SameLowerBits(a.a, b.a, k)) << "accumulate k=" << k << " n=" << n;
        ASSERT_TRUE(SameLowerBits(a.l, b.l, k)) << "factor k=" << k << " n=" << n;
        ASSERT_TRUE(SameBits(a.x, b.x)) << "solve k=" << k << " n=" << n;
        ASSERT_TRUE(SameBits(Solve(p, ref, a0, reg), Solve(p, *fast, a0, reg)))
            << "RidgeSolve k=" << k << " n=" << n;
      }
    }
  }
}

TEST(RidgeKernels, SolutionAgreesWithEigenLlt) {
  std::vector<const ridge::Kernels*> paths = {&ridge::PortableKernels()};
  if (ridge::Avx512Kernels() != nullptr) paths.push_back(ridge::Avx512Kernels());
  for (const ridge::Kernels* kern : paths) {
    for (int k : {1, 3, 17, 64, 128, 200}) {
      for (size_t n : {0, 5, 300}) {
        const History p = MakeHistory(k, n, static_cast<uint32_t>(7 * k + n));
        const double a0 = 0.2, reg = 1.0 + static_cast<double>(n) * 0.01;
        // The same system, formed and solved by Eigen in double.
        Eigen::MatrixXd a = a0 * p.gram + reg * Eigen::MatrixXd::Identity(k, k);
        Eigen::VectorXd b = Eigen::VectorXd::Zero(k);
        for (size_t r = 0; r < n; ++r) {
          const Eigen::VectorXd h = p.h.row(p.items[r]).cast<double>().transpose();
          a += p.c[r] * h * h.transpose();
          b += p.c[r] * p.t[r] * h;
        }
        const Eigen::VectorXd want = a.llt().solve(b);
        const Steps got = RunKernels(p, *kern, a0, reg);
        ASSERT_TRUE(got.ok) << kern->name << " k=" << k << " n=" << n;
        const Eigen::VectorXd x = Eigen::Map<const Eigen::VectorXd>(got.x.data(), k);
        if (n == 0) {
          EXPECT_EQ(x.norm(), 0.0) << kern->name;  // b = 0
          continue;
        }
        EXPECT_LE((x - want).norm(), 1e-9 * want.norm()) << kern->name << " k=" << k << " n=" << n;
        EXPECT_GT(want.norm(), 0.0);
      }
    }
  }
}

TEST(RidgeKernels, NonPositiveDefiniteMatrixIsReported) {
  std::vector<const ridge::Kernels*> paths = {&ridge::PortableKernels()};
  if (ridge::Avx512Kernels() != nullptr) paths.push_back(ridge::Avx512Kernels());
  for (const ridge::Kernels* kern : paths) {
    for (int k : {1, 5, 40}) {
      // Symmetric with a negative diagonal entry deep inside: no Cholesky factor exists.
      const size_t n = static_cast<size_t>(k);
      std::vector<double> a(n * n, 0.0);
      for (size_t i = 0; i < n; ++i) a[i * n + i] = 2.0;
      a[(n - 1) * n + (n - 1)] = -1.0;
      if (n > 1) a[0 * n + 1] = a[1 * n + 0] = 0.5;
      EXPECT_FALSE(kern->factor(a.data(), k)) << kern->name << " k=" << k;
      // A NaN pivot is not positive either.
      std::vector<double> nan(n * n, 0.0);
      for (size_t i = 0; i < n; ++i) nan[i * n + i] = 1.0;
      nan[0] = std::nan("");
      EXPECT_FALSE(kern->factor(nan.data(), k)) << kern->name << " k=" << k;
    }
  }
}

TEST(RidgeKernels, RidgeSolveFallsBackOnASingularSystem) {
  // reg = 0 and a0 = 0 with two unit-vector rows in k = 3: A = diag(c0, c1, 0) exactly, so the
  // third pivot is 0 and the LDLT fallback gives the least-norm-like solution (t0, t1, 0).
  History p;
  p.h = RowMatrixXf::Zero(2, 3);
  p.h(0, 0) = 1.0f;
  p.h(1, 1) = 1.0f;
  p.gram = Gramian(p.h, 1);
  p.items = {0, 1};
  p.c = {2.0, 3.0};
  p.t = {0.5, 1.5};
  std::vector<const ridge::Kernels*> paths = {&ridge::PortableKernels()};
  if (ridge::Avx512Kernels() != nullptr) paths.push_back(ridge::Avx512Kernels());
  for (const ridge::Kernels* kern : paths) {
    EXPECT_FALSE(RunKernels(p, *kern, 0.0, 0.0).ok) << kern->name;
    const std::vector<float> w = Solve(p, *kern, 0.0, 0.0);
    EXPECT_FLOAT_EQ(w[0], 0.5f) << kern->name;
    EXPECT_FLOAT_EQ(w[1], 1.5f) << kern->name;
    EXPECT_EQ(w[2], 0.0f) << kern->name;
  }
}

// The kernels are chosen once per process (MARQUEE_SIMD is read once), so the model-level check
// trains in child processes of this test binary: this test is the child's body, a no-op unless
// MARQUEE_RIDGE_TEST_OUT names the file to write (the factors, then fold-in scores).
TEST(RidgeSolveModel, ChildTrainsAndWritesFactors) {
  const char* out = std::getenv("MARQUEE_RIDGE_TEST_OUT");
  if (out == nullptr) GTEST_SKIP() << "the child process of TrainedModelIsTheSameOnEitherPath";
  const char* threads_env = std::getenv("MARQUEE_RIDGE_TEST_THREADS");
  const int threads = threads_env != nullptr ? std::atoi(threads_env) : 1;
  const CsrMatrix x = testing::PlantedClusters(300, 120, 5, 40, 0.75, 3);
  auto m = CreateRecommender("ials", {{"factors", 40},
                                      {"iterations", 3},
                                      {"solver", "cholesky"},
                                      {"alpha", 2.0},
                                      {"unobserved_weight", 0.1}});
  Context ctx;
  ctx.threads = threads;
  m->Fit(x, ctx);
  testing::TempDir dir;
  auto r = testing::SaveArtifact(*m, dir.file("model.mqa"));
  const std::vector<float> w = r->GetVector<float>("user_factors");
  const std::vector<float> h = r->GetVector<float>("item_factors");
  const std::vector<float> s =
      testing::ScoreAll(*m, x.SelectRows(std::vector<uint32_t>{0, 7, 150, 299}), threads);
  std::ofstream f(out, std::ios::binary);
  for (const auto* v : {&w, &h, &s}) {
    f.write(reinterpret_cast<const char*>(v->data()),
            static_cast<std::streamsize>(v->size() * sizeof(float)));
  }
  f << ridge::ActiveKernels().name;  // the path this process took
  ASSERT_TRUE(f.good());
}

std::string ChildOutput(const std::string& simd, int threads, const std::string& path) {
  const std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string cmd = (simd.empty() ? "env -u MARQUEE_SIMD" : "env MARQUEE_SIMD=" + simd) +
                          " MARQUEE_RIDGE_TEST_OUT=" + path +
                          " MARQUEE_RIDGE_TEST_THREADS=" + std::to_string(threads) + " " + exe +
                          " --gtest_filter=RidgeSolveModel.ChildTrainsAndWritesFactors" + " > " +
                          path + ".log 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// The floats of a model rarely show a last-bit difference of the double solves (the kernel
// tests above compare those), but every path and thread count must give the same model, and each
// child must have taken the path it was asked for.
TEST(RidgeSolveModel, TrainedModelIsTheSameOnEitherPathAndThreadCount) {
  testing::TempDir dir;
  const std::string fast = ridge::Avx512Kernels() != nullptr ? "avx512" : "portable";
  const size_t floats = (300 * 40 + 120 * 40 + 4 * 120) * sizeof(float);  // W, H, 4 x 120 scores
  const std::string reference = ChildOutput("", 1, dir.file("default1"));
  ASSERT_EQ(reference.size(), floats + fast.size());
  EXPECT_EQ(reference.substr(floats), fast);
  EXPECT_EQ(ChildOutput("", 2, dir.file("default2")), reference) << "threads 2";
  const std::string portable = ChildOutput("portable", 1, dir.file("portable1"));
  EXPECT_EQ(portable.substr(floats), "portable");
  EXPECT_EQ(portable.substr(0, floats), reference.substr(0, floats)) << "portable";
  EXPECT_EQ(ChildOutput("portable", 2, dir.file("portable2")), portable) << "portable, 2";
  if (ridge::Avx512Kernels() == nullptr) {
    GTEST_SKIP() << "no AVX-512 here: both runs took the portable path";
  }
}

}  // namespace
}  // namespace marquee

// The serving-path scoring kernels must equal their plain definitions bit for bit: scores may not
// depend on the SIMD path, the batch a request came in, or how the catalogue is blocked.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "marquee/env.h"
#include "marquee/recommender.h"
#include "models/artifact.h"
#include "models/ials/factor_math.h"
#include "test_util.h"

namespace marquee {
namespace {

TEST(ScoringKernel, FactorScoresEqualDotFixedOrderBitForBit) {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  // Item counts around the 16-item and 256-item tile edges; dimensions with and without tails.
  for (Eigen::Index d : {1, 7, 16, 33, 64, 128, 130}) {
    for (Eigen::Index items : {5, 16, 255, 257, 600}) {
      RowMatrixXf f(items, d), w(3, d);
      for (Eigen::Index i = 0; i < f.size(); ++i) f.data()[i] = nd(rng);
      for (Eigen::Index i = 0; i < w.size(); ++i) w.data()[i] = nd(rng);
      std::vector<float> out(static_cast<size_t>(3 * items), -1.0f);
      ScoreWithFactors(w, f, out.data(), static_cast<size_t>(items));
      for (Eigen::Index r = 0; r < 3; ++r) {
        for (Eigen::Index i = 0; i < items; ++i) {
          const float want = DotFixedOrder(f.row(i).data(), w.row(r).data(), d);
          const float got = out[static_cast<size_t>(r * items + i)];
          ASSERT_EQ(0, std::memcmp(&want, &got, sizeof(float)))
              << "d=" << d << " items=" << items << " row=" << r << " item=" << i << ": " << got
              << " vs " << want;
        }
      }
    }
  }
}

TEST(ScoringKernel, EaseScoresAreRowSumsOfBInDouble) {
  // Scores must be float(Σ rows of B, summed in double in history order), whatever the blocking:
  // catalogues below one 16-column piece, at and around the 128-column block, with tails of
  // every kind; histories shorter and longer than the kernel's prefetch distance (8 rows), so
  // the prefetches into the next block start at every row.
  std::mt19937 rng(5);
  for (const uint32_t items : {7u, 16u, 17u, 127u, 128u, 150u, 262u, 300u}) {
    SCOPED_TRACE(items);
    const uint32_t users = 400;
    std::vector<uint32_t> r, c;
    for (uint32_t u = 0; u < users; ++u) {
      const uint32_t every = 2 + u % 11;  // rows from dense to sparse
      for (uint32_t i = 0; i < items; ++i) {
        if (rng() % every == 0) {
          r.push_back(u);
          c.push_back(i);
        }
      }
    }
    CsrMatrix x = CsrMatrix::FromTriplets(users, items, r, c, {});
    auto m = CreateRecommender("ease", {{"lambda", 10.0}});
    Context ctx;
    m->Fit(x, ctx);
    testing::TempDir dir;
    ArtifactWriter w("ease", {{"params", m->params()}});
    m->Save(w);
    const std::string path = dir.file("ease.mqm");
    w.Write(path, Env::Default());
    auto reader = ArtifactReader::Open(path, Env::Default());
    std::span<const float> b = reader->Get<float>("B");
    ASSERT_EQ(b.size(), static_cast<size_t>(items) * items);
    CsrMatrix h;
    h.cols = items;
    for (uint32_t u = 0; u < 30; ++u) h.AppendRow(x.row_indices(u), {});
    for (uint32_t len = 0; len < 12; ++len) {  // short histories: 0 to 11 items
      std::vector<uint32_t> few;
      for (uint32_t i = 0; i < len && i < items; ++i) few.push_back((i * 37 + len) % items);
      std::sort(few.begin(), few.end());
      few.erase(std::unique(few.begin(), few.end()), few.end());
      h.AppendRow(few, {});
    }
    std::vector<float> out(static_cast<size_t>(h.rows) * items);
    m->ScoreBatch(h, out, ctx);
    for (uint32_t q = 0; q < h.rows; ++q) {
      for (uint32_t k = 0; k < items; ++k) {
        double acc = 0.0;
        for (uint32_t j : h.row_indices(q)) acc += b[static_cast<size_t>(j) * items + k];
        const float want = static_cast<float>(acc);
        ASSERT_EQ(0, std::memcmp(&want, &out[static_cast<size_t>(q) * items + k], sizeof(float)))
            << "row " << q << " item " << k;
      }
    }
  }
}

}  // namespace
}  // namespace marquee

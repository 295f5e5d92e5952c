// The one top-k (common/top_k.h) that evaluation, serving and the replay simulator share.
#include "common/top_k.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

namespace marquee {
namespace {

// The definition: every item not excluded, sorted by RanksAbove, the first k.
std::vector<uint32_t> Definition(const std::vector<float>& scores,
                                 const std::vector<uint32_t>& excluded, uint32_t k) {
  std::vector<uint32_t> want;
  for (uint32_t i = 0; i < scores.size(); ++i) {
    if (!std::binary_search(excluded.begin(), excluded.end(), i)) want.push_back(i);
  }
  std::sort(want.begin(), want.end(),
            [&](uint32_t a, uint32_t b) { return RanksAbove(scores, a, b); });
  if (want.size() > k) want.resize(k);
  return want;
}

// TopK and TopKUnseeded both equal the definition.
void ExpectDefinition(const std::vector<float>& scores, const std::vector<uint32_t>& excluded,
                      uint32_t k) {
  const std::vector<uint32_t> want = Definition(scores, excluded, k);
  std::vector<uint32_t> got;
  TopK(scores, excluded, k, got);
  ASSERT_EQ(got, want) << "n " << scores.size() << " k " << k;
  TopKUnseeded(scores, excluded, k, got);
  ASSERT_EQ(got, want) << "unseeded, n " << scores.size() << " k " << k;
}

TEST(TopK, OrdersByScoreThenLowerIndex) {
  const std::vector<float> scores = {0.1f, 0.5f, 0.5f, 0.9f, 0.2f, 0.5f};
  std::vector<uint32_t> out;
  TopK(scores, {}, 3, out);
  EXPECT_EQ(out, (std::vector<uint32_t>{3, 1, 2}));
  TopK(scores, {}, 4, out);
  EXPECT_EQ(out, (std::vector<uint32_t>{3, 1, 2, 5}));
  // All equal: plain index order.
  TopK(std::vector<float>(5, 1.0f), {}, 3, out);
  EXPECT_EQ(out, (std::vector<uint32_t>{0, 1, 2}));
  TopK(scores, {}, 0, out);
  EXPECT_TRUE(out.empty());
}

TEST(TopK, SkipsExcludedItems) {
  const std::vector<float> scores = {0.1f, 0.5f, 0.5f, 0.9f, 0.2f, 0.5f};
  std::vector<uint32_t> out;
  TopK(scores, std::vector<uint32_t>{1, 3}, 3, out);
  EXPECT_EQ(out, (std::vector<uint32_t>{2, 5, 4}));
  // K above what is left: everything not excluded, best first.
  TopK(scores, std::vector<uint32_t>{0, 2, 3}, 10, out);
  EXPECT_EQ(out, (std::vector<uint32_t>{1, 5, 4}));
  // Everything excluded.
  TopK(scores, std::vector<uint32_t>{0, 1, 2, 3, 4, 5}, 3, out);
  EXPECT_TRUE(out.empty());
}

TEST(TopK, NanRanksLast) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<uint32_t> out;
  TopK(std::vector<float>{nan, -1.0f, nan, 2.0f}, {}, 4, out);
  EXPECT_EQ(out, (std::vector<uint32_t>{3, 1, 0, 2}));
}

// Against the definition (sort every non-excluded item by RanksAbove, keep k) on catalogues
// long enough for the vectorised scan (16 scores a compare) with ties, NaN, infinities and
// exclusions, including scores that rise through a piece while the heap's worst rises too.
TEST(TopK, EqualsAFullSortOnRandomCatalogues) {
  std::mt19937 rng(18);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  int checked = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    const size_t n = rng() % 400;
    std::vector<float> scores(n);
    const int kind = trial % 4;
    for (size_t i = 0; i < n; ++i) {
      switch (kind) {
        case 0:  // few distinct values: many ties
          scores[i] = static_cast<float>(rng() % 5);
          break;
        case 1:  // rising: every item beats the worst kept one
          scores[i] = static_cast<float>(i) + static_cast<float>(rng() % 3);
          break;
        default: {
          const uint32_t r = rng() % 50;
          scores[i] = r == 0   ? nan
                      : r == 1 ? inf
                      : r == 2 ? -inf
                               : std::uniform_real_distribution<float>(-1, 1)(rng);
        }
      }
    }
    std::vector<uint32_t> excluded;
    for (size_t i = 0; i < n + 5; ++i) {
      if (rng() % 6 == 0) excluded.push_back(static_cast<uint32_t>(i));  // some beyond n
    }
    const uint32_t k = static_cast<uint32_t>(rng() % 40);
    ASSERT_NO_FATAL_FAILURE(ExpectDefinition(scores, excluded, k)) << "trial " << trial;
    ++checked;
  }
  EXPECT_EQ(checked, 3000);
}

// Catalogues long enough for the seeded start (the exact top k of a prefix found from the maxima
// of its 16-score pieces): large k, many exclusions, ties, NaN and infinities, against the
// definition.
TEST(TopK, EqualsAFullSortOnLongCatalogues) {
  std::mt19937 rng(1818);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (int trial = 0; trial < 400; ++trial) {
    const size_t n = 500 + rng() % 5000;
    std::vector<float> scores(n);
    const int kind = trial % 5;
    for (size_t i = 0; i < n; ++i) {
      const uint32_t r = rng() % 100;
      switch (kind) {
        case 0:  // ties everywhere
          scores[i] = static_cast<float>(rng() % 3);
          break;
        case 1:  // mostly -inf and NaN: the seed must step aside
          scores[i] = r < 45 ? -inf : r < 90 ? nan : static_cast<float>(r);
          break;
        case 2:  // falling: the prefix holds the best
          scores[i] = -static_cast<float>(i);
          break;
        default:
          scores[i] = r == 0   ? nan
                      : r == 1 ? inf
                      : r == 2 ? -inf
                               : std::normal_distribution<float>(0, 1)(rng);
      }
    }
    std::vector<uint32_t> excluded;
    const uint32_t every = 2 + rng() % 20;  // from half the catalogue to a twentieth excluded
    for (size_t i = 0; i < n; ++i) {
      if (rng() % every == 0) excluded.push_back(static_cast<uint32_t>(i));
    }
    const uint32_t k = 1 + static_cast<uint32_t>(rng() % 150);
    ASSERT_NO_FATAL_FAILURE(ExpectDefinition(scores, excluded, k)) << "trial " << trial;
  }
}

// The allow-list form ranks the same way, NaN included (serving's and the replay simulator's
// own copies compared raw floats: with a NaN, partial_sort had no strict weak ordering).
TEST(TopKOf, RanksTheCandidatesOnlyInTheSameOrderWithNanLast) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> scores = {0.1f, nan, 0.5f, 0.9f, nan, 0.5f, 2.0f};
  std::vector<uint32_t> out;
  TopKOf(scores, std::vector<uint32_t>{0, 1, 2, 4, 5}, {}, 10, out);
  EXPECT_EQ(out, (std::vector<uint32_t>{2, 5, 0, 1, 4}));
  TopKOf(scores, std::vector<uint32_t>{0, 1, 2, 4, 5}, std::vector<uint32_t>{2}, 2, out);
  EXPECT_EQ(out, (std::vector<uint32_t>{5, 0}));
  // The same items through TopK give the same order.
  std::vector<uint32_t> full;
  TopK(scores, std::vector<uint32_t>{3, 6}, 10, full);
  EXPECT_EQ(full, (std::vector<uint32_t>{2, 5, 0, 1, 4}));
}

}  // namespace
}  // namespace marquee

namespace marquee {
namespace {

// SortUnique sorts only what follows its sorted run and merges: the same as a full sort and
// std::unique, on sorted runs of every length followed by random tails (repeats, values already
// in the run), and on wholly random and empty vectors.
TEST(SortUnique, EqualsAFullSortAndUnique) {
  std::mt19937 rng(11);
  for (int t = 0; t < 5000; ++t) {
    std::vector<uint32_t> v(rng() % 40);
    for (auto& x : v) x = rng() % 60;
    const size_t run = v.empty() ? 0 : rng() % (v.size() + 1);
    std::sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(run));
    std::vector<uint32_t> want = v;
    std::sort(want.begin(), want.end());
    want.erase(std::unique(want.begin(), want.end()), want.end());
    SortUnique(v);
    ASSERT_EQ(v, want) << "test " << t;
  }
}

}  // namespace
}  // namespace marquee

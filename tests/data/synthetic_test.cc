#include "data/synthetic.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <vector>

#include "common/log.h"
#include "data/data_test_util.h"
#include "marquee/context.h"
#include "marquee/error.h"

namespace marquee {
namespace {

using testing::CatchError;
using testing::ToVector;

SyntheticOptions Small() {
  SyntheticOptions o;
  o.users = 1500;
  o.items = 800;
  o.interactions = 60000;
  o.clusters = 8;
  o.seed = 11;
  return o;
}

TEST(Synthetic, DeterministicAcrossThreadCounts) {
  const Dataset a = GenerateSynthetic(Small(), 1);
  for (int threads : {2, 3, 8}) {
    const Dataset b = GenerateSynthetic(Small(), threads);
    EXPECT_EQ(ToVector(a.users()), ToVector(b.users())) << threads;
    EXPECT_EQ(ToVector(a.items()), ToVector(b.items())) << threads;
    EXPECT_EQ(ToVector(a.values()), ToVector(b.values())) << threads;
    EXPECT_EQ(ToVector(a.times()), ToVector(b.times())) << threads;
  }
  SyntheticOptions other = Small();
  other.seed = 12;
  EXPECT_NE(ToVector(a.items()), ToVector(GenerateSynthetic(other, 2).items()));
}

TEST(Synthetic, CountsIdsAndInvariants) {
  const SyntheticOptions o = Small();
  const Dataset ds = GenerateSynthetic(o, 2);
  EXPECT_EQ(ds.num_users(), o.users);
  EXPECT_EQ(ds.num_items(), o.items);
  EXPECT_EQ(ds.num_interactions(), o.interactions);
  EXPECT_TRUE(ds.info().has_values);
  EXPECT_TRUE(ds.info().has_times);
  EXPECT_EQ(ds.user_id(0), "u1");
  EXPECT_EQ(ds.item_id(o.items - 1), "i" + std::to_string(o.items));
  const auto off = ds.user_offsets();
  std::set<std::pair<uint32_t, uint32_t>> pairs;
  uint64_t max_per_user = 0;
  for (uint32_t u = 0; u < ds.num_users(); ++u) {
    EXPECT_GE(off[u + 1] - off[u], 5u) << "user " << u;
    max_per_user = std::max<uint64_t>(max_per_user, off[u + 1] - off[u]);
    for (uint64_t k = off[u]; k < off[u + 1]; ++k) {
      EXPECT_TRUE(pairs.insert({u, ds.items()[k]}).second) << "duplicate pair at row " << k;
      if (k > off[u]) {
        ASSERT_LT(ds.times()[k - 1], ds.times()[k]) << "times must increase within a user";
      }
    }
  }
  // Heavy-tailed activity: the busiest user is far above the mean of 40.
  EXPECT_GT(max_per_user, 200u);
  for (float v : ds.values()) {
    ASSERT_TRUE(v >= 1 && v <= 5 && v == std::round(v)) << v;
  }
  std::set<float> distinct(ds.values().begin(), ds.values().end());
  EXPECT_EQ(distinct.size(), 5u);
}

TEST(Synthetic, PopularityIsHeavyTailed) {
  // Big enough that 1% of the catalogue (50 items) is not capped by the number of users.
  SyntheticOptions o;
  o.users = 20000;
  o.items = 5000;
  o.interactions = 1000000;
  o.clusters = 32;
  const Dataset ds = GenerateSynthetic(o, 2);
  std::vector<uint64_t> count(ds.num_items(), 0);
  for (uint32_t i : ds.items()) ++count[i];
  std::sort(count.begin(), count.end(), std::greater<>());
  auto share = [&](size_t top) {
    return static_cast<double>(std::accumulate(count.begin(), count.begin() + top, uint64_t{0})) /
           static_cast<double>(ds.num_interactions());
  };
  EXPECT_GT(share(count.size() / 100), 0.10);
  EXPECT_GT(share(count.size() / 10), 0.35);
  // And the tail is still used.
  EXPECT_GT(std::count_if(count.begin(), count.end(), [](uint64_t c) { return c > 0; }),
            static_cast<long>(ds.num_items() * 9 / 10));
}

TEST(Synthetic, ImplicitWhenRatingsAreOff) {
  SyntheticOptions o = Small();
  o.ratings = false;
  const Dataset ds = GenerateSynthetic(o, 1);
  EXPECT_FALSE(ds.info().has_values);
  EXPECT_TRUE(std::all_of(ds.values().begin(), ds.values().end(), [](float v) { return v == 1; }));
}

// Leave-last-out hit rate of a co-occurrence (item-item) recommender versus most-popular: the
// cluster structure must give item-item a clear advantage.
TEST(Synthetic, ItemItemBeatsPopularityClearly) {
  SyntheticOptions o = Small();
  const Dataset ds = GenerateSynthetic(o, 2);
  const uint32_t ni = ds.num_items();
  const auto off = ds.user_offsets();
  std::vector<uint32_t> cooc(static_cast<size_t>(ni) * ni, 0);
  std::vector<uint64_t> pop(ni, 0);
  for (uint32_t u = 0; u < ds.num_users(); ++u) {
    const uint64_t b = off[u], e = off[u + 1] - 1;  // the last item is held out
    for (uint64_t k = b; k < e; ++k) {
      ++pop[ds.items()[k]];
      for (uint64_t l = b; l < e; ++l) {
        if (l != k) ++cooc[static_cast<size_t>(ds.items()[k]) * ni + ds.items()[l]];
      }
    }
  }
  constexpr size_t kTop = 10;
  uint64_t hits_item = 0, hits_pop = 0;
  std::vector<double> score(ni);
  std::vector<uint32_t> order(ni);
  for (uint32_t u = 0; u < ds.num_users(); ++u) {
    const uint64_t b = off[u], e = off[u + 1] - 1;
    const uint32_t target = ds.items()[e];
    std::vector<bool> seen(ni, false);
    for (uint64_t k = b; k < e; ++k) seen[ds.items()[k]] = true;
    auto hit = [&](const std::vector<double>& s) {
      std::iota(order.begin(), order.end(), 0u);
      std::partial_sort(order.begin(), order.begin() + kTop, order.end(),
                        [&](uint32_t x, uint32_t y) {
                          const double sx = seen[x] ? -1 : s[x], sy = seen[y] ? -1 : s[y];
                          return sx != sy ? sx > sy : x < y;
                        });
      return std::find(order.begin(), order.begin() + kTop, target) != order.begin() + kTop;
    };
    std::fill(score.begin(), score.end(), 0.0);
    for (uint64_t k = b; k < e; ++k) {
      const uint32_t* row = &cooc[static_cast<size_t>(ds.items()[k]) * ni];
      for (uint32_t j = 0; j < ni; ++j) score[j] += row[j] / std::sqrt(1.0 + pop[j]);
    }
    hits_item += hit(score);
    std::vector<double> p(pop.begin(), pop.end());
    hits_pop += hit(p);
  }
  const double hr_item = static_cast<double>(hits_item) / ds.num_users();
  const double hr_pop = static_cast<double>(hits_pop) / ds.num_users();
  EXPECT_GT(hr_item, 1.3 * hr_pop) << "item-item " << hr_item << " vs popularity " << hr_pop;
  EXPECT_GT(hr_pop, 0.0);
}

TEST(Synthetic, RejectsImpossibleOptions) {
  SyntheticOptions few = Small();
  few.interactions = few.users * 5 - 1;
  EXPECT_EQ(CatchError([&] { GenerateSynthetic(few, 1); }).code(), ErrorCode::kInvalidArgument);
  SyntheticOptions many = Small();
  many.interactions = static_cast<uint64_t>(many.users) * many.items + 1;
  EXPECT_EQ(CatchError([&] { GenerateSynthetic(many, 1); }).code(), ErrorCode::kInvalidArgument);
  SyntheticOptions clusters = Small();
  clusters.clusters = 0;
  EXPECT_EQ(CatchError([&] { GenerateSynthetic(clusters, 1); }).code(),
            ErrorCode::kInvalidArgument);
  SyntheticOptions affinity = Small();
  affinity.cluster_affinity = 1.5;
  EXPECT_EQ(CatchError([&] { GenerateSynthetic(affinity, 1); }).code(),
            ErrorCode::kInvalidArgument);
}

TEST(Synthetic, DenseCornerCaseFillsEveryPair) {
  SyntheticOptions o;
  o.users = 30;
  o.items = 12;
  o.interactions = 30 * 12;  // every (user, item) pair
  o.clusters = 3;
  const Dataset ds = GenerateSynthetic(o, 3);
  EXPECT_EQ(ds.num_interactions(), 360u);
  std::set<std::pair<uint32_t, uint32_t>> pairs;
  for (uint64_t k = 0; k < ds.num_interactions(); ++k) pairs.insert({ds.users()[k], ds.items()[k]});
  EXPECT_EQ(pairs.size(), 360u);
}

TEST(Synthetic, SlowMovieLens20MShape) {
  SyntheticOptions o;
  o.users = 138493;
  o.items = 26744;
  o.interactions = 20000263;
  o.clusters = 32;
  Stopwatch sw;
  const Dataset ds = GenerateSynthetic(o, Context::DefaultThreads());
  const double seconds = sw.Seconds();
  EXPECT_EQ(ds.num_users(), o.users);
  EXPECT_EQ(ds.num_interactions(), o.interactions);
  EXPECT_LT(seconds, 60.0);
  std::vector<uint64_t> count(ds.num_items(), 0);
  for (uint32_t i : ds.items()) ++count[i];
  std::sort(count.begin(), count.end(), std::greater<>());
  const uint64_t top = std::accumulate(count.begin(), count.begin() + 267, uint64_t{0});
  EXPECT_GT(static_cast<double>(top), 0.10 * ds.num_interactions());
}

}  // namespace
}  // namespace marquee

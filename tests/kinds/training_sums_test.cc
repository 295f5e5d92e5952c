// TrainingSums (kinds/recommender/training_sums.h): keeps what it is given, forgets within its
// bound, and copies under concurrent use.
#include "kinds/recommender/training_sums.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace marquee {
namespace {

std::vector<double> Filled(size_t n, double v) { return std::vector<double>(n, v); }

TEST(TrainingSums, KeepsAndCopiesBack) {
  TrainingSums s(3, 640);
  std::vector<double> out(3, -1.0);
  EXPECT_FALSE(s.CopyTo(7, out.data()));
  EXPECT_EQ(out, Filled(3, -1.0));  // untouched when absent
  s.Put(7, Filled(3, 2.5).data());
  ASSERT_TRUE(s.CopyTo(7, out.data()));
  EXPECT_EQ(out, Filled(3, 2.5));
  s.Put(7, Filled(3, 4.0).data());  // replaces
  ASSERT_TRUE(s.CopyTo(7, out.data()));
  EXPECT_EQ(out, Filled(3, 4.0));
  EXPECT_EQ(s.kept(), 1u);
}

TEST(TrainingSums, NeverKeepsMoreThanItsCapacity) {
  TrainingSums s(2, 128);  // 2 per stripe
  for (uint32_t u = 0; u < 10000; ++u) s.Put(u, Filled(2, u).data());
  EXPECT_LE(s.kept(), 128u);
  EXPECT_GE(s.kept(), 64u);  // every stripe got members
  // What it still holds is each member's own accumulator.
  std::vector<double> out(2);
  size_t found = 0;
  for (uint32_t u = 0; u < 10000; ++u) {
    if (!s.CopyTo(u, out.data())) continue;
    ++found;
    EXPECT_EQ(out, Filled(2, u));
  }
  EXPECT_EQ(found, s.kept());
  TrainingSums none(2, 10);  // less than a member per stripe: keeps none
  none.Put(1, Filled(2, 1.0).data());
  EXPECT_EQ(none.kept(), 0u);
}

TEST(TrainingSums, ReadersAndWritersAtOnceSeeWholeAccumulators) {
  TrainingSums s(64, 64 * 4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&s, t] {
      std::vector<double> out(64);
      for (uint32_t i = 0; i < 20000; ++i) {
        const uint32_t u = (i * 7 + static_cast<uint32_t>(t)) % 500;
        if (s.CopyTo(u, out.data())) {
          for (double v : out) ASSERT_EQ(v, out[0]);  // never half of one, half of another
          ASSERT_EQ(out[0], static_cast<double>(u % 13));
        } else {
          s.Put(u, Filled(64, u % 13).data());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(s.kept(), 256u);
}

}  // namespace
}  // namespace marquee

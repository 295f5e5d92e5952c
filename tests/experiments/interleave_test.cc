#include "experiments/interleave.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "marquee/error.h"

namespace marquee {
namespace {

std::vector<std::string> L(std::initializer_list<const char*> items) {
  return std::vector<std::string>(items.begin(), items.end());
}

TEST(TeamDraft, DeterministicNoDuplicatesBalancedTeams) {
  const auto a = L({"1", "2", "3", "4", "5", "6"});
  const auto b = L({"4", "7", "1", "8", "9", "10"});
  for (uint64_t seed = 0; seed < 50; ++seed) {
    const Interleaved x = TeamDraft(a, b, 6, seed);
    const Interleaved y = TeamDraft(a, b, 6, seed);
    EXPECT_EQ(x.items, y.items);
    EXPECT_EQ(x.team, y.team);
    ASSERT_EQ(x.items.size(), 6u);
    ASSERT_EQ(x.team.size(), 6u);
    EXPECT_EQ(std::set<std::string>(x.items.begin(), x.items.end()).size(), 6u);
    int from_b = 0;
    for (uint8_t t : x.team) from_b += t;
    EXPECT_EQ(from_b, 3);  // both teams pick once per round
    // Each team's picks appear in its own ranker's order.
    for (int team = 0; team < 2; ++team) {
      const auto& src = team == 0 ? a : b;
      size_t last = 0;
      for (size_t i = 0; i < x.items.size(); ++i) {
        if (x.team[i] != team) continue;
        const size_t pos = std::find(src.begin(), src.end(), x.items[i]) - src.begin();
        ASSERT_LT(pos, src.size());
        EXPECT_GE(pos, last);
        last = pos;
      }
    }
  }
}

TEST(TeamDraft, CoinFlipsVaryFirstPickAndRespectK) {
  const auto a = L({"a1", "a2", "a3"});
  const auto b = L({"b1", "b2", "b3"});
  std::set<std::string> firsts;
  for (uint64_t seed = 0; seed < 64; ++seed) firsts.insert(TeamDraft(a, b, 1, seed).items[0]);
  EXPECT_EQ(firsts, (std::set<std::string>{"a1", "b1"}));
  EXPECT_EQ(TeamDraft(a, b, 0, 1).items.size(), 0u);
  EXPECT_EQ(TeamDraft(a, b, 100, 1).items.size(), 6u);  // both lists exhausted
}

TEST(TeamDraft, IdenticalListsAndExhaustedRanker) {
  const auto a = L({"x", "y", "z"});
  const Interleaved same = TeamDraft(a, a, 3, 5);
  EXPECT_EQ(same.items, a);  // whoever picks, the next new item is the common order
  const auto shorter = L({"x"});
  const auto longer = L({"p", "q", "r", "s"});
  const Interleaved x = TeamDraft(shorter, longer, 4, 9);
  ASSERT_EQ(x.items.size(), 4u);
  int from_a = 0;
  for (uint8_t t : x.team) from_a += t == 0;
  EXPECT_EQ(from_a, 1);
  const auto dup = L({"x", "x", "y"});
  const Interleaved d = TeamDraft(dup, std::vector<std::string>{}, 5, 1);
  EXPECT_EQ(d.items, L({"x", "y"}));
}

TEST(AssignCredit, MoreClicksWins) {
  Interleaved list;
  list.items = L({"1", "2", "3", "4"});
  list.team = {0, 1, 1, 0};
  const std::vector<size_t> clicks = {1, 2, 0, 2};  // position 2 twice counts once
  const Credit c = AssignCredit(list, clicks);
  EXPECT_EQ(c.clicks_a, 1u);
  EXPECT_EQ(c.clicks_b, 2u);
  EXPECT_EQ(c.winner, Preference::kB);
  EXPECT_EQ(AssignCredit(list, std::vector<size_t>{}).winner, Preference::kTie);
  EXPECT_EQ(AssignCredit(list, std::vector<size_t>{0, 1}).winner, Preference::kTie);
  EXPECT_EQ(AssignCredit(list, std::vector<size_t>{3}).winner, Preference::kA);
  try {
    AssignCredit(list, std::vector<size_t>{4});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_STREQ(TeamName(0), "A");
  EXPECT_STREQ(TeamName(1), "B");
}

}  // namespace
}  // namespace marquee

// IdIndex (common/id_index.h) finds what std::unordered_map finds: random ids (short, long,
// empty, sharing prefixes, repeated: the first index stays), lookups of ids present and absent,
// across the rehashes of a growing table.
#include "common/id_index.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace marquee {
namespace {

std::string RandomId(std::mt19937& rng) {
  std::string s(rng() % 6 == 0 ? rng() % 40 : rng() % 5, 'x');
  for (char& c : s) c = static_cast<char>('0' + rng() % 10);
  return s;
}

TEST(IdIndex, FindsWhatAnUnorderedMapFinds) {
  std::mt19937 rng(3);
  for (int t = 0; t < 50; ++t) {
    std::vector<std::string> ids(rng() % 3000);
    for (auto& id : ids) id = RandomId(rng);
    IdIndex index;
    if (t % 2) index.Reserve(ids.size());
    std::unordered_map<std::string_view, uint32_t> want;
    for (uint32_t i = 0; i < ids.size(); ++i) {
      index.Add(ids[i], i);
      want.emplace(ids[i], i);
    }
    EXPECT_EQ(index.size(), want.size());
    for (int q = 0; q < 3000; ++q) {
      const std::string id = q % 2 && !ids.empty() ? ids[rng() % ids.size()] : RandomId(rng);
      const auto it = want.find(id);
      const std::optional<uint32_t> got = index.Find(id);
      ASSERT_EQ(got.has_value(), it != want.end()) << id;
      if (got) {
        ASSERT_EQ(*got, it->second) << id;
      }
    }
  }
  EXPECT_FALSE(IdIndex().Find("a").has_value());
}

}  // namespace
}  // namespace marquee

// `marquee decisions export --format dsjson` -> `dataset import --format dsjson` gives the same
// decisions (context, actions, chosen, probability, reward, user) as the bandit-jsonl export,
// the format the platform's own import was built for.
#include <gtest/gtest.h>

#include <random>

#include "bandits/bandit_log_test_util.h"
#include "bandits/decision_log.h"
#include "bandits/log.h"

namespace marquee {
namespace {

TEST(DsjsonImport, RoundTripsTheDecisionExport) {
  std::mt19937_64 rng(5);
  std::string dsjson, jsonl;
  for (int i = 0; i < 50; ++i) {
    Decision d;
    d.id = fmt::format("{:032x}", 0x18b0000000000000ull + static_cast<uint64_t>(i));
    d.ts_ms = 1700000000123 + i * 1000;
    d.model = "artwork";
    d.version = 3;
    if (i % 3 != 0) d.user = fmt::format("u{}", i % 7);
    d.context = {{"country", i % 2 ? "US" : "FR"},
                 {"hour", static_cast<double>(rng() % 24)},
                 {"score", std::uniform_real_distribution<double>(-1, 1)(rng)},
                 {"device", "tv"}};
    const int k = 2 + i % 3;
    for (int a = 0; a < k; ++a) {
      nlohmann::json f = {{"tone", a % 2 ? "dark" : "light"}, {"faces", a}};
      d.actions.push_back({{"id", fmt::format("img-{}", a)}, {"features", f}});
      d.probabilities.push_back(1.0 / k);
    }
    d.chosen = static_cast<uint32_t>(i % k);
    d.outcome.kind = i % 5 == 0 ? OutcomeKind::kDefault : OutcomeKind::kJoined;
    d.outcome.reward = i % 4 == 0 ? 1.0 : 0.25 * (i % 3);
    d.outcome.ts_ms = d.ts_ms + 500;
    dsjson += ToDsjson(d).dump() + "\n";
    jsonl += ToBanditJsonl(d).dump() + "\n";
  }
  const BanditLog got = ParseDsjson(dsjson, "export.json");
  const BanditLog want = ParseBanditJsonl(jsonl, "export.jsonl");
  ASSERT_EQ(got.rows.size(), 50u);
  ASSERT_EQ(want.rows.size(), 50u);
  marquee::testing::ExpectSameRows(got, want);
}

}  // namespace
}  // namespace marquee

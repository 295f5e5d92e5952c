// Test helper shared by the bandit-log suites (tests/bandits, tests/bandit_serving): two logs
// hold the same decisions (contexts, offered actions with their features, chosen, propensity,
// reward, position, time, user), row by row.
#pragma once

#include <gtest/gtest.h>

#include "bandits/log.h"

namespace marquee::testing {

inline void ExpectSameRows(const BanditLog& a, const BanditLog& b) {
  ASSERT_EQ(a.rows.size(), b.rows.size());
  for (size_t i = 0; i < a.rows.size(); ++i) {
    EXPECT_EQ(a.Context(i), b.Context(i)) << "row " << i;
    EXPECT_EQ(a.rows[i].chosen, b.rows[i].chosen) << "row " << i;
    EXPECT_EQ(a.rows[i].propensity, b.rows[i].propensity) << "row " << i;
    EXPECT_EQ(a.rows[i].reward, b.rows[i].reward) << "row " << i;
    EXPECT_EQ(a.rows[i].position, b.rows[i].position) << "row " << i;
    EXPECT_EQ(a.rows[i].ts, b.rows[i].ts) << "row " << i;
    EXPECT_EQ(a.rows[i].user, b.rows[i].user) << "row " << i;
    const DecisionInput x = a.Input(i), y = b.Input(i);
    ASSERT_EQ(x.actions.size(), y.actions.size()) << "row " << i;
    for (size_t k = 0; k < x.actions.size(); ++k) {
      EXPECT_EQ(x.actions[k].id, y.actions[k].id) << "row " << i;
      EXPECT_EQ(x.actions[k].features, y.actions[k].features) << "row " << i;
    }
  }
}

}  // namespace marquee::testing

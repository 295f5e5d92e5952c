#include "eval/split.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <set>

#include "marquee/error.h"

namespace marquee {
namespace {

using ::testing::HasSubstr;

RawInteraction Row(std::string u, std::string i, float v = 1.0f, int64_t t = 0) {
  return RawInteraction{std::move(u), std::move(i), v, t};
}

// A random dataset: `users` users with 1..30 rows each over 50 items, ratings 1..5, times.
Dataset RandomDataset(uint32_t users, uint64_t seed, bool with_times = true) {
  std::mt19937_64 rng(seed);
  std::vector<RawInteraction> rows;
  for (uint32_t u = 0; u < users; ++u) {
    const int n = 1 + static_cast<int>(rng() % 30);
    for (int k = 0; k < n; ++k) {
      rows.push_back(Row("u" + std::to_string(u), "i" + std::to_string(rng() % 50),
                         static_cast<float>(1 + rng() % 5), static_cast<int64_t>(rng() % 1000)));
    }
  }
  return Dataset::FromRows(rows, true, with_times, "random");
}

std::vector<uint32_t> Items(const CsrMatrix& m, uint32_t r) {
  const auto s = m.row_indices(r);
  return {s.begin(), s.end()};
}

std::vector<uint32_t> Union(std::vector<uint32_t> a, const std::vector<uint32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  std::sort(a.begin(), a.end());
  return a;
}

bool Disjoint(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  std::vector<uint32_t> both;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(both));
  return both.empty();
}

// Invariants every protocol shares, and the counts in details.
void CheckCommon(const Dataset& ds, const Split& s) {
  ASSERT_EQ(s.train.rows, ds.num_users());
  ASSERT_EQ(s.train.cols, ds.num_items());
  ASSERT_EQ(s.eval.input.rows, s.eval.target.rows);
  ASSERT_EQ(s.eval.users.size(), s.eval.input.rows);
  EXPECT_EQ(s.eval.input.cols, ds.num_items());
  EXPECT_EQ(s.eval.target.cols, ds.num_items());
  for (uint32_t r = 0; r < s.eval.input.rows; ++r) {
    EXPECT_GT(s.eval.target.row_size(r), 0u) << "row " << r;
    EXPECT_TRUE(Disjoint(Items(s.eval.input, r), Items(s.eval.target, r))) << "row " << r;
    for (float v : s.eval.target.row_values(r)) EXPECT_EQ(v, 1.0f);
  }
  EXPECT_EQ(s.details.at("protocol"), s.protocol);
  EXPECT_EQ(s.details.at("train_interactions"), s.train.nnz());
  EXPECT_EQ(s.details.at("eval_users"), s.eval.input.rows);
  EXPECT_EQ(s.details.at("input_interactions"), s.eval.input.nnz());
  EXPECT_EQ(s.details.at("target_interactions"), s.eval.target.nnz());
  uint32_t train_users = 0;
  for (uint32_t u = 0; u < s.train.rows; ++u) train_users += s.train.row_size(u) > 0;
  EXPECT_EQ(s.details.at("train_users"), train_users);
}

bool SameSplit(const Split& a, const Split& b) {
  return a.train.indices == b.train.indices && a.train.indptr == b.train.indptr &&
         a.eval.users == b.eval.users && a.eval.input.indices == b.eval.input.indices &&
         a.eval.input.indptr == b.eval.input.indptr &&
         a.eval.target.indices == b.eval.target.indices &&
         a.eval.target.indptr == b.eval.target.indptr && a.details == b.details;
}

SplitConfig Config(std::string protocol) {
  SplitConfig c;
  c.protocol = std::move(protocol);
  return c;
}

void ExpectError(const std::function<void()>& fn, ErrorCode code, const std::string& substr) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one mentioning '" << substr << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_THAT(e.what(), HasSubstr(substr));
  }
}

void ExpectInvalid(const std::function<void()>& fn, const std::string& substr) {
  ExpectError(fn, ErrorCode::kInvalidArgument, substr);
}

TEST(StrongGeneralization, HeldOutUsersLeaveTrainingAndPartitionTheirPositives) {
  const Dataset ds = RandomDataset(200, 1);
  const std::optional<double> threshold = 3.5;
  const CsrMatrix pos = ds.ToCsr(threshold);
  SplitConfig c = Config("strong-generalization");
  c.test_users = 40;
  c.fold_in = 0.8;
  c.min_items = 3;
  const Split s = MakeSplit(ds, threshold, c);
  CheckCommon(ds, s);
  ASSERT_EQ(s.eval.input.rows, 40u);
  EXPECT_TRUE(std::is_sorted(s.eval.users.begin(), s.eval.users.end()));
  std::set<uint32_t> held(s.eval.users.begin(), s.eval.users.end());
  EXPECT_EQ(held.size(), 40u);
  for (uint32_t r = 0; r < s.eval.input.rows; ++r) {
    const uint32_t u = s.eval.users[r];
    const uint32_t n = pos.row_size(u);
    EXPECT_GE(n, 3u);
    EXPECT_EQ(s.train.row_size(u), 0u) << "held-out user " << u << " has training rows";
    // Input and targets partition the user's positives; the input is round(0.8 n), >= 1.
    EXPECT_EQ(Union(Items(s.eval.input, r), Items(s.eval.target, r)), Items(pos, u));
    const uint32_t want_in = std::clamp<uint32_t>(std::lround(0.8 * n), 1, n - 1);
    EXPECT_EQ(s.eval.input.row_size(r), want_in) << "n = " << n;
  }
  // Every other user keeps all positives for training, with their values.
  for (uint32_t u = 0; u < ds.num_users(); ++u) {
    if (held.count(u)) continue;
    EXPECT_EQ(Items(s.train, u), Items(pos, u));
    const auto tv = s.train.row_values(u), pv = pos.row_values(u);
    EXPECT_TRUE(std::equal(tv.begin(), tv.end(), pv.begin(), pv.end()));
  }
  EXPECT_EQ(s.details.at("test_users"), 40);
  EXPECT_EQ(s.details.at("seed"), c.seed);
  EXPECT_DOUBLE_EQ(s.details.at("fold_in").get<double>(), 0.8);
  EXPECT_DOUBLE_EQ(s.details.at("positive_threshold").get<double>(), 3.5);
}

TEST(StrongGeneralization, DeterministicForASeedAndDifferentAcrossSeeds) {
  const Dataset ds = RandomDataset(300, 2);
  SplitConfig c = Config("strong-generalization");
  c.test_users = 30;
  const Split a = MakeSplit(ds, std::nullopt, c);
  const Split b = MakeSplit(ds, std::nullopt, c);
  EXPECT_TRUE(SameSplit(a, b));
  c.seed = 12345;
  const Split d = MakeSplit(ds, std::nullopt, c);
  EXPECT_NE(a.eval.users, d.eval.users);
  EXPECT_FALSE(SameSplit(a, d));
}

TEST(StrongGeneralization, DefaultTestUsersIsTenPercent) {
  const Dataset ds = RandomDataset(200, 3);
  const Split s = MakeSplit(ds, std::nullopt, Config("strong-generalization"));
  EXPECT_EQ(s.eval.input.rows, 20u);
  EXPECT_EQ(s.details.at("test_users"), 20);
}

TEST(StrongGeneralization, RejectsImpossibleSettings) {
  const Dataset ds = RandomDataset(50, 4);
  SplitConfig c = Config("strong-generalization");
  c.test_users = 51;
  ExpectInvalid([&] { MakeSplit(ds, std::nullopt, c); }, "test_users = 51");
  c.test_users = 5;
  for (double f : {0.0, 1.0, -0.5, 1.5}) {
    c.fold_in = f;
    ExpectInvalid([&] { MakeSplit(ds, std::nullopt, c); }, "fold_in");
  }
  c.fold_in = 0.8;
  c.min_items = 1;
  ExpectInvalid([&] { MakeSplit(ds, std::nullopt, c); }, "min_items");
}

TEST(MakeSplit, UnknownAndGivenProtocolsAreExplained) {
  const Dataset ds = RandomDataset(20, 5);
  ExpectInvalid([&] { MakeSplit(ds, std::nullopt, Config("k-fold")); }, "'k-fold'");
  ExpectInvalid([&] { MakeSplit(ds, std::nullopt, Config("k-fold")); }, "leave-last-out");
  ExpectInvalid([&] { MakeSplit(ds, std::nullopt, Config("given")); }, "MakeGivenSplit");
}

TEST(LeaveLastOut, TargetIsTheLatestPositiveWithTiesByRowOrder) {
  const std::vector<RawInteraction> rows = {
      Row("a", "x", 5, 1), Row("a", "y", 5, 3), Row("a", "z", 5, 2),
      Row("a", "w", 1, 9),  // latest, but not a positive at threshold 3
      Row("b", "p", 4, 5), Row("b", "q", 4, 5), Row("b", "x", 4, 1),  // p, q tie: q is later
      Row("c", "x", 5, 1),                                            // one positive only
      Row("d", "x", 5, 7), Row("d", "y", 5, 2), Row("d", "x", 5, 1),  // x twice
  };
  const Dataset ds = Dataset::FromRows(rows, true, true, "hand");
  const Split s = MakeSplit(ds, 3.0, Config("leave-last-out"));
  CheckCommon(ds, s);
  auto uid = [&](const char* u) { return *ds.find_user(u); };
  auto iid = [&](const char* i) { return *ds.find_item(i); };
  ASSERT_EQ(s.eval.users, (std::vector<uint32_t>{uid("a"), uid("b"), uid("d")}));
  EXPECT_EQ(Items(s.eval.target, 0), std::vector<uint32_t>{iid("y")});
  EXPECT_EQ(Items(s.eval.target, 1), std::vector<uint32_t>{iid("q")});
  EXPECT_EQ(Items(s.eval.target, 2), std::vector<uint32_t>{iid("x")});  // every x row goes
  // The rest are both train and input.
  EXPECT_EQ(Items(s.eval.input, 0), Items(s.train, uid("a")));
  EXPECT_EQ(Items(s.eval.input, 0), (std::vector<uint32_t>{iid("x"), iid("z")}));
  EXPECT_EQ(Items(s.eval.input, 2), std::vector<uint32_t>{iid("y")});
  EXPECT_EQ(Items(s.train, uid("c")), std::vector<uint32_t>{iid("x")});  // not evaluated
  EXPECT_EQ(s.details.at("eval_users"), 3);
}

TEST(LeaveLastOut, InvariantsOnRandomData) {
  const Dataset ds = RandomDataset(150, 6);
  const CsrMatrix pos = ds.ToCsr(std::nullopt);
  SplitConfig c = Config("leave-last-out");
  c.min_items = 5;
  const Split s = MakeSplit(ds, std::nullopt, c);
  CheckCommon(ds, s);
  uint32_t eligible = 0;
  for (uint32_t u = 0; u < ds.num_users(); ++u) eligible += pos.row_size(u) >= 5;
  EXPECT_EQ(s.eval.input.rows, eligible);
  for (uint32_t r = 0; r < s.eval.input.rows; ++r) {
    const uint32_t u = s.eval.users[r];
    EXPECT_EQ(s.eval.target.row_size(r), 1u);
    EXPECT_EQ(Items(s.eval.input, r), Items(s.train, u));
    EXPECT_EQ(Union(Items(s.eval.input, r), Items(s.eval.target, r)), Items(pos, u));
  }
  EXPECT_TRUE(SameSplit(s, MakeSplit(ds, std::nullopt, c)));
}

TEST(RandomHoldout, TargetsLeaveTrainAndTheRestIsTheInput) {
  const Dataset ds = RandomDataset(150, 7);
  const CsrMatrix pos = ds.ToCsr(2.5);
  SplitConfig c = Config("random-holdout");
  c.test_fraction = 0.3;
  c.min_items = 2;
  const Split s = MakeSplit(ds, 2.5, c);
  CheckCommon(ds, s);
  std::set<uint32_t> evaluated(s.eval.users.begin(), s.eval.users.end());
  for (uint32_t r = 0; r < s.eval.input.rows; ++r) {
    const uint32_t u = s.eval.users[r];
    const uint32_t n = pos.row_size(u);
    EXPECT_EQ(Items(s.eval.input, r), Items(s.train, u));
    EXPECT_EQ(Union(Items(s.eval.input, r), Items(s.eval.target, r)), Items(pos, u));
    EXPECT_EQ(s.eval.target.row_size(r), std::clamp<uint32_t>(std::lround(0.3 * n), 1, n - 1));
  }
  for (uint32_t u = 0; u < ds.num_users(); ++u) {
    if (evaluated.count(u)) continue;
    EXPECT_LT(pos.row_size(u), 2u);
    EXPECT_EQ(Items(s.train, u), Items(pos, u));
  }
  EXPECT_TRUE(SameSplit(s, MakeSplit(ds, 2.5, c)));
  c.seed = 1;
  EXPECT_FALSE(SameSplit(s, MakeSplit(ds, 2.5, c)));
  for (double f : {0.0, 1.0}) {
    c.test_fraction = f;
    ExpectInvalid([&] { MakeSplit(ds, 2.5, c); }, "test_fraction");
  }
}

TEST(Temporal, CutsAtTheTimeQuantile) {
  // 11 positives at times 1..11; test_fraction 4/11 keeps 7 in training: the cut is time 7.
  const std::vector<RawInteraction> rows = {
      Row("a", "i1", 1, 1),  Row("a", "i2", 1, 2), Row("a", "i3", 1, 8),   // a: target i3
      Row("b", "i1", 1, 3),  Row("b", "i4", 1, 9), Row("b", "i1", 1, 10),  // b: i4 (i1 repeat)
      Row("c", "i2", 1, 4),  Row("c", "i3", 1, 5), Row("c", "i4", 1, 6),   // c: nothing after
      Row("d", "i5", 1, 7),                                                // d: nothing after
      Row("e", "i5", 1, 11),                                               // e: nothing before
  };
  const Dataset ds = Dataset::FromRows(rows, false, true, "hand");
  SplitConfig c = Config("temporal");
  c.test_fraction = 4.0 / 11.0;  // 7 of 11 rows train
  c.min_items = 1;
  const Split s = MakeSplit(ds, std::nullopt, c);
  CheckCommon(ds, s);
  auto uid = [&](const char* u) { return *ds.find_user(u); };
  auto iid = [&](const char* i) { return *ds.find_item(i); };
  EXPECT_EQ(s.details.at("cut_time"), 7);
  EXPECT_EQ(s.train.nnz(), 7u);
  EXPECT_EQ(s.train.row_size(uid("e")), 0u);
  ASSERT_EQ(s.eval.users, (std::vector<uint32_t>{uid("a"), uid("b")}));
  EXPECT_EQ(Items(s.eval.target, 0), std::vector<uint32_t>{iid("i3")});
  EXPECT_EQ(Items(s.eval.input, 0), (std::vector<uint32_t>{iid("i1"), iid("i2")}));
  EXPECT_EQ(Items(s.eval.target, 1), std::vector<uint32_t>{iid("i4")});
  EXPECT_EQ(Items(s.eval.input, 1), std::vector<uint32_t>{iid("i1")});
  EXPECT_EQ(s.details.at("repeat_items_not_targets"), 1);
}

TEST(Temporal, InvariantsOnRandomDataAndNeedsTimes) {
  const Dataset ds = RandomDataset(100, 8);
  SplitConfig c = Config("temporal");
  const Split s = MakeSplit(ds, std::nullopt, c);
  CheckCommon(ds, s);
  const int64_t cut = s.details.at("cut_time");
  const auto users = ds.users(), items = ds.items();
  const auto times = ds.times();
  uint64_t before = 0;
  for (uint64_t k = 0; k < ds.num_interactions(); ++k) before += times[k] <= cut;
  EXPECT_NEAR(static_cast<double>(before) / static_cast<double>(ds.num_interactions()), 0.8, 0.02);
  for (uint32_t r = 0; r < s.eval.input.rows; ++r) {
    EXPECT_EQ(Items(s.eval.input, r), Items(s.train, s.eval.users[r]));
  }
  // Every training row is from before the cut.
  for (uint64_t k = 0; k < ds.num_interactions(); ++k) {
    const auto row = s.train.row_indices(users[k]);
    const bool in_train = std::binary_search(row.begin(), row.end(), items[k]);
    if (times[k] <= cut) {
      EXPECT_TRUE(in_train) << "row " << k;
    }
  }

  const Dataset untimed = RandomDataset(30, 9, /*with_times=*/false);
  ExpectInvalid([&] { MakeSplit(untimed, std::nullopt, c); }, "times");
}

TEST(GivenSplit, MapsIdsDropsUnknownsAndKeepsFirstAppearanceOrder) {
  const std::vector<RawInteraction> train = {
      Row("u1", "a", 5), Row("u1", "b", 5), Row("u2", "b", 5), Row("u2", "c", 1), Row("u3", "d", 5),
  };
  const Dataset ds = Dataset::FromRows(train, true, false, "hand");
  const std::vector<RawInteraction> input = {
      Row("new", "a"), Row("u2", "a"),    Row("u2", "zz"),
      Row("new", "b"), Row("ghost", "a"),  // no target rows: not evaluated
      Row("u1", "c"),
  };
  const std::vector<RawInteraction> target = {
      Row("u2", "c"),    Row("new", "c"), Row("new", "d"),
      Row("u2", "qq"),   Row("u1", "c"),  // also in u1's input: removed, so u1 is dropped
      Row("only", "zz"),                  // nothing known left: dropped
      Row("new", "c"),                    // duplicate
  };
  const Split s = MakeGivenSplit(ds, 3.0, input, target);
  auto iid = [&](const char* i) { return *ds.find_item(i); };
  EXPECT_EQ(s.protocol, "given");
  EXPECT_EQ(s.train.nnz(), 4u);  // (u2, c) is below the threshold
  ASSERT_EQ(s.eval.users, (std::vector<uint32_t>{*ds.find_user("u2"), UINT32_MAX}));
  EXPECT_EQ(Items(s.eval.input, 0), std::vector<uint32_t>{iid("a")});
  EXPECT_EQ(Items(s.eval.target, 0), std::vector<uint32_t>{iid("c")});
  EXPECT_EQ(Items(s.eval.input, 1), (std::vector<uint32_t>{iid("a"), iid("b")}));
  EXPECT_EQ(Items(s.eval.target, 1), (std::vector<uint32_t>{iid("c"), iid("d")}));
  EXPECT_EQ(s.details.at("dropped_unknown_items"), 3);
  EXPECT_EQ(s.details.at("dropped_unknown_target_items"), 2);
  EXPECT_EQ(s.details.at("dropped_unknown_input_items"), 1);
  EXPECT_EQ(s.details.at("dropped_users"), 2);
  EXPECT_EQ(s.details.at("dropped_targets_in_input"), 1);
  EXPECT_EQ(s.details.at("users_not_in_training"), 1);
  EXPECT_EQ(s.details.at("input_rows_without_target_user"), 1);
  EXPECT_EQ(s.details.at("eval_users"), 2);
  EXPECT_EQ(s.details.at("target_interactions"), 3);

  ExpectInvalid([&] { MakeGivenSplit(ds, 3.0, input, {Row("u1", "zz")}); }, "no users");
}

// Under mpirun each rank keeps only its share of the training matrix (issue #18): for every
// protocol, the eval set and the details are one process's, the ranks' user rows are one
// process's training rows (each row on exactly one rank), and so are their item rows of Xᵀ.
TEST(MakeSplit, ShardsKeepEachRanksShareOfTheSameSplit) {
  const Dataset ds = RandomDataset(300, 11);
  for (const char* protocol :
       {"strong-generalization", "leave-last-out", "random-holdout", "temporal"}) {
    SplitConfig c = Config(protocol);
    c.test_users = 30;
    const Split whole = MakeSplit(ds, 2.5, c);
    const CsrMatrix whole_t = whole.train.Transpose();
    for (int ranks : {2, 3, 4}) {
      uint64_t user_nnz = 0, item_nnz = 0;
      std::vector<int> user_owner(whole.train.rows, -1), item_owner(whole.train.cols, -1);
      for (int rank = 0; rank < ranks; ++rank) {
        const SplitShard req{rank, ranks, ShardPlan{4, true}};
        const Split s = MakeSplit(ds, 2.5, c, &req);
        SCOPED_TRACE(::testing::Message() << protocol << " rank " << rank << " of " << ranks);
        ASSERT_NE(s.shard, nullptr);
        EXPECT_EQ(s.details, whole.details);
        EXPECT_EQ(s.eval.users, whole.eval.users);
        EXPECT_EQ(s.eval.input.indices, whole.eval.input.indices);
        EXPECT_EQ(s.eval.target.indices, whole.eval.target.indices);
        ASSERT_EQ(s.train.rows, whole.train.rows);
        ASSERT_EQ(s.train.cols, whole.train.cols);
        EXPECT_EQ(s.shard->nnz, whole.train.nnz());
        EXPECT_LT(s.train.nnz(), whole.train.nnz());
        EXPECT_LT(s.shard->item_rows.nnz(), whole.train.nnz());
        for (uint32_t u = 0; u < s.train.rows; ++u) {
          const bool mine = u >= s.shard->user_offsets[static_cast<size_t>(rank)] &&
                            u < s.shard->user_offsets[static_cast<size_t>(rank) + 1];
          if (mine) {
            EXPECT_EQ(Items(s.train, u), Items(whole.train, u)) << "user " << u;
            if (user_owner[u] >= 0) ADD_FAILURE() << "user " << u << " on two ranks";
            user_owner[u] = rank;
          } else {
            EXPECT_EQ(s.train.row_size(u), 0u) << "user " << u;
          }
        }
        for (uint32_t i = 0; i < s.shard->item_rows.rows; ++i) {
          const bool mine = i >= s.shard->item_offsets[static_cast<size_t>(rank)] &&
                            i < s.shard->item_offsets[static_cast<size_t>(rank) + 1];
          if (mine) {
            EXPECT_EQ(Items(s.shard->item_rows, i), Items(whole_t, i)) << "item " << i;
            item_owner[i] = rank;
          } else {
            EXPECT_EQ(s.shard->item_rows.row_size(i), 0u) << "item " << i;
          }
          EXPECT_EQ(s.shard->item_counts[i], whole_t.row_size(i));
        }
        user_nnz += s.train.nnz();
        item_nnz += s.shard->item_rows.nnz();
      }
      EXPECT_EQ(user_nnz, whole.train.nnz()) << protocol << " " << ranks;
      EXPECT_EQ(item_nnz, whole.train.nnz()) << protocol << " " << ranks;
      EXPECT_EQ(std::count(user_owner.begin(), user_owner.end(), -1), 0);
      EXPECT_EQ(std::count(item_owner.begin(), item_owner.end(), -1), 0);
    }
  }
}

TEST(ShardTrain, CutsAWholeSplitLikeMakeSplitDoes) {
  const Dataset ds = RandomDataset(200, 5);
  SplitConfig c = Config("random-holdout");
  const SplitShard req{1, 3, ShardPlan{0, false}};
  Split cut = MakeSplit(ds, std::nullopt, c);
  ShardTrain(cut, req);
  const Split direct = MakeSplit(ds, std::nullopt, c, &req);
  EXPECT_EQ(cut.train.indptr, direct.train.indptr);
  EXPECT_EQ(cut.train.indices, direct.train.indices);
  EXPECT_EQ(cut.shard->user_offsets, direct.shard->user_offsets);
  // No item rows in this plan: the transpose's shape, empty.
  EXPECT_EQ(direct.shard->item_rows.rows, ds.num_items());
  EXPECT_EQ(direct.shard->item_rows.nnz(), 0u);
  ExpectError([&] { CarveValidation(cut, 0.2, 0.8, 2, 1); }, ErrorCode::kInternal, "shard");
}

}  // namespace
}  // namespace marquee

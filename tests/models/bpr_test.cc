#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "marquee/error.h"
#include "marquee/recommender.h"
#include "model_test_util.h"
#include "test_util.h"

namespace marquee {
namespace {

using ::testing::HasSubstr;

struct State {
  std::vector<float> w, h, b;
};

State ReadState(const Recommender& m) {
  testing::TempDir dir;
  auto r = testing::SaveArtifact(m, dir.file("bpr.mqa"));
  return {r->GetVector<float>("user_factors"), r->GetVector<float>("item_factors"),
          r->GetVector<float>("item_bias")};
}

std::unique_ptr<Recommender> Train(const nlohmann::json& params, const CsrMatrix& x,
                                   int threads = 1, uint64_t seed = 42) {
  auto m = CreateRecommender("bpr", params);
  Context ctx;
  ctx.threads = threads;
  ctx.seed = seed;
  m->Fit(x, ctx);
  return m;
}

CsrMatrix Data() { return testing::PlantedClusters(300, 120, 6, 15, 0.8, 9); }

// Fraction of (positive, sampled non-positive) pairs that the trained user factors order right.
double TrainingAuc(const CsrMatrix& x, const State& s, size_t k) {
  const size_t items = s.b.size();
  size_t right = 0, total = 0;
  for (uint32_t u = 0; u < x.rows; ++u) {
    auto score = [&](size_t i) {
      double v = s.b[i];
      for (size_t d = 0; d < k; ++d) v += double(s.w[u * k + d]) * s.h[i * k + d];
      return v;
    };
    const auto pos = x.row_indices(u);
    for (uint32_t i : pos) {
      for (size_t j = 0; j < items; j += 7) {
        if (std::binary_search(pos.begin(), pos.end(), static_cast<uint32_t>(j))) continue;
        right += score(i) > score(j);
        ++total;
      }
    }
  }
  return static_cast<double>(right) / static_cast<double>(total);
}

TEST(Bpr, DeterministicForSeedAndThreadCount) {
  const CsrMatrix x = Data();
  const nlohmann::json p = {{"factors", 16}, {"epochs", 5}};
  for (int threads : {1, 2}) {
    const State a = ReadState(*Train(p, x, threads));
    const State b = ReadState(*Train(p, x, threads));
    EXPECT_EQ(a.w, b.w) << "threads " << threads;
    EXPECT_EQ(a.h, b.h) << "threads " << threads;
    EXPECT_EQ(a.b, b.b) << "threads " << threads;
    const State c = ReadState(*Train(p, x, threads, 43));
    EXPECT_NE(a.h, c.h) << "threads " << threads;
  }
}

TEST(Bpr, LearnsToRankTrainingPositivesWithOneAndTwoThreads) {
  const CsrMatrix x = Data();
  for (int threads : {1, 2}) {
    const State before = ReadState(*Train({{"factors", 16}, {"epochs", 0}}, x, threads));
    const State after = ReadState(*Train({{"factors", 16}, {"epochs", 30}}, x, threads));
    EXPECT_NEAR(TrainingAuc(x, before, 16), 0.5, 0.05);
    EXPECT_GT(TrainingAuc(x, after, 16), 0.85) << "threads " << threads;
  }
}

TEST(Bpr, SaveLoadRoundTripScoresBitIdentically) {
  const CsrMatrix x = Data();
  for (bool bias : {true, false}) {
    auto m = Train({{"factors", 8}, {"epochs", 3}, {"use_bias", bias}}, x, 2);
    testing::TempDir dir;
    auto reader = testing::SaveArtifact(*m, dir.file("bpr.mqa"));
    auto loaded = CreateRecommender("bpr", m->params());
    loaded->Load(*reader);
    const CsrMatrix q = x.SelectRows(std::vector<uint32_t>{2, 7, 1, 8, 2, 8, 299});
    EXPECT_EQ(testing::ScoreAll(*loaded, q), testing::ScoreAll(*m, q, 2));
  }
}

TEST(Bpr, FoldInScoresAreDeterministicAndIgnoreUnknownItems) {
  const CsrMatrix x = Data();
  auto m = Train({{"factors", 8}, {"epochs", 3}}, x);
  CsrMatrix h;
  h.cols = 130;
  h.AppendRow(std::vector<uint32_t>{1, 2, 3}, {});
  h.AppendRow(std::vector<uint32_t>{1, 2, 3, 125}, {});
  h.AppendRow({}, {});
  const auto s1 = testing::ScoreAll(*m, h, 1);
  EXPECT_EQ(s1, testing::ScoreAll(*m, h, 2));
  ASSERT_EQ(s1.size(), 360u);
  EXPECT_TRUE(std::equal(s1.begin(), s1.begin() + 120, s1.begin() + 120));
  for (size_t i = 240; i < 360; ++i) EXPECT_EQ(s1[i], 0.0f);
}

TEST(Bpr, RejectsUnknownAndOutOfRangeParameters) {
  try {
    CreateRecommender("bpr", {{"learningrate", 0.1}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("learningrate"));
  }
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, nlohmann::json>>{{"factors", 0},
                                                           {"epochs", -3},
                                                           {"learning_rate", -0.1},
                                                           {"reg", -1.0},
                                                           {"negatives_per_positive", 0},
                                                           {"use_bias", 1},
                                                           {"foldin_reg", -1.0},
                                                           {"init_stddev", "small"}}) {
    try {
      CreateRecommender("bpr", {{key, value}});
      FAIL() << "expected an error for " << key;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_THAT(e.what(), HasSubstr(key));
    }
  }
}

TEST(Bpr, RanksHeldOutClusterItemsFarAbovePopularity) {
  const CsrMatrix all = testing::PlantedClusters(600, 240, 8, 20, 0.8, 5);
  const auto split = testing::StrongGeneralizationSplit(all, 100, 0.5, 77);
  auto pop = CreateRecommender("popularity", {});
  pop->Fit(split.train, Context{});
  const auto mp = testing::Evaluate(*pop, split);
  for (int threads : {1, 2}) {
    auto m = Train({{"factors", 32}}, split.train, threads);
    const auto mb = testing::Evaluate(*m, split);
    EXPECT_GT(mb.recall_at_20, mp.recall_at_20 + 0.25)
        << "threads " << threads << ", popularity " << mp.recall_at_20;
    EXPECT_GT(mb.ndcg_at_100, mp.ndcg_at_100 + 0.15);
  }
}

}  // namespace
}  // namespace marquee

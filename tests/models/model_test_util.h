// Fixtures shared by the model-family tests: planted-cluster synthetic data, a small
// strong-generalisation split (held-out users, fold-in of part of their history), ranking
// metrics, artifact round trips and tensor access.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "marquee/env.h"
#include "marquee/error.h"
#include "marquee/recommender.h"
#include "marquee/sparse.h"
#include "models/artifact.h"
#include "test_util.h"

namespace marquee::testing {

// Fisher-Yates with a modulo draw (fine for tests; the bias is negligible and deterministic).
template <typename T>
void ShuffleVector(std::vector<T>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng() % i]);
}

// A strong-generalisation split: `train` holds the training users only; query row q of
// `foldin` is the observed part of test user q's history and `heldout[q]` the rest.
struct Split {
  CsrMatrix train;
  CsrMatrix foldin;
  std::vector<std::vector<uint32_t>> heldout;
};

// Splits the rows of `all` (binary positives): `test_users` random users with at least
// `min_items` positives are held out; each gets a random `foldin_fraction` of its items (at least
// one, leaving at least one) as the fold-in history.
inline Split StrongGeneralizationSplit(const CsrMatrix& all, uint32_t test_users,
                                       double foldin_fraction, uint64_t seed,
                                       uint32_t min_items = 5) {
  std::mt19937_64 rng(seed);
  std::vector<uint32_t> eligible;
  for (uint32_t u = 0; u < all.rows; ++u) {
    if (all.row_size(u) >= min_items) eligible.push_back(u);
  }
  ShuffleVector(eligible, rng);
  eligible.resize(std::min<size_t>(eligible.size(), test_users));
  std::vector<bool> is_test(all.rows, false);
  for (uint32_t u : eligible) is_test[u] = true;
  std::vector<uint32_t> train_rows;
  for (uint32_t u = 0; u < all.rows; ++u) {
    if (!is_test[u]) train_rows.push_back(u);
  }
  Split s;
  s.train = all.SelectRows(train_rows);
  s.foldin.cols = all.cols;
  for (uint32_t u : eligible) {
    auto idx = all.row_indices(u);
    std::vector<uint32_t> items(idx.begin(), idx.end());
    ShuffleVector(items, rng);
    size_t keep = static_cast<size_t>(std::lround(foldin_fraction * items.size()));
    keep = std::clamp<size_t>(keep, 1, items.size() - 1);
    std::vector<uint32_t> in(items.begin(), items.begin() + static_cast<ptrdiff_t>(keep));
    std::vector<float> ones(in.size(), 1.0f);
    s.foldin.AppendRow(in, ones);
    s.heldout.emplace_back(items.begin() + static_cast<ptrdiff_t>(keep), items.end());
  }
  return s;
}

// Binary positives (rating >= threshold) of a MovieLens u.data file (user \t item \t rating \t
// time, 1-based ids) as a users x items matrix.
inline CsrMatrix LoadMovieLensPositives(const std::string& path, double threshold) {
  std::ifstream in(path);
  std::vector<uint32_t> r, c;
  uint32_t users = 0, items = 0;
  uint32_t u = 0, i = 0;
  double rating = 0;
  int64_t time = 0;
  while (in >> u >> i >> rating >> time) {
    users = std::max(users, u);
    items = std::max(items, i);
    if (rating >= threshold) {
      r.push_back(u - 1);
      c.push_back(i - 1);
    }
  }
  return CsrMatrix::FromTriplets(users, items, r, c, {});
}

// Users in `clusters` groups, each preferring its own disjoint block of items: a user draws
// `per_user` items, each from its cluster's block with probability `in_cluster` and uniformly
// from all items otherwise. A popularity skew inside blocks keeps popularity informative.
inline CsrMatrix PlantedClusters(uint32_t users, uint32_t items, uint32_t clusters,
                                 uint32_t per_user, double in_cluster, uint64_t seed,
                                 std::vector<uint32_t>* cluster_of_user = nullptr) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const uint32_t block = items / clusters;
  std::vector<uint32_t> r, c;
  if (cluster_of_user) cluster_of_user->assign(users, 0);
  for (uint32_t u = 0; u < users; ++u) {
    const uint32_t k = u % clusters;
    if (cluster_of_user) (*cluster_of_user)[u] = k;
    for (uint32_t n = 0; n < per_user; ++n) {
      uint32_t item;
      if (unit(rng) < in_cluster) {
        // Skewed inside the block: item rank ~ block · U².
        item = k * block + static_cast<uint32_t>(block * unit(rng) * unit(rng));
      } else {
        item = static_cast<uint32_t>(rng() % items);
      }
      r.push_back(u);
      c.push_back(item);
    }
  }
  return CsrMatrix::FromTriplets(users, items, r, c, {});
}

struct RankingMetrics {
  double recall_at_20 = 0;
  double ndcg_at_100 = 0;
};

// Scores the fold-in histories, masks them, and averages recall@20 (hits / min(20, |held-out|),
// as in Liang et al. 2018) and NDCG@100 over the query users.
inline RankingMetrics Evaluate(const Recommender& model, const Split& s, int threads = 1) {
  const size_t n = model.num_items();
  std::vector<float> scores(static_cast<size_t>(s.foldin.rows) * n);
  Context ctx;
  ctx.threads = threads;
  model.ScoreBatch(s.foldin, scores, ctx);
  RankingMetrics m;
  std::vector<uint32_t> order(n);
  for (uint32_t q = 0; q < s.foldin.rows; ++q) {
    float* row = scores.data() + static_cast<size_t>(q) * n;
    for (uint32_t i : s.foldin.row_indices(q)) row[i] = -std::numeric_limits<float>::infinity();
    std::iota(order.begin(), order.end(), 0u);
    std::partial_sort(order.begin(), order.begin() + 100, order.end(), [&](uint32_t a, uint32_t b) {
      return row[a] > row[b] || (row[a] == row[b] && a < b);
    });
    const auto& truth = s.heldout[q];
    auto relevant = [&](uint32_t i) {
      return std::find(truth.begin(), truth.end(), i) != truth.end();
    };
    double hits = 0, dcg = 0, idcg = 0;
    for (size_t r = 0; r < 100; ++r) {
      if (relevant(order[r])) {
        if (r < 20) hits += 1;
        dcg += 1.0 / std::log2(static_cast<double>(r) + 2.0);
      }
    }
    for (size_t r = 0; r < std::min<size_t>(100, truth.size()); ++r) {
      idcg += 1.0 / std::log2(static_cast<double>(r) + 2.0);
    }
    m.recall_at_20 += hits / static_cast<double>(std::min<size_t>(20, truth.size()));
    m.ndcg_at_100 += dcg / idcg;
  }
  m.recall_at_20 /= s.foldin.rows;
  m.ndcg_at_100 /= s.foldin.rows;
  return m;
}

// Writes `model` to `path` and returns the opened artifact (its tensors stay mapped).
inline std::unique_ptr<ArtifactReader> SaveArtifact(const Recommender& model,
                                                    const std::string& path) {
  ArtifactWriter w(std::string(model.family()), nlohmann::json{{"params", model.params()}});
  model.Save(w);
  w.Write(path, Env::Default());
  return ArtifactReader::Open(path, Env::Default());
}

// Scores every row of `histories` (rows x num_items).
inline std::vector<float> ScoreAll(const Recommender& model, const CsrMatrix& histories,
                                   int threads = 1) {
  std::vector<float> out(static_cast<size_t>(histories.rows) * model.num_items());
  Context ctx;
  ctx.threads = threads;
  model.ScoreBatch(histories, out, ctx);
  return out;
}

// `family` with `params` fitted on `x` with `threads` threads.
inline std::unique_ptr<Recommender> FitFamily(const std::string& family,
                                              const nlohmann::json& params, const CsrMatrix& x,
                                              int threads = 1) {
  auto m = CreateRecommender(family, params);
  Context ctx;
  ctx.threads = threads;
  m->Fit(x, ctx);
  return m;
}

// 4 users x 4 items:  u0 {0,1}, u1 {0,1,2}, u2 {1,2}, u3 {0,3} (one value 2.5: models binarise).
inline CsrMatrix TinyMatrix() {
  std::vector<uint32_t> r = {0, 0, 1, 1, 1, 2, 2, 3, 3};
  std::vector<uint32_t> c = {0, 1, 0, 1, 2, 1, 2, 0, 3};
  std::vector<float> v = {1, 1, 1, 1, 1, 1, 1, 1, 2.5f};
  return CsrMatrix::FromTriplets(4, 4, r, c, v);
}

// Histories (one row per list, value 1) over `cols` items.
inline CsrMatrix Histories(const std::vector<std::vector<uint32_t>>& rows, uint32_t cols) {
  CsrMatrix h;
  h.cols = cols;
  for (const auto& row : rows) h.AppendRow(row, std::vector<float>(row.size(), 1.0f));
  return h;
}

// `family` with `params` fitted on planted clusters (300 users, 120 items) with one and with two
// threads scores four users identically, and a save/load round trip scores them bit for bit the
// same (for the families whose fit does not depend on the thread count).
inline void ExpectThreadIndependentAndIdenticalAfterSaveLoad(const std::string& family,
                                                             const nlohmann::json& params) {
  const CsrMatrix x = PlantedClusters(300, 120, 6, 15, 0.8, 11);
  auto a = FitFamily(family, params, x, 1);
  auto b = FitFamily(family, params, x, 2);
  const CsrMatrix q = x.SelectRows(std::vector<uint32_t>{0, 5, 17, 299});
  const auto sa = ScoreAll(*a, q);
  EXPECT_EQ(sa, ScoreAll(*b, q, 2)) << family << ": scores depend on the thread count";
  TempDir dir;
  auto reader = SaveArtifact(*a, dir.file(family + ".mqa"));
  auto loaded = CreateRecommender(family, a->params());
  loaded->Load(*reader);
  EXPECT_EQ(loaded->num_items(), 120u) << family;
  EXPECT_EQ(ScoreAll(*loaded, q), sa) << family << ": scores changed through save/load";
}

// On planted clusters (600 users, 240 items, 8 clusters; 100 held-out users, half their items
// as history), `family` with `params` beats popularity by at least 0.25 recall@20 and 0.15
// NDCG@100.
inline void ExpectFarAbovePopularityOnPlantedClusters(const std::string& family,
                                                      const nlohmann::json& params) {
  const CsrMatrix all = PlantedClusters(600, 240, 8, 20, 0.8, 5);
  const auto split = StrongGeneralizationSplit(all, 100, 0.5, 77);
  const auto mp = Evaluate(*FitFamily("popularity", {}, split.train), split);
  const auto mf = Evaluate(*FitFamily(family, params, split.train, 2), split);
  EXPECT_GT(mf.recall_at_20, mp.recall_at_20 + 0.25)
      << family << " vs popularity " << mp.recall_at_20;
  EXPECT_GT(mf.ndcg_at_100, mp.ndcg_at_100 + 0.15) << family;
}

// Every (key, value) in `bad` (and the unknown key `typo`) is refused by `family`'s constructor
// with kInvalidArgument naming the key.
inline void ExpectParameterErrors(const std::string& family, const std::string& typo,
                                  const std::vector<std::pair<std::string, nlohmann::json>>& bad) {
  std::vector<std::pair<std::string, nlohmann::json>> all = bad;
  all.emplace_back(typo, 1);
  for (const auto& [key, value] : all) {
    try {
      CreateRecommender(family, {{key, value}});
      ADD_FAILURE() << family << ": expected an error for " << key << " = " << value.dump();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << family << " " << key;
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
}

}  // namespace marquee::testing

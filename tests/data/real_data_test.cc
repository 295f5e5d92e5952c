// Readers, snapshots and stats on the real files in shared/data (skipped when absent). Expected
// numbers come from each dataset's README.md.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "data/catalog.h"
#include "data/data_test_util.h"
#include "data/readers.h"
#include "marquee/env.h"
#include "test_util.h"

namespace marquee {
namespace {

using testing::TempDir;
using testing::ToVector;

TEST(RealData, MovieLens100kUData) {
  MARQUEE_REQUIRE_SHARED(path, "movielens-100k/u.data");
  ReadResult r = ReadInteractions(path, {}, Env::Default());
  EXPECT_EQ(r.format, "tsv");
  EXPECT_EQ(r.lines, 100000u);
  EXPECT_EQ(r.bad_lines, 0u);
  Dataset ds = Dataset::FromRows(r.rows, r.has_values, r.has_times, path);
  EXPECT_EQ(ds.num_users(), 943u);
  EXPECT_EQ(ds.num_items(), 1682u);
  EXPECT_EQ(ds.num_interactions(), 100000u);
  DatasetStats s = ComputeStats(ds);
  EXPECT_EQ(s.value_histogram,
            (std::map<std::string, uint64_t>{
                {"1", 6110}, {"2", 11370}, {"3", 27145}, {"4", 34174}, {"5", 21201}}));
  EXPECT_EQ(s.time_min, 874724710);
  EXPECT_EQ(s.time_max, 893286638);
  // No duplicate (user, item) pairs, so the CSR keeps every row.
  EXPECT_EQ(ds.ToCsr(std::nullopt).nnz(), 100000u);

  TempDir dir;
  const std::string snap = dir.file("ml100k.mqds");
  const std::string sha = ds.Save(snap, Env::Default());
  Dataset back = Dataset::Open(snap, Env::Default());
  EXPECT_EQ(ToVector(back.items()), ToVector(ds.items()));
  EXPECT_EQ(ToVector(back.times()), ToVector(ds.times()));
  EXPECT_EQ(back.Save(dir.file("again.mqds"), Env::Default()), sha);
}

TEST(RealData, MovieLensLatestSmallRatingsCsv) {
  MARQUEE_REQUIRE_SHARED(path, "movielens-latest-small/ratings.csv");
  ReadResult r = ReadInteractions(path, {}, Env::Default());
  EXPECT_EQ(r.format, "csv");
  EXPECT_EQ(r.lines, 100836u);
  Dataset ds = Dataset::FromRows(r.rows, r.has_values, r.has_times, path);
  EXPECT_EQ(ds.num_users(), 610u);
  EXPECT_EQ(ds.num_items(), 9724u);
  EXPECT_EQ(ds.num_interactions(), 100836u);
  DatasetStats s = ComputeStats(ds);
  EXPECT_EQ(s.value_histogram, (std::map<std::string, uint64_t>{{"0.5", 1370},
                                                                {"1", 2811},
                                                                {"1.5", 1791},
                                                                {"2", 7551},
                                                                {"2.5", 5550},
                                                                {"3", 20047},
                                                                {"3.5", 13136},
                                                                {"4", 26818},
                                                                {"4.5", 8551},
                                                                {"5", 13211}}));
  // Same answer with explicit names from the header.
  ReadOptions named;
  named.format = "movielens-csv";
  named.user_col = "userId";
  named.item_col = "movieId";
  named.value_col = "rating";
  named.time_col = "timestamp";
  EXPECT_EQ(ReadInteractions(path, named, Env::Default()).rows.size(), 100836u);
}

TEST(RealData, MovieLensLatestSmallMoviesCsvQuotedTitles) {
  MARQUEE_REQUIRE_SHARED(path, "movielens-latest-small/movies.csv");
  // movieId,title,genres: titles with commas are quoted; read title as the "item".
  ReadOptions o;
  o.user_col = "movieId";
  o.item_col = "title";
  o.value_col = "none";
  o.time_col = "none";
  ReadResult r = ReadInteractions(path, o, Env::Default());
  ASSERT_EQ(r.rows.size(), 9742u);
  size_t with_comma = 0;
  for (const auto& row : r.rows) with_comma += row.item.find(',') != std::string::npos;
  EXPECT_GT(with_comma, 2000u);
  EXPECT_EQ(r.rows[0].item, "Toy Story (1995)");
}

TEST(RealData, OpenBanditIsoTimesAndNamedColumns) {
  MARQUEE_REQUIRE_SHARED(path, "open-bandit-dataset/random/men/men.csv");
  ReadOptions o;
  o.user_col = "user_feature_0";
  o.item_col = "item_id";
  o.value_col = "click";
  o.time_col = "timestamp";
  ReadResult r = ReadInteractions(path, o, Env::Default());
  ASSERT_EQ(r.rows.size(), 10000u);
  double clicks = 0;
  std::set<std::string> items;
  for (const auto& row : r.rows) {
    clicks += row.value;
    items.insert(row.item);
    ASSERT_GE(row.time, 1574553600);  // 2019-11-24T00:00:00Z
    ASSERT_LT(row.time, 1575158400);  // 2019-12-01T00:00:00Z
  }
  EXPECT_EQ(clicks, 46);
  EXPECT_EQ(items.size(), 34u);
}

TEST(RealData, UciCreditCardExcelStyleFloats) {
  MARQUEE_REQUIRE_SHARED(path, "uci-credit-card-default/UCI_Credit_Card.csv");
  ReadOptions o;
  o.user_col = "ID";
  o.item_col = "X2";
  o.value_col = "X1";  // credit limit; 4,224 rows are written like 1.00E+05
  o.time_col = "none";
  ReadResult r = ReadInteractions(path, o, Env::Default());
  ASSERT_EQ(r.rows.size(), 30000u);
  EXPECT_EQ(r.rows[6].user, "7");
  EXPECT_FLOAT_EQ(r.rows[6].value, 500000.0f);
}

}  // namespace
}  // namespace marquee

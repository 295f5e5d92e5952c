// ReadDataset (files parsed straight into columns) against the record path it replaces, and
// Dataset::ToCsr against CsrMatrix::FromTriplets, for owned and memory-mapped datasets.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "data/data_test_util.h"
#include "data/readers.h"
#include "marquee/dataset.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "marquee/sparse.h"
#include "test_util.h"

namespace marquee {
namespace {

using testing::CatchError;
using testing::TempDir;

// The snapshot bytes' sha256 of both paths must agree (same ids, order, values, times, source).
void ExpectSameAsRecordPath(const std::string& path, const ReadOptions& o, TempDir& dir) {
  ReadResult rr = ReadInteractions(path, o, Env::Default());
  Dataset want = Dataset::FromRows(rr.rows, rr.has_values, rr.has_times, path);
  DatasetReadResult got = ReadDataset(path, o, Env::Default());
  EXPECT_EQ(got.format, rr.format);
  EXPECT_EQ(got.lines, rr.lines);
  EXPECT_EQ(got.bad_lines, rr.bad_lines);
  EXPECT_EQ(got.bad_line_examples, rr.bad_line_examples);
  EXPECT_EQ(got.has_values, rr.has_values);
  EXPECT_EQ(got.has_times, rr.has_times);
  ASSERT_EQ(got.dataset.num_interactions(), want.num_interactions());
  EXPECT_EQ(testing::ToVector(got.dataset.users()), testing::ToVector(want.users()));
  EXPECT_EQ(testing::ToVector(got.dataset.items()), testing::ToVector(want.items()));
  EXPECT_EQ(testing::ToVector(got.dataset.values()), testing::ToVector(want.values()));
  EXPECT_EQ(testing::ToVector(got.dataset.times()), testing::ToVector(want.times()));
  EXPECT_EQ(testing::UserIds(got.dataset), testing::UserIds(want));
  EXPECT_EQ(got.dataset.Save(dir.file("got.mqds"), Env::Default()),
            want.Save(dir.file("want.mqds"), Env::Default()));
}

TEST(ReadDataset, SameDatasetAsTheRecordPath) {
  TempDir dir;
  const std::string tsv = dir.file("u.data");
  // Repeated pairs, equal times (ties broken by item), users and items out of order.
  testing::WriteText(tsv,
                     "u2\ti9\t4\t100\nu1\ti3\t5\t50\nu2\ti1\t3\t100\nu1\ti3\t2\t50\n"
                     "u3\ti9\t1\t7\nu2\ti9\t5\t90\n");
  ExpectSameAsRecordPath(tsv, {}, dir);

  const std::string csv = dir.file("ratings.csv");
  testing::WriteText(csv,
                     "userId,movieId,rating,timestamp\r\n\"a,1\",\"x\"\"y\",4.5,10\r\n"
                     "b,z,1,20\r\n\"a,1\",z,2,5\r\n");
  ExpectSameAsRecordPath(csv, {}, dir);

  const std::string pairs = dir.file("pairs.tsv");
  testing::WriteText(pairs, "p\tq\nr\tq\np\ts\n");
  ExpectSameAsRecordPath(pairs, {}, dir);

  const std::string jsonl = dir.file("events.jsonl");
  testing::WriteText(jsonl,
                     "{\"user\": \"m\\u00e9\", \"item\": \"a\", \"ts\": 3}\n"
                     "{\"user\": \"n\", \"item\": \"b\", \"ts\": 1}\n");
  ExpectSameAsRecordPath(jsonl, {}, dir);

  // Skipped bad lines are counted and reported the same way.
  const std::string bad = dir.file("bad.tsv");
  testing::WriteText(bad, "u\ti\t1\t1\nu\t\t1\t1\nv\ti\tx\t1\nv\tj\t2\t2\n");
  ReadOptions skip;
  skip.skip_bad_lines = true;
  ExpectSameAsRecordPath(bad, skip, dir);
}

TEST(ReadDataset, FailsLikeTheRecordPath) {
  TempDir dir;
  const std::string bad = dir.file("bad.tsv");
  testing::WriteText(bad, "u\ti\t1\t1\nv\ti\tnot-a-number\t1\n");
  Error e = CatchError([&] { ReadDataset(bad, {}, Env::Default()); });
  EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(std::string(e.what()).find(bad + ":2: "), std::string::npos) << e.what();
  Error missing = CatchError([&] { ReadDataset(dir.file("none.tsv"), {}, Env::Default()); });
  EXPECT_EQ(missing.code(), ErrorCode::kNotFound);
}

// A file of several MiB, so that the page release behind the parse (every 2 MiB) runs; the
// result must not change.
TEST(ReadDataset, LargeFileReleasedBehindTheParse) {
  TempDir dir;
  const std::string path = dir.file("big.tsv");
  std::mt19937_64 rng(5);
  std::string text;
  text.reserve(size_t{4} << 20);
  char line[96];
  for (int k = 0; k < 150000; ++k) {
    const int n = std::snprintf(line, sizeof line, "user%lu\titem%lu\t%lu\t%lu\n",
                                static_cast<unsigned long>(rng() % 50000),
                                static_cast<unsigned long>(rng() % 8000),
                                static_cast<unsigned long>(1 + rng() % 5),
                                static_cast<unsigned long>(1000000 + rng() % 100000));
    text.append(line, static_cast<size_t>(n));
  }
  testing::WriteText(path, text);
  ExpectSameAsRecordPath(path, {}, dir);
}

CsrMatrix TripletCsr(const Dataset& ds, std::optional<double> threshold) {
  std::vector<uint32_t> r, c;
  std::vector<float> v;
  for (uint64_t k = 0; k < ds.num_interactions(); ++k) {
    if (threshold && !(static_cast<double>(ds.values()[k]) > *threshold)) continue;
    r.push_back(ds.users()[k]);
    c.push_back(ds.items()[k]);
    v.push_back(ds.values()[k]);
  }
  return CsrMatrix::FromTriplets(ds.num_users(), ds.num_items(), r, c, v);
}

void ExpectSameCsr(const CsrMatrix& a, const CsrMatrix& b) {
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(a.cols, b.cols);
  EXPECT_EQ(a.indptr, b.indptr);
  EXPECT_EQ(a.indices, b.indices);
  EXPECT_EQ(a.values, b.values);
}

// Duplicate pairs keep the largest value; the threshold filters first; owned and mapped
// datasets (whose pages ToCsr releases as it goes) give the same matrix.
TEST(DatasetToCsr, EqualsTheTripletBuild) {
  std::mt19937 rng(11);
  std::vector<uint32_t> users, items;
  std::vector<float> values;
  std::vector<int64_t> times;
  for (int k = 0; k < 1000000; ++k) {
    users.push_back(rng() % 3000);
    items.push_back(rng() % 500);
    values.push_back(static_cast<float>(1 + rng() % 5));
    times.push_back(rng() % 1000);
  }
  std::vector<std::string> uids, iids;
  for (int u = 0; u < 3000; ++u) uids.push_back("u" + std::to_string(u));
  for (int i = 0; i < 500; ++i) iids.push_back("i" + std::to_string(i));
  Dataset owned = Dataset::FromColumns(uids, iids, users, items, values, times, "test");
  TempDir dir;
  const std::string path = dir.file("d.mqds");
  owned.Save(path, Env::Default());
  Dataset mapped = Dataset::Open(path, Env::Default());
  for (std::optional<double> t : {std::optional<double>(), std::optional<double>(3.5)}) {
    const CsrMatrix want = TripletCsr(owned, t);
    ExpectSameCsr(owned.ToCsr(t), want);
    ExpectSameCsr(mapped.ToCsr(t), want);
    ExpectSameCsr(mapped.ToCsr(t), want);  // again, after its pages were released
  }
  EXPECT_EQ(testing::ToVector(mapped.times()), testing::ToVector(owned.times()));
}

}  // namespace
}  // namespace marquee

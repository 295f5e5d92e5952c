// Schema inference, CSV edge cases, snapshots and the tabular catalog.
#include <gtest/gtest.h>

#include <cmath>

#include "marquee/env.h"
#include "marquee/error.h"
#include "tabular/table.h"
#include "test_util.h"

namespace marquee {
namespace {

TabularData Parse(const std::string& text, TabularReadOptions o = {}) {
  if (o.label.empty()) o.label = "y";
  return ParseTabularCsv(text, "t.csv", o);
}

const ColumnSchema& Col(const TabularData& d, const std::string& name) {
  const int i = d.schema.Find(name);
  EXPECT_GE(i, 0) << name;
  return d.schema.columns.at(static_cast<size_t>(i));
}

const std::vector<float>& Values(const TabularData& d, const std::string& name) {
  return d.columns.at(static_cast<size_t>(d.schema.Find(name)));
}

void ExpectError(const std::string& text, const TabularReadOptions& o, ErrorCode code,
                 const std::string& needle) {
  try {
    ParseTabularCsv(text, "t.csv", o);
    FAIL() << "expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(TabularSchema, InfersTrickyColumns) {
  const std::string text =
      "\xEF\xBB\xBF"
      "sci,blank_pad,missing,flag,city,mixed,y\r\n"
      "1.00E+05, 3 ,NA,true,Paris,1,0\r\n"
      "5.00E+05,-4.5,,FALSE,\"Rio, BR\",x,1\r\n"
      "2e3,+7,n/a,yes,Paris,2,0\r\n"
      "12,0,?,No,\"multi\nline\",3,1\r\n";
  TabularData d = Parse(text);
  ASSERT_EQ(d.rows, 4u);
  EXPECT_EQ(Col(d, "sci").type, ColumnType::kNumeric);
  EXPECT_FLOAT_EQ(Values(d, "sci")[0], 100000.0f);
  EXPECT_FLOAT_EQ(Values(d, "sci")[1], 500000.0f);
  EXPECT_FLOAT_EQ(Values(d, "sci")[2], 2000.0f);
  EXPECT_EQ(Col(d, "blank_pad").type, ColumnType::kNumeric);
  EXPECT_FLOAT_EQ(Values(d, "blank_pad")[2], 7.0f);
  // Every value missing: numeric, all NaN.
  EXPECT_EQ(Col(d, "missing").type, ColumnType::kNumeric);
  for (float v : Values(d, "missing")) EXPECT_TRUE(std::isnan(v));
  EXPECT_EQ(Col(d, "flag").type, ColumnType::kBoolean);
  EXPECT_EQ(Values(d, "flag"), (std::vector<float>{1, 0, 1, 0}));
  const ColumnSchema& city = Col(d, "city");
  EXPECT_EQ(city.type, ColumnType::kCategorical);
  EXPECT_EQ(city.categories, (std::vector<std::string>{"Paris", "Rio, BR", "multi\nline"}));
  EXPECT_EQ(Values(d, "city"), (std::vector<float>{0, 1, 0, 2}));
  // One non-number makes the column categorical.
  EXPECT_EQ(Col(d, "mixed").type, ColumnType::kCategorical);
  EXPECT_EQ(Col(d, "y").role, ColumnRole::kLabel);
  EXPECT_EQ(d.FeatureColumns().size(), 6u);
}

TEST(TabularSchema, OverridesAndRoles) {
  const std::string text =
      "id,ts,zip,score,junk,y\n"
      "a,2024-01-02T00:00:00Z,75001,1.5,q,1\n"
      "b,1704067200,10115,2.5,r,0\n";
  TabularReadOptions o;
  o.label = "y";
  o.id_col = "id";
  o.time_col = "ts";
  o.types = {{"zip", "categorical"}, {"junk", "ignore"}};
  TabularData d = Parse(text, o);
  EXPECT_EQ(Col(d, "id").role, ColumnRole::kId);
  EXPECT_EQ(Col(d, "ts").role, ColumnRole::kTime);
  EXPECT_EQ(d.times, (std::vector<int64_t>{1704153600, 1704067200}));
  EXPECT_EQ(Col(d, "zip").type, ColumnType::kCategorical);
  EXPECT_EQ(Col(d, "junk").role, ColumnRole::kIgnored);
  EXPECT_EQ(d.FeatureColumns().size(), 2u);  // zip, score
}

TEST(TabularSchema, NumberParsing) {
  EXPECT_EQ(ParseTabularNumber("1.00E+05"), 100000.0);
  EXPECT_EQ(ParseTabularNumber(" -0.5 "), -0.5);
  EXPECT_EQ(ParseTabularNumber(".5"), 0.5);
  EXPECT_FALSE(ParseTabularNumber("inf"));
  EXPECT_FALSE(ParseTabularNumber("nan"));
  EXPECT_FALSE(ParseTabularNumber("0x10"));
  EXPECT_FALSE(ParseTabularNumber("1,000"));
  EXPECT_FALSE(ParseTabularNumber("1e999"));
  EXPECT_FALSE(ParseTabularNumber(""));
  EXPECT_TRUE(IsMissingToken(" NULL "));
  EXPECT_TRUE(IsMissingToken("None"));
  EXPECT_FALSE(IsMissingToken("0"));
}

TEST(TabularSchema, BadInputsNameTheProblem) {
  TabularReadOptions o;
  o.label = "y";
  ExpectError("", o, ErrorCode::kInvalidArgument, "empty");
  ExpectError("a,y\n", o, ErrorCode::kInvalidArgument, "no data rows");
  ExpectError("a,b\n1,2\n", o, ErrorCode::kInvalidArgument,
              "label column 'y' is not in the header");
  ExpectError("a,y\n1,0\n2\n", o, ErrorCode::kInvalidArgument, "t.csv:3: expected 2 fields, got 1");
  ExpectError("a,a,y\n1,2,0\n", o, ErrorCode::kInvalidArgument, "duplicate column name 'a'");
  ExpectError("a,y\n\"open,0\n", o, ErrorCode::kInvalidArgument, "unterminated quoted field");
  ExpectError("a,y\n1,\n", o, ErrorCode::kInvalidArgument, "t.csv:2: the label 'y' is missing");
  ExpectError("a,,y\n1,2,0\n", o, ErrorCode::kInvalidArgument, "header column 2 has no name");
  TabularReadOptions forced = o;
  forced.types = {{"a", "numeric"}};
  ExpectError("a,y\n1,0\nabc,1\n", forced, ErrorCode::kInvalidArgument,
              "t.csv:3: column 'a': 'abc' is not a number");
  forced.types = {{"a", "decimal"}};
  ExpectError("a,y\n1,0\n", forced, ErrorCode::kInvalidArgument, "unknown column type 'decimal'");
  TabularReadOptions t = o;
  t.time_col = "a";
  ExpectError("a,b,y\nyesterday,1,0\n", t, ErrorCode::kInvalidArgument, "is not a time");
  TabularReadOptions none;
  ExpectError("a,y\n1,0\n", none, ErrorCode::kInvalidArgument, "--label");
  TabularReadOptions only_label = o;
  ExpectError("y\n1\n", only_label, ErrorCode::kInvalidArgument, "no feature columns");
}

TEST(TabularSnapshot, RoundTripAndCatalog) {
  testing::TempDir tmp;
  TabularData d = Parse("a,c,y\n1.5,x,1\n,y,0\n3,,1\n");
  d.source = "t.csv";
  TabularCatalog catalog(tmp.path(), Env::Default());
  TabularEntry e = catalog.Import("small", d);
  EXPECT_EQ(e.rows, 3u);
  EXPECT_EQ(e.id.size(), 64u);
  TabularData back = catalog.Open("small");
  EXPECT_EQ(back.rows, 3u);
  EXPECT_EQ(back.schema.ToJson(), d.schema.ToJson());
  ASSERT_EQ(back.columns.size(), d.columns.size());
  for (size_t c = 0; c < d.columns.size(); ++c) {
    ASSERT_EQ(back.columns[c].size(), d.columns[c].size());
    for (size_t i = 0; i < d.columns[c].size(); ++i) {
      const float a = d.columns[c][i], b = back.columns[c][i];
      EXPECT_TRUE((std::isnan(a) && std::isnan(b)) || a == b);
    }
  }
  auto st = back.Stats();
  EXPECT_EQ(st[0].missing, 1u);
  EXPECT_DOUBLE_EQ(st[0].mean, 2.25);
  EXPECT_EQ(st[1].missing, 1u);
  // Re-importing the same content keeps the id; different content records history.
  EXPECT_EQ(catalog.Import("small", d).id, e.id);
  TabularData d2 = Parse("a,c,y\n2,x,1\n,y,0\n");
  TabularEntry e2 = catalog.Import("small", d2);
  EXPECT_EQ(e2.history, (std::vector<std::string>{e.id}));
  EXPECT_EQ(catalog.List().size(), 1u);
  EXPECT_THROW(catalog.Get("nope"), Error);
  EXPECT_THROW(catalog.Import("bad/name", d), Error);
}

}  // namespace
}  // namespace marquee

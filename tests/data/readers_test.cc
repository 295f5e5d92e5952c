#include "data/readers.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "data/data_test_util.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "test_util.h"

namespace marquee {
namespace {

using testing::CatchError;
using testing::TempDir;

class Readers : public ::testing::Test {
 protected:
  ReadResult Read(const std::string& name, const std::string& text, ReadOptions o = {}) {
    const std::string path = dir_.file(name);
    testing::WriteText(path, text);
    return ReadInteractions(path, o, Env::Default());
  }
  // Reads a file that must fail; checks the code and that the message has "path:line: reason".
  std::string ReadBad(const std::string& name, const std::string& text, int line,
                      const std::string& reason, ReadOptions o = {}) {
    const std::string path = dir_.file(name);
    testing::WriteText(path, text);
    Error e = CatchError([&] { ReadInteractions(path, o, Env::Default()); });
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path + ":" + std::to_string(line) + ": "), std::string::npos)
        << "message '" << msg << "' does not name " << name << ":" << line;
    EXPECT_NE(msg.find(reason), std::string::npos)
        << "message '" << msg << "' does not contain '" << reason << "'";
    return msg;
  }
  TempDir dir_;
};

void ExpectRow(const RawInteraction& r, const std::string& user, const std::string& item,
               float value, int64_t time) {
  EXPECT_EQ(r.user, user);
  EXPECT_EQ(r.item, item);
  EXPECT_FLOAT_EQ(r.value, value);
  EXPECT_EQ(r.time, time);
}

TEST_F(Readers, MovieLensUDataTsv) {
  ReadResult r =
      Read("u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n");
  EXPECT_EQ(r.format, "tsv");
  EXPECT_TRUE(r.has_values);
  EXPECT_TRUE(r.has_times);
  EXPECT_EQ(r.lines, 3u);
  ASSERT_EQ(r.rows.size(), 3u);
  ExpectRow(r.rows[0], "196", "242", 3, 881250949);
  ExpectRow(r.rows[2], "22", "377", 1, 878887116);
}

TEST_F(Readers, MovieLensFormatNameReadsUData) {
  ReadOptions o;
  o.format = "movielens";
  ReadResult r = Read("whatever.txt", "1\t2\t5\t10\n", o);
  EXPECT_EQ(r.format, "movielens");
  ASSERT_EQ(r.rows.size(), 1u);
  ExpectRow(r.rows[0], "1", "2", 5, 10);
}

TEST_F(Readers, RatingsCsvWithCrlfAndHeader) {
  ReadResult r =
      Read("ratings.csv",
           "userId,movieId,rating,timestamp\r\n1,1,4.0,964982703\r\n1,3,4.5,964981247\r\n");
  EXPECT_EQ(r.format, "csv");
  EXPECT_EQ(r.lines, 2u);
  ASSERT_EQ(r.rows.size(), 2u);
  ExpectRow(r.rows[0], "1", "1", 4.0f, 964982703);
  ExpectRow(r.rows[1], "1", "3", 4.5f, 964981247);
  EXPECT_EQ(r.rows[1].item.find('\r'), std::string::npos);
}

TEST_F(Readers, MovieLensCsvFormatAlwaysHasAHeader) {
  ReadOptions o;
  o.format = "movielens-csv";
  ReadResult r = Read("r.txt", "a,b,c,d\r\n7,8,2.5,100\r\n", o);
  EXPECT_EQ(r.format, "movielens-csv");
  ASSERT_EQ(r.rows.size(), 1u);
  ExpectRow(r.rows[0], "7", "8", 2.5f, 100);
}

TEST_F(Readers, RatingsDatDoubleColon) {
  ReadResult r = Read("ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n");
  EXPECT_EQ(r.format, "movielens-dat");
  ASSERT_EQ(r.rows.size(), 2u);
  ExpectRow(r.rows[0], "1", "1193", 5, 978300760);
  ExpectRow(r.rows[1], "1", "661", 3, 978302109);
}

TEST_F(Readers, QuotedCsvWithDelimitersQuotesAndNewlinesInsideQuotes) {
  ReadResult r = Read("q.csv",
                      "user,item,rating\n"
                      "\"smith, j\",\"say \"\"hi\"\"\",4\n"
                      "plain,\"multi\nline\",3\n"
                      "  spaced  , x ,2\n");
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[0].user, "smith, j");
  EXPECT_EQ(r.rows[0].item, "say \"hi\"");
  EXPECT_EQ(r.rows[1].item, "multi\nline");
  EXPECT_EQ(r.rows[2].user, "spaced");
  EXPECT_EQ(r.rows[2].item, "x");
  EXPECT_TRUE(r.has_values);
  EXPECT_FALSE(r.has_times);
  EXPECT_FLOAT_EQ(r.rows[2].value, 2);
}

TEST_F(Readers, LineNumbersCountLinesInsideQuotesAndBlankLines) {
  ReadBad("n.csv", "u,i,v\n\"a\",\"x\ny\",1\n\nb,j,oops\n", 5, "value 'oops' is not a number");
}

TEST_F(Readers, JsonlWithStringAndNumericIds) {
  ReadResult r = Read("events.jsonl",
                      "{\"user\": \"0042\", \"item\": 17, \"rating\": 4.5, \"time\": "
                      "\"2019-11-24 00:00:05.123\"}\n"
                      "\n"
                      "{\"time\": 1574553605, \"item\": \"caf\\u00e9\", \"user\": 7, \"rating\": "
                      "\"3\", \"extra\": {\"nested\": [1, 2, {\"a\": null}]}}\n");
  EXPECT_EQ(r.format, "jsonl");
  EXPECT_TRUE(r.has_values);
  EXPECT_TRUE(r.has_times);
  EXPECT_EQ(r.lines, 2u);
  ASSERT_EQ(r.rows.size(), 2u);
  ExpectRow(r.rows[0], "0042", "17", 4.5f, 1574553605);
  ExpectRow(r.rows[1], "7", "café", 3.0f, 1574553605);
}

TEST_F(Readers, JsonlKeysByNameAndMissingValueKey) {
  ReadOptions o;
  o.user_col = "visitor";
  o.item_col = "sku";
  ReadResult r =
      Read("e.ndjson", "{\"visitor\":\"a\",\"sku\":\"b\"}\n{\"sku\":1,\"visitor\":2}\n", o);
  EXPECT_FALSE(r.has_values);
  EXPECT_FALSE(r.has_times);
  ASSERT_EQ(r.rows.size(), 2u);
  ExpectRow(r.rows[1], "2", "1", 1.0f, 0);
}

TEST_F(Readers, LeadingZeroIdsArePreserved) {
  ReadResult r = Read("z.csv", "0104257,007,5,1\n000,0,4,2\n");
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0].user, "0104257");
  EXPECT_EQ(r.rows[0].item, "007");
  EXPECT_EQ(r.rows[1].user, "000");
}

TEST_F(Readers, Utf8BomIsStripped) {
  ReadResult r = Read("bom.csv", "\xEF\xBB\xBFuserId,movieId,rating\n5,6,1.5\n");
  ASSERT_EQ(r.rows.size(), 1u);
  ExpectRow(r.rows[0], "5", "6", 1.5f, 0);
  ReadOptions o;
  o.user_col = "userId";
  o.item_col = "movieId";
  EXPECT_EQ(Read("bom2.csv", "\xEF\xBB\xBFuserId,movieId\n5,6\n", o).rows.at(0).user, "5");
}

TEST_F(Readers, ColumnMappingByNameAndIndex) {
  const std::string text = "ts,item_id,user_id,score\n100,i1,u1,2.5\n200,i2,u2,4\n";
  ReadOptions by_name;
  by_name.user_col = "user_id";
  by_name.item_col = "item_id";
  by_name.value_col = "score";
  by_name.time_col = "ts";
  ReadResult a = Read("m.csv", text, by_name);
  ASSERT_EQ(a.rows.size(), 2u);
  ExpectRow(a.rows[0], "u1", "i1", 2.5f, 100);

  ReadOptions by_index;
  by_index.user_col = "2";
  by_index.item_col = "1";
  by_index.value_col = "3";
  by_index.time_col = "0";
  ReadResult b = Read("m2.csv", text, by_index);
  ASSERT_EQ(b.rows.size(), 2u);
  ExpectRow(b.rows[1], "u2", "i2", 4.0f, 200);

  ReadOptions ci;  // names match case-insensitively when there is no exact match
  ci.user_col = "USER_ID";
  ci.item_col = "Item_Id";
  ci.value_col = "none";
  ci.time_col = "none";
  ReadResult c = Read("m3.csv", text, ci);
  EXPECT_FALSE(c.has_values);
  EXPECT_FALSE(c.has_times);
  ExpectRow(c.rows.at(0), "u1", "i1", 1.0f, 0);
}

TEST_F(Readers, UnknownColumnNameListsTheHeader) {
  ReadOptions o;
  o.value_col = "stars";
  Error e = CatchError([&] { Read("h.csv", "user,item,rating\n1,2,3\n", o); });
  EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  const std::string msg = e.what();
  EXPECT_NE(msg.find("stars"), std::string::npos) << msg;
  EXPECT_NE(msg.find("user, item, rating"), std::string::npos) << msg;
}

TEST_F(Readers, NameWithoutHeaderAndIndexOutOfRangeAreOptionErrors) {
  ReadOptions name;
  name.header = false;
  name.user_col = "user";
  EXPECT_EQ(CatchError([&] { Read("a.csv", "1,2\n", name); }).code(), ErrorCode::kInvalidArgument);
  ReadOptions index;
  index.value_col = "7";
  Error e = CatchError([&] { Read("b.csv", "1,2,3\n", index); });
  EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(std::string(e.what()).find("out of range"), std::string::npos) << e.what();
  ReadOptions same;
  same.item_col = "0";
  EXPECT_EQ(CatchError([&] { Read("c.csv", "1,2,3\n", same); }).code(),
            ErrorCode::kInvalidArgument);
}

TEST_F(Readers, HeaderDetection) {
  // Numeric value and time in the first row: no header.
  EXPECT_EQ(Read("a.csv", "1,2,3,4\n5,6,7,8\n").rows.size(), 2u);
  // Non-numeric value: header.
  EXPECT_EQ(Read("b.csv", "u,i,rating,t\n5,6,7,8\n").rows.size(), 1u);
  // Only id columns: recognised by their names.
  ReadResult ids = Read("c.csv", "user_id,item_id\n5,6\n");
  ASSERT_EQ(ids.rows.size(), 1u);
  EXPECT_EQ(ids.rows[0].user, "5");
  EXPECT_EQ(Read("d.csv", "alice,book\nbob,pen\n").rows.size(), 2u);
  // Forced either way.
  ReadOptions yes;
  yes.header = true;
  EXPECT_EQ(Read("e.csv", "alice,book\nbob,pen\n", yes).rows.size(), 1u);
  ReadOptions no;
  no.header = false;
  ReadResult forced = Read("f.csv", "user,item\nbob,pen\n", no);
  ASSERT_EQ(forced.rows.size(), 2u);
  EXPECT_EQ(forced.rows[0].user, "user");
}

TEST_F(Readers, ValuesAndTimesInAllAcceptedSpellings) {
  ReadResult r = Read("v.tsv",
                      "a\tx\t4.5\t1700000000\n"
                      "a\ty\t1.00E+05\t1700000000.75\n"
                      "a\tz\t+3\t2019-11-24 00:00:05.123\n"
                      "b\tx\t-2\t2019-11-24T01:00:00+01:00\n"
                      "b\ty\t.5\t2019-11-24T00:00:00Z\n");
  ASSERT_EQ(r.rows.size(), 5u);
  EXPECT_FLOAT_EQ(r.rows[0].value, 4.5f);
  EXPECT_FLOAT_EQ(r.rows[1].value, 100000.0f);
  EXPECT_EQ(r.rows[1].time, 1700000000);
  EXPECT_FLOAT_EQ(r.rows[2].value, 3.0f);
  EXPECT_EQ(r.rows[2].time, 1574553605);
  EXPECT_FLOAT_EQ(r.rows[3].value, -2.0f);
  EXPECT_EQ(r.rows[3].time, 1574553600);
  EXPECT_FLOAT_EQ(r.rows[4].value, 0.5f);
  EXPECT_EQ(r.rows[4].time, 1574553600);
}

TEST_F(Readers, MissingValueAndTimeColumnsAreImplicit) {
  ReadResult two = Read("two.tsv", "a\tx\nb\ty\n");
  EXPECT_FALSE(two.has_values);
  EXPECT_FALSE(two.has_times);
  ExpectRow(two.rows.at(1), "b", "y", 1.0f, 0);
  ReadResult three = Read("three.tsv", "a\tx\t2\n");
  EXPECT_TRUE(three.has_values);
  EXPECT_FALSE(three.has_times);
}

TEST_F(Readers, CustomDelimiterAndSniffing) {
  ReadOptions semi;
  semi.format = "csv";
  semi.delimiter = ';';
  ReadResult a = Read("a.txt", "1;\"2;3\";4\n", semi);
  ASSERT_EQ(a.rows.size(), 1u);
  EXPECT_EQ(a.rows[0].item, "2;3");
  // No extension: decided by the first line.
  EXPECT_EQ(Read("noext1", "1\t2\t3\n").format, "tsv");
  EXPECT_EQ(Read("noext2", "1::2::3::4\n").format, "movielens-dat");
  EXPECT_EQ(Read("noext3", "{\"user\":1,\"item\":2}\n").format, "jsonl");
  EXPECT_EQ(Read("noext4", "1,2,3\n").format, "csv");
  ReadResult semi_auto = Read("s.csv", "u;i;v\n1;2;3\n");
  EXPECT_EQ(semi_auto.rows.at(0).item, "2");
}

TEST_F(Readers, UnknownFormatIsInvalidArgument) {
  ReadOptions o;
  o.format = "parquet";
  Error e = CatchError([&] { Read("x.csv", "1,2\n", o); });
  EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(std::string(e.what()).find("parquet"), std::string::npos);
}

TEST_F(Readers, MissingFileIsNotFound) {
  Error e = CatchError([&] { ReadInteractions(dir_.file("nope.csv"), {}, Env::Default()); });
  EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  EXPECT_NE(std::string(e.what()).find(dir_.file("nope.csv")), std::string::npos) << e.what();
}

TEST_F(Readers, EmptyFileHasNoRows) {
  ReadResult r = Read("empty.csv", "");
  EXPECT_EQ(r.rows.size(), 0u);
  EXPECT_EQ(r.lines, 0u);
}

TEST_F(Readers, BadLinesNameFileLineAndReason) {
  ReadBad("few.tsv", "1\t2\t3\t4\n1\t2\t3\n", 2, "expected at least 4 fields, found 3");
  ReadBad("eu.csv", "1,2,3\n,2,3\n", 2, "empty user id");
  ReadBad("ei.csv", "1,2,3\n1,\"\",3\n", 2, "empty item id");
  ReadBad("val.csv", "1,2,3\n1,2,abc\n", 2, "value 'abc' is not a number");
  ReadBad("time.csv", "1,2,3,4\n1,2,3,yesterday\n", 2, "time 'yesterday' is not");
  ReadBad("date.csv", "1,2,3,4\n1,2,3,2019-02-30 00:00:00\n", 2, "time '2019-02-30 00:00:00'");
  ReadBad("quote.csv", "1,2,3\n1,\"unterminated,3\n", 2, "unterminated quoted field");
  ReadBad("after.csv", "1,2,3\n1,\"x\"y,3\n", 2, "after a closing quote");
  ReadBad("nan.csv", "1,2,3\n1,2,nan\n", 2, "value 'nan' is not finite");
  ReadBad("inf.csv", "1,2,3\n1,2,-inf\n", 2, "value '-inf' is not finite");
  ReadBad("big.csv", "1,2,3\n1,2,1e99\n", 2, "out of range");
  ReadBad("json.jsonl", "{\"user\":1,\"item\":2}\n{\"user\":1,\"item\":2\n", 2, "invalid JSON");
  ReadBad("json2.jsonl", "{\"user\":1,\"item\":2}\n[1,2]\n", 2, "invalid JSON");
  ReadBad("json3.jsonl", "{\"user\":1,\"item\":2}\n{\"user\":1,\"item\":\"bad\\q\"}\n", 2,
          "invalid JSON");
  ReadBad("key.jsonl", "{\"user\":1,\"item\":2}\n{\"user\":1}\n", 2, "missing key 'item'");
  ReadBad("null.jsonl", "{\"user\":1,\"item\":2}\n{\"user\":null,\"item\":2}\n", 2,
          "must be a string or a number");
  ReadBad("jval.jsonl",
          "{\"user\":1,\"item\":2,\"rating\":5}\n{\"user\":1,\"item\":2,"
          "\"rating\":\"x\"}\n",
          2, "value 'x' is not a number");
  ReadOptions need_value;
  need_value.value_col = "score";
  ReadBad("jkey.jsonl", "{\"user\":1,\"item\":2}\n", 1, "missing key 'score'", need_value);
}

TEST_F(Readers, SkipBadLinesCountsAndKeepsTheFirstTenExamples) {
  std::string text = "user,item,rating\n";
  for (int k = 0; k < 15; ++k) text += "u" + std::to_string(k) + ",i,bad\n";
  text += "ok,i,4\n\"open,i,1\nlast,i,2\n";
  ReadOptions o;
  o.skip_bad_lines = true;
  ReadResult r = Read("skip.csv", text, o);
  EXPECT_EQ(r.bad_lines, 16u);
  EXPECT_EQ(r.lines, 18u);
  ASSERT_EQ(r.bad_line_examples.size(), 10u);
  EXPECT_NE(r.bad_line_examples[0].find("skip.csv:2: value 'bad' is not a number"),
            std::string::npos)
      << r.bad_line_examples[0];
  // The unterminated quote costs only its own line.
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0].user, "ok");
  EXPECT_EQ(r.rows[1].user, "last");
}

// Issue #12: ids that are not valid UTF-8, or hold a NUL, are refused at import with file:line
// and the byte, in every format (they used to be stored and then broke every JSON response).
TEST_F(Readers, IdsThatAreNotUtf8OrHoldNulAreRefusedInEveryFormat) {
  // The example from the issue: a Latin-1 e-acute (0xe9) in a user id on line 2 of u.data.
  std::string msg = ReadBad("u.data", "196\t242\t3\t881250949\nJos\xe9\t302\t3\t891717742\n", 2,
                            "user id is not valid UTF-8 (byte 0xe9 at offset 3");
  EXPECT_NE(msg.find("iconv -f latin1"), std::string::npos) << msg;
  ReadBad("ratings.csv", "userId,movieId,rating,timestamp\r\n1,caf\xc3,4,1\r\n", 2,
          "item id is not valid UTF-8 (byte 0xc3 at offset 3");
  ReadBad("q.csv", "user,item\n1,\"a\xff,b\"\n", 2,
          "item id is not valid UTF-8 (byte 0xff at offset 1");
  ReadBad("r.dat", "1::2::3::4\n1::\xc0\xaf::3::4\n", 2,
          "item id is not valid UTF-8 (byte 0xc0 at offset 0");
  ReadBad("a.tsv", std::string("u1\ti1\nu\0x\ti2\n", 13), 2,
          "user id contains a NUL byte (at offset 1)");
  ReadBad("e.jsonl",
          "{\"user\": \"ok\", \"item\": \"i\"}\n{\"user\": \"a\\u0000b\", \"item\": \"i\"}\n", 2,
          "user id contains a NUL byte (at offset 1)");
  ReadBad("f.jsonl", "{\"user\": \"\xed\xa0\x80\", \"item\": \"i\"}\n", 1,
          "user id is not valid UTF-8 (byte 0xed at offset 0");
  // Valid non-ASCII ids (UTF-8, including a \u escape) are kept byte for byte.
  ReadResult ok = Read("g.jsonl", "{\"user\": \"Jos\xc3\xa9\", \"item\": \"\\u00e9t\xc3\xa9\"}\n");
  ASSERT_EQ(ok.rows.size(), 1u);
  EXPECT_EQ(ok.rows[0].user, "Jos\xc3\xa9");
  EXPECT_EQ(ok.rows[0].item, "\xc3\xa9t\xc3\xa9");
  // With skip_bad_lines the line is counted and the others imported.
  ReadOptions skip;
  skip.skip_bad_lines = true;
  ReadResult some = Read("h.tsv", "a\tb\n\xe9\tb\nc\td\n", skip);
  EXPECT_EQ(some.rows.size(), 2u);
  EXPECT_EQ(some.bad_lines, 1u);
}

TEST_F(Readers, MessagesQuotingBadFieldsStayValidUtf8) {
  ReadOptions no_header;
  no_header.header = false;
  const std::string msg = ReadBad("v.tsv", "u\ti\t\xff\x1b[31m\n", 1, "is not a number", no_header);
  EXPECT_EQ(msg.find('\x1b'), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\xff'), std::string::npos) << msg;
}

TEST(StoredTextProblem, NamesTheFirstBadByte) {
  EXPECT_EQ(StoredTextProblem("plain"), "");
  EXPECT_EQ(StoredTextProblem("\xc3\xa9t\xc3\xa9"), "");
  EXPECT_EQ(StoredTextProblem(std::string("a\0b", 3)), "contains a NUL byte (at offset 1)");
  EXPECT_EQ(StoredTextProblem("ab\xc3").rfind("is not valid UTF-8 (byte 0xc3 at offset 2;", 0), 0u);
}

TEST(ParseInteractions, ReadsFromMemoryAsFromAFile) {
  ReadResult r = ParseInteractions("1\t2\t3\t4\n5\t6\t7\t8\n", "mem.tsv", ReadOptions{});
  EXPECT_EQ(r.format, "tsv");
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[1].item, "6");
}

TEST(ParseTime, AcceptsUnixSecondsAndIso8601) {
  EXPECT_EQ(ParseTime("0"), 0);
  EXPECT_EQ(ParseTime("-86400"), -86400);
  EXPECT_EQ(ParseTime("964982703"), 964982703);
  EXPECT_EQ(ParseTime(" 12.9 "), 12);
  EXPECT_EQ(ParseTime("-0.5"), -1);
  EXPECT_EQ(ParseTime("1.5e9"), 1500000000);
  EXPECT_EQ(ParseTime("1970-01-01"), 0);
  EXPECT_EQ(ParseTime("2000-02-29T12:34:56"), 951827696);
  EXPECT_EQ(ParseTime("2019-11-24 00:03:13.442536+00:00"), 1574553793);
  EXPECT_EQ(ParseTime("2019-11-24T00:03:13Z"), 1574553793);
  EXPECT_EQ(ParseTime("2019-11-24T09:03:13+09:00"), 1574553793);
  EXPECT_EQ(ParseTime("2019-11-23T19:03:13-0500"), 1574553793);
  EXPECT_EQ(ParseTime("2019-11-24 00:03"), 1574553780);
  EXPECT_EQ(ParseTime("1969-12-31T23:59:59Z"), -1);
}

TEST(ParseTime, RejectsEverythingElse) {
  for (const char* bad : {"", "abc", "nan", "inf", "1e999", "2019-13-01", "2019-02-29",
                          "2019-11-24 25:00:00", "2019-11-24T00:00:00+0x", "2019-11-24 00",
                          "12:00:00", "1,5", "0x10", "2019-11-24T00:00:00Zjunk"}) {
    EXPECT_FALSE(ParseTime(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace marquee

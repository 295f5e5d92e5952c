#include "common/csv.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "marquee/error.h"

namespace marquee {
namespace {

using Rows = std::vector<std::vector<std::string>>;

// Every record of `text` (a malformed one as {"!error", line, message}).
Rows Scan(std::string_view text, CsvDialect d = {}) {
  CsvScanner scan(text, d);
  Rows out;
  for (CsvRecord r; scan.Next(&r);) {
    if (!r.error.empty()) {
      out.push_back({"!error", std::to_string(r.line), r.error});
    } else {
      out.emplace_back(r.fields.begin(), r.fields.end());
    }
  }
  return out;
}

std::vector<uint64_t> Lines(std::string_view text, CsvDialect d = {}) {
  CsvScanner scan(text, d);
  std::vector<uint64_t> out;
  for (CsvRecord r; scan.Next(&r);) out.push_back(r.line);
  return out;
}

TEST(CsvTest, PlainRecords) {
  EXPECT_EQ(Scan("a,b,c\n1,2,3\n"), (Rows{{"a", "b", "c"}, {"1", "2", "3"}}));
  EXPECT_EQ(Scan("a,b"), (Rows{{"a", "b"}}));  // the last record needs no line break
  EXPECT_EQ(Scan(""), Rows{});
  EXPECT_EQ(Scan("a,,\n,\n"), (Rows{{"a", "", ""}, {"", ""}}));  // empty fields
}

TEST(CsvTest, Rfc4180QuotedFields) {
  EXPECT_EQ(Scan("\"a,b\",c\n"), (Rows{{"a,b", "c"}}));                            // a delimiter
  EXPECT_EQ(Scan("\"he said \"\"hi\"\"\",x\n"), (Rows{{"he said \"hi\"", "x"}}));  // ""
  EXPECT_EQ(Scan("\"multi\nline\",2\n3,4\n"), (Rows{{"multi\nline", "2"}, {"3", "4"}}));
  EXPECT_EQ(Scan("\"crlf\r\ninside\",2\r\n"), (Rows{{"crlf\r\ninside", "2"}}));
  EXPECT_EQ(Scan("\"\",\"\"\"\"\n"), (Rows{{"", "\""}}));
  EXPECT_EQ(Scan("a\"b,c\n"), (Rows{{"a\"b", "c"}}));  // a quote inside an unquoted field
  EXPECT_EQ(Scan("\"end\""), (Rows{{"end"}}));
}

TEST(CsvTest, LineBreaks) {
  EXPECT_EQ(Scan("a,b\r\nc,d\r\n"), (Rows{{"a", "b"}, {"c", "d"}}));
  EXPECT_EQ(Scan("a,b\rc,d\r"), (Rows{{"a", "b"}, {"c", "d"}}));  // lone CR (old Mac files)
  EXPECT_EQ(Scan("\n\r\n\na\n\n"), (Rows{{"a"}}));                // empty lines are skipped
}

TEST(CsvTest, ByteOrderMarkIsSkipped) {
  EXPECT_EQ(Scan("\xEF\xBB\xBFid,y\r\n1,0\r\n"), (Rows{{"id", "y"}, {"1", "0"}}));
}

TEST(CsvTest, TrimsBlanksAroundUnquotedFieldsAndQuotes) {
  EXPECT_EQ(Scan(" a ,\tb\t, \"c \" \n"), (Rows{{"a", "b", "c "}}));
  CsvDialect keep;
  keep.trim = false;
  EXPECT_EQ(Scan(" a ,b \n", keep), (Rows{{" a ", "b "}}));
  EXPECT_EQ(Scan(" \"a\",b\n", keep), (Rows{{" \"a\"", "b"}}));  // not at the field start: text
}

TEST(CsvTest, WhitespaceLines) {
  EXPECT_EQ(Scan("a\n  \t\nb\n"), (Rows{{"a"}, {""}, {"b"}}));  // a record of one blank field
  CsvDialect d;
  d.skip_whitespace_lines = true;
  EXPECT_EQ(Scan("a\n  \t\r\nb\n   ", d), (Rows{{"a"}, {"b"}}));
  EXPECT_EQ(Lines("a\n  \t\r\nb\n   ", d), (std::vector<uint64_t>{1, 3}));
}

TEST(CsvTest, OtherDelimitersAndNoQuoting) {
  CsvDialect tsv;
  tsv.delimiter = "\t";
  EXPECT_EQ(Scan("a\t\"b\tc\"\t d\n", tsv), (Rows{{"a", "b\tc", "d"}}));
  EXPECT_EQ(Scan("\"a\"\t\"b\"\n", tsv), (Rows{{"a", "b"}}));  // tabs after a quote delimit
  CsvDialect dat;
  dat.delimiter = "::";
  dat.quoting = false;
  EXPECT_EQ(Scan("1::\"Toy Story\"::5:3\n", dat), (Rows{{"1", "\"Toy Story\"", "5:3"}}));
  CsvDialect semi;
  semi.delimiter = ";";
  EXPECT_EQ(Scan("a;\"b;c\"\n", semi), (Rows{{"a", "b;c"}}));
}

TEST(CsvTest, LineNumbersCountBreaksInsideQuotes) {
  EXPECT_EQ(Lines("h\n\"x\ny\nz\"\n\nlast\n"), (std::vector<uint64_t>{1, 2, 6}));
  EXPECT_EQ(Lines("a\r\nb\r\n\r\nc"), (std::vector<uint64_t>{1, 2, 4}));
}

TEST(CsvTest, UnterminatedQuoteNamesItsLineAndCostsOneLine) {
  EXPECT_EQ(Scan("a,b\n1,\"open,3\n4,5\n"),
            (Rows{{"a", "b"}, {"!error", "2", "unterminated quoted field"}, {"4", "5"}}));
}

TEST(CsvTest, TextAfterAClosingQuoteIsAnError) {
  const Rows rows = Scan("\"x\"y,1\n2,3\n");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][0], "!error");
  EXPECT_EQ(rows[0][1], "1");
  EXPECT_NE(rows[0][2].find("unexpected character 'y' after a closing quote"), std::string::npos);
  EXPECT_EQ(rows[1], (std::vector<std::string>{"2", "3"}));
}

TEST(CsvTest, FieldsOfDoubledQuotesStayValidUntilTheNextRecord) {
  CsvScanner scan("\"a\"\"1\",\"b\"\"2\",\"c\"\"3\"\n", {});
  CsvRecord r;
  ASSERT_TRUE(scan.Next(&r));
  EXPECT_EQ(r.fields, (std::vector<std::string_view>{"a\"1", "b\"2", "c\"3"}));
  EXPECT_FALSE(scan.Next(&r));
}

TEST(CsvTest, CopiesResumeWhereTheOriginalWas) {
  CsvScanner scan("h\n1\n2\n", {});
  CsvRecord r;
  ASSERT_TRUE(scan.Next(&r));
  CsvScanner copy = scan;
  ASSERT_TRUE(scan.Next(&r));
  ASSERT_TRUE(copy.Next(&r));
  EXPECT_EQ(r.fields[0], "1");
  EXPECT_EQ(r.line, 2u);
}

TEST(CsvTest, InvalidDelimitersAreRefused) {
  for (std::string_view d : {"", "\n", "\r", "\""}) {
    CsvDialect dialect;
    dialect.delimiter = d;
    try {
      CsvScanner scan("a", dialect);
      FAIL() << "accepted delimiter of size " << d.size();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    }
  }
  CsvDialect unquoted;
  unquoted.delimiter = "\"";
  unquoted.quoting = false;
  EXPECT_EQ(Scan("a\"b", unquoted), (Rows{{"a", "b"}}));
}

}  // namespace
}  // namespace marquee

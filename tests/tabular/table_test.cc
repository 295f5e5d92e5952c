// Schema inference, CSV edge cases, snapshots and the tabular catalog.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "marquee/env.h"
#include "marquee/error.h"
#include "models/artifact.h"
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

// Issue #12: text that is not valid UTF-8 or holds a NUL is refused at import with file:line.
TEST(TabularSchema, TextThatIsNotUtf8OrHoldsNulIsRefused) {
  TabularReadOptions o;
  o.label = "y";
  ExpectError("a,c,y\n1,ok,0\n1,caf\xe9,0\n", o, ErrorCode::kInvalidArgument,
              "t.csv:3: column 'c' is not valid UTF-8 (byte 0xe9 at offset 3");
  ExpectError("a,c\xff,y\n1,2,0\n", o, ErrorCode::kInvalidArgument,
              "t.csv:1: the name of header column 2 is not valid UTF-8 (byte 0xff at offset 1");
  ExpectError(std::string("a,c,y\n1,x\0y,0\n", 14), o, ErrorCode::kInvalidArgument,
              "t.csv:2: column 'c' contains a NUL byte (at offset 1)");
  TabularReadOptions id = o;
  id.id_col = "a";
  ExpectError("a,c,y\n\xc3,x,0\n", id, ErrorCode::kInvalidArgument,
              "t.csv:2: column 'a' is not valid UTF-8 (byte 0xc3 at offset 0");
  // Valid UTF-8 categories are kept.
  TabularData d = Parse("a,c,y\n1,caf\xc3\xa9,0\n2,th\xc3\xa9,1\n");
  EXPECT_EQ(Col(d, "c").categories, (std::vector<std::string>{"caf\xc3\xa9", "th\xc3\xa9"}));
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

// Bitwise equality of everything a snapshot carries (NaN == NaN).
bool SameData(const TabularData& a, const TabularData& b) {
  if (a.rows != b.rows || a.source != b.source || a.schema.ToJson() != b.schema.ToJson() ||
      a.columns.size() != b.columns.size() || a.times != b.times) {
    return false;
  }
  for (size_t c = 0; c < a.columns.size(); ++c) {
    if (a.columns[c].size() != b.columns[c].size() ||
        std::memcmp(a.columns[c].data(), b.columns[c].data(), a.columns[c].size() * 4) != 0) {
      return false;
    }
  }
  return true;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void Spit(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Env whose MapFile serves `bytes` from memory, so thousands of damaged copies load without
// touching the disk; everything else goes to the real Env.
class BytesEnv : public Env {
 public:
  std::string bytes;
  std::string ReadFile(const std::string& p) override { return base_->ReadFile(p); }
  void WriteFileAtomic(const std::string& p, std::string_view d) override {
    base_->WriteFileAtomic(p, d);
  }
  std::unique_ptr<WritableFile> NewWritableFile(const std::string& p) override {
    return base_->NewWritableFile(p);
  }
  std::unique_ptr<MappedFile> MapFile(const std::string&) override {
    struct Mem : MappedFile {
      std::vector<uint8_t> b;
      std::span<const uint8_t> data() const override { return b; }
    };
    auto m = std::make_unique<Mem>();
    m->b.assign(bytes.begin(), bytes.end());
    return m;
  }
  bool FileExists(const std::string& p) override { return base_->FileExists(p); }
  uint64_t FileSize(const std::string&) override { return bytes.size(); }
  void CreateDirs(const std::string& p) override { base_->CreateDirs(p); }
  std::vector<std::string> ListDir(const std::string& p) override { return base_->ListDir(p); }
  void RemoveFile(const std::string& p) override { base_->RemoveFile(p); }
  void RenameFile(const std::string& a, const std::string& b) override { base_->RenameFile(a, b); }
  int64_t NowSeconds() override { return base_->NowSeconds(); }

 private:
  Env* base_ = Env::Default();
};

TabularData MixedTable() {
  TabularReadOptions o;
  o.label = "y";
  o.id_col = "id";
  o.time_col = "t";
  TabularData d = ParseTabularCsv(
      "id,t,a,c,flag,y\n"
      "r1,2020-01-01T00:00:00Z,1.5,x,true,1\n"
      "r2,1600000000,,y,false,0\n"
      "r3,1600000100,3,,yes,1\n",
      "mixed.csv", o);
  d.source = "/data/mixed.csv";
  return d;
}

// Issue #12: a flipped byte in a .mqtab must never load as different data. Flips every byte of a
// real snapshot in turn: each copy either fails to load with an error, or (padding, unused
// header keys) loads exactly the original data.
TEST(TabularSnapshot, EveryFlippedByteIsRefusedOrHarmless) {
  testing::TempDir tmp;
  const TabularData d = MixedTable();
  const std::string good_path = tmp.file("good.mqtab"), bad_path = tmp.file("bad.mqtab");
  SaveTabularSnapshot(d, good_path, Env::Default());
  ASSERT_TRUE(SameData(LoadTabularSnapshot(good_path, Env::Default()), d));
  const std::string good = Slurp(good_path);
  ASSERT_GT(good.size(), 1000u);
  size_t refused = 0, harmless = 0, checksum_errors = 0;
  BytesEnv env;
  for (size_t i = 0; i < good.size(); ++i) {
    env.bytes = good;
    env.bytes[i] = static_cast<char>(env.bytes[i] ^ 0x04);
    try {
      TabularData back = LoadTabularSnapshot(bad_path, &env);
      EXPECT_TRUE(SameData(back, d)) << "byte " << i << " flipped loads different data";
      ++harmless;
    } catch (const Error& e) {
      ++refused;
      if (std::string(e.what()).find("checksum mismatch") != std::string::npos) {
        ++checksum_errors;
        EXPECT_EQ(e.code(), ErrorCode::kCorruption);
        EXPECT_NE(std::string(e.what()).find("tabular snapshot '" + bad_path + "' is corrupt"),
                  std::string::npos)
            << e.what();
      }
    }
  }
  EXPECT_GT(refused, 0u);
  EXPECT_GT(harmless, 0u);         // the container's padding
  EXPECT_GT(checksum_errors, 0u);  // column data and header values
}

TEST(TabularSnapshot, DataFlipIsACorruptionErrorNamingTheFile) {
  testing::TempDir tmp;
  const TabularData d = MixedTable();
  const std::string path = tmp.file("s.mqtab");
  SaveTabularSnapshot(d, path, Env::Default());
  std::string bytes = Slurp(path);
  // The last tensor ends the file: flip a bit of the time column's last value.
  bytes[bytes.size() - 1 - (64 - (3 * 8) % 64) % 64] ^= 0x01;
  Spit(path, bytes);
  try {
    LoadTabularSnapshot(path, Env::Default());
    FAIL() << "a damaged snapshot loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruption) << e.what();
    EXPECT_NE(std::string(e.what()).find("'" + path + "'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("checksum mismatch"), std::string::npos) << e.what();
  }
}

// Snapshots written before checksums (tabular_version 1: the same container, no "checksum" key)
// still load. The writer below is the version-1 SaveTabularSnapshot, byte for byte.
TEST(TabularSnapshot, VersionOneFilesWithoutChecksumStillLoad) {
  testing::TempDir tmp;
  const TabularData d = MixedTable();
  nlohmann::json stats = nlohmann::json::array();
  for (const auto& s : d.Stats()) stats.push_back(s.ToJson());
  ArtifactWriter w("tabular-dataset", {{"tabular_version", 1},
                                       {"schema", d.schema.ToJson()},
                                       {"rows", d.rows},
                                       {"source", d.source},
                                       {"stats", stats}});
  for (size_t c = 0; c < d.columns.size(); ++c) {
    if (d.columns[c].empty()) continue;
    w.Add<float>(fmt::format("col.{}", c), std::span<const float>(d.columns[c]));
  }
  w.Add<int64_t>("time", std::span<const int64_t>(d.times));
  const std::string v1 = tmp.file("v1.mqtab");
  w.Write(v1, Env::Default());
  EXPECT_TRUE(SameData(LoadTabularSnapshot(v1, Env::Default()), d));

  // A current file whose version was damaged to 1 still carries its checksum: refused.
  const std::string v2 = tmp.file("v2.mqtab");
  SaveTabularSnapshot(d, v2, Env::Default());
  std::string bytes = Slurp(v2);
  const size_t at = bytes.find("\"tabular_version\":2");
  ASSERT_NE(at, std::string::npos);
  bytes[at + std::string("\"tabular_version\":").size()] = '1';
  Spit(v2, bytes);
  try {
    LoadTabularSnapshot(v2, Env::Default());
    FAIL() << "a version-2 file relabelled as version 1 loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruption) << e.what();
  }
}

}  // namespace
}  // namespace marquee

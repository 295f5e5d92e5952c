#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "data/data_test_util.h"
#include "data/snapshot.h"
#include "marquee/dataset.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "test_util.h"

namespace marquee {
namespace {

using testing::CatchError;
using testing::TempDir;
using testing::ToVector;

// Reference XXH64 (seed 0), written independently of snapshot.cc, to forge files whose
// checksum is valid but whose contents break an invariant.
uint64_t Xxh64(const std::string& data) {
  constexpr uint64_t P1 = 0x9E3779B185EBCA87ULL, P2 = 0xC2B2AE3D27D4EB4FULL,
                     P3 = 0x165667B19E3779F9ULL, P4 = 0x85EBCA77C2B2AE63ULL,
                     P5 = 0x27D4EB2F165667C5ULL;
  auto round = [&](uint64_t acc, uint64_t in) { return std::rotl(acc + in * P2, 31) * P1; };
  auto load64 = [&](size_t p) {
    uint64_t v;
    std::memcpy(&v, data.data() + p, 8);
    return v;
  };
  const size_t n = data.size();
  size_t p = 0;
  uint64_t h;
  if (n >= 32) {
    uint64_t v[4] = {P1 + P2, P2, 0, 0 - P1};
    for (; p + 32 <= n; p += 32) {
      for (int i = 0; i < 4; ++i) v[i] = round(v[i], load64(p + 8 * i));
    }
    h = std::rotl(v[0], 1) + std::rotl(v[1], 7) + std::rotl(v[2], 12) + std::rotl(v[3], 18);
    for (uint64_t x : v) h = (h ^ round(0, x)) * P1 + P4;
  } else {
    h = P5;
  }
  h += n;
  for (; p + 8 <= n; p += 8) h = std::rotl(h ^ round(0, load64(p)), 27) * P1 + P4;
  if (p + 4 <= n) {
    uint32_t k;
    std::memcpy(&k, data.data() + p, 4);
    h = std::rotl(h ^ (uint64_t{k} * P1), 23) * P2 + P3;
    p += 4;
  }
  for (; p < n; ++p) h = std::rotl(h ^ (uint64_t{static_cast<uint8_t>(data[p])} * P5), 11) * P1;
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}

void Reseal(std::string& bytes) {
  std::memset(bytes.data() + kSnapshotChecksumOffset, 0, 8);
  const uint64_t sum = Xxh64(bytes);
  std::memcpy(bytes.data() + kSnapshotChecksumOffset, &sum, 8);
}

// Offset of a section's bytes in a snapshot, read from the section table.
uint64_t SectionOffset(const std::string& bytes, SnapshotSection tag) {
  uint32_t count;
  std::memcpy(&count, bytes.data() + 40, 4);
  for (uint32_t k = 0; k < count; ++k) {
    const size_t e = kSnapshotHeaderSize + kSnapshotSectionEntrySize * k;
    uint32_t t;
    std::memcpy(&t, bytes.data() + e, 4);
    if (t == static_cast<uint32_t>(tag)) {
      uint64_t off;
      std::memcpy(&off, bytes.data() + e + 8, 8);
      return off;
    }
  }
  ADD_FAILURE() << "section " << static_cast<uint32_t>(tag) << " not found";
  return 0;
}

Dataset Sample() {
  std::vector<RawInteraction> rows = {
      {"0104257", "item-a", 4.5f, 1000}, {"u2", "item-b", 3.0f, 900},
      {"0104257", "item-c", 1.0f, 500},  {"u2", "item-a", 5.0f, 900},
      {"ünï", "item-b", 2.5f, -7},       {"0104257", "item-b", 4.0f, 1000},
  };
  return Dataset::FromRows(rows, true, true, "unit-test \"source\"");
}

void ExpectSameDataset(const Dataset& a, const Dataset& b) {
  ASSERT_EQ(a.num_users(), b.num_users());
  ASSERT_EQ(a.num_items(), b.num_items());
  ASSERT_EQ(a.num_interactions(), b.num_interactions());
  EXPECT_EQ(ToVector(a.users()), ToVector(b.users()));
  EXPECT_EQ(ToVector(a.items()), ToVector(b.items()));
  EXPECT_EQ(ToVector(a.values()), ToVector(b.values()));
  EXPECT_EQ(ToVector(a.times()), ToVector(b.times()));
  EXPECT_EQ(ToVector(a.user_offsets()), ToVector(b.user_offsets()));
  EXPECT_EQ(testing::UserIds(a), testing::UserIds(b));
  EXPECT_EQ(testing::ItemIds(a), testing::ItemIds(b));
  EXPECT_EQ(a.info().source, b.info().source);
  EXPECT_EQ(a.info().has_values, b.info().has_values);
  EXPECT_EQ(a.info().has_times, b.info().has_times);
}

// Records the memory of every mapping it hands out, to prove Open does not copy.
class RecordingEnv : public Env {
 public:
  std::string ReadFile(const std::string& p) override { return base_->ReadFile(p); }
  void WriteFileAtomic(const std::string& p, std::string_view d) override {
    base_->WriteFileAtomic(p, d);
  }
  std::unique_ptr<WritableFile> NewWritableFile(const std::string& p) override {
    return base_->NewWritableFile(p);
  }
  std::unique_ptr<MappedFile> MapFile(const std::string& p) override {
    auto m = base_->MapFile(p);
    mapped = m->data();
    return m;
  }
  bool FileExists(const std::string& p) override { return base_->FileExists(p); }
  uint64_t FileSize(const std::string& p) override { return base_->FileSize(p); }
  void CreateDirs(const std::string& p) override { base_->CreateDirs(p); }
  std::vector<std::string> ListDir(const std::string& p) override { return base_->ListDir(p); }
  void RemoveFile(const std::string& p) override { base_->RemoveFile(p); }
  void RenameFile(const std::string& f, const std::string& t) override { base_->RenameFile(f, t); }
  int64_t NowSeconds() override { return base_->NowSeconds(); }

  std::span<const uint8_t> mapped;

 private:
  Env* base_ = Env::Default();
};

template <typename T>
bool Inside(std::span<const T> s, std::span<const uint8_t> region) {
  const auto* b = reinterpret_cast<const uint8_t*>(s.data());
  return b >= region.data() && b + s.size_bytes() <= region.data() + region.size();
}

TEST(Snapshot, RoundTripKeepsEveryArrayAndDictionary) {
  TempDir dir;
  Dataset ds = Sample();
  const std::string path = dir.file("a.mqds");
  const std::string sha = ds.Save(path, Env::Default());
  EXPECT_EQ(sha, Sha256Hex(Env::Default()->ReadFile(path)));
  Dataset back = Dataset::Open(path, Env::Default());
  ExpectSameDataset(ds, back);
  EXPECT_EQ(back.user_id(0), "0104257");
  EXPECT_EQ(back.find_user("ünï").value_or(99), 2u);
  EXPECT_EQ(back.find_item("item-c").value_or(99), 2u);
  EXPECT_FALSE(back.find_item("nope").has_value());
  // Same content, same bytes: the sha is the dataset's identity.
  EXPECT_EQ(ds.Save(dir.file("b.mqds"), Env::Default()), sha);
  EXPECT_EQ(back.Save(dir.file("c.mqds"), Env::Default()), sha);
  // The CSR built from the mapped arrays matches the original.
  CsrMatrix m1 = ds.ToCsr(std::nullopt), m2 = back.ToCsr(std::nullopt);
  EXPECT_EQ(m1.indptr, m2.indptr);
  EXPECT_EQ(m1.indices, m2.indices);
  EXPECT_EQ(m1.values, m2.values);
}

TEST(Snapshot, LayoutIsAlignedAndLittleEndian) {
  TempDir dir;
  const std::string path = dir.file("a.mqds");
  Dataset ds = Sample();
  ds.Save(path, Env::Default());
  const std::string bytes = Env::Default()->ReadFile(path);
  ASSERT_GE(bytes.size(), kSnapshotHeaderSize);
  EXPECT_EQ(std::memcmp(bytes.data(), kSnapshotMagic, 8), 0);
  uint32_t version, flags, nu, ni;
  uint64_t n, size;
  std::memcpy(&version, bytes.data() + 8, 4);
  std::memcpy(&flags, bytes.data() + 12, 4);
  std::memcpy(&nu, bytes.data() + 16, 4);
  std::memcpy(&ni, bytes.data() + 20, 4);
  std::memcpy(&n, bytes.data() + 24, 8);
  std::memcpy(&size, bytes.data() + 32, 8);
  EXPECT_EQ(version, kSnapshotFormatVersion);
  EXPECT_EQ(flags, kSnapshotFlagHasValues | kSnapshotFlagHasTimes);
  EXPECT_EQ(nu, 3u);
  EXPECT_EQ(ni, 3u);
  EXPECT_EQ(n, 6u);
  EXPECT_EQ(size, bytes.size());
  const uint64_t items_at = SectionOffset(bytes, SnapshotSection::kItems);
  EXPECT_EQ(items_at % kSnapshotAlignment, 0u);
  std::vector<uint32_t> items(6);
  std::memcpy(items.data(), bytes.data() + items_at, 24);
  EXPECT_EQ(items, ToVector(ds.items()));
  const uint64_t meta_at = SectionOffset(bytes, SnapshotSection::kMetadata);
  EXPECT_EQ(bytes.substr(meta_at, 1), "{");
}

TEST(Snapshot, OpenMapsTheFileWithoutCopying) {
  TempDir dir;
  const std::string path = dir.file("a.mqds");
  Sample().Save(path, Env::Default());
  RecordingEnv env;
  Dataset ds = Dataset::Open(path, &env);
  ASSERT_FALSE(env.mapped.empty());
  EXPECT_TRUE(Inside(ds.users(), env.mapped));
  EXPECT_TRUE(Inside(ds.items(), env.mapped));
  EXPECT_TRUE(Inside(ds.values(), env.mapped));
  EXPECT_TRUE(Inside(ds.times(), env.mapped));
  EXPECT_TRUE(Inside(ds.user_offsets(), env.mapped));
  const std::string_view id = ds.user_id(0);
  EXPECT_TRUE(
      Inside(std::span<const char>(id.data(), id.size()), std::span<const uint8_t>(env.mapped)));
  // Copies of the Dataset share the mapping, which outlives the original handle.
  Dataset copy = ds;
  ds = Dataset();
  EXPECT_EQ(copy.user_id(0), "0104257");
}

TEST(Snapshot, ImplicitDatasetsOmitValueAndTimeSections) {
  TempDir dir;
  std::vector<RawInteraction> rows = {{"a", "x"}, {"b", "y"}, {"a", "y"}};
  Dataset ds = Dataset::FromRows(rows, false, false, "implicit");
  const std::string path = dir.file("i.mqds");
  ds.Save(path, Env::Default());
  Dataset back = Dataset::Open(path, Env::Default());
  ExpectSameDataset(ds, back);
  EXPECT_FALSE(back.info().has_values);
  EXPECT_FALSE(back.info().has_times);
  EXPECT_EQ(ToVector(back.values()), std::vector<float>(3, 1.0f));
  EXPECT_EQ(ToVector(back.times()), std::vector<int64_t>(3, 0));
  Dataset ds2 = Dataset::FromRows(rows, true, false, "implicit");
  EXPECT_GT(ds2.Save(dir.file("v.mqds"), Env::Default()).size(), 0u);
  EXPECT_GT(Env::Default()->FileSize(dir.file("v.mqds")), Env::Default()->FileSize(path));
}

TEST(Snapshot, EmptyDatasetRoundTrips) {
  TempDir dir;
  Dataset ds;
  ds.Save(dir.file("e.mqds"), Env::Default());
  Dataset back = Dataset::Open(dir.file("e.mqds"), Env::Default());
  EXPECT_EQ(back.num_users(), 0u);
  EXPECT_EQ(back.num_items(), 0u);
  EXPECT_EQ(back.num_interactions(), 0u);
  EXPECT_EQ(back.user_offsets().size(), 1u);
}

class SnapshotCorruption : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("s.mqds");
    Sample().Save(path_, Env::Default());
    bytes_ = Env::Default()->ReadFile(path_);
  }
  Error OpenBroken(const std::string& bytes) {
    testing::WriteText(path_, bytes);
    return CatchError([&] { Dataset::Open(path_, Env::Default()); });
  }
  TempDir dir_;
  std::string path_, bytes_;
};

TEST_F(SnapshotCorruption, FlippedBodyByteFailsTheChecksum) {
  std::string b = bytes_;
  b[SectionOffset(b, SnapshotSection::kValues) + 1] ^= 0x40;
  Error e = OpenBroken(b);
  EXPECT_EQ(e.code(), ErrorCode::kCorruption);
  EXPECT_NE(std::string(e.what()).find(path_), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("checksum"), std::string::npos) << e.what();
}

TEST_F(SnapshotCorruption, FlippedHeaderByteIsDetected) {
  std::string b = bytes_;
  b[16] ^= 1;  // num_users
  EXPECT_EQ(OpenBroken(b).code(), ErrorCode::kCorruption);
}

TEST_F(SnapshotCorruption, TruncationIsDetected) {
  for (size_t keep : {bytes_.size() - 1, bytes_.size() / 2, size_t{70}, size_t{10}, size_t{0}}) {
    Error e = OpenBroken(bytes_.substr(0, keep));
    EXPECT_EQ(e.code(), ErrorCode::kCorruption) << "kept " << keep << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find(path_), std::string::npos);
  }
  Error e = OpenBroken(bytes_.substr(0, bytes_.size() - 3));
  EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
}

TEST_F(SnapshotCorruption, BadMagicIsDetected) {
  std::string b = bytes_;
  b[0] = 'X';
  Error e = OpenBroken(b);
  EXPECT_EQ(e.code(), ErrorCode::kCorruption);
  EXPECT_NE(std::string(e.what()).find("magic"), std::string::npos) << e.what();
}

TEST_F(SnapshotCorruption, FutureVersionIsRejected) {
  std::string b = bytes_;
  const uint32_t future = kSnapshotFormatVersion + 1;
  std::memcpy(b.data() + 8, &future, 4);
  Reseal(b);
  Error e = OpenBroken(b);
  EXPECT_EQ(e.code(), ErrorCode::kCorruption);
  EXPECT_NE(std::string(e.what()).find("version " + std::to_string(future)), std::string::npos)
      << e.what();
}

TEST_F(SnapshotCorruption, ResealedItemOutOfRangeFailsValidation) {
  std::string b = bytes_;
  const uint32_t bad_item = 77;
  std::memcpy(b.data() + SectionOffset(b, SnapshotSection::kItems) + 4, &bad_item, 4);
  Reseal(b);
  Error e = OpenBroken(b);
  EXPECT_EQ(e.code(), ErrorCode::kCorruption);
  EXPECT_NE(std::string(e.what()).find("item 77"), std::string::npos) << e.what();
}

TEST_F(SnapshotCorruption, ResealedUserOffsetsMustBeConsistent) {
  std::string b = bytes_;
  const uint64_t off = SectionOffset(b, SnapshotSection::kUserOffsets);
  const uint64_t wrong = 1;  // user 0 owns 3 rows; claiming 1 misplaces rows 1 and 2
  std::memcpy(b.data() + off + 8, &wrong, 8);
  Reseal(b);
  EXPECT_EQ(OpenBroken(b).code(), ErrorCode::kCorruption);

  std::string c = bytes_;
  const uint64_t past_end = 1000;
  std::memcpy(c.data() + off + 8, &past_end, 8);
  Reseal(c);
  EXPECT_EQ(OpenBroken(c).code(), ErrorCode::kCorruption);
}

TEST_F(SnapshotCorruption, ResealedDictionaryOffsetsMustStayInTheBlob) {
  std::string b = bytes_;
  const uint64_t off = SectionOffset(b, SnapshotSection::kItemIdOffsets);
  const uint64_t huge = 1u << 20;
  std::memcpy(b.data() + off + 8, &huge, 8);
  Reseal(b);
  EXPECT_EQ(OpenBroken(b).code(), ErrorCode::kCorruption);
}

TEST_F(SnapshotCorruption, ResealedMisalignedSectionIsRejected) {
  std::string b = bytes_;
  // Entry 0 is the users section; point it one byte later.
  uint64_t users_at;
  std::memcpy(&users_at, b.data() + kSnapshotHeaderSize + 8, 8);
  ++users_at;
  std::memcpy(b.data() + kSnapshotHeaderSize + 8, &users_at, 8);
  Reseal(b);
  Error e = OpenBroken(b);
  EXPECT_EQ(e.code(), ErrorCode::kCorruption);
  EXPECT_NE(std::string(e.what()).find("aligned"), std::string::npos) << e.what();
}

TEST(Snapshot, MissingFileIsNotFound) {
  TempDir dir;
  Error e = CatchError([&] { Dataset::Open(dir.file("absent.mqds"), Env::Default()); });
  EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  EXPECT_NE(std::string(e.what()).find("absent.mqds"), std::string::npos);
}

TEST(Snapshot, SaveIntoMissingDirectoryFailsWithoutLeavingFiles) {
  TempDir dir;
  Error e = CatchError([&] { Sample().Save(dir.file("no/such/dir/x.mqds"), Env::Default()); });
  EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  EXPECT_TRUE(Env::Default()->ListDir(dir.path()).empty());
}

}  // namespace
}  // namespace marquee

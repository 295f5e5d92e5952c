// Dataset::Save / Dataset::Open: the snapshot format of docs/formats/snapshot.md.
//
// Save makes two passes over the arrays: the first computes the XXH64 checksum that the header
// carries (the header is written first, so the checksum must be known before any byte goes out),
// the second streams the bytes to an atomic WritableFile while hashing them with SHA-256 (the
// content address the catalog uses). Open maps the file, checks the header, the checksum and
// every structural invariant, and then points the Dataset's spans straight into the mapping.
#include "data/snapshot.h"

#include <xxhash.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/sha256.h"
#include "data/dataset_storage.h"
#include "marquee/env.h"
#include "marquee/error.h"

namespace marquee {

// The format is little-endian and the arrays are used in place, so a big-endian host would need
// a byte-swapping reader; none of our targets is big-endian.
static_assert(std::endian::native == std::endian::little, "snapshots assume a little-endian host");

namespace {

// XXH64 (seed 0) from Debian's libxxhash, streaming. Chosen over SHA-256 for the embedded
// checksum because Open verifies it on every load and it runs at memory speed.
class Xxh64 {
 public:
  Xxh64() : state_(XXH64_createState()) {
    if (state_ == nullptr) Fail(ErrorCode::kResourceExhausted, "cannot allocate a hash state");
    XXH64_reset(state_, 0);
  }
  ~Xxh64() { XXH64_freeState(state_); }
  Xxh64(const Xxh64&) = delete;
  Xxh64& operator=(const Xxh64&) = delete;
  void Update(const void* data, size_t len) { XXH64_update(state_, data, len); }
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  uint64_t Digest() const { return XXH64_digest(state_); }

 private:
  XXH64_state_t* state_;
};

uint64_t AlignUp(uint64_t x) {
  return (x + kSnapshotAlignment - 1) / kSnapshotAlignment * kSnapshotAlignment;
}

template <typename T>
void Put(std::string& out, uint64_t offset, T v) {
  std::memcpy(out.data() + offset, &v, sizeof(T));
}

template <typename T>
T Get(const uint8_t* base, uint64_t offset) {
  T v;
  std::memcpy(&v, base + offset, sizeof(T));
  return v;
}

struct OutSection {
  SnapshotSection tag;
  const char* data;
  uint64_t length;
  uint64_t offset = 0;
};

template <typename T>
OutSection MakeSection(SnapshotSection tag, std::span<const T> s) {
  return {tag, reinterpret_cast<const char*>(s.data()), s.size_bytes()};
}

// Emits the file's bytes in order (header, zero padding, sections) to `sink`. Large sections
// go out in slices so hashing and writing interleave without a second copy.
void EmitFile(const std::string& header, const std::vector<OutSection>& sections,
              const std::function<void(std::string_view)>& sink) {
  static constexpr char kZeros[kSnapshotAlignment] = {};
  static constexpr uint64_t kSlice = 8u << 20;
  sink(header);
  uint64_t pos = header.size();
  for (const OutSection& s : sections) {
    if (s.offset > pos) sink({kZeros, static_cast<size_t>(s.offset - pos)});
    for (uint64_t done = 0; done < s.length; done += kSlice) {
      sink({s.data + done, static_cast<size_t>(std::min(kSlice, s.length - done))});
    }
    pos = s.offset + s.length;
  }
}

}  // namespace

std::string Dataset::Save(const std::string& path, Env* env) const {
  if (env == nullptr) env = Env::Default();
  const Storage& s = *s_;
  const uint64_t n = s.users.size();
  const bool has_values = s.info.has_values;
  const bool has_times = s.info.has_times;
  // Only the source goes into the metadata: the file's sha256 is the dataset's identity, so the
  // same rows must give the same bytes no matter when or under which name they are saved.
  const std::string metadata = nlohmann::json{{"source", s.info.source}}.dump();

  std::vector<OutSection> sections;
  sections.push_back(MakeSection(SnapshotSection::kUsers, s.users));
  sections.push_back(MakeSection(SnapshotSection::kItems, s.items));
  if (has_values) sections.push_back(MakeSection(SnapshotSection::kValues, s.values));
  if (has_times) sections.push_back(MakeSection(SnapshotSection::kTimes, s.times));
  sections.push_back(MakeSection(SnapshotSection::kUserOffsets, s.user_offsets));
  sections.push_back(MakeSection(SnapshotSection::kUserIdOffsets, s.user_ids.offsets));
  sections.push_back(MakeSection(SnapshotSection::kUserIdBlob, s.user_ids.blob));
  sections.push_back(MakeSection(SnapshotSection::kItemIdOffsets, s.item_ids.offsets));
  sections.push_back(MakeSection(SnapshotSection::kItemIdBlob, s.item_ids.blob));
  sections.push_back({SnapshotSection::kMetadata, metadata.data(), metadata.size()});

  const uint64_t table_end = kSnapshotHeaderSize + kSnapshotSectionEntrySize * sections.size();
  uint64_t pos = table_end;
  for (OutSection& sec : sections) {
    sec.offset = AlignUp(pos);
    pos = sec.offset + sec.length;
  }
  const uint64_t file_size = pos;

  std::string header(table_end, '\0');
  std::memcpy(header.data(), kSnapshotMagic, sizeof(kSnapshotMagic));
  Put<uint32_t>(header, 8, kSnapshotFormatVersion);
  Put<uint32_t>(
      header, 12,
      (has_values ? kSnapshotFlagHasValues : 0u) | (has_times ? kSnapshotFlagHasTimes : 0u));
  Put<uint32_t>(header, 16, num_users());
  Put<uint32_t>(header, 20, num_items());
  Put<uint64_t>(header, 24, n);
  Put<uint64_t>(header, 32, file_size);
  Put<uint32_t>(header, 40, static_cast<uint32_t>(sections.size()));
  Put<uint32_t>(header, 44, 0);
  Put<uint64_t>(header, kSnapshotChecksumOffset, 0);
  Put<uint64_t>(header, 56, 0);
  for (size_t k = 0; k < sections.size(); ++k) {
    const uint64_t e = kSnapshotHeaderSize + kSnapshotSectionEntrySize * k;
    Put<uint32_t>(header, e, static_cast<uint32_t>(sections[k].tag));
    Put<uint32_t>(header, e + 4, 0);
    Put<uint64_t>(header, e + 8, sections[k].offset);
    Put<uint64_t>(header, e + 16, sections[k].length);
  }

  Xxh64 checksum;
  EmitFile(header, sections, [&](std::string_view b) { checksum.Update(b); });
  Put<uint64_t>(header, kSnapshotChecksumOffset, checksum.Digest());

  std::unique_ptr<WritableFile> file = env->NewWritableFile(path);
  Sha256 sha;
  EmitFile(header, sections, [&](std::string_view b) {
    sha.Update(b);
    file->Append(b);
  });
  if (file->Size() != file_size) {
    Fail(ErrorCode::kInternal, "snapshot '{}': wrote {} bytes, expected {}", path, file->Size(),
         file_size);
  }
  file->Commit();
  return sha.HexDigest();
}

namespace {

// The stages of Dataset::Open, in order. Each checks what it reads and fails with kCorruption
// naming the file.

[[noreturn]] void Corrupt(const std::string& path, const std::string& why) {
  Fail(ErrorCode::kCorruption, "dataset snapshot '{}' is corrupt: {}", path, why);
}

struct SnapshotHeader {
  uint32_t flags = 0, nu = 0, ni = 0, section_count = 0;
  uint64_t n = 0, stored_checksum = 0;
  bool has_values() const { return (flags & kSnapshotFlagHasValues) != 0; }
  bool has_times() const { return (flags & kSnapshotFlagHasTimes) != 0; }
};

// The fixed header: magic, version, counts, the file size and the section table's extent.
SnapshotHeader ReadHeader(std::span<const uint8_t> bytes, const std::string& path) {
  const uint8_t* base = bytes.data();
  const uint64_t size = bytes.size();
  if (size < kSnapshotHeaderSize) {
    Corrupt(path, fmt::format("file is {} bytes, shorter than the {}-byte header", size,
                              kSnapshotHeaderSize));
  }
  if (std::memcmp(base, kSnapshotMagic, sizeof(kSnapshotMagic)) != 0) {
    Corrupt(path, "bad magic (not a Marquee dataset snapshot)");
  }
  const uint32_t version = Get<uint32_t>(base, 8);
  if (version == 0) Corrupt(path, "format version 0 is invalid");
  if (version > kSnapshotFormatVersion) {
    Fail(ErrorCode::kCorruption,
         "dataset snapshot '{}' has format version {}, but this build of Marquee reads versions "
         "up to {}; upgrade Marquee to open it",
         path, version, kSnapshotFormatVersion);
  }
  SnapshotHeader h;
  h.flags = Get<uint32_t>(base, 12);
  h.nu = Get<uint32_t>(base, 16);
  h.ni = Get<uint32_t>(base, 20);
  h.n = Get<uint64_t>(base, 24);
  const uint64_t declared_size = Get<uint64_t>(base, 32);
  h.section_count = Get<uint32_t>(base, 40);
  h.stored_checksum = Get<uint64_t>(base, kSnapshotChecksumOffset);
  if (declared_size != size) {
    Corrupt(path,
            fmt::format("the header records {} bytes but the file has {} (truncated or appended)",
                        declared_size, size));
  }
  if ((h.flags & ~(kSnapshotFlagHasValues | kSnapshotFlagHasTimes)) != 0) {
    Corrupt(path, fmt::format("unknown header flags 0x{:x}", h.flags));
  }
  if (h.section_count > 64 ||
      kSnapshotHeaderSize + kSnapshotSectionEntrySize * h.section_count > size) {
    Corrupt(path,
            fmt::format("section table of {} entries does not fit in the file", h.section_count));
  }
  return h;
}

// XXH64 of the whole file with the checksum field read as zeros.
// Hashed in pieces whose pages are released behind the hash (see MappedPageReleaser), so that
// opening a large snapshot does not make all of it resident.
void VerifyChecksum(std::span<const uint8_t> bytes, const SnapshotHeader& h,
                    const std::string& path, Env* env) {
  const uint8_t* base = bytes.data();
  MappedPageReleaser release(env, base, bytes.size());
  Xxh64 x;
  x.Update(base, kSnapshotChecksumOffset);
  static constexpr uint8_t kZero8[8] = {};
  x.Update(kZero8, 8);
  constexpr size_t kPiece = size_t{4} << 20;
  for (size_t at = kSnapshotChecksumOffset + 8; at < bytes.size();) {
    const size_t len = std::min(kPiece, bytes.size() - at);
    x.Update(base + at, len);
    at += len;
    release.ReleaseUpTo(base + at);
  }
  release.ReleaseAll();
  if (x.Digest() != h.stored_checksum) {
    Corrupt(path, fmt::format("checksum mismatch (stored {:016x}, computed {:016x})",
                              h.stored_checksum, x.Digest()));
  }
}

struct InSection {
  bool present = false;
  uint64_t offset = 0, length = 0;
};
using SectionTable = std::array<InSection, static_cast<size_t>(SnapshotSection::kMetadata) + 1>;

// The section table: known tags, each once, aligned, inside the file.
SectionTable ReadSectionTable(std::span<const uint8_t> bytes, const SnapshotHeader& h,
                              const std::string& path) {
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(uint64_t) != 0) {
    Fail(ErrorCode::kInternal, "mapping of '{}' is not 8-byte aligned", path);
  }
  if (h.nu == UINT32_MAX || h.ni == UINT32_MAX) Corrupt(path, "user or item count out of range");
  SectionTable secs;
  const uint64_t size = bytes.size();
  for (uint32_t k = 0; k < h.section_count; ++k) {
    const uint64_t e = kSnapshotHeaderSize + kSnapshotSectionEntrySize * k;
    const uint32_t tag = Get<uint32_t>(bytes.data(), e);
    const uint64_t off = Get<uint64_t>(bytes.data(), e + 8);
    const uint64_t len = Get<uint64_t>(bytes.data(), e + 16);
    if (tag == 0 || tag > static_cast<uint32_t>(SnapshotSection::kMetadata)) {
      Corrupt(path, fmt::format("unknown section tag {}", tag));
    }
    if (secs[tag].present) Corrupt(path, fmt::format("section {} appears twice", tag));
    if (off % kSnapshotAlignment != 0) {
      Corrupt(path, fmt::format("section {} offset {} is not 64-byte aligned", tag, off));
    }
    if (off > size || len > size - off) {
      Corrupt(path,
              fmt::format("section {} [{}, +{}) runs past the end of the file", tag, off, len));
    }
    secs[tag] = {true, off, len};
  }
  return secs;
}

// The arrays of a snapshot, viewed in the mapping.
struct SnapshotViews {
  std::span<const uint32_t> users, items;
  std::span<const float> values;   // empty without values
  std::span<const int64_t> times;  // empty without times
  std::span<const uint64_t> user_offsets;
  StringTable user_ids, item_ids;
  std::span<const char> metadata;
};

// Every section the header calls for, of the size it implies, as spans into the mapping.
SnapshotViews ViewSections(std::span<const uint8_t> bytes, const SnapshotHeader& h,
                           const SectionTable& secs, const std::string& path) {
  const auto section = [&](SnapshotSection tag, uint64_t expected_len, const char* what) {
    const InSection& s = secs[static_cast<size_t>(tag)];
    if (!s.present) Corrupt(path, fmt::format("missing {} section", what));
    if (expected_len != UINT64_MAX && s.length != expected_len) {
      Corrupt(path,
              fmt::format("{} section has {} bytes, expected {}", what, s.length, expected_len));
    }
    return s;
  };
  const auto span_of = [&]<typename T>(const InSection& s, T*) {
    return std::span<const T>(reinterpret_cast<const T*>(bytes.data() + s.offset),
                              s.length / sizeof(T));
  };
  const uint64_t n = h.n;
  if (n > bytes.size()) {
    Corrupt(path, fmt::format("interaction count {} is impossible for the file size", n));
  }
  SnapshotViews v;
  v.users = span_of(section(SnapshotSection::kUsers, 4 * n, "users"), static_cast<uint32_t*>(0));
  v.items = span_of(section(SnapshotSection::kItems, 4 * n, "items"), static_cast<uint32_t*>(0));
  if (h.has_values()) {
    v.values = span_of(section(SnapshotSection::kValues, 4 * n, "values"), static_cast<float*>(0));
  }
  if (h.has_times()) {
    v.times = span_of(section(SnapshotSection::kTimes, 8 * n, "times"), static_cast<int64_t*>(0));
  }
  if (!h.has_values() && secs[static_cast<size_t>(SnapshotSection::kValues)].present) {
    Corrupt(path, "values section present but the has_values flag is clear");
  }
  if (!h.has_times() && secs[static_cast<size_t>(SnapshotSection::kTimes)].present) {
    Corrupt(path, "times section present but the has_times flag is clear");
  }
  const uint64_t nu1 = static_cast<uint64_t>(h.nu) + 1, ni1 = static_cast<uint64_t>(h.ni) + 1;
  const auto u64 = static_cast<uint64_t*>(nullptr);
  const auto chars = static_cast<char*>(nullptr);
  v.user_offsets = span_of(section(SnapshotSection::kUserOffsets, 8 * nu1, "user offsets"), u64);
  v.user_ids = {span_of(section(SnapshotSection::kUserIdOffsets, 8 * nu1, "user id offsets"), u64),
                span_of(section(SnapshotSection::kUserIdBlob, UINT64_MAX, "user id blob"), chars)};
  v.item_ids = {span_of(section(SnapshotSection::kItemIdOffsets, 8 * ni1, "item id offsets"), u64),
                span_of(section(SnapshotSection::kItemIdBlob, UINT64_MAX, "item id blob"), chars)};
  v.metadata = span_of(section(SnapshotSection::kMetadata, UINT64_MAX, "metadata"), chars);
  return v;
}

// Structural invariants every consumer relies on: rows grouped by user in (time, item) order,
// ids inside the dictionaries, dictionary offsets inside their blobs.
// Reads the row arrays once, releasing their pages behind the scan (see VerifyChecksum).
void CheckStructure(const SnapshotViews& v, const SnapshotHeader& h, const std::string& path,
                    Env* env) {
  const uint64_t n = h.n;
  const uint32_t nu = h.nu, ni = h.ni;
  MappedPageReleaser release_users(env, v.users.data(), v.users.size_bytes());
  MappedPageReleaser release_items(env, v.items.data(), v.items.size_bytes());
  MappedPageReleaser release_times(env, v.times.data(), v.times.size_bytes());
  if (v.user_offsets[0] != 0 || v.user_offsets[nu] != n) {
    Corrupt(path, fmt::format("user offsets span [{}, {}], expected [0, {}]", v.user_offsets[0],
                              v.user_offsets[nu], n));
  }
  for (uint32_t u = 0; u < nu; ++u) {
    const uint64_t b = v.user_offsets[u], e = v.user_offsets[u + 1];
    if (e < b || e > n) Corrupt(path, fmt::format("user offsets are not monotone at user {}", u));
    for (uint64_t k = b; k < e; ++k) {
      if (v.users[k] != u) {
        Corrupt(path, fmt::format("row {} belongs to user {} but lies in user {}'s range", k,
                                  v.users[k], u));
      }
      if (v.items[k] >= ni) {
        Corrupt(path, fmt::format("row {} has item {} but there are {} items", k, v.items[k], ni));
      }
      if (k > b) {
        const int64_t tp = h.has_times() ? v.times[k - 1] : 0;
        const int64_t tk = h.has_times() ? v.times[k] : 0;
        if (tp > tk || (tp == tk && v.items[k - 1] > v.items[k])) {
          Corrupt(path,
                  fmt::format("rows of user {} are not sorted by (time, item) at row {}", u, k));
        }
      }
    }
    release_users.ReleaseUpTo(v.users.data() + e);
    release_items.ReleaseUpTo(v.items.data() + e);
    if (h.has_times()) release_times.ReleaseUpTo(v.times.data() + e);
  }
  release_users.ReleaseAll();
  release_items.ReleaseAll();
  if (h.has_times()) release_times.ReleaseAll();
  const auto check_table = [&](const StringTable& t, const char* what) {
    if (t.offsets[0] != 0 || t.offsets.back() != t.blob.size()) {
      Corrupt(path, fmt::format("{} offsets do not cover the blob", what));
    }
    for (size_t k = 1; k < t.offsets.size(); ++k) {
      if (t.offsets[k] < t.offsets[k - 1]) {
        Corrupt(path, fmt::format("{} offsets are not monotone at entry {}", what, k - 1));
      }
    }
  };
  check_table(v.user_ids, "user id");
  check_table(v.item_ids, "item id");
}

// The metadata section: a JSON object with an optional "source" string.
std::string ReadSource(std::span<const char> metadata, const std::string& path) {
  const nlohmann::json j = nlohmann::json::parse(metadata.begin(), metadata.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) Corrupt(path, "metadata is not a JSON object");
  const auto it = j.find("source");
  if (it == j.end()) return {};
  if (!it->is_string()) Corrupt(path, "metadata 'source' is not a string");
  return it->get<std::string>();
}

// Points `s` (a Dataset's private storage, hence the template) at the views (values 1 and
// times 0 when absent), keeping the mapping alive.
template <typename Storage>
void AttachStorage(Storage& s, const SnapshotViews& v, const SnapshotHeader& h, std::string source,
                   std::unique_ptr<MappedFile> mapped, Env* env) {
  s.users = v.users;
  s.items = v.items;
  if (h.has_values()) {
    s.values = v.values;
  } else {
    s.own_values.assign(h.n, 1.0f);
    s.values = s.own_values;
  }
  if (h.has_times()) {
    s.times = v.times;
  } else {
    s.own_times.assign(h.n, 0);
    s.times = s.own_times;
  }
  s.user_offsets = v.user_offsets;
  s.user_ids = v.user_ids;
  s.item_ids = v.item_ids;
  s.own_user_offsets.clear();
  s.own_user_id_offsets.clear();
  s.own_item_id_offsets.clear();
  s.info.source = std::move(source);
  s.info.has_values = h.has_values();
  s.info.has_times = h.has_times();
  s.mapped = std::move(mapped);
  s.mapped_env = env;
}

}  // namespace

Dataset Dataset::Open(const std::string& path, Env* env) {
  if (env == nullptr) env = Env::Default();
  std::unique_ptr<MappedFile> mapped = env->MapFile(path);
  const std::span<const uint8_t> bytes = mapped->data();
  const SnapshotHeader header = ReadHeader(bytes, path);
  VerifyChecksum(bytes, header, path, env);
  const SectionTable sections = ReadSectionTable(bytes, header, path);
  const SnapshotViews views = ViewSections(bytes, header, sections, path);
  CheckStructure(views, header, path, env);
  std::string source = ReadSource(views.metadata, path);
  Dataset ds;
  AttachStorage(*ds.s_, views, header, std::move(source), std::move(mapped), env);
  return ds;
}

}  // namespace marquee

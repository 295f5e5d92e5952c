// The dataset snapshot format (docs/formats/snapshot.md): versioned, little-endian,
// 64-byte-aligned sections that Dataset::Open memory-maps without copying.
#pragma once

#include <cstdint>

namespace marquee {

inline constexpr char kSnapshotMagic[8] = {'M', 'Q', 'D', 'S', 'N', 'A', 'P', '\0'};
inline constexpr uint32_t kSnapshotFormatVersion = 1;

// Fixed header size, the size of one section-table entry, and the alignment of every section.
inline constexpr uint64_t kSnapshotHeaderSize = 64;
inline constexpr uint64_t kSnapshotSectionEntrySize = 24;
inline constexpr uint64_t kSnapshotAlignment = 64;
// Byte offset of the XXH64 checksum inside the header (hashed as zeros).
inline constexpr uint64_t kSnapshotChecksumOffset = 48;

// Header flag bits.
inline constexpr uint32_t kSnapshotFlagHasValues = 1u << 0;
inline constexpr uint32_t kSnapshotFlagHasTimes = 1u << 1;

// Section type tags (stable: a tag is never reused for a different meaning).
enum class SnapshotSection : uint32_t {
  kUsers = 1,          // u32[n]   dense user id of each row
  kItems = 2,          // u32[n]   dense item id of each row
  kValues = 3,         // f32[n]   present only with kSnapshotFlagHasValues
  kTimes = 4,          // i64[n]   present only with kSnapshotFlagHasTimes
  kUserOffsets = 5,    // u64[num_users + 1]  rows of user u are [off[u], off[u+1])
  kUserIdOffsets = 6,  // u64[num_users + 1]  into kUserIdBlob
  kUserIdBlob = 7,     // UTF-8 bytes of the external user ids, concatenated
  kItemIdOffsets = 8,  // u64[num_items + 1]  into kItemIdBlob
  kItemIdBlob = 9,     // UTF-8 bytes of the external item ids, concatenated
  kMetadata = 10,      // UTF-8 JSON object: {"source": "..."}
};

}  // namespace marquee

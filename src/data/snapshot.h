// The dataset snapshot format (docs/formats/snapshot.md): versioned, little-endian,
// 64-byte-aligned sections that Dataset::Open memory-maps without copying.
#pragma once

#include <cstdint>

namespace marquee {

inline constexpr char kSnapshotMagic[8] = {'M', 'Q', 'D', 'S', 'N', 'A', 'P', '\0'};
inline constexpr uint32_t kSnapshotFormatVersion = 1;

}  // namespace marquee

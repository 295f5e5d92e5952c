// Fuzzes the interaction snapshot loader (Dataset::Open, src/data/snapshot.cc). The first byte
// is a flag, the rest the file. With flag bit 0 set the harness writes the correct XXH64
// checksum into the header before loading, so mutations get past the checksum to the section
// checks behind it (otherwise nearly every mutation stops at "checksum mismatch"). A snapshot
// that opens is walked completely: every row, id and offset must be in range.
#include <xxhash.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "data/snapshot.h"
#include "fuzz_util.h"
#include "marquee/dataset.h"
#include "marquee/env.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace marquee;
  if (size < 1) return 0;
  std::string file(fuzz::AsText(data + 1, size - 1));
  if ((data[0] & 1) && file.size() >= kSnapshotHeaderSize) {
    std::memset(file.data() + kSnapshotChecksumOffset, 0, 8);
    const uint64_t h = XXH64(file.data(), file.size(), 0);
    std::memcpy(file.data() + kSnapshotChecksumOffset, &h, 8);  // little-endian host
  }
  const std::string path = fuzz::WriteInput("input.snap", file);
  try {
    Dataset d = Dataset::Open(path, Env::Default());
    const auto users = d.users();
    const auto items = d.items();
    const auto offsets = d.user_offsets();
    fuzz::Check(users.size() == d.num_interactions() && items.size() == d.num_interactions(),
                "row arrays have num_interactions entries");
    fuzz::Check(offsets.size() == static_cast<size_t>(d.num_users()) + 1,
                "user offsets have num_users + 1 entries");
    for (uint64_t i = 0; i < d.num_interactions(); ++i) {
      fuzz::Check(users[i] < d.num_users() && items[i] < d.num_items(), "row ids in range");
    }
    (void)d.values();
    (void)d.times();
    for (uint32_t u = 0; u < d.num_users(); ++u) {
      fuzz::Check(offsets[u] <= offsets[u + 1] && offsets[u + 1] <= d.num_interactions(),
                  "offsets ascending and in range");
      (void)d.find_user(d.user_id(u));
    }
    for (uint32_t i = 0; i < d.num_items(); ++i) (void)d.find_item(d.item_id(i));
    (void)d.ToCsr(std::nullopt);
  } catch (const Error&) {
  }
  return 0;
}

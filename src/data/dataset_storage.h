// Internal layout shared by dataset.cc (owning datasets) and snapshot.cc (mapped snapshots).
#pragma once

#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "marquee/dataset.h"
#include "marquee/env.h"

namespace marquee {

// A string dictionary stored as offsets into one blob (the snapshot layout).
struct StringTable {
  std::span<const uint64_t> offsets;  // size n + 1
  std::span<const char> blob;
  uint32_t size() const { return offsets.empty() ? 0 : static_cast<uint32_t>(offsets.size() - 1); }
  std::string_view at(uint32_t i) const {
    return {blob.data() + offsets[i], static_cast<size_t>(offsets[i + 1] - offsets[i])};
  }
};

struct Dataset::Storage {
  // Owned arrays (empty when the dataset views a mapped snapshot).
  std::vector<uint32_t> own_users, own_items;
  std::vector<float> own_values;
  std::vector<int64_t> own_times;
  std::vector<uint64_t> own_user_offsets;
  std::vector<uint64_t> own_user_id_offsets, own_item_id_offsets;
  std::string own_user_blob, own_item_blob;
  std::unique_ptr<MappedFile> mapped;  // set when viewing a snapshot

  // Views used by every accessor (point into the owned arrays or the mapping).
  std::span<const uint32_t> users, items;
  std::span<const float> values;
  std::span<const int64_t> times;
  std::span<const uint64_t> user_offsets;
  StringTable user_ids, item_ids;
  DatasetInfo info;

  // guarded by: user_index_once / item_index_once (built by std::call_once on the first lookup,
  // Dataset::find_user / find_item; read-only after). No lock: call_once publishes the index.
  mutable std::once_flag user_index_once, item_index_once;
  mutable std::unordered_map<std::string_view, uint32_t> user_index, item_index;

  void ViewOwned();
};

}  // namespace marquee

// Internal layout shared by dataset.cc (owning datasets) and snapshot.cc (mapped snapshots).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/mapped_pages.h"
#include "marquee/dataset.h"
#include "marquee/env.h"

namespace marquee {

// Drops the resident pages of a read-only file mapping as a one-pass reader moves through it, so
// that reading a large file or snapshot once does not leave all of it in the process's RSS (the
// pages stay in the page cache; touching them again maps them back from there). Active only for
// mappings made by Env::Default(), which are PROT_READ MAP_PRIVATE mmaps of the file: there
// MADV_DONTNEED never loses data. Other Envs (in-memory ones in tests) are left alone. Not
// thread-safe; one per pass.
class MappedPageReleaser {
 public:
  MappedPageReleaser(Env* env, const void* data, size_t bytes)
      : active_(env != nullptr && env == Env::Default() && bytes > 0),
        begin_(static_cast<const char*>(data)),
        end_(begin_ + bytes),
        done_(begin_) {}
  // Releases the whole pages between the last call and `upto` (inside the mapping), once at
  // least kStep bytes have accumulated (a madvise per few MiB, not per row).
  void ReleaseUpTo(const void* upto) {
    if (!active_) return;
    const char* p = static_cast<const char*>(upto);
    if (p < done_ + kStep && p < end_) return;
    Release(std::min(p, end_));
  }
  void ReleaseAll() {
    if (active_) Release(end_);
  }
  // Starts a new pass from the beginning of the mapping.
  void Restart() { done_ = begin_; }

 private:
  static constexpr size_t kStep = size_t{2} << 20;
  void Release(const char* p) {
    // At the end of the mapping its last, partial page is released too (the mapping covers it).
    const char* to = p;
    if (p == end_) {
      const uintptr_t page = PageSize();
      to = reinterpret_cast<const char*>((reinterpret_cast<uintptr_t>(p) + page - 1) / page * page);
    }
    ReleaseMappedPages(done_, to);
    done_ = p;
  }
  bool active_;
  const char* begin_;
  const char* end_;
  const char* done_;
};

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
  Env* mapped_env = nullptr;           // the Env that mapped it (for MappedPageReleaser)

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

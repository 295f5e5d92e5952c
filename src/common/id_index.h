// IdIndex: string ids -> their dense index, for the lookups on the request path (a served
// recommender's item and user ids: every history entry, event and filter id of every request).
// Open addressing with linear probing over a power-of-two table at most half full; a slot holds
// the index and 32 bits of the id's hash, so a lookup is one hash of the id, usually one slot
// read and one string comparison, with no node list to walk (std::unordered_map's buckets).
// The ids are viewed, not copied: they must outlive the index and stay where they are.
//
// Thread-safety: Add is not; any number of threads may Find at once once it is built.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

namespace marquee {

class IdIndex {
 public:
  // Prepares for `n` ids (the table is rebuilt when Add outgrows it).
  void Reserve(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    if (cap > slots_.size()) Rehash(cap);
  }
  // Maps `id` to `index` unless `id` is already there (the first one stays, as emplace).
  void Add(std::string_view id, uint32_t index) {
    if (2 * (ids_.size() + 1) > slots_.size()) Rehash(slots_.empty() ? 16 : 2 * slots_.size());
    const uint64_t h = Hash(id);
    size_t s = h & (slots_.size() - 1);
    for (; slots_[s].entry != kEmpty; s = (s + 1) & (slots_.size() - 1)) {
      if (slots_[s].tag == Tag(h) && ids_[slots_[s].entry].first == id) return;
    }
    slots_[s] = {static_cast<uint32_t>(ids_.size()), Tag(h)};
    ids_.emplace_back(id, index);
  }
  // The index of `id`, or nullopt.
  std::optional<uint32_t> Find(std::string_view id) const {
    if (slots_.empty()) return std::nullopt;
    const uint64_t h = Hash(id);
    for (size_t s = h & (slots_.size() - 1);; s = (s + 1) & (slots_.size() - 1)) {
      const Slot& slot = slots_[s];
      if (slot.entry == kEmpty) return std::nullopt;
      if (slot.tag == Tag(h) && ids_[slot.entry].first == id) return ids_[slot.entry].second;
    }
  }
  size_t size() const { return ids_.size(); }

 private:
  static constexpr uint32_t kEmpty = UINT32_MAX;
  struct Slot {
    uint32_t entry = kEmpty;  // into ids_
    uint32_t tag = 0;         // the hash's upper half
  };
  static uint64_t Hash(std::string_view id) { return std::hash<std::string_view>{}(id); }
  static uint32_t Tag(uint64_t h) { return static_cast<uint32_t>(h >> 32); }
  void Rehash(size_t cap) {
    slots_.assign(cap, Slot{});
    for (uint32_t e = 0; e < ids_.size(); ++e) {
      const uint64_t h = Hash(ids_[e].first);
      size_t s = h & (cap - 1);
      while (slots_[s].entry != kEmpty) s = (s + 1) & (cap - 1);
      slots_[s] = {e, Tag(h)};
    }
  }

  std::vector<Slot> slots_;
  std::vector<std::pair<std::string_view, uint32_t>> ids_;  // in the order added
};

}  // namespace marquee

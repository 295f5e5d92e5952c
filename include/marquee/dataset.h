// Dataset: an immutable table of interactions (user, item, value, time) with dense internal ids
// and dictionaries both ways. Rows are sorted by (user, time, item), so a user's rows are
// contiguous (user_offsets()). A Dataset either owns its arrays or views a memory-mapped snapshot
// file (docs/formats/snapshot.md); copies share the same storage. Thread-safe for readers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "marquee/sparse.h"

namespace marquee {

class Env;

// One parsed row before ids are made dense.
struct RawInteraction {
  std::string user;
  std::string item;
  float value = 1.0f;
  int64_t time = 0;
};

struct DatasetInfo {
  std::string name;    // catalog name ("" if not imported)
  std::string id;      // sha256 of the snapshot file ("" if not saved)
  std::string source;  // where the rows came from
  bool has_values = false;
  bool has_times = false;
};

class Dataset {
 public:
  Dataset();

  // Builds a dataset from parsed rows: ids become dense in order of first appearance, rows are
  // sorted by (user, time, item). Exact duplicate rows are kept (they are data).
  static Dataset FromRows(const std::vector<RawInteraction>& rows, bool has_values, bool has_times,
                          std::string source);
  // Builds a dataset from dense columns (all of equal length; values/times may be empty when
  // absent). Ids must index into the dictionaries. Rows are sorted by (user, time, item).
  static Dataset FromColumns(std::vector<std::string> user_ids, std::vector<std::string> item_ids,
                             std::vector<uint32_t> users, std::vector<uint32_t> items,
                             std::vector<float> values, std::vector<int64_t> times,
                             std::string source);
  // Opens a snapshot by memory-mapping it. Throws kCorruption if the file fails its checks.
  static Dataset Open(const std::string& path, Env* env);
  // Writes the snapshot format atomically; returns the sha256 of the bytes written.
  std::string Save(const std::string& path, Env* env) const;

  uint32_t num_users() const;
  uint32_t num_items() const;
  uint64_t num_interactions() const;
  std::span<const uint32_t> users() const;
  std::span<const uint32_t> items() const;
  std::span<const float> values() const;           // all 1 when !has_values
  std::span<const int64_t> times() const;          // all 0 when !has_times
  std::span<const uint64_t> user_offsets() const;  // size num_users + 1

  std::string_view user_id(uint32_t u) const;
  std::string_view item_id(uint32_t i) const;
  // Dense id of an external id, or nullopt. The first call builds a hash index (thread-safe).
  std::optional<uint32_t> find_user(std::string_view id) const;
  std::optional<uint32_t> find_item(std::string_view id) const;

  const DatasetInfo& info() const;
  DatasetInfo& mutable_info();

  // users x items matrix of the rows whose value passes the threshold (value > threshold;
  // no threshold keeps every row). Duplicate pairs keep the largest value.
  CsrMatrix ToCsr(std::optional<double> positive_threshold) const;
  // The rows of ToCsr one at a time, in user order (users without positives included), without
  // holding the matrix: visit(user, sorted unique items, their values).
  void ForEachPositiveRow(std::optional<double> positive_threshold,
                          const std::function<void(uint32_t, std::span<const uint32_t>,
                                                   std::span<const float>)>& visit) const;

 private:
  struct Storage;
  std::shared_ptr<Storage> s_;
};

}  // namespace marquee

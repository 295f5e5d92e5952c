// DatasetCatalog: named, immutable, content-addressed dataset snapshots under the home
// directory ($home/datasets/objects/<sha256>.mqds, names in $home/datasets/names/<name>.json).
// Re-importing under a name makes a new snapshot and moves the name; old snapshots stay
// addressable by id. Safe for concurrent readers; writers rely on atomic renames.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "marquee/dataset.h"

namespace marquee {

class Env;

struct DatasetEntry {
  std::string name;
  std::string id;  // sha256 of the snapshot bytes
  std::string path;
  std::string source;
  std::string created_at;  // ISO-8601 UTC
  uint32_t users = 0;
  uint32_t items = 0;
  uint64_t interactions = 0;
  // Ids this name pointed at before, oldest first (empty for an id that no name points at).
  std::vector<std::string> history;
  nlohmann::json ToJson() const;
};

struct DatasetStats {
  uint32_t users = 0, items = 0;
  uint64_t interactions = 0;
  double density = 0;
  bool has_values = false, has_times = false;
  std::map<std::string, uint64_t> value_histogram;  // "5" -> count, or bucket labels
  int64_t time_min = 0, time_max = 0;
  double mean_per_user = 0, mean_per_item = 0;
  uint32_t max_per_user = 0, max_per_item = 0;
  nlohmann::json ToJson() const;
};

DatasetStats ComputeStats(const Dataset& ds);

class DatasetCatalog {
 public:
  DatasetCatalog(std::string home, Env* env);

  // Saves `ds` as a snapshot and points `name` at it. Names: [A-Za-z0-9._-]{1,128}, else
  // kInvalidArgument.
  DatasetEntry Import(const std::string& name, const Dataset& ds);
  std::vector<DatasetEntry> List() const;
  // By name, or by id (or a unique id prefix of at least 8 characters). kNotFound otherwise.
  DatasetEntry Get(const std::string& name_or_id) const;
  Dataset Open(const std::string& name_or_id) const;

 private:
  std::string home_;
  Env* env_;
};

// The home directory: --home, else $MARQUEE_HOME, else ./.marquee.
std::string ResolveHome(const std::string& flag_value);

}  // namespace marquee

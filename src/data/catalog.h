// DatasetCatalog: named, immutable, content-addressed dataset snapshots under the home
// directory ($home/datasets/objects/<sha256>.mqds, names in $home/datasets/names/<name>.json).
// Re-importing under a name makes a new snapshot and moves the name; old snapshots stay
// addressable by id. Safe for concurrent readers; writers rely on atomic renames.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/time.h"
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

  // Saves `ds` as a snapshot and points `name` at it. `name` must pass ValidateCatalogName
  // (kInvalidArgument otherwise, before anything is written).
  DatasetEntry Import(const std::string& name, const Dataset& ds);
  std::vector<DatasetEntry> List() const;
  // By name, or by id (or a unique id prefix of at least 8 characters). kNotFound otherwise.
  DatasetEntry Get(const std::string& name_or_id) const;
  Dataset Open(const std::string& name_or_id) const;

 private:
  std::string home_;
  Env* env_;
};

// Helpers shared by the content-addressed catalogs (datasets, tabular data, bandit logs).

// The one name rule of every catalog and registry name (datasets, tabular data, bandit logs,
// models, aliases, experiments and their cells, tag keys): [A-Za-z0-9._-]{1,128}, not starting
// with '-' (it would read as a command-line option), not "." or "..".
bool ValidCatalogName(std::string_view name);
// Throws kInvalidArgument "invalid <what> name '<name>': use ..." unless ValidCatalogName(name).
// `what` says which kind of name ("dataset", "model", "tag key", ...); the name is escaped in the
// message, so any bytes may be passed.
void ValidateCatalogName(std::string_view name, std::string_view what);
// IsoUtc (Unix seconds as "2026-11-23T22:35:00Z") comes from common/time.h.
// Stores one object content-addressed in `objects_dir`: `save(path)` writes it to a temporary
// name there and returns its id (the content hash); the file then becomes
// `objects_dir/<id><ext>`, or is dropped when an identical object is already stored. Returns
// the id. The temporary file is removed on any error (which propagates).
std::string StoreContentAddressed(Env* env, const std::string& objects_dir, std::string_view ext,
                                  const std::function<std::string(const std::string&)>& save);

// Points the name file `name_path` (a catalog's names/<name>.json) at `entry` (a JSON object
// whose "id" is the new object's id) and writes it atomically. When the file already exists,
// its "history" is kept and the id it pointed at is appended (oldest first; not when re-pointed
// at the same id); a malformed existing file is kCorruption naming it. Returns the history
// written (also set as entry["history"]).
std::vector<std::string> PointCatalogName(Env* env, const std::string& name_path,
                                          nlohmann::json entry);

// The names of a catalog's `names_dir`, in directory order: files NAME.json with a valid NAME
// (temporaries of an in-flight atomic write are skipped). Empty when the directory is absent.
std::vector<std::string> ListCatalogNames(Env* env, const std::string& names_dir);
// Parses the name file `path` and hands it to `read`, which fills the caller's entry (j.at()
// for required fields); a file that is not a JSON object, or that `read` cannot take, is
// kCorruption "<what> name file '<path>' is malformed: ...".
void ReadCatalogNameFile(Env* env, const std::string& path, std::string_view what,
                         const std::function<void(const nlohmann::json&)>& read);

// The home directory: --home, else $MARQUEE_HOME, else ./.marquee.
std::string ResolveHome(const std::string& flag_value);

}  // namespace marquee

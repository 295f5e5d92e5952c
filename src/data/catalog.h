// Catalogs of named, immutable, content-addressed objects under the home directory: the one
// template every catalog is (Catalog<Traits>: datasets here, tabular data in tabular/table.h,
// bandit logs in bandits/log.h) and the name and file helpers it is built on.
// DatasetCatalog: dataset snapshots ($home/datasets/objects/<sha256>.mqds, names in
// $home/datasets/names/<name>.json).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "common/time.h"
#include "marquee/dataset.h"
#include "marquee/error.h"

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

// Catalog<Traits>: the one implementation of a catalog of named, content-addressed objects
// (datasets, tabular data, bandit logs). Objects live in $home/<dir>/objects/<sha256><ext>,
// written atomically under a temporary name and renamed to their content hash; names are
// $home/<dir>/names/<name>.json, replaced atomically, pointing at an id and keeping the ids they
// pointed at before. Re-importing under a name makes a new object and moves the name; old
// objects stay addressable by id. Readers are safe against concurrent writers (atomic renames);
// two writers importing one name at once both succeed and the last rename wins.
//
// Traits says only what differs between catalogs, the object and its entry:
//   using Object = ...; using Entry = ...;  // Entry has name, id, path, source, created_at,
//                                           // history and ToJson() (its name file, less "path")
//   static constexpr std::string_view kDir, kExt;  // "datasets", ".mqds"
//   static constexpr std::string_view kNoun;       // in "no <noun> named 'x'"
//   static constexpr std::string_view kFileKind;   // in "<kind> name file '...' is malformed"
//   static void Check(const Object&);              // before anything is written
//   static std::string Save(const Object&, const std::string& path, Env*);  // returns the id
//   static void Describe(const Object&, Entry*);   // source and the entry's own counts
//   static void Read(const nlohmann::json& name_file, Entry*);  // the entry's own fields
//   static Object Load(const Entry&, const std::string& name, Env*);
template <typename Traits>
class Catalog {
 public:
  using Entry = typename Traits::Entry;
  using Object = typename Traits::Object;

  // `env` null: Env::Default(). An empty `home` is kInvalidArgument.
  Catalog(std::string home, Env* env);

  // Stores `object` and points `name` at it. `name` must pass ValidateCatalogName
  // (kInvalidArgument otherwise, before anything is written); a malformed current name file is
  // kCorruption.
  Entry Import(const std::string& name, const Object& object);
  bool Has(const std::string& name) const;
  // kNotFound when no such name; kCorruption when its name file is malformed.
  Entry Get(const std::string& name) const;
  // Every name, in directory order (names removed while listing are left out).
  std::vector<Entry> List() const;
  Object Open(const std::string& name) const { return Traits::Load(Get(name), name, env_); }
  // Removes the name and returns the entry it had (kNotFound when there is none). The object
  // stays: runs and versions refer to snapshots by id, and re-importing reuses it.
  Entry Remove(const std::string& name);

 protected:
  std::string ObjectsDir() const { return fmt::format("{}/{}/objects", home_, Traits::kDir); }
  std::string ObjectPath(std::string_view id) const {
    return fmt::format("{}/{}{}", ObjectsDir(), id, Traits::kExt);
  }
  std::string NamePath(std::string_view name) const {
    return fmt::format("{}/{}/names/{}.json", home_, Traits::kDir, name);
  }

  std::string home_;
  Env* env_;
};

// Non-template parts of Catalog<Traits>.
namespace catalog_internal {
Env* EnvOrDefault(Env* env, const std::string& home);
int64_t Now(Env* env);
bool FileExists(Env* env, const std::string& path);
void RemoveFile(Env* env, const std::string& path);
void CreateDirs(Env* env, const std::string& path);
// The common fields of a name file (name, id: a sha256, source, created_at, history); throws
// std::exception (ReadCatalogNameFile makes it kCorruption) when one is missing or malformed.
void ReadCommonFields(const nlohmann::json& j, std::string* name, std::string* id,
                      std::string* source, std::string* created_at,
                      std::vector<std::string>* history);
}  // namespace catalog_internal

template <typename Traits>
Catalog<Traits>::Catalog(std::string home, Env* env)
    : home_(std::move(home)), env_(catalog_internal::EnvOrDefault(env, home_)) {}

template <typename Traits>
typename Catalog<Traits>::Entry Catalog<Traits>::Import(const std::string& name,
                                                        const Object& object) {
  ValidateCatalogName(name, "dataset");
  Traits::Check(object);
  catalog_internal::CreateDirs(env_, ObjectsDir());
  catalog_internal::CreateDirs(env_, fmt::format("{}/{}/names", home_, Traits::kDir));
  Entry e;
  e.id = StoreContentAddressed(env_, ObjectsDir(), Traits::kExt, [&](const std::string& path) {
    return Traits::Save(object, path, env_);
  });
  e.name = name;
  e.path = ObjectPath(e.id);
  e.created_at = IsoUtc(catalog_internal::Now(env_));
  Traits::Describe(object, &e);
  if (Has(name)) Get(name);  // kCorruption when the current name file is malformed
  nlohmann::json j = e.ToJson();
  j.erase("path");
  e.history = PointCatalogName(env_, NamePath(name), std::move(j));
  return e;
}

template <typename Traits>
typename Catalog<Traits>::Entry Catalog<Traits>::Remove(const std::string& name) {
  Entry e = Get(name);
  catalog_internal::RemoveFile(env_, NamePath(name));
  return e;
}

template <typename Traits>
bool Catalog<Traits>::Has(const std::string& name) const {
  return ValidCatalogName(name) && catalog_internal::FileExists(env_, NamePath(name));
}

template <typename Traits>
typename Catalog<Traits>::Entry Catalog<Traits>::Get(const std::string& name) const {
  if (!Has(name)) Fail(ErrorCode::kNotFound, "no {} named '{}'", Traits::kNoun, name);
  Entry e;
  ReadCatalogNameFile(env_, NamePath(name), Traits::kFileKind, [&](const nlohmann::json& j) {
    catalog_internal::ReadCommonFields(j, &e.name, &e.id, &e.source, &e.created_at, &e.history);
    Traits::Read(j, &e);
  });
  e.path = ObjectPath(e.id);
  return e;
}

template <typename Traits>
std::vector<typename Catalog<Traits>::Entry> Catalog<Traits>::List() const {
  std::vector<Entry> out;
  for (const std::string& name :
       ListCatalogNames(env_, fmt::format("{}/{}/names", home_, Traits::kDir))) {
    try {
      out.push_back(Get(name));
    } catch (const Error& err) {
      if (err.code() != ErrorCode::kNotFound) throw;  // else removed since the listing
    }
  }
  return out;
}

// Datasets: $home/datasets/objects/<sha256>.mqds (docs/formats/snapshot.md).
struct DatasetCatalogTraits {
  using Object = Dataset;
  using Entry = DatasetEntry;
  static constexpr std::string_view kDir = "datasets", kExt = ".mqds", kNoun = "dataset",
                                    kFileKind = "dataset";
  static void Check(const Dataset&) {}
  static std::string Save(const Dataset& ds, const std::string& path, Env* env);
  static void Describe(const Dataset& ds, DatasetEntry* e);
  static void Read(const nlohmann::json& j, DatasetEntry* e);
  static Dataset Load(const DatasetEntry& e, const std::string& name, Env* env);
};

class DatasetCatalog : public Catalog<DatasetCatalogTraits> {
 public:
  using Catalog::Catalog;
  // By name, or by id (or a unique id prefix of at least 8 characters). kNotFound otherwise.
  DatasetEntry Get(const std::string& name_or_id) const;
  Dataset Open(const std::string& name_or_id) const {
    return DatasetCatalogTraits::Load(Get(name_or_id), name_or_id, env_);
  }
};

}  // namespace marquee

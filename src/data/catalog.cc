// DatasetCatalog: content-addressed snapshots plus small JSON name files.
//
// Import writes the snapshot under a unique temporary name in objects/ (Save is itself atomic),
// then renames it to <sha256>.mqds, so an object file always holds exactly the bytes its name
// promises. The name file is replaced atomically afterwards: readers see either the old or the
// new dataset, never a name pointing at a missing object. Two writers importing the same name
// at once both succeed; the last rename wins and the other's id is left out of the history.
#include "data/catalog.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <random>
#include <set>

#include "common/text.h"
#include "marquee/env.h"
#include "marquee/error.h"

namespace marquee {
namespace {

constexpr size_t kMinIdPrefix = 8;
constexpr size_t kMaxExactHistogramValues = 20;
constexpr int kHistogramBuckets = 10;

}  // namespace

bool ValidCatalogName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name == "." || name == ".." || name[0] == '-') {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

void ValidateCatalogName(std::string_view name, std::string_view what) {
  if (ValidCatalogName(name)) return;
  const char* why = name.empty()                  ? "it is empty"
                    : name.size() > 128           ? "it is longer than 128 bytes"
                    : name[0] == '-'              ? "it starts with '-'"
                    : name == "." || name == ".." ? "'.' and '..' are reserved"
                                                  : "it has a character outside A-Z a-z 0-9 . _ -";
  Fail(ErrorCode::kInvalidArgument,
       "invalid {} name '{}': {}; use 1 to 128 characters from A-Z a-z 0-9 . _ - not starting "
       "with '-'",
       what, QuoteForMessage(name, 80), why);
}

namespace {

bool IsHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// A name unique across processes for the snapshot being written: ".incoming-<pid>-<random>-<n>".
// The writer's pid comes first so `marquee gc` can tell a leftover of a killed import (pid gone)
// from a file still being written (docs/formats/registry.md, "Temporary files").
std::string IncomingName() {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format(".incoming-{}-{:016x}-{}", ::getpid(), rng(), counter.fetch_add(1));
}

}  // namespace

std::string StoreContentAddressed(Env* env, const std::string& objects_dir, std::string_view ext,
                                  const std::function<std::string(const std::string&)>& save) {
  env->CreateDirs(objects_dir);
  const std::string incoming = fmt::format("{}/{}{}", objects_dir, IncomingName(), ext);
  try {
    std::string id = save(incoming);
    const std::string object = fmt::format("{}/{}{}", objects_dir, id, ext);
    if (env->FileExists(object)) {
      env->RemoveFile(incoming);  // same content already stored
    } else {
      env->RenameFile(incoming, object);
    }
    return id;
  } catch (...) {
    if (env->FileExists(incoming)) env->RemoveFile(incoming);
    throw;
  }
}

std::vector<std::string> PointCatalogName(Env* env, const std::string& name_path,
                                          nlohmann::json entry) {
  std::vector<std::string> history;
  if (env->FileExists(name_path)) {
    const nlohmann::json old = nlohmann::json::parse(env->ReadFile(name_path), nullptr, false);
    try {
      if (!old.is_object()) throw std::runtime_error("not a JSON object");
      const std::string old_id = old.at("id").get<std::string>();
      if (old.contains("history")) history = old.at("history").get<std::vector<std::string>>();
      if (old_id != entry.at("id").get<std::string>()) history.push_back(old_id);
    } catch (const std::exception& ex) {
      Fail(ErrorCode::kCorruption, "name file '{}' is malformed: {}", name_path, ex.what());
    }
  }
  entry["history"] = history;
  env->WriteFileAtomic(name_path, entry.dump(2) + "\n");
  return history;
}

std::vector<std::string> ListCatalogNames(Env* env, const std::string& names_dir) {
  std::vector<std::string> names;
  if (!env->FileExists(names_dir)) return names;
  for (const std::string& file : env->ListDir(names_dir)) {
    if (!EndsWith(file, ".json")) continue;
    std::string name = file.substr(0, file.size() - 5);
    if (ValidCatalogName(name)) names.push_back(std::move(name));
  }
  return names;
}

void ReadCatalogNameFile(Env* env, const std::string& path, std::string_view what,
                         const std::function<void(const nlohmann::json&)>& read) {
  const nlohmann::json j = nlohmann::json::parse(env->ReadFile(path), nullptr, false);
  try {
    if (!j.is_object()) throw std::runtime_error("not a JSON object");
    read(j);
  } catch (const std::exception& ex) {
    Fail(ErrorCode::kCorruption, "{} name file '{}' is malformed: {}", what, path, ex.what());
  }
}

nlohmann::json DatasetEntry::ToJson() const {
  return {{"name", name},
          {"id", id},
          {"path", path},
          {"source", source},
          {"created_at", created_at},
          {"users", users},
          {"items", items},
          {"interactions", interactions},
          {"history", history}};
}

nlohmann::json DatasetStats::ToJson() const {
  nlohmann::json j = {{"users", users},
                      {"items", items},
                      {"interactions", interactions},
                      {"density", density},
                      {"has_values", has_values},
                      {"has_times", has_times},
                      {"value_histogram", value_histogram},
                      {"mean_per_user", mean_per_user},
                      {"max_per_user", max_per_user},
                      {"mean_per_item", mean_per_item},
                      {"max_per_item", max_per_item}};
  if (has_times) {
    j["time_min"] = time_min;
    j["time_max"] = time_max;
    j["time_min_iso"] = IsoUtc(time_min);
    j["time_max_iso"] = IsoUtc(time_max);
  }
  return j;
}

DatasetStats ComputeStats(const Dataset& ds) {
  DatasetStats st;
  st.users = ds.num_users();
  st.items = ds.num_items();
  st.interactions = ds.num_interactions();
  st.has_values = ds.info().has_values;
  st.has_times = ds.info().has_times;
  if (st.users > 0 && st.items > 0) {
    st.density = static_cast<double>(st.interactions) /
                 (static_cast<double>(st.users) * static_cast<double>(st.items));
  }
  if (st.users > 0) st.mean_per_user = static_cast<double>(st.interactions) / st.users;
  if (st.items > 0) st.mean_per_item = static_cast<double>(st.interactions) / st.items;
  const auto offsets = ds.user_offsets();
  for (uint32_t u = 0; u < st.users; ++u) {
    st.max_per_user = std::max(st.max_per_user, static_cast<uint32_t>(offsets[u + 1] - offsets[u]));
  }
  std::vector<uint32_t> per_item(st.items, 0);
  for (uint32_t i : ds.items()) ++per_item[i];
  for (uint32_t c : per_item) st.max_per_item = std::max(st.max_per_item, c);

  if (st.has_times && st.interactions > 0) {
    const auto [lo, hi] = std::minmax_element(ds.times().begin(), ds.times().end());
    st.time_min = *lo;
    st.time_max = *hi;
  }
  if (st.has_values && st.interactions > 0) {
    // Exact counts while the values look like a rating scale, equal-width buckets otherwise.
    std::map<float, uint64_t> exact;
    bool too_many = false;
    float lo = ds.values()[0], hi = ds.values()[0];
    for (float v : ds.values()) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
      if (!too_many) {
        ++exact[v];
        too_many = exact.size() > kMaxExactHistogramValues;
      }
    }
    if (!too_many) {
      for (const auto& [v, c] : exact) st.value_histogram[fmt::format("{}", v)] = c;
    } else {
      const double width = (static_cast<double>(hi) - lo) / kHistogramBuckets;
      std::vector<uint64_t> counts(kHistogramBuckets, 0);
      for (float v : ds.values()) {
        int b = static_cast<int>((static_cast<double>(v) - lo) / width);
        ++counts[static_cast<size_t>(std::clamp(b, 0, kHistogramBuckets - 1))];
      }
      for (int b = 0; b < kHistogramBuckets; ++b) {
        const double from = lo + width * b;
        const double to = b + 1 == kHistogramBuckets ? static_cast<double>(hi) : from + width;
        st.value_histogram[fmt::format("[{:.4g}, {:.4g}{}", from, to,
                                       b + 1 == kHistogramBuckets ? "]" : ")")] = counts[b];
      }
    }
  }
  return st;
}

namespace catalog_internal {

Env* EnvOrDefault(Env* env, const std::string& home) {
  if (home.empty()) Fail(ErrorCode::kInvalidArgument, "the Marquee home directory is empty");
  return env != nullptr ? env : Env::Default();
}

int64_t Now(Env* env) { return env->NowSeconds(); }

void RemoveFile(Env* env, const std::string& path) { env->RemoveFile(path); }

bool FileExists(Env* env, const std::string& path) { return env->FileExists(path); }

void CreateDirs(Env* env, const std::string& path) { env->CreateDirs(path); }

void ReadCommonFields(const nlohmann::json& j, std::string* name, std::string* id,
                      std::string* source, std::string* created_at,
                      std::vector<std::string>* history) {
  *name = j.at("name").get<std::string>();
  *id = j.at("id").get<std::string>();
  // The id names a file: only a sha256 may, so a damaged name file cannot point outside.
  if (id->size() != 64 || !IsHex(*id)) throw std::runtime_error("bad id");
  *source = j.value("source", "");
  *created_at = j.value("created_at", "");
  *history = j.value("history", std::vector<std::string>{});
}

}  // namespace catalog_internal

std::string DatasetCatalogTraits::Save(const Dataset& ds, const std::string& path, Env* env) {
  return ds.Save(path, env);
}

void DatasetCatalogTraits::Describe(const Dataset& ds, DatasetEntry* e) {
  e->source = ds.info().source;
  e->users = ds.num_users();
  e->items = ds.num_items();
  e->interactions = ds.num_interactions();
}

void DatasetCatalogTraits::Read(const nlohmann::json& j, DatasetEntry* e) {
  e->users = j.value("users", 0u);
  e->items = j.value("items", 0u);
  e->interactions = j.value("interactions", uint64_t{0});
}

Dataset DatasetCatalogTraits::Load(const DatasetEntry& e, const std::string& name, Env* env) {
  if (!env->FileExists(e.path)) {
    Fail(ErrorCode::kCorruption, "dataset '{}' points at snapshot '{}', which is missing", name,
         e.path);
  }
  Dataset ds = Dataset::Open(e.path, env);
  DatasetInfo& info = ds.mutable_info();
  info.name = e.name;
  info.id = e.id;
  if (!e.source.empty()) info.source = e.source;
  return ds;
}

DatasetEntry DatasetCatalog::Get(const std::string& name_or_id) const {
  if (Has(name_or_id)) return Catalog::Get(name_or_id);
  const std::string key = name_or_id;
  if (key.size() < kMinIdPrefix || key.size() > 64 || !IsHex(key)) {
    Fail(ErrorCode::kNotFound,
         "no dataset named '{}' in '{}' (ids and id prefixes are at least {} lower-case hex "
         "characters)",
         name_or_id, home_, kMinIdPrefix);
  }
  std::vector<std::string> matches;
  if (env_->FileExists(ObjectsDir())) {
    for (const std::string& file : env_->ListDir(ObjectsDir())) {
      constexpr std::string_view kExt = DatasetCatalogTraits::kExt;
      if (file.size() != 64 + kExt.size() || !EndsWith(file, kExt)) continue;
      if (file.compare(0, key.size(), key) == 0) matches.push_back(file.substr(0, 64));
    }
  }
  if (matches.empty()) {
    Fail(ErrorCode::kNotFound, "no dataset named '{}' and no snapshot id starting with it in '{}'",
         name_or_id, home_);
  }
  if (matches.size() > 1) {
    std::string list;
    for (const auto& m : matches) list += (list.empty() ? "" : ", ") + m.substr(0, 16);
    Fail(ErrorCode::kInvalidArgument, "id prefix '{}' is ambiguous: it matches {} snapshots ({})",
         name_or_id, matches.size(), list);
  }
  const std::string& id = matches[0];
  // Prefer the metadata of a name that currently points at this id.
  for (const DatasetEntry& e : List()) {
    if (e.id == id) return e;
  }
  // An unnamed (superseded) snapshot: its counts come from the file itself.
  DatasetEntry e;
  e.id = id;
  e.path = ObjectPath(id);
  Dataset ds = Dataset::Open(e.path, env_);
  e.source = ds.info().source;
  e.users = ds.num_users();
  e.items = ds.num_items();
  e.interactions = ds.num_interactions();
  return e;
}

std::string ResolveHome(const std::string& flag_value) {
  if (!flag_value.empty()) return flag_value;
  const char* env = std::getenv("MARQUEE_HOME");
  if (env != nullptr && *env != '\0') return env;
  return "./.marquee";
}

}  // namespace marquee

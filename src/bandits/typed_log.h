// The typed core of a bandit log (snapshot format v2, docs/formats/bandit.md): a dictionary of
// the distinct context feature keys (name, category or numeric, FeatureHash computed once) and
// every row's context as (key id, value) pairs, plus each action set's features already keyed.
// The learners read rows through BanditLog::Keyed without hashing or parsing a name.
//
// BanditLogBuilder collects rows (from the JSONL, DSJSON, VW and OBD readers, or from a
// hand-built BanditLog) and either hands back a BanditLog or streams a v2 snapshot file with
// bounded memory: the row columns spill to temporary files beside the snapshot and are copied
// into it at the end (the snapshot is written atomically; spills are removed on every path).
//
// Errors: kInvalidArgument naming the field for text that cannot be stored (not UTF-8, NUL),
// kCorruption for a damaged v2 snapshot. Thread-safety: TypedContexts is immutable once built
// (share it freely); a builder is used by one thread.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bandits/features.h"
#include "marquee/env.h"

namespace marquee {

struct BanditLog;
class ArtifactReader;

// One distinct context feature key: numeric `name`, or categorical `name`=`category`.
struct ContextKey {
  std::string name;
  std::string category;  // categorical only
  bool categorical = false;
  uint64_t hash = 0;  // FeatureHash('c', name, value): the KeyedFeature key
};

// The typed contexts of a log's rows and its action sets keyed.
class TypedContexts {
 public:
  std::vector<ContextKey> keys;

  size_t rows() const { return offsets_.empty() ? 0 : offsets_.size() - 1; }
  std::span<const uint32_t> ids(size_t r) const {
    return ids_.subspan(offsets_[r], offsets_[r + 1] - offsets_[r]);
  }
  std::span<const double> values(size_t r) const {
    return values_.subspan(offsets_[r], offsets_[r + 1] - offsets_[r]);
  }
  // Row r's context as a FeatureMap (names copied; the map order as imported).
  FeatureMap Context(size_t r) const;
  // Appends row r's keyed context (numeric zeros skipped, as KeyFeatures does).
  void KeyContext(size_t r, std::vector<KeyedFeature>* out) const;

  // Action set s keyed: the features of action a are set_features[s][begin[s][a]..begin[s][a+1]).
  std::vector<std::vector<KeyedFeature>> set_features;
  std::vector<std::vector<uint32_t>> set_begin;
  std::vector<std::vector<uint64_t>> set_id_keys;
  void KeyActionSets(const std::vector<std::vector<Action>>& sets);

  // Storage: owned vectors (built in memory) or a mapped snapshot.
  void Own(std::vector<uint64_t> offsets, std::vector<uint32_t> ids, std::vector<double> values);
  void Map(std::shared_ptr<const ArtifactReader> file, std::span<const uint64_t> offsets,
           std::span<const uint32_t> ids, std::span<const double> values);
  // Checks offsets, ids and values (kCorruption naming `where`); a mapped core's pages are
  // released as the check passes them (Release).
  void Check(const std::string& where) const;
  // Drops the mapped pages holding rows [begin, end)'s ids and values from resident memory
  // (madvise MADV_DONTNEED on the pages wholly inside them: the mapping is read-only and
  // private, so they are read back from the file if touched again). No-op for owned storage.
  void Release(size_t begin, size_t end) const;

 private:
  std::vector<uint64_t> own_offsets_;
  std::vector<uint32_t> own_ids_;
  std::vector<double> own_values_;
  std::shared_ptr<const ArtifactReader> file_;
  std::span<const uint64_t> offsets_;
  std::span<const uint32_t> ids_;
  std::span<const double> values_;
};

// Incremental BanditLog::Stats().
struct LogStatsAccumulator {
  uint64_t rows = 0;
  double rsum = 0, pmin = 1, pmax = 0;
  int64_t tmin = INT64_MAX, tmax = INT64_MIN;
  std::map<int32_t, uint64_t> positions;
  void Add(double reward, double propensity, int32_t position, int64_t ts);
  nlohmann::json ToJson(const std::vector<std::vector<Action>>& sets) const;
};

class BanditLogBuilder {
 public:
  // In memory: Finish() returns the log. Streaming: `env` and `spill_dir` given; rows beyond
  // a few MiB go to spill files in spill_dir, and WriteSnapshot writes the v2 file.
  BanditLogBuilder(std::string format, std::string source);
  BanditLogBuilder(std::string format, std::string source, Env* env, std::string spill_dir);
  ~BanditLogBuilder();
  BanditLogBuilder(const BanditLogBuilder&) = delete;
  BanditLogBuilder& operator=(const BanditLogBuilder&) = delete;

  // The id of a context key; text is checked the first time a key is seen (kInvalidArgument
  // "<where>.<name>: the name ..." / "<where>.<name> ...").
  uint32_t Key(std::string_view name, bool categorical, std::string_view category,
               const std::string& where);
  const ContextKey& key(uint32_t k) const { return keys_[k]; }
  // The index of an action set equal to `set` (added if new). The caller validated it.
  uint32_t ActionSet(std::vector<Action> set);
  const std::vector<Action>& action_set(uint32_t s) const { return sets_[s]; }
  // A user's index (text checked on first sight, naming `where`).
  uint32_t User(std::string_view user, const std::string& where);

  struct Feature {
    uint32_t key;
    double value;  // 1 for a category
  };
  // One row; `context` in map order. `user`: kNoUser or an index from User().
  static constexpr uint32_t kNoUser = UINT32_MAX;
  void AddRow(uint32_t action_set, uint32_t chosen, double propensity, double reward,
              int32_t position, int64_t ts, uint32_t user, std::span<const Feature> context);
  // A row whose context is a FeatureMap (interned here; `where` names it in errors).
  void AddRow(uint32_t action_set, uint32_t chosen, double propensity, double reward,
              int32_t position, int64_t ts, std::optional<std::string_view> user,
              const FeatureMap& context, const std::string& where);

  uint64_t rows() const { return stats_.rows; }
  nlohmann::json Stats() const { return stats_.ToJson(sets_); }

  // In-memory mode only: the log (typed contexts, rows with empty FeatureMaps).
  BanditLog Finish();
  // Writes the v2 snapshot atomically to `path`; returns the sha256 of its bytes.
  std::string WriteSnapshot(const std::string& path, Env* env);

 private:
  struct Spill;
  template <typename T>
  void Push(int column, const T& v);
  void MaybeSpill();

  std::string format_, source_;
  Env* env_ = nullptr;
  std::string spill_dir_;
  std::vector<ContextKey> keys_;
  std::unordered_map<std::string, uint32_t> key_index_;
  std::vector<uint32_t> last_key_;  // per position in a row: the key seen there last
  std::vector<std::vector<Action>> sets_;
  std::unordered_map<std::string, uint32_t> set_index_;
  std::vector<std::string> users_;
  std::unordered_map<std::string, uint32_t> user_index_;
  LogStatsAccumulator stats_;
  // Columns: 0 action_set u32, 1 chosen u32, 2 propensity f64, 3 reward f64, 4 position i64,
  // 5 ts i64, 6 user u32, 7 ctx_offsets u64 (row ends), 8 ctx_ids u32, 9 ctx_values f64.
  static constexpr int kColumns = 10;
  std::vector<uint8_t> buf_[kColumns];
  uint64_t spilled_[kColumns] = {};
  std::unique_ptr<Spill> spill_;
  uint64_t nnz_ = 0;
  bool any_user_ = false;
};

// The row columns of a snapshot or a builder; `user` may be empty (no user column).
struct RowColumns {
  std::span<const uint32_t> action_set, chosen;
  std::span<const double> propensity, reward;
  std::span<const int64_t> position, ts;
  std::span<const uint32_t> user;  // index into `users`, BanditLogBuilder::kNoUser: none
};
// The rows a lazy passes over at a time before releasing the pages it read (BanditLog::lazy).
inline constexpr size_t kReleaseRows = size_t{1} << 14;

// The row columns of a v2 snapshot, mapped (the lazy form of a BanditLog; immutable, shared).
struct LazyRows {
  std::shared_ptr<const ArtifactReader> file;  // keeps the mapping
  RowColumns columns;
  std::vector<std::string> users;
  // Drops the mapped pages wholly inside column rows [begin, end) (TypedContexts::Release).
  void Release(size_t begin, size_t end) const;
};

// Sets log->rows from the columns (all of length n); `typed`: row i's context is typed row i.
// kCorruption naming `where` for a position outside int32 or a user index out of range.
void FillRows(const RowColumns& c, size_t n, const std::vector<std::string>& users, bool typed,
              const std::string& where, BanditLog* log);

// The v2 reader (called by LoadBanditLog for bandit_log_version 2; `lazy`: the lazy form,
// see OpenBanditLogLazily).
BanditLog LoadBanditLogV2(std::shared_ptr<const ArtifactReader> file, const std::string& path,
                          bool lazy);

// Readers feeding a builder (log.cc, log_readers.cc): `format` one of BanditLogFormats().
void ReadBanditLogInto(const std::string& path, const std::string& format, Env* env,
                       BanditLogBuilder* b);
void ReadObdInto(const std::string& campaign_csv, Env* env, BanditLogBuilder* b);
std::string AbsolutePath(const std::string& path);

// The semantic key of an action set (ids and features), for deduplication.
std::string ActionSetKey(const std::vector<Action>& set);

}  // namespace marquee

// Bandit logs: logged decisions (context, offered actions, chosen action, its propensity, the
// reward, optional position / user / time), their readers (Open Bandit Dataset CSVs, generic
// JSONL decision logs), the versioned, checksummed snapshot file and the catalog of named
// snapshots under $home/bandit (docs/formats/bandit.md).
//
// Errors: kInvalidArgument naming file:line and the field for malformed input (a propensity of
// 0 or above 1, a chosen action not among the offered ones, duplicate action ids), kNotFound
// for missing files or names, kCorruption for damaged snapshots (the sha256 of the bytes must
// equal the snapshot id). Thread-safety: a BanditLog is a value; the catalog is safe to use
// from several processes (every file is written atomically).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bandits/features.h"
#include "bandits/policy.h"
#include "data/catalog.h"
#include "marquee/env.h"

namespace marquee {

class TypedContexts;
struct LazyRows;

inline constexpr int64_t kNoTime = std::numeric_limits<int64_t>::min();

struct LoggedDecision {
  // The context of a hand-built row. Rows read from files and snapshots keep their context in
  // BanditLog::typed instead (this map is then empty): read contexts through
  // BanditLog::Context(i), Input(i) or Keyed(i).
  FeatureMap context;
  std::optional<std::string> user;
  uint32_t action_set = 0;  // index into BanditLog::action_sets
  uint32_t chosen = 0;      // index into that action set
  double propensity = 1.0;  // (0, 1]
  double reward = 0.0;
  int32_t position = -1;  // -1: none
  int64_t ts = kNoTime;   // Unix seconds (kNoTime: none)
  static constexpr uint64_t kNoTypedRow = std::numeric_limits<uint64_t>::max();
  uint64_t typed_row = kNoTypedRow;  // row of BanditLog::typed holding the context, if any
};

struct BanditLog {
  std::vector<std::vector<Action>> action_sets;  // deduplicated sets of offered actions
  // The rows of an eager log (hand-built, read from a file, LoadBanditLog). Empty in the lazy
  // form: read rows through size() and row(i), which serve both forms.
  std::vector<LoggedDecision> rows;
  std::string source;  // the file(s) it was read from
  std::string format;  // "obd" | "bandit-jsonl" | "dsjson" | "vw-adf"
  // The typed contexts (logs read by the readers or loaded from snapshots; shared by copies and
  // subsets of the log, immutable). Null for hand-built logs.
  std::shared_ptr<const TypedContexts> typed;
  // The lazy form (OpenBanditLogLazily, BanditLogCatalog::OpenLazily, Slice, Select): the rows
  // are a memory-mapped v2 snapshot's columns, read when asked and never copied per row; row i
  // is column row lazy_first + i, or (*lazy_index)[i] when the index is set. Null: eager.
  std::shared_ptr<const LazyRows> lazy;
  std::shared_ptr<const std::vector<uint32_t>> lazy_index;
  size_t lazy_first = 0, lazy_count = 0;

  // One row's fields, either form (its context through Context, Input or Keyed).
  struct RowRef {
    uint32_t action_set = 0, chosen = 0;
    double propensity = 1.0, reward = 0.0;
    int32_t position = -1;
    int64_t ts = kNoTime;
    uint64_t typed_row = LoggedDecision::kNoTypedRow;
  };
  size_t size() const;
  RowRef row(size_t i) const;
  // Row i's user, or null.
  const std::string* user(size_t i) const;

  // Rows [begin, end) (kInvalidArgument past the end) / the rows `index` lists (ascending, each
  // below size()) as a log of their own, sharing the action sets and typed contexts. A lazy log
  // shares its columns (no per-row copy); an eager one copies its LoggedDecisions.
  BanditLog Slice(size_t begin, size_t end) const;
  BanditLog Select(const std::vector<size_t>& index) const;
  // Drops the memory-mapped pages that hold rows [begin, end) (columns and typed contexts) from
  // this process's resident memory: they stay in the page cache and are read back if touched
  // again, so a pass over a log larger than memory holds only a window of it. A no-op for rows
  // held in memory. Thread-safe (other readers of those rows only fault them back in).
  void ReleasePages(size_t begin, size_t end) const;

  bool has_positions() const;
  // Row i's context (copied from the typed core or the row's map). kInternal when the row
  // names a typed row but the log has no typed core (a copy that dropped `typed`).
  FeatureMap Context(size_t i) const;
  // The decision input of row i (copies the action set).
  DecisionInput Input(size_t i) const;
  // Row i with every feature keyed, without copying names: the learners' fast path. The result
  // points into `scratch` (and may point into the log): valid until the next call with the same
  // scratch. Thread-safe for distinct scratches.
  const KeyedInput& Keyed(size_t i, KeyedScratch* scratch) const;
  const Action& ChosenAction(size_t i) const {
    const RowRef r = row(i);
    return action_sets[r.action_set][r.chosen];
  }
  // Rows, actions, positions, mean reward, propensity range (JSON, for `dataset show`).
  nlohmann::json Stats() const;
  // Checks every row (propensity in (0, 1], chosen inside its set, unique ids, finite reward);
  // kInvalidArgument naming the row and the field.
  void Validate() const;
};

// Open Bandit Dataset: a campaign CSV ({policy}/{campaign}/{campaign}.csv: unnamed index,
// timestamp, item_id, position, click, propensity_score, user_feature_*, user-item_affinity_*)
// and item_context.csv beside it (item_feature_*). Every row offers every item of
// item_context.csv (ids are the item_id numbers as text); context = the user features
// (categorical) and the non-zero affinities (numeric); reward = click.
BanditLog ReadObd(const std::string& campaign_csv, Env* env);

// The readers by format name ("obd", "bandit-jsonl", "dsjson", "vw-adf"): in memory, and
// streamed into a v2 snapshot file (ImportBanditLogFile). kInvalidArgument for another name.
BanditLog ReadBanditLogFile(const std::string& path, const std::string& format, Env* env);
const std::vector<std::string>& BanditLogFormats();

// Vowpal Wabbit's DSJSON decision log (what `marquee decisions export --format dsjson` writes;
// docs/formats/bandit.md): one object per line; rows without a label (`_label_cost`) are skipped.
BanditLog ReadDsjson(const std::string& path, Env* env);
BanditLog ParseDsjson(std::string_view text, const std::string& origin);
// Vowpal Wabbit's text cb_adf format: examples of a `shared |...` line and one line per action,
// `index:cost:probability` on the chosen one, a blank line after each example.
BanditLog ReadVwAdf(const std::string& path, Env* env);
BanditLog ParseVwAdf(std::string_view text, const std::string& origin);

// JSONL decision log, one object per line:
//   {"context": {...}, "actions": [{"id": "a", "features": {...}}, ...], "chosen": "a" | 0,
//    "probability": 0.25, "reward": 1.0, "position": 1?, "user": "u1"?, "ts": 1700000000?}
// Feature values are numbers, strings or booleans (true -> 1, false -> 0).
BanditLog ReadBanditJsonl(const std::string& path, Env* env);
BanditLog ParseBanditJsonl(std::string_view text, const std::string& origin);

// Snapshot files (an artifact container, family "bandit-log"); Save returns the sha256 of the
// bytes (the snapshot id).
std::string SaveBanditLog(const BanditLog& log, const std::string& path, Env* env);
// Loads version 2 (typed, memory-mapped: the log keeps the mapping) or version 1.
BanditLog LoadBanditLog(const std::string& path, Env* env);
// Loads a version 2 snapshot in the lazy form (BanditLog::lazy: no per-row records, the rows
// read from the mapping when asked; validated in one pass that releases the pages it read, so
// opening holds a bounded window of the file); a version 1 snapshot loads eagerly. Errors as
// LoadBanditLog.
BanditLog OpenBanditLogLazily(const std::string& path, Env* env);
// The version 1 writer (contexts as JSON lines), kept so tests can write old snapshots.
std::string SaveBanditLogV1(const BanditLog& log, const std::string& path, Env* env);

struct BanditLogEntry {
  std::string name, id, path, source, format, created_at;
  uint64_t rows = 0;
  uint32_t actions = 0;  // distinct action ids
  bool positions = false;
  std::vector<std::string> history;  // earlier ids of this name, oldest first
  nlohmann::json ToJson() const;
};

// Named bandit-log snapshots: $home/bandit/objects/<sha256>.mqbl and names/<name>.json. Open
// verifies the snapshot's sha256 (kCorruption on a mismatch).
struct BanditLogCatalogTraits {
  using Object = BanditLog;
  using Entry = BanditLogEntry;
  static constexpr std::string_view kDir = "bandit", kExt = ".mqbl", kNoun = "bandit log",
                                    kFileKind = "bandit";
  static void Check(const BanditLog& log) { log.Validate(); }
  static std::string Save(const BanditLog& log, const std::string& path, Env* env) {
    return SaveBanditLog(log, path, env);
  }
  static void Describe(const BanditLog& log, BanditLogEntry* e);
  static void Read(const nlohmann::json& j, BanditLogEntry* e);
  static BanditLog Load(const BanditLogEntry& e, const std::string& name, Env* env);
};

class BanditLogCatalog : public Catalog<BanditLogCatalogTraits> {
 public:
  using Catalog::Catalog;
  // Streams `path` (a format of BanditLogFormats) into a v2 snapshot and points `name` at it,
  // holding a bounded amount of memory whatever the log's length (columns spill to temporary
  // files beside the object; the dictionaries of keys, users and action sets stay in memory).
  // `source` (if not empty) replaces the recorded source. `stats` (optional) gets Stats().
  BanditLogEntry ImportFile(const std::string& name, const std::string& path,
                            const std::string& format, const std::string& source,
                            nlohmann::json* stats = nullptr);
  // Open(name) in the lazy form (OpenBanditLogLazily), the sha256 checked with a bounded
  // buffer. kNotFound for an unknown name, kCorruption for a damaged snapshot.
  BanditLog OpenLazily(const std::string& name) const;
};

// Feature maps <-> JSON objects (numbers and strings; booleans read as 0/1).
FeatureMap FeatureMapFromJson(const nlohmann::json& j, const std::string& where);
// One feature value (numbers, strings, booleans as 0/1); kInvalidArgument naming `where`.
FeatureValue FeatureValueFromJson(const nlohmann::json& v, const std::string& where);
nlohmann::json FeatureMapToJson(const FeatureMap& m);

}  // namespace marquee

// Tabular datasets: a CSV file read into typed columns with an inferred (and overridable) schema,
// per-column statistics, and immutable content-addressed snapshots (docs/formats/tabular.md)
// under $home/tabular/{objects,names}. Columns are stored as float32 (NaN = missing):
// numbers as themselves, booleans as 0/1, categories as codes into the column's dictionary.
// A time column (Unix seconds or ISO-8601) is kept as int64 as well, for temporal splits.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "data/catalog.h"

namespace marquee {

class Env;

enum class ColumnType { kNumeric, kCategorical, kBoolean };
enum class ColumnRole { kFeature, kLabel, kTime, kId, kIgnored };

std::string_view ColumnTypeName(ColumnType t);
std::string_view ColumnRoleName(ColumnRole r);
// kInvalidArgument naming the accepted values.
ColumnType ParseColumnType(std::string_view name);

struct ColumnSchema {
  std::string name;
  ColumnType type = ColumnType::kNumeric;
  ColumnRole role = ColumnRole::kFeature;
  std::vector<std::string> categories;  // categorical: code -> value (sorted)
  nlohmann::json ToJson() const;
};

struct TabularSchema {
  std::vector<ColumnSchema> columns;
  std::string label, time_col, id_col;
  // Index of a column by exact name, or -1.
  int Find(std::string_view name) const;
  nlohmann::json ToJson() const;
  static TabularSchema FromJson(const nlohmann::json& j);  // kCorruption when malformed
};

struct ColumnStats {
  uint64_t count = 0;    // non-missing values
  uint64_t missing = 0;  // missing values
  double min = 0, max = 0, mean = 0, stddev = 0;
  uint64_t distinct = 0;                              // exact up to 10,000, then a floor
  std::vector<std::pair<std::string, uint64_t>> top;  // categorical/boolean: most frequent
  nlohmann::json ToJson() const;
};

// Options of ReadTabularCsv. `types` forces a column's type ("numeric", "categorical",
// "boolean") or drops it ("ignore"); `drop` lists columns to leave out.
struct TabularReadOptions {
  std::string label;  // required
  std::string time_col, id_col;
  std::map<std::string, std::string> types;
  std::vector<std::string> drop;
  std::optional<char> delimiter;  // unset: ',' unless the header has tabs/semicolons only
  bool require_label = true;      // false: rows to score, every column a feature
};

// An in-memory table: one float column per schema column (empty for ignored/id columns).
struct TabularData {
  TabularSchema schema;
  std::vector<std::vector<float>> columns;
  std::vector<int64_t> times;  // Unix seconds of the time column (empty without one)
  uint64_t rows = 0;
  std::string source;

  const std::vector<float>& label() const;
  // Indices of the feature columns, in schema order.
  std::vector<int> FeatureColumns() const;
  std::vector<ColumnStats> Stats() const;
};

// Reads a CSV file (RFC 4180 quoting, CRLF, UTF-8 BOM, header required) and infers each
// column's type: numeric when every non-missing value parses as a number ("1.00E+05", " -3 "),
// boolean when every one is true/false/yes/no, categorical otherwise. Missing: "", NA, N/A,
// NaN, null, None, ? (case-insensitive). Throws kNotFound / kInvalidArgument naming
// file:line:column.
TabularData ReadTabularCsv(const std::string& path, const TabularReadOptions& options, Env* env);
// The same from text (tests); `origin` names it in messages.
TabularData ParseTabularCsv(std::string_view text, const std::string& origin,
                            const TabularReadOptions& options);

// The header row's column names as ParseTabularCsv reads them (same delimiter rule, quoting and
// BOM handling). kInvalidArgument for an empty file or a malformed header.
std::vector<std::string> ParseTabularCsvHeader(std::string_view text, const std::string& origin,
                                               std::optional<char> delimiter);

// Parses a number as the schema inference does (nullopt for anything else).
std::optional<double> ParseTabularNumber(std::string_view field);
bool IsMissingToken(std::string_view field);
std::optional<bool> ParseBoolToken(std::string_view field);

// Snapshots: content-addressed, immutable. SaveTabularSnapshot writes atomically and returns
// the sha256 of the bytes (the id).
std::string SaveTabularSnapshot(const TabularData& data, const std::string& path, Env* env);
TabularData LoadTabularSnapshot(const std::string& path, Env* env);

struct TabularEntry {
  std::string name, id, path, source, created_at;
  uint64_t rows = 0;
  uint32_t columns = 0;
  std::vector<std::string> history;  // earlier ids of this name, oldest first
  nlohmann::json ToJson() const;
};

// Named tabular snapshots under $home/tabular (objects/<sha256>.mqtab, names/<name>.json).
struct TabularCatalogTraits {
  using Object = TabularData;
  using Entry = TabularEntry;
  static constexpr std::string_view kDir = "tabular", kExt = ".mqtab", kNoun = "tabular dataset",
                                    kFileKind = "tabular";
  static void Check(const TabularData&) {}
  static std::string Save(const TabularData& d, const std::string& path, Env* env) {
    return SaveTabularSnapshot(d, path, env);
  }
  static void Describe(const TabularData& d, TabularEntry* e);
  static void Read(const nlohmann::json& j, TabularEntry* e);
  static TabularData Load(const TabularEntry& e, const std::string&, Env* env) {
    return LoadTabularSnapshot(e.path, env);
  }
};

class TabularCatalog : public Catalog<TabularCatalogTraits> {
 public:
  using Catalog::Catalog;
};

}  // namespace marquee

#include "tabular/table.h"

#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <limits>
#include <random>
#include <set>
#include <unordered_map>

#include "common/csv.h"
#include "common/text.h"
#include "data/catalog.h"
#include "data/readers.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "models/artifact.h"

namespace marquee {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
// Version 2 adds the "checksum" header key (docs/formats/tabular.md); version 1 files, which
// have none, stay readable.
constexpr uint32_t kTabularVersion = 2;
constexpr uint32_t kFirstChecksummedVersion = 2;
constexpr const char* kSnapshotFamily = "tabular-dataset";

// The tensors of a snapshot in file order: name and raw bytes.
using NamedBytes = std::vector<std::pair<std::string, std::span<const uint8_t>>>;

template <typename T>
std::span<const uint8_t> AsBytes(std::span<const T> s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size_bytes()};
}

// XXH64 (seed 0) of a snapshot's content: the canonical dump of its tabular header keys (every
// key but "checksum" and the container's own family/format_version/tensors; nlohmann objects
// dump with sorted keys, and its numbers round-trip, so the reader recomputes the same text),
// then each tensor's name, a NUL and its bytes, in file order. Padding is not covered: it
// carries nothing.
uint64_t ContentChecksum(const nlohmann::json& header, const NamedBytes& tensors) {
  nlohmann::json meta = header;
  for (const char* k : {"checksum", "family", "format_version", "tensors"}) meta.erase(k);
  XXH64_state_t* state = XXH64_createState();
  if (state == nullptr) Fail(ErrorCode::kResourceExhausted, "cannot allocate a hash state");
  XXH64_reset(state, 0);
  const std::string text = meta.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  XXH64_update(state, text.data(), text.size());
  for (const auto& [name, bytes] : tensors) {
    XXH64_update(state, name.data(), name.size() + 1);  // with the terminating NUL
    XXH64_update(state, bytes.data(), bytes.size());
  }
  const uint64_t h = XXH64_digest(state);
  XXH64_freeState(state);
  return h;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A tabular file's records (common/csv.h): quoted fields, CRLF, BOM; a malformed record fails.
class TabularRecords {
 public:
  TabularRecords(std::string_view text, char delim, const std::string& origin)
      : scan_(text, CsvDialect{.delimiter = std::string_view(&delim, 1)}), origin_(origin) {}
  bool Next(CsvRecord* r) {
    if (!scan_.Next(r)) return false;
    if (!r->error.empty())
      Fail(ErrorCode::kInvalidArgument, "{}:{}: {}", origin_, r->line, r->error);
    return true;
  }

 private:
  CsvScanner scan_;
  const std::string& origin_;
};

char DetectDelimiter(std::string_view text) {
  std::string_view first = text.substr(0, text.find('\n'));
  const auto count = [&](char c) { return std::count(first.begin(), first.end(), c); };
  if (count(',') > 0) return ',';
  if (count('\t') > 0) return '\t';
  if (count(';') > 0) return ';';
  return ',';
}

}  // namespace

std::string_view ColumnTypeName(ColumnType t) {
  switch (t) {
    case ColumnType::kNumeric:
      return "numeric";
    case ColumnType::kCategorical:
      return "categorical";
    case ColumnType::kBoolean:
      return "boolean";
  }
  return "?";
}

std::string_view ColumnRoleName(ColumnRole r) {
  switch (r) {
    case ColumnRole::kFeature:
      return "feature";
    case ColumnRole::kLabel:
      return "label";
    case ColumnRole::kTime:
      return "time";
    case ColumnRole::kId:
      return "id";
    case ColumnRole::kIgnored:
      return "ignored";
  }
  return "?";
}

ColumnType ParseColumnType(std::string_view name) {
  if (name == "numeric") return ColumnType::kNumeric;
  if (name == "categorical") return ColumnType::kCategorical;
  if (name == "boolean") return ColumnType::kBoolean;
  Fail(ErrorCode::kInvalidArgument,
       "unknown column type '{}' (known: numeric, categorical, boolean, ignore)", name);
}

bool IsMissingToken(std::string_view field) {
  static const std::set<std::string> kMissing = {"", "na", "n/a", "nan", "null", "none", "?"};
  return kMissing.count(Lower(Trim(field))) > 0;
}

std::optional<bool> ParseBoolToken(std::string_view field) {
  const std::string s = Lower(Trim(field));
  if (s == "true" || s == "yes") return true;
  if (s == "false" || s == "no") return false;
  return std::nullopt;
}

std::optional<double> ParseTabularNumber(std::string_view field) {
  std::string_view s = Trim(field);
  if (s.empty() || s.size() > 64) return std::nullopt;
  // strtod also takes "inf", "nan" and hex; accept only decimal notation.
  for (char c : s) {
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+' ||
          c == 'e' || c == 'E')) {
      return std::nullopt;
    }
  }
  std::string buf(s);
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(buf.c_str(), &end);
  if (end != buf.c_str() + buf.size() || errno == ERANGE || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

nlohmann::json ColumnSchema::ToJson() const {
  nlohmann::json j = {
      {"name", name}, {"type", ColumnTypeName(type)}, {"role", ColumnRoleName(role)}};
  if (type == ColumnType::kCategorical) j["categories"] = categories;
  return j;
}

int TabularSchema::Find(std::string_view name) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

nlohmann::json TabularSchema::ToJson() const {
  nlohmann::json cols = nlohmann::json::array();
  for (const auto& c : columns) cols.push_back(c.ToJson());
  return {{"columns", cols}, {"label", label}, {"time_col", time_col}, {"id_col", id_col}};
}

TabularSchema TabularSchema::FromJson(const nlohmann::json& j) {
  TabularSchema s;
  try {
    s.label = j.at("label").get<std::string>();
    s.time_col = j.value("time_col", "");
    s.id_col = j.value("id_col", "");
    for (const auto& c : j.at("columns")) {
      ColumnSchema cs;
      cs.name = c.at("name").get<std::string>();
      cs.type = ParseColumnType(c.at("type").get<std::string>());
      const std::string role = c.at("role").get<std::string>();
      if (role == "feature")
        cs.role = ColumnRole::kFeature;
      else if (role == "label")
        cs.role = ColumnRole::kLabel;
      else if (role == "time")
        cs.role = ColumnRole::kTime;
      else if (role == "id")
        cs.role = ColumnRole::kId;
      else if (role == "ignored")
        cs.role = ColumnRole::kIgnored;
      else
        throw std::runtime_error("unknown role '" + role + "'");
      if (c.contains("categories")) cs.categories = c["categories"].get<std::vector<std::string>>();
      s.columns.push_back(std::move(cs));
    }
  } catch (const std::exception& e) {
    Fail(ErrorCode::kCorruption, "malformed tabular schema: {}", e.what());
  }
  return s;
}

nlohmann::json ColumnStats::ToJson() const {
  nlohmann::json j = {{"count", count}, {"missing", missing}, {"min", min},          {"max", max},
                      {"mean", mean},   {"std", stddev},      {"distinct", distinct}};
  if (!top.empty()) {
    nlohmann::json t = nlohmann::json::array();
    for (const auto& [k, v] : top) t.push_back({{"value", k}, {"count", v}});
    j["top"] = t;
  }
  return j;
}

const std::vector<float>& TabularData::label() const {
  int i = schema.Find(schema.label);
  if (i < 0) Fail(ErrorCode::kInvalidArgument, "no label column '{}'", schema.label);
  return columns[static_cast<size_t>(i)];
}

std::vector<int> TabularData::FeatureColumns() const {
  std::vector<int> out;
  for (size_t i = 0; i < schema.columns.size(); ++i) {
    if (schema.columns[i].role == ColumnRole::kFeature) out.push_back(static_cast<int>(i));
  }
  return out;
}

std::vector<ColumnStats> TabularData::Stats() const {
  std::vector<ColumnStats> out(schema.columns.size());
  for (size_t c = 0; c < schema.columns.size(); ++c) {
    const auto& col = columns[c];
    ColumnStats& st = out[c];
    if (col.empty()) continue;
    double sum = 0, sum2 = 0;
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    std::unordered_map<float, uint64_t> counts;
    for (float v : col) {
      if (std::isnan(v)) {
        ++st.missing;
        continue;
      }
      ++st.count;
      sum += v;
      sum2 += static_cast<double>(v) * v;
      lo = std::min(lo, static_cast<double>(v));
      hi = std::max(hi, static_cast<double>(v));
      if (counts.size() < 10000 || counts.count(v)) ++counts[v];
    }
    st.distinct = counts.size();
    if (st.count > 0) {
      st.min = lo;
      st.max = hi;
      st.mean = sum / st.count;
      st.stddev = std::sqrt(std::max(0.0, sum2 / st.count - st.mean * st.mean));
    }
    const ColumnSchema& cs = schema.columns[c];
    if (cs.type != ColumnType::kNumeric) {
      std::vector<std::pair<float, uint64_t>> v(counts.begin(), counts.end());
      std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
      });
      for (size_t i = 0; i < v.size() && i < 5; ++i) {
        std::string label;
        if (cs.type == ColumnType::kBoolean) {
          label = v[i].first != 0 ? "true" : "false";
        } else {
          // Compared as a float first: a damaged (unchecked version-1) snapshot may hold any
          // value, and casting one outside size_t's range is undefined (found by the fuzzer).
          const float code = v[i].first;
          label = code >= 0 && code < static_cast<float>(cs.categories.size())
                      ? cs.categories[static_cast<size_t>(code)]
                      : "?";
        }
        st.top.emplace_back(label, v[i].second);
      }
    }
  }
  return out;
}

namespace {

// The stages of ParseTabularCsv, in order.

struct CsvHeader {
  std::vector<std::string> names;
  uint64_t line = 0;
};

// The header row: every column named, storable text, no name twice.
CsvHeader ReadHeader(TabularRecords& scan, const std::string& origin) {
  CsvRecord first;
  if (!scan.Next(&first)) Fail(ErrorCode::kInvalidArgument, "{}: the file is empty", origin);
  CsvHeader h{{first.fields.begin(), first.fields.end()}, first.line};
  std::set<std::string> seen;
  for (size_t i = 0; i < h.names.size(); ++i) {
    const std::string& n = h.names[i];
    if (n.empty()) {
      Fail(ErrorCode::kInvalidArgument, "{}:{}: header column {} has no name", origin, h.line,
           i + 1);
    }
    // Column names and category values are echoed in JSON and tables: UTF-8, no NUL.
    if (const std::string why = StoredTextProblem(n); !why.empty()) {
      Fail(ErrorCode::kInvalidArgument, "{}:{}: the name of header column {} {}", origin, h.line,
           i + 1, why);
    }
    if (!seen.insert(n).second) {
      Fail(ErrorCode::kInvalidArgument, "{}:{}: duplicate column name '{}'", origin, h.line, n);
    }
  }
  return h;
}

// Every column the options name must exist; forced types must be known.
void CheckNamedColumns(const CsvHeader& h, const TabularReadOptions& o, const std::string& origin) {
  const auto require = [&](const std::string& name, const char* what) {
    if (name.empty()) return;
    if (std::find(h.names.begin(), h.names.end(), name) == h.names.end()) {
      Fail(ErrorCode::kInvalidArgument, "{}: {} column '{}' is not in the header (columns: {})",
           origin, what, name, fmt::join(h.names, ", "));
    }
  };
  require(o.label, "label");
  require(o.time_col, "time");
  require(o.id_col, "id");
  for (const auto& d : o.drop) require(d, "dropped");
  for (const auto& [k, v] : o.types) {
    require(k, "--type");
    if (v != "ignore") ParseColumnType(v);
  }
}

// The data rows as text, column by column, with the line each row starts on.
struct RawColumns {
  std::vector<std::vector<std::string>> values;  // [column][row]
  std::vector<uint64_t> lines;                   // [row]
};

RawColumns ReadRows(TabularRecords& scan, const CsvHeader& h, const std::string& origin) {
  const size_t ncols = h.names.size();
  RawColumns raw;
  raw.values.resize(ncols);
  CsvRecord r;
  while (scan.Next(&r)) {
    if (r.fields.size() != ncols) {
      Fail(ErrorCode::kInvalidArgument, "{}:{}: expected {} fields, got {}", origin, r.line, ncols,
           r.fields.size());
    }
    for (size_t c = 0; c < ncols; ++c) {
      if (const std::string why = StoredTextProblem(r.fields[c]); !why.empty()) {
        Fail(ErrorCode::kInvalidArgument, "{}:{}: column '{}' {}", origin, r.line,
             QuoteForMessage(h.names[c], 60), why);
      }
      raw.values[c].emplace_back(r.fields[c]);
    }
    raw.lines.push_back(r.line);
  }
  if (raw.lines.empty())
    Fail(ErrorCode::kInvalidArgument, "{}: no data rows after the header", origin);
  return raw;
}

// The column's role from the options (label, time, id, dropped, else feature).
ColumnRole RoleOf(const std::string& name, const TabularReadOptions& o) {
  const auto forced = o.types.find(name);
  const bool dropped = std::find(o.drop.begin(), o.drop.end(), name) != o.drop.end() ||
                       (forced != o.types.end() && forced->second == "ignore");
  if (name == o.label) {
    if (dropped) {
      Fail(ErrorCode::kInvalidArgument, "the label column '{}' cannot be dropped", name);
    }
    return ColumnRole::kLabel;
  }
  if (name == o.time_col) return ColumnRole::kTime;
  if (name == o.id_col) return ColumnRole::kId;
  return dropped ? ColumnRole::kIgnored : ColumnRole::kFeature;
}

// The forced type, or the narrowest of numeric, boolean, categorical that every non-missing
// value fits.
ColumnType TypeOf(const std::string& name, const std::vector<std::string>& vals,
                  const TabularReadOptions& o) {
  if (const auto forced = o.types.find(name); forced != o.types.end()) {
    return ParseColumnType(forced->second);
  }
  bool numeric = true, boolean = true;
  for (const auto& v : vals) {
    if (IsMissingToken(v)) continue;
    if (numeric && !ParseTabularNumber(v)) numeric = false;
    if (boolean && !ParseBoolToken(v)) boolean = false;
    if (!numeric && !boolean) break;
  }
  return numeric ? ColumnType::kNumeric
                 : (boolean ? ColumnType::kBoolean : ColumnType::kCategorical);
}

// Parses one column's text into `out` (and `times` for the time column) by its role and type;
// sets the categories of a categorical column.
void ParseColumn(ColumnSchema& cs, const std::vector<std::string>& vals,
                 const std::vector<uint64_t>& lines, const std::string& origin,
                 std::vector<float>* out, std::vector<int64_t>* times) {
  const size_t n = vals.size();
  const auto where = [&](size_t i) {
    return fmt::format("{}:{}: column '{}'", origin, lines[i], cs.name);
  };
  if (cs.role == ColumnRole::kTime) {
    times->resize(n);
    out->resize(n);
    for (size_t i = 0; i < n; ++i) {
      auto t = ParseTime(vals[i]);
      if (!t) {
        Fail(ErrorCode::kInvalidArgument,
             "{}: '{}' is not a time (Unix seconds or ISO-8601 expected)", where(i),
             QuoteForMessage(vals[i], 60));
      }
      (*times)[i] = *t;
      (*out)[i] = static_cast<float>(*t);
    }
    return;
  }
  out->resize(n, kNaN);
  if (cs.type == ColumnType::kNumeric) {
    for (size_t i = 0; i < n; ++i) {
      if (IsMissingToken(vals[i])) continue;
      auto x = ParseTabularNumber(vals[i]);
      if (!x) {
        Fail(ErrorCode::kInvalidArgument, "{}: '{}' is not a number", where(i),
             QuoteForMessage(vals[i], 60));
      }
      (*out)[i] = static_cast<float>(*x);
    }
  } else if (cs.type == ColumnType::kBoolean) {
    for (size_t i = 0; i < n; ++i) {
      if (IsMissingToken(vals[i])) continue;
      auto b = ParseBoolToken(vals[i]);
      if (!b) {
        auto x = ParseTabularNumber(vals[i]);
        if (x && (*x == 0 || *x == 1)) b = *x == 1;
      }
      if (!b) {
        Fail(ErrorCode::kInvalidArgument, "{}: '{}' is not a boolean (true/false/yes/no/0/1)",
             where(i), QuoteForMessage(vals[i], 60));
      }
      (*out)[i] = *b ? 1.0f : 0.0f;
    }
  } else {
    std::set<std::string> cats;
    for (const auto& v : vals) {
      if (!IsMissingToken(v)) cats.insert(v);
    }
    cs.categories.assign(cats.begin(), cats.end());
    std::unordered_map<std::string_view, float> code;
    for (size_t k = 0; k < cs.categories.size(); ++k) {
      code[cs.categories[k]] = static_cast<float>(k);
    }
    for (size_t i = 0; i < n; ++i) {
      if (!IsMissingToken(vals[i])) (*out)[i] = code.at(vals[i]);
    }
  }
}

// The label must be present in every row, and some feature must be left.
void CheckComplete(const TabularData& d, const std::vector<uint64_t>& lines,
                   const TabularReadOptions& o, const std::string& origin) {
  if (!o.label.empty()) {
    const auto& lab = d.label();
    for (size_t i = 0; i < d.rows; ++i) {
      if (std::isnan(lab[i])) {
        Fail(ErrorCode::kInvalidArgument, "{}:{}: the label '{}' is missing", origin, lines[i],
             o.label);
      }
    }
  }
  if (d.FeatureColumns().empty()) {
    Fail(ErrorCode::kInvalidArgument, "{}: no feature columns left", origin);
  }
}

}  // namespace

TabularData ParseTabularCsv(std::string_view text, const std::string& origin,
                            const TabularReadOptions& o) {
  if (o.label.empty() && o.require_label)
    Fail(ErrorCode::kInvalidArgument, "a tabular dataset needs --label COLUMN");
  TabularRecords scan(text, o.delimiter ? *o.delimiter : DetectDelimiter(text), origin);
  const CsvHeader header = ReadHeader(scan, origin);
  CheckNamedColumns(header, o, origin);
  const RawColumns raw = ReadRows(scan, header, origin);
  TabularData d;
  d.rows = raw.lines.size();
  d.source = origin;
  d.schema.label = o.label;
  d.schema.time_col = o.time_col;
  d.schema.id_col = o.id_col;
  d.columns.resize(header.names.size());
  for (size_t c = 0; c < header.names.size(); ++c) {
    ColumnSchema cs;
    cs.name = header.names[c];
    cs.role = RoleOf(cs.name, o);
    const bool typed = cs.role == ColumnRole::kFeature || cs.role == ColumnRole::kLabel;
    if (typed) cs.type = TypeOf(cs.name, raw.values[c], o);
    if (typed || cs.role == ColumnRole::kTime) {
      ParseColumn(cs, raw.values[c], raw.lines, origin, &d.columns[c], &d.times);
    }
    d.schema.columns.push_back(std::move(cs));
  }
  CheckComplete(d, raw.lines, o, origin);
  return d;
}

std::vector<std::string> ParseTabularCsvHeader(std::string_view text, const std::string& origin,
                                               std::optional<char> delimiter) {
  TabularRecords scan(text, delimiter ? *delimiter : DetectDelimiter(text), origin);
  CsvRecord header;
  if (!scan.Next(&header)) Fail(ErrorCode::kInvalidArgument, "{}: the file is empty", origin);
  return {header.fields.begin(), header.fields.end()};
}

TabularData ReadTabularCsv(const std::string& path, const TabularReadOptions& options, Env* env) {
  if (env == nullptr) env = Env::Default();
  std::string text = env->ReadFile(path);
  return ParseTabularCsv(text, path, options);
}

std::string SaveTabularSnapshot(const TabularData& d, const std::string& path, Env* env) {
  nlohmann::json stats = nlohmann::json::array();
  for (const auto& s : d.Stats()) stats.push_back(s.ToJson());
  nlohmann::json header = {{"tabular_version", kTabularVersion},
                           {"schema", d.schema.ToJson()},
                           {"rows", d.rows},
                           {"source", d.source},
                           {"stats", stats}};
  NamedBytes tensors;
  for (size_t c = 0; c < d.columns.size(); ++c) {
    if (d.columns[c].empty()) continue;
    tensors.emplace_back(fmt::format("col.{}", c), AsBytes(std::span<const float>(d.columns[c])));
  }
  if (!d.times.empty()) tensors.emplace_back("time", AsBytes(std::span<const int64_t>(d.times)));
  header["checksum"] = {{"algorithm", "xxh64"},
                        {"value", fmt::format("{:016x}", ContentChecksum(header, tensors))}};
  ArtifactWriter w(kSnapshotFamily, header);
  for (size_t c = 0; c < d.columns.size(); ++c) {
    if (d.columns[c].empty()) continue;
    w.Add<float>(fmt::format("col.{}", c), std::span<const float>(d.columns[c]));
  }
  if (!d.times.empty()) w.Add<int64_t>("time", std::span<const int64_t>(d.times));
  return w.Write(path, env);
}

TabularData LoadTabularSnapshot(const std::string& path, Env* env) {
  auto r = ArtifactReader::Open(path, env != nullptr ? env : Env::Default());
  const auto corrupt = [&](const std::string& why) {
    Fail(ErrorCode::kCorruption, "tabular snapshot '{}' is corrupt: {}", path, why);
  };
  if (r->family() != kSnapshotFamily) {
    Fail(ErrorCode::kCorruption, "'{}' is a {} file, not a tabular snapshot", path, r->family());
  }
  const auto& h = r->header();
  TabularData d;
  uint32_t version = 0;
  try {
    version = h.at("tabular_version").get<uint32_t>();
    if (version == 0) corrupt("tabular_version 0 is invalid");
    if (version > kTabularVersion) {
      Fail(ErrorCode::kUnimplemented,
           "'{}': tabular snapshot version {} is newer than this build ({}); upgrade Marquee to "
           "open it",
           path, version, kTabularVersion);
    }
    d.schema = TabularSchema::FromJson(h.at("schema"));
    d.rows = h.at("rows").get<uint64_t>();
    d.source = h.value("source", "");
  } catch (const nlohmann::json::exception& e) {
    corrupt(fmt::format("damaged header: {}", e.what()));
  }
  // Every tensor must be one this format defines; collect them in file order for the checksum.
  NamedBytes tensors;
  try {
    for (const auto& t : h.at("tensors")) {
      const std::string name = t.at("name").get<std::string>();
      if (name == "time") {
        tensors.emplace_back(name, AsBytes(r->Get<int64_t>(name)));
        continue;
      }
      size_t c = 0;
      const auto [end, ec] = std::from_chars(name.data() + std::min<size_t>(4, name.size()),
                                             name.data() + name.size(), c);
      if (name.rfind("col.", 0) != 0 || ec != std::errc() || end != name.data() + name.size() ||
          c >= d.schema.columns.size()) {
        corrupt(fmt::format("unexpected tensor '{}'", name));
      }
      tensors.emplace_back(name, AsBytes(r->Get<float>(name)));
    }
  } catch (const nlohmann::json::exception& e) {
    corrupt(fmt::format("damaged tensor table: {}", e.what()));
  }
  if (version >= kFirstChecksummedVersion) {
    const auto it = h.find("checksum");
    if (it == h.end() || !it->is_object() || it->value("algorithm", "") != "xxh64" ||
        !it->contains("value") || !(*it)["value"].is_string()) {
      corrupt("the header has no xxh64 checksum");
    }
    const std::string stored = (*it)["value"].get<std::string>();
    const std::string computed = fmt::format("{:016x}", ContentChecksum(h, tensors));
    if (stored != computed) {
      corrupt(fmt::format("checksum mismatch (stored {}, computed {})", stored, computed));
    }
  } else if (h.contains("checksum")) {
    // Only a damaged version field makes a checksummed file claim version 1.
    corrupt(fmt::format("a version {} header with a checksum", version));
  }
  d.columns.resize(d.schema.columns.size());
  for (size_t c = 0; c < d.columns.size(); ++c) {
    const std::string name = fmt::format("col.{}", c);
    const ColumnRole role = d.schema.columns[c].role;
    if (!r->Has(name)) {
      if (role == ColumnRole::kId || role == ColumnRole::kIgnored) continue;
      corrupt(fmt::format("column {} ('{}') has no data", c, d.schema.columns[c].name));
    }
    d.columns[c] = r->GetVector<float>(name);
    if (d.columns[c].size() != d.rows) {
      corrupt(fmt::format("column {} has {} values for {} rows", c, d.columns[c].size(), d.rows));
    }
  }
  if (r->Has("time")) {
    d.times = r->GetVector<int64_t>("time");
    if (d.times.size() != d.rows) {
      corrupt(fmt::format("the time column has {} values for {} rows", d.times.size(), d.rows));
    }
  }
  return d;
}

nlohmann::json TabularEntry::ToJson() const {
  return {{"name", name},
          {"id", id},
          {"path", path},
          {"source", source},
          {"created_at", created_at},
          {"rows", rows},
          {"columns", columns},
          {"history", history},
          {"kind", "tabular"}};
}

void TabularCatalogTraits::Describe(const TabularData& d, TabularEntry* e) {
  e->source = d.source;
  e->rows = d.rows;
  e->columns = static_cast<uint32_t>(d.schema.columns.size());
}

void TabularCatalogTraits::Read(const nlohmann::json& j, TabularEntry* e) {
  e->rows = j.value("rows", uint64_t{0});
  e->columns = j.value("columns", 0u);
}

}  // namespace marquee

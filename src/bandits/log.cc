#include "bandits/log.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <unordered_map>

#include "bandits/features.h"
#include "bandits/typed_log.h"
#include "common/csv.h"
#include "common/sha256.h"
#include "common/text.h"
#include "common/time.h"
#include "data/catalog.h"
#include "data/readers.h"
#include "marquee/error.h"
#include "models/artifact.h"

namespace marquee {
namespace {

constexpr uint32_t kLogFormatVersion = 2;  // 1: contexts as JSON lines (still read)
constexpr const char* kLogFamily = "bandit-log";

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view l = text.substr(pos, end - pos);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    out.push_back(l);
    pos = end + 1;
  }
  return out;
}

std::optional<double> ParseDouble(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.empty()) return std::nullopt;
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// A number that is a whole value of int64's range, else nullopt (casting any other double to an
// integer is undefined behaviour; damaged files found by the fuzzer carry such numbers).
std::optional<int64_t> WholeNumber(std::optional<double> v) {
  if (!v || !(std::fabs(*v) < 9.2e18) || *v != std::floor(*v)) return std::nullopt;
  return static_cast<int64_t>(*v);
}

// "2019-11-24 00:03:13.442536+00:00" (or ...T...Z, or Unix seconds) -> Unix seconds.
int64_t ParseTimestamp(std::string_view s) { return ParseTime(s).value_or(kNoTime); }

// Ids, feature names and string values are stored and echoed in JSON: refuse text that is not
// UTF-8 or holds a NUL, naming `where` ("file:line: column 'x'").
void CheckStoredText(std::string_view text, const std::string& where) {
  if (const std::string why = StoredTextProblem(text); !why.empty()) {
    Fail(ErrorCode::kInvalidArgument, "{} {}", where, why);
  }
}

// An Open Bandit Dataset CSV file (common/csv.h: RFC 4180 quoting; blanks around fields are
// kept, as the files have none): the header, then each record with every field checked to be
// storable text and the field count to match the header's.
class ObdCsv {
 public:
  ObdCsv(std::string_view text, const std::string& file)
      : scan_(text, CsvDialect{.trim = false}), file_(file) {
    CsvRecord r;
    if (!scan_.Next(&r)) Fail(ErrorCode::kInvalidArgument, "{}: empty file", file_);
    Check(r, true);
    header_.assign(r.fields.begin(), r.fields.end());
  }
  const std::vector<std::string>& header() const { return header_; }
  // The column named `name`; fails when the header has none.
  size_t Column(std::string_view name) const {
    for (size_t i = 0; i < header_.size(); ++i) {
      if (header_[i] == name) return i;
    }
    Fail(ErrorCode::kInvalidArgument, "{}: no column '{}' (is this an Open Bandit Dataset file?)",
         file_, name);
  }
  bool Next(CsvRecord* r) {
    if (!scan_.Next(r)) return false;
    Check(*r, false);
    if (r->fields.size() != header_.size()) {
      Fail(ErrorCode::kInvalidArgument, "{}:{}: {} fields, the header has {}", file_, r->line,
           r->fields.size(), header_.size());
    }
    return true;
  }

 private:
  // Ids, feature names and string values are stored and echoed in JSON: refuse text that is not
  // UTF-8 or holds a NUL, naming the field (the column, once the header is known).
  void Check(const CsvRecord& r, bool is_header) const {
    if (!r.error.empty()) Fail(ErrorCode::kInvalidArgument, "{}:{}: {}", file_, r.line, r.error);
    for (size_t c = 0; c < r.fields.size(); ++c) {
      if (StoredTextProblem(r.fields[c]).empty()) continue;
      CheckStoredText(r.fields[c], is_header || c >= header_.size()
                                       ? fmt::format("{}:{}: field {}", file_, r.line, c + 1)
                                       : fmt::format("{}:{}: column '{}'", file_, r.line,
                                                     QuoteForMessage(header_[c], 60)));
    }
  }

  CsvScanner scan_;
  const std::string& file_;
  std::vector<std::string> header_;
};

}  // namespace

FeatureValue FeatureValueFromJson(const nlohmann::json& v, const std::string& where) {
  if (v.is_number()) {
    const double d = v.get<double>();
    if (!std::isfinite(d)) Fail(ErrorCode::kInvalidArgument, "{}: not a finite number", where);
    return d;
  }
  if (v.is_boolean()) return v.get<bool>() ? 1.0 : 0.0;
  if (v.is_string()) return v.get<std::string>();
  Fail(ErrorCode::kInvalidArgument, "{}: a feature must be a number, string or boolean, got {}",
       where, v.dump());
}

namespace {

nlohmann::json PairsJson(const FeatureMap& m) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& [k, v] : m) {
    if (const double* d = std::get_if<double>(&v)) {
      a.push_back({k, *d});
    } else {
      a.push_back({k, std::get<std::string>(v)});
    }
  }
  return a;
}

FeatureMap PairsFromJson(const nlohmann::json& a) {
  FeatureMap m;
  m.reserve(a.size());
  for (const auto& p : a) {
    const std::string k = p.at(0).get<std::string>();
    if (p.at(1).is_string()) {
      m.emplace_back(k, p.at(1).get<std::string>());
    } else {
      m.emplace_back(k, p.at(1).get<double>());
    }
  }
  return m;
}

}  // namespace

FeatureMap FeatureMapFromJson(const nlohmann::json& j, const std::string& where) {
  FeatureMap m;
  if (j.is_null()) return m;
  if (!j.is_object()) Fail(ErrorCode::kInvalidArgument, "{}: must be an object", where);
  m.reserve(j.size());
  for (const auto& [k, v] : j.items()) {
    const std::string at = where + "." + QuoteForMessage(k, 60);
    CheckStoredText(k, at + ": the name");
    if (v.is_string()) CheckStoredText(v.get_ref<const std::string&>(), at);
    m.emplace_back(k, FeatureValueFromJson(v, at));
  }
  return m;
}

nlohmann::json FeatureMapToJson(const FeatureMap& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : m) {
    if (const double* d = std::get_if<double>(&v)) {
      j[k] = *d;
    } else {
      j[k] = std::get<std::string>(v);
    }
  }
  return j;
}

// --- BanditLog

size_t BanditLog::size() const { return lazy != nullptr ? lazy_count : rows.size(); }

BanditLog::RowRef BanditLog::row(size_t i) const {
  if (lazy == nullptr) {
    const LoggedDecision& r = rows[i];
    return {r.action_set, r.chosen, r.propensity, r.reward, r.position, r.ts, r.typed_row};
  }
  const size_t k = lazy_index != nullptr ? (*lazy_index)[i] : lazy_first + i;
  const RowColumns& c = lazy->columns;
  // Positions were checked to fit int32 when the log was opened.
  return {c.action_set[k],
          c.chosen[k],
          c.propensity[k],
          c.reward[k],
          static_cast<int32_t>(c.position[k]),
          c.ts[k],
          k};
}

const std::string* BanditLog::user(size_t i) const {
  if (lazy == nullptr) return rows[i].user ? &*rows[i].user : nullptr;
  const RowColumns& c = lazy->columns;
  if (c.user.empty()) return nullptr;
  const uint32_t u = c.user[lazy_index != nullptr ? (*lazy_index)[i] : lazy_first + i];
  return u == BanditLogBuilder::kNoUser ? nullptr : &lazy->users[u];
}

namespace {

// A log sharing everything of `log` but its rows.
BanditLog SameLogNoRows(const BanditLog& log) {
  BanditLog out;
  out.action_sets = log.action_sets;
  out.source = log.source;
  out.format = log.format;
  out.typed = log.typed;  // rows keep their typed contexts
  out.lazy = log.lazy;
  return out;
}

}  // namespace

BanditLog BanditLog::Slice(size_t begin, size_t end) const {
  if (begin > end || end > size()) {
    Fail(ErrorCode::kInvalidArgument, "rows [{}, {}) are not inside the log's {} rows", begin, end,
         size());
  }
  BanditLog out = SameLogNoRows(*this);
  if (lazy == nullptr) {
    out.rows.assign(rows.begin() + static_cast<ptrdiff_t>(begin),
                    rows.begin() + static_cast<ptrdiff_t>(end));
    return out;
  }
  if (lazy_index == nullptr) {
    out.lazy_first = lazy_first + begin;
  } else {
    out.lazy_index = std::make_shared<const std::vector<uint32_t>>(
        lazy_index->begin() + static_cast<ptrdiff_t>(begin),
        lazy_index->begin() + static_cast<ptrdiff_t>(end));
  }
  out.lazy_count = end - begin;
  return out;
}

BanditLog BanditLog::Select(const std::vector<size_t>& index) const {
  const size_t n = size();
  for (size_t j = 0; j < index.size(); ++j) {
    if (index[j] >= n || (j > 0 && index[j] <= index[j - 1])) {
      Fail(ErrorCode::kInvalidArgument,
           "row selection: entry {} ({}) is not ascending below the log's {} rows", j, index[j], n);
    }
  }
  BanditLog out = SameLogNoRows(*this);
  if (lazy == nullptr) {
    out.rows.reserve(index.size());
    for (size_t i : index) out.rows.push_back(rows[i]);
    return out;
  }
  auto idx = std::make_shared<std::vector<uint32_t>>(index.size());
  for (size_t j = 0; j < index.size(); ++j) {
    (*idx)[j] = static_cast<uint32_t>(lazy_index != nullptr ? (*lazy_index)[index[j]]
                                                            : lazy_first + index[j]);
  }
  out.lazy_index = std::move(idx);
  out.lazy_count = index.size();
  return out;
}

void BanditLog::ReleasePages(size_t begin, size_t end) const {
  end = std::min(end, size());
  if (begin >= end) return;
  // The column rows of [begin, end): a range (the selection is ascending).
  const uint64_t first = row(begin).typed_row, last = row(end - 1).typed_row;
  if (first == LoggedDecision::kNoTypedRow || last == LoggedDecision::kNoTypedRow || last < first) {
    return;
  }
  if (lazy != nullptr) lazy->Release(first, last + 1);
  if (typed != nullptr) typed->Release(first, last + 1);
}

bool BanditLog::has_positions() const {
  if (lazy == nullptr) {
    return std::any_of(rows.begin(), rows.end(), [](const auto& r) { return r.position >= 0; });
  }
  for (size_t i = 0; i < size(); ++i) {
    if (row(i).position >= 0) return true;
  }
  return false;
}

FeatureMap BanditLog::Context(size_t i) const {
  const RowRef r = row(i);
  if (r.typed_row == LoggedDecision::kNoTypedRow) return rows[i].context;
  if (typed == nullptr || r.typed_row >= typed->rows()) {
    Fail(ErrorCode::kInternal,
         "row {}: its typed context is missing (a copy of the log dropped it)", i);
  }
  return typed->Context(r.typed_row);
}

DecisionInput BanditLog::Input(size_t i) const {
  DecisionInput in;
  if (const std::string* u = user(i)) in.user = *u;
  in.context = Context(i);
  in.actions = action_sets[row(i).action_set];
  return in;
}

const KeyedInput& BanditLog::Keyed(size_t i, KeyedScratch* scratch) const {
  const RowRef r = row(i);
  if (r.typed_row == LoggedDecision::kNoTypedRow || typed == nullptr ||
      r.action_set >= typed->set_features.size()) {
    if (r.typed_row == LoggedDecision::kNoTypedRow) {
      return scratch->Key(rows[i].context, action_sets[r.action_set]);
    }
    return scratch->Key(Context(i), action_sets[r.action_set]);
  }
  // Parse-free: the context's keys come from the dictionary, the actions' from the keyed sets.
  scratch->context_.clear();
  typed->KeyContext(r.typed_row, &scratch->context_);
  const auto& feats = typed->set_features[r.action_set];
  const auto& begin = typed->set_begin[r.action_set];
  const auto& id_keys = typed->set_id_keys[r.action_set];
  const auto& set = action_sets[r.action_set];
  KeyedInput& in = scratch->input_;
  in.context = scratch->context_;
  in.actions.clear();
  for (size_t a = 0; a < set.size(); ++a) {
    in.actions.push_back(
        {set[a].id, id_keys[a],
         std::span<const KeyedFeature>(feats.data() + begin[a], begin[a + 1] - begin[a])});
  }
  return in;
}

nlohmann::json BanditLog::Stats() const {
  LogStatsAccumulator acc;
  for (size_t i = 0; i < size(); ++i) {
    const RowRef r = row(i);
    acc.Add(r.reward, r.propensity, r.position, r.ts);
    if (lazy != nullptr && (i + 1) % kReleaseRows == 0) ReleasePages(i + 1 - kReleaseRows, i + 1);
  }
  return acc.ToJson(action_sets);
}

void BanditLog::Validate() const {
  for (size_t s = 0; s < action_sets.size(); ++s) {
    DecisionInput in;
    in.actions = action_sets[s];
    try {
      ValidateInput(in);
    } catch (const Error& e) {
      Fail(ErrorCode::kInvalidArgument, "action set {}: {}", s, e.what());
    }
  }
  const size_t n = size();
  for (size_t i = 0; i < n; ++i) {
    const RowRef r = row(i);
    if (r.action_set >= action_sets.size()) {
      Fail(ErrorCode::kInvalidArgument, "row {}: action set {} does not exist", i, r.action_set);
    }
    if (r.chosen >= action_sets[r.action_set].size()) {
      Fail(ErrorCode::kInvalidArgument, "row {}: chosen: index {} outside the {} actions", i,
           r.chosen, action_sets[r.action_set].size());
    }
    if (!(r.propensity > 0.0 && r.propensity <= 1.0)) {
      Fail(ErrorCode::kInvalidArgument, "row {}: probability must be in (0, 1], got {}", i,
           r.propensity);
    }
    if (!std::isfinite(r.reward)) {
      Fail(ErrorCode::kInvalidArgument, "row {}: reward is not a finite number", i);
    }
    if (lazy != nullptr && (i + 1) % kReleaseRows == 0) ReleasePages(i + 1 - kReleaseRows, i + 1);
  }
}

// --- readers

void ReadObdInto(const std::string& campaign_csv, Env* env, BanditLogBuilder* b) {
  env = env != nullptr ? env : Env::Default();
  const std::string item_path =
      (std::filesystem::path(campaign_csv).parent_path() / "item_context.csv").string();
  if (!env->FileExists(campaign_csv)) {
    Fail(ErrorCode::kNotFound, "no such file: {}", campaign_csv);
  }
  if (!env->FileExists(item_path)) {
    Fail(ErrorCode::kNotFound, "{}: item_context.csv is missing beside it ({})", campaign_csv,
         item_path);
  }

  // Items: every row offers all of them, in item_id order.
  const std::string items_text = env->ReadFile(item_path);
  ObdCsv icsv(items_text, item_path);
  const std::vector<std::string>& ih = icsv.header();
  const size_t id_col = icsv.Column("item_id");
  std::map<long, Action> items;
  for (CsvRecord f; icsv.Next(&f);) {
    auto id = WholeNumber(ParseDouble(f.fields[id_col]));
    if (!id) {
      Fail(ErrorCode::kInvalidArgument, "{}:{}: item_id is not an integer", item_path, f.line);
    }
    Action a;
    a.id = std::to_string(*id);
    for (size_t c = 0; c < ih.size(); ++c) {
      if (ih[c].rfind("item_feature_", 0) != 0) continue;
      if (auto v = ParseDouble(f.fields[c])) {
        a.features.emplace_back(ih[c], *v);
      } else {
        a.features.emplace_back(ih[c], std::string(f.fields[c]));
      }
    }
    items[static_cast<long>(*id)] = std::move(a);
  }
  if (items.empty()) Fail(ErrorCode::kInvalidArgument, "{}: no items", item_path);
  std::unordered_map<long, uint32_t> item_index;
  std::vector<Action> offered;
  for (auto& [id, a] : items) {
    item_index[id] = static_cast<uint32_t>(offered.size());
    offered.push_back(std::move(a));
  }
  const uint32_t set = b->ActionSet(std::move(offered));

  const std::string text = env->ReadFile(campaign_csv);
  ObdCsv csv(text, campaign_csv);
  const std::vector<std::string>& names = csv.header();
  const size_t c_item = csv.Column("item_id");
  const size_t c_pos = csv.Column("position");
  const size_t c_click = csv.Column("click");
  const size_t c_prop = csv.Column("propensity_score");
  const size_t c_ts = csv.Column("timestamp");
  std::vector<size_t> user_cols, aff_cols;
  for (size_t c = 0; c < names.size(); ++c) {
    if (names[c].rfind("user_feature_", 0) == 0) user_cols.push_back(c);
    if (names[c].rfind("user-item_affinity_", 0) == 0) aff_cols.push_back(c);
  }
  std::vector<BanditLogBuilder::Feature> context;
  for (CsvRecord rec; csv.Next(&rec);) {
    const std::vector<std::string_view>& f = rec.fields;
    auto where = [&](const char* field) {
      return fmt::format("{}:{}: {}", campaign_csv, rec.line, field);
    };
    LoggedDecision r;
    auto item = WholeNumber(ParseDouble(f[c_item]));
    if (!item) Fail(ErrorCode::kInvalidArgument, "{} is not an integer", where("item_id"));
    auto it = item_index.find(static_cast<long>(*item));
    if (it == item_index.end()) {
      Fail(ErrorCode::kInvalidArgument, "{} {} is not in item_context.csv", where("item_id"),
           f[c_item]);
    }
    r.chosen = it->second;
    // A whole number of int32's range (casting any other double is undefined behaviour).
    auto pos = WholeNumber(ParseDouble(f[c_pos]));
    if (!pos || *pos < 0 || *pos > std::numeric_limits<int32_t>::max()) {
      Fail(ErrorCode::kInvalidArgument, "{} must be a non-negative integer below 2^31",
           where("position"));
    }
    r.position = static_cast<int32_t>(*pos);
    auto click = ParseDouble(f[c_click]);
    if (!click) Fail(ErrorCode::kInvalidArgument, "{} is not a number", where("click"));
    r.reward = *click;
    auto prop = ParseDouble(f[c_prop]);
    if (!prop || !(*prop > 0.0 && *prop <= 1.0)) {
      Fail(ErrorCode::kInvalidArgument, "{} must be a number in (0, 1], got '{}'",
           where("propensity_score"), f[c_prop]);
    }
    r.propensity = *prop;
    r.ts = ParseTimestamp(f[c_ts]);
    context.clear();
    for (size_t c : user_cols) {
      context.push_back({b->Key(names[c], true, f[c], where("context")), 1.0});
    }
    for (size_t c : aff_cols) {
      auto v = ParseDouble(f[c]);
      if (!v || !std::isfinite(*v)) {
        Fail(ErrorCode::kInvalidArgument, "{} is not a number", where(names[c].c_str()));
      }
      // zeros hash to nothing anyway
      if (*v != 0.0) context.push_back({b->Key(names[c], false, {}, where("context")), *v});
    }
    b->AddRow(set, r.chosen, r.propensity, r.reward, r.position, r.ts, BanditLogBuilder::kNoUser,
              context);
  }
  if (b->rows() == 0) Fail(ErrorCode::kInvalidArgument, "{}: no rows", campaign_csv);
}

std::string AbsolutePath(const std::string& path) {
  return std::filesystem::absolute(path).lexically_normal().string();
}

BanditLog ReadObd(const std::string& campaign_csv, Env* env) {
  BanditLogBuilder b("obd", AbsolutePath(campaign_csv));
  ReadObdInto(campaign_csv, env, &b);
  return b.Finish();
}

// --- snapshots

std::string SaveBanditLog(const BanditLog& log, const std::string& path, Env* env) {
  BanditLogBuilder b(log.format, log.source);
  std::vector<uint32_t> set_map(log.action_sets.size());
  for (size_t s = 0; s < log.action_sets.size(); ++s) set_map[s] = b.ActionSet(log.action_sets[s]);
  constexpr uint32_t kUnmapped = UINT32_MAX;
  std::vector<uint32_t> key_map(log.typed ? log.typed->keys.size() : 0, kUnmapped);
  std::vector<BanditLogBuilder::Feature> feats;
  for (size_t i = 0; i < log.size(); ++i) {
    const BanditLog::RowRef r = log.row(i);
    if (r.action_set >= set_map.size()) {
      Fail(ErrorCode::kInvalidArgument, "row {}: action set {} does not exist", i, r.action_set);
    }
    const std::string where = fmt::format("row {}: context", i);
    const std::string* user = log.user(i);
    if (r.typed_row == LoggedDecision::kNoTypedRow) {
      b.AddRow(set_map[r.action_set], r.chosen, r.propensity, r.reward, r.position, r.ts,
               user != nullptr ? std::optional<std::string_view>(*user) : std::nullopt,
               log.rows[i].context, where);
      continue;
    }
    if (log.typed == nullptr || r.typed_row >= log.typed->rows()) log.Context(i);  // kInternal
    const auto ids = log.typed->ids(r.typed_row);
    const auto vals = log.typed->values(r.typed_row);
    feats.clear();
    for (size_t j = 0; j < ids.size(); ++j) {
      uint32_t& m = key_map[ids[j]];
      if (m == kUnmapped) {
        const ContextKey& k = log.typed->keys[ids[j]];
        m = b.Key(k.name, k.categorical, k.category, where);
      }
      feats.push_back({m, vals[j]});
    }
    b.AddRow(set_map[r.action_set], r.chosen, r.propensity, r.reward, r.position, r.ts,
             user != nullptr ? b.User(*user, where) : BanditLogBuilder::kNoUser, feats);
  }
  return b.WriteSnapshot(path, env != nullptr ? env : Env::Default());
}

std::string SaveBanditLogV1(const BanditLog& log, const std::string& path, Env* env) {
  nlohmann::json sets = nlohmann::json::array();
  for (const auto& s : log.action_sets) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& a : s) arr.push_back({{"id", a.id}, {"features", PairsJson(a.features)}});
    sets.push_back(arr);
  }
  ArtifactWriter w(kLogFamily, {{"bandit_log_version", 1},
                                {"rows", log.size()},
                                {"source", log.source},
                                {"format", log.format},
                                {"action_sets", sets},
                                {"stats", log.Stats()}});
  const size_t n = log.size();
  std::vector<uint32_t> set(n), chosen(n);
  std::vector<double> prop(n), reward(n);
  std::vector<int64_t> pos(n), ts(n);
  std::string contexts;  // one JSON line per row: {"c": [[name, value], ...], "u": user?}
  for (size_t i = 0; i < n; ++i) {
    const BanditLog::RowRef r = log.row(i);
    set[i] = r.action_set;
    chosen[i] = r.chosen;
    prop[i] = r.propensity;
    reward[i] = r.reward;
    pos[i] = r.position;
    ts[i] = r.ts;
    nlohmann::json c = {{"c", PairsJson(log.Context(i))}};
    if (const std::string* u = log.user(i)) c["u"] = *u;
    contexts += c.dump();
    contexts += '\n';
  }
  w.Add<uint32_t>("action_set", std::span<const uint32_t>(set));
  w.Add<uint32_t>("chosen", std::span<const uint32_t>(chosen));
  w.Add<double>("propensity", std::span<const double>(prop));
  w.Add<double>("reward", std::span<const double>(reward));
  w.Add<int64_t>("position", std::span<const int64_t>(pos));
  w.Add<int64_t>("ts", std::span<const int64_t>(ts));
  w.Add<uint8_t>(
      "contexts",
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(contexts.data()), contexts.size()));
  return w.Write(path, env != nullptr ? env : Env::Default());
}

namespace {

BanditLog LoadBanditLogIn(const std::string& path, Env* env, bool lazy) {
  std::shared_ptr<const ArtifactReader> r =
      ArtifactReader::Open(path, env != nullptr ? env : Env::Default());
  if (r->family() != kLogFamily) {
    Fail(ErrorCode::kCorruption, "'{}' is a {} file, not a bandit log", path, r->family());
  }
  uint32_t version = 0;
  try {
    version = r->header().at("bandit_log_version").get<uint32_t>();
  } catch (const nlohmann::json::exception& e) {
    Fail(ErrorCode::kCorruption, "'{}': damaged bandit log: {}", path, e.what());
  }
  if (version > kLogFormatVersion) {
    Fail(ErrorCode::kUnimplemented, "'{}': bandit log version {} is newer than this build ({})",
         path, version, kLogFormatVersion);
  }
  if (version == 2) {
    BanditLog log = LoadBanditLogV2(r, path, lazy);
    try {
      log.Validate();
    } catch (const Error& e) {
      Fail(ErrorCode::kCorruption, "'{}': {}", path, e.what());
    }
    return log;
  }
  BanditLog log;
  size_t n = 0;
  try {
    const auto& h = r->header();
    n = h.at("rows").get<size_t>();
    log.source = h.value("source", "");
    log.format = h.value("format", "");
    for (const auto& s : h.at("action_sets")) {
      std::vector<Action> set;
      for (const auto& a : s) {
        set.push_back({a.at("id").get<std::string>(), PairsFromJson(a.at("features"))});
      }
      log.action_sets.push_back(std::move(set));
    }
    FillRows({r->Get<uint32_t>("action_set"),
              r->Get<uint32_t>("chosen"),
              r->Get<double>("propensity"),
              r->Get<double>("reward"),
              r->Get<int64_t>("position"),
              r->Get<int64_t>("ts"),
              {}},
             n, {}, false, path, &log);
    auto ctx = r->Get<uint8_t>("contexts");
    auto lines = Lines(std::string_view(reinterpret_cast<const char*>(ctx.data()), ctx.size()));
    if (lines.size() != n) {
      Fail(ErrorCode::kCorruption, "'{}': {} contexts for {} rows", path, lines.size(), n);
    }
    for (size_t i = 0; i < n; ++i) {
      nlohmann::json c = nlohmann::json::parse(lines[i]);
      log.rows[i].context = PairsFromJson(c.at("c"));
      if (c.contains("u")) log.rows[i].user = c["u"].get<std::string>();
    }
  } catch (const nlohmann::json::exception& e) {
    Fail(ErrorCode::kCorruption, "'{}': damaged bandit log: {}", path, e.what());
  }
  try {
    log.Validate();
  } catch (const Error& e) {
    Fail(ErrorCode::kCorruption, "'{}': {}", path, e.what());
  }
  return log;
}

}  // namespace

BanditLog LoadBanditLog(const std::string& path, Env* env) {
  return LoadBanditLogIn(path, env, false);
}

BanditLog OpenBanditLogLazily(const std::string& path, Env* env) {
  return LoadBanditLogIn(path, env, true);
}

// --- catalog

nlohmann::json BanditLogEntry::ToJson() const {
  return {{"name", name},       {"id", id},           {"path", path},
          {"source", source},   {"format", format},   {"created_at", created_at},
          {"rows", rows},       {"actions", actions}, {"positions", positions},
          {"history", history}, {"kind", "bandit"}};
}

void BanditLogCatalogTraits::Describe(const BanditLog& log, BanditLogEntry* e) {
  e->source = log.source;
  e->format = log.format;
  e->rows = log.rows.size();
  e->actions = log.Stats()["actions"].get<uint32_t>();
  e->positions = log.has_positions();
}

void BanditLogCatalogTraits::Read(const nlohmann::json& j, BanditLogEntry* e) {
  e->format = j.value("format", "");
  e->rows = j.value("rows", uint64_t{0});
  e->actions = j.value("actions", 0u);
  e->positions = j.value("positions", false);
}

BanditLogEntry BanditLogCatalog::ImportFile(const std::string& name, const std::string& path,
                                            const std::string& format, const std::string& source,
                                            nlohmann::json* stats) {
  ValidateCatalogName(name, "dataset");
  catalog_internal::CreateDirs(env_, ObjectsDir());
  catalog_internal::CreateDirs(env_,
                               fmt::format("{}/{}/names", home_, BanditLogCatalogTraits::kDir));
  BanditLogEntry e;
  e.id = StoreContentAddressed(
      env_, ObjectsDir(), BanditLogCatalogTraits::kExt, [&](const std::string& tmp) {
        BanditLogBuilder b(format, source.empty() ? AbsolutePath(path) : source, env_,
                           ObjectsDir());
        ReadBanditLogInto(path, format, env_, &b);
        const nlohmann::json st = b.Stats();
        e.source = source.empty() ? AbsolutePath(path) : source;
        e.format = format;
        e.rows = st["rows"].get<uint64_t>();
        e.actions = st["actions"].get<uint32_t>();
        e.positions = !st["positions"].empty();
        if (stats != nullptr) *stats = st;
        return b.WriteSnapshot(tmp, env_);
      });
  e.name = name;
  e.path = ObjectPath(e.id);
  e.created_at = IsoUtc(catalog_internal::Now(env_));
  if (Has(name)) Get(name);  // kCorruption when the current name file is malformed
  nlohmann::json j = e.ToJson();
  j.erase("path");
  e.history = PointCatalogName(env_, NamePath(name), std::move(j));
  return e;
}

namespace {

// Checks the snapshot's sha256 against its id, reading it through a 1 MiB buffer (a mapping
// would keep every page of the file resident).
void CheckSnapshotDigest(const BanditLogEntry& e, const std::string& name, Env* env) {
  auto file = env->NewSequentialFile(e.path);
  Sha256 sha;
  std::vector<char> buf(1 << 20);
  for (size_t got; (got = file->Read(buf.data(), buf.size())) > 0;) {
    sha.Update(std::string_view(buf.data(), got));
  }
  const std::string digest = sha.HexDigest();
  if (digest != e.id) {
    Fail(ErrorCode::kCorruption, "bandit log '{}': {} has sha256 {}, expected {}", name, e.path,
         digest, e.id);
  }
}

}  // namespace

BanditLog BanditLogCatalogTraits::Load(const BanditLogEntry& e, const std::string& name, Env* env) {
  CheckSnapshotDigest(e, name, env);
  return LoadBanditLog(e.path, env);
}

BanditLog BanditLogCatalog::OpenLazily(const std::string& name) const {
  const BanditLogEntry e = Get(name);
  CheckSnapshotDigest(e, name, env_);
  return OpenBanditLogLazily(e.path, env_);
}

}  // namespace marquee

// The line-oriented bandit log readers: JSONL (simdjson on the fast path; nlohmann names the
// problem of any line the fast path does not take), Vowpal Wabbit's DSJSON and text cb_adf
// formats, the dispatch by format name and the streamed import.
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <set>
#include <unordered_map>

#include "bandits/log.h"
#include "bandits/typed_log.h"
#include "common/text.h"
#include "common/time.h"
#include "data/readers.h"
#include "marquee/error.h"

namespace marquee {
namespace {

namespace sj = simdjson;
namespace od = simdjson::ondemand;

void CheckStoredText(std::string_view text, const std::string& where) {
  if (const std::string why = StoredTextProblem(text); !why.empty()) {
    Fail(ErrorCode::kInvalidArgument, "{} {}", where, why);
  }
}

int64_t ParseTimestamp(std::string_view s) { return ParseTime(s).value_or(kNoTime); }

// Lines of a file read in pieces (bounded memory) or of text in memory; '\r' before '\n' is
// dropped. The view handed out stays valid until the next call.
class LineSource {
 public:
  explicit LineSource(std::string_view text) : text_(text) {}
  explicit LineSource(std::unique_ptr<SequentialFile> file) : file_(std::move(file)) {}
  bool Next(std::string_view* line) {
    if (!file_) {
      if (pos_ >= text_.size()) return false;
      size_t end = text_.find('\n', pos_);
      if (end == std::string_view::npos) end = text_.size();
      *line = Trim(text_.substr(pos_, end - pos_));
      pos_ = end + 1;
      return true;
    }
    for (;;) {
      const size_t nl = buf_.find('\n', start_);
      if (nl != std::string::npos) {
        *line = Trim(std::string_view(buf_).substr(start_, nl - start_));
        start_ = nl + 1;
        return true;
      }
      if (eof_) {
        if (start_ >= buf_.size()) return false;
        *line = Trim(std::string_view(buf_).substr(start_));
        start_ = buf_.size();
        return true;
      }
      buf_.erase(0, start_);
      start_ = 0;
      const size_t have = buf_.size();
      buf_.resize(have + kPiece);
      const size_t got = file_->Read(buf_.data() + have, kPiece);
      buf_.resize(have + got);
      eof_ = got == 0;
    }
  }

 private:
  static constexpr size_t kPiece = 4 << 20;
  static std::string_view Trim(std::string_view l) {
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    return l;
  }
  std::string_view text_;
  size_t pos_ = 0;
  std::unique_ptr<SequentialFile> file_;
  std::string buf_;
  size_t start_ = 0;
  bool eof_ = false;
};

// ValidateInput on an action set, its error prefixed with `prefix`.
void ValidateActionSet(const std::vector<Action>& set, const std::string& prefix) {
  DecisionInput probe;
  probe.actions = set;
  try {
    ValidateInput(probe);
  } catch (const Error& e) {
    Fail(ErrorCode::kInvalidArgument, "{} {}", prefix, e.what());
  }
}

bool Blank(std::string_view line) {
  return line.find_first_not_of(" \t") == std::string_view::npos;
}

// One JSONL line read by nlohmann: every problem named with its field (the reference reading;
// the fast path below hands it every line it does not take).
void SlowJsonlRow(std::string_view line, const std::string& at, LoggedDecision& r,
                  std::vector<Action>& set) {
  CheckStoredText(line, at + ": the line");  // nlohmann would only say "invalid"
  nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    Fail(ErrorCode::kInvalidArgument, "{}: not a JSON object", at);
  }
  for (const auto& [k, v] : j.items()) {
    static const std::set<std::string> kKeys = {"context", "actions",  "chosen", "probability",
                                                "reward",  "position", "user",   "ts"};
    if (!kKeys.count(k)) {
      Fail(ErrorCode::kInvalidArgument,
           "{}: unknown field '{}' (known: context, actions, chosen, probability, reward, "
           "position, user, ts)",
           at, k);
    }
  }
  r.context = FeatureMapFromJson(j.value("context", nlohmann::json()), at + ": context");
  if (!j.contains("actions") || !j["actions"].is_array() || j["actions"].empty()) {
    Fail(ErrorCode::kInvalidArgument, "{}: actions: a non-empty array is required", at);
  }
  for (size_t i = 0; i < j["actions"].size(); ++i) {
    const auto& a = j["actions"][i];
    Action act;
    if (a.is_string()) {
      act.id = a.get<std::string>();
      CheckStoredText(act.id, fmt::format("{}: actions[{}]", at, i));
    } else if (a.is_object() && a.contains("id") && (a["id"].is_string() || a["id"].is_number())) {
      act.id = a["id"].is_string() ? a["id"].get<std::string>() : a["id"].dump();
      CheckStoredText(act.id, fmt::format("{}: actions[{}].id", at, i));
      act.features = FeatureMapFromJson(a.value("features", nlohmann::json()),
                                        fmt::format("{}: actions[{}].features", at, i));
    } else {
      Fail(ErrorCode::kInvalidArgument,
           "{}: actions[{}]: expected {{\"id\": ..., \"features\": "
           "{{...}}}}",
           at, i);
    }
    set.push_back(std::move(act));
  }
  ValidateActionSet(set, at + ":");
  if (!j.contains("chosen")) Fail(ErrorCode::kInvalidArgument, "{}: chosen is required", at);
  const auto& ch = j["chosen"];
  if (ch.is_number_integer()) {
    const int64_t idx = ch.get<int64_t>();
    if (idx < 0 || static_cast<size_t>(idx) >= set.size()) {
      Fail(ErrorCode::kInvalidArgument, "{}: chosen: index {} outside the {} actions", at, idx,
           set.size());
    }
    r.chosen = static_cast<uint32_t>(idx);
  } else if (ch.is_string()) {
    auto it = std::find_if(set.begin(), set.end(),
                           [&](const Action& a) { return a.id == ch.get<std::string>(); });
    if (it == set.end()) {
      Fail(ErrorCode::kInvalidArgument, "{}: chosen: '{}' is not among the actions", at,
           QuoteForMessage(ch.get<std::string>(), 60));
    }
    r.chosen = static_cast<uint32_t>(it - set.begin());
  } else {
    Fail(ErrorCode::kInvalidArgument, "{}: chosen must be an action id or an index", at);
  }
  if (!j.contains("probability") || !j["probability"].is_number()) {
    Fail(ErrorCode::kInvalidArgument, "{}: probability: a number in (0, 1] is required", at);
  }
  r.propensity = j["probability"].get<double>();
  if (!(r.propensity > 0.0 && r.propensity <= 1.0)) {
    Fail(ErrorCode::kInvalidArgument, "{}: probability must be in (0, 1], got {}", at,
         r.propensity);
  }
  if (!j.contains("reward") || !j["reward"].is_number()) {
    Fail(ErrorCode::kInvalidArgument, "{}: reward: a number is required", at);
  }
  r.reward = j["reward"].get<double>();
  if (!std::isfinite(r.reward)) Fail(ErrorCode::kInvalidArgument, "{}: reward not finite", at);
  if (j.contains("position") && !j["position"].is_null()) {
    if (!j["position"].is_number_integer() || j["position"].get<int64_t>() < 0 ||
        j["position"].get<double>() > std::numeric_limits<int32_t>::max()) {
      Fail(ErrorCode::kInvalidArgument, "{}: position must be a non-negative integer below 2^31",
           at);
    }
    r.position = static_cast<int32_t>(j["position"].get<int64_t>());
  }
  if (j.contains("user") && !j["user"].is_null()) {
    if (!j["user"].is_string()) Fail(ErrorCode::kInvalidArgument, "{}: user must be a string", at);
    r.user = j["user"].get<std::string>();
    CheckStoredText(*r.user, at + ": user");
  }
  if (j.contains("ts") && !j["ts"].is_null()) {
    if (j["ts"].is_number()) {
      const double ts = j["ts"].get<double>();  // beyond int64 the cast is undefined
      if (!(std::fabs(ts) < 9.2e18)) {
        Fail(ErrorCode::kInvalidArgument, "{}: ts: {} is not a Unix time in seconds", at,
             j["ts"].dump());
      }
      r.ts = static_cast<int64_t>(ts);
    } else if (j["ts"].is_string()) {
      r.ts = ParseTimestamp(j["ts"].get<std::string>());
      if (r.ts == kNoTime) Fail(ErrorCode::kInvalidArgument, "{}: ts: unreadable time", at);
    } else {
      Fail(ErrorCode::kInvalidArgument, "{}: ts must be Unix seconds or ISO-8601", at);
    }
  }
}

uint32_t AddSlowRow(std::string_view line, const std::string& at, BanditLogBuilder* b) {
  LoggedDecision r;
  std::vector<Action> set;
  SlowJsonlRow(line, at, r, set);
  const uint32_t s = b->ActionSet(std::move(set));
  b->AddRow(s, r.chosen, r.propensity, r.reward, r.position, r.ts,
            r.user ? std::optional<std::string_view>(*r.user) : std::nullopt, r.context,
            at + ": context");
  return s;
}

// The fast path of one JSONL line (simdjson On Demand). Returns false for anything it does not
// take (a malformed line, an unusual value, a new action set), which the slow path then reads.
class FastJsonl {
 public:
  explicit FastJsonl(BanditLogBuilder* b) : b_(b) {}

  bool Row(std::string_view line, const std::string& at) {
    padded_.assign(line.begin(), line.end());
    padded_.resize(line.size() + sj::SIMDJSON_PADDING, ' ');
    od::document doc;
    if (parser_.iterate(padded_.data(), line.size(), padded_.size()).get(doc)) return false;
    od::object obj;
    if (doc.get_object().get(obj)) return false;
    feats_.clear();
    bool have_context = false, have_actions = false, have_chosen = false, have_p = false,
         have_r = false;
    uint32_t set = 0;
    int64_t chosen_index = -1;
    std::string_view chosen_id;
    double p = 0, reward = 0;
    int32_t position = -1;
    int64_t ts = kNoTime;
    std::optional<std::string_view> user;
    for (auto field : obj) {
      std::string_view key;
      if (field.unescaped_key().get(key)) return false;
      od::value v;
      if (field.value().get(v)) return false;
      od::json_type t;
      if (v.type().get(t)) return false;
      if (key == "context") {
        if (have_context) return false;  // a repeated key: nlohmann keeps the last one
        have_context = true;
        if (t == od::json_type::null) continue;
        if (t != od::json_type::object || !Context(v)) return false;
      } else if (key == "actions") {
        od::array arr;
        std::string_view raw;
        if (v.get_array().get(arr) || arr.raw_json().get(raw)) return false;
        // Usually the same text as the last row's: one comparison, no hashing.
        if (raw != last_set_text_) {
          auto it = set_by_text_.find(std::string(raw));
          if (it == set_by_text_.end()) return false;  // the slow path adds it (and learns it)
          last_set_text_ = it->first;
          last_text_set_ = it->second;
        }
        set = last_text_set_;
        have_actions = true;
      } else if (key == "chosen") {
        if (t == od::json_type::string) {
          if (v.get_string().get(chosen_id)) return false;
        } else if (t != od::json_type::number || v.get_int64().get(chosen_index)) {
          return false;
        }
        have_chosen = true;
      } else if (key == "probability") {
        if (t != od::json_type::number || v.get_double().get(p)) return false;
        have_p = true;
      } else if (key == "reward") {
        if (t != od::json_type::number || v.get_double().get(reward)) return false;
        have_r = true;
      } else if (key == "position") {
        if (t == od::json_type::null) continue;
        int64_t pos;
        if (t != od::json_type::number || v.get_int64().get(pos) || pos < 0 || pos > INT32_MAX) {
          return false;
        }
        position = static_cast<int32_t>(pos);
      } else if (key == "user") {
        if (t == od::json_type::null) continue;
        std::string_view u;
        if (t != od::json_type::string || v.get_string().get(u)) return false;
        user = u;
      } else if (key == "ts") {
        if (t == od::json_type::null) continue;
        if (t == od::json_type::number) {
          double d;
          if (v.get_double().get(d) || !(std::fabs(d) < 9.2e18)) return false;
          ts = static_cast<int64_t>(d);
        } else {
          std::string_view s;
          if (t != od::json_type::string || v.get_string().get(s)) return false;
          ts = ParseTimestamp(s);
          if (ts == kNoTime) return false;
        }
      } else {
        return false;
      }
    }
    // Trailing text after the object: the slow path names it.
    const size_t last = line.find_last_not_of(" \t");
    if (last == std::string_view::npos || line[last] != '}') return false;
    if (!have_actions || !have_chosen || !have_p || !have_r) return false;
    if (!(p > 0.0 && p <= 1.0) || !std::isfinite(reward)) return false;
    const std::vector<Action>& actions = b_->action_set(set);
    uint32_t chosen = 0;
    if (chosen_index >= 0) {
      if (static_cast<size_t>(chosen_index) >= actions.size()) return false;
      chosen = static_cast<uint32_t>(chosen_index);
    } else {
      auto it = std::find_if(actions.begin(), actions.end(),
                             [&](const Action& a) { return a.id == chosen_id; });
      if (it == actions.end()) return false;
      chosen = static_cast<uint32_t>(it - actions.begin());
    }
    // The features in name order (nlohmann's objects were sorted by name, and Keyed's order
    // depends on it). When a row has the names of the last row in the same order, as logs
    // written by one program do, the last row's keys and order are reused without sorting.
    if (!SameNamesAsLastRow()) {
      order_.resize(feats_.size());
      for (size_t j = 0; j < order_.size(); ++j) order_[j] = static_cast<uint32_t>(j);
      std::sort(order_.begin(), order_.end(),
                [&](uint32_t x, uint32_t y) { return feats_[x].name < feats_[y].name; });
      for (size_t j = 1; j < order_.size(); ++j) {
        if (feats_[order_[j]].name == feats_[order_[j - 1]].name) {
          last_keys_.clear();
          order_.clear();
          return false;  // duplicates: the slow path
        }
      }
      // Keys are interned in name order, so the dictionary (and the snapshot's bytes) is the
      // same whichever path read the log.
      last_keys_.assign(feats_.size(), 0);
      for (uint32_t j : order_) {
        const Pending& f = feats_[j];
        last_keys_[j] = b_->Key(f.name, f.categorical, f.category, at + ": context");
      }
    }
    row_.clear();
    for (uint32_t j : order_) row_.push_back({last_keys_[j], feats_[j].value});
    b_->AddRow(set, chosen, p, reward, position, ts,
               user ? b_->User(*user, at + ": user") : BanditLogBuilder::kNoUser, row_);
    return true;
  }

  // After the slow path read a line: remember its actions' text for the fast path.
  void Learn(std::string_view line) {
    od::document doc;
    padded_.assign(line.begin(), line.end());
    padded_.resize(line.size() + sj::SIMDJSON_PADDING, ' ');
    if (parser_.iterate(padded_.data(), line.size(), padded_.size()).get(doc)) return;
    od::array arr;
    std::string_view raw;
    if (doc["actions"].get_array().get(arr) || arr.raw_json().get(raw)) return;
    // The set the slow path just added is the last row's.
    if (set_by_text_.size() > 100000) set_by_text_.clear();  // bounded: sets that vary per row
    set_by_text_.emplace(std::string(raw), last_set_);
  }
  void set_last_set(uint32_t s) { last_set_ = s; }

 private:
  struct Pending {
    std::string_view name, category;
    bool categorical;
    double value;
  };
  // Whether feats_ holds the names (and categories) of the last row, position by position.
  bool SameNamesAsLastRow() const {
    if (feats_.size() != last_keys_.size()) return false;
    for (size_t j = 0; j < feats_.size(); ++j) {
      const ContextKey& k = b_->key(last_keys_[j]);
      const Pending& f = feats_[j];
      if (k.categorical != f.categorical || k.name != f.name ||
          (f.categorical && k.category != f.category)) {
        return false;
      }
    }
    return true;
  }

  bool Context(od::value v) {
    od::object o;
    if (v.get_object().get(o)) return false;
    for (auto f : o) {
      std::string_view name;
      od::value fv;
      od::json_type t;
      if (f.unescaped_key().get(name) || f.value().get(fv) || fv.type().get(t)) return false;
      bool categorical = false;
      std::string_view cat;
      double d = 1.0;
      if (t == od::json_type::number) {
        if (fv.get_double().get(d) || !std::isfinite(d)) return false;
      } else if (t == od::json_type::string) {
        if (fv.get_string().get(cat)) return false;
        categorical = true;
      } else if (t == od::json_type::boolean) {
        bool x;
        if (fv.get_bool().get(x)) return false;
        d = x ? 1.0 : 0.0;
      } else {
        return false;
      }
      feats_.push_back({name, cat, categorical, d});
    }
    return true;
  }
  BanditLogBuilder* b_;
  od::parser parser_;
  std::string padded_;
  std::vector<Pending> feats_;
  std::vector<BanditLogBuilder::Feature> row_;
  std::vector<uint32_t> last_keys_;  // the last row's key at each position, in file order
  std::vector<uint32_t> order_;      // the last row's positions in name order
  std::string last_set_text_;
  uint32_t last_text_set_ = 0;
  std::unordered_map<std::string, uint32_t> set_by_text_;
  uint32_t last_set_ = 0;
};

void ReadJsonlInto(LineSource& lines, const std::string& origin, BanditLogBuilder* b) {
  FastJsonl fast(b);
  size_t ln = 0;
  for (std::string_view line; lines.Next(&line);) {
    ++ln;
    if (Blank(line)) continue;
    const std::string at = fmt::format("{}:{}", origin, ln);
    if (fast.Row(line, at)) continue;
    fast.set_last_set(AddSlowRow(line, at, b));
    fast.Learn(line);
  }
  if (b->rows() == 0) Fail(ErrorCode::kInvalidArgument, "{}: no decisions", origin);
}

// --- DSJSON

// The features of one DSJSON example object: namespace `plain` keeps its names, another
// namespace `ns` names them `ns^name`, top-level values are features of their own; keys
// starting with '_' and the namespaces in `skip` are not features. Sorted by name.
FeatureMap DsFeatures(const nlohmann::json& o, std::string_view plain,
                      const std::set<std::string>& skip, const std::string& where) {
  FeatureMap m;
  for (const auto& [k, v] : o.items()) {
    if (k.empty() || k[0] == '_' || skip.count(k)) continue;
    CheckStoredText(k, where + "." + QuoteForMessage(k, 60) + ": the name");
    if (v.is_object()) {
      for (const auto& [name, fv] : v.items()) {
        const std::string at =
            where + "." + QuoteForMessage(k, 60) + "." + QuoteForMessage(name, 60);
        CheckStoredText(name, at + ": the name");
        FeatureValue val = FeatureValueFromJson(fv, at);
        if (const auto* str = std::get_if<std::string>(&val)) CheckStoredText(*str, at);
        m.emplace_back(k == plain ? name : k + "^" + name, std::move(val));
      }
    } else if (!v.is_null()) {
      const std::string at = where + "." + QuoteForMessage(k, 60);
      FeatureValue val = FeatureValueFromJson(v, at);
      if (const auto* str = std::get_if<std::string>(&val)) CheckStoredText(*str, at);
      m.emplace_back(k, std::move(val));
    }
  }
  std::sort(m.begin(), m.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 1; i < m.size(); ++i) {
    if (m[i].first == m[i - 1].first) {
      Fail(ErrorCode::kInvalidArgument, "{}: duplicate feature name '{}'", where,
           QuoteForMessage(m[i].first, 60));
    }
  }
  return m;
}

double DsNumber(const nlohmann::json& j, const char* key, const std::string& at) {
  if (!j.contains(key) || !j[key].is_number()) {
    Fail(ErrorCode::kInvalidArgument, "{}: {}: a number is required", at, key);
  }
  return j[key].get<double>();
}

void DsjsonRow(std::string_view line, const std::string& at, BanditLogBuilder* b) {
  CheckStoredText(line, at + ": the line");
  const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    Fail(ErrorCode::kInvalidArgument, "{}: not a JSON object", at);
  }
  if (!j.contains("_label_cost")) return;  // not joined with a reward: VW skips it too
  if (!j.contains("c") || !j["c"].is_object()) {
    Fail(ErrorCode::kInvalidArgument, "{}: c: the shared example object is required", at);
  }
  const nlohmann::json& c = j["c"];
  std::optional<std::string> user;
  if (c.contains("user") && c["user"].is_object() && c["user"].contains("id")) {
    const auto& u = c["user"]["id"];
    if (!u.is_string() && !u.is_number()) {
      Fail(ErrorCode::kInvalidArgument, "{}: c.user.id must be a string", at);
    }
    user = u.is_string() ? u.get<std::string>() : u.dump();
    CheckStoredText(*user, at + ": c.user.id");
  }
  FeatureMap context = DsFeatures(c, "context", {"user"}, at + ": c");
  if (c.contains("user") && c["user"].is_object()) {  // user features besides the id
    nlohmann::json rest = c["user"];
    rest.erase("id");
    for (auto& f : DsFeatures(nlohmann::json{{"user", rest}}, "", {}, at + ": c")) {
      context.push_back(std::move(f));
    }
    std::sort(context.begin(), context.end(),
              [](const auto& x, const auto& y) { return x.first < y.first; });
  }
  if (!c.contains("_multi") || !c["_multi"].is_array() || c["_multi"].empty()) {
    Fail(ErrorCode::kInvalidArgument, "{}: c._multi: a non-empty array of actions is required", at);
  }
  std::vector<Action> set;
  for (size_t i = 0; i < c["_multi"].size(); ++i) {
    const auto& a = c["_multi"][i];
    const std::string where = fmt::format("{}: c._multi[{}]", at, i);
    if (!a.is_object()) Fail(ErrorCode::kInvalidArgument, "{}: must be an object", where);
    Action act;
    if (a.contains("_id") && (a["_id"].is_string() || a["_id"].is_number())) {
      act.id = a["_id"].is_string() ? a["_id"].get<std::string>() : a["_id"].dump();
    } else if (a.contains("id") && a["id"].is_object() && a["id"].size() == 1) {
      act.id = a["id"].begin().key();
    } else {
      act.id = std::to_string(i + 1);
    }
    CheckStoredText(act.id, where + "._id");
    act.features = DsFeatures(a, "action", {"id"}, where);
    set.push_back(std::move(act));
  }
  ValidateActionSet(set, at + ": c._multi:");
  int64_t chosen = -1;
  if (j.contains("_labelIndex") && j["_labelIndex"].is_number_integer()) {
    chosen = j["_labelIndex"].get<int64_t>();
  } else if (j.contains("_label_Action") && j["_label_Action"].is_number_integer()) {
    chosen = j["_label_Action"].get<int64_t>() - 1;
  } else {
    Fail(ErrorCode::kInvalidArgument, "{}: _labelIndex or _label_Action is required", at);
  }
  if (chosen < 0 || static_cast<size_t>(chosen) >= set.size()) {
    Fail(ErrorCode::kInvalidArgument, "{}: _labelIndex: action {} outside the {} actions", at,
         chosen, set.size());
  }
  const double p = DsNumber(j, "_label_probability", at);
  if (!(p > 0.0 && p <= 1.0)) {
    Fail(ErrorCode::kInvalidArgument, "{}: _label_probability must be in (0, 1], got {}", at, p);
  }
  const double cost = DsNumber(j, "_label_cost", at);
  if (!std::isfinite(cost)) Fail(ErrorCode::kInvalidArgument, "{}: _label_cost not finite", at);
  int64_t ts = kNoTime;
  if (j.contains("Timestamp") && !j["Timestamp"].is_null()) {
    if (!j["Timestamp"].is_string() ||
        (ts = ParseTimestamp(j["Timestamp"].get<std::string>())) == kNoTime) {
      Fail(ErrorCode::kInvalidArgument, "{}: Timestamp: unreadable time (ISO-8601 expected)", at);
    }
  }
  const uint32_t s = b->ActionSet(std::move(set));
  b->AddRow(s, static_cast<uint32_t>(chosen), p, -cost, -1, ts,
            user ? std::optional<std::string_view>(*user) : std::nullopt, context, at + ": c");
}

void ReadDsjsonInto(LineSource& lines, const std::string& origin, BanditLogBuilder* b) {
  size_t ln = 0;
  for (std::string_view line; lines.Next(&line);) {
    ++ln;
    if (Blank(line)) continue;
    DsjsonRow(line, fmt::format("{}:{}", origin, ln), b);
  }
  if (b->rows() == 0) {
    Fail(ErrorCode::kInvalidArgument, "{}: no decisions with a label (_label_cost)", origin);
  }
}

// --- VW text cb_adf

std::vector<std::string_view> Tokens(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::optional<double> Number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  double v = 0;
  if (s.front() == '+') s.remove_prefix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// The features after the first '|' of a line: `|ns name:value name ...` (a name without a value
// is 1); a feature of namespace `ns` is named `ns^name` (`name` in the unnamed namespace).
void VwFeatures(std::string_view text, const std::string& at, FeatureMap* out) {
  size_t bar = text.find('|');
  while (bar != std::string_view::npos) {
    const size_t next = text.find('|', bar + 1);
    std::string_view part = text.substr(
        bar + 1, next == std::string_view::npos ? std::string_view::npos : next - bar - 1);
    std::string ns;
    if (!part.empty() && part[0] != ' ' && part[0] != '\t') {
      const size_t sp = part.find_first_of(" \t");
      ns = std::string(part.substr(0, sp));
      const size_t colon = ns.find(':');  // a namespace weight: |ns:2.0
      if (colon != std::string::npos) ns.resize(colon);
      part = sp == std::string_view::npos ? std::string_view() : part.substr(sp);
    }
    for (std::string_view tok : Tokens(part)) {
      std::string_view name = tok;
      double value = 1.0;
      if (const size_t colon = tok.rfind(':'); colon != std::string_view::npos) {
        name = tok.substr(0, colon);
        auto v = Number(tok.substr(colon + 1));
        if (!v) {
          Fail(ErrorCode::kInvalidArgument, "{}: feature '{}': value '{}' is not a number", at,
               QuoteForMessage(name, 60), QuoteForMessage(tok.substr(colon + 1), 60));
        }
        value = *v;
      }
      if (name.empty()) Fail(ErrorCode::kInvalidArgument, "{}: a feature has an empty name", at);
      std::string full = ns.empty() ? std::string(name) : ns + "^" + std::string(name);
      CheckStoredText(full, at + ": feature '" + QuoteForMessage(full, 60) + "'");
      out->emplace_back(std::move(full), value);
    }
    bar = next;
  }
  std::sort(out->begin(), out->end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 1; i < out->size(); ++i) {
    if ((*out)[i].first == (*out)[i - 1].first) {
      Fail(ErrorCode::kInvalidArgument, "{}: duplicate feature '{}'", at,
           QuoteForMessage((*out)[i].first, 60));
    }
  }
}

void ReadVwAdfInto(LineSource& lines, const std::string& origin, BanditLogBuilder* b) {
  FeatureMap shared;
  std::vector<Action> set;
  int64_t chosen = -1;
  double cost = 0, p = 0;
  size_t ln = 0, first = 0;
  auto end_example = [&]() {
    if (set.empty()) {
      if (first != 0) {
        Fail(ErrorCode::kInvalidArgument, "{}:{}: an example without action lines", origin, first);
      }
      return;
    }
    const std::string at = fmt::format("{}:{}", origin, first);
    if (chosen < 0) {
      Fail(ErrorCode::kInvalidArgument,
           "{}: no action line has a label (index:cost:probability) in this example", at);
    }
    const uint32_t s = b->ActionSet(std::move(set));
    b->AddRow(s, static_cast<uint32_t>(chosen), p, -cost, -1, kNoTime, std::nullopt, shared,
              at + ": shared");
    shared.clear();
    set.clear();
    chosen = -1;
    first = 0;
  };
  for (std::string_view line; lines.Next(&line);) {
    ++ln;
    if (Blank(line)) {
      end_example();
      continue;
    }
    const std::string at = fmt::format("{}:{}", origin, ln);
    CheckStoredText(line, at + ": the line");
    if (first == 0) first = ln;
    const size_t bar = line.find('|');
    if (bar == std::string_view::npos) {
      Fail(ErrorCode::kInvalidArgument, "{}: no '|': not a VW example line", at);
    }
    const std::vector<std::string_view> head = Tokens(line.substr(0, bar));
    if (!head.empty() && head[0] == "shared") {
      if (!set.empty() || !shared.empty()) {
        Fail(ErrorCode::kInvalidArgument,
             "{}: a shared line must come first in its example (end examples with a blank line)",
             at);
      }
      VwFeatures(line.substr(bar), at, &shared);
      continue;
    }
    Action act;
    act.id = std::to_string(set.size());
    for (std::string_view tok : head) {
      if (tok.front() == '\'') {  // a tag names the action
        act.id = std::string(tok.substr(1));
        if (act.id.empty()) Fail(ErrorCode::kInvalidArgument, "{}: an empty tag", at);
        continue;
      }
      // The label: index:cost:probability (the index is ignored in cb_adf).
      std::vector<std::string_view> parts;
      size_t s0 = 0;
      for (size_t k = 0; k <= tok.size(); ++k) {
        if (k == tok.size() || tok[k] == ':') {
          parts.push_back(tok.substr(s0, k - s0));
          s0 = k + 1;
        }
      }
      if (parts.size() != 3) {
        Fail(ErrorCode::kInvalidArgument, "{}: label '{}': expected index:cost:probability", at,
             QuoteForMessage(tok, 60));
      }
      auto c = Number(parts[1]);
      auto pr = Number(parts[2]);
      if (!c) {
        Fail(ErrorCode::kInvalidArgument, "{}: label cost '{}' is not a number", at,
             QuoteForMessage(parts[1], 60));
      }
      if (!pr || !(*pr > 0.0 && *pr <= 1.0)) {
        Fail(ErrorCode::kInvalidArgument, "{}: label probability must be in (0, 1], got '{}'", at,
             QuoteForMessage(parts[2], 60));
      }
      if (chosen >= 0) {
        Fail(ErrorCode::kInvalidArgument, "{}: a second labelled action in one example", at);
      }
      chosen = static_cast<int64_t>(set.size());
      cost = *c;
      p = *pr;
    }
    VwFeatures(line.substr(bar), at, &act.features);
    for (const Action& other : set) {
      if (other.id == act.id) {
        Fail(ErrorCode::kInvalidArgument, "{}: duplicate action id '{}'", at,
             QuoteForMessage(act.id, 60));
      }
    }
    set.push_back(std::move(act));
  }
  end_example();
  if (b->rows() == 0) Fail(ErrorCode::kInvalidArgument, "{}: no examples", origin);
}

void ReadLines(const std::string& format, LineSource& lines, const std::string& origin,
               BanditLogBuilder* b) {
  if (format == "bandit-jsonl") return ReadJsonlInto(lines, origin, b);
  if (format == "dsjson") return ReadDsjsonInto(lines, origin, b);
  return ReadVwAdfInto(lines, origin, b);
}

void CheckFormat(const std::string& format) {
  const auto& f = BanditLogFormats();
  if (std::find(f.begin(), f.end(), format) == f.end()) {
    Fail(ErrorCode::kInvalidArgument, "bandit log format '{}': expected one of {}",
         QuoteForMessage(format, 32), fmt::join(f, ", "));
  }
}

BanditLog ParseText(std::string_view text, const std::string& origin, const std::string& format) {
  BanditLogBuilder b(format, origin);
  LineSource lines(text);
  ReadLines(format, lines, origin, &b);
  return b.Finish();
}

}  // namespace

const std::vector<std::string>& BanditLogFormats() {
  static const std::vector<std::string> kFormats = {"obd", "bandit-jsonl", "dsjson", "vw-adf"};
  return kFormats;
}

void ReadBanditLogInto(const std::string& path, const std::string& format, Env* env,
                       BanditLogBuilder* b) {
  CheckFormat(format);
  env = env != nullptr ? env : Env::Default();
  if (format == "obd") return ReadObdInto(path, env, b);
  if (!env->FileExists(path)) Fail(ErrorCode::kNotFound, "no such file: {}", path);
  LineSource lines(env->NewSequentialFile(path));
  ReadLines(format, lines, path, b);
}

BanditLog ReadBanditLogFile(const std::string& path, const std::string& format, Env* env) {
  CheckFormat(format);
  BanditLogBuilder b(format, AbsolutePath(path));
  ReadBanditLogInto(path, format, env, &b);
  return b.Finish();
}

BanditLog ParseBanditJsonl(std::string_view text, const std::string& origin) {
  return ParseText(text, origin, "bandit-jsonl");
}
BanditLog ReadBanditJsonl(const std::string& path, Env* env) {
  return ReadBanditLogFile(path, "bandit-jsonl", env);
}
BanditLog ParseDsjson(std::string_view text, const std::string& origin) {
  return ParseText(text, origin, "dsjson");
}
BanditLog ReadDsjson(const std::string& path, Env* env) {
  return ReadBanditLogFile(path, "dsjson", env);
}
BanditLog ParseVwAdf(std::string_view text, const std::string& origin) {
  return ParseText(text, origin, "vw-adf");
}
BanditLog ReadVwAdf(const std::string& path, Env* env) {
  return ReadBanditLogFile(path, "vw-adf", env);
}

}  // namespace marquee

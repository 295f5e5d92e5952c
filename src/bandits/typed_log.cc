#include "bandits/typed_log.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "bandits/log.h"
#include "common/mapped_pages.h"
#include "common/text.h"
#include "common/time.h"
#include "data/readers.h"
#include "marquee/error.h"
#include "models/artifact.h"

namespace marquee {
namespace {

constexpr const char* kLogFamily = "bandit-log";
constexpr uint32_t kVersion = 2;
constexpr size_t kSpillBytes = 8 << 20;  // buffered column bytes before a spill

void CheckText(std::string_view text, const std::string& where) {
  if (const std::string why = StoredTextProblem(text); !why.empty()) {
    Fail(ErrorCode::kInvalidArgument, "{} {}", where, why);
  }
}

template <typename T>
std::span<const T> As(const std::vector<uint8_t>& b) {
  return {reinterpret_cast<const T*>(b.data()), b.size() / sizeof(T)};
}

// Strings as offsets (u64, n + 1) and bytes (u8).
void PackStrings(const std::vector<std::string>& in, std::vector<uint64_t>* off,
                 std::vector<uint8_t>* bytes) {
  off->assign(1, 0);
  for (const std::string& s : in) {
    bytes->insert(bytes->end(), s.begin(), s.end());
    off->push_back(bytes->size());
  }
}

std::vector<std::string> UnpackStrings(const ArtifactReader& r, const std::string& name,
                                       const std::string& path) {
  auto off = r.Get<uint64_t>(name + "_offsets");
  auto bytes = r.Get<uint8_t>(name + "_bytes");
  if (off.empty() || off[0] != 0 || off.back() != bytes.size()) {
    Fail(ErrorCode::kCorruption, "'{}': damaged {} strings", path, name);
  }
  std::vector<std::string> out;
  out.reserve(off.size() - 1);
  for (size_t i = 0; i + 1 < off.size(); ++i) {
    if (off[i + 1] < off[i] || off[i + 1] > bytes.size()) {
      Fail(ErrorCode::kCorruption, "'{}': damaged {} strings", path, name);
    }
    out.emplace_back(reinterpret_cast<const char*>(bytes.data()) + off[i], off[i + 1] - off[i]);
  }
  return out;
}

}  // namespace

// --- TypedContexts

FeatureMap TypedContexts::Context(size_t r) const {
  FeatureMap m;
  const auto id = ids(r);
  const auto v = values(r);
  m.reserve(id.size());
  for (size_t j = 0; j < id.size(); ++j) {
    const ContextKey& k = keys[id[j]];
    if (k.categorical) {
      m.emplace_back(k.name, k.category);
    } else {
      m.emplace_back(k.name, v[j]);
    }
  }
  return m;
}

void TypedContexts::KeyContext(size_t r, std::vector<KeyedFeature>* out) const {
  const uint64_t b = offsets_[r], e = offsets_[r + 1];
  for (uint64_t j = b; j < e; ++j) {
    const ContextKey& k = keys[ids_[j]];
    if (k.categorical) {
      out->push_back({k.hash, 1.0});
    } else if (values_[j] != 0.0) {
      out->push_back({k.hash, values_[j]});
    }
  }
}

void TypedContexts::KeyActionSets(const std::vector<std::vector<Action>>& sets) {
  set_features.assign(sets.size(), {});
  set_begin.assign(sets.size(), {});
  set_id_keys.assign(sets.size(), {});
  for (size_t s = 0; s < sets.size(); ++s) {
    for (const Action& a : sets[s]) {
      set_begin[s].push_back(static_cast<uint32_t>(set_features[s].size()));
      KeyFeatures('a', a.features, &set_features[s]);
      set_id_keys[s].push_back(FeatureHash('a', "_id", a.id));
    }
    set_begin[s].push_back(static_cast<uint32_t>(set_features[s].size()));
  }
}

void TypedContexts::Own(std::vector<uint64_t> offsets, std::vector<uint32_t> ids,
                        std::vector<double> values) {
  own_offsets_ = std::move(offsets);
  own_ids_ = std::move(ids);
  own_values_ = std::move(values);
  offsets_ = own_offsets_;
  ids_ = own_ids_;
  values_ = own_values_;
}

void TypedContexts::Map(std::shared_ptr<const ArtifactReader> file,
                        std::span<const uint64_t> offsets, std::span<const uint32_t> ids,
                        std::span<const double> values) {
  file_ = std::move(file);
  offsets_ = offsets;
  ids_ = ids;
  values_ = values;
}

namespace {

template <typename T>
void ReleaseSpan(std::span<const T> s, size_t begin, size_t end) {
  end = std::min(end, s.size());
  if (begin < end) ReleaseMappedPages(s.data() + begin, s.data() + end);
}

}  // namespace

void TypedContexts::Release(size_t begin, size_t end) const {
  if (file_ == nullptr || begin >= end || end > rows()) return;
  ReleaseSpan(offsets_, begin, end);
  ReleaseSpan(ids_, offsets_[begin], offsets_[end]);
  ReleaseSpan(values_, offsets_[begin], offsets_[end]);
}

void LazyRows::Release(size_t begin, size_t end) const {
  const RowColumns& c = columns;
  ReleaseSpan(c.action_set, begin, end);
  ReleaseSpan(c.chosen, begin, end);
  ReleaseSpan(c.propensity, begin, end);
  ReleaseSpan(c.reward, begin, end);
  ReleaseSpan(c.position, begin, end);
  ReleaseSpan(c.ts, begin, end);
  ReleaseSpan(c.user, begin, end);
}

void TypedContexts::Check(const std::string& where) const {
  if (offsets_.empty() || offsets_[0] != 0 || offsets_.back() != ids_.size() ||
      ids_.size() != values_.size()) {
    Fail(ErrorCode::kCorruption, "'{}': context offsets do not match {} features", where,
         ids_.size());
  }
  for (size_t r = 0; r + 1 < offsets_.size(); ++r) {
    if (offsets_[r + 1] < offsets_[r]) {
      Fail(ErrorCode::kCorruption, "'{}': row {}: context offsets decrease", where, r);
    }
  }
  const size_t k = keys.size();
  for (size_t r = 0; r < rows(); r += kReleaseRows) {
    const size_t end = std::min(rows(), r + kReleaseRows);
    for (size_t j = offsets_[r]; j < offsets_[end]; ++j) {
      if (ids_[j] >= k) {
        Fail(ErrorCode::kCorruption, "'{}': feature {}: key {} outside the {} keys", where, j,
             ids_[j], k);
      }
      if (!std::isfinite(values_[j])) {
        Fail(ErrorCode::kCorruption, "'{}': feature {}: value is not finite", where, j);
      }
    }
    Release(r, end);
  }
}

// --- stats

void LogStatsAccumulator::Add(double reward, double propensity, int32_t position, int64_t ts) {
  ++rows;
  rsum += reward;
  pmin = std::min(pmin, propensity);
  pmax = std::max(pmax, propensity);
  if (position >= 0) ++positions[position];
  if (ts != kNoTime) {
    tmin = std::min(tmin, ts);
    tmax = std::max(tmax, ts);
  }
}

nlohmann::json LogStatsAccumulator::ToJson(const std::vector<std::vector<Action>>& sets) const {
  std::set<std::string_view> ids;
  size_t max_set = 0;
  for (const auto& s : sets) {
    max_set = std::max(max_set, s.size());
    for (const auto& a : s) ids.insert(a.id);
  }
  nlohmann::json pos = nlohmann::json::object();
  for (const auto& [p, n] : positions) pos[std::to_string(p)] = n;
  nlohmann::json j = {{"rows", rows},
                      {"actions", ids.size()},
                      {"action_sets", sets.size()},
                      {"max_actions_per_decision", max_set},
                      {"mean_reward", rows == 0 ? 0.0 : rsum / static_cast<double>(rows)},
                      {"propensity_min", rows == 0 ? 0.0 : pmin},
                      {"propensity_max", rows == 0 ? 0.0 : pmax},
                      {"positions", pos}};
  if (tmax != kNoTime) {
    j["time_min"] = IsoUtc(tmin);
    j["time_max"] = IsoUtc(tmax);
  }
  return j;
}

// --- builder

std::string ActionSetKey(const std::vector<Action>& set) {
  std::string k;
  auto put = [&](std::string_view s) {
    const uint64_t n = s.size();
    k.append(reinterpret_cast<const char*>(&n), sizeof(n));
    k.append(s);
  };
  for (const Action& a : set) {
    put(a.id);
    const uint64_t nf = a.features.size();
    k.append(reinterpret_cast<const char*>(&nf), sizeof(nf));
    for (const auto& [name, v] : a.features) {
      put(name);
      if (const double* d = std::get_if<double>(&v)) {
        k.push_back('n');
        k.append(reinterpret_cast<const char*>(d), sizeof(double));
      } else {
        k.push_back('s');
        put(std::get<std::string>(v));
      }
    }
  }
  return k;
}

// The spill files of the columns (streaming mode): each is an atomic write committed when the
// snapshot is assembled and removed afterwards; an uncommitted one removes itself.
struct BanditLogBuilder::Spill {
  Env* env;
  std::string paths[kColumns];
  std::unique_ptr<WritableFile> files[kColumns];
  bool committed = false;
  ~Spill() {
    if (!committed) return;
    for (const std::string& p : paths) {
      try {
        if (env->FileExists(p)) env->RemoveFile(p);
      } catch (const Error&) {  // best effort: a leftover is a temporary `gc` may remove
      }
    }
  }
};

BanditLogBuilder::BanditLogBuilder(std::string format, std::string source)
    : format_(std::move(format)), source_(std::move(source)) {
  for (auto& b : buf_) b.reserve(1 << 12);
  Push<uint64_t>(7, 0);
}

BanditLogBuilder::BanditLogBuilder(std::string format, std::string source, Env* env,
                                   std::string spill_dir)
    : BanditLogBuilder(std::move(format), std::move(source)) {
  env_ = env;
  spill_dir_ = std::move(spill_dir);
}

BanditLogBuilder::~BanditLogBuilder() = default;

template <typename T>
void BanditLogBuilder::Push(int column, const T& v) {
  std::vector<uint8_t>& b = buf_[column];
  const size_t at = b.size();
  b.resize(at + sizeof(T));
  std::memcpy(b.data() + at, &v, sizeof(T));
}

uint32_t BanditLogBuilder::Key(std::string_view name, bool categorical, std::string_view category,
                               const std::string& where) {
  std::string k;
  k.reserve(name.size() + category.size() + 2);
  k.push_back(categorical ? 's' : 'n');
  k.append(name);
  if (categorical) {
    k.push_back('\0');
    k.append(category);
  }
  auto it = key_index_.find(k);
  if (it != key_index_.end()) return it->second;
  const std::string at = where + "." + QuoteForMessage(name, 60);
  CheckText(name, at + ": the name");
  if (categorical) CheckText(category, at);
  ContextKey key;
  key.name = std::string(name);
  key.categorical = categorical;
  if (categorical) key.category = std::string(category);
  key.hash = categorical ? FeatureHash('c', key.name, key.category)
                         : FeatureHash('c', key.name, FeatureValue(0.0));
  const uint32_t id = static_cast<uint32_t>(keys_.size());
  keys_.push_back(std::move(key));
  key_index_.emplace(std::move(k), id);
  return id;
}

uint32_t BanditLogBuilder::ActionSet(std::vector<Action> set) {
  auto [it, added] = set_index_.try_emplace(ActionSetKey(set), static_cast<uint32_t>(sets_.size()));
  if (added) sets_.push_back(std::move(set));
  return it->second;
}

uint32_t BanditLogBuilder::User(std::string_view user, const std::string& where) {
  auto it = user_index_.find(std::string(user));
  if (it != user_index_.end()) return it->second;
  CheckText(user, where);
  const uint32_t id = static_cast<uint32_t>(users_.size());
  users_.emplace_back(user);
  user_index_.emplace(std::string(user), id);
  return id;
}

void BanditLogBuilder::AddRow(uint32_t action_set, uint32_t chosen, double propensity,
                              double reward, int32_t position, int64_t ts, uint32_t user,
                              std::span<const Feature> context) {
  Push<uint32_t>(0, action_set);
  Push<uint32_t>(1, chosen);
  Push<double>(2, propensity);
  Push<double>(3, reward);
  Push<int64_t>(4, position);
  Push<int64_t>(5, ts);
  Push<uint32_t>(6, user);
  any_user_ = any_user_ || user != kNoUser;
  for (const Feature& f : context) {
    Push<uint32_t>(8, f.key);
    Push<double>(9, f.value);
  }
  nnz_ += context.size();
  Push<uint64_t>(7, nnz_);
  stats_.Add(reward, propensity, position, ts);
  MaybeSpill();
}

void BanditLogBuilder::AddRow(uint32_t action_set, uint32_t chosen, double propensity,
                              double reward, int32_t position, int64_t ts,
                              std::optional<std::string_view> user, const FeatureMap& context,
                              const std::string& where) {
  thread_local std::vector<Feature> feats;
  feats.clear();
  for (const auto& [name, v] : context) {
    if (const double* d = std::get_if<double>(&v)) {
      feats.push_back({Key(name, false, {}, where), *d});
    } else {
      feats.push_back({Key(name, true, std::get<std::string>(v), where), 1.0});
    }
  }
  AddRow(action_set, chosen, propensity, reward, position, ts,
         user ? User(*user, where + ": user") : kNoUser, feats);
}

void BanditLogBuilder::MaybeSpill() {
  if (env_ == nullptr) return;
  size_t total = 0;
  for (const auto& b : buf_) total += b.size();
  if (total < kSpillBytes) return;
  if (!spill_) {
    spill_ = std::make_unique<Spill>();
    spill_->env = env_;
    for (int c = 0; c < kColumns; ++c) {
      spill_->paths[c] =
          fmt::format("{}/.spill.{}.{}", spill_dir_, reinterpret_cast<uintptr_t>(this), c);
      spill_->files[c] = env_->NewWritableFile(spill_->paths[c]);
    }
  }
  for (int c = 0; c < kColumns; ++c) {
    spill_->files[c]->Append(
        std::string_view(reinterpret_cast<const char*>(buf_[c].data()), buf_[c].size()));
    spilled_[c] += buf_[c].size();
    buf_[c].clear();
  }
}

BanditLog BanditLogBuilder::Finish() {
  if (spill_) Fail(ErrorCode::kInternal, "a streaming bandit log builder cannot Finish");
  BanditLog log;
  log.format = format_;
  log.source = source_;
  log.action_sets = sets_;
  const size_t n = stats_.rows;
  FillRows({As<uint32_t>(buf_[0]), As<uint32_t>(buf_[1]), As<double>(buf_[2]), As<double>(buf_[3]),
            As<int64_t>(buf_[4]), As<int64_t>(buf_[5]), As<uint32_t>(buf_[6])},
           n, users_, true, "bandit log builder", &log);
  auto core = std::make_shared<TypedContexts>();
  core->keys = keys_;
  auto off = As<uint64_t>(buf_[7]);
  auto ids = As<uint32_t>(buf_[8]);
  auto vals = As<double>(buf_[9]);
  core->Own({off.begin(), off.end()}, {ids.begin(), ids.end()}, {vals.begin(), vals.end()});
  core->KeyActionSets(log.action_sets);
  log.typed = std::move(core);
  return log;
}

std::string BanditLogBuilder::WriteSnapshot(const std::string& path, Env* env) {
  nlohmann::json sets = nlohmann::json::array();
  for (const auto& s : sets_) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& a : s) {
      nlohmann::json f = nlohmann::json::array();
      for (const auto& [k, v] : a.features) {
        if (const double* d = std::get_if<double>(&v)) {
          f.push_back({k, *d});
        } else {
          f.push_back({k, std::get<std::string>(v)});
        }
      }
      arr.push_back({{"id", a.id}, {"features", f}});
    }
    sets.push_back(arr);
  }
  const uint64_t n = stats_.rows;
  ArtifactWriter w(kLogFamily, {{"bandit_log_version", kVersion},
                                {"rows", n},
                                {"source", source_},
                                {"format", format_},
                                {"action_sets", sets},
                                {"keys", keys_.size()},
                                {"users", users_.size()},
                                {"features", nnz_},
                                {"stats", Stats()}});
  // The dictionary.
  std::vector<std::string> names, cats;
  std::vector<uint8_t> kinds;
  for (const ContextKey& k : keys_) {
    names.push_back(k.name);
    cats.push_back(k.category);
    kinds.push_back(k.categorical ? 1 : 0);
  }
  std::vector<uint64_t> name_off, cat_off, user_off;
  std::vector<uint8_t> name_bytes, cat_bytes, user_bytes;
  PackStrings(names, &name_off, &name_bytes);
  PackStrings(cats, &cat_off, &cat_bytes);
  PackStrings(users_, &user_off, &user_bytes);
  w.Add<uint8_t>("key_kind", std::span<const uint8_t>(kinds));
  w.Add<uint64_t>("key_name_offsets", std::span<const uint64_t>(name_off));
  w.Add<uint8_t>("key_name_bytes", std::span<const uint8_t>(name_bytes));
  w.Add<uint64_t>("key_category_offsets", std::span<const uint64_t>(cat_off));
  w.Add<uint8_t>("key_category_bytes", std::span<const uint8_t>(cat_bytes));
  w.Add<uint64_t>("user_offsets", std::span<const uint64_t>(user_off));
  w.Add<uint8_t>("user_bytes", std::span<const uint8_t>(user_bytes));
  // The columns: spilled bytes first (read back in pieces), then what is still buffered.
  if (spill_) {
    for (int c = 0; c < kColumns; ++c) spill_->files[c]->Commit();
    spill_->committed = true;
  }
  static const char* kNames[kColumns] = {"action_set", "chosen",    "propensity", "reward",
                                         "position",   "ts",        "user",       "ctx_offsets",
                                         "ctx_ids",    "ctx_values"};
  static const DType kTypes[kColumns] = {DType::kU32, DType::kU32, DType::kF64, DType::kF64,
                                         DType::kI64, DType::kI64, DType::kU32, DType::kU64,
                                         DType::kU32, DType::kF64};
  for (int c = 0; c < kColumns; ++c) {
    const uint64_t nbytes = spilled_[c] + buf_[c].size();
    const uint64_t elems = nbytes / DTypeSize(kTypes[c]);
    w.AddProduced(
        kNames[c], kTypes[c], {elems}, nbytes,
        [this, c](const std::function<void(std::string_view)>& put) {
          if (spill_ && spilled_[c] > 0) {
            auto f = env_->NewSequentialFile(spill_->paths[c]);
            std::vector<char> piece(1 << 20);
            for (size_t got; (got = f->Read(piece.data(), piece.size())) > 0;) {
              put(std::string_view(piece.data(), got));
            }
          }
          put(std::string_view(reinterpret_cast<const char*>(buf_[c].data()), buf_[c].size()));
        });
  }
  std::string id = w.Write(path, env);
  spill_.reset();  // removes the spill files
  return id;
}

// --- v2 reader

void FillRows(const RowColumns& c, size_t n, const std::vector<std::string>& users, bool typed,
              const std::string& where, BanditLog* log) {
  if (c.action_set.size() != n || c.chosen.size() != n || c.propensity.size() != n ||
      c.reward.size() != n || c.position.size() != n || c.ts.size() != n ||
      (!c.user.empty() && c.user.size() != n)) {
    Fail(ErrorCode::kCorruption, "'{}': column lengths differ from {} rows", where, n);
  }
  log->rows.resize(n);
  for (size_t i = 0; i < n; ++i) {
    LoggedDecision& d = log->rows[i];
    d.action_set = c.action_set[i];
    d.chosen = c.chosen[i];
    d.propensity = c.propensity[i];
    d.reward = c.reward[i];
    if (c.position[i] < -1 || c.position[i] > INT32_MAX) {
      Fail(ErrorCode::kCorruption, "'{}': row {}: position {} out of range", where, i,
           c.position[i]);
    }
    d.position = static_cast<int32_t>(c.position[i]);
    d.ts = c.ts[i];
    if (!c.user.empty() && c.user[i] != BanditLogBuilder::kNoUser) {
      if (c.user[i] >= users.size()) {
        Fail(ErrorCode::kCorruption, "'{}': row {}: user {} outside the {} users", where, i,
             c.user[i], users.size());
      }
      d.user = users[c.user[i]];
    }
    if (typed) d.typed_row = i;
  }
}

namespace {

// The lazy form's FillRows: the same checks, the columns kept mapped (their pages released as
// the check passes them).
void CheckLazyRows(const RowColumns& c, size_t n, const std::vector<std::string>& users,
                   const std::string& where, LazyRows* out) {
  if (c.action_set.size() != n || c.chosen.size() != n || c.propensity.size() != n ||
      c.reward.size() != n || c.position.size() != n || c.ts.size() != n ||
      (!c.user.empty() && c.user.size() != n)) {
    Fail(ErrorCode::kCorruption, "'{}': column lengths differ from {} rows", where, n);
  }
  if (n > UINT32_MAX) {
    Fail(ErrorCode::kUnimplemented, "'{}': {} rows are more than a lazy log indexes", where, n);
  }
  out->columns = c;
  for (size_t i = 0; i < n; ++i) {
    if (c.position[i] < -1 || c.position[i] > INT32_MAX) {
      Fail(ErrorCode::kCorruption, "'{}': row {}: position {} out of range", where, i,
           c.position[i]);
    }
    if (!c.user.empty() && c.user[i] != BanditLogBuilder::kNoUser && c.user[i] >= users.size()) {
      Fail(ErrorCode::kCorruption, "'{}': row {}: user {} outside the {} users", where, i,
           c.user[i], users.size());
    }
    if ((i + 1) % kReleaseRows == 0) out->Release(i + 1 - kReleaseRows, i + 1);
  }
}

}  // namespace

BanditLog LoadBanditLogV2(std::shared_ptr<const ArtifactReader> r, const std::string& path,
                          bool lazy) {
  BanditLog log;
  try {
    const auto& h = r->header();
    const size_t n = h.at("rows").get<size_t>();
    log.source = h.value("source", "");
    log.format = h.value("format", "");
    for (const auto& s : h.at("action_sets")) {
      std::vector<Action> set;
      for (const auto& a : s) {
        Action act{a.at("id").get<std::string>(), {}};
        for (const auto& p : a.at("features")) {
          if (p.at(1).is_string()) {
            act.features.emplace_back(p.at(0).get<std::string>(), p.at(1).get<std::string>());
          } else {
            act.features.emplace_back(p.at(0).get<std::string>(), p.at(1).get<double>());
          }
        }
        set.push_back(std::move(act));
      }
      log.action_sets.push_back(std::move(set));
    }
    auto core = std::make_shared<TypedContexts>();
    const std::vector<std::string> names = UnpackStrings(*r, "key_name", path);
    const std::vector<std::string> cats = UnpackStrings(*r, "key_category", path);
    const std::vector<std::string> users = UnpackStrings(*r, "user", path);
    auto kinds = r->Get<uint8_t>("key_kind");
    if (cats.size() != names.size() || kinds.size() != names.size()) {
      Fail(ErrorCode::kCorruption, "'{}': the key dictionary's columns differ in length", path);
    }
    core->keys.resize(names.size());
    for (size_t k = 0; k < names.size(); ++k) {
      ContextKey& key = core->keys[k];
      key.name = names[k];
      key.categorical = kinds[k] != 0;
      if (key.categorical) key.category = cats[k];
      key.hash = key.categorical ? FeatureHash('c', key.name, key.category)
                                 : FeatureHash('c', key.name, FeatureValue(0.0));
    }
    const RowColumns c = {r->Get<uint32_t>("action_set"), r->Get<uint32_t>("chosen"),
                          r->Get<double>("propensity"),   r->Get<double>("reward"),
                          r->Get<int64_t>("position"),    r->Get<int64_t>("ts"),
                          r->Get<uint32_t>("user")};
    auto off = r->Get<uint64_t>("ctx_offsets");
    if (c.user.size() != n || off.size() != n + 1) {
      Fail(ErrorCode::kCorruption, "'{}': column lengths differ from {} rows", path, n);
    }
    core->Map(r, off, r->Get<uint32_t>("ctx_ids"), r->Get<double>("ctx_values"));
    core->Check(path);
    if (lazy) {
      auto rows = std::make_shared<LazyRows>();
      CheckLazyRows(c, n, users, path, rows.get());
      rows->file = r;
      rows->users = users;
      log.lazy = std::move(rows);
      log.lazy_count = n;
    } else {
      FillRows(c, n, users, true, path, &log);
    }
    core->KeyActionSets(log.action_sets);
    log.typed = std::move(core);
  } catch (const nlohmann::json::exception& e) {
    Fail(ErrorCode::kCorruption, "'{}': damaged bandit log: {}", path, e.what());
  }
  return log;
}

}  // namespace marquee

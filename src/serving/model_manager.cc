#include "serving/model_manager.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>

#include "common/log.h"
#include "core/model_kind.h"
#include "kinds/builtin.h"
#include "marquee/env.h"
#include "registry/backend_url.h"
#include "registry/registry.h"

namespace marquee {

ModelManager::ModelManager(ModelManagerOptions options)
    : options_(std::move(options)),
      kinds_(options_.kinds != nullptr ? options_.kinds : &BuiltinKinds()),
      slots_(new std::unique_ptr<Slot>[kMaxRefs]) {
  if (options_.refs.size() > kMaxRefs) {
    Fail(ErrorCode::kResourceExhausted, "{} models given, a server serves at most {}",
         options_.refs.size(), kMaxRefs);
  }
  {
    MutexLock lock(&add_mu_);
    for (const auto& r : options_.refs) {
      const std::string canonical = ParseModelRef(r).ToString();
      for (const auto& s : slots()) {
        if (s->ref == r || s->canonical == canonical) {
          Fail(ErrorCode::kInvalidArgument, "model '{}' is given twice", r);
        }
      }
      AddSlot(r, kKindRecommender, /*required=*/true);
    }
  }
  MutexLock lock(&refresh_mu_);
  registry_ = std::make_unique<Registry>(options_.home);
}

ModelManager::~ModelManager() { Stop(); }

ModelManager::Slot* ModelManager::AddSlot(const std::string& ref, std::string_view kind,
                                          bool required) {
  const size_t n = num_slots_.load(std::memory_order_relaxed);  // only AddSlot writes it
  if (n == kMaxRefs) {
    Fail(ErrorCode::kResourceExhausted, "cannot serve '{}': a server serves at most {} models", ref,
         kMaxRefs);
  }
  const ModelRef parsed = ParseModelRef(ref);
  auto slot = std::make_unique<Slot>();
  slot->ref = ref;
  slot->canonical = parsed.ToString();
  slot->model = parsed.model;
  slot->kind = std::string(kind);
  slot->required = required;
  Slot* raw = slot.get();
  slots_[n] = std::move(slot);
  num_slots_.store(n + 1, std::memory_order_release);  // published: readers see it whole
  return raw;
}

std::vector<std::string> ModelManager::Add(const std::vector<std::string>& refs,
                                           std::string_view kind, bool required) {
  MutexLock lock(&add_mu_);
  std::vector<std::string> added;
  for (const auto& r : refs) {
    const std::string canonical = ParseModelRef(r).ToString();
    const auto all = slots();
    const bool have = std::any_of(all.begin(), all.end(), [&](const auto& s) {
      return s->kind == kind && (s->ref == r || s->canonical == canonical);
    });
    if (have) continue;
    AddSlot(r, kind, required);
    added.push_back(r);
  }
  return added;
}

nlohmann::json ModelManager::Refresh(bool force) {
  MutexLock lock(&refresh_mu_);
  nlohmann::json out = nlohmann::json::object();
  for (const auto& slot : slots()) out[slot->ref] = RefreshSlot(*slot, force, /*strict=*/false);
  return out;
}

nlohmann::json ModelManager::RefreshKind(std::string_view kind, bool force, bool strict) {
  MutexLock lock(&refresh_mu_);
  nlohmann::json out = nlohmann::json::object();
  for (const auto& slot : slots()) {
    if (slot->kind == kind) out[slot->ref] = RefreshSlot(*slot, force, strict);
  }
  return out;
}

std::shared_ptr<const Servable> ModelManager::LoadVersion(Slot& slot, const VersionRecord& v,
                                                          bool* resumed) {
  // The version's kind must be the slot's: a family no kind owns, or another kind's, is refused
  // naming both. Versions registered before families were recorded are recommenders.
  const ModelKind* kind = kinds_->OfVersion(v.family);
  const ModelKind* wanted = kinds_->ByName(slot.kind);
  if (wanted == nullptr) Fail(ErrorCode::kInternal, "no model kind is called '{}'", slot.kind);
  if (kind != wanted) {
    Fail(ErrorCode::kInvalidArgument, "{}: {} v{} is a {} model, not a {} ({})", slot.ref,
         v.model_name, v.version, v.family.empty() ? "unknown" : v.family, wanted->noun(),
         fmt::join(wanted->families(), ", "));
  }
  {
    MutexLock lock(&slot.mu);
    for (const auto& r : slot.retired) {
      if (r->version == v.version && r->digest == v.artifact) {
        *resumed = true;
        return r;
      }
    }
  }
  *resumed = false;
  registry_->artifacts().Verify(v.artifact);
  ServableSpec spec;
  spec.artifact_path = registry_->artifacts().PathFor(v.artifact);
  spec.name = slot.model;
  spec.version = v.version;
  spec.digest = v.artifact;
  spec.family = v.family;
  spec.env = registry_->env();
  spec.score_cache_bytes = options_.score_cache_bytes;
  spec.retrieval = options_.retrieval;
  Stopwatch sw;
  std::shared_ptr<Servable> servable = kind->Load(spec);
  servable->name = spec.name;
  servable->version = spec.version;
  servable->digest = spec.digest;
  if (!spec.family.empty()) servable->family = spec.family;  // else the kind's (older versions)
  servable->loaded_at = static_cast<int64_t>(std::time(nullptr));
  if (options_.prepare) options_.prepare(*servable);
  servable->load_seconds = sw.Seconds();
  return servable;
}

void ModelManager::Swap(Slot& slot, std::shared_ptr<const Servable> next) {
  MutexLock lock(&slot.mu);
  auto& retired = slot.retired;
  retired.erase(std::remove(retired.begin(), retired.end(), next), retired.end());
  std::shared_ptr<const Servable> prev = slot.current.exchange(std::move(next));
  if (!prev || !prev->KeepWhenRetired()) return;
  retired.push_back(std::move(prev));
  if (retired.size() > kRetiredKept) retired.erase(retired.begin());
}

std::string ModelManager::RefreshSlot(Slot& slot, bool force, bool strict) {
  int64_t version = 0;
  try {
    VersionRecord v = registry_->Resolve(slot.ref);
    version = v.version;
    auto cur = slot.current.load();
    {
      MutexLock lock(&slot.mu);
      slot.last_checked = static_cast<int64_t>(std::time(nullptr));
      if (cur && cur->version == v.version && cur->digest == v.artifact) return "unchanged";
      // A version that failed once is not retried on every poll; a reload retries it.
      if (!force && slot.failed_version == v.version && !slot.last_error.empty()) {
        if (strict) Fail(ErrorCode::kFailedPrecondition, "{}", slot.last_error);
        return "failed earlier: " + slot.last_error;
      }
    }
    bool resumed = false;
    std::shared_ptr<const Servable> next = LoadVersion(slot, v, &resumed);
    if (options_.before_swap) options_.before_swap(slot.ref, v.version);
    Swap(slot, next);  // requests from now on get the new version
    {
      MutexLock lock(&slot.mu);
      slot.last_error.clear();
      slot.failed_version = 0;
    }
    if (resumed) resumed_.fetch_add(1);
    if (cur && options_.on_swap) options_.on_swap();
    spdlog::info("serve: {} -> {} v{} ({}, {}){}", slot.ref, slot.model, v.version, next->family,
                 resumed ? "resumed: it kept learning while retired"
                         : fmt::format("{:.2f}s", next->load_seconds),
                 cur ? fmt::format(", replacing v{}", cur->version) : "");
    return fmt::format("{} v{}", resumed ? "resumed" : "loaded", v.version);
  } catch (const std::exception& e) {
    {
      MutexLock lock(&slot.mu);
      slot.last_error = e.what();
      slot.failed_version = version;
    }
    spdlog::error("serve: loading {}{} failed: {}", slot.ref,
                  version > 0 ? fmt::format(" (v{})", version) : "", e.what());
    if (options_.on_failure) options_.on_failure(slot.ref, e.what());
    if (strict) throw;
    return std::string("failed: ") + e.what();
  }
}

void ModelManager::StartPolling(std::chrono::milliseconds interval) {
  MetadataStore* notifying = nullptr;
  if (interval.count() > 0) {
    MutexLock lock(&refresh_mu_);
    // Only PostgreSQL tells of moves; asking SQLite would sleep (MetadataStore's default).
    const BackendConfig backends = ResolveBackends(options_.home, registry_->env());
    if (!backends.registry.empty() &&
        ParseRegistryUrl(backends.registry).scheme == RegistryUrl::Scheme::kPostgres) {
      notifying = &registry_->store();  // WaitForAliasChange is thread-safe
    }
  }
  poller_ = std::thread([this, interval] {
    poll_mu_.Lock();
    auto next = std::chrono::steady_clock::now() + interval;
    for (;;) {
      auto wake = [&] {
        poll_mu_.AssertHeld();
        return stop_ || !waiting_.empty() || alias_moved_;
      };
      if (interval.count() > 0) {
        poll_cv_.WaitFor(&poll_mu_, next - std::chrono::steady_clock::now(), wake);
      } else {
        poll_cv_.Wait(&poll_mu_, wake);
      }
      if (stop_) break;
      auto callers = std::move(waiting_);
      waiting_.clear();
      if (alias_moved_) notified_.fetch_add(1);
      alias_moved_ = false;
      poll_mu_.Unlock();
      if (callers.empty() && options_.on_poll) options_.on_poll();
      nlohmann::json result = Refresh(!callers.empty());
      for (auto& done : callers) done(result);
      poll_mu_.Lock();
      next = std::chrono::steady_clock::now() + interval;
    }
    auto callers = std::move(waiting_);
    waiting_.clear();
    poll_mu_.Unlock();
    for (auto& done : callers) done({{"error", "the server is shutting down"}});
  });
  if (notifying != nullptr) {
    listener_ = std::thread([this, notifying, interval] { Listen(notifying, interval); });
  }
}

void ModelManager::Listen(MetadataStore* store, std::chrono::milliseconds interval) {
  // Stop() cannot interrupt a wait on the store, so each wait is short.
  const auto slice = std::min(interval, std::chrono::milliseconds(500));
  for (;;) {
    {
      MutexLock lock(&poll_mu_);
      if (stop_) return;
    }
    // kMoved is a move, or a listen just (re)established after which moves made meanwhile must
    // be read: refresh now. kUnknown (the registry unreachable) says nothing: the timed poll
    // covers it, and the reconnect that follows answers kMoved.
    if (store->WaitForAliasChange(static_cast<int>(slice.count())) !=
        MetadataStore::AliasChange::kMoved) {
      continue;
    }
    {
      MutexLock lock(&poll_mu_);
      if (stop_) return;
      alias_moved_ = true;
    }
    poll_cv_.NotifyAll();
  }
}

void ModelManager::RequestRefresh(std::function<void(nlohmann::json)> done) {
  {
    MutexLock lock(&poll_mu_);
    if (!stop_ && poller_.joinable()) {
      waiting_.push_back(std::move(done));
      poll_cv_.NotifyAll();
      return;
    }
  }
  done({{"error", "model polling is not running"}});
}

void ModelManager::Stop() {
  {
    MutexLock lock(&poll_mu_);
    stop_ = true;
  }
  poll_cv_.NotifyAll();
  if (listener_.joinable()) listener_.join();
  if (poller_.joinable()) poller_.join();
}

const ModelManager::Slot* ModelManager::FindSlot(std::string_view ref,
                                                 std::string_view kind) const {
  const auto all = slots();
  for (const auto& s : all) {
    if (s->kind == kind && s->ref == ref) return s.get();
  }
  // By model name: the one reference serving it; among several, the one given at start (a cell
  // added later for an experiment must not make a running client's bare name ambiguous).
  const Slot* by_name = nullptr;
  const Slot* required = nullptr;
  int named = 0, named_required = 0;
  for (const auto& s : all) {
    if (s->kind != kind || s->model != ref) continue;
    ++named;
    by_name = s.get();
    if (s->required) {
      ++named_required;
      required = s.get();
    }
  }
  if (named <= 1) return by_name;
  if (named_required == 1) return required;
  std::string refs;
  for (const auto& s : all) {
    if (s->kind == kind && s->model == ref) {
      refs += fmt::format("{}'{}'", refs.empty() ? "" : ", ", s->ref);
    }
  }
  Fail(ErrorCode::kInvalidArgument, "model '{}' is served under several references ({}): name one",
       ref, refs);
}

std::shared_ptr<const Servable> ModelManager::Find(std::string_view ref,
                                                   std::string_view kind) const {
  const Slot* s = FindSlot(ref, kind);
  if (s == nullptr) return nullptr;
  auto m = s->current.load();
  if (!m) Fail(ErrorCode::kUnavailable, "model '{}' is not loaded yet", s->ref);
  return m;
}

std::shared_ptr<const ServableModel> ModelManager::Get(std::string_view ref) const {
  auto m = Find(ref, kKindRecommender);
  if (!m) Fail(ErrorCode::kNotFound, "unknown model '{}': this server does not serve it", ref);
  // Every servable in a recommender slot comes from the recommender kind's Load.
  return std::static_pointer_cast<const ServableModel>(std::move(m));
}

std::shared_ptr<const Servable> ModelManager::GetOrLoad(std::string_view ref,
                                                        std::string_view kind) {
  const std::string canonical = ParseModelRef(std::string(ref)).ToString();
  auto find = [&]() -> Slot* {
    for (const auto& s : slots()) {
      if (s->kind == kind && (s->ref == ref || s->canonical == canonical)) return s.get();
    }
    return nullptr;
  };
  if (Slot* s = find()) {
    if (auto m = s->current.load()) return m;
  }
  MutexLock lock(&refresh_mu_);
  Slot* slot = find();
  if (slot == nullptr) {
    // Resolve and check the kind before adding a slot: a request naming an unknown model, or
    // one of another kind, must not leave a slot behind.
    VersionRecord v = registry_->Resolve(std::string(ref));
    const ModelKind* k = kinds_->OfVersion(v.family);
    if (k == nullptr || k->name() != kind) {
      const ModelKind* wanted = kinds_->ByName(kind);
      Fail(ErrorCode::kInvalidArgument, "model: {} is a {} model, not a {}", ref,
           v.family.empty() ? "unknown" : v.family,
           wanted != nullptr ? wanted->noun() : std::string_view(kind));
    }
    {
      MutexLock add(&add_mu_);
      slot = find();
      if (slot == nullptr) slot = AddSlot(std::string(ref), kind, /*required=*/false);
    }
  }
  if (auto m = slot->current.load()) return m;  // loaded while this thread waited
  // A version that failed to load is not retried per request (a reload retries it).
  RefreshSlot(*slot, /*force=*/false, /*strict=*/true);
  return slot->current.load();
}

void ModelManager::ForEachVersion(std::string_view kind, std::string_view model, int64_t version,
                                  const std::function<void(const Servable&)>& fn) const {
  std::vector<std::shared_ptr<const Servable>> found;
  for (const auto& s : slots()) {
    if (s->kind != kind || s->model != model) continue;
    MutexLock lock(&s->mu);  // current or retired, not lost to a swap in between
    auto cur = s->current.load();
    if (cur && cur->version == version) {
      found.push_back(std::move(cur));
      continue;
    }
    for (const auto& r : s->retired) {
      if (r->version == version) {
        found.push_back(r);
        break;
      }
    }
  }
  std::sort(found.begin(), found.end());
  found.erase(std::unique(found.begin(), found.end()), found.end());
  for (const auto& f : found) fn(*f);
}

bool ModelManager::ready() const {
  for (const auto& s : slots()) {
    if (s->required && !s->current.load()) return false;
  }
  return true;
}

std::vector<std::string> ModelManager::Refs(std::string_view kind) const {
  std::vector<std::string> out;
  for (const auto& s : slots()) {
    if (s->kind == kind) out.push_back(s->ref);
  }
  return out;
}

nlohmann::json ModelManager::Describe(std::string_view kind) const {
  nlohmann::json models = nlohmann::json::array();
  for (const auto& s : slots()) {
    if (s->kind != kind) continue;
    auto m = s->current.load();
    nlohmann::json j = {{"ref", s->ref}, {"model", s->model}, {"state", m ? "loaded" : "loading"}};
    if (m) j.update(m->Describe());
    MutexLock lock(&s->mu);
    if (!s->last_error.empty()) {
      j["error"] = s->last_error;
      if (s->failed_version > 0) j["failed_version"] = s->failed_version;
      if (!m) j["state"] = "failed";
    }
    j["last_checked"] = s->last_checked;
    models.push_back(std::move(j));
  }
  return {{"models", models}};
}

std::vector<VersionStats> ModelManager::Versions() const {
  std::vector<VersionStats> out;
  std::vector<const Servable*> counted;  // each servable's counters are added once
  auto add = [&](const Slot& slot, const std::shared_ptr<const Servable>& m, const char* state,
                 const std::string& error) {
    VersionStats* v = nullptr;
    for (VersionStats& o : out) {
      if (o.version == m->version && o.kind == slot.kind && o.model == m->name) v = &o;
    }
    if (v == nullptr) {
      v = &out.emplace_back();
      v->kind = slot.kind;
      v->model = m->name;
      v->version = m->version;
      v->state = state;
      v->loaded_at = m->loaded_at;
    } else if (std::string_view(state) == "ready") {
      v->state = state;  // served by some reference: ready, even if another keeps it retired
    }
    if (std::string_view(state) == "ready") {
      v->refs.push_back(slot.ref);
      std::string alias = ParseModelRef(slot.ref).alias;
      if (!alias.empty() &&
          std::find(v->aliases.begin(), v->aliases.end(), alias) == v->aliases.end()) {
        v->aliases.push_back(std::move(alias));
      }
      if (!error.empty()) v->error = error;
    }
    if (std::find(counted.begin(), counted.end(), m.get()) != counted.end()) return;
    counted.push_back(m.get());
    const VersionCounters& c = m->counters;
    v->requests += c.requests.load(std::memory_order_relaxed);
    v->errors += c.errors.load(std::memory_order_relaxed);
    v->sum_ns += c.sum_ns.load(std::memory_order_relaxed);
    for (size_t b = 0; b < v->latency.size(); ++b) {
      v->latency[b] += c.latency[b].load(std::memory_order_relaxed);
    }
  };
  std::vector<VersionStats> unloaded;
  for (const auto& s : slots()) {
    std::shared_ptr<const Servable> m;
    std::string error;
    std::vector<std::shared_ptr<const Servable>> retired;
    {
      MutexLock lock(&s->mu);  // current and retired of one moment, not split by a swap
      m = s->current.load();
      error = s->last_error;
      retired = s->retired;
    }
    if (m) {
      add(*s, m, "ready", error);
    } else {
      VersionStats& v = unloaded.emplace_back();
      v.kind = s->kind;
      v.model = s->model;
      v.refs.push_back(s->ref);
      std::string alias = ParseModelRef(s->ref).alias;
      if (!alias.empty()) v.aliases.push_back(std::move(alias));
      v.state = error.empty() ? "loading" : "failed";
      v.error = error;
    }
    for (const auto& r : retired) add(*s, r, "retired", "");
  }
  for (auto& v : unloaded) out.push_back(std::move(v));
  return out;
}

std::string ModelManager::MetricsText() const {
  std::string out =
      "# HELP marquee_model_version The version each served model reference has loaded.\n"
      "# TYPE marquee_model_version gauge\n";
  for (const auto& s : slots()) {
    auto m = s->current.load();
    out += fmt::format("marquee_model_version{{ref=\"{}\",model=\"{}\"}} {}\n", s->ref, s->model,
                       m ? m->version : 0);
  }
  return out + RenderVersionMetrics(Versions());
}

}  // namespace marquee

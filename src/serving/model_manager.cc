#include "serving/model_manager.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <numeric>

#include "common/log.h"
#include "marquee/error.h"
#include "registry/registry.h"

namespace marquee::serving {

std::span<const uint32_t> ServableModel::TrainingItems(uint32_t user) const {
  if (!bundle.training || user >= bundle.training->history.rows) return {};
  return bundle.training->history.row_indices(user);
}

nlohmann::json ServableModel::Describe() const {
  nlohmann::json j = Servable::Describe();
  j["items"] = num_items();
  j["known_users"] = user_index.size();
  j["loaded_at"] = loaded_at;
  j["load_seconds"] = load_seconds;
  return j;
}

std::shared_ptr<const ServableModel> MakeServable(ModelBundle bundle, std::string name,
                                                  int64_t version, size_t score_cache_bytes) {
  Stopwatch sw;
  auto m = std::make_shared<ServableModel>();
  m->name = std::move(name);
  m->version = version;
  m->digest = bundle.digest;
  m->family = std::string(bundle.model->family());
  m->bundle = std::move(bundle);
  const uint32_t n = m->num_items();
  if (n == 0) Fail(ErrorCode::kFailedPrecondition, "the model has no items");
  m->item_index.reserve(n);
  for (uint32_t i = 0; i < n; ++i) m->item_index.emplace(m->bundle.item_ids[i], i);
  m->popularity.assign(n, 0.0f);
  if (m->bundle.training) {
    const auto& t = *m->bundle.training;
    m->user_index.reserve(t.user_ids.size());
    for (uint32_t u = 0; u < t.user_ids.size(); ++u) m->user_index.emplace(t.user_ids[u], u);
    for (uint32_t i : t.history.indices) m->popularity[i] += 1.0f;
  }
  m->popular.resize(n);
  std::iota(m->popular.begin(), m->popular.end(), 0u);
  std::stable_sort(m->popular.begin(), m->popular.end(),
                   [&](uint32_t a, uint32_t b) { return m->popularity[a] > m->popularity[b]; });
  // Warm: one fold-in of the most popular item touches every page of the model's state (the
  // artifact is memory-mapped), so the first real request does not pay for the page faults.
  CsrMatrix h;
  h.rows = 1;
  h.cols = n;
  h.indptr = {0, 1};
  h.indices = {m->popular[0]};
  h.values = {1.0f};
  std::vector<float> scores(n);
  Context ctx;
  ctx.threads = 1;
  m->bundle.model->ScoreBatch(h, scores, ctx);
  size_t finite = 0;
  for (float s : scores) finite += std::isfinite(s) ? 1 : 0;
  if (finite == 0) Fail(ErrorCode::kFailedPrecondition, "warm-up scores are all non-finite");
  if (m->bundle.training && score_cache_bytes > 0) {
    const CsrMatrix& x = m->bundle.training->history;
    const size_t bytes = static_cast<size_t>(x.rows) * n * sizeof(float);
    if (x.rows > 0 && x.cols == n && bytes <= score_cache_bytes) {
      m->known_scores.resize(static_cast<size_t>(x.rows) * n);
      constexpr uint32_t kChunk = 256;
      for (uint32_t r0 = 0; r0 < x.rows; r0 += kChunk) {
        const uint32_t r1 = std::min(x.rows, r0 + kChunk);
        CsrMatrix part;
        part.cols = n;
        // As Service::Recommend builds a history: the training items, every value 1.
        for (uint32_t u = r0; u < r1; ++u) part.AppendRow(m->TrainingItems(u), {});
        m->bundle.model->ScoreBatch(
            part,
            std::span<float>(m->known_scores.data() + static_cast<size_t>(r0) * n,
                             static_cast<size_t>(r1 - r0) * n),
            ctx);
      }
    }
  }
  m->loaded_at = static_cast<int64_t>(std::time(nullptr));
  m->load_seconds = sw.Seconds();
  return m;
}

ModelManager::ModelManager(ModelManagerOptions options)
    : options_(std::move(options)), slots_(new std::unique_ptr<Slot>[kMaxRefs]) {
  if (options_.refs.size() > kMaxRefs) {
    Fail(ErrorCode::kResourceExhausted, "{} models given, a server serves at most {}",
         options_.refs.size(), kMaxRefs);
  }
  size_t n = 0;
  for (const auto& r : options_.refs) {
    ModelRef ref = ParseModelRef(r);
    for (size_t i = 0; i < n; ++i) {
      if (slots_[i]->ref == r) Fail(ErrorCode::kInvalidArgument, "model '{}' is given twice", r);
    }
    auto slot = std::make_unique<Slot>();
    slot->ref = r;
    slot->model = ref.model;
    slots_[n++] = std::move(slot);
  }
  num_slots_.store(n, std::memory_order_release);
  registry_ = std::make_unique<Registry>(options_.home);
}

std::vector<std::string> ModelManager::Add(const std::vector<std::string>& refs) {
  std::lock_guard lock(add_mu_);
  std::vector<std::string> added;
  size_t n = num_slots_.load(std::memory_order_relaxed);  // only Add writes it
  for (const auto& r : refs) {
    const std::string canonical = ParseModelRef(r).ToString();
    bool have = false;
    for (size_t i = 0; i < n && !have; ++i) {
      have = slots_[i]->ref == r || ParseModelRef(slots_[i]->ref).ToString() == canonical;
    }
    if (have) continue;
    if (n == kMaxRefs) {
      Fail(ErrorCode::kResourceExhausted, "cannot serve '{}': a server serves at most {} models", r,
           kMaxRefs);
    }
    auto slot = std::make_unique<Slot>();
    slot->ref = r;
    slot->model = ParseModelRef(r).model;
    slot->required = false;
    slots_[n++] = std::move(slot);
    num_slots_.store(n, std::memory_order_release);  // published: Refresh and Get see it
    added.push_back(r);
  }
  return added;
}

ModelManager::~ModelManager() { Stop(); }

nlohmann::json ModelManager::Refresh(bool force) {
  std::lock_guard lock(refresh_mu_);
  nlohmann::json out = nlohmann::json::object();
  for (const auto& slot : slots()) {
    std::string outcome;
    int64_t version = 0;
    try {
      VersionRecord v = registry_->Resolve(slot->ref);
      version = v.version;
      auto cur = slot->current.load();
      {
        std::lock_guard sl(slot->status_mu);
        slot->last_checked = static_cast<int64_t>(std::time(nullptr));
        // A version that failed once is not retried on every poll; a reload retries it.
        if (cur && cur->version == v.version && cur->digest == v.artifact) {
          out[slot->ref] = "unchanged";
          continue;
        }
        if (!force && slot->failed_version == v.version && !slot->last_error.empty()) {
          out[slot->ref] = "failed earlier: " + slot->last_error;
          continue;
        }
      }
      registry_->artifacts().Verify(v.artifact);
      ModelBundle b = LoadModelBundle(registry_->artifacts().PathFor(v.artifact), registry_->env());
      auto servable =
          MakeServable(std::move(b), slot->model, v.version, options_.score_cache_bytes);
      if (options_.before_swap) options_.before_swap(slot->ref, v.version);
      slot->current.store(servable);  // the swap: requests from now on get the new version
      {
        std::lock_guard sl(slot->status_mu);
        slot->last_error.clear();
        slot->failed_version = 0;
      }
      if (cur && options_.on_swap) options_.on_swap();
      spdlog::info("serve: {} -> {} v{} ({}, {:.2f}s){}", slot->ref, slot->model, v.version,
                   servable->family, servable->load_seconds,
                   cur ? fmt::format(", replacing v{}", cur->version) : "");
      outcome = fmt::format("loaded v{}", v.version);
    } catch (const std::exception& e) {
      {
        std::lock_guard sl(slot->status_mu);
        slot->last_error = e.what();
        slot->failed_version = version;
      }
      spdlog::error("serve: loading {}{} failed: {}", slot->ref,
                    version > 0 ? fmt::format(" (v{})", version) : "", e.what());
      if (options_.on_failure) options_.on_failure(slot->ref, e.what());
      outcome = std::string("failed: ") + e.what();
    }
    out[slot->ref] = outcome;
  }
  return out;
}

void ModelManager::StartPolling(std::chrono::milliseconds interval) {
  poller_ = std::thread([this, interval] {
    std::unique_lock lock(poll_mu_);
    auto next = std::chrono::steady_clock::now() + interval;
    for (;;) {
      auto wake = [&] { return stop_ || !waiting_.empty(); };
      if (interval.count() > 0) {
        poll_cv_.wait_until(lock, next, wake);
      } else {
        poll_cv_.wait(lock, wake);
      }
      if (stop_) break;
      auto callers = std::move(waiting_);
      waiting_.clear();
      lock.unlock();
      if (callers.empty() && options_.on_poll) options_.on_poll();
      nlohmann::json result = Refresh(!callers.empty());
      for (auto& done : callers) done(result);
      lock.lock();
      next = std::chrono::steady_clock::now() + interval;
    }
    auto callers = std::move(waiting_);
    waiting_.clear();
    lock.unlock();
    for (auto& done : callers) done({{"error", "the server is shutting down"}});
  });
}

void ModelManager::RequestRefresh(std::function<void(nlohmann::json)> done) {
  {
    std::lock_guard lock(poll_mu_);
    if (!stop_ && poller_.joinable()) {
      waiting_.push_back(std::move(done));
      poll_cv_.notify_all();
      return;
    }
  }
  done({{"error", "model polling is not running"}});
}

void ModelManager::Stop() {
  {
    std::lock_guard lock(poll_mu_);
    stop_ = true;
  }
  poll_cv_.notify_all();
  if (poller_.joinable()) poller_.join();
}

const ModelManager::Slot* ModelManager::Find(std::string_view ref) const {
  const auto all = slots();
  for (const auto& s : all) {
    if (s->ref == ref) return s.get();
  }
  // By model name: the one reference serving it; among several, the one given at start (a cell
  // added later for an experiment must not make a running client's bare name ambiguous).
  const Slot* by_name = nullptr;
  const Slot* required = nullptr;
  int named = 0, named_required = 0;
  for (const auto& s : all) {
    if (s->model != ref) continue;
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
    if (s->model == ref) refs += fmt::format("{}'{}'", refs.empty() ? "" : ", ", s->ref);
  }
  Fail(ErrorCode::kInvalidArgument, "model '{}' is served under several references ({}): name one",
       ref, refs);
}

std::shared_ptr<const ServableModel> ModelManager::Get(std::string_view ref) const {
  const Slot* s = Find(ref);
  if (s == nullptr)
    Fail(ErrorCode::kNotFound, "unknown model '{}': this server does not serve it", ref);
  auto m = s->current.load();
  if (!m) Fail(ErrorCode::kUnavailable, "model '{}' is not loaded yet", ref);
  return m;
}

bool ModelManager::ready() const {
  for (const auto& s : slots()) {
    if (s->required && !s->current.load()) return false;
  }
  return true;
}

nlohmann::json ModelManager::Describe() const {
  nlohmann::json models = nlohmann::json::array();
  for (const auto& s : slots()) {
    auto m = s->current.load();
    nlohmann::json j = {{"ref", s->ref}, {"model", s->model}, {"state", m ? "loaded" : "loading"}};
    if (m) j.update(m->Describe());
    std::lock_guard sl(s->status_mu);
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

std::string ModelManager::MetricsText() const {
  std::string out =
      "# HELP marquee_model_version The version each served model reference has loaded.\n"
      "# TYPE marquee_model_version gauge\n";
  for (const auto& s : slots()) {
    auto m = s->current.load();
    out += fmt::format("marquee_model_version{{ref=\"{}\",model=\"{}\"}} {}\n", s->ref, s->model,
                       m ? m->version : 0);
  }
  return out;
}

}  // namespace marquee::serving

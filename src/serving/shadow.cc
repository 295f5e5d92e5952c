#include "serving/shadow.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <set>

#include "common/thread_pool.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "registry/metadata_store.h"
#include "registry/registry.h"
#include "serving/model_manager.h"

namespace marquee {
namespace {

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A uniform draw in [0, 1) from a per-thread splitmix64 stream (no lock on the request path).
double Draw(uint64_t seed) {
  thread_local uint64_t state = seed ^ std::hash<std::thread::id>{}(std::this_thread::get_id());
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

}  // namespace

ShadowScorer::ShadowScorer(ShadowOptions options, ModelManager* models, const Ranker* ranker)
    : options_(std::move(options)), models_(models), ranker_(ranker) {
  if (options_.seed == 0) options_.seed = static_cast<uint64_t>(NowSeconds());
  log_ = ShadowLog::Open(options_.home + "/serving/shadow", options_.log);
  {
    MutexLock lock(&refresh_mu_);
    store_ = OpenMetadataStore(options_.home, Env::Default());
  }
  settings_.store(std::make_shared<const Settings>());
  worker_ = std::thread([this] { Work(); });
}

ShadowScorer::~ShadowScorer() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.NotifyAll();
  if (worker_.joinable()) worker_.join();
  log_.reset();  // drains the records handed to the log
}

bool ShadowScorer::Refresh() {
  MutexLock lock(&refresh_mu_);
  auto next = std::make_shared<Settings>();
  std::vector<std::string> candidates;
  try {
    std::set<std::string> names;
    for (const std::string& ref : models_->Refs(kKindRecommender)) {
      names.insert(ParseModelRef(ref).model);
    }
    for (const std::string& name : names) {
      ReplicaShadow s;
      if (auto v = store_->GetAlias(name, std::string(kShadowAlias))) {
        s.candidate = *v;
        s.sample = 0.0;
      }
      const auto tags = store_->GetTags(name, 0);
      if (auto it = tags.find(std::string(kShadowSampleTag)); it != tags.end() && s.candidate) {
        double v = 0;
        const auto [end, ec] =
            std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
        if (ec == std::errc() && end == it->second.data() + it->second.size() && v >= 0 && v <= 1) {
          s.sample = v;
        } else {
          spdlog::warn("serve: model '{}': tag {} = '{}' is not a share in [0, 1]; not shadowing",
                       name, kShadowSampleTag, it->second);
        }
      }
      if (auto it = tags.find(std::string(kCanaryTag)); it != tags.end()) s.canary = it->second;
      if (s.candidate == 0 && s.canary.empty()) continue;
      if (s.candidate != 0 && s.sample > 0) {
        candidates.push_back(fmt::format("{}/{}", name, s.candidate));
      }
      next->emplace(name, std::move(s));
    }
  } catch (const Error& e) {
    spdlog::warn("serve: shadow settings: {}", e.what());
    return false;
  }
  // The candidates load at the manager's next refresh (the poller calls it right after).
  if (!candidates.empty()) models_->Add(candidates);
  any_.store(!next->empty(), std::memory_order_relaxed);
  settings_.store(std::move(next));
  return true;
}

std::optional<std::string> ShadowScorer::CanaryFor(std::string_view model) const {
  if (!any_.load(std::memory_order_relaxed)) return std::nullopt;
  const auto settings = settings_.load();
  auto it = settings->find(ParseModelRef(std::string(model)).model);
  if (it == settings->end() || it->second.canary.empty()) return std::nullopt;
  return it->second.canary;
}

void ShadowScorer::Offer(const RecommendRequest& r, const Ranked& ranked) {
  if (!any_.load(std::memory_order_relaxed) || !ranked.model || ranked.error) return;
  const auto settings = settings_.load();
  auto it = settings->find(ranked.model->name);
  if (it == settings->end() || it->second.candidate == 0 || it->second.sample <= 0) return;
  // The candidate itself (a request naming NAME@shadow) is not shadowed against itself.
  if (ranked.model->version == it->second.candidate) return;
  if (it->second.sample < 1 && Draw(options_.seed) >= it->second.sample) return;
  offered_.fetch_add(1, std::memory_order_relaxed);
  {
    MutexLock lock(&mu_);
    if (!stop_ && queue_.size() < options_.max_queue) {
      queue_.push_back(Job{r, ranked.model, ranked.items, it->second.candidate, NowSeconds()});
      cv_.NotifyOne();
      return;
    }
  }
  dropped_.fetch_add(1, std::memory_order_relaxed);
}

void ShadowScorer::Work() {
  LowerCurrentThreadPriority();  // the answers that members wait for go first
  for (;;) {
    Job job;
    {
      MutexLock lock(&mu_);
      busy_ = false;
      cv_.NotifyAll();  // Flush waits for an idle worker
      cv_.Wait(&mu_, [&] {
        mu_.AssertHeld();
        return stop_ || !queue_.empty();
      });
      if (stop_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    Score(job);
  }
}

void ShadowScorer::Score(Job& job) {
  try {
    const std::string ref = fmt::format("{}/{}", job.production->name, job.candidate);
    std::shared_ptr<const ServableModel> candidate;
    try {
      candidate =
          std::static_pointer_cast<const ServableModel>(models_->Find(ref, kKindRecommender));
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kUnavailable) throw;  // still loading
    }
    if (!candidate) {
      not_loaded_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    job.request.model = ref;
    std::vector<Ranked> out = ranker_->Rank(std::span(&job.request, 1), std::span(&candidate, 1));
    if (out[0].error) {
      failed_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    ShadowRecord rec;
    rec.model = job.production->name;
    rec.production_version = job.production->version;
    rec.candidate_version = job.candidate;
    rec.user = job.request.user.value_or("");
    rec.ts = job.ts;
    rec.k = job.request.k;
    const auto& pids = job.production->bundle.item_ids;
    for (uint32_t i : job.items) rec.production.push_back(pids[i]);
    const auto& cids = candidate->bundle.item_ids;
    for (uint32_t i : out[0].items) rec.candidate.push_back(cids[i]);
    if (log_->Record(rec)) {
      scored_.fetch_add(1, std::memory_order_relaxed);
    } else {
      dropped_.fetch_add(1, std::memory_order_relaxed);
    }
  } catch (const std::exception& e) {
    failed_.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("serve: shadow scoring of model '{}': {}", job.production->name, e.what());
  }
}

void ShadowScorer::Flush() {
  {
    MutexLock lock(&mu_);
    cv_.Wait(&mu_, [&] {
      mu_.AssertHeld();
      return stop_ || (queue_.empty() && !busy_);
    });
  }
  log_->Flush();
}

nlohmann::json ShadowScorer::State(const std::string& model) const {
  const auto settings = settings_.load();
  ReplicaShadow s;
  if (auto it = settings->find(model); it != settings->end()) s = it->second;
  return nlohmann::json{
      {"model", model},
      {"candidate", s.candidate == 0 ? nlohmann::json(nullptr) : nlohmann::json(s.candidate)},
      {"sample", s.sample},
      {"canary", s.canary.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.canary)},
      {"offered", offered_.load()},
      {"dropped", dropped_.load()},
      {"scored", scored_.load()},
      {"failed", failed_.load()},
      {"not_loaded", not_loaded_.load()}};
}

}  // namespace marquee

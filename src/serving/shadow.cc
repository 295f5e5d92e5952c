#include "serving/shadow.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <set>

#include "common/thread_pool.h"
#include "kinds/bandit/live_policy.h"
#include "kinds/tabular/tabular_servable.h"
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

const char* SlotKindOf(ShadowKind k) {
  switch (k) {
    case ShadowKind::kBandit:
      return kKindBandit;
    case ShadowKind::kTabular:
      return kKindTabular;
    case ShadowKind::kRecommender:
      break;
  }
  return kKindRecommender;
}

ShadowScorer::ShadowScorer(ShadowOptions options, ModelManager* models, const Ranker* ranker)
    : options_(std::move(options)), models_(models), ranker_(ranker) {
  if (options_.seed == 0) options_.seed = static_cast<uint64_t>(NowSeconds());
  rng_.seed(options_.seed);
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
  std::map<ShadowKind, std::vector<std::string>> candidates;
  try {
    // A model's kind is its slots' (a name served as several kinds: the first listed here).
    std::map<std::string, ShadowKind> names;
    for (const auto& [slot_kind, kind] : {std::pair{kKindRecommender, ShadowKind::kRecommender},
                                          std::pair{kKindBandit, ShadowKind::kBandit},
                                          std::pair{kKindTabular, ShadowKind::kTabular}}) {
      for (const std::string& ref : models_->Refs(slot_kind)) {
        names.emplace(ParseModelRef(ref).model, kind);
      }
    }
    for (const auto& [name, kind] : names) {
      ReplicaShadow s;
      s.kind = kind;
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
        candidates[kind].push_back(fmt::format("{}/{}", name, s.candidate));
      }
      next->emplace(name, std::move(s));
    }
  } catch (const Error& e) {
    spdlog::warn("serve: shadow settings: {}", e.what());
    return false;
  }
  // The candidates load at the manager's next refresh (the poller calls it right after).
  for (const auto& [kind, refs] : candidates) models_->Add(refs, SlotKindOf(kind));
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

int64_t ShadowScorer::Sample(std::string_view model, int64_t version) const {
  if (!any_.load(std::memory_order_relaxed)) return 0;
  const auto settings = settings_.load();
  auto it = settings->find(model);
  if (it == settings->end() || it->second.candidate == 0 || it->second.sample <= 0) return 0;
  // The candidate itself (a request naming NAME@shadow) is not shadowed against itself.
  if (version == it->second.candidate) return 0;
  if (it->second.sample < 1 && Draw(options_.seed) >= it->second.sample) return 0;
  offered_.fetch_add(1, std::memory_order_relaxed);
  return it->second.candidate;
}

void ShadowScorer::Offer(const RecommendRequest& r, const Ranked& ranked) {
  if (!any_.load(std::memory_order_relaxed) || !ranked.model || ranked.error) return;
  const int64_t candidate = Sample(ranked.model->name, ranked.model->version);
  if (candidate == 0) return;
  Enqueue(Job{candidate, NowSeconds(), RecommendJob{r, ranked.model, ranked.items}});
}

void ShadowScorer::Offer(ShadowDecision d) {
  const int64_t candidate = d.candidate;
  Enqueue(Job{candidate, NowSeconds(), std::move(d)});
}

void ShadowScorer::Offer(ShadowPrediction p) {
  const int64_t candidate = p.candidate;
  Enqueue(Job{candidate, NowSeconds(), std::move(p)});
}

void ShadowScorer::Enqueue(Job job) {
  {
    MutexLock lock(&mu_);
    if (!stop_ && queue_.size() < options_.max_queue) {
      queue_.push_back(std::move(job));
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

namespace {

// The candidate `ref` of `kind` when it is loaded, else nullptr (still loading).
template <typename T>
std::shared_ptr<const T> Loaded(ModelManager* models, const std::string& ref, const char* kind) {
  try {
    // Every servable in a slot of `kind` comes from that kind's Load.
    return std::static_pointer_cast<const T>(models->Find(ref, kind));
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kUnavailable) throw;  // still loading
  }
  return nullptr;
}

}  // namespace

bool ShadowScorer::Score(int64_t candidate_version, RecommendJob& job, ShadowRecord& rec) {
  const std::string ref = fmt::format("{}/{}", job.production->name, candidate_version);
  auto candidate = Loaded<ServableModel>(models_, ref, kKindRecommender);
  if (!candidate) return false;
  job.request.model = ref;
  std::vector<Ranked> out = ranker_->Rank(std::span(&job.request, 1), std::span(&candidate, 1));
  if (out[0].error) Fail(ErrorCode::kInternal, "the candidate could not rank the request");
  rec.kind = ShadowKind::kRecommender;
  rec.user = job.request.user.value_or("");
  rec.k = job.request.k;
  const auto& pids = job.production->bundle.item_ids;
  for (uint32_t i : job.items) rec.production.push_back(pids[i]);
  const auto& cids = candidate->bundle.item_ids;
  for (uint32_t i : out[0].items) rec.candidate.push_back(cids[i]);
  return true;
}

bool ShadowScorer::Score(int64_t candidate_version, ShadowDecision& job, ShadowRecord& rec) {
  const std::string ref = fmt::format("{}/{}", job.production->name, candidate_version);
  auto candidate = Loaded<LivePolicy>(models_, ref, kKindBandit);
  if (!candidate) return false;
  std::vector<double> q;
  {
    ReaderLock lock(&candidate->mu);  // Probabilities is const: the candidate does not learn
    q = candidate->policy->Probabilities(job.input, rng_);
  }
  double sum = 0;
  for (double p : q) {
    if (!std::isfinite(p) || p < 0 || p > 1) {
      Fail(ErrorCode::kInternal, "the candidate's distribution holds {}", p);
    }
    sum += p;
  }
  if (q.size() != job.input.actions.size() || std::abs(sum - 1.0) > 1e-6) {
    Fail(ErrorCode::kInternal, "the candidate's distribution has {} probabilities summing to {}",
         q.size(), sum);
  }
  rec.kind = ShadowKind::kBandit;
  rec.user = job.input.user.value_or("");
  rec.decision_id = job.id;
  for (const Action& a : job.input.actions) rec.actions.push_back(a.id);
  rec.production_probabilities = std::move(job.probabilities);
  rec.chosen = job.chosen;
  rec.candidate_greedy =
      static_cast<uint32_t>(std::max_element(q.begin(), q.end()) - q.begin());  // ties: lower
  rec.candidate_probabilities = std::move(q);
  return true;
}

bool ShadowScorer::Score(int64_t candidate_version, ShadowPrediction& job, ShadowRecord& rec) {
  const std::string ref = fmt::format("{}/{}", job.production->name, candidate_version);
  auto candidate = Loaded<TabularServable>(models_, ref, kKindTabular);
  if (!candidate) return false;
  const Predictor::Result r = candidate->predictor->PredictRows(job.rows, /*explain=*/false);
  if (r.width != job.width || r.scores.size() != job.scores.size()) {
    Fail(ErrorCode::kInternal, "the candidate gives {} outputs per row, production {}", r.width,
         job.width);
  }
  for (size_t i = 0; i < r.scores.size(); ++i) {
    if (!std::isfinite(r.scores[i]) || !std::isfinite(job.scores[i])) {
      Fail(ErrorCode::kInternal, "a score is not a finite number");
    }
  }
  rec.kind = ShadowKind::kTabular;
  rec.rows = job.total_rows;
  rec.width = job.width;
  rec.production_scores.assign(job.scores.begin(), job.scores.end());
  rec.candidate_scores.assign(r.scores.begin(), r.scores.end());
  return true;
}

void ShadowScorer::Score(Job& job) {
  std::string model;
  try {
    ShadowRecord rec;
    const bool scored = std::visit(
        [&](auto& what) {
          model = what.production->name;
          rec.model = what.production->name;
          rec.production_version = what.production->version;
          return Score(job.candidate, what, rec);
        },
        job.what);
    if (!scored) {
      not_loaded_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    rec.candidate_version = job.candidate;
    rec.ts = job.ts;
    if (log_->Record(rec)) {
      scored_.fetch_add(1, std::memory_order_relaxed);
    } else {
      dropped_.fetch_add(1, std::memory_order_relaxed);
    }
  } catch (const std::exception& e) {
    failed_.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("serve: shadow scoring of model '{}': {}", model, e.what());
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
      {"kind", ShadowKindName(s.kind)},
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

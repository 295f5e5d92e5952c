#include "kinds/recommender/servable.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <numeric>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/log.h"
#include "marquee/env.h"
#include "marquee/error.h"

namespace marquee {

std::span<const uint32_t> ServableModel::TrainingItems(uint32_t user) const {
  if (!bundle.training || user >= bundle.training->history.rows) return {};
  return bundle.training->history.row_indices(user);
}

nlohmann::json ServableModel::Describe() const {
  nlohmann::json j = Servable::Describe();
  j["items"] = num_items();
  j["known_users"] = user_index.size();
  if (index) {
    j["index"] = {{"kind", "hnsw"},
                  {"m", index->params().m},
                  {"ef_construction", index->params().ef_construction},
                  {"ef_search", index->params().ef_search},
                  {"quantization", HnswQuantizationName(index->params().quantization)},
                  {"source", index->loaded() ? "saved" : "built"},
                  {"build_seconds", index->build_seconds()},
                  {"load_seconds", index->load_seconds()},
                  {"bytes", index->memory_bytes()}};
  }
  return j;
}

namespace {

// The graph saved for this artifact and these settings in `dir` when there is a sound one, else
// a new one, saved there for the next load (a failed save is logged: the graph still serves).
std::unique_ptr<const FactorIndex> LoadOrBuildIndex(const ServableModel& m, const ItemFactors& f,
                                                    const HnswParams& p, const std::string& dir,
                                                    Env* env) {
  std::string path;
  if (!dir.empty() && !m.digest.empty()) {
    path = SavedGraphPath(dir, m.digest, p);
    try {
      if (auto index = FactorIndex::Load(f, p, path, env)) {
        spdlog::info("serve: {} v{}: HNSW index of {} items x {} factors read from {} in {:.1f}s",
                     m.name, m.version, f.items, f.dim, path, index->load_seconds());
        return index;
      }
    } catch (const Error& e) {
      spdlog::warn("serve: {} v{}: {}; building the graph again", m.name, m.version, e.what());
    }
  }
  auto index = FactorIndex::Build(f, p);
  spdlog::info(
      "serve: {} v{}: HNSW index of {} items x {} factors (m {}, ef_construction {}, "
      "quantization {}) in {:.1f}s, {:.0f} MiB",
      m.name, m.version, f.items, f.dim, p.m, p.ef_construction,
      HnswQuantizationName(p.quantization), index->build_seconds(),
      index->memory_bytes() / 1048576.0);
  if (!path.empty()) {
    try {
      Stopwatch sw;
      env->CreateDirs(dir);
      index->Save(path, env);
      spdlog::info("serve: {} v{}: HNSW index saved to {} in {:.1f}s", m.name, m.version, path,
                   sw.Seconds());
    } catch (const Error& e) {
      spdlog::warn("serve: {} v{}: the HNSW index was not saved: {}", m.name, m.version, e.what());
    }
  }
  return index;
}

}  // namespace

std::shared_ptr<ServableModel> MakeServable(ModelBundle bundle, std::string name, int64_t version,
                                            size_t score_cache_bytes,
                                            const RetrievalSpec& retrieval, Env* env) {
  if (env == nullptr) env = Env::Default();
  if (retrieval.index != "exact" && retrieval.index != "hnsw") {
    Fail(ErrorCode::kInvalidArgument, "index '{}': expected exact or hnsw", retrieval.index);
  }
  Stopwatch sw;
  auto m = std::make_shared<ServableModel>();
  m->name = std::move(name);
  m->version = version;
  m->digest = bundle.digest;
  m->family = std::string(bundle.model->family());
  m->bundle = std::move(bundle);
  const uint32_t n = m->num_items();
  if (n == 0) Fail(ErrorCode::kFailedPrecondition, "the model has no items");
  m->item_index.Reserve(n);
  for (uint32_t i = 0; i < n; ++i) m->item_index.Add(m->bundle.item_ids[i], i);
  m->popularity.assign(n, 0.0f);
  if (m->bundle.training) {
    const auto& t = *m->bundle.training;
    m->user_index.Reserve(t.user_ids.size());
    for (uint32_t u = 0; u < t.user_ids.size(); ++u) m->user_index.Add(t.user_ids[u], u);
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
  if (const auto* a = dynamic_cast<const AdditiveScores*>(m->bundle.model.get());
      a != nullptr && a->accumulator_size() > 0 && m->bundle.training) {
    m->additive = a;
    const size_t left =
        score_cache_bytes - std::min(score_cache_bytes, m->known_scores.size() * sizeof(float));
    m->training_sums = std::make_unique<TrainingSums>(
        a->accumulator_size(), left / (a->accumulator_size() * sizeof(double)));
  }
  if (retrieval.index == "hnsw") {
    const ItemFactors f = m->bundle.model->item_factors();
    if (f.data == nullptr) {
      spdlog::info("serve: {} v{} ({}) is not a factor model: exact scoring, no HNSW index",
                   m->name, m->version, m->family);
    } else {
      HnswParams p;
      p.m = retrieval.hnsw_m;
      p.ef_construction = retrieval.hnsw_ef_construction;
      p.ef_search = retrieval.hnsw_ef_search;
      p.quantization = ParseHnswQuantization(retrieval.hnsw_quantization);
      p.threads = retrieval.threads > 0
                      ? retrieval.threads
                      : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
      m->index = LoadOrBuildIndex(*m, f, p, retrieval.index_dir, env);
    }
  }
  m->loaded_at = static_cast<int64_t>(std::time(nullptr));
  m->load_seconds = sw.Seconds();
  return m;
}

}  // namespace marquee

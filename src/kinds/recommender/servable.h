// ServableModel: one loaded recommender version with its lookup structures, as the recommender
// kind's Load builds it and /v1/recommend and /v1/similar-items read it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/id_index.h"
#include "core/servable.h"
#include "kinds/recommender/model_bundle.h"
#include "kinds/recommender/training_sums.h"
#include "models/additive_scores.h"
#include "models/ann_index.h"

namespace marquee {

class Env;

// Immutable once built (apart from training_sums, which synchronises itself); any number of
// requests read it at once.
struct ServableModel : Servable {
  ModelBundle bundle;
  IdIndex item_index;             // views into bundle.item_ids
  IdIndex user_index;             // views into training user_ids
  std::vector<uint32_t> popular;  // item indices, most interacted first (popularity fallback)
  std::vector<float> popularity;  // interactions per item in the training data
  // Materialised scores of the training users, row u at [u * num_items()] (empty when not
  // materialised). A known user whose history is exactly their training row (no positive event
  // since, no request history) is answered from here: the same floats ScoreBatch would compute
  // (the kernels do not depend on the batch), without reading the model's weights again.
  std::vector<float> known_scores;
  // A model whose scores are exact sums of item rows (EASE in float32; models/additive_scores.h),
  // or null. With it, a known user whose history grew is scored as their training row's
  // accumulator (kept in training_sums after their first such request) plus their new items'
  // rows: the floats ScoreBatch computes for the whole history, from a few rows.
  const AdditiveScores* additive = nullptr;
  std::unique_ptr<TrainingSums> training_sums;  // with `additive` and training users
  // The HNSW graph over a factor model's item rows (RetrievalSpec index "hnsw"); null: requests
  // score every item. Requests fold their history into a query vector (Recommender::FoldIn)
  // and search it (FactorIndex::TopK, which keeps exclusions and allow lists).
  std::unique_ptr<const FactorIndex> index;

  uint32_t num_items() const { return static_cast<uint32_t>(bundle.item_ids.size()); }
  // Servable's fields and items, known_users, and the index (kind, parameters, build seconds,
  // bytes) when there is one.
  nlohmann::json Describe() const override;
  // Training history row of a known user (empty span when unknown or not stored).
  std::span<const uint32_t> TrainingItems(uint32_t user) const;
};

// Builds a ServableModel from a bundle (indexes, popularity) and warms it. When the bundle
// stores its training users and users x items x 4 bytes fits in `score_cache_bytes`, their
// scores are materialised (ServableModel::known_scores); an additive model's grown members'
// training sums (ServableModel::training_sums) may take what the budget leaves. With
// retrieval.index "hnsw" a factor model gets its FactorIndex (read back from retrieval.index_dir
// when a sound graph of this artifact and settings is saved there, else built here on
// retrieval.threads threads and saved there: the version is not served until it is ready, and the
// previous version serves meanwhile); other families ignore it (logged). Files go through `env`
// (nullptr: the default). Throws kFailedPrecondition for a model without items or whose warm-up
// scores are all non-finite, kInvalidArgument for an unknown index kind.
std::shared_ptr<ServableModel> MakeServable(ModelBundle bundle, std::string name, int64_t version,
                                            size_t score_cache_bytes = 0,
                                            const RetrievalSpec& retrieval = {},
                                            Env* env = nullptr);

}  // namespace marquee

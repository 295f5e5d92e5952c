// Recommender: the one batch-first interface every recommender family implements
// (popularity, itemknn, ease, ials, bpr, rp3beta). Settings (params) are fixed at construction and
// kept apart from learned state; families are created by name from a registry (CreateRecommender).
//
// Lifecycle: Create -> Fit (or Load) -> ScoreBatch any number of times. Fit and Load are not
// thread-safe; ScoreBatch is const and safe to call from many threads at once.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "marquee/context.h"
#include "marquee/sparse.h"

namespace marquee {

class ArtifactWriter;
class ArtifactReader;

// The item side of a factor model (iALS, BPR): the score of item i for a query vector q is
// ⟨q, row i⟩, summed in DotFixedOrder's order (models/ials/factor_math.h). Rows are `dim` floats
// apart, owned by the model. data == nullptr: the model is not a factor model.
struct ItemFactors {
  const float* data = nullptr;
  uint32_t items = 0;
  uint32_t dim = 0;
};

class Recommender {
 public:
  virtual ~Recommender() = default;

  virtual std::string_view family() const = 0;
  // The resolved parameters (defaults filled in), as given to the factory plus defaults.
  virtual nlohmann::json params() const = 0;

  // Learns from a users x items matrix of positive interactions (values are weights, 1 when
  // binary). Rows with no entries are allowed. Deterministic for ctx.seed and ctx.threads.
  virtual void Fit(const CsrMatrix& interactions, const Context& ctx) = 0;

  // Scores every item for each query row of `histories` (queries x num_items; each row is one
  // user's item history: this is fold-in, no user id needed). Writes histories.rows x
  // num_items() scores, row-major, into `out`. Higher is better. Items in the history are NOT
  // masked here; callers exclude them.
  virtual void ScoreBatch(const CsrMatrix& histories, std::span<float> out,
                          const Context& ctx) const = 0;

  virtual uint32_t num_items() const = 0;

  // Whether Fit splits its work across the ranks of ctx.comm (mpirun; iALS, BPR, EASE). A
  // family that does not is refused under mpirun with more than one rank, rather than trained
  // once per rank.
  virtual bool distributed_fit() const { return false; }
  // How such a family's work is cut across ranks, so that each rank need hold only its share of
  // the interactions (Context::shard, marquee/sparse.h): blocks of users (and of items) of
  // about equal cost. Given a shard, Fit uses its blocks; given a whole matrix, it cuts the same.
  virtual ShardPlan shard_plan() const { return {}; }
  // Factor models only (item_factors().data != nullptr), for retrieval indexes
  // (models/ann_index.h): ScoreBatch(histories) row r is exactly ⟨q_r, f_i⟩ for every item i, where
  // FoldIn writes q_r, histories.rows x item_factors().dim floats row-major, into `out`. Other
  // models return {} and throw kUnimplemented from FoldIn. Thread-safety as ScoreBatch.
  virtual ItemFactors item_factors() const { return {}; }
  virtual void FoldIn(const CsrMatrix& histories, std::span<float> out, const Context& ctx) const;

  // Serialises learned state (tensors); params are stored by the artifact layer.
  virtual void Save(ArtifactWriter& writer) const = 0;
  // Restores learned state written by Save of the same family. Throws kCorruption on mismatch.
  virtual void Load(const ArtifactReader& reader) = 0;
};

// Creates an untrained recommender of `family` with `params` (a JSON object; unknown keys and
// wrong types are kInvalidArgument errors that name the key). Unknown family: kInvalidArgument.
std::unique_ptr<Recommender> CreateRecommender(std::string_view family,
                                               const nlohmann::json& params);
// The registered family names, sorted.
std::vector<std::string> RecommenderFamilies();

}  // namespace marquee

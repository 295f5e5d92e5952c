// Model bundles: a trained Recommender plus what serving needs to use it (its item dictionary
// and training metadata), stored as one content-addressed artifact under
// $home/artifacts/<sha256>.mqm (docs/formats/model-artifact.md).
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "marquee/recommender.h"

namespace marquee {

class Env;

// The training history of known users, so serving can fold in a user by id: row u of
// `history` (items as indices into item_ids, values as trained) belongs to user_ids[u].
struct TrainingHistory {
  std::vector<std::string> user_ids;
  CsrMatrix history;
};

struct ModelBundle {
  std::unique_ptr<Recommender> model;
  std::vector<std::string> item_ids;  // external id of each item index
  nlohmann::json meta;                // dataset, protocol, metrics, ... as saved
  std::string digest;                 // sha256 of the artifact file
  // Present when the artifact stores it (artifacts written before it was added do not: serving
  // then knows users only through their events and request histories).
  std::optional<TrainingHistory> training;
};

// Writes the bundle atomically and content-addressed; returns the artifact's path. `training`
// (optional) is stored beside the model as tensors users.offsets/users.blob and
// history.indptr/history.indices/history.values (docs/formats/model-artifact.md).
std::string SaveModelBundle(const Recommender& model, const std::vector<std::string>& item_ids,
                            const nlohmann::json& meta, const std::string& home, Env* env,
                            std::string* digest = nullptr,
                            const TrainingHistory* training = nullptr);

// Loads a bundle; kNotFound / kCorruption name the path and the problem.
ModelBundle LoadModelBundle(const std::string& path, Env* env);

}  // namespace marquee

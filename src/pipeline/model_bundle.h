// Model bundles: a trained Recommender plus what serving needs to use it (its item dictionary
// and training metadata), stored as one content-addressed artifact under
// $home/artifacts/<sha256>.mqm (docs/formats/model-artifact.md).
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "marquee/recommender.h"

namespace marquee {

class Env;

struct ModelBundle {
  std::unique_ptr<Recommender> model;
  std::vector<std::string> item_ids;  // external id of each item index
  nlohmann::json meta;                // dataset, protocol, metrics, ... as saved
  std::string digest;                 // sha256 of the artifact file
};

// Writes the bundle atomically and content-addressed; returns the artifact's path.
std::string SaveModelBundle(const Recommender& model, const std::vector<std::string>& item_ids,
                            const nlohmann::json& meta, const std::string& home, Env* env,
                            std::string* digest = nullptr);

// Loads a bundle; kNotFound / kCorruption name the path and the problem.
ModelBundle LoadModelBundle(const std::string& path, Env* env);

}  // namespace marquee

// Factories of the built-in recommender families (see factory.cc).
#pragma once

#include <memory>

#include "marquee/recommender.h"

namespace marquee {

std::unique_ptr<Recommender> NewPopularity(const nlohmann::json& params);
std::unique_ptr<Recommender> NewItemKnn(const nlohmann::json& params);
std::unique_ptr<Recommender> NewEase(const nlohmann::json& params);
std::unique_ptr<Recommender> NewIals(const nlohmann::json& params);
std::unique_ptr<Recommender> NewBpr(const nlohmann::json& params);
std::unique_ptr<Recommender> NewRp3Beta(const nlohmann::json& params);

}  // namespace marquee

// The family factory: each family is listed here by name, explicitly (no static-initialiser
// self-registration, which static libraries silently drop).
#include <functional>
#include <map>

#include "marquee/error.h"
#include "marquee/recommender.h"
#include "models/families.h"

namespace marquee {
namespace {
using Factory = std::function<std::unique_ptr<Recommender>(const nlohmann::json&)>;

const std::map<std::string, Factory, std::less<>>& Registry() {
  static const std::map<std::string, Factory, std::less<>> registry = {
      {"popularity", NewPopularity},
      {"itemknn", NewItemKnn},
      {"ease", NewEase},
      {"ials", NewIals},
      {"bpr", NewBpr},
      {"rp3beta", NewRp3Beta},
  };
  return registry;
}
}  // namespace

std::unique_ptr<Recommender> CreateRecommender(std::string_view family,
                                               const nlohmann::json& params) {
  auto it = Registry().find(family);
  if (it == Registry().end()) {
    Fail(ErrorCode::kInvalidArgument, "unknown model family '{}' (known: {})", family,
         fmt::join(RecommenderFamilies(), ", "));
  }
  return it->second(params);
}

std::vector<std::string> RecommenderFamilies() {
  std::vector<std::string> names;
  for (const auto& [name, f] : Registry()) names.push_back(name);
  return names;
}

}  // namespace marquee

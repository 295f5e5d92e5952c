// The family factory: every family is listed by name, explicitly, in models/families.inc (no
// static-initialiser self-registration, which static libraries silently drop).
#include <functional>
#include <map>

#include "marquee/error.h"
#include "marquee/recommender.h"

namespace marquee {

#define MARQUEE_FAMILY(name, factory) \
  std::unique_ptr<Recommender> factory(const nlohmann::json& params);
#include "models/families.inc"
#undef MARQUEE_FAMILY

namespace {
using Factory = std::function<std::unique_ptr<Recommender>(const nlohmann::json&)>;

const std::map<std::string, Factory, std::less<>>& Registry() {
  static const std::map<std::string, Factory, std::less<>> registry = {
#define MARQUEE_FAMILY(name, factory) {name, factory},
#include "models/families.inc"
#undef MARQUEE_FAMILY
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

void Recommender::FoldIn(const CsrMatrix&, std::span<float>, const Context&) const {
  Fail(ErrorCode::kUnimplemented, "{} is not a factor model: it has no query vectors", family());
}

std::vector<std::string> RecommenderFamilies() {
  std::vector<std::string> names;
  for (const auto& [name, f] : Registry()) names.push_back(name);
  return names;
}

}  // namespace marquee

#include "serving/servable.h"

#include "bandits/train.h"

namespace marquee::serving {

std::string DefaultKindOf(const std::string& family) {
  if (bandit::IsBanditFamily(family)) return kKindBandit;
  if (family == "xgboost") return kKindTabular;
  return kKindRecommender;
}

}  // namespace marquee::serving

#include "serving/servable.h"

#include "kinds/builtin.h"

namespace marquee::serving {

std::string DefaultKindOf(const std::string& family) {
  if (family.empty()) return kKindRecommender;  // versions registered before families were kept
  const ModelKind* kind = BuiltinKinds().Find(family);
  return kind != nullptr ? std::string(kind->name()) : std::string();
}

}  // namespace marquee::serving

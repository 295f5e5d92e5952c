// Every built-in kind, one line each: adding a kind is its folder under src/kinds/ plus one line
// here (src/CMakeLists.txt compiles every src/kinds/*/*.cc by itself).
#include "kinds/builtin.h"

#include "kinds/bandit/bandit_kind.h"
#include "kinds/recommender/recommender_kind.h"
#include "kinds/tabular/tabular_kind.h"

namespace marquee {

const KindRegistry& BuiltinKinds() {
  static const KindRegistry* kinds = [] {
    auto* r = new KindRegistry;
    r->Add(NewRecommenderKind());
    r->Add(NewBanditKind());
    r->Add(NewTabularKind());
    return r;
  }();
  return *kinds;
}

}  // namespace marquee

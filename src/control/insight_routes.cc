// The dashboard's experiment and bandit routes over /api/v1 (issue #15): an experiment day by
// day, the bandit policies, and one policy's decisions and rewards over time with its action
// distribution and latest off-policy evaluation (views in insight_views.h).
#include "control/control_plane.h"
#include "control/insight_views.h"
#include "control/route_util.h"

namespace marquee {

using namespace control_internal;  // NOLINT: the route helpers

void ControlPlane::AddInsightRoutes(Service& s) {
  const std::string home = options_.home;
  s.AddRoute({"GET", "/api/v1/experiments/{name}/timeseries", kScopeRead,
              Sync([this, home](const Request& req) {
                auto reg = registries_.Acquire();
                return ExperimentTimeseriesView(*reg, home, req.param("name"));
              })});
  s.AddRoute({"GET", "/api/v1/bandits", kScopeRead, Sync([this, home](const Request&) {
                auto reg = registries_.Acquire();
                return BanditsListView(*reg, home, core_->decisions());
              })});
  s.AddRoute({"GET", "/api/v1/bandits/{name}", kScopeRead, Sync([this, home](const Request& req) {
                const int64_t since = QueryTime(req, "since");
                auto reg = registries_.Acquire();
                return BanditView(*reg, home, req.param("name"),
                                  req.query("bucket").value_or("hour"), since, core_->decisions());
              })});
}

}  // namespace marquee

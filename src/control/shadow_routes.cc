// Shadow scoring over /api/v1 (issue #17): start, stop and read a model's shadow. The setting
// lives in the registry (experiments/shadow_log.h: alias NAME@shadow, tag shadow.sample), so
// every replica follows it at its next poll; the replica that answers follows it at once.
// GET answers the setting, this replica's counters and the online metrics of the candidate
// against production on the requests shadowed since the alias last moved.
#include "control/control_plane.h"
#include "control/route_util.h"
#include "experiments/shadow_log.h"
#include "registry/registry.h"
#include "serving/model_manager.h"
#include "serving/shadow.h"

namespace marquee {

using namespace control_internal;  // NOLINT: the route helpers

namespace {

json SettingJson(const ShadowSetting& s) {
  return json{{"candidate", s.candidate == 0 ? json(nullptr) : json(s.candidate)},
              {"sample", s.sample},
              {"active", s.active()},
              {"since", s.since}};
}

}  // namespace

void ControlPlane::AddShadowRoutes(Service& s) {
  s.AddRoute(
      {"POST", "/api/v1/models/{name}/shadow", kScopeAdmin, Sync([this](const Request& req) {
         const json b = BodyObject(req, "shadow", {"version", "sample", "note"});
         const std::string model = ParseModelRef(req.param("name")).model;
         double sample = 0.2;
         if (auto it = b.find("sample"); it != b.end()) {
           if (!it->is_number()) {
             Fail(ErrorCode::kInvalidArgument, "shadow.sample: must be a number");
           }
           sample = it->get<double>();
         }
         ShadowSetting set;
         {
           auto reg = registries_.Acquire();
           const VersionRecord v = reg->ResolveIn(model, StringField(b, "version", "shadow"));
           set = SetShadow(*reg, model, v.version, sample, StringField(b, "note", "shadow", false));
         }
         if (ShadowScorer* sc = core_->shadow()) {
           sc->Refresh();
           // This replica loads the candidate now; the others at their next poll.
           core_->models()->GetOrLoad(fmt::format("{}/{}", model, set.candidate), kKindRecommender);
         }
         json out = SettingJson(set);
         out["model"] = model;
         return out;
       })});
  s.AddRoute(
      {"DELETE", "/api/v1/models/{name}/shadow", kScopeAdmin, Sync([this](const Request& req) {
         const std::string model = ParseModelRef(req.param("name")).model;
         ShadowSetting set;
         {
           auto reg = registries_.Acquire();
           ClearShadow(*reg, model);
           set = GetShadow(*reg, model);
         }
         if (ShadowScorer* sc = core_->shadow()) sc->Refresh();
         json out = SettingJson(set);
         out["model"] = model;
         return out;
       })});
  s.AddRoute({"GET", "/api/v1/models/{name}/shadow", kScopeRead, Sync([this](const Request& req) {
                const std::string model = ParseModelRef(req.param("name")).model;
                ShadowSetting set;
                {
                  auto reg = registries_.Acquire();
                  set = GetShadow(*reg, model);
                }
                ShadowMetricsOptions mo;
                mo.window = QueryInt(req, "window", 86400, 1, int64_t{366} * 86400);
                mo.since = QueryTime(req, "since", set.since);
                mo.candidate_version = set.candidate;
                for (const std::string& t : req.query_all("event_type")) {
                  mo.event_types.push_back(t);
                }
                json out = SettingJson(set);
                out["model"] = model;
                ShadowScorer* sc = core_->shadow();
                if (sc != nullptr) {
                  sc->Flush();  // what this replica shadowed so far is in the log
                  out["replica"] = sc->State(model);
                }
                out["metrics"] = set.candidate == 0
                                     ? json(nullptr)
                                     : ShadowMetricsFromHome(options_.home, model, mo);
                return out;
              })});
}

}  // namespace marquee

// Shadow scoring over /api/v1 (issue #17): start, stop and read a model's shadow. The setting
// lives in the registry (experiments/shadow_log.h: alias NAME@shadow, tag shadow.sample), so
// every replica follows it at its next poll; the replica that answers follows it at once.
// GET answers the setting, this replica's counters and the online metrics of the candidate
// against production on the requests shadowed since the alias last moved, those of the model's
// kind (experiments/shadow_log.h: ShadowMetrics, BanditShadowMetrics, TabularShadowMetrics).
// The kind is the candidate version's (core/model_kind.h, KindRegistry::OfVersion).
#include "control/control_plane.h"
#include "control/route_util.h"
#include "core/model_kind.h"
#include "experiments/shadow_log.h"
#include "kinds/builtin.h"
#include "registry/registry.h"
#include "serving/model_manager.h"
#include "serving/shadow.h"

namespace marquee {

using namespace control_internal;  // NOLINT: the route helpers

namespace {

// The kind of `model`'s version `version` (the registry's record of its family).
ShadowKind KindOfVersion(Registry& reg, const std::string& model, int64_t version) {
  const VersionRecord v = reg.Resolve(fmt::format("{}/{}", model, version));
  const ModelKind* kind = BuiltinKinds().OfVersion(v.family);
  if (kind == nullptr) {
    Fail(ErrorCode::kFailedPrecondition, "no model kind serves family '{}' of {} v{}", v.family,
         model, version);
  }
  const auto k = ShadowKindFromName(kind->name());
  if (!k) Fail(ErrorCode::kUnimplemented, "{} models cannot be shadowed", kind->name());
  return *k;
}

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
         ShadowKind kind = ShadowKind::kRecommender;
         {
           auto reg = registries_.Acquire();
           const VersionRecord v = reg->ResolveIn(model, StringField(b, "version", "shadow"));
           kind = KindOfVersion(*reg, model, v.version);
           set = SetShadow(*reg, model, v.version, sample, StringField(b, "note", "shadow", false));
         }
         if (ShadowScorer* sc = core_->shadow()) {
           // This replica loads the candidate now, as the model's kind (the others at their next
           // poll); then the scorer, which finds the model among that kind's slots, follows it.
           core_->models()->GetOrLoad(fmt::format("{}/{}", model, set.candidate), SlotKindOf(kind));
           sc->Refresh();
         }
         json out = SettingJson(set);
         out["model"] = model;
         out["kind"] = ShadowKindName(kind);
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
                ShadowMetricsOptions mo;
                ShadowSetting set;
                {
                  auto reg = registries_.Acquire();
                  set = GetShadow(*reg, model);
                  if (set.candidate != 0) mo.kind = KindOfVersion(*reg, model, set.candidate);
                }
                mo.window = QueryInt(req, "window", 86400, 1, int64_t{366} * 86400);
                mo.since = QueryTime(req, "since", set.since);
                mo.candidate_version = set.candidate;
                for (const std::string& t : req.query_all("event_type")) {
                  mo.event_types.push_back(t);
                }
                json out = SettingJson(set);
                out["model"] = model;
                if (set.candidate != 0) out["kind"] = ShadowKindName(mo.kind);
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

#include "control_source.h"

#include "client/http_client.h"
#include "data/catalog.h"
#include "kinds/builtin.h"
#include "marquee/error.h"
#include "serving/route_match.h"

namespace marquee::cli {

using json = nlohmann::json;

ControlSource::ControlSource(const GlobalOptions& g)
    : home_(g.server.empty() ? ResolveHome(g.home) : ""), server_(g.server), api_key_(g.api_key) {}

ControlSource::~ControlSource() = default;

Registry& ControlSource::Reg() {
  if (!registry_) {
    RegistryOptions o;
    o.home = home_;
    o.kinds = &BuiltinKinds();
    registry_ = std::make_unique<Registry>(std::move(o));
  }
  return *registry_;
}

json ControlSource::Get(const std::string& target) {
  if (!client_) client_ = std::make_unique<HttpClient>(server_, api_key_);
  return client_->Json("GET", target);
}

json ControlSource::RunsList(const RunsListQuery& q) {
  if (remote()) return Get("/api/v1/runs" + q.ToQueryString());
  return RunsListView(Reg(), q);
}

json ControlSource::RunShow(const std::string& id) {
  if (remote()) return Get("/api/v1/runs/" + PercentEncode(id));
  return RunShowView(Reg(), id);
}

json ControlSource::RunsCompare(const std::vector<std::string>& ids) {
  if (remote()) {
    std::string list;
    for (const auto& id : ids) list += (list.empty() ? "" : ",") + id;
    return Get("/api/v1/runs/compare?ids=" + PercentEncode(list));
  }
  return RunsCompareView(Reg(), ids);
}

json ControlSource::ModelsList() {
  if (remote()) return Get("/api/v1/models");
  return ModelsListView(Reg());
}

json ControlSource::ModelOverview(const std::string& name) {
  if (remote()) return Get("/api/v1/models/" + PercentEncode(name));
  return ModelOverviewView(Reg(), name);
}

json ControlSource::Version(const std::string& model, const std::string& version) {
  if (remote()) {
    return Get("/api/v1/models/" + PercentEncode(model) + "/versions/" + PercentEncode(version));
  }
  return VersionView(Reg(), model, version);
}

json ControlSource::Versions(const std::string& model) {
  if (remote()) return Get("/api/v1/models/" + PercentEncode(model) + "/versions");
  return VersionsView(Reg(), model);
}

json ControlSource::Diff(const std::string& model, const std::string& a, const std::string& b) {
  if (remote()) {
    return Get("/api/v1/models/" + PercentEncode(model) + "/diff?a=" + PercentEncode(a) +
               "&b=" + PercentEncode(b));
  }
  return DiffView(Reg(), model, a, b);
}

json ControlSource::ExperimentsList() {
  if (remote()) return Get("/api/v1/experiments");
  return ExperimentsListView(Reg());
}

json ControlSource::ExperimentShow(const std::string& name) {
  if (remote()) return Get("/api/v1/experiments/" + PercentEncode(name));
  return ExperimentShowView(Reg(), name);
}

json ControlSource::ExperimentAnalysis(
    const std::string& name,
    const std::function<void(std::string_view, uint64_t, uint64_t)>& progress) {
  if (remote()) return Get("/api/v1/experiments/" + PercentEncode(name) + "/analysis");
  return ExperimentAnalysisView(Reg(), home_, name, progress);
}

}  // namespace marquee::cli

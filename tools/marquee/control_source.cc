#include "control_source.h"

#include <ctime>

#include "client/http_client.h"
#include "common/error_codes.h"
#include "common/text.h"
#include "data/catalog.h"
#include "experiments/experiment.h"
#include "kinds/builtin.h"
#include "marquee/error.h"
#include "registry/json.h"
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

HttpClient& ControlSource::Client() {
  if (!remote()) Fail(ErrorCode::kInternal, "ControlSource::Client() without --server");
  if (!client_) client_ = std::make_unique<HttpClient>(server_, api_key_);
  return *client_;
}

json ControlSource::Get(const std::string& target) { return Client().Json("GET", target); }

json ControlSource::Send(const std::string& method, const std::string& target, const json& body) {
  return Client().Json(method, target, &body);
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

json ControlSource::SetTags(const std::string& ref_text,
                            const std::vector<std::pair<std::string, std::string>>& set,
                            const std::vector<std::string>& remove) {
  const ModelRef ref = ParseModelRef(ref_text);
  if (remote()) {
    json body = {{"set", json::object()}, {"remove", remove}};
    for (const auto& [k, v] : set) body["set"][k] = v;
    if (ref.version > 0) body["version"] = std::to_string(ref.version);
    if (!ref.alias.empty()) body["version"] = ref.alias;
    return Send("PUT", "/api/v1/models/" + PercentEncode(ref.model) + "/tags", body);
  }
  return TagsToJson(Reg().SetTags(ref, set, remove));
}

json ControlSource::Promote(const std::string& ref_text, const std::string& version_text,
                            const std::string& alias, const std::vector<std::string>& gates,
                            const std::string& note) {
  const ModelRef ref = ParseModelRef(ref_text);
  if (!version_text.empty() && (ref.version > 0 || !ref.alias.empty())) {
    Fail(ErrorCode::kInvalidArgument, "'{}' already names a version; drop '{}'", ref_text,
         version_text);
  }
  if (remote()) {
    std::string version = version_text.empty() ? ref_text : version_text;
    if (version_text.empty() && ref.version == 0 && ref.alias.empty()) {
      const json o = ModelOverview(ref.model);  // a bare name: its latest version
      if (o["latest_version"].is_number_integer()) {
        version = std::to_string(o["latest_version"].get<int64_t>());
      }
    }
    return Send("POST", "/api/v1/models/" + PercentEncode(ref.model) + "/promote",
                {{"version", version}, {"alias", alias}, {"require", gates}, {"note", note}});
  }
  std::string target = ref_text;
  if (!version_text.empty()) {
    const VersionRecord v = Reg().ResolveIn(ref.model, version_text);
    target = fmt::format("{}/{}", v.model_name, v.version);
  }
  return Reg().Promote(target, alias, gates, note).ToJson();
}

json ControlSource::Rollback(const std::string& model_text, const std::string& alias,
                             const std::string& note) {
  const std::string model = ParseModelRef(model_text).model;
  if (remote()) {
    return Send("POST", "/api/v1/models/" + PercentEncode(model) + "/rollback",
                {{"alias", alias}, {"note", note}});
  }
  return Reg().Rollback(model, alias, note).ToJson();
}

namespace {

// The experiment without what only `experiments show` prints.
json WithoutHistory(json j) {
  j.erase("history");
  j.erase("source");
  return j;
}

int64_t NowSeconds() { return static_cast<int64_t>(std::time(nullptr)); }

}  // namespace

json ControlSource::ExperimentCreate(const std::string& text, const std::string& where) {
  if (remote()) return WithoutHistory(Send("POST", "/api/v1/experiments", {{"toml", text}}));
  const ExperimentSpec spec = ParseExperimentToml(text, where);
  const Experiment e = CreateExperiment(Reg(), spec, text, NowSeconds());
  return WithoutHistory(ExperimentShowView(Reg(), e.spec.name));
}

json ControlSource::ExperimentStartStop(const std::string& name, bool start) {
  if (remote()) {
    return WithoutHistory(
        Send("POST", "/api/v1/experiments/" + PercentEncode(name) + (start ? "/start" : "/stop"),
             json::object()));
  }
  if (start) {
    StartExperiment(Reg(), name, NowSeconds());
  } else {
    StopExperiment(Reg(), name, NowSeconds());
  }
  return WithoutHistory(ExperimentShowView(Reg(), name));
}

json ControlSource::DatasetsList() {
  if (remote()) return Get("/api/v1/datasets");
  return DatasetsListView(home_);
}

json ControlSource::DatasetShow(const std::string& name) {
  if (remote()) return Get("/api/v1/datasets/" + PercentEncode(name));
  return DatasetShowView(home_, name);
}

json ControlSource::DatasetDelete(const std::string& name) {
  if (remote()) return Client().Json("DELETE", "/api/v1/datasets/" + PercentEncode(name));
  CreateRegistryIfMissing(home_);  // a catalog is written beside a registry (commands.h)
  return DeleteDatasetView(home_, name);
}

json ControlSource::DatasetImport(const std::string& name, const std::string& file,
                                  const ImportParams& params,
                                  const std::function<void(uint64_t, uint64_t)>& progress) {
  if (!remote()) {
    CreateRegistryIfMissing(home_);  // before the catalog (commands.h)
    return ImportDatasetFileView(home_, name, file, params, /*upload=*/false, progress);
  }
  std::string query;
  for (const auto& [k, v] : params) {
    query += (query.empty() ? "?" : "&") + PercentEncode(k) + "=" + PercentEncode(v);
  }
  return AnswerJson(
      Client().UploadFile("POST", "/api/v1/datasets/" + PercentEncode(name) + query, file),
      "dataset import");
}

json AnswerJson(const ClientResponse& r, std::string_view what) {
  if (r.status >= 400) {
    const json b = json::parse(r.body, nullptr, false);
    if (b.is_object() && b.contains("error") && b["error"].is_object() &&
        b["error"].value("message", json()).is_string()) {
      const std::optional<ErrorCode> code = ErrorCodeFromName(b["error"].value("code", ""));
      throw Error(code.value_or(ErrorCode::kInternal), b["error"]["message"].get<std::string>());
    }
    Fail(ErrorCode::kUnavailable, "{}: HTTP {}: {}", what, r.status, QuoteForMessage(r.body, 200));
  }
  const json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded()) {
    Fail(ErrorCode::kUnavailable, "{}: the server's answer is not JSON: {}", what,
         QuoteForMessage(r.body, 200));
  }
  return j;
}

}  // namespace marquee::cli

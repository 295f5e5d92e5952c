// ControlSource: where the CLI's registry, run and experiment commands get their answers: the
// local home (the views of control/views.h, in this process) or a server (`marquee --server
// URL`, the same views over GET/POST /api/v1/...). Both return the same JSON, and the commands
// print text from that JSON only, so local and remote output are identical.
// Errors: the views' (local) or the server's code and message (remote). One thread.
//
// Commands with a remote form (main.cc's kRemote) go through this class, or (train, dataset
// import, decisions export) through Client() for jobs, uploads and streams.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "commands.h"
#include "control/views.h"

namespace marquee {
class HttpClient;
struct ClientResponse;
}  // namespace marquee

namespace marquee::cli {

class ControlSource {
 public:
  // Local (g.server empty) or remote.
  explicit ControlSource(const GlobalOptions& g);
  ~ControlSource();
  bool remote() const { return !server_.empty(); }

  nlohmann::json RunsList(const RunsListQuery& q);
  nlohmann::json RunShow(const std::string& id_or_ref);
  nlohmann::json RunsCompare(const std::vector<std::string>& ids_or_refs);
  nlohmann::json ModelsList();
  nlohmann::json ModelOverview(const std::string& name);
  nlohmann::json Version(const std::string& model, const std::string& version_text);
  nlohmann::json Versions(const std::string& model);
  nlohmann::json Diff(const std::string& model, const std::string& a, const std::string& b);
  nlohmann::json ExperimentsList();
  nlohmann::json ExperimentShow(const std::string& name);
  // `progress` is called locally only (a server's analysis shows no progress).
  nlohmann::json ExperimentAnalysis(
      const std::string& name,
      const std::function<void(std::string_view, uint64_t, uint64_t)>& progress);

  // Writes: the registry in this process, or the route that does the same on the server.
  // Each returns what that route answers (so --json prints the same either way).
  // `ref`: NAME, NAME/N or NAME@ALIAS; tags on the model, or on the version it names. TagsToJson.
  nlohmann::json SetTags(const std::string& ref,
                         const std::vector<std::pair<std::string, std::string>>& set,
                         const std::vector<std::string>& remove);
  // The version: `version_text` (N, vN or an alias) of model `ref`, or when that is empty the
  // version `ref` names (NAME/N, NAME@ALIAS; a bare NAME: its latest version).
  // PromoteResult::ToJson; a failing --require gate throws the registry's error either way.
  nlohmann::json Promote(const std::string& ref, const std::string& version_text,
                         const std::string& alias, const std::vector<std::string>& gates,
                         const std::string& note);
  nlohmann::json Rollback(const std::string& model, const std::string& alias,
                          const std::string& note);
  // The experiment as ExperimentJson gives it (ISO times), without history or source.
  // `where` names the TOML text in local error messages (a server names "request body").
  nlohmann::json ExperimentCreate(const std::string& toml_text, const std::string& where);
  nlohmann::json ExperimentStartStop(const std::string& name, bool start);

  // Datasets (views.h): list, show, remove a name.
  nlohmann::json DatasetsList();
  nlohmann::json DatasetShow(const std::string& name);
  nlohmann::json DatasetDelete(const std::string& name);
  // `dataset import FILE` of any kind with `params` (ImportParams, control/views.h): the views in
  // this process, or FILE uploaded to POST /api/v1/datasets/{name} (read from disk piece by
  // piece, spooled to disk by the server). `progress` (lines read, total): local interaction
  // files only.
  nlohmann::json DatasetImport(const std::string& name, const std::string& file,
                               const ImportParams& params,
                               const std::function<void(uint64_t, uint64_t)>& progress);

  // Remote only: the client of --server (opened on first use).
  HttpClient& Client();

 private:
  Registry& Reg();  // the local registry, opened on first use
  nlohmann::json Get(const std::string& target);
  nlohmann::json Send(const std::string& method, const std::string& target,
                      const nlohmann::json& body);

  std::string home_, server_, api_key_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<HttpClient> client_;  // remote: opened on first use
};

// The JSON of an answer read with HttpClient::Send, UploadFile or Stream: status >= 400 throws the
// server's error (its code and message) as HttpClient::Json does; `what` names the call in other
// failures (kUnavailable: an answer that is not JSON).
nlohmann::json AnswerJson(const ClientResponse& r, std::string_view what);

}  // namespace marquee::cli

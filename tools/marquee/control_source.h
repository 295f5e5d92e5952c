// ControlSource: where the CLI's registry, run and experiment commands get their answers: the
// local home (the views of control/views.h, in this process) or a server (`marquee --server
// URL`, the same views over GET/POST /api/v1/...). Both return the same JSON, and the commands
// print text from that JSON only, so local and remote output are identical.
// Errors: the views' (local) or the server's code and message (remote). One thread.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "commands.h"
#include "control/views.h"

namespace marquee {
class HttpClient;
}

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

 private:
  Registry& Reg();  // the local registry, opened on first use
  nlohmann::json Get(const std::string& target);

  std::string home_, server_, api_key_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<HttpClient> client_;  // remote: opened on first use
};

}  // namespace marquee::cli

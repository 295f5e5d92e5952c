// ExperimentRouter: `/v1/recommend` with `"experiment": "NAME"` (docs/api/openapi.yaml). Keeps
// a snapshot of the registry's experiments (refreshed by its own low-frequency poller and by
// POST /admin/reload, so `marquee experiments start|stop` take effect without a restart), assigns
// the member to a cell (experiments::AssignCell), asks the Service to score the cell's model (or,
// in interleaving, both rankers' models) and logs the exposure (experiments::ExposureLog,
// asynchronous: see its header for the durability contract).
//
//   running  A/B: the member's cell answers; the response gains
//            "experiment": {"name", "cell"}. Interleave: both rankers' lists merged by team
//            draft (seeded per member and request), each item with "ranker": CELL.
//   stopped  the control (first) cell answers, nothing is logged; "experiment" says
//            {"name", "cell": CONTROL, "state": "stopped"}.
//   draft    409 failed_precondition (never started); unknown name: 404 not_found.
//   A request with "experiment" but no "user" is 400; a cell whose model reference this server
//   does not serve is 503 naming the reference.
//
// Thread-safety: Recommend may be called from any thread; Refresh/StartPolling/Stop from one.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "experiments/experiment.h"
#include "experiments/exposure_log.h"
#include "serving/service.h"

namespace marquee {
class MetadataStore;
}

namespace marquee::serving {

struct ExperimentRouterOptions {
  std::string home;
  experiments::ExposureLogOptions log;  // the log is $home/experiments/exposures
};

class ExperimentRouter {
 public:
  // Opens the registry and the exposure log and loads the experiments. Throws on failure.
  explicit ExperimentRouter(ExperimentRouterOptions options);
  ~ExperimentRouter();  // stops polling, drains the exposure log

  // Reloads the experiments from the registry; keeps the previous snapshot on failure (logged).
  // Returns false on failure.
  bool Refresh();
  void StartPolling(std::chrono::milliseconds interval);  // 0: never
  void Stop();

  // Model references of the cells of running experiments (add them to the ModelManager).
  std::vector<std::string> RunningCellRefs() const;

  // Scores `requests` (Service::Recommend).
  using RecommendFn =
      std::function<std::vector<nlohmann::json>(const std::vector<RecommendRequest>&)>;
  // Answers one request whose `experiment` is set: the response object or an {"error"} object
  // (as Service::Recommend); throws marquee::Error for the request-level failures listed above.
  nlohmann::json Recommend(const RecommendRequest& r, const ModelManager& models,
                           const RecommendFn& recommend);

  experiments::ExposureLog& exposures() { return *log_; }

 private:
  struct Entry {
    experiments::ExperimentSpec spec;
    ExperimentState state = ExperimentState::kDraft;
  };
  using Snapshot = std::unordered_map<std::string, Entry>;

  ExperimentRouterOptions options_;
  std::unique_ptr<MetadataStore> store_;
  std::unique_ptr<experiments::ExposureLog> log_;
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
  std::atomic<uint64_t> requests_{0};
  std::thread poller_;
  std::mutex poll_mu_;
  std::condition_variable poll_cv_;
  bool stop_ = false;
};

}  // namespace marquee::serving

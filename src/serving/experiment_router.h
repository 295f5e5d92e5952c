// ExperimentRouter: `/v1/recommend` with `"experiment": "NAME"` (docs/api/openapi.yaml). Keeps
// a snapshot of the registry's experiments (refreshed by the model manager's poller, the one
// poller of the server, and by POST /admin/reload, so `marquee experiments start|stop` take effect
// without a restart), assigns the member to a cell (AssignCell), asks its Ranker (the
// Service) to score the cell's model (or, in interleaving, both rankers' models) and logs the
// exposure (ExposureLog, asynchronous: see its header for the durability contract).
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
// Cost per request (the load benchmark's target is under 5% of /v1/recommend): one snapshot load
// and hash lookup, the XXH64 assignment, the cell's model resolved once, a precomputed
// "experiment" fragment appended to the serialised response, and the exposure buffered as item
// indices (ShownExposure), with no per-item string built on the request path.
//
// Cell models: a running experiment's cells must be served. At start-up `marquee serve` adds
// RunningCellRefs() to its models; an experiment started later reports its cells through
// `on_new_cells` (called from Refresh, on the poller or the /admin/reload thread) so the server
// adds and loads them in the background; until a cell's model is loaded its requests answer 503.
//
// Thread-safety: Recommend and Refresh may be called from any thread (Refresh is serialised).
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "experiments/experiment.h"
#include "experiments/exposure_log.h"
#include "serving/service.h"

namespace marquee {
class MetadataStore;
}

namespace marquee {

struct ExperimentRouterOptions {
  std::string home;
  ExposureLogOptions log;  // the log is $home/experiments/exposures
  // Called by Refresh with the model references of running experiments' cells it has not
  // reported before (see above); may be empty.
  std::function<void(const std::vector<std::string>& refs)> on_new_cells;
};

class ExperimentRouter {
 public:
  // Opens the registry and the exposure log and loads the experiments. Throws on failure.
  explicit ExperimentRouter(ExperimentRouterOptions options);
  ~ExperimentRouter();  // drains the exposure log

  // Reloads the experiments from the registry; keeps the previous snapshot on failure (logged).
  // Returns false on failure. Thread-safe (one Refresh at a time; the others wait).
  bool Refresh() EXCLUDES(refresh_mu_);

  // Model references of the cells of running experiments (add them to the ModelManager).
  std::vector<std::string> RunningCellRefs() const;

  // Answers one request whose `experiment` is set (its `model` is ignored: the cell decides):
  // the response, an error response for a failure of the request's own model, user or items
  // (as Service::Recommend), or a thrown marquee::Error for the request-level failures listed
  // above.
  // The cells' models come from `ranker` (the server's Service).
  Response Recommend(const RecommendRequest& r, const Ranker& ranker);

  ExposureLog& exposures() { return *log_; }

 private:
  struct Entry {
    std::shared_ptr<const ExperimentSpec> spec;
    std::shared_ptr<const void> owner;  // = spec, typed for ExposureLog's pins
    ExperimentState state = ExperimentState::kDraft;
    // Appended to the serialised response in place of its closing brace, per cell (A/B) or
    // [0] (interleave): `,"experiment":{...}}`; `stopped` when the experiment is stopped.
    std::vector<std::string> fragments;
    std::string stopped;
  };
  using Snapshot = std::unordered_map<std::string, Entry>;

  // options_, log_ and constructed_: set in the constructor, before any other thread sees the
  // router, and read-only after (no lock).
  ExperimentRouterOptions options_;
  std::unique_ptr<MetadataStore> store_ PT_GUARDED_BY(refresh_mu_);  // used by Refresh only
  std::unique_ptr<ExposureLog> log_;                                 // thread-safe itself
  // Replaced by Refresh, read by any thread without a lock (an atomic shared_ptr).
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
  std::atomic<uint64_t> requests_{0};
  Mutex refresh_mu_;                                                 // one Refresh at a time
  std::vector<std::string> reported_cells_ GUARDED_BY(refresh_mu_);  // passed to on_new_cells
  bool constructed_ = false;  // the constructor's Refresh reports no cells (RunningCellRefs)
};

}  // namespace marquee

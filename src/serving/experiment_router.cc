#include "serving/experiment_router.h"

#include <spdlog/spdlog.h>
#include <xxhash.h>

#include <algorithm>
#include <ctime>

#include "experiments/interleave.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "registry/metadata_store.h"

namespace marquee::serving {
namespace {

using json = nlohmann::json;

}  // namespace

ExperimentRouter::ExperimentRouter(ExperimentRouterOptions options) : options_(std::move(options)) {
  store_ = OpenMetadataStore(options_.home, Env::Default());
  log_ = experiments::ExposureLog::Open(options_.home + "/experiments/exposures", options_.log);
  snapshot_.store(std::make_shared<const Snapshot>());
  if (!Refresh()) {
    Fail(ErrorCode::kUnavailable, "experiments: cannot read the experiments from the registry");
  }
}

ExperimentRouter::~ExperimentRouter() {
  Stop();
  try {
    log_->Flush();
  } catch (const std::exception& e) {
    spdlog::error("experiments: flushing the exposure log: {}", e.what());
  }
}

bool ExperimentRouter::Refresh() {
  try {
    auto snap = std::make_shared<Snapshot>();
    for (auto& e : experiments::ListExperiments(*store_)) {
      std::string name = e.spec.name;  // copied first: the spec is moved below
      snap->emplace(std::move(name), Entry{std::move(e.spec), e.record.state});
    }
    snapshot_.store(std::move(snap));
    return true;
  } catch (const std::exception& e) {
    spdlog::warn("experiments: refresh from the registry failed (keeping the previous state): {}",
                 e.what());
    return false;
  }
}

void ExperimentRouter::StartPolling(std::chrono::milliseconds interval) {
  if (interval.count() <= 0 || poller_.joinable()) return;
  poller_ = std::thread([this, interval] {
    std::unique_lock lock(poll_mu_);
    while (!poll_cv_.wait_for(lock, interval, [&] { return stop_; })) {
      lock.unlock();
      Refresh();
      lock.lock();
    }
  });
}

void ExperimentRouter::Stop() {
  {
    std::lock_guard lock(poll_mu_);
    stop_ = true;
  }
  poll_cv_.notify_all();
  if (poller_.joinable()) poller_.join();
}

std::vector<std::string> ExperimentRouter::RunningCellRefs() const {
  std::vector<std::string> refs;
  auto snap = snapshot_.load();
  for (const auto& [name, e] : *snap) {
    if (e.state != ExperimentState::kRunning) continue;
    for (const auto& c : e.spec.cells) {
      if (std::find(refs.begin(), refs.end(), c.model) == refs.end()) refs.push_back(c.model);
    }
  }
  std::sort(refs.begin(), refs.end());
  return refs;
}

json ExperimentRouter::Recommend(const RecommendRequest& r, const ModelManager& models,
                                 const RecommendFn& recommend) {
  const std::string& name = *r.experiment;
  if (!r.user) {
    Fail(ErrorCode::kInvalidArgument,
         "user: required with \"experiment\" (assignment is per member)");
  }
  auto snap = snapshot_.load();
  auto it = snap->find(name);
  if (it == snap->end()) {
    Fail(ErrorCode::kNotFound,
         "experiment: no experiment named '{}' (create and start it with `marquee experiments`; "
         "servers see changes within their poll interval)",
         name);
  }
  const experiments::ExperimentSpec& spec = it->second.spec;
  const ExperimentState state = it->second.state;
  if (state == ExperimentState::kDraft) {
    Fail(ErrorCode::kFailedPrecondition,
         "experiment '{}' is a draft, not running; start it with `marquee experiments start {}`",
         name, name);
  }
  auto served = [&](const experiments::Cell& c) {
    try {
      models.Get(c.model);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kNotFound) throw;
      Fail(ErrorCode::kUnavailable,
           "experiment '{}', cell '{}': model {} is not served by this server (start the "
           "experiment before the server, or serve it with --model {})",
           name, c.name, c.model, c.model);
    }
  };

  const bool running = state == ExperimentState::kRunning;
  const bool interleave = running && spec.mode == experiments::Mode::kInterleave;
  if (!interleave) {
    const size_t cell = running ? experiments::AssignCell(spec, *r.user) : 0;
    served(spec.cells[cell]);
    RecommendRequest rr = r;
    rr.model = spec.cells[cell].model;
    rr.experiment.reset();
    json res = std::move(recommend({rr})[0]);
    if (res.contains("error")) return res;
    res["experiment"] = {{"name", name}, {"cell", spec.cells[cell].name}};
    if (!running) {
      res["experiment"]["state"] = "stopped";
      return res;
    }
    experiments::Exposure x;
    x.experiment = name;
    x.cell = spec.cells[cell].name;
    x.user = *r.user;
    x.ts = static_cast<int64_t>(std::time(nullptr));
    const json& items = res.at("items");
    x.items.reserve(items.size());
    for (const auto& item : items) x.items.push_back(item.at("id").get<std::string>());
    log_->Record(std::move(x));
    return res;
  }

  // Interleaving: both rankers score the same request; team draft merges their lists.
  served(spec.cells[0]);
  served(spec.cells[1]);
  std::vector<RecommendRequest> rs(2, r);
  for (int i = 0; i < 2; ++i) {
    rs[i].model = spec.cells[i].model;
    rs[i].experiment.reset();
  }
  std::vector<json> res = recommend(rs);
  for (auto& x : res) {
    if (x.contains("error")) return x;
  }
  std::vector<std::string> lists[2];
  std::unordered_map<std::string, double> scores[2];
  for (int i = 0; i < 2; ++i) {
    for (const auto& item : res[i]["items"]) {
      lists[i].push_back(item["id"].get<std::string>());
      scores[i][lists[i].back()] = item["score"].get<double>();
    }
  }
  // Seeded per member and request: a member's consecutive requests get fresh coin flips.
  const uint64_t counter = requests_.fetch_add(1);
  const uint64_t seed = XXH64(r.user->data(), r.user->size(), counter ^ 0x9e3779b97f4a7c15ULL) ^
                        static_cast<uint64_t>(std::time(nullptr));
  experiments::Interleaved merged = experiments::TeamDraft(lists[0], lists[1], r.k, seed);
  json items = json::array();
  for (size_t i = 0; i < merged.items.size(); ++i) {
    const uint8_t team = merged.team[i];
    items.push_back({{"id", merged.items[i]},
                     {"score", scores[team][merged.items[i]]},
                     {"ranker", spec.cells[team].name}});
  }
  json out = {{"items", std::move(items)},
              {"experiment", {{"name", name}, {"mode", "interleave"}}},
              {"rankers", json::object()}};
  for (int i = 0; i < 2; ++i) {
    out["rankers"][spec.cells[i].name] = {{"model", res[i]["model"]},
                                          {"version", res[i]["version"]}};
  }
  experiments::Exposure x;
  x.experiment = name;
  x.cell = spec.cells[0].name;
  x.user = *r.user;
  x.ts = static_cast<int64_t>(std::time(nullptr));
  x.items = std::move(merged.items);
  x.rankers = std::move(merged.team);
  log_->Record(std::move(x));
  return out;
}

}  // namespace marquee::serving

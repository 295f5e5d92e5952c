#include "serving/experiment_router.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <xxhash.h>

#include <algorithm>
#include <ctime>

#include "experiments/interleave.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "registry/metadata_store.h"

namespace marquee {
namespace {

using json = nlohmann::json;

}  // namespace

ExperimentRouter::ExperimentRouter(ExperimentRouterOptions options) : options_(std::move(options)) {
  store_ = OpenMetadataStore(options_.home, Env::Default());
  log_ = ExposureLog::Open(options_.home + "/experiments/exposures", options_.log);
  snapshot_.store(std::make_shared<const Snapshot>());
  if (!Refresh()) {
    Fail(ErrorCode::kUnavailable, "experiments: cannot read the experiments from the registry");
  }
  constructed_ = true;
}

ExperimentRouter::~ExperimentRouter() {
  try {
    log_->Flush();
  } catch (const std::exception& e) {
    spdlog::error("experiments: flushing the exposure log: {}", e.what());
  }
}

bool ExperimentRouter::Refresh() {
  MutexLock lock(&refresh_mu_);
  std::vector<std::string> fresh;
  try {
    auto snap = std::make_shared<Snapshot>();
    for (auto& e : ListExperiments(*store_)) {
      Entry entry;
      entry.state = e.record.state;
      const std::string& name = e.spec.name;
      for (const auto& c : e.spec.cells) {
        entry.fragments.push_back(
            ",\"experiment\":" + json{{"name", name}, {"cell", c.name}}.dump() + "}");
        if (entry.state == ExperimentState::kRunning &&
            std::find(reported_cells_.begin(), reported_cells_.end(), c.model) ==
                reported_cells_.end() &&
            std::find(fresh.begin(), fresh.end(), c.model) == fresh.end()) {
          fresh.push_back(c.model);
        }
      }
      entry.stopped =
          ",\"experiment\":" +
          json{{"name", name}, {"cell", e.spec.cells[0].name}, {"state", "stopped"}}.dump() + "}";
      std::string key = name;  // copied first: the spec is moved below
      entry.spec = std::make_shared<const ExperimentSpec>(std::move(e.spec));
      entry.owner = entry.spec;
      snap->emplace(std::move(key), std::move(entry));
    }
    snapshot_.store(std::move(snap));
  } catch (const std::exception& e) {
    spdlog::warn("experiments: refresh from the registry failed (keeping the previous state): {}",
                 e.what());
    return false;
  }
  if (fresh.empty()) return true;
  // At construction the server adds RunningCellRefs() itself; later, the callback loads them
  // (retried on the next Refresh when it fails).
  if (options_.on_new_cells && constructed_) {
    spdlog::info("experiments: loading the cell models of newly started experiments: {}",
                 fmt::join(fresh, ", "));
    try {
      options_.on_new_cells(fresh);
    } catch (const std::exception& e) {
      spdlog::error("experiments: adding the cell models {} failed: {}", fmt::join(fresh, ", "),
                    e.what());
      return true;
    }
  }
  reported_cells_.insert(reported_cells_.end(), fresh.begin(), fresh.end());
  return true;
}

std::vector<std::string> ExperimentRouter::RunningCellRefs() const {
  std::vector<std::string> refs;
  auto snap = snapshot_.load();
  for (const auto& [name, e] : *snap) {
    if (e.state != ExperimentState::kRunning) continue;
    for (const auto& c : e.spec->cells) {
      if (std::find(refs.begin(), refs.end(), c.model) == refs.end()) refs.push_back(c.model);
    }
  }
  std::sort(refs.begin(), refs.end());
  return refs;
}

Response ExperimentRouter::Recommend(const RecommendRequest& r, const Ranker& ranker) {
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
  const Entry& entry = it->second;
  const ExperimentSpec& spec = *entry.spec;
  if (entry.state == ExperimentState::kDraft) {
    Fail(ErrorCode::kFailedPrecondition,
         "experiment '{}' is a draft, not running; start it with `marquee experiments start {}`",
         name, name);
  }
  auto resolve = [&](const Cell& c) {
    try {
      return ranker.Model(c.model);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kNotFound) throw;
      Fail(ErrorCode::kUnavailable,
           "experiment '{}', cell '{}': model {} is not served by this server yet (a server "
           "loads the cells of an experiment started after it within its poll interval; "
           "`marquee serve --model {}` serves it from the start)",
           name, c.name, c.model, c.model);
    }
  };

  const bool running = entry.state == ExperimentState::kRunning;
  const bool interleave = running && spec.mode == Mode::kInterleave;
  if (!interleave) {
    const size_t cell = running ? AssignCell(spec, *r.user) : 0;
    const std::shared_ptr<const ServableModel> model = resolve(spec.cells[cell]);
    Ranked ranked = std::move(ranker.Rank(std::span(&r, 1), std::span(&model, 1))[0]);
    if (ranked.error) return Service::ToResponse(ranked);
    Response out = Service::ToResponse(ranked);
    out.body.pop_back();  // the closing brace: the fragment ends the object
    out.body += running ? entry.fragments[cell] : entry.stopped;
    if (!running) return out;
    ShownExposure x;
    x.spec = entry.spec.get();
    x.cell = static_cast<uint8_t>(cell);
    x.user = *r.user;
    x.ts = static_cast<int64_t>(std::time(nullptr));
    x.catalogues[0] = &ranked.model->bundle.item_ids;
    x.items = ranked.items;
    const std::shared_ptr<const void> model_owner = std::move(ranked.model);  // no refcount
    x.owners[0] = &entry.owner;
    x.owners[1] = &model_owner;
    log_->Record(x);
    return out;
  }

  // Interleaving: both rankers score the same request; team draft merges their lists.
  const std::shared_ptr<const ServableModel> cell_models[2] = {resolve(spec.cells[0]),
                                                               resolve(spec.cells[1])};
  const RecommendRequest rs[2] = {r, r};
  std::vector<Ranked> res = ranker.Rank(rs, cell_models);
  for (const Ranked& x : res) {
    if (x.error) return Service::ToResponse(x);
  }
  std::vector<std::string> lists[2];
  std::unordered_map<std::string_view, size_t> position[2];  // id -> index in res[i].items
  for (int i = 0; i < 2; ++i) {
    const auto& ids = res[i].model->bundle.item_ids;
    for (size_t j = 0; j < res[i].items.size(); ++j) {
      lists[i].push_back(ids[res[i].items[j]]);
      position[i].emplace(ids[res[i].items[j]], j);
    }
  }
  // Seeded per member and request: a member's consecutive requests get fresh coin flips.
  const uint64_t counter = requests_.fetch_add(1);
  const uint64_t seed = XXH64(r.user->data(), r.user->size(), counter ^ 0x9e3779b97f4a7c15ULL) ^
                        static_cast<uint64_t>(std::time(nullptr));
  Interleaved merged = TeamDraft(lists[0], lists[1], r.k, seed);
  std::vector<uint32_t> shown;
  json items = json::array();
  for (size_t i = 0; i < merged.items.size(); ++i) {
    const uint8_t team = merged.team[i];
    const size_t j = position[team].at(merged.items[i]);
    items.push_back({{"id", merged.items[i]},
                     {"score", res[team].scores[j]},
                     {"ranker", spec.cells[team].name}});
    shown.push_back(res[team].items[j]);
  }
  json out = {{"items", std::move(items)},
              {"experiment", {{"name", name}, {"mode", "interleave"}}},
              {"rankers", json::object()}};
  for (int i = 0; i < 2; ++i) {
    out["rankers"][spec.cells[i].name] = {{"model", res[i].model->name},
                                          {"version", res[i].model->version}};
  }
  ShownExposure x;
  x.spec = entry.spec.get();
  x.cell = 0;
  x.user = *r.user;
  x.ts = static_cast<int64_t>(std::time(nullptr));
  x.items = shown;
  x.rankers = merged.team;
  const std::shared_ptr<const void> model_owners[2] = {res[0].model, res[1].model};
  x.owners[0] = &entry.owner;
  for (int i = 0; i < 2; ++i) {
    x.catalogues[i] = &res[i].model->bundle.item_ids;
    x.owners[1 + i] = &model_owners[i];
  }
  log_->Record(x);
  Response response;
  response.body = out.dump();
  return response;
}

}  // namespace marquee

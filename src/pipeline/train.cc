#include "pipeline/train.h"

#include <spdlog/spdlog.h>

#include <unordered_map>

#include "bandits/train.h"
#include "common/log.h"
#include "data/catalog.h"
#include "data/readers.h"
#include "eval/evaluator.h"
#include "eval/split.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "marquee/recommender.h"
#include "pipeline/model_bundle.h"
#include "tabular/train.h"

namespace marquee {
namespace {

Dataset LoadTrainingData(const TrainConfig& c, const TrainOptions& o, Env* env) {
  if (!c.data.dataset.empty()) {
    DatasetCatalog catalog(o.home, env);
    return catalog.Open(c.data.dataset);
  }
  ReadResult rr = ReadInteractions(c.data.train, c.data.read, env);
  if (rr.bad_lines > 0) spdlog::warn("{}: skipped {} bad lines", c.data.train, rr.bad_lines);
  Dataset ds = Dataset::FromRows(rr.rows, rr.has_values, rr.has_times, c.data.train);
  ds.mutable_info().source = c.data.train;
  return ds;
}

std::vector<RawInteraction> ReadPairs(const std::string& path, Env* env) {
  ReadOptions ro;  // user<TAB>item[...]: the first two columns, any reader format
  return ReadInteractions(path, ro, env).rows;
}

// The refit matrix for protocol "given": the training positives plus every row of the eval
// users (input and targets). Users absent from the training data become new rows; items
// outside the training catalogue are dropped (the model's catalogue is the training one).
CsrMatrix GivenRefitMatrix(const Dataset& ds, std::optional<double> threshold,
                           const std::vector<RawInteraction>& input,
                           const std::vector<RawInteraction>& target) {
  CsrMatrix base = ds.ToCsr(threshold);
  std::vector<uint32_t> r(base.indices.size()), c(base.indices.begin(), base.indices.end());
  for (uint32_t u = 0; u < base.rows; ++u) {
    for (uint64_t p = base.indptr[u]; p < base.indptr[u + 1]; ++p) r[p] = u;
  }
  std::unordered_map<std::string, uint32_t> new_users;
  uint32_t rows = base.rows;
  for (const auto* part : {&input, &target}) {
    for (const auto& row : *part) {
      auto item = ds.find_item(row.item);
      if (!item) continue;
      uint32_t u;
      if (auto known = ds.find_user(row.user)) {
        u = *known;
      } else {
        auto [it, added] = new_users.try_emplace(row.user, rows);
        if (added) ++rows;
        u = it->second;
      }
      r.push_back(u);
      c.push_back(*item);
    }
  }
  return CsrMatrix::FromTriplets(rows, ds.num_items(), r, c, {});
}

std::vector<std::string> ItemIds(const Dataset& ds) {
  std::vector<std::string> ids;
  ids.reserve(ds.num_items());
  for (uint32_t i = 0; i < ds.num_items(); ++i) ids.emplace_back(ds.item_id(i));
  return ids;
}

}  // namespace

nlohmann::json RunTraining(const TrainConfig& c, const TrainOptions& o) {
  // [model] family = "xgboost": the tabular job (src/tabular/train.h).
  if (c.tabular) return RunTabularTraining(*c.tabular, o.home, o.ctx);
  // A bandit policy family: the bandit job (src/bandits/train.h).
  if (c.bandit) return bandit::RunBanditTraining(*c.bandit, o.home, o.ctx);
  Env* env = o.ctx.env != nullptr ? o.ctx.env : Env::Default();
  Context ctx = o.ctx;
  ctx.env = env;
  if (c.threads > 0) ctx.threads = c.threads;
  if (ctx.threads <= 0) ctx.threads = Context::DefaultThreads();
  ctx.seed = c.model_seed;

  // Validate the cheap things first so a typo fails before minutes of work.
  std::vector<MetricSpec> metrics;
  for (const auto& m : c.metrics) metrics.push_back(ParseMetric(m));
  auto probe = CreateRecommender(c.family, c.model_params);

  nlohmann::json timings = nlohmann::json::object();
  Stopwatch sw;
  Dataset ds = LoadTrainingData(c, o, env);
  timings["load"] = sw.Seconds();
  if (ds.num_interactions() == 0)
    Fail(ErrorCode::kInvalidArgument, "the training data has no rows");

  sw = Stopwatch();
  Split split;
  std::vector<RawInteraction> given_input, given_target;
  if (c.split.protocol == "given") {
    given_input = ReadPairs(c.eval_input, env);
    given_target = ReadPairs(c.eval_target, env);
    split = MakeGivenSplit(ds, c.data.positive_threshold, given_input, given_target);
  } else {
    split = MakeSplit(ds, c.data.positive_threshold, c.split);
  }
  timings["split"] = sw.Seconds();
  if (split.eval.input.rows == 0) {
    Fail(ErrorCode::kInvalidArgument, "the split left no users to evaluate (protocol {})",
         split.protocol);
  }

  sw = Stopwatch();
  std::unique_ptr<Recommender> model = std::move(probe);
  model->Fit(split.train.Binarized(), ctx);
  timings["train"] = sw.Seconds();

  sw = Stopwatch();
  EvalResult ev = Evaluate(*model, split.eval, metrics, ctx);
  timings["eval"] = sw.Seconds();

  const CsrMatrix* final_matrix = &split.train;
  CsrMatrix full;
  if (c.refit) {
    sw = Stopwatch();
    full = c.split.protocol == "given"
               ? GivenRefitMatrix(ds, c.data.positive_threshold, given_input, given_target)
               : ds.ToCsr(c.data.positive_threshold);
    model = CreateRecommender(c.family, c.model_params);
    model->Fit(full.Binarized(), ctx);
    final_matrix = &full;
    timings["refit"] = sw.Seconds();
  }

  nlohmann::json metrics_json = nlohmann::json::object();
  nlohmann::json metric_order = nlohmann::json::array();
  for (const auto& [name, value] : ev.metrics) {
    metrics_json[name] = value;
    metric_order.push_back(name);
  }
  nlohmann::json dataset_json = {
      {"name", ds.info().name},     {"id", ds.info().id},
      {"source", ds.info().source}, {"users", ds.num_users()},
      {"items", ds.num_items()},    {"interactions", ds.num_interactions()}};
  nlohmann::json meta = {{"model_name", c.model_name},
                         {"dataset", dataset_json},
                         {"protocol", split.protocol},
                         {"metrics", metrics_json},
                         {"trained_on", c.refit ? "all" : "train-split"},
                         {"training_users", final_matrix->rows},
                         {"training_interactions", final_matrix->nnz()},
                         {"config", c.as_given},
                         {"seed", c.model_seed},
                         {"created_at", env->NowSeconds()}};
  sw = Stopwatch();
  std::string digest;
  // Serving folds in a known user by id from this: every positive of every user in the data.
  TrainingHistory training;
  training.history = ds.ToCsr(c.data.positive_threshold);
  training.user_ids.reserve(ds.num_users());
  for (uint32_t u = 0; u < ds.num_users(); ++u) training.user_ids.emplace_back(ds.user_id(u));
  std::string artifact =
      SaveModelBundle(*model, ItemIds(ds), meta, o.home, env, &digest, &training);
  timings["save"] = sw.Seconds();

  return {
      {"family", c.family},
      {"model", c.model_name},
      {"params", model->params()},
      {"metrics", metrics_json},
      {"metric_order", metric_order},
      {"protocol", split.protocol},
      {"split", split.details},
      {"eval", ev.ToJson()},
      {"dataset", dataset_json},
      {"positive_threshold", c.data.positive_threshold ? nlohmann::json(*c.data.positive_threshold)
                                                       : nlohmann::json(nullptr)},
      {"seed", c.model_seed},
      {"split_seed", c.split.seed},
      {"threads", ctx.threads},
      {"refit", c.refit},
      {"trained_on", meta["trained_on"]},
      {"training_users", final_matrix->rows},
      {"timings", timings},
      {"artifact", artifact},
      {"artifact_sha256", digest}};
}

std::string FormatTrainReport(const nlohmann::json& r) {
  if (r.contains("task")) return FormatTabularReport(r);           // a tabular model's result
  if (r.contains("bandit")) return bandit::FormatBanditReport(r);  // a bandit policy's result
  std::string out;
  const auto& d = r["dataset"];
  std::string dname = d["name"].get<std::string>();
  if (dname.empty()) dname = d["source"].get<std::string>();
  out += fmt::format("Trained {} on {} ({} users, {} items, {} interactions)\n",
                     r["family"].get<std::string>(), dname, d["users"].get<uint64_t>(),
                     d["items"].get<uint64_t>(), d["interactions"].get<uint64_t>());
  const auto& ev = r["eval"];
  out += fmt::format("Protocol {}: {} users evaluated over {} items (split seed {})\n\n",
                     r["protocol"].get<std::string>(), ev["users_evaluated"].get<uint64_t>(),
                     ev["items"].get<uint64_t>(), r["split_seed"].get<uint64_t>());
  size_t width = 8;
  for (const auto& k : r["metric_order"]) width = std::max(width, k.get<std::string>().size());
  out += fmt::format("  {:<{}}  {}\n", "metric", width, "value");
  for (const auto& k : r["metric_order"]) {
    const std::string name = k.get<std::string>();
    out += fmt::format("  {:<{}}  {:.4f}\n", name, width, r["metrics"][name].get<double>());
  }
  const auto& t = r["timings"];
  out += "\nTimings:";
  for (const auto& [k, v] : t.items()) out += fmt::format("  {} {:.2f}s", k, v.get<double>());
  out += "\n";
  if (r["refit"].get<bool>()) {
    out += fmt::format("Saved model (refit on all data, {} users): {}\n",
                       r["training_users"].get<uint64_t>(), r["artifact"].get<std::string>());
  } else {
    out += fmt::format("Saved model (trained on the split's training users only): {}\n",
                       r["artifact"].get<std::string>());
  }
  return out;
}

}  // namespace marquee

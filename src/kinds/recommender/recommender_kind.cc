#include "kinds/recommender/recommender_kind.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <unordered_map>

#include "common/communicator.h"
#include "common/config_section.h"
#include "common/log.h"
#include "common/sha256.h"
#include "common/shard.h"
#include "data/catalog.h"
#include "eval/evaluator.h"
#include "kinds/recommender/model_bundle.h"
#include "kinds/recommender/servable.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "marquee/recommender.h"

namespace marquee {
namespace {

// --- config

std::string ResolvePath(const std::string& base_dir, const std::string& p) {
  if (p.empty() || p[0] == '/' || base_dir.empty()) return p;
  return (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

// The [model] keys an override list sets ("model.lambda=3" -> "lambda").
std::set<std::string> OverriddenModelKeys(const std::vector<std::string>& overrides) {
  std::set<std::string> keys;
  for (const auto& o : overrides) {
    const auto eq = o.find('=');
    if (eq == std::string::npos || o.compare(0, 6, "model.") != 0) continue;
    keys.insert(o.substr(6, eq - 6));
  }
  return keys;
}

// The parameter names a recommender family accepts (its resolved defaults).
std::set<std::string> FamilyParamNames(const std::string& family) {
  std::set<std::string> names;
  const nlohmann::json defaults = CreateRecommender(family, nlohmann::json::object())->params();
  for (const auto& [k, v] : defaults.items()) names.insert(k);
  return names;
}

// When --set model.family=F switched the family, the file's parameters that belong to another
// recommender family (and not to F) cannot apply: they are dropped from `params` with a one-line
// notice each. Keys F knows, keys no family knows (typos) and keys given by --set are kept, so
// the factory still rejects a typo.
void DropOtherFamiliesParams(const std::string& family, const std::set<std::string>& set_by_flag,
                             nlohmann::json* params) {
  const auto own = FamilyParamNames(family);
  std::vector<std::string> drop;
  for (const auto& [key, value] : params->items()) {
    if (own.count(key) || set_by_flag.count(key)) continue;
    for (const auto& other : RecommenderFamilies()) {
      if (other == family) continue;
      if (FamilyParamNames(other).count(key)) {
        spdlog::warn(
            "--set model.family={}: ignoring [model] {} = {} from the config ({} is a "
            "parameter of {}, not of {})",
            family, key, value.dump(), key, other, family);
        drop.push_back(key);
        break;
      }
    }
  }
  for (const auto& key : drop) params->erase(key);
}

void ParseData(const nlohmann::json& root, const ConfigOrigin& origin, RecommenderConfig& c) {
  ConfigSection s(root, "data");
  c.data.dataset = s.String("dataset", "");
  c.data.train = ResolvePath(origin.base_dir, s.String("train", ""));
  c.data.read.format = s.String("format", "auto");
  c.data.read.user_col = s.String("user_col", "");
  c.data.read.item_col = s.String("item_col", "");
  c.data.read.value_col = s.String("value_col", "");
  c.data.read.time_col = s.String("time_col", "");
  if (s.Has("header")) c.data.read.header = s.Bool("header", true);
  std::string delim = s.String("delimiter", "");
  if (delim == "\\t" || delim == "tab") delim = "\t";
  if (delim.size() > 1) {
    Fail(ErrorCode::kInvalidArgument, "[data] delimiter must be one character, got \"{}\"", delim);
  }
  if (!delim.empty()) c.data.read.delimiter = delim[0];
  if (s.Has("positive_threshold")) c.data.positive_threshold = s.Number("positive_threshold", 0);
  s.Finish();
  if (c.data.dataset.empty() == c.data.train.empty()) {
    Fail(ErrorCode::kInvalidArgument,
         "[data] needs exactly one of dataset = \"NAME\" (an imported snapshot) or train = "
         "\"PATH\" (a file)");
  }
}

void ParseSplit(const nlohmann::json& root, const ConfigOrigin& origin, RecommenderConfig& c) {
  ConfigSection s(root, "split");
  c.split.protocol = s.String("protocol", "strong-generalization");
  c.split.test_users = static_cast<uint32_t>(s.Integer("test_users", 0, 0));
  c.split.fold_in = s.Number("fold_in", 0.8);
  c.split.test_fraction = s.Number("test_fraction", 0.2);
  c.split.min_items = static_cast<uint32_t>(s.Integer("min_items", 2, 2));
  c.split.seed = static_cast<uint64_t>(s.Integer("seed", 98765, 0));
  c.eval_input = ResolvePath(origin.base_dir, s.String("eval_input", ""));
  c.eval_target = ResolvePath(origin.base_dir, s.String("eval_target", ""));
  c.refit = s.Bool("refit", true);
  c.validation = s.Number("validation", 0);
  s.Finish();
  if (c.validation != 0 && !(c.validation > 0 && c.validation < 1)) {
    Fail(ErrorCode::kInvalidArgument, "[split] validation must be in (0, 1) (got {})",
         c.validation);
  }
  if (c.split.protocol == "given" && (c.eval_input.empty() || c.eval_target.empty())) {
    Fail(ErrorCode::kInvalidArgument,
         "[split] protocol \"given\" needs eval_input = \"in.tsv\" and eval_target = "
         "\"target.tsv\" (user<TAB>item)");
  }
}

// [model]: family (checked by the pipeline), name, seed, description, the family's parameters.
void ParseModel(const nlohmann::json& root, const ConfigOrigin& origin,
                const std::vector<std::string>& overrides, RecommenderConfig& c) {
  nlohmann::json m = root.at("model");
  c.family = m.at("family").get<std::string>();
  c.model_name = origin.stem;
  if (m.contains("name")) {
    if (!m["name"].is_string()) Fail(ErrorCode::kInvalidArgument, "[model] name must be a string");
    c.model_name = m["name"].get<std::string>();
  }
  c.model_seed = c.split.seed;
  if (m.contains("seed")) {
    if (!m["seed"].is_number_integer()) {
      Fail(ErrorCode::kInvalidArgument, "[model] seed must be an integer");
    }
    c.model_seed = m["seed"].get<uint64_t>();
  }
  for (const char* key : {"family", "name", "seed", "description"}) m.erase(key);
  c.model_params = m;
  const std::set<std::string> set_by_flag = OverriddenModelKeys(overrides);
  if (set_by_flag.count("family")) DropOtherFamiliesParams(c.family, set_by_flag, &c.model_params);
}

void ParseEvalAndRun(const nlohmann::json& root, RecommenderConfig& c) {
  {
    ConfigSection s(root, "eval");
    c.metrics = s.Strings("metrics", {"recall@20", "recall@50", "ndcg@100"});
    s.Finish();
    if (c.metrics.empty()) Fail(ErrorCode::kInvalidArgument, "[eval] metrics is empty");
  }
  ConfigSection s(root, "run");
  c.threads = static_cast<int>(s.Integer("threads", 0, 0));
  s.Finish();
}

// --- training

Dataset LoadTrainingData(const RecommenderConfig& c, const TrainJob& job, Env* env) {
  if (!c.data.dataset.empty()) {
    DatasetCatalog catalog(job.home, env);
    return catalog.Open(c.data.dataset);
  }
  DatasetReadResult rr = ReadDataset(c.data.train, c.data.read, env);
  if (rr.bad_lines > 0) spdlog::warn("{}: skipped {} bad lines", c.data.train, rr.bad_lines);
  rr.dataset.mutable_info().source = c.data.train;
  return std::move(rr.dataset);
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

// The stages of one training job, in order; each records its time in `timings`.
struct Job {
  Job(const RecommenderConfig& config, const Context& context, Env* e)
      : c(config), ctx(context), env(e) {}

  const RecommenderConfig& c;
  Context ctx;
  Env* env;
  nlohmann::json timings = nlohmann::json::object();
  Dataset ds;
  Split split;
  std::vector<RawInteraction> given_input, given_target;
  std::unique_ptr<Recommender> model;
  EvalResult ev;
  CsrMatrix full;
  const CsrMatrix* final_matrix = nullptr;
  uint64_t final_nnz = 0;  // entries of the final training matrix (all ranks' together)
  // Under mpirun with several ranks: which share of the training matrices this rank keeps, and
  // the refit's share (the split's is split.shard). docs/SCALING.md, "Distributed training".
  std::optional<SplitShard> shard_request;
  std::shared_ptr<InteractionShard> refit_shard;

  template <class F>
  void Stage(const char* name, F&& f) {
    Stopwatch sw;
    f();
    timings[name] = sw.Seconds();
  }

  void LoadData(const TrainJob& job) {
    ds = LoadTrainingData(c, job, env);
    if (ds.num_interactions() == 0)
      Fail(ErrorCode::kInvalidArgument, "the training data has no rows");
  }

  void MakeSplit() {
    const SplitShard* shard = shard_request ? &*shard_request : nullptr;
    if (c.split.protocol == "given") {
      given_input = ReadPairs(c.eval_input, env);
      given_target = ReadPairs(c.eval_target, env);
      split = MakeGivenSplit(ds, c.data.positive_threshold, given_input, given_target);
    } else {
      // Validation is carved from the whole training matrix; it is cut below.
      split = marquee::MakeSplit(ds, c.data.positive_threshold, c.split,
                                 c.validation > 0 ? nullptr : shard);
    }
    if (c.validation > 0) {
      split = CarveValidation(split, c.validation, c.split.fold_in, c.split.min_items,
                              c.split.seed + 1);
    }
    if (shard != nullptr) ShardTrain(split, *shard);
    if (split.eval.input.rows == 0) {
      Fail(ErrorCode::kInvalidArgument, "the split left no users to evaluate (protocol {})",
           split.protocol);
    }
  }

  // The context of a Fit given `shard` (this rank's share of its matrix) or nullptr (whole).
  Context FitContext(const InteractionShard* shard) const {
    Context f = ctx;
    f.shard = shard;
    return f;
  }

  void Refit() {
    const bool given = c.split.protocol == "given";
    model = CreateRecommender(c.family, c.model_params);
    final_matrix = &full;
    if (!shard_request) {
      full = given ? GivenRefitMatrix(ds, c.data.positive_threshold, given_input, given_target)
                   : ds.ToCsr(c.data.positive_threshold);
      final_nnz = full.nnz();
      model->Fit(full.Binarized(), ctx);
      return;
    }
    // Several ranks: this rank's share of every positive, streamed from the dataset (the given
    // protocol's refit matrix, which adds the eval users' rows, is built whole and cut).
    const SplitShard& r = *shard_request;
    if (given) {
      const CsrMatrix whole =
          GivenRefitMatrix(ds, c.data.positive_threshold, given_input, given_target);
      refit_shard =
          std::make_shared<InteractionShard>(BuildShard(whole, r.rank, r.ranks, r.plan, full));
    } else {
      refit_shard = std::make_shared<InteractionShard>(BuildShard(
          ds.num_users(), ds.num_items(), r.rank, r.ranks, r.plan,
          [&](const RowVisitor& visit) { ds.ForEachPositiveRow(c.data.positive_threshold, visit); },
          full));
    }
    final_nnz = refit_shard->nnz;
    Binarize(full, refit_shard.get());
    model->Fit(full, FitContext(refit_shard.get()));
  }

  // Sets every stored value of `m` and of the shard's item rows to 1, in place (a copy is the
  // size of the training set).
  static void Binarize(CsrMatrix& m, InteractionShard* shard) {
    std::fill(m.values.begin(), m.values.end(), 1.0f);
    if (shard != nullptr) {
      std::fill(shard->item_rows.values.begin(), shard->item_rows.values.end(), 1.0f);
    }
  }

  nlohmann::json DatasetJson() const {
    return {{"name", ds.info().name},     {"id", ds.info().id},
            {"source", ds.info().source}, {"users", ds.num_users()},
            {"items", ds.num_items()},    {"interactions", ds.num_interactions()}};
  }

  // Saves the bundle with the training history serving folds known users in from.
  std::pair<std::string, std::string> Save(const std::string& home,
                                           const nlohmann::json& metrics_json) {
    nlohmann::json meta = {{"model_name", c.model_name},
                           {"dataset", DatasetJson()},
                           {"protocol", split.protocol},
                           {"metrics", metrics_json},
                           {"trained_on", c.refit ? "all" : "train-split"},
                           {"training_users", final_matrix->rows},
                           {"training_interactions", final_nnz},
                           {"config", c.as_given},
                           {"seed", c.model_seed},
                           {"created_at", env->NowSeconds()}};
    TrainingHistory training;
    training.history = ds.ToCsr(c.data.positive_threshold);
    training.user_ids.reserve(ds.num_users());
    for (uint32_t u = 0; u < ds.num_users(); ++u) training.user_ids.emplace_back(ds.user_id(u));
    std::string digest;
    std::string artifact =
        SaveModelBundle(*model, ItemIds(ds), meta, home, env, &digest, &training);
    return {artifact, digest};
  }
};

// What a rank held of a training matrix: entries of its users' rows and of its items' rows,
// against all of the matrix's.
nlohmann::json HeldJson(const CsrMatrix& local, const InteractionShard& shard) {
  return {{"user_rows", local.nnz()}, {"item_rows", shard.item_rows.nnz()}, {"of", shard.nnz}};
}

nlohmann::json Opt(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

class RecommenderKind final : public ModelKind {
 public:
  std::string_view name() const override { return "recommender"; }
  std::string_view noun() const override { return "recommender"; }
  std::vector<std::string> families() const override { return RecommenderFamilies(); }
  std::vector<std::string> routes() const override { return {"recommend", "similar-items"}; }
  bool can_train_distributed() const override { return true; }

  std::shared_ptr<const KindConfig> ParseConfig(
      const nlohmann::json& root, const ConfigOrigin& origin,
      const std::vector<std::string>& overrides) const override {
    auto c = std::make_shared<RecommenderConfig>();
    c->as_given = root;
    ParseData(root, origin, *c);
    ParseSplit(root, origin, *c);
    ParseModel(root, origin, overrides, *c);
    ParseEvalAndRun(root, *c);
    return c;
  }

  Identity Identify(const KindConfig& config) const override {
    const auto& c = dynamic_cast<const RecommenderConfig&>(config);
    return {c.family, c.model_name, c.model_params, c.threads};
  }

  TrainResult Train(const KindConfig& config, const TrainJob& job) const override {
    const auto& c = dynamic_cast<const RecommenderConfig&>(config);
    Env* env = job.ctx.env != nullptr ? job.ctx.env : Env::Default();
    Job j(c, job.ctx, env);
    j.ctx.env = env;
    if (c.threads > 0) j.ctx.threads = c.threads;
    if (j.ctx.threads <= 0) j.ctx.threads = Context::DefaultThreads();
    j.ctx.seed = c.model_seed;

    // Validate the cheap things first so a typo fails before minutes of work.
    std::vector<MetricSpec> metrics;
    for (const auto& m : c.metrics) metrics.push_back(ParseMetric(m));
    j.model = CreateRecommender(c.family, c.model_params);
    // Under mpirun every rank runs this job: all load and split the same data and take part in
    // every Fit; rank 0 alone evaluates and saves (docs/SCALING.md, "Distributed training").
    const int rank = j.ctx.comm != nullptr ? j.ctx.comm->rank() : 0;
    const int ranks = j.ctx.comm != nullptr ? j.ctx.comm->size() : 1;
    if (ranks > 1 && !j.model->distributed_fit()) {
      Fail(ErrorCode::kUnimplemented,
           "the {} family cannot train across ranks (mpirun); ials, bpr and ease can", c.family);
    }

    if (ranks > 1) j.shard_request = SplitShard{rank, ranks, j.model->shard_plan()};
    j.Stage("load", [&] { j.LoadData(job); });
    if (ranks > 1) FailIfInjected(*j.ctx.comm);
    j.Stage("split", [&] { j.MakeSplit(); });
    // Binarized in place rather than copied; only the training matrix's shape is read after
    // this.
    Job::Binarize(j.split.train, j.split.shard.get());
    j.Stage("train", [&] { j.model->Fit(j.split.train, j.FitContext(j.split.shard.get())); });
    if (rank == 0) {
      j.Stage("eval", [&] { j.ev = Evaluate(*j.model, j.split.eval, metrics, j.ctx); });
    }
    j.final_matrix = &j.split.train;
    j.final_nnz = j.split.shard != nullptr ? j.split.shard->nnz : j.split.train.nnz();
    nlohmann::json held;  // what this rank held of the training matrices (several ranks)
    if (j.split.shard != nullptr) {
      held = HeldJson(j.split.train, *j.split.shard);
      // Fitted and evaluated: the share is not needed again (only the matrix's shape is).
      CsrMatrix shape;
      shape.rows = j.split.train.rows;
      shape.cols = j.split.train.cols;
      j.split.train = std::move(shape);
      j.split.shard.reset();
    }
    if (c.refit) j.Stage("refit", [&] { j.Refit(); });
    if (rank != 0) {  // a contributing rank: nothing to report or save
      TrainResult contributed;
      contributed.family = c.family;
      contributed.model_name = c.model_name;
      contributed.details = {
          {"rank", rank}, {"ranks", ranks}, {"held_interactions", held}, {"timings", j.timings}};
      return contributed;
    }

    nlohmann::json metrics_json = nlohmann::json::object();
    nlohmann::json metric_order = nlohmann::json::array();
    for (const auto& [name, value] : j.ev.metrics) {
      metrics_json[name] = value;
      metric_order.push_back(name);
    }
    std::pair<std::string, std::string> saved;
    j.Stage("save", [&] { saved = j.Save(job.home, metrics_json); });

    nlohmann::json details = {{"family", c.family},
                              {"model", c.model_name},
                              {"params", j.model->params()},
                              {"metrics", metrics_json},
                              {"metric_order", metric_order},
                              {"protocol", j.split.protocol},
                              {"split", j.split.details},
                              {"eval", j.ev.ToJson()},
                              {"dataset", j.DatasetJson()},
                              {"positive_threshold", Opt(c.data.positive_threshold)},
                              {"seed", c.model_seed},
                              {"split_seed", c.split.seed},
                              {"threads", j.ctx.threads},
                              {"ranks", ranks},
                              {"refit", c.refit},
                              {"trained_on", c.refit ? "all" : "train-split"},
                              {"training_users", j.final_matrix->rows},
                              {"timings", j.timings},
                              {"artifact", saved.first},
                              {"artifact_sha256", saved.second}};
    if (!held.is_null()) details["held_interactions"] = held;
    TrainResult r =
        TrainResultFromDetails(std::move(details), c.family, c.model_name, c.data.train);
    if (r.dataset.id.empty()) {
      r.dataset.schema = {{"format", c.data.read.format},
                          {"user_col", c.data.read.user_col},
                          {"item_col", c.data.read.item_col},
                          {"value_col", c.data.read.value_col},
                          {"time_col", c.data.read.time_col}};
    } else {
      // A snapshot the registry has not seen yet is described fully (memory-mapped, one pass).
      const std::string home = job.home, id = r.dataset.id;
      r.dataset.describe = [home, id, env] {
        DatasetCatalog catalog(home, env);
        Dataset ds = catalog.Open(id);
        DatasetStats st = ComputeStats(ds);
        return std::make_pair(nlohmann::json{{"values", st.has_values}, {"times", st.has_times}},
                              st.ToJson());
      };
    }
    if (c.split.protocol == "given") {
      r.protocol_identity["eval_input"] = Sha256File(c.eval_input, env);
      r.protocol_identity["eval_target"] = Sha256File(c.eval_target, env);
    }
    return r;
  }

  std::string FormatReport(const nlohmann::json& r) const override {
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
    out += "\nTimings:";
    for (const auto& [k, v] : r["timings"].items()) {
      out += fmt::format("  {} {:.2f}s", k, v.get<double>());
    }
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

  std::shared_ptr<Servable> Load(const ServableSpec& spec) const override {
    ModelBundle b = LoadModelBundle(spec.artifact_path, spec.env);
    if (!spec.family.empty() && b.model->family() != spec.family) {
      Fail(ErrorCode::kCorruption, "the artifact holds a {} model, the version says {}",
           b.model->family(), spec.family);
    }
    return MakeServable(std::move(b), spec.name, spec.version, spec.score_cache_bytes,
                        spec.retrieval, spec.env);
  }

  std::vector<std::string> SmokeTest(const std::string& artifact_path, const std::string& family,
                                     Env* env) const override {
    std::vector<std::string> checks;
    ModelBundle b = LoadModelBundle(artifact_path, env);
    const uint32_t n = b.model->num_items();
    if (!family.empty() && b.model->family() != family) {
      Fail(ErrorCode::kCorruption, "the artifact holds a {} model, the version says {}",
           b.model->family(), family);
    }
    if (n == 0) Fail(ErrorCode::kFailedPrecondition, "the model has no items");
    checks.push_back(fmt::format("loaded ({}, {} items)", b.model->family(), n));
    CsrMatrix history;
    history.rows = 1;
    history.cols = n;
    history.indptr = {0, 1};
    history.indices = {0};
    history.values = {1.0f};
    std::vector<float> scores(n);
    Context ctx;
    ctx.threads = 1;
    ctx.env = env;
    b.model->ScoreBatch(history, scores, ctx);
    size_t bad = 0, first_bad = 0;
    for (size_t i = 0; i < scores.size(); ++i) {
      if (!std::isfinite(scores[i]) && bad++ == 0) first_bad = i;
    }
    if (bad > 0) {
      Fail(ErrorCode::kFailedPrecondition,
           "the smoke request (a one-item history) got {} non-finite scores of {} (first: item "
           "'{}')",
           bad, n, b.item_ids[first_bad]);
    }
    checks.push_back(fmt::format("smoke request scored {} items, all finite", n));
    return checks;
  }
};

}  // namespace

nlohmann::json RecommenderConfig::Resolved() const {
  const auto& r = data.read;
  nlohmann::json j = {
      {"data",
       {{"dataset", data.dataset},
        {"train", data.train},
        {"format", r.format},
        {"user_col", r.user_col},
        {"item_col", r.item_col},
        {"value_col", r.value_col},
        {"time_col", r.time_col},
        {"positive_threshold", Opt(data.positive_threshold)}}},
      {"split",
       {{"protocol", split.protocol},
        {"test_users", split.test_users},
        {"fold_in", split.fold_in},
        {"test_fraction", split.test_fraction},
        {"min_items", split.min_items},
        {"seed", split.seed},
        {"eval_input", eval_input},
        {"eval_target", eval_target},
        {"refit", refit}}},
      {"model",
       {{"family", family}, {"name", model_name}, {"seed", model_seed}, {"params", model_params}}},
      {"eval", {{"metrics", metrics}}},
      {"run", {{"threads", threads}}}};
  if (validation > 0) j["split"]["validation"] = validation;
  return j;
}

std::unique_ptr<ModelKind> NewRecommenderKind() { return std::make_unique<RecommenderKind>(); }

}  // namespace marquee

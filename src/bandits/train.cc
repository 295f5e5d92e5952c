#include "bandits/train.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <random>
#include <set>

#include "bandits/log.h"
#include "bandits/ope.h"
#include "bandits/typed_log.h"
#include "common/config_section.h"
#include "common/log.h"
#include "common/sha256.h"
#include "marquee/env.h"
#include "marquee/error.h"

namespace marquee {
namespace {

// Replays the rows of `log` (a slice of the job's log) through the policy, reading each only
// through BanditLog::Keyed (the typed log's parse-free path). A lazy log's pages are released
// behind the reader, so the pass holds a window of the mapped snapshot, not all of it.
void Learn(Policy& p, const BanditLog& log, int passes, int threads, const Context& ctx,
           const char* stage) {
  const size_t n = log.size();
  const size_t total = n * static_cast<size_t>(passes);
  p.Learn(
      n, passes,
      [&](size_t i, KeyedScratch* scratch) {
        if (i % kReleaseRows == 0 && i >= kReleaseRows) log.ReleasePages(i - kReleaseRows, i);
        const BanditLog::RowRef r = log.row(i);
        return Policy::LoggedRow{&log.Keyed(i, scratch), r.chosen, r.reward, r.propensity};
      },
      threads,
      [&](size_t done) {
        ctx.Report(stage, total == 0 ? 1.0 : static_cast<double>(done) / total);
      });
  log.ReleasePages(0, n);
  ctx.Report(stage, 1.0);
}

// The job's log: a catalog snapshot in the lazy form (rows read from the mapping, never copied),
// or a JSONL file read into memory.
BanditLog OpenJobLog(const BanditTrainConfig& c, const std::string& home, Env* env,
                     BanditLogEntry* entry) {
  if (!c.dataset.empty()) {
    BanditLogCatalog catalog(home, env);
    *entry = catalog.Get(c.dataset);
    return catalog.OpenLazily(c.dataset);
  }
  return ReadBanditJsonl(c.train, env);
}

}  // namespace

nlohmann::json BanditTrainConfig::ToJson() const {
  return {{"data", {{"dataset", dataset}, {"train", train}}},
          {"split",
           {{"protocol", protocol},
            {"test_fraction", test_fraction},
            {"seed", split_seed},
            {"refit", refit}}},
          {"model",
           {{"family", policy.family},
            {"name", model_name},
            {"seed", policy.seed},
            {"passes", passes},
            {"params", policy.params},
            {"features", policy.features}}},
          {"eval", {{"estimators", estimators}, {"bootstrap", bootstrap}, {"tau", tau}}},
          {"run", {{"threads", threads}}}};
}

BanditTrainConfig ParseBanditConfig(const nlohmann::json& root, const std::string& base_dir,
                                    const std::string& stem) {
  BanditTrainConfig c;
  for (const auto& [k, v] : root.items()) {
    static const std::set<std::string> kSections = {"data", "split", "model", "eval", "run"};
    if (!kSections.count(k)) {
      Fail(ErrorCode::kInvalidArgument,
           "unknown section [{}] (known: data, split, model, eval, run)", k);
    }
  }
  const std::string ctx = " for a bandit policy";
  {
    ConfigSection s(root, "data", ctx);
    c.dataset = s.String("dataset", "");
    c.train = s.String("train", "");
    if (!c.train.empty() && c.train[0] != '/' && !base_dir.empty()) {
      c.train = (std::filesystem::path(base_dir) / c.train).lexically_normal().string();
    }
    const std::string format = s.String("format", "bandit-jsonl");
    if (format != "bandit-jsonl") {
      Fail(ErrorCode::kInvalidArgument,
           "[data] format for a bandit policy must be \"bandit-jsonl\" (or import the log with "
           "marquee dataset import --format obd|bandit-jsonl)");
    }
    s.Finish();
    if (c.dataset.empty() == c.train.empty()) {
      Fail(ErrorCode::kInvalidArgument,
           "[data] needs exactly one of dataset = \"NAME\" (an imported bandit log) or train = "
           "\"FILE.jsonl\"");
    }
  }
  {
    ConfigSection s(root, "split", ctx);
    c.protocol = s.String("protocol", "temporal");
    if (c.protocol != "temporal" && c.protocol != "random") {
      Fail(ErrorCode::kInvalidArgument,
           "[split] protocol \"{}\" is not one for bandit logs (known: temporal, random)",
           c.protocol);
    }
    c.test_fraction = s.Number("test_fraction", 0.2);
    if (!(c.test_fraction > 0 && c.test_fraction < 1)) {
      Fail(ErrorCode::kInvalidArgument, "[split] test_fraction must be in (0, 1), got {}",
           c.test_fraction);
    }
    c.split_seed = static_cast<uint64_t>(s.Integer("seed", 98765, 0));
    c.refit = s.Bool("refit", true);
    s.Finish();
  }
  {
    nlohmann::json m = root.value("model", nlohmann::json::object());
    c.policy.family = m.at("family").get<std::string>();
    c.model_name = stem;
    if (m.contains("name")) {
      if (!m["name"].is_string())
        Fail(ErrorCode::kInvalidArgument, "[model] name must be a string");
      c.model_name = m["name"].get<std::string>();
    }
    c.policy.seed = c.split_seed;
    if (m.contains("seed")) {
      if (!m["seed"].is_number_integer() || m["seed"].get<int64_t>() < 0) {
        Fail(ErrorCode::kInvalidArgument, "[model] seed must be a non-negative integer");
      }
      c.policy.seed = m["seed"].get<uint64_t>();
    }
    if (m.contains("passes")) {
      if (!m["passes"].is_number_integer() || m["passes"].get<int64_t>() < 1 ||
          m["passes"].get<int64_t>() > 1000) {
        Fail(ErrorCode::kInvalidArgument, "[model] passes must be an integer in 1..1000");
      }
      c.passes = m["passes"].get<int>();
    }
    if (m.contains("features")) c.policy.features = m["features"];
    for (const char* k : {"family", "name", "seed", "passes", "features", "description"}) {
      m.erase(k);
    }
    c.policy.params = m;
    // Validates the family, its parameters and the features now (names the key on error);
    // keeps the resolved values.
    auto probe = MakePolicy(c.policy);
    c.policy = probe->config();
  }
  {
    ConfigSection s(root, "eval", ctx);
    c.estimators = s.Strings("estimators", c.estimators);
    std::string joined;
    for (const auto& e : c.estimators) joined += e + ",";
    c.estimators = ParseEstimators(joined);
    c.bootstrap = static_cast<int>(s.Integer("bootstrap", 200, 0));
    c.tau = s.Number("tau", 10.0);
    if (!(c.tau > 0)) Fail(ErrorCode::kInvalidArgument, "[eval] tau must be > 0");
    s.Finish();
  }
  {
    ConfigSection s(root, "run", ctx);
    c.threads = static_cast<int>(s.Integer("threads", 0, 0));
    s.Finish();
  }
  return c;
}

std::string SavePolicyArtifact(const Policy& policy, const std::string& home, Env* env,
                               std::string* digest) {
  env = env != nullptr ? env : Env::Default();
  const std::string dir = home + "/artifacts";
  env->CreateDirs(dir);
  std::random_device rd;
  const std::string tmp = fmt::format("{}/incoming-{}-{:08x}.mqm", dir, ::getpid(), rd());
  policy.Save(tmp, env);
  std::string sha;
  {
    auto file = env->MapFile(tmp);
    auto bytes = file->data();
    Sha256 h;
    h.Update(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    sha = h.HexDigest();
  }
  const std::string path = dir + "/" + sha + ".mqm";
  env->RenameFile(tmp, path);
  if (digest != nullptr) *digest = sha;
  return path;
}

nlohmann::json RunBanditTraining(const BanditTrainConfig& c, const std::string& home,
                                 const Context& ctx) {
  Env* env = ctx.env != nullptr ? ctx.env : Env::Default();
  nlohmann::json timings = nlohmann::json::object();
  Stopwatch sw;
  BanditLogEntry entry;
  const BanditLog log = OpenJobLog(c, home, env, &entry);
  nlohmann::json dataset;
  if (!c.dataset.empty()) {
    dataset = {{"name", entry.name}, {"id", entry.id}, {"source", entry.source}};
  } else {
    dataset = {{"name", std::filesystem::path(c.train).stem().string()},
               {"id", ""},
               {"source", log.source}};
  }
  log.Validate();
  const nlohmann::json st = log.Stats();
  dataset["users"] = 0;
  dataset["items"] = st["actions"];
  dataset["interactions"] = log.size();
  dataset["schema"] = {
      {"kind", "bandit-log"}, {"format", log.format}, {"positions", log.has_positions()}};
  dataset["stats"] = st;
  timings["load"] = sw.Seconds();

  // The split as row ranges (temporal: the last n_test rows are held out) or ascending row
  // lists (random), sharing the log's storage.
  const size_t n = log.size();
  const size_t n_test =
      std::max<size_t>(1, static_cast<size_t>(static_cast<double>(n) * c.test_fraction + 0.5));
  if (n_test >= n) {
    Fail(ErrorCode::kInvalidArgument, "the log has {} rows: too few to hold out {} for evaluation",
         n, n_test);
  }
  BanditLog train, test;
  if (c.protocol == "random") {
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), size_t{0});
    std::mt19937_64 rng(c.split_seed);
    for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
    std::vector<size_t> held(order.end() - static_cast<ptrdiff_t>(n_test), order.end());
    order.resize(n - n_test);
    std::sort(order.begin(), order.end());  // learn in log order
    std::sort(held.begin(), held.end());
    train = log.Select(order);
    test = log.Select(held);
  } else {
    train = log.Slice(0, n - n_test);
    test = log.Slice(n - n_test, n);
  }

  sw = Stopwatch();
  std::unique_ptr<Policy> policy = MakePolicy(c.policy);
  const int threads = c.threads > 0 ? c.threads : ctx.threads;
  Learn(*policy, train, c.passes, threads, ctx, "train");
  timings["train"] = sw.Seconds();

  sw = Stopwatch();
  OpeOptions oo;
  oo.estimators = c.estimators;
  oo.bootstrap = c.bootstrap;
  oo.seed = c.split_seed;
  oo.tau = c.tau;
  const OpeResult ope =
      EvaluateOffPolicy(test, PolicyDistributions(*policy, test, c.policy.seed), oo);
  timings["eval"] = sw.Seconds();

  nlohmann::json metrics = nlohmann::json::object();
  nlohmann::json metric_order = nlohmann::json::array();
  for (const auto& e : ope.order) {
    std::string name = "ope_" + e;
    std::replace(name.begin(), name.end(), '-', '_');
    metrics[name] = ope.estimates.at(e).value;
    metric_order.push_back(name);
  }
  metrics["logged_reward"] = ope.logged_reward;
  metric_order.push_back("logged_reward");
  metrics["ess"] = ope.ess;
  metric_order.push_back("ess");

  if (c.refit) {
    sw = Stopwatch();
    policy = MakePolicy(c.policy);
    Learn(*policy, log, c.passes, threads, ctx, "refit");
    timings["refit"] = sw.Seconds();
  }
  sw = Stopwatch();
  std::string digest;
  const std::string artifact = SavePolicyArtifact(*policy, home, env, &digest);
  timings["save"] = sw.Seconds();

  const nlohmann::json params = {{"params", policy->config().params},
                                 {"features", policy->config().features},
                                 {"passes", c.passes}};
  return {{"bandit", true},
          {"family", c.policy.family},
          {"model", c.model_name},
          {"params", params},
          {"metrics", metrics},
          {"metric_order", metric_order},
          {"protocol", "bandit-" + c.protocol},
          {"split",
           {{"test_fraction", c.test_fraction},
            {"seed", c.split_seed},
            {"train_rows", train.size()},
            {"test_rows", test.size()}}},
          {"dataset", dataset},
          {"ope", ope.ToJson()},
          {"seed", c.policy.seed},
          {"refit", c.refit},
          {"trained_on", c.refit ? "all" : "train-split"},
          {"timings", timings},
          {"artifact", artifact},
          {"artifact_sha256", digest}};
}

std::string FormatBanditReport(const nlohmann::json& r) {
  std::string out;
  const auto& d = r["dataset"];
  const auto& sp = r["split"];
  out += fmt::format("Trained {} on bandit log {} ({} decisions, {} actions)\n",
                     r["family"].get<std::string>(), d["name"].get<std::string>(),
                     d["interactions"].get<uint64_t>(), d["items"].get<uint64_t>());
  out +=
      fmt::format("Protocol {}: learned from {} rows, evaluated off-policy on {} held-out rows\n\n",
                  r["protocol"].get<std::string>(), sp["train_rows"].get<uint64_t>(),
                  sp["test_rows"].get<uint64_t>());
  const auto& ope = r["ope"];
  out += fmt::format("  {:<10} {:>12}   {}\n", "estimator", "value", "95% bootstrap CI");
  for (const auto& e : ope["estimator_order"]) {
    const auto& v = ope["estimates"][e.get<std::string>()];
    out +=
        fmt::format("  {:<10} {:>12.6f}   [{:.6f}, {:.6f}]\n", e.get<std::string>(),
                    v["value"].get<double>(), v["ci"][0].get<double>(), v["ci"][1].get<double>());
  }
  out += fmt::format("  logged policy's mean reward on those rows: {:.6f}; ESS {:.1f}\n",
                     ope["logged_reward"].get<double>(), ope["ess"].get<double>());
  for (const auto& w : ope["warnings"]) out += "warning: " + w.get<std::string>() + "\n";
  out += "\nTimings:";
  for (const auto& [k, v] : r["timings"].items()) {
    out += fmt::format("  {} {:.2f}s", k, v.get<double>());
  }
  out += "\n";
  out += fmt::format("Saved policy ({}): {}\n",
                     r["refit"].get<bool>() ? "refit on every row" : "trained on the split",
                     r["artifact"].get<std::string>());
  return out;
}

PolicyOnLog TrainPolicyOnWholeLog(const BanditTrainConfig& c, const std::string& home, Env* env) {
  PolicyOnLog out;
  BanditLogEntry entry;
  const BanditLog log = OpenJobLog(c, home, env, &entry);
  out.log_id = entry.id;
  out.policy = MakePolicy(c.policy);
  Learn(*out.policy, log, c.passes, std::max(1, c.threads), Context{}, "train");
  out.rows = log.size();
  return out;
}

}  // namespace marquee

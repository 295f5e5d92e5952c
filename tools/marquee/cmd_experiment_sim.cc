// `marquee simulate experiment` (the replay simulator, src/experiments/replay.h) and
// `marquee experiments stats welch|chisq|binom|cuped` (the statistics of src/experiments/stats.h
// on numbers given as JSON; used by tests/python/test_experiment_stats.py for scipy parity).
#include <cmath>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>

#include "commands.h"
#include "common/log.h"
#include "common/progress.h"
#include "data/catalog.h"
#include "experiments/replay.h"
#include "experiments/stats.h"
#include "kinds/builtin.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "registry/registry.h"

namespace marquee::cli {
namespace {

using nlohmann::json;

struct SimFlags {
  std::string dataset, data, a, b;
  std::optional<double> threshold;
  uint32_t test_users = 0;
  double fold_in = 0.8;
  uint64_t split_seed = 98765;
  ReplayConfig config;
  bool json = false;
};

void AddSimulateExperiment(CLI::App& app, GlobalOptions& g) {
  CLI::App& simulate = SharedSubcommand(app, "simulate", "Offline simulations of online tests");
  auto f = std::make_shared<SimFlags>();
  CLI::App* cmd = simulate.add_subcommand(
      "experiment",
      "Replay a dataset's held-out members as traffic and compare two rankers as an A/B test and "
      "as a team-draft interleaving test: members needed to reach significance by each.\n"
      "Example:\n"
      "  marquee simulate experiment --data ../shared/data/movielens-100k/u.data "
      "--positive-threshold 3.5 --a popularity --b ease:lambda=500.0 --seeds 5");
  auto* src = cmd->add_option_group("data", "where the traffic comes from");
  src->add_option("--dataset", f->dataset, "Dataset name or id in the catalog");
  src->add_option("--data", f->data, "Interactions file (any format `dataset import` reads)");
  src->require_option(1);
  cmd->add_option("--a", f->a, "Ranker A (control): a train config file, or FAMILY[:key=value,..]")
      ->required();
  cmd->add_option("--b", f->b, "Ranker B (treatment): same forms as --a")->required();
  cmd->add_option("--positive-threshold", f->threshold,
                  "Values above this are positives (default: every row)");
  cmd->add_option("--k", f->config.k, "Length of the shown list")->check(CLI::Range(1, 1000));
  cmd->add_option("--seeds", f->config.seeds, "Traffic seeds (repeated simulations)")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--seed", f->config.seed, "First traffic seed");
  cmd->add_option("--test-users", f->test_users, "Held-out members (default: half the users)");
  cmd->add_option("--fold-in", f->fold_in, "Share of a held-out member's items used as history")
      ->check(CLI::Range(0.05, 0.95));
  cmd->add_option("--split-seed", f->split_seed, "Seed of the member split");
  cmd->add_option("--alpha", f->config.alpha, "Significance level")->check(CLI::Range(1e-6, 0.5));
  cmd->add_option("--max-members", f->config.max_members,
                  "Arrivals per seed before a method is reported as not reaching significance")
      ->check(CLI::Range(20, 100000000));
  cmd->add_option("--tau-sd", f->config.tau_sd,
                  "mSPRT mixture sd, in per-member standard deviations of the metric")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--power-reps", f->config.power_reps,
                  "Replays per horizon for the fixed-horizon power table (0: skip it)");
  cmd->add_flag("--json", f->json, "Print exactly one JSON object on stdout (progress on stderr)");
  cmd->callback([f, &g] {
    ReplayConfig c = f->config;
    c.home = ResolveHome(g.home);
    c.dataset = f->dataset;
    c.data_file = f->data;
    c.positive_threshold = f->threshold;
    c.split.test_users = f->test_users;
    c.split.fold_in = f->fold_in;
    c.split.seed = f->split_seed;
    // Model references: the version's family and params from the registry (retrained on the
    // simulator's training members; see ParseRankerSpec).
    auto resolver = [&c](const std::string& ref) -> std::optional<RankerSpec> {
      if (!Env::Default()->FileExists(c.home + "/registry.db")) return std::nullopt;
      Registry registry = OpenRegistry(c.home);
      VersionRecord v;
      try {
        v = registry.Resolve(ref);
      } catch (const Error& e) {
        if (e.code() == ErrorCode::kNotFound) return std::nullopt;
        throw;
      }
      if (!BuiltinKinds().IsKind(v.family, "recommender")) {
        Fail(ErrorCode::kInvalidArgument, "{} is a {} model, not a ranker", ref, v.family);
      }
      RankerSpec spec;
      spec.label = ref;
      spec.family = v.family;
      spec.params = v.params;
      return spec;
    };
    const RankerSpec a = ParseRankerSpec(f->a, resolver);
    const RankerSpec b = ParseRankerSpec(f->b, resolver);
    Context ctx;
    ctx.threads = g.threads > 0 ? g.threads : Context::DefaultThreads();
    ctx.progress = StageProgressCallback(ProgressOptions(g));
    const json result = RunReplaySimulation(c, a, b, ctx);
    if (f->json) {
      PrintJson(result.dump());
    } else {
      std::fputs(FormatReplayReport(result).c_str(), stdout);
    }
  });
}

// Reads the JSON input of `experiments stats` from FILE or stdin ("-").
json ReadJsonInput(const std::string& path) {
  std::string text;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    text = Env::Default()->ReadFile(path);
  }
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    Fail(ErrorCode::kInvalidArgument, "{}: input is not a JSON object",
         path == "-" ? "stdin" : path);
  }
  return j;
}

template <typename T>
std::vector<T> NumberArray(const json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_array()) {
    Fail(ErrorCode::kInvalidArgument, "input needs \"{}\": an array of numbers", key);
  }
  std::vector<T> out;
  for (const auto& v : j[key]) {
    if (!v.is_number()) Fail(ErrorCode::kInvalidArgument, "\"{}\" holds a non-number", key);
    if constexpr (std::is_same_v<T, uint64_t>) {
      if (!v.is_number_unsigned()) {
        Fail(ErrorCode::kInvalidArgument, "\"{}\" must hold non-negative integers", key);
      }
    }
    out.push_back(v.get<T>());
  }
  return out;
}

json WelchJson(const WelchResult& r) {
  auto num = [](double x) { return std::isnan(x) ? json(nullptr) : json(x); };
  return {{"mean_a", r.mean_a},
          {"mean_b", r.mean_b},
          {"var_a", r.var_a},
          {"var_b", r.var_b},
          {"n_a", r.n_a},
          {"n_b", r.n_b},
          {"diff", r.diff},
          {"diff_ci_lo", r.diff_ci_lo},
          {"diff_ci_hi", r.diff_ci_hi},
          {"rel_lift", num(r.rel_lift)},
          {"rel_ci_lo", num(r.rel_ci_lo)},
          {"rel_ci_hi", num(r.rel_ci_hi)},
          {"t", r.t},
          {"df", r.df},
          {"p_value", r.p_value}};
}

void AddStatsCommands(CLI::App& app) {
  CLI::App& exps = SharedSubcommand(app, "experiments", "Online experiments (A/B, interleaving)");
  CLI::App* stats = exps.add_subcommand(
      "stats",
      "Experiment statistics on numbers given as JSON (stdin or --input FILE); prints JSON.\n"
      "  welch  {\"a\": [..], \"b\": [..], \"alpha\": 0.05}   (B minus A)\n"
      "  chisq  {\"observed\": [..], \"weights\": [..]}       (sample-ratio mismatch)\n"
      "  binom  {\"successes\": K, \"n\": N, \"p\": 0.5}        (exact two-sided)\n"
      "  cuped  {\"y_a\": [..], \"x_a\": [..], \"y_b\": [..], \"x_b\": [..]}");
  stats->require_subcommand(1);
  auto input = std::make_shared<std::string>("-");
  for (const char* name : {"welch", "chisq", "binom", "cuped"}) {
    CLI::App* sub = stats->add_subcommand(name, std::string("The ") + name + " test");
    sub->add_option("--input", *input, "JSON input file (default: stdin)");
    sub->add_flag("--json")->description("Accepted for symmetry: the output is always JSON");
    const std::string which = name;
    sub->callback([input, which] {
      const json in = ReadJsonInput(*input);
      const double alpha = in.value("alpha", 0.05);
      json out;
      if (which == "welch") {
        out = WelchJson(Welch(NumberArray<double>(in, "a"), NumberArray<double>(in, "b"), alpha));
      } else if (which == "chisq") {
        const auto r = SampleRatioMismatch(NumberArray<uint64_t>(in, "observed"),
                                           NumberArray<double>(in, "weights"));
        out = {{"statistic", r.statistic}, {"df", r.df}, {"p_value", r.p_value}};
      } else if (which == "binom") {
        if (!in.contains("successes") || !in["successes"].is_number_unsigned() ||
            !in.contains("n") || !in["n"].is_number_unsigned()) {
          Fail(ErrorCode::kInvalidArgument,
               "input needs \"successes\" and \"n\" as non-negative integers");
        }
        const auto r = BinomialTest(in["successes"].get<uint64_t>(), in["n"].get<uint64_t>(),
                                    in.value("p", 0.5));
        out = {{"successes", r.successes}, {"n", r.n},         {"share", r.share},
               {"p_value", r.p_value},     {"ci_lo", r.ci_lo}, {"ci_hi", r.ci_hi}};
      } else {
        const auto r = Cuped(NumberArray<double>(in, "y_a"), NumberArray<double>(in, "x_a"),
                             NumberArray<double>(in, "y_b"), NumberArray<double>(in, "x_b"), alpha);
        out = {{"theta", r.theta},
               {"variance_reduction", r.variance_reduction},
               {"adjusted", WelchJson(r.adjusted)}};
      }
      PrintJson(out.dump());
    });
  }
}

}  // namespace

void AddExperimentSimCommands(CLI::App& app, GlobalOptions& g) {
  AddSimulateExperiment(app, g);
  AddStatsCommands(app);
}

}  // namespace marquee::cli

// Contextual bandits: `marquee dataset import --format obd|bandit-jsonl`, bandit logs in
// `dataset show|list`, `marquee ope`, and `marquee simulate bandit`.
#include <cstdio>
#include <filesystem>
#include <optional>

#include <fmt/ranges.h>

#include "bandits/log.h"
#include "bandits/ope.h"
#include "bandits/ope_record.h"
#include "bandits/simulator.h"
#include "bandits/train.h"
#include "commands.h"
#include "common/log.h"
#include "data/catalog.h"
#include "kinds/bandit/bandit_kind.h"
#include "kinds/builtin.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "pipeline/config.h"
#include "registry/registry.h"

namespace marquee::cli {
namespace {

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t c = s.find(',', start);
    if (c == std::string::npos) c = s.size();
    std::string part = s.substr(start, c - start);
    part.erase(0, part.find_first_not_of(' '));
    part.erase(part.find_last_not_of(' ') + 1);
    if (!part.empty()) out.push_back(part);
    start = c + 1;
  }
  return out;
}

// The candidate policy of `marquee ope --policy X`: a policy artifact file (.mqm), a train
// config (.toml: the policy is trained on its [data] log, every row), or a registry reference.
// `*trained_on` receives the snapshot id of the log the policy learned from, when known;
// `*version` the registry version when `ref` is a registry reference.
std::unique_ptr<Policy> ResolvePolicy(const std::string& ref, const std::string& home,
                                      std::string* described, std::string* trained_on,
                                      std::optional<VersionRecord>* version) {
  Env* env = Env::Default();
  const std::string ext = std::filesystem::path(ref).extension().string();
  if (env->FileExists(ref) && ext == ".toml") {
    TrainConfig tc = LoadTrainConfig(ref, {});
    const auto* bc = dynamic_cast<const BanditKindConfig*>(tc.settings.get());
    if (bc == nullptr) {
      Fail(ErrorCode::kInvalidArgument, "--policy {}: [model] family '{}' is not a bandit policy",
           ref, tc.family);
    }
    PolicyOnLog trained = TrainPolicyOnWholeLog(bc->job, home, env);
    *trained_on = trained.log_id;
    *described =
        fmt::format("{} trained from {} on {} rows of {}", bc->job.policy.family, ref, trained.rows,
                    bc->job.dataset.empty() ? bc->job.train : bc->job.dataset);
    return std::move(trained.policy);
  }
  if (env->FileExists(ref)) {
    *described = fmt::format("policy artifact {}", ref);
    return LoadPolicy(ref, env);
  }
  Registry registry = OpenRegistry(home);
  VersionRecord v = registry.Resolve(ref);
  if (!BuiltinKinds().IsKind(v.family, "bandit")) {
    Fail(ErrorCode::kInvalidArgument,
         "--policy {}: {} version {} is a {} model, not a bandit policy", ref, v.model_name,
         v.version, v.family);
  }
  *described = fmt::format("{} version {} ({})", v.model_name, v.version, v.family);
  if (trained_on != nullptr) *trained_on = v.dataset_id;
  *version = v;
  return LoadPolicy(registry.artifacts().PathFor(v.artifact), env);
}

void RunOpe(const std::string& log_name, const std::string& policy_ref, const std::string& from_log,
            const std::string& estimators, int bootstrap, uint64_t seed, double tau, int folds,
            const std::string& reward_model, double reward_l2, uint32_t reward_dim, bool json,
            const GlobalOptions& g) {
  if (policy_ref.empty() == from_log.empty()) {
    Fail(ErrorCode::kInvalidArgument,
         "give exactly one of --policy REF|CONFIG or --policy-from-log DATASET");
  }
  CheckRewardModel(reward_model);
  const std::string home = ResolveHome(g.home);
  BanditLogCatalog catalog(home, Env::Default());
  Stopwatch sw;
  BanditLog log = catalog.Open(log_name);
  OpeOptions o;
  o.estimators = ParseEstimators(estimators);
  o.bootstrap = bootstrap;
  o.seed = seed;
  o.tau = tau;
  o.folds = folds;
  o.reward_model = reward_model;
  o.reward_l2 = reward_l2;
  o.reward_dim = reward_dim;
  std::vector<std::string> warnings;
  CandidateDistributions pi;
  std::string candidate;
  std::optional<VersionRecord> version;  // a registry policy: its result is recorded
  if (!from_log.empty()) {
    BanditLog cand = catalog.Open(from_log);
    pi = EmpiricalDistributions(cand, log, &warnings);
    const bool per_pos = cand.has_positions() && log.has_positions();
    candidate = fmt::format(
        "empirical action distribution of '{}'{} ({} rows; on-policy mean "
        "reward {:.6f})",
        from_log, per_pos ? " per position" : "", cand.rows.size(),
        cand.Stats()["mean_reward"].get<double>());
  } else {
    std::string trained_on;
    auto policy = ResolvePolicy(policy_ref, home, &candidate, &trained_on, &version);
    pi = PolicyDistributions(*policy, log, seed);
    if (!trained_on.empty() && trained_on == catalog.Get(log_name).id) {
      warnings.push_back(
          "the candidate learned from this very log: the estimates are in-sample (optimistic); "
          "evaluate on a held-out log, or see the held-out metrics of `marquee train`");
    }
  }
  OpeResult r = EvaluateOffPolicy(log, pi, o);
  r.warnings.insert(r.warnings.begin(), warnings.begin(), warnings.end());
  // The latest evaluation of a registry policy is kept for the dashboard (bandits/ope_record.h).
  std::string recorded;
  if (version) {
    const OpeRecordSource src{version->model_name,
                              version->version,
                              candidate,
                              log_name,
                              catalog.Get(log_name).id,
                              Env::Default()->NowSeconds()};
    recorded = SaveOpeRecord(Env::Default(), home, OpeRecordJson(src, r));
  }
  if (json) {
    nlohmann::json j = r.ToJson();
    j["log"] = log_name;
    j["candidate"] = candidate;
    j["seconds"] = sw.Seconds();
    if (!recorded.empty()) j["recorded"] = recorded;
    PrintJson(j.dump());
    return;
  }
  std::printf("Off-policy evaluation on '%s'\ncandidate: %s\n%s", log_name.c_str(),
              candidate.c_str(), r.Format().c_str());
  if (!recorded.empty())
    std::printf("Recorded as the latest evaluation of '%s' (%s)\n", version->model_name.c_str(),
                recorded.c_str());
}

}  // namespace

void PrintBanditImport(const std::string& file, const nlohmann::json& j) {
  const std::string name = j["name"].get<std::string>();
  std::printf("Imported %s as bandit log '%s' (format %s)\n", file.c_str(), name.c_str(),
              j["format"].get<std::string>().c_str());
  std::printf("  snapshot     %s\n  decisions    %llu\n  actions      %u\n  mean reward  %.6f\n",
              j["id"].get<std::string>().c_str(),
              static_cast<unsigned long long>(j["rows"].get<uint64_t>()),
              j["actions"].get<unsigned>(), j["stats"]["mean_reward"].get<double>());
  std::printf(
      "Next: marquee ope --log %s --policy-from-log OTHER, or train on it with [data] "
      "dataset = \"%s\" and [model] family = \"linucb\"\n",
      name.c_str(), name.c_str());
}

void PrintBanditDataset(const nlohmann::json& j) {
  const auto& st = j["stats"];
  std::printf(
      "Bandit log '%s'  snapshot %s\n  source        %s\n  format        %s\n"
      "  created       %s\n",
      j["name"].get<std::string>().c_str(), j["id"].get<std::string>().c_str(),
      j["source"].get<std::string>().c_str(), j["format"].get<std::string>().c_str(),
      j["created_at"].get<std::string>().c_str());
  std::printf(
      "  decisions     %llu\n  actions       %u (at most %llu offered per decision)\n"
      "  mean reward   %.6f\n  propensity    %.6g .. %.6g\n",
      static_cast<unsigned long long>(j["rows"].get<uint64_t>()), j["actions"].get<unsigned>(),
      st["max_actions_per_decision"].get<unsigned long long>(), st["mean_reward"].get<double>(),
      st["propensity_min"].get<double>(), st["propensity_max"].get<double>());
  if (!st["positions"].empty()) {
    std::printf("  positions    ");
    for (const auto& [p, c] : st["positions"].items()) {
      std::printf(" %s: %llu", p.c_str(), c.get<unsigned long long>());
    }
    std::printf("\n");
  }
  if (st.contains("time_min")) {
    std::printf("  time range    %s .. %s\n", st["time_min"].get<std::string>().c_str(),
                st["time_max"].get<std::string>().c_str());
  }
}

void AddBanditCommands(CLI::App& app, GlobalOptions& g) {
  struct OpeFlags {
    std::string log, policy, from_log, estimators = "ips,snips,dm,dr,sndr,switch-dr";
    std::string reward_model = "auto";
    int bootstrap = 200, folds = 2;
    uint64_t seed = 42;
    double tau = 10.0, reward_l2 = 1.0;
    uint32_t reward_dim = 256;
    bool json = false;
  };
  auto f = std::make_shared<OpeFlags>();
  auto* ope = app.add_subcommand(
      "ope",
      "Off-policy evaluation: estimate a candidate policy's mean reward from a logged bandit\n"
      "dataset (its logging propensities), with bootstrap 95% intervals.\n"
      "DM, DR, SNDR and switch-DR use a reward model q(x, a), cross-fitted over --folds:\n"
      "  mean   smoothed mean reward per (action, position); ignores the context\n"
      "  ridge  linear ridge regression over the hashed context, action and context x action\n"
      "         features (dimension --reward-dim, penalty --reward-l2)\n"
      "  auto   (default) ridge when the log has context or action features, else mean\n"
      "Examples:\n"
      "  marquee ope --log obd-men-random --policy-from-log obd-men-bts\n"
      "  marquee ope --log obd-men-random --policy artwork@production --json");
  ope->add_option("--log", f->log, "The bandit log to evaluate on (dataset name)")->required();
  ope->add_option("--policy", f->policy,
                  "Candidate: a registry reference (model@alias, model/N), a policy artifact "
                  "file, or a train config .toml (trained on its [data] log)");
  ope->add_option("--policy-from-log", f->from_log,
                  "Candidate: the empirical action distribution of another bandit log (per "
                  "position when both logs have positions)");
  ope->add_option("--estimators", f->estimators,
                  "Comma-separated: ips, snips, dm, dr, sndr, switch-dr, replay")
      ->capture_default_str();
  ope->add_option("--bootstrap", f->bootstrap, "Bootstrap resamples (0: none)")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  ope->add_option("--seed", f->seed, "Seed of the bootstrap and the reward-model folds")
      ->capture_default_str();
  ope->add_option("--tau", f->tau, "switch-dr: importance weights above tau use the DM term")
      ->capture_default_str();
  ope->add_option("--folds", f->folds, "Cross-fitting folds of the DM reward model (1: none)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  ope->add_option("--reward-model", f->reward_model,
                  "DM reward model: auto (ridge with features, else mean), mean, ridge")
      ->capture_default_str();
  ope->add_option("--reward-l2", f->reward_l2,
                  "ridge: l2 penalty on the coefficients (> 0, in units of squared feature values)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  ope->add_option("--reward-dim", f->reward_dim, "ridge: hashed feature dimension")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  ope->add_flag("--json", f->json, "Print one JSON object");
  ope->callback([f, &g] {
    RunOpe(f->log, f->policy, f->from_log, f->estimators, f->bootstrap, f->seed, f->tau, f->folds,
           f->reward_model, f->reward_l2, f->reward_dim, f->json, g);
  });

  struct SimFlags {
    std::string policies = "uniform,epsilon-greedy,linucb,lints";
    std::string svg, ope_sizes = "1000,10000,100000";
    SimOptions o;
    int repeats = 5, bootstrap = 100;
    bool json = false, no_ope = false;
  };
  auto s = std::make_shared<SimFlags>();
  CLI::App& simulate = SharedSubcommand(app, "simulate", "Simulators with a known ground truth");
  auto* sim = simulate.add_subcommand(
      "bandit",
      "Synthetic members with a known click probability per artwork (logistic in context x\n"
      "artwork features): runs each policy through the library, reports cumulative reward and\n"
      "regret, and checks off-policy estimates against the true value as the log grows.\n"
      "Example: marquee simulate bandit --decisions 20000 --svg regret.svg");
  sim->add_option("--policies", s->policies,
                  "Comma-separated policy families (epsilon-greedy:online, softmax:online: with "
                  "their default online learner)")
      ->capture_default_str();
  sim->add_option("--decisions", s->o.decisions, "Decisions per policy")
      ->check(CLI::Range(1, 100000000))
      ->capture_default_str();
  sim->add_option("--actions", s->o.actions, "Artworks per decision")->capture_default_str();
  sim->add_option("--features", s->o.features, "Context features")->capture_default_str();
  sim->add_option("--action-features", s->o.action_features, "Features per artwork")
      ->capture_default_str();
  sim->add_option("--dim", s->o.dim, "Hashed feature dimension of the policies")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  sim->add_option("--seed", s->o.seed, "Seed")->capture_default_str();
  sim->add_option("--svg", s->svg, "Write a plot of cumulative regret to this SVG file");
  sim->add_option("--ope-sizes", s->ope_sizes, "Log sizes for the OPE convergence check")
      ->capture_default_str();
  sim->add_option("--ope-repeats", s->repeats, "Independent logs per size")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  sim->add_option("--bootstrap", s->bootstrap, "Bootstrap resamples for the first log")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  sim->add_option("--reward-l2", s->o.reward_l2, "OPE check: l2 penalty of the ridge reward model")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sim->add_option("--reward-dim", s->o.reward_dim,
                  "OPE check: hashed feature dimension of the ridge reward model")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  sim->add_flag("--no-ope", s->no_ope, "Skip the OPE convergence check");
  sim->add_flag("--json", s->json, "Print one JSON object");
  sim->callback([s, &g] {
    SimOptions o = s->o;
    o.policies = SplitList(s->policies);
    for (const auto& p : o.policies) {
      if (!BuiltinKinds().IsKind(p.substr(0, p.find(':')), "bandit")) {
        Fail(ErrorCode::kInvalidArgument, "--policies: unknown policy '{}' (known: {})", p,
             fmt::format("{}", fmt::join(PolicyFamilies(), ", ")));
      }
    }
    if (!g.quiet) std::fprintf(stderr, "Simulating %d decisions per policy...\n", o.decisions);
    SimResult r = RunSimulation(o);
    if (!s->svg.empty()) Env::Default()->WriteFileAtomic(s->svg, r.Svg());
    nlohmann::json j = r.ToJson();
    std::string conv_text;
    if (!s->no_ope) {
      std::vector<size_t> sizes;
      for (const auto& t : SplitList(s->ope_sizes)) {
        size_t n = 0;
        try {
          n = std::stoull(t);
        } catch (const std::exception&) {
          Fail(ErrorCode::kInvalidArgument, "--ope-sizes: '{}' is not a number", t);
        }
        if (n < 10 || n > 10000000) {
          Fail(ErrorCode::kInvalidArgument, "--ope-sizes: {} must be in 10..10000000", n);
        }
        sizes.push_back(n);
      }
      if (!g.quiet)
        std::fprintf(stderr, "OPE convergence on logs of %s decisions...\n", s->ope_sizes.c_str());
      OpeConvergence c = RunOpeConvergence(o, sizes, s->repeats, s->bootstrap, 500000);
      j["ope_convergence"] = c.ToJson();
      conv_text = c.Format();
    }
    if (s->json) {
      PrintJson(j.dump());
      return;
    }
    std::printf("%s", r.Format().c_str());
    if (!s->svg.empty()) std::printf("Wrote the regret plot to %s\n", s->svg.c_str());
    if (!conv_text.empty()) std::printf("\n%s", conv_text.c_str());
  });
}

}  // namespace marquee::cli

// Offline training of a bandit policy from a logged bandit dataset, behind `marquee train` for
// [model] family = "uniform" | "epsilon-greedy" | "softmax" | "linucb" | "lints" (docs/config.md,
// docs/formats/bandit.md):
//   [data]  dataset = "<bandit log name>" (or train = "decisions.jsonl", the JSONL log format)
//   [split] protocol = "temporal" (default: the last test_fraction of the rows, in log order)
//           | "random" (seeded); test_fraction (0.2); seed; refit (true)
//   [model] family, name, seed, passes (1), features = {dim, interactions, ...}, and the
//           family's parameters (alpha, epsilon, lambda, weighting = "inverse-propensity", ...)
//   [eval]  estimators (["ips", "snips", "dm", "dr", "sndr", "switch-dr"]), bootstrap (200),
//           tau (10)
// The policy learns by replaying the training rows through Policy::Update with their logged
// propensities (importance-weighted when weighting = "inverse-propensity"); it is evaluated by
// off-policy estimates on the held-out rows (metrics "ope_<estimator>" and "logged_reward");
// with refit a fresh policy then learns from every row and is saved as the artifact.
// Errors: kInvalidArgument naming the key for bad settings; kNotFound for a missing log.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "bandits/policy.h"
#include "marquee/context.h"

namespace marquee {

struct BanditTrainConfig {
  std::string dataset;  // a bandit log name, or
  std::string train;    // a JSONL decision log file (resolved against the config's folder)
  std::string protocol = "temporal";  // | "random"
  double test_fraction = 0.2;
  uint64_t split_seed = 98765;
  bool refit = true;
  std::string model_name;
  PolicyConfig policy;
  int passes = 1;
  std::vector<std::string> estimators = {"ips", "snips", "dm", "dr", "sndr", "switch-dr"};
  int bootstrap = 200;
  double tau = 10.0;
  int threads = 0;
  nlohmann::json ToJson() const;
};

BanditTrainConfig ParseBanditConfig(const nlohmann::json& root, const std::string& base_dir,
                                    const std::string& stem);

// Runs the job; returns the result JSON (what `marquee train --json` prints and the registry
// records): family, model, params, metrics, metric_order, protocol, split, dataset, ope,
// timings, artifact, artifact_sha256, "bandit": true.
nlohmann::json RunBanditTraining(const BanditTrainConfig& config, const std::string& home,
                                 const Context& ctx);

std::string FormatBanditReport(const nlohmann::json& result);

// Saves `policy` into $home/artifacts/<sha256>.mqm; returns the path and sets *digest.
// A policy trained on every row of its config's log ([data] dataset or train), `passes` times
// in log order: the candidate `marquee ope --policy CONFIG.toml` evaluates.
struct PolicyOnLog {
  std::unique_ptr<Policy> policy;
  size_t rows = 0;
  std::string log_id;  // the catalog snapshot's id ("" for a file)
};
PolicyOnLog TrainPolicyOnWholeLog(const BanditTrainConfig& config, const std::string& home,
                                  Env* env);

std::string SavePolicyArtifact(const Policy& policy, const std::string& home, Env* env,
                               std::string* digest);

}  // namespace marquee

// ModelKind: the one face of every kind of model Marquee trains, registers and serves
// (recommenders, contextual-bandit policies, tabular XGBoost models, and whatever comes next).
//
// A kind is one folder under src/kinds/ implementing this interface plus one line in
// src/kinds/builtin.cc. The pipeline (parse a config, train), the registry (the publish smoke
// test), serving (Load a servable for the model manager, route requests) and the CLI look a
// kind up by family name in a KindRegistry; nothing outside a kind's folder compares family
// strings. Families inside a kind keep their own registry (recommenders: CreateRecommender in
// models/factory.h).
//
// This header sits in layer 1 (docs/ARCHITECTURE.md, "Layers"): it depends on common only, so
// the registry can run a kind's smoke test without linking any kind.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/servable.h"
#include "marquee/context.h"

namespace marquee {

class Env;

// Where a config came from: relative paths resolve against `base_dir`; the model is named
// `stem` (the config file's stem) unless [model] name says otherwise.
struct ConfigOrigin {
  std::string base_dir;  // "" for a config given as a string
  std::string stem = "model";
};

// A kind's parsed settings: everything its Train needs. Immutable once parsed.
class KindConfig {
 public:
  virtual ~KindConfig() = default;
  // The config with every default filled in, as the registry records it ("config_resolved").
  virtual nlohmann::json Resolved() const = 0;
};

// The dataset a run trained on, as the registry records it.
struct TrainedDataset {
  std::string id;         // a catalog snapshot's id; "" for a file (then `file` is set)
  std::string name;       // catalog name, or the file's stem
  std::string source;     // where the data came from (a path, a catalog source)
  std::string file;       // the file trained on, when `id` is empty (the registry hashes it)
  nlohmann::json schema;  // null: not described here (see `describe`)
  nlohmann::json stats;   // users, items, interactions, ...
  // For a snapshot the registry has not seen: describes it fully (schema, stats). May be empty.
  std::function<std::pair<nlohmann::json, nlohmann::json>()> describe;
};

// What a training job produced. The registry records it as a completed run and registers
// `artifact_sha256` as the next version of `model_name`.
struct TrainResult {
  std::string family;
  std::string model_name;
  nlohmann::json params;                                // resolved hyperparameters
  std::vector<std::pair<std::string, double>> metrics;  // in report order
  nlohmann::json timings;                               // stage -> seconds
  std::string protocol;  // e.g. "strong-generalization", "bandit-temporal", "tabular-random"
  nlohmann::json split;  // the split's details (sizes, seed, ...)
  // What makes two runs' held-out data the same (protocol, split, digests of given eval files);
  // the registry stores its hash as the protocol key that metric gates compare on.
  nlohmann::json protocol_identity;
  TrainedDataset dataset;
  std::string artifact;         // path of the saved artifact
  std::string artifact_sha256;  // its digest (the artifact store's name for it)
  // The kind's whole result, as `marquee train --json` prints it and FormatReport reads it.
  nlohmann::json details;
};

// Fills a TrainResult for `family` and `model_name` from a job's result JSON (the shape
// `marquee train --json` prints: params, metrics + metric_order, timings, protocol, split, dataset
// {id, name, source, users, items, interactions, schema?, stats?}, artifact, artifact_sha256).
// `train_file` is the file trained on when the dataset has no catalog id. The protocol identity is
// {protocol, split}. kInternal when a key is missing (a kind's bug, not the user's).
TrainResult TrainResultFromDetails(nlohmann::json details, std::string family,
                                   std::string model_name, const std::string& train_file);

// A model file trained elsewhere, stored by ModelKind::Import as an artifact of its kind.
struct ImportedModel {
  std::string artifact_sha256;  // the artifact's digest (under home/artifacts)
  nlohmann::json params;        // what the registered version records as its params
  nlohmann::json details;       // what the kind read from the file (format, features, ...)
};

// What a training job runs with.
struct TrainJob {
  std::string home;  // resolved home directory (catalogs, artifacts)
  Context ctx;       // threads, env, progress
};

// One kind of model. Implementations are stateless and thread-safe (every method const).
class ModelKind {
 public:
  virtual ~ModelKind() = default;

  // "recommender", "bandit", "tabular".
  virtual std::string_view name() const = 0;
  // What one model of this kind is called in messages ("recommender", "bandit policy",
  // "tabular model").
  virtual std::string_view noun() const = 0;
  // The families this kind trains and serves ("ease", "linucb", "xgboost", ...).
  virtual std::vector<std::string> families() const = 0;
  // The request routes its servables answer, by name ("recommend", "similar-items", "decide",
  // "reward", "predict"); serving's route table maps each name to its handler.
  virtual std::vector<std::string> routes() const = 0;

  // Parses the config's sections ([data], [split], [model], [eval], [run]) for one of its
  // families. `root` is the whole config as JSON (after --set overrides); `overrides` are those
  // overrides as given (a kind may treat keys set by flag differently). Throws kInvalidArgument
  // naming the key for unknown sections or keys, wrong types and bad values.
  virtual std::shared_ptr<const KindConfig> ParseConfig(
      const nlohmann::json& root, const ConfigOrigin& origin,
      const std::vector<std::string>& overrides) const = 0;
  // The registry's view of a parsed config: [model] name, family, params, description.
  struct Identity {
    std::string family;
    std::string model_name;
    nlohmann::json params;
    int threads = 0;  // [run] threads; 0: the job's default
  };
  virtual Identity Identify(const KindConfig& config) const = 0;

  // Loads the data, splits, fits, evaluates, (re)fits and saves the artifact under
  // job.home/artifacts. Throws marquee::Error; nothing is saved in that case.
  virtual TrainResult Train(const KindConfig& config, const TrainJob& job) const = 0;
  // The human-readable report of a TrainResult (its `details`).
  virtual std::string FormatReport(const nlohmann::json& details) const = 0;

  // The publish check: loads the artifact at `artifact_path` (whose digest the registry has
  // verified), checks it holds `family`, and scores a smoke request. Returns what was checked,
  // in order; throws kFailedPrecondition or kCorruption with the reason otherwise.
  virtual std::vector<std::string> SmokeTest(const std::string& artifact_path,
                                             const std::string& family, Env* env) const = 0;

  // Whether Train can run across the ranks of job.ctx.comm (mpirun, issue #18): every rank calls
  // Train with the same config; rank 0 evaluates, saves and returns the result, the other ranks
  // only contribute to the fits and return a TrainResult with no artifact. Default: no, and the
  // pipeline refuses such a kind under mpirun with more than one rank.
  virtual bool can_train_distributed() const { return false; }

  // Whether Import takes model files trained elsewhere (default: no).
  virtual bool can_import() const { return false; }
  // Stores the model file at `path` (trained elsewhere, in a format the kind documents, e.g.
  // XGBoost JSON or UBJSON) as an artifact of `family` under home/artifacts, atomically;
  // `source` says where it came from and is recorded in the artifact. Throws kInvalidArgument
  // naming the problem when the file is not such a model (nothing is stored then), and
  // kUnimplemented when the kind cannot import (the default). Thread-safe.
  virtual ImportedModel Import(const std::string& path, const std::string& family,
                               const std::string& source, const std::string& home, Env* env) const;

  // Loads a version for serving: reads the artifact at spec.artifact_path, checks it holds a
  // family of this kind, builds its lookup structures and warms it (the first request must not
  // pay for page faults). Returns the kind's concrete Servable; the caller (the model manager)
  // stamps its identity (name, version, digest, family) and load time. Throws marquee::Error
  // (kCorruption, kFailedPrecondition) with the reason; nothing is kept in that case. Thread-safe;
  // may take seconds.
  virtual std::shared_ptr<Servable> Load(const ServableSpec& spec) const = 0;
};

// The kinds a process knows, looked up by family. Built once at start (src/kinds/builtin.cc),
// then read-only: lookups are thread-safe.
class KindRegistry {
 public:
  // Takes ownership. kInternal if a family is already claimed by another kind.
  void Add(std::unique_ptr<ModelKind> kind);

  // The kind owning `family`, or nullptr.
  const ModelKind* Find(std::string_view family) const;
  // The kind owning `family`; kInvalidArgument "unknown model family 'x' (known: ...)".
  const ModelKind& Get(std::string_view family) const;
  // The kind called `name` ("recommender", ...), or nullptr.
  const ModelKind* ByName(std::string_view name) const;
  // The kind of a registered version of `family` (VersionRecord::family): Find(family), except
  // that versions registered before families were recorded (an empty family) are recommenders.
  const ModelKind* OfVersion(std::string_view family) const {
    return family.empty() ? ByName("recommender") : Find(family);
  }
  // Whether `family` belongs to the kind called `kind` ("recommender", "bandit", "tabular").
  bool IsKind(std::string_view family, std::string_view kind) const {
    const ModelKind* k = Find(family);
    return k != nullptr && k->name() == kind;
  }
  // Every family of every kind, in registration order.
  std::vector<std::string> Families() const;
  const std::vector<std::unique_ptr<ModelKind>>& kinds() const { return kinds_; }

 private:
  std::vector<std::unique_ptr<ModelKind>> kinds_;
  // family -> its kind, filled by Add: lookups (per request in serving) allocate nothing.
  std::map<std::string, const ModelKind*, std::less<>> by_family_;
  std::vector<std::string> families_;  // in registration order
};

}  // namespace marquee

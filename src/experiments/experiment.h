// Online experiments: the definition (TOML, stored in the registry as JSON), deterministic
// assignment of members to cells, and the experiment lifecycle on top of the registry's
// MetadataStore (draft -> running <-> stopped, every change recorded).
//
// Definition (docs/experiments.md has the full reference):
//
//   [experiment]
//   name = "recs-ease-vs-ials"
//   salt = "2026-11"
//   mode = "ab"                  # or "interleave": exactly two cells, the two rankers
//   attribution_window = "24h"   # a play counts within this long after the exposure
//   event_types = ["play"]       # events that count as plays; default: every event, value > 0
//   [[cell]]
//   name = "control"             # the first cell is the control
//   model = "title-recs@production"
//   weight = 0.5                 # relative share; normalised by the sum; default equal shares
//
// Assignment: XXH64(name '\0' salt '\0' user), top 53 bits as u in [0, 1), then the first cell
// whose cumulative normalised weight exceeds u. It depends only on (name, salt, user, weights),
// so it is sticky across requests, processes, restarts and stop/start, and two experiments
// (different names or salts) hash independently.
//
// Errors: kInvalidArgument naming the file, the key and the problem. Everything here is
// thread-safe (pure functions, immutable values).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "registry/metadata_store.h"

namespace marquee {
class Registry;
}

namespace marquee {

enum class Mode { kAB, kInterleave };
std::string_view ModeName(Mode m);

struct Cell {
  std::string name;
  std::string model;    // a registry reference: NAME, NAME@ALIAS or NAME/VERSION
  double weight = 0.0;  // normalised: the weights of an experiment sum to 1
};

struct ExperimentSpec {
  std::string name;
  std::string salt;
  Mode mode = Mode::kAB;
  std::string description;
  std::vector<Cell> cells;               // cells[0] is the control
  int64_t attribution_window = 86400;    // seconds
  std::vector<std::string> event_types;  // empty: every event with value > 0 is a play

  nlohmann::json ToJson() const;
  // Inverse of ToJson (the registry's stored definition); kCorruption when malformed.
  static ExperimentSpec FromJson(const nlohmann::json& j);
  // Whether an event of this type and value counts as a play.
  bool CountsAsPlay(std::string_view type, float value) const;
};

// Parses and validates a definition. `origin` names the file in messages.
ExperimentSpec ParseExperimentToml(std::string_view text, const std::string& origin);
// "86400", "90s", "30m", "24h", "7d" -> seconds (> 0). kInvalidArgument naming `key` otherwise.
int64_t ParseDuration(std::string_view text, std::string_view key);

// The member's point in [0, 1) for this experiment (see the header comment).
double AssignmentPoint(std::string_view name, std::string_view salt, std::string_view user);
// Index of the member's cell.
size_t AssignCell(const ExperimentSpec& spec, std::string_view user);

// --- lifecycle over the registry (each call is one store transaction)

struct Experiment {
  ExperimentRecord record;
  ExperimentSpec spec;
};
// Validates every cell's model reference against the registry (it must resolve) and stores the
// experiment as a draft. kAlreadyExists when the name is taken.
Experiment CreateExperiment(Registry& registry, const ExperimentSpec& spec,
                            const std::string& source, int64_t now);
// kNotFound naming the experiment.
Experiment GetExperiment(MetadataStore& store, const std::string& name);
std::vector<Experiment> ListExperiments(MetadataStore& store);
// draft|stopped -> running. Starting a running experiment is kFailedPrecondition.
Experiment StartExperiment(MetadataStore& store, const std::string& name, int64_t now);
// running -> stopped. Stopping a draft or stopped experiment is kFailedPrecondition.
Experiment StopExperiment(MetadataStore& store, const std::string& name, int64_t now);

// The same over a Registry, for commands, which speak to the registry only through its facade.
Experiment GetExperiment(Registry& registry, const std::string& name);
std::vector<Experiment> ListExperiments(Registry& registry);
Experiment StartExperiment(Registry& registry, const std::string& name, int64_t now);
Experiment StopExperiment(Registry& registry, const std::string& name, int64_t now);
// Every state change of experiment `name`, oldest first (empty for an unknown name).
std::vector<ExperimentStateChange> ExperimentHistory(Registry& registry, const std::string& name);

nlohmann::json ExperimentJson(const Experiment& e);

}  // namespace marquee

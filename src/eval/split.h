// Evaluation protocols. Every split yields a training matrix (users x items, all of the
// dataset's users and items; held-out rows may be empty) and, for each evaluated user, an input
// history (what the model sees) and targets (what it must find). No target is in the input.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "marquee/dataset.h"
#include "marquee/sparse.h"

namespace marquee {

struct SplitConfig {
  // "strong-generalization", "given", "leave-last-out", "temporal", "random-holdout".
  std::string protocol = "strong-generalization";
  uint32_t test_users = 0;     // strong-generalization: held-out users (0: 10% of users)
  double fold_in = 0.8;        // strong-generalization: share of a held-out user's items as input
  double test_fraction = 0.2;  // random-holdout: share of each user's items as targets;
                               // temporal: share of interactions (latest) after the cut
  uint32_t min_items = 2;      // users need at least this many positives to be evaluated
  uint64_t seed = 98765;
};

struct EvalSet {
  CsrMatrix input;              // eval users x items
  CsrMatrix target;             // eval users x items (values 1)
  std::vector<uint32_t> users;  // dataset user index of each row (or UINT32_MAX if unknown)
};

// Distributed training (mpirun, issue #18): keep only rank `rank` of `ranks`'s share of the
// training matrix, cut by `plan` (Recommender::shard_plan).
struct SplitShard {
  int rank = 0;
  int ranks = 1;
  ShardPlan plan;
};

struct Split {
  std::string protocol;
  // Dataset users x items, positives used for fitting. With a SplitShard, only the rows of the
  // rank's users are filled and `shard` holds the rest of its share (Context::shard).
  CsrMatrix train;
  std::shared_ptr<InteractionShard> shard;
  EvalSet eval;
  nlohmann::json details;  // counts and settings, reported in the run output (all of `train`)
};

// Builds a split of the dataset's positives (value > threshold, or every row). Deterministic
// for config.seed. kInvalidArgument for an unknown protocol or impossible settings (e.g. more
// test users than eligible users), naming the setting.
// With `shard`, the training matrix is never held whole: strong-generalization, leave-last-out
// and random-holdout keep the rank's share as they assemble it (temporal cuts it from the
// whole); the eval set and the details are the same on every rank and as without it.
Split MakeSplit(const Dataset& ds, std::optional<double> positive_threshold,
                const SplitConfig& config, const SplitShard* shard = nullptr);

// Replaces s.train, held whole, by the rank's share (s.shard); for the splits that cannot be
// made sharded ("given", CarveValidation's).
void ShardTrain(Split& s, const SplitShard& shard);

// Protocol "given": train on every positive of `ds`; evaluate the users of `target` with their
// rows of `input` as history. Ids are mapped through ds's dictionaries; rows whose item is not
// in the training catalogue are dropped and counted in details. Input and target rows are taken
// as given (the threshold applies to `ds` only). Targets that are also in the user's input are
// dropped (they are masked from the ranking), and users left without targets are dropped; both
// are counted. kInvalidArgument when no user is left to evaluate.
Split MakeGivenSplit(const Dataset& ds, std::optional<double> positive_threshold,
                     const std::vector<RawInteraction>& input,
                     const std::vector<RawInteraction>& target);

// Validation for tuning: carves a `share` (0 < share < 1) of the users that train in `s` (its
// training rows with at least `min_items` positives) as validation users, strong-generalization
// style: their rows leave the training matrix, a `fold_in` share of each one's positives is the
// input and the rest the targets. The held-out users of `s` (its eval set) are dropped, so
// nothing the result evaluates or trains on touches them. Deterministic for `seed`. The
// protocol becomes "<protocol>+validation"; details keep the original split's under "test".
// kInvalidArgument when share is out of range or no training user is eligible; `s` must hold
// its training matrix whole (shard it after: ShardTrain).
Split CarveValidation(const Split& s, double share, double fold_in, uint32_t min_items,
                      uint64_t seed);

}  // namespace marquee

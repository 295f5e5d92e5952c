// Context: the explicit execution settings passed to training, scoring and evaluation
// (no globals). Cheap to copy. Progress callbacks may be invoked from worker threads.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

namespace marquee {

class Env;
class Communicator;       // src/common/communicator.h
struct InteractionShard;  // marquee/sparse.h

struct Context {
  // Worker threads for parallel loops (>= 1). Results are deterministic for a given seed and
  // thread count.
  int threads = 1;
  uint64_t seed = 42;
  Env* env = nullptr;  // not owned; nullptr means Env::Default()
  // The ranks a distributed training runs on (mpirun; src/common/communicator.h). Not owned;
  // nullptr means one process. Families that can train across ranks (iALS, BPR, EASE) split
  // their work by it; results then depend on the rank count too.
  Communicator* comm = nullptr;
  // With several ranks, what this rank holds of the matrix Fit is given (its users' rows; the
  // rest are empty) and of its transpose (marquee/sparse.h). Not owned; nullptr means Fit's
  // matrix is whole (one process, or a caller that gives every rank all of it).
  const InteractionShard* shard = nullptr;
  // Called with a short stage name and a fraction in [0, 1]; may be empty.
  std::function<void(std::string_view stage, double fraction)> progress;

  void Report(std::string_view stage, double fraction) const {
    if (progress) progress(stage, fraction);
  }
  static int DefaultThreads();
};

}  // namespace marquee

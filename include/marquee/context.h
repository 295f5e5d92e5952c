// Context: the explicit execution settings passed to training, scoring and evaluation
// (no globals). Cheap to copy. Progress callbacks may be invoked from worker threads.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

namespace marquee {

class Env;

struct Context {
  // Worker threads for parallel loops (>= 1). Results are deterministic for a given seed and
  // thread count.
  int threads = 1;
  uint64_t seed = 42;
  Env* env = nullptr;  // not owned; nullptr means Env::Default()
  // Called with a short stage name and a fraction in [0, 1]; may be empty.
  std::function<void(std::string_view stage, double fraction)> progress;

  void Report(std::string_view stage, double fraction) const {
    if (progress) progress(stage, fraction);
  }
  static int DefaultThreads();
};

}  // namespace marquee

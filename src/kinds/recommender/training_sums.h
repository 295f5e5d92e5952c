// TrainingSums: the training-row accumulators (models/additive_scores.h) of known members whose
// history grew since training, kept per loaded version so that each of their requests adds only
// the new items' rows to a copy instead of summing their whole history again (issue #18, the
// serving mix: after an event a member leaves the known-user score cache for good).
//
// Bounded: at most `capacity` accumulators (the server gives it what --score-cache-mb leaves
// after the known users' materialised scores); a full stripe forgets one of its members to keep
// a new one, who is then summed again on their next request (slower, never different: the sums
// are exact, so a recomputed accumulator is the same doubles).
//
// Thread-safety: any number of threads at once; 64 stripes by member, each with its own mutex,
// held while an accumulator is copied in or out.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "common/thread_annotations.h"

namespace marquee {

class TrainingSums {
 public:
  // Accumulators of `size` doubles, at most `capacity` of them (0: keeps none).
  TrainingSums(size_t size, size_t capacity);

  // Copies `user`'s accumulator into `acc` (size() doubles) and returns true; false when it is
  // not kept.
  bool CopyTo(uint32_t user, double* acc) const;
  // Keeps `acc` as `user`'s accumulator (a member of the same stripe is forgotten when the
  // stripe is full).
  void Put(uint32_t user, const double* acc);

  size_t accumulator_size() const { return size_; }
  size_t capacity() const { return capacity_; }
  // Accumulators kept now.
  size_t kept() const;

 private:
  static constexpr size_t kStripes = 64;
  struct Stripe {
    mutable Mutex mu;
    std::unordered_map<uint32_t, std::vector<double>> sums GUARDED_BY(mu);
  };
  const size_t size_;
  const size_t capacity_;
  const size_t per_stripe_;
  std::array<Stripe, kStripes> stripes_;
};

}  // namespace marquee

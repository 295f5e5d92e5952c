#include "kinds/recommender/training_sums.h"

#include <algorithm>

namespace marquee {

TrainingSums::TrainingSums(size_t size, size_t capacity)
    : size_(size),
      capacity_(capacity),
      // Rounded down: the stripes together never keep more than `capacity`.
      per_stripe_(capacity / kStripes) {}

bool TrainingSums::CopyTo(uint32_t user, double* acc) const {
  const Stripe& s = stripes_[user % kStripes];
  MutexLock lock(&s.mu);
  auto it = s.sums.find(user);
  if (it == s.sums.end()) return false;
  std::copy(it->second.begin(), it->second.end(), acc);
  return true;
}

void TrainingSums::Put(uint32_t user, const double* acc) {
  if (per_stripe_ == 0) return;
  Stripe& s = stripes_[user % kStripes];
  MutexLock lock(&s.mu);
  auto it = s.sums.find(user);
  if (it == s.sums.end()) {
    if (s.sums.size() >= per_stripe_) s.sums.erase(s.sums.begin());
    it = s.sums.emplace(user, std::vector<double>()).first;
  }
  it->second.assign(acc, acc + size_);
}

size_t TrainingSums::kept() const {
  size_t n = 0;
  for (const Stripe& s : stripes_) {
    MutexLock lock(&s.mu);
    n += s.sums.size();
  }
  return n;
}

}  // namespace marquee

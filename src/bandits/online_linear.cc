#include "bandits/online_linear.h"

#include <algorithm>
#include <cmath>

#include "marquee/error.h"

namespace marquee {
namespace {
constexpr float kXMin = 1.084202e-19f;  // VW's X_MIN
}

OnlineLinear::OnlineLinear(int bits, double learning_rate) : bits_(bits), eta_(learning_rate) {
  if (bits < 1 || bits > kMaxBits) {
    Fail(ErrorCode::kInvalidArgument, "bits must be in 1..{}, got {}", kMaxBits, bits);
  }
  if (!(learning_rate > 0) || !std::isfinite(learning_rate)) {
    Fail(ErrorCode::kInvalidArgument, "learning_rate must be > 0, got {}", learning_rate);
  }
  mask_ = static_cast<uint32_t>((uint64_t{1} << bits) - 1);
}

double OnlineLinear::Predict(std::span<const SparseFeature> x) const {
  double p = 0;
  if (slots_.empty()) {
    // Nothing learned: every weight is 0, and the result is what zero weights give (NaN for
    // an infinite value, which the caller must see as it would with allocated weights).
    for (const SparseFeature& f : x) p += 0.0 * f.value;
    return p;
  }
  const float* s = slots_.data();
  for (const SparseFeature& f : x) p += static_cast<double>(s[size_t{3} * f.index]) * f.value;
  return p;
}

void OnlineLinear::Update(std::span<const SparseFeature> x, double label, double weight) {
  if (!(weight > 0) || x.empty()) return;
  min_label_ = std::min(min_label_, label);
  max_label_ = std::max(max_label_, label);
  const double p = std::clamp(Predict(x), min_label_, max_label_);
  if (p == label) return;  // no loss, no update (as VW)
  if (slots_.empty()) slots_.assign(size_t{3} << bits_, 0.0f);
  const double g2 = weight * 4.0 * (p - label) * (p - label);
  float* s = slots_.data();
  rate_.resize(x.size());
  double norm_x = 0, ppu = 0;
  for (size_t k = 0; k < x.size(); ++k) {
    float v = x[k].value;
    float* w = s + size_t{3} * x[k].index;
    float v2 = v * v;
    if (v2 < kXMin * kXMin) {
      v = v > 0 ? kXMin : -kXMin;
      v2 = kXMin * kXMin;
    }
    w[1] += static_cast<float>(g2 * v2);
    const float av = std::fabs(v);
    if (av > w[2]) {
      if (w[2] > 0) w[0] *= w[2] / av;
      w[2] = av;
    }
    norm_x += v2 / (static_cast<double>(w[2]) * w[2]);
    const float r = 1.0f / (std::sqrt(w[1]) * w[2]);
    rate_[k] = r;
    ppu += static_cast<double>(v2) * r;
  }
  total_weight_ += weight;
  sum_norm_x_ += weight * norm_x;
  const double m = std::sqrt(total_weight_ / sum_norm_x_);
  ppu *= m;
  const double t = eta_ * weight;
  const double a =
      t * ppu < 1e-6 ? 2.0 * (label - p) * t : (label - p) * (1.0 - std::exp(-2.0 * t * ppu)) / ppu;
  const double step = a * m;
  if (!std::isfinite(step)) return;
  for (size_t k = 0; k < x.size(); ++k) {
    float* w = s + size_t{3} * x[k].index;
    w[0] += static_cast<float>(step * rate_[k] * x[k].value);
  }
}

std::vector<double> OnlineLinear::globals() const {
  return {total_weight_, sum_norm_x_, min_label_, max_label_};
}

void OnlineLinear::Restore(std::span<const float> slots, std::span<const double> globals,
                           const std::string& where) {
  const size_t want = size_t{3} << bits_;
  if ((slots.size() != want && !slots.empty()) || globals.size() != 4) {
    Fail(ErrorCode::kCorruption, "{}: {} weight slots and {} sums, expected {} (or none) and 4",
         where, slots.size(), globals.size(), want);
  }
  for (size_t i = 0; i < slots.size(); ++i) {
    // Weights finite, AdaGrad sums and scales non-negative: anything else (a damaged file)
    // would turn predictions into NaN.
    if (!std::isfinite(slots[i]) || (i % 3 != 0 && slots[i] < 0)) {
      Fail(ErrorCode::kCorruption, "{}: weight slot {} is {}", where, i, slots[i]);
    }
  }
  for (double g : globals) {
    if (!std::isfinite(g)) Fail(ErrorCode::kCorruption, "{}: a learner sum is {}", where, g);
  }
  if (globals[0] < 0 || globals[1] < 0 || globals[2] > globals[3]) {
    Fail(ErrorCode::kCorruption, "{}: inconsistent learner sums", where);
  }
  slots_.assign(slots.begin(), slots.end());
  total_weight_ = globals[0];
  sum_norm_x_ = globals[1];
  min_label_ = globals[2];
  max_label_ = globals[3];
}

}  // namespace marquee

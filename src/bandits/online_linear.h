// OnlineLinear: online least-squares regression over 2^bits hashed weights whose cost per
// example is O(number of non-zero features), with Vowpal Wabbit's default update (gd.cc with
// --adaptive --normalized --invariant, power_t 0.5). The cb-adf policies (cb_adf.cc) learn their
// reward estimates with it.
//
// The update, for an example with sparse features x (index i, value x_i), label y, importance
// weight h and learning rate eta (VW's -l, default 0.5); each weight slot keeps (w_i, G_i, s_i):
//   p      = sum_i w_i x_i                       the prediction, clipped to the label range seen
//   g2     = h * (2 (p - y))^2                   squared gradient of the squared loss, weighted
//   per feature, in order:
//     G_i += g2 x_i^2                             AdaGrad (Duchi, Hazan & Singer 2011)
//     if |x_i| > s_i: w_i *= s_i / |x_i| (when s_i > 0); s_i = |x_i|
//                                                 normalized: a new scale of the feature rescales
//                                                 its weight (Ross, Mineiro & Langford 2013,
//                                                 "Normalized online learning", NAG)
//     r_i  = 1 / (sqrt(G_i) s_i)                  the feature's rate
//     N   += x_i^2 / s_i^2;  u += x_i^2 r_i
//   W += h; S += h N; m = sqrt(W / S)            the global normaliser of NAG (average scale)
//   u *= m                                        how much p moves per unit of update
//   t = eta h                                     importance-invariant step for squared loss
//   a = (y - p)(1 - exp(-2 t u)) / u   (2 (y - p) t when t u < 1e-6)
//                                                 (Karampatziakis & Langford 2011, "Online
//                                                 importance weight aware updates"): the closed
//                                                 form of h infinitesimal steps, never
//                                                 overshooting y
//   w_i += a m r_i x_i for every feature
// Tiny |x_i| are raised to 1.084202e-19 as VW does. Collisions share a slot (nothing is signed).
// Weights are stored as float, sums of the global normaliser as double.
//
// Thread-safety: Predict is const and may run on many threads; Update needs exclusive access.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace marquee {

struct SparseFeature {
  uint32_t index;  // < 2^bits
  float value;
};

class OnlineLinear {
 public:
  // bits in 1..kMaxBits; learning_rate > 0.
  OnlineLinear(int bits, double learning_rate);
  static constexpr int kMaxBits = 26;

  int bits() const { return bits_; }
  uint32_t mask() const { return mask_; }
  double Predict(std::span<const SparseFeature> x) const;
  // One step toward `label` with importance weight `weight` (> 0; 0 does nothing).
  void Update(std::span<const SparseFeature> x, double label, double weight);

  // State for artifacts: the weight slots (w, G, s) interleaved, 3 * 2^bits floats (none
  // before the first update: they are allocated then, so an unlearned model costs nothing),
  // and the global sums {W, S, min label, max label}.
  const std::vector<float>& slots() const { return slots_; }
  std::vector<double> globals() const;
  // Restores state saved from slots()/globals(); kCorruption naming `where` for a size mismatch
  // or non-finite values.
  void Restore(std::span<const float> slots, std::span<const double> globals,
               const std::string& where);

 private:
  int bits_;
  uint32_t mask_;
  double eta_;
  std::vector<float> slots_;
  double total_weight_ = 0, sum_norm_x_ = 0;
  double min_label_ = 0, max_label_ = 0;
  std::vector<float> rate_;  // per feature of the example being updated (scratch)
};

}  // namespace marquee

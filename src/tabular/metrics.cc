#include "tabular/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "marquee/error.h"

namespace marquee {
namespace {

void Check(std::span<const float> a, std::span<const float> b, const char* what) {
  if (a.size() != b.size()) {
    Fail(ErrorCode::kInvalidArgument, "{}: {} labels but {} scores", what, a.size(), b.size());
  }
  if (a.empty()) Fail(ErrorCode::kInvalidArgument, "{}: no rows", what);
}

std::vector<size_t> OrderByScoreDesc(std::span<const float> s) {
  std::vector<size_t> idx(s.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return s[a] > s[b]; });
  return idx;
}

}  // namespace

double RocAuc(std::span<const float> y, std::span<const float> s) {
  Check(y, s, "auc");
  // Mann-Whitney U with average ranks for ties.
  std::vector<size_t> idx(s.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return s[a] < s[b]; });
  double rank_sum = 0;
  uint64_t pos = 0;
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j < idx.size() && s[idx[j]] == s[idx[i]]) ++j;
    const double avg_rank = (static_cast<double>(i) + 1 + static_cast<double>(j)) / 2.0;
    for (size_t k = i; k < j; ++k) {
      if (y[idx[k]] > 0.5f) {
        rank_sum += avg_rank;
        ++pos;
      }
    }
    i = j;
  }
  const uint64_t neg = y.size() - pos;
  if (pos == 0 || neg == 0) return std::nan("");
  return (rank_sum - static_cast<double>(pos) * (pos + 1) / 2.0) /
         (static_cast<double>(pos) * static_cast<double>(neg));
}

double PrAuc(std::span<const float> y, std::span<const float> s) {
  Check(y, s, "pr_auc");
  // Average precision (as scikit-learn's average_precision_score): sum over thresholds of
  // (recall_k - recall_{k-1}) * precision_k, tied scores forming one threshold.
  const auto idx = OrderByScoreDesc(s);
  uint64_t total_pos = 0;
  for (float v : y) total_pos += v > 0.5f;
  if (total_pos == 0) return std::nan("");
  double ap = 0, prev_recall = 0;
  uint64_t tp = 0, seen = 0;
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j < idx.size() && s[idx[j]] == s[idx[i]]) {
      tp += y[idx[j]] > 0.5f;
      ++j;
    }
    seen = j;
    const double recall = static_cast<double>(tp) / total_pos;
    const double precision = static_cast<double>(tp) / seen;
    ap += (recall - prev_recall) * precision;
    prev_recall = recall;
    i = j;
  }
  return ap;
}

double LogLoss(std::span<const float> y, std::span<const float> s) {
  Check(y, s, "logloss");
  constexpr double kEps = 1e-15;
  double sum = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const double p = std::clamp(static_cast<double>(s[i]), kEps, 1 - kEps);
    sum -= y[i] > 0.5f ? std::log(p) : std::log(1 - p);
  }
  return sum / y.size();
}

double AccuracyAt(std::span<const float> y, std::span<const float> s, double t) {
  Check(y, s, "accuracy");
  uint64_t ok = 0;
  for (size_t i = 0; i < y.size(); ++i) ok += (s[i] >= t) == (y[i] > 0.5f);
  return static_cast<double>(ok) / y.size();
}

double Brier(std::span<const float> y, std::span<const float> s) {
  Check(y, s, "brier");
  double sum = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const double d = static_cast<double>(s[i]) - (y[i] > 0.5f ? 1.0 : 0.0);
    sum += d * d;
  }
  return sum / y.size();
}

double ExpectedCalibrationError(std::span<const float> y, std::span<const float> s, int bins,
                                std::vector<ReliabilityBin>* table) {
  Check(y, s, "ece");
  if (bins < 1) Fail(ErrorCode::kInvalidArgument, "ece: bins must be >= 1, got {}", bins);
  std::vector<ReliabilityBin> t(static_cast<size_t>(bins));
  for (int b = 0; b < bins; ++b) {
    t[b].lo = static_cast<double>(b) / bins;
    t[b].hi = static_cast<double>(b + 1) / bins;
  }
  for (size_t i = 0; i < y.size(); ++i) {
    const double p = std::clamp(static_cast<double>(s[i]), 0.0, 1.0);
    const int b = std::min(bins - 1, static_cast<int>(p * bins));
    ++t[b].count;
    t[b].mean_score += p;
    t[b].positive_rate += y[i] > 0.5f ? 1.0 : 0.0;
  }
  double ece = 0;
  for (auto& bin : t) {
    if (bin.count == 0) continue;
    bin.mean_score /= bin.count;
    bin.positive_rate /= bin.count;
    ece += static_cast<double>(bin.count) / y.size() * std::abs(bin.positive_rate - bin.mean_score);
  }
  if (table != nullptr) *table = std::move(t);
  return ece;
}

double Rmse(std::span<const float> y, std::span<const float> p) {
  Check(y, p, "rmse");
  double sum = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const double d = static_cast<double>(y[i]) - p[i];
    sum += d * d;
  }
  return std::sqrt(sum / y.size());
}

double Mae(std::span<const float> y, std::span<const float> p) {
  Check(y, p, "mae");
  double sum = 0;
  for (size_t i = 0; i < y.size(); ++i) sum += std::abs(static_cast<double>(y[i]) - p[i]);
  return sum / y.size();
}

double R2(std::span<const float> y, std::span<const float> p) {
  Check(y, p, "r2");
  double mean = 0;
  for (float v : y) mean += v;
  mean /= y.size();
  double ss_res = 0, ss_tot = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    ss_res += (static_cast<double>(y[i]) - p[i]) * (static_cast<double>(y[i]) - p[i]);
    ss_tot += (y[i] - mean) * (y[i] - mean);
  }
  return ss_tot > 0 ? 1.0 - ss_res / ss_tot : std::nan("");
}

namespace {
bool ParseThreshold(const std::string& name, double* t) {
  if (name.rfind("accuracy@", 0) != 0) return false;
  const std::string rest = name.substr(9);
  char* end = nullptr;
  *t = std::strtod(rest.c_str(), &end);
  if (rest.empty() || end != rest.c_str() + rest.size() || *t < 0 || *t > 1) {
    Fail(ErrorCode::kInvalidArgument, "metric '{}': the threshold must be a number in [0, 1]",
         name);
  }
  return true;
}
}  // namespace

void ValidateTabularMetric(const std::string& name, bool classification) {
  double t = 0;
  if (classification) {
    if (name == "auc" || name == "pr_auc" || name == "logloss" || name == "brier" ||
        name == "ece" || name == "accuracy" || ParseThreshold(name, &t)) {
      return;
    }
    Fail(ErrorCode::kInvalidArgument,
         "unknown classification metric '{}' (known: auc, pr_auc, logloss, accuracy@T, brier, "
         "ece)",
         name);
  }
  if (name == "rmse" || name == "mae" || name == "r2") return;
  Fail(ErrorCode::kInvalidArgument, "unknown regression metric '{}' (known: rmse, mae, r2)", name);
}

double ComputeTabularMetric(const std::string& name, std::span<const float> y,
                            std::span<const float> s) {
  double t = 0.5;
  if (name == "auc") return RocAuc(y, s);
  if (name == "pr_auc") return PrAuc(y, s);
  if (name == "logloss") return LogLoss(y, s);
  if (name == "brier") return Brier(y, s);
  if (name == "ece") return ExpectedCalibrationError(y, s);
  if (name == "accuracy" || ParseThreshold(name, &t)) return AccuracyAt(y, s, t);
  if (name == "rmse") return Rmse(y, s);
  if (name == "mae") return Mae(y, s);
  if (name == "r2") return R2(y, s);
  Fail(ErrorCode::kInvalidArgument, "unknown metric '{}'", name);
}

nlohmann::json ReliabilityToJson(const std::vector<ReliabilityBin>& table) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& b : table) {
    j.push_back({{"lo", b.lo},
                 {"hi", b.hi},
                 {"count", b.count},
                 {"mean_score", b.mean_score},
                 {"positive_rate", b.positive_rate}});
  }
  return j;
}

}  // namespace marquee

// Metrics for tabular models. Classification (binary; scores are probabilities of class 1):
// AUC (ROC, ties averaged), PR-AUC (average precision), log loss, accuracy at a threshold,
// Brier score, expected calibration error with its reliability table. Regression: RMSE, MAE,
// R². All are pure functions; kInvalidArgument for mismatched sizes or empty input.
#pragma once

#include <nlohmann/json.hpp>

#include <span>
#include <string>
#include <vector>

namespace marquee {

double RocAuc(std::span<const float> labels, std::span<const float> scores);
double PrAuc(std::span<const float> labels, std::span<const float> scores);
double LogLoss(std::span<const float> labels, std::span<const float> scores);
double AccuracyAt(std::span<const float> labels, std::span<const float> scores, double threshold);
double Brier(std::span<const float> labels, std::span<const float> scores);

struct ReliabilityBin {
  double lo = 0, hi = 0;
  uint64_t count = 0;
  double mean_score = 0, positive_rate = 0;
};
// Equal-width bins over [0, 1]; ECE = sum over bins of count/n * |positive_rate - mean_score|.
double ExpectedCalibrationError(std::span<const float> labels, std::span<const float> scores,
                                int bins = 10, std::vector<ReliabilityBin>* table = nullptr);

double Rmse(std::span<const float> y, std::span<const float> pred);
double Mae(std::span<const float> y, std::span<const float> pred);
double R2(std::span<const float> y, std::span<const float> pred);

// Whether `name` is a known tabular metric for the task ("classification" | "regression").
// Known: auc, pr_auc, logloss, accuracy@T, brier, ece; rmse, mae, r2.
void ValidateTabularMetric(const std::string& name, bool classification);
double ComputeTabularMetric(const std::string& name, std::span<const float> labels,
                            std::span<const float> scores);
nlohmann::json ReliabilityToJson(const std::vector<ReliabilityBin>& table);

}  // namespace marquee

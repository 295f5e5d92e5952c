// The study record of `marquee tune`: $home/studies/<id>.json (docs/formats/study.md), written
// atomically (Env::WriteFileAtomic) after every batch of trials, so a killed study resumes from
// its last record. Each trial is also a registry run (external source, tags study/trial/state,
// the objective per rung as its metric history); the record is what `marquee studies` reads.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tune/space.h"

namespace marquee {

class Env;

struct TrialRecord {
  int number = 0;      // 0-based, in sampling order
  int64_t run_id = 0;  // the registry run
  nlohmann::json params = nlohmann::json::object();
  std::string state;                                  // "completed" | "pruned" | "failed"
  std::vector<std::pair<int64_t, double>> rungs;      // (resource, objective) per rung reached
  double value = 0;                                   // the objective at the last rung reached
  nlohmann::json metrics = nlohmann::json::object();  // validation metrics of the last rung
  double seconds = 0;
  std::string message;  // why it stopped: "pruned at iterations 4", the error, ...
};

struct StudyRecord {
  static constexpr int kFormatVersion = 1;
  int64_t id = 0;
  int64_t created_at = 0, updated_at = 0;
  std::string config_path;  // absolute
  std::string config_text;
  std::vector<std::string> overrides;
  std::string family, model_name;
  std::string metric;
  bool maximize = true;
  SearchSpace space;
  std::string sampler = "tpe";  // "tpe" | "random"
  int startup_trials = 10;      // random trials before TPE
  uint64_t seed = 0;
  int planned_trials = 0;  // 0: until the budget
  double budget_s = 0;     // 0: no time limit
  double elapsed_s = 0;    // spent over every invocation
  int parallel = 1;
  double validation = 0.2;          // share of training users (rows) the objective is computed on
  std::vector<TrialRecord> trials;  // finished, by number
  std::vector<std::pair<int, int64_t>> running;  // (trial number, run id) under way
  std::string state = "running";                 // "running" | "finished"
  nlohmann::json best_test = nullptr;            // test metrics of the best, at the end
  nlohmann::json registered = nullptr;           // {model, version, run_id} with --register
  std::string best_config;                       // path of the best config file

  // The best finished (non-pruned, non-failed) trial, or nullptr.
  const TrialRecord* Best() const;
  // Whether `a` is a better objective than `b`.
  bool Better(double a, double b) const { return maximize ? a > b : a < b; }
  nlohmann::json ToJson() const;
  static StudyRecord FromJson(const nlohmann::json& j, const std::string& origin);
};

// Studies under $home/studies. Not thread-safe; one process writes a study at a time.
class StudyStore {
 public:
  StudyStore(std::string home, Env* env);
  // The next free id (1 + the largest present).
  int64_t NextId();
  void Save(StudyRecord& s);  // stamps updated_at; atomic
  // kNotFound naming the id when there is no such study; kCorruption for a bad record.
  StudyRecord Load(int64_t id);
  std::vector<StudyRecord> List();    // by id
  std::string Dir(int64_t id) const;  // $home/studies/<id>/ (plots, best config)

 private:
  std::string Path(int64_t id) const;
  std::string home_;
  Env* env_;
};

// Parameter importances by the variance of binned means: for each parameter, the finished
// trials' objectives grouped by the parameter (choices by value, numbers by quartile of their
// internal scale; 2 bins under 12 trials, 3 under 16), and the share of the objective's variance
// the group means explain. Sorted by importance; empty with fewer than 4 finished trials.
std::vector<std::pair<std::string, double>> ParamImportances(const StudyRecord& s);

// The study's plot: the objective over trials (best so far as a line, pruned trials hollow)
// and one panel per parameter (objective against its value). SVG text.
std::string StudySvg(const StudyRecord& s);

}  // namespace marquee

#include "tune/study.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "common/text.h"
#include "marquee/env.h"
#include "marquee/error.h"

namespace marquee {

const TrialRecord* StudyRecord::Best() const {
  const TrialRecord* best = nullptr;
  for (const auto& t : trials) {
    if (t.state != "completed") continue;
    if (best == nullptr || Better(t.value, best->value)) best = &t;
  }
  return best;
}

nlohmann::json StudyRecord::ToJson() const {
  nlohmann::json tj = nlohmann::json::array();
  for (const auto& t : trials) {
    nlohmann::json rungs = nlohmann::json::array();
    for (const auto& [r, v] : t.rungs) rungs.push_back({{"resource", r}, {"value", v}});
    tj.push_back({{"number", t.number},
                  {"run_id", t.run_id},
                  {"params", t.params},
                  {"state", t.state},
                  {"rungs", rungs},
                  {"value", t.value},
                  {"metrics", t.metrics},
                  {"seconds", t.seconds},
                  {"message", t.message}});
  }
  nlohmann::json running = nlohmann::json::array();
  for (const auto& [n, r] : this->running) running.push_back({{"number", n}, {"run_id", r}});
  return {{"format_version", kFormatVersion},
          {"id", id},
          {"created_at", created_at},
          {"updated_at", updated_at},
          {"config_path", config_path},
          {"config_text", config_text},
          {"overrides", overrides},
          {"family", family},
          {"model", model_name},
          {"metric", metric},
          {"direction", maximize ? "maximize" : "minimize"},
          {"space", space.ToJson()},
          {"sampler", sampler},
          {"startup_trials", startup_trials},
          {"seed", seed},
          {"planned_trials", planned_trials},
          {"budget_s", budget_s},
          {"elapsed_s", elapsed_s},
          {"parallel", parallel},
          {"validation", validation},
          {"trials", tj},
          {"running", running},
          {"state", state},
          {"best_test", best_test},
          {"registered", registered},
          {"best_config", best_config}};
}

namespace {

// JSON has no NaN: nlohmann writes it as null (a failed trial's value), read back as NaN.
double NumberOrNan(const nlohmann::json& v) { return v.is_null() ? std::nan("") : v.get<double>(); }

}  // namespace

StudyRecord StudyRecord::FromJson(const nlohmann::json& j, const std::string& origin) {
  try {
    if (j.at("format_version").get<int>() != kFormatVersion) {
      Fail(ErrorCode::kCorruption, "{}: study format version {} (this marquee reads {})", origin,
           j.at("format_version").dump(), kFormatVersion);
    }
    StudyRecord s;
    s.id = j.at("id").get<int64_t>();
    s.created_at = j.at("created_at").get<int64_t>();
    s.updated_at = j.at("updated_at").get<int64_t>();
    s.config_path = j.at("config_path").get<std::string>();
    s.config_text = j.at("config_text").get<std::string>();
    s.overrides = j.at("overrides").get<std::vector<std::string>>();
    s.family = j.at("family").get<std::string>();
    s.model_name = j.at("model").get<std::string>();
    s.metric = j.at("metric").get<std::string>();
    s.maximize = j.at("direction").get<std::string>() == "maximize";
    s.space = SearchSpace::FromJson(j.at("space"), origin + " (space)");
    s.sampler = j.at("sampler").get<std::string>();
    s.startup_trials = j.at("startup_trials").get<int>();
    s.seed = j.at("seed").get<uint64_t>();
    s.planned_trials = j.at("planned_trials").get<int>();
    s.budget_s = j.at("budget_s").get<double>();
    s.elapsed_s = j.at("elapsed_s").get<double>();
    s.parallel = j.at("parallel").get<int>();
    s.validation = j.at("validation").get<double>();
    for (const auto& t : j.at("trials")) {
      TrialRecord r;
      r.number = t.at("number").get<int>();
      r.run_id = t.at("run_id").get<int64_t>();
      r.params = t.at("params");
      r.state = t.at("state").get<std::string>();
      for (const auto& g : t.at("rungs")) {
        r.rungs.emplace_back(g.at("resource").get<int64_t>(), NumberOrNan(g.at("value")));
      }
      r.value = NumberOrNan(t.at("value"));
      r.metrics = t.at("metrics");
      r.seconds = t.at("seconds").get<double>();
      r.message = t.at("message").get<std::string>();
      s.trials.push_back(std::move(r));
    }
    for (const auto& r : j.at("running")) {
      s.running.emplace_back(r.at("number").get<int>(), r.at("run_id").get<int64_t>());
    }
    s.state = j.at("state").get<std::string>();
    s.best_test = j.at("best_test");
    s.registered = j.at("registered");
    s.best_config = j.at("best_config").get<std::string>();
    return s;
  } catch (const nlohmann::json::exception& e) {
    Fail(ErrorCode::kCorruption, "{}: not a study record: {}", origin, e.what());
  }
}

StudyStore::StudyStore(std::string home, Env* env) : home_(std::move(home)), env_(env) {}

std::string StudyStore::Path(int64_t id) const {
  return fmt::format("{}/studies/{}.json", home_, id);
}

std::string StudyStore::Dir(int64_t id) const { return fmt::format("{}/studies/{}", home_, id); }

int64_t StudyStore::NextId() {
  int64_t next = 1;
  for (const auto& s : List()) next = std::max(next, s.id + 1);
  return next;
}

void StudyStore::Save(StudyRecord& s) {
  env_->CreateDirs(home_ + "/studies");
  s.updated_at = env_->NowSeconds();
  env_->WriteFileAtomic(Path(s.id), s.ToJson().dump(1) + "\n");
}

StudyRecord StudyStore::Load(int64_t id) {
  const std::string path = Path(id);
  if (!env_->FileExists(path)) {
    Fail(ErrorCode::kNotFound, "no study {} in {}/studies (marquee studies list)", id, home_);
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(env_->ReadFile(path));
  } catch (const nlohmann::json::exception& e) {
    Fail(ErrorCode::kCorruption, "{}: not JSON: {}", path, e.what());
  }
  return StudyRecord::FromJson(j, path);
}

std::vector<StudyRecord> StudyStore::List() {
  std::vector<StudyRecord> out;
  const std::string dir = home_ + "/studies";
  if (!env_->FileExists(dir)) return out;
  for (const auto& name : env_->ListDir(dir)) {
    if (name.size() < 6 || !name.ends_with(".json")) continue;
    const std::string stem = name.substr(0, name.size() - 5);
    if (stem.empty() || !std::all_of(stem.begin(), stem.end(), ::isdigit) || stem.size() > 15) {
      continue;
    }
    out.push_back(Load(std::stoll(stem)));
  }
  std::sort(out.begin(), out.end(),
            [](const StudyRecord& a, const StudyRecord& b) { return a.id < b.id; });
  return out;
}

namespace {

// A parameter's value on its searched scale (log for log scales), or NaN.
double Scaled(const ParamSpec& p, const nlohmann::json& v) {
  if (!v.is_number()) return std::nan("");
  const double x = v.get<double>();
  const bool log = p.type == ParamSpec::Type::kLogUniform || p.log;
  return log ? std::log(std::max(x, 1e-300)) : x;
}

double Variance(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return s / static_cast<double>(v.size());
}

}  // namespace

std::vector<std::pair<std::string, double>> ParamImportances(const StudyRecord& s) {
  std::vector<const TrialRecord*> done;
  for (const auto& t : s.trials) {
    if (t.state == "completed") done.push_back(&t);
  }
  std::vector<std::pair<std::string, double>> out;
  if (done.size() < 4) return out;
  std::vector<double> ys;
  for (const auto* t : done) ys.push_back(t->value);
  const double total = Variance(ys);
  const int n_bins = std::clamp(static_cast<int>(done.size()) / 4, 2, 4);
  for (const auto& p : s.space.params) {
    std::map<std::string, std::vector<double>> bins;
    if (p.type == ParamSpec::Type::kChoice) {
      for (const auto* t : done)
        bins[t->params.value(p.name, nlohmann::json()).dump()].push_back(t->value);
    } else {
      std::vector<double> xs;
      for (const auto* t : done) xs.push_back(Scaled(p, t->params.value(p.name, nlohmann::json())));
      std::vector<double> sorted = xs;
      std::sort(sorted.begin(), sorted.end());
      for (size_t i = 0; i < done.size(); ++i) {
        // Quantile bin (quartiles from 16 trials on; fewer bins before, so that a bin holds
        // several trials): the number of cut points at or below the value.
        int b = 0;
        for (int q = 1; q < n_bins; ++q) {
          if (xs[i] >= sorted[sorted.size() * q / n_bins]) b = q;
        }
        bins[std::to_string(b)].push_back(done[i]->value);
      }
    }
    // Between-bin variance: each trial's value replaced by its bin's mean.
    std::vector<double> means;
    for (const auto& [k, v] : bins) {
      const double m = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
      means.insert(means.end(), v.size(), m);
    }
    out.emplace_back(p.name, total > 0 ? Variance(means) / total : 0.0);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

namespace {

struct Panel {
  double x0, y0, w, h;
};

std::string Axes(const Panel& p, const std::string& title, double xmin, double xmax, double ymin,
                 double ymax) {
  return fmt::format(
      "<rect x='{:.1f}' y='{:.1f}' width='{:.1f}' height='{:.1f}' fill='none' stroke='#999'/>\n"
      "<text x='{:.1f}' y='{:.1f}' font-size='12'>{}</text>\n"
      "<text x='{:.1f}' y='{:.1f}' font-size='9' fill='#555'>{:.4g}</text>"
      "<text x='{:.1f}' y='{:.1f}' font-size='9' fill='#555' text-anchor='end'>{:.4g}</text>\n"
      "<text x='{:.1f}' y='{:.1f}' font-size='9' fill='#555' text-anchor='end'>{:.4g}</text>"
      "<text x='{:.1f}' y='{:.1f}' font-size='9' fill='#555' text-anchor='end'>{:.4g}</text>\n",
      p.x0, p.y0, p.w, p.h, p.x0, p.y0 - 6, EscapeMarkup(title), p.x0, p.y0 + p.h + 11, xmin,
      p.x0 + p.w, p.y0 + p.h + 11, xmax, p.x0 - 3, p.y0 + p.h, ymin, p.x0 - 3, p.y0 + 9, ymax);
}

}  // namespace

std::string StudySvg(const StudyRecord& s) {
  std::vector<const TrialRecord*> shown;
  for (const auto& t : s.trials) {
    if (t.state != "failed" && std::isfinite(t.value)) shown.push_back(&t);
  }
  double ymin = 0, ymax = 1;
  if (!shown.empty()) {
    ymin = ymax = shown[0]->value;
    for (const auto* t : shown) {
      ymin = std::min(ymin, t->value);
      ymax = std::max(ymax, t->value);
    }
    if (ymax == ymin) ymax = ymin + 1e-9;
  }
  const size_t n_params = s.space.params.size();
  const int cols = 3;
  const int rows = static_cast<int>((n_params + cols - 1) / cols);
  const double width = 720, top_h = 220, cell_h = 170;
  const double height = 40 + top_h + 30 + rows * (cell_h + 30);
  std::string out = fmt::format(
      "<svg xmlns='http://www.w3.org/2000/svg' width='{:.0f}' height='{:.0f}' "
      "font-family='sans-serif'>\n<rect width='100%' height='100%' fill='white'/>\n"
      "<text x='10' y='20' font-size='14'>study {}: {} {} ({} trials; {} on validation "
      "users)</text>\n",
      width, height, s.id, s.model_name.empty() ? s.family : EscapeMarkup(s.model_name),
      EscapeMarkup(s.family), s.trials.size(), EscapeMarkup(s.metric));
  auto y_of = [&](const Panel& p, double v) {
    return p.y0 + p.h - (v - ymin) / (ymax - ymin) * p.h;
  };
  // Objective over trials, best so far as a step line.
  const Panel top{60, 50, width - 90, top_h - 30};
  const double nmax = std::max<double>(1, static_cast<double>(s.trials.size()) - 1);
  out +=
      Axes(top, "objective over trials (line: best so far; hollow: pruned)", 0, nmax, ymin, ymax);
  std::string line;
  bool have_best = false;
  double best = 0;
  for (const auto& t : s.trials) {
    const double x = top.x0 + static_cast<double>(t.number) / nmax * top.w;
    if (t.state == "completed" && std::isfinite(t.value) &&
        (!have_best || s.Better(t.value, best))) {
      best = t.value;
      have_best = true;
    }
    if (have_best)
      line += fmt::format("{}{:.1f},{:.1f}", line.empty() ? "" : " ", x, y_of(top, best));
    if (t.state == "failed" || !std::isfinite(t.value)) continue;
    out += fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='3' {}/>\n", x, y_of(top, t.value),
                       t.state == "pruned" ? "fill='none' stroke='#d62728'" : "fill='#1f77b4'");
  }
  if (!line.empty())
    out += fmt::format("<polyline points='{}' fill='none' stroke='#2ca02c'/>\n", line);
  // One panel per parameter.
  for (size_t k = 0; k < n_params; ++k) {
    const ParamSpec& p = s.space.params[k];
    const double cw = (width - 60) / cols;
    const Panel panel{60 + static_cast<double>(k % cols) * cw,
                      40 + top_h + 30 + static_cast<double>(k / cols) * (cell_h + 30), cw - 40,
                      cell_h - 20};
    double xmin = 0, xmax = 1;
    const bool choice = p.type == ParamSpec::Type::kChoice;
    if (choice) {
      xmax = std::max<double>(1, static_cast<double>(p.values.size()) - 1);
    } else {
      xmin = Scaled(p, p.low);
      xmax = Scaled(p, p.high);
    }
    const bool log = p.type == ParamSpec::Type::kLogUniform || p.log;
    out += Axes(panel, p.name + (log ? " (log scale)" : ""), choice ? 0 : p.low,
                choice ? xmax : p.high, ymin, ymax);
    for (const auto* t : shown) {
      const nlohmann::json v = t->params.value(p.name, nlohmann::json());
      double x;
      if (choice) {
        auto it = std::find(p.values.begin(), p.values.end(), v);
        if (it == p.values.end()) continue;
        x = static_cast<double>(it - p.values.begin());
      } else {
        x = Scaled(p, v);
        if (!std::isfinite(x)) continue;
      }
      const double px = panel.x0 + (x - xmin) / (xmax - xmin) * panel.w;
      out +=
          fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='2.5' {}/>\n", px, y_of(panel, t->value),
                      t->state == "pruned" ? "fill='none' stroke='#d62728'" : "fill='#1f77b4'");
    }
  }
  out += "</svg>\n";
  return out;
}

}  // namespace marquee

#include "experiments/analysis.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <unordered_map>

#include "common/time.h"
#include "events/redis_client.h"
#include "experiments/interleave.h"
#include "experiments/stats.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "state/online_state.h"

namespace marquee {
namespace {

using json = nlohmann::json;

struct Member {
  size_t cell = 0;
  int64_t first_ts = 0;
  int64_t last_ts = 0;
  uint64_t exposures = 0;
  uint64_t plays = 0;           // credited
  uint64_t pre_plays = 0;       // plays before the experiment's first start (CUPED covariate)
  uint64_t clicks[2] = {0, 0};  // interleave: credited plays per ranker
  std::vector<uint32_t> shown;  // rows of ExposureTable, in time order
  // Credited plays as (time, ranker: 0/1 for interleaving, -1 otherwise), sorted by time after
  // attribution: the member's metric as it stood at a past look.
  std::vector<std::pair<int64_t, int8_t>> credited;
};

// The exposures of one experiment in compact form, so analysis holds tens of bytes per exposure
// rather than a struct of strings: item ids interned, items of every exposure in one pool.
class ExposureTable {
 public:
  explicit ExposureTable(const ExperimentSpec& spec) : interleave_(spec.mode == Mode::kInterleave) {
    for (size_t i = 0; i < spec.cells.size(); ++i) cell_index_[spec.cells[i].name] = i;
  }

  void Add(const Exposure& e) {
    auto c = cell_index_.find(e.cell);
    if (c == cell_index_.end()) {
      ++unknown_cell_;
      return;
    }
    auto [m, inserted] = member_index_.try_emplace(e.user, static_cast<uint32_t>(members_.size()));
    if (inserted) {
      members_.emplace_back();
      names_.push_back(e.user);
      members_.back().cell = c->second;
    }
    rows_.push_back(Row{e.ts, e.seq, m->second, static_cast<uint32_t>(items_.size()),
                        static_cast<uint32_t>(e.items.size())});
    for (size_t i = 0; i < e.items.size(); ++i) {
      auto [it, fresh] =
          item_index_.try_emplace(e.items[i], static_cast<uint32_t>(item_index_.size()));
      items_.push_back(it->second);
      if (interleave_) rankers_.push_back(i < e.rankers.size() ? e.rankers[i] : kNoRanker);
    }
  }

  // Orders every member's exposures by time (then log order) and sets their first/last times.
  void Finish() {
    std::vector<uint32_t> order(rows_.size());
    for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return rows_[a].ts < rows_[b].ts ||
             (rows_[a].ts == rows_[b].ts && rows_[a].seq < rows_[b].seq);
    });
    for (uint32_t r : order) {
      Member& m = members_[rows_[r].member];
      if (m.shown.empty()) m.first_ts = rows_[r].ts;
      m.last_ts = rows_[r].ts;
      ++m.exposures;
      m.shown.push_back(r);
    }
  }

  // Credits one event of member `m` (see analysis.h). Returns whether it was a credited play;
  // *counted says whether it was a play after the start at all (credited or not).
  bool Attribute(Member& m, const StoredEvent& ev, const ExperimentSpec& spec,
                 int64_t first_started_at, bool* counted) const {
    *counted = false;
    if (!spec.CountsAsPlay(ev.type, ev.value)) return false;
    if (first_started_at > 0 && ev.ts < first_started_at) {
      ++m.pre_plays;
      return false;
    }
    *counted = true;
    auto item = item_index_.find(ev.item);
    if (item == item_index_.end()) return false;  // never shown to anyone
    // Latest exposure at or before the play, walking back while inside the window.
    auto end = std::upper_bound(m.shown.begin(), m.shown.end(), ev.ts,
                                [&](int64_t t, uint32_t r) { return t < rows_[r].ts; });
    for (auto it = end; it != m.shown.begin();) {
      const Row& e = rows_[*--it];
      if (ev.ts - e.ts > spec.attribution_window) break;
      for (uint32_t p = e.items_at; p < e.items_at + e.items; ++p) {
        if (items_[p] != item->second) continue;
        ++m.plays;
        int8_t ranker = -1;
        if (interleave_ && rankers_[p] < 2) {
          ranker = static_cast<int8_t>(rankers_[p]);
          ++m.clicks[ranker];
        }
        m.credited.emplace_back(ev.ts, ranker);
        return true;
      }
    }
    return false;
  }

  std::vector<Member>& members() { return members_; }
  const std::string& name(size_t member) const { return names_[member]; }
  Member* Find(const std::string& user) {
    auto it = member_index_.find(user);
    return it == member_index_.end() ? nullptr : &members_[it->second];
  }
  uint64_t exposures() const { return rows_.size(); }
  uint64_t unknown_cell() const { return unknown_cell_; }
  size_t num_items() const { return item_index_.size(); }
  // counts[c][i]: how many times cell c's lists showed item i (interned index).
  std::vector<std::vector<uint64_t>> ImpressionsPerCell(size_t cells) const {
    std::vector<std::vector<uint64_t>> counts(cells, std::vector<uint64_t>(item_index_.size(), 0));
    for (const Row& r : rows_) {
      std::vector<uint64_t>& cell = counts[members_[r.member].cell];
      for (uint32_t p = r.items_at; p < r.items_at + r.items; ++p) ++cell[items_[p]];
    }
    return counts;
  }
  // fn(time, cell index) for every exposure of a known cell, in log order.
  template <typename Fn>
  void ForEachExposure(Fn&& fn) const {
    for (const Row& r : rows_) fn(r.ts, members_[r.member].cell);
  }

 private:
  struct Row {
    int64_t ts;
    uint64_t seq;
    uint32_t member;
    uint32_t items_at;  // into items_ (and rankers_ when interleaving)
    uint32_t items;
  };
  bool interleave_;
  std::map<std::string, size_t> cell_index_;
  std::unordered_map<std::string, uint32_t> member_index_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, uint32_t> item_index_;
  std::vector<Member> members_;
  std::vector<Row> rows_;
  std::vector<uint32_t> items_;
  std::vector<uint8_t> rankers_;
  uint64_t unknown_cell_ = 0;
};

// The latest exposure or credited play of any member (`order` not empty).
int64_t LastTime(const std::vector<const Member*>& order) {
  int64_t t1 = order.front()->first_ts;
  for (const Member* m : order) {
    t1 = std::max(t1, m->last_ts);
    if (!m->credited.empty()) t1 = std::max(t1, m->credited.back().first);
  }
  return t1;
}

// Calendar times of the sequential test's looks: 100 evenly spaced from the first exposure to
// the latest exposure or credited play (an analyst re-running analyze sees the same sequence).
std::vector<int64_t> LookTimes(const std::vector<const Member*>& order) {
  if (order.empty()) return {};
  const int64_t t0 = order.front()->first_ts;
  const int64_t t1 = LastTime(order);
  std::vector<int64_t> looks;
  for (int k = 1; k <= 100; ++k) {
    const int64_t t = t0 + (t1 - t0) * k / 100;
    if (looks.empty() || t > looks.back()) looks.push_back(t);
  }
  return looks;
}

constexpr int64_t kDay = 86400;

int64_t DayStart(int64_t t) { return t - ((t % kDay) + kDay) % kDay; }

// The last second of every UTC calendar day from the first exposure's to the day of the latest
// exposure or credited play: the looks of the day-by-day sequential test.
std::vector<int64_t> DayLooks(const std::vector<const Member*>& order) {
  std::vector<int64_t> looks;
  if (order.empty()) return looks;
  const int64_t last = DayStart(LastTime(order));
  for (int64_t d = DayStart(order.front()->first_ts); d <= last; d += kDay) {
    looks.push_back(d + kDay - 1);
  }
  return looks;
}

// Walks the members forward through ascending look times: at each look, the members exposed by
// then (a prefix of the order by first exposure), each with its credited plays (in total and per
// ranker) by then. Each member's plays are counted once over all looks (a cursor per member),
// so a walk costs O(looks x members + plays).
class LookWalker {
 public:
  explicit LookWalker(const std::vector<const Member*>& order) : order_(order), at_(order.size()) {}

  // Advances to time `t` (not before the previous call's) and calls fn(member, plays, clicks)
  // for every member exposed by then, in order; clicks[r] are the plays credited to ranker r.
  template <typename Fn>
  void At(int64_t t, Fn&& fn) {
    while (exposed_ < order_.size() && order_[exposed_]->first_ts <= t) ++exposed_;
    for (size_t i = 0; i < exposed_; ++i) {
      const Member& m = *order_[i];
      State& s = at_[i];
      while (s.next < m.credited.size() && m.credited[s.next].first <= t) {
        const int8_t ranker = m.credited[s.next].second;
        if (ranker >= 0) ++s.clicks[ranker];
        ++s.next;
      }
      fn(m, static_cast<uint64_t>(s.next), s.clicks);
    }
  }
  size_t exposed() const { return exposed_; }

 private:
  struct State {
    uint32_t next = 0;  // credited plays up to the current look
    uint64_t clicks[2] = {0, 0};
  };
  const std::vector<const Member*>& order_;
  std::vector<State> at_;
  size_t exposed_ = 0;
};

// JSON number, or null for NaN/inf (JSON has no NaN).
json Num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json WelchJson(const WelchResult& w) {
  return {{"control_mean", Num(w.mean_a)},
          {"mean", Num(w.mean_b)},
          {"diff", Num(w.diff)},
          {"diff_ci", {Num(w.diff_ci_lo), Num(w.diff_ci_hi)}},
          {"rel_lift", Num(w.rel_lift)},
          {"rel_ci", {Num(w.rel_ci_lo), Num(w.rel_ci_hi)}},
          {"t", Num(w.t)},
          {"df", Num(w.df)},
          {"p_value", Num(w.p_value)}};
}

template <typename Fn>
json Guard(Fn&& fn) {
  try {
    return fn();
  } catch (const Error& e) {
    return {{"error", e.what()}};
  }
}

}  // namespace

namespace {

struct Attribution {
  uint64_t credited = 0, uncredited = 0;
  void Count(bool credited_play, bool counted) {
    if (credited_play) {
      ++credited;
    } else if (counted) {
      ++uncredited;
    }
  }
};

json Analyze(const ExperimentSpec& spec, const std::string& state, int64_t first_started_at,
             ExposureTable& table, const Attribution& attribution);

}  // namespace

namespace {

// The input's exposures in the table, its events credited.
Attribution FillTable(const AnalysisInput& in, ExposureTable* table) {
  for (const Exposure& e : in.exposures) table->Add(e);
  table->Finish();
  Attribution a;
  for (const StoredEvent& ev : in.events) {
    Member* m = table->Find(ev.user);
    if (m == nullptr) continue;
    bool counted = false;
    const bool credited = table->Attribute(*m, ev, in.spec, in.first_started_at, &counted);
    a.Count(credited, counted);
  }
  return a;
}

json Timeseries(const ExperimentSpec& spec, ExposureTable& table);

}  // namespace

json AnalyzeExperiment(const AnalysisInput& in) {
  ExposureTable table(in.spec);
  const Attribution a = FillTable(in, &table);
  return Analyze(in.spec, in.state, in.first_started_at, table, a);
}

json ExperimentTimeseries(const AnalysisInput& in) {
  ExposureTable table(in.spec);
  FillTable(in, &table);
  return Timeseries(in.spec, table);
}

namespace {

// The members in order of first exposure (for the sequential test), each one's credited plays
// sorted by time, and the calendar times of the looks.
struct MemberOrder {
  std::vector<const Member*> order;
  std::vector<int64_t> looks;
};

MemberOrder OrderMembers(std::vector<Member>& members) {
  MemberOrder m;
  for (const Member& x : members) m.order.push_back(&x);
  std::sort(m.order.begin(), m.order.end(), [](const Member* a, const Member* b) {
    return a->first_ts < b->first_ts || (a->first_ts == b->first_ts && a < b);
  });
  for (Member& x : members) std::sort(x.credited.begin(), x.credited.end());
  m.looks = LookTimes(m.order);
  return m;
}

// What every analysis reports: the experiment, its counts and the attribution.
json Summary(const ExperimentSpec& spec, const std::string& state, int64_t first_started_at,
             const ExposureTable& table, size_t members, const Attribution& attribution) {
  json out;
  out["experiment"] = spec.name;
  out["mode"] = ModeName(spec.mode);
  out["state"] = state;
  out["attribution_window_seconds"] = spec.attribution_window;
  out["first_started_at"] = first_started_at;
  out["members"] = members;
  out["exposures"] = table.exposures();
  out["plays_credited"] = attribution.credited;
  out["plays_not_credited"] = attribution.uncredited;
  if (table.unknown_cell() > 0) out["exposures_of_unknown_cells"] = table.unknown_cell();
  return out;
}

// Per-cell values of an A/B test: each member's plays (ppm), plays per exposure (ppe) and
// pre-period plays (pre), in member order, and the cell's totals.
struct CellValues {
  std::vector<std::vector<double>> ppm, ppe, pre;
  std::vector<uint64_t> members, exposures, plays;
};

CellValues ValuesPerCell(size_t nc, const std::vector<const Member*>& order) {
  CellValues v;
  v.ppm.resize(nc);
  v.ppe.resize(nc);
  v.pre.resize(nc);
  v.members.assign(nc, 0);
  v.exposures.assign(nc, 0);
  v.plays.assign(nc, 0);
  for (const Member* m : order) {
    const size_t c = m->cell;
    ++v.members[c];
    v.exposures[c] += m->exposures;
    v.plays[c] += m->plays;
    v.ppm[c].push_back(static_cast<double>(m->plays));
    v.ppe[c].push_back(static_cast<double>(m->plays) / static_cast<double>(m->exposures));
    v.pre[c].push_back(static_cast<double>(m->pre_plays));
  }
  return v;
}

json CellsJson(const ExperimentSpec& spec, const CellValues& v) {
  json cells = json::array();
  for (size_t c = 0; c < spec.cells.size(); ++c) {
    const double mpm = v.members[c] ? static_cast<double>(v.plays[c]) / v.members[c] : 0.0;
    const Moments mpe = ComputeMoments(v.ppe[c]);
    cells.push_back({{"name", spec.cells[c].name},
                     {"model", spec.cells[c].model},
                     {"weight", spec.cells[c].weight},
                     {"members", v.members[c]},
                     {"exposures", v.exposures[c]},
                     {"plays", v.plays[c]},
                     {"plays_per_member", mpm},
                     {"plays_per_exposure", mpe.mean}});
  }
  return cells;
}

json SampleRatioJson(const ExperimentSpec& spec, const CellValues& v) {
  return Guard([&]() -> json {
    std::vector<double> w;
    for (const auto& c : spec.cells) w.push_back(c.weight);
    ChiSquareResult r = SampleRatioMismatch(v.members, w);
    json j = {{"chi2", r.statistic}, {"df", r.df}, {"p_value", r.p_value}};
    j["warning"] = r.p_value < 0.001;
    if (r.p_value < 0.001) {
      j["message"] = fmt::format(
          "SAMPLE RATIO MISMATCH: the members per cell do not match the weights (p = {:.3g}); "
          "assignment or logging is broken and the lifts below cannot be trusted",
          r.p_value);
    }
    return j;
  });
}

// The always-valid p-values after each look: for an A/B test, of every cell c >= 1 against the
// control on plays per member (at each look the members exposed by then, each with the plays
// credited by then; p[c][k] after looks[k], p[0] unused); for interleaving, of "no preference"
// (p[0]). users[k]: the members exposed by looks[k]. A cell whose test failed has its message in
// error[c] and no p-values from that look on. The analysis reads the last look of its 100; the
// timeseries every day's.
struct SequentialPath {
  std::vector<std::vector<double>> p;
  std::vector<std::string> error;
  std::vector<uint64_t> users;
};

// One test per cell fed the moments `look(cell)` at every look; catches each cell's own errors.
template <typename Look>
void PeekEach(std::vector<SequentialTest>& tests, size_t first, Look&& look, SequentialPath* path) {
  for (size_t c = first; c < tests.size(); ++c) {
    if (!path->error[c].empty()) continue;
    try {
      const auto [a, b] = look(c);
      path->p[c].push_back(tests[c].PeekAt(a, b));
    } catch (const Error& e) {
      path->error[c] = e.what();
    }
  }
}

SequentialPath SequentialPlaysPerMember(size_t nc, const std::vector<const Member*>& order,
                                        const std::vector<int64_t>& looks) {
  SequentialTest::Options o;
  o.rescale_tau2 = true;  // plays per member grow between looks
  std::vector<SequentialTest> tests(nc, SequentialTest(o));
  SequentialPath path{std::vector<std::vector<double>>(nc), std::vector<std::string>(nc), {}};
  LookWalker walk(order);
  for (int64_t t : looks) {
    std::vector<MomentAccumulator> cell(nc);
    walk.At(t, [&](const Member& x, uint64_t plays, const uint64_t*) {
      cell[x.cell].Add(static_cast<double>(plays));
    });
    path.users.push_back(walk.exposed());
    PeekEach(
        tests, 1, [&](size_t c) { return std::pair(cell[0].Get(), cell[c].Get()); }, &path);
  }
  return path;
}

SequentialPath SequentialPreference(const std::vector<const Member*>& order,
                                    const std::vector<int64_t>& looks) {
  SequentialTest::Options o;
  o.one_sample = true;
  o.rescale_tau2 = true;
  std::vector<SequentialTest> tests(1, SequentialTest(o));
  SequentialPath path{std::vector<std::vector<double>>(1), std::vector<std::string>(1), {}};
  LookWalker walk(order);
  for (int64_t t : looks) {
    MomentAccumulator prefs;
    walk.At(t, [&](const Member&, uint64_t, const uint64_t* c) {
      prefs.Add(c[1] > c[0] ? 1.0 : c[0] > c[1] ? -1.0 : 0.0);
    });
    path.users.push_back(walk.exposed());
    PeekEach(
        tests, 0, [&](size_t) { return std::pair(prefs.Get(), Moments{}); }, &path);
  }
  return path;
}

// The p-value after the last look (1 before any), or {"error": ...}.
json FinalPValue(const SequentialPath& path, size_t c) {
  if (!path.error[c].empty()) return {{"error", path.error[c]}};
  return Num(path.p[c].empty() ? 1.0 : path.p[c].back());
}

// Cell c against the control: Welch on plays per member (with CUPED and the sequential test)
// and on plays per exposure.
json Comparison(const ExperimentSpec& spec, size_t c, const CellValues& v,
                const SequentialPath& seq) {
  json cmp = {{"cell", spec.cells[c].name}, {"control", spec.cells[0].name}};
  cmp["plays_per_member"] = Guard([&]() -> json {
    json j = WelchJson(Welch(v.ppm[0], v.ppm[c]));
    j["cuped"] = Guard([&]() -> json {
      CupedResult r = Cuped(v.ppm[0], v.pre[0], v.ppm[c], v.pre[c]);
      json k = WelchJson(r.adjusted);
      k["theta"] = Num(r.theta);
      k["variance_reduction"] = Num(r.variance_reduction);
      return k;
    });
    j["sequential_p_value"] = FinalPValue(seq, c);
    return j;
  });
  cmp["plays_per_exposure"] = Guard([&]() -> json { return WelchJson(Welch(v.ppe[0], v.ppe[c])); });
  return cmp;
}

// What each cell's lists concentrate on (see analysis.h): impressions, distinct items, the Gini
// coefficient of impressions over every item any cell showed, and the share of impressions on the
// control's head (its most-shown items that together make half of its impressions).
json ConcentrationJson(const std::vector<uint64_t>& counts, const std::vector<bool>& head) {
  uint64_t total = 0, on_head = 0, distinct = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    total += counts[i];
    distinct += counts[i] > 0;
    if (head[i]) on_head += counts[i];
  }
  json j = {{"impressions", total}, {"distinct_items", distinct}};
  if (total == 0 || counts.empty()) {
    j["gini"] = nullptr;
    j["head_share"] = nullptr;
    return j;
  }
  std::vector<uint64_t> sorted = counts;
  std::sort(sorted.begin(), sorted.end());
  double weighted = 0;  // sum over i (1-based) of i * x_i, ascending
  for (size_t i = 0; i < sorted.size(); ++i) weighted += static_cast<double>(i + 1) * sorted[i];
  const double n = static_cast<double>(sorted.size());
  j["gini"] = 2 * weighted / (n * static_cast<double>(total)) - (n + 1) / n;
  j["head_share"] = static_cast<double>(on_head) / static_cast<double>(total);
  return j;
}

void AddConcentration(const ExposureTable& table, json* cells) {
  const size_t nc = cells->size();
  if (nc == 0) return;
  const auto counts = table.ImpressionsPerCell(nc);
  // The control's head: its items by impressions (ties by first appearance) until half of its
  // impressions are covered.
  std::vector<uint32_t> order(table.num_items());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return counts[0][a] > counts[0][b]; });
  uint64_t control_total = 0;
  for (uint64_t x : counts[0]) control_total += x;
  std::vector<bool> head(table.num_items(), false);
  uint64_t covered = 0;
  for (uint32_t i : order) {
    if (2 * covered >= control_total || counts[0][i] == 0) break;
    head[i] = true;
    covered += counts[0][i];
  }
  for (size_t c = 0; c < nc; ++c) (*cells)[c]["concentration"] = ConcentrationJson(counts[c], head);
}

void AddAbTest(const ExperimentSpec& spec, const MemberOrder& m, const ExposureTable& table,
               json* out) {
  const size_t nc = spec.cells.size();
  const CellValues v = ValuesPerCell(nc, m.order);
  (*out)["cells"] = CellsJson(spec, v);
  AddConcentration(table, &(*out)["cells"]);
  (*out)["srm"] = SampleRatioJson(spec, v);
  const SequentialPath seq = SequentialPlaysPerMember(nc, m.order, m.looks);
  json comparisons = json::array();
  for (size_t c = 1; c < nc; ++c) comparisons.push_back(Comparison(spec, c, v, seq));
  (*out)["comparisons"] = comparisons;
}

// Interleaving: per member, the ranker whose items got more credited plays (or a tie).
struct Preferences {
  uint64_t prefer[2] = {0, 0}, ties = 0, clicks[2] = {0, 0};
};

Preferences CountPreferences(const std::vector<const Member*>& order) {
  Preferences p;
  for (const Member* m : order) {
    p.clicks[0] += m->clicks[0];
    p.clicks[1] += m->clicks[1];
    if (m->clicks[0] > m->clicks[1]) {
      ++p.prefer[0];
    } else if (m->clicks[1] > m->clicks[0]) {
      ++p.prefer[1];
    } else {
      ++p.ties;
    }
  }
  return p;
}

json BinomialJson(const ExperimentSpec& spec, const Preferences& p) {
  return Guard([&]() -> json {
    BinomialResult b = BinomialTest(p.prefer[1], p.prefer[0] + p.prefer[1], 0.5);
    return {{"wins", p.prefer[1]},
            {"decided", b.n},
            {"share", Num(b.share)},
            {"ci", {Num(b.ci_lo), Num(b.ci_hi)}},
            {"p_value", Num(b.p_value)},
            {"note", fmt::format("share of decided members preferring '{}' against 1/2",
                                 spec.cells[1].name)}};
  });
}

void AddInterleaving(const ExperimentSpec& spec, const MemberOrder& m, json* out) {
  const Preferences p = CountPreferences(m.order);
  const double nm = static_cast<double>(m.order.size());
  json rankers = json::array();
  for (int r = 0; r < 2; ++r) {
    rankers.push_back({{"name", spec.cells[r].name},
                       {"model", spec.cells[r].model},
                       {"plays", p.clicks[r]},
                       {"members_preferring", p.prefer[r]},
                       {"share_preferring", nm > 0 ? p.prefer[r] / nm : 0.0}});
  }
  (*out)["rankers"] = rankers;
  (*out)["ties"] = p.ties;
  (*out)["share_ties"] = nm > 0 ? p.ties / nm : 0.0;
  (*out)["binomial"] = BinomialJson(spec, p);
  (*out)["sequential_p_value"] = FinalPValue(SequentialPreference(m.order, m.looks), 0);
}

json Analyze(const ExperimentSpec& spec, const std::string& state, int64_t first_started_at,
             ExposureTable& table, const Attribution& attribution) {
  const MemberOrder members = OrderMembers(table.members());
  json out = Summary(spec, state, first_started_at, table, table.members().size(), attribution);
  if (spec.mode == Mode::kInterleave) {
    AddInterleaving(spec, members, &out);
  } else {
    AddAbTest(spec, members, table, &out);
  }
  return out;
}

// Per-cell counts as {"cell": n} (interleaving: one "interleaved" count, since every exposure
// shows both rankers).
json CountsJson(const ExperimentSpec& spec, const std::vector<uint64_t>& per_cell) {
  json j = json::object();
  if (spec.mode == Mode::kInterleave) {
    uint64_t n = 0;
    for (uint64_t x : per_cell) n += x;
    j["interleaved"] = n;
    return j;
  }
  for (size_t c = 0; c < spec.cells.size(); ++c) j[spec.cells[c].name] = per_cell[c];
  return j;
}

json Timeseries(const ExperimentSpec& spec, ExposureTable& table) {
  const MemberOrder members = OrderMembers(table.members());
  const std::vector<int64_t> looks = DayLooks(members.order);
  const size_t nc = spec.cells.size();
  const bool interleave = spec.mode == Mode::kInterleave;
  json out = {{"experiment", spec.name},
              {"mode", ModeName(spec.mode)},
              {"metric", interleave ? "preference" : "plays_per_member"},
              {"control", spec.cells.empty() ? "" : spec.cells[0].name}};
  out["cells"] = json::array();
  for (const Cell& c : spec.cells) out["cells"].push_back(c.name);
  // Exposures and first exposures per day and cell; every one falls between the first and the
  // last look's day (DayLooks spans them).
  const int64_t first_day = looks.empty() ? 0 : DayStart(looks.front());
  auto day_of = [&](int64_t ts) { return static_cast<size_t>((DayStart(ts) - first_day) / kDay); };
  std::vector<std::vector<uint64_t>> exposures(looks.size(), std::vector<uint64_t>(nc, 0));
  std::vector<std::vector<uint64_t>> fresh = exposures;
  table.ForEachExposure([&](int64_t ts, size_t cell) { ++exposures[day_of(ts)][cell]; });
  for (const Member* m : members.order) ++fresh[day_of(m->first_ts)][m->cell];
  const SequentialPath seq = interleave ? SequentialPreference(members.order, looks)
                                        : SequentialPlaysPerMember(nc, members.order, looks);
  const size_t tested = interleave ? 0 : 1;  // the p-value the chart shows: cell 1 vs control
  json days = json::array(), sequential = json::array();
  for (size_t k = 0; k < looks.size(); ++k) {
    const std::string day = IsoUtc(DayStart(looks[k])).substr(0, 10);
    days.push_back({{"day", day},
                    {"exposures", CountsJson(spec, exposures[k])},
                    {"new_members", CountsJson(spec, fresh[k])}});
    auto p_at = [&](size_t c) { return k < seq.p[c].size() ? Num(seq.p[c][k]) : json(nullptr); };
    json point = {{"day", day},
                  {"p_value", tested < seq.p.size() ? p_at(tested) : json(nullptr)},
                  {"users", seq.users[k]}};
    if (!interleave) {
      point["p_values"] = json::object();
      for (size_t c = 1; c < nc; ++c) point["p_values"][spec.cells[c].name] = p_at(c);
    }
    sequential.push_back(point);
  }
  out["days"] = days;
  out["sequential"] = sequential;
  for (size_t c = 0; c < seq.error.size(); ++c) {
    if (!seq.error[c].empty())
      out["sequential_errors"][interleave ? "preference" : spec.cells[c].name] = seq.error[c];
  }
  return out;
}

}  // namespace

namespace {

// Reads the experiment's exposures from the home into `table` and credits the exposed members'
// events (AnalyzeFromHome's reading; see analysis.h).
Attribution ReadFromHome(const std::string& home, const Experiment& e,
                         const AnalyzeProgress& progress, ExposureTable* table) {
  auto report = [&](std::string_view stage, uint64_t done, uint64_t total) {
    if (progress) progress(stage, done, total);
  };
  // Streams: exposures straight into the compact table, then each member's events read and
  // credited one member at a time (never all events at once).
  // The online state where the home's backends say (`state =`, $MARQUEE_STATE): the home's
  // RocksDB, or Redis, as the server that recorded the exposures and events had it
  // (state/online_state.h, the server's choice too).
  const StateBackend state = ResolveStateBackend(home, "", Env::Default());
  const bool redis = state.kind == StateBackend::Kind::kRedis;
  const std::string xdir = home + "/experiments/exposures";
  if (redis || std::filesystem::exists(xdir)) {
    ExposureLogOptions o;
    o.read_only = true;
    if (redis) o.redis = state.redis;
    auto log = ExposureLog::Open(xdir, o);
    uint64_t read = 0;
    log->ForEach(e.spec.name, [&](const Exposure& x) {
      table->Add(x);
      if (++read % 4096 == 0) report("exposures", read, 0);
      return true;
    });
    if (read >= 4096) report("exposures", read, 0);
  }
  table->Finish();
  Attribution a;
  const std::string edir = home + "/events";
  const int64_t started = e.record.first_started_at;
  if (!table->members().empty() && (redis || std::filesystem::exists(edir))) {
    EventLogOptions o;
    o.read_only = true;
    auto events = OpenEventStore(state, home, o);
    const uint64_t members = table->members().size();
    for (size_t i = 0; i < members; ++i) {
      Member& m = table->members()[i];
      for (const StoredEvent& ev : events->Recent(table->name(i), 1u << 20)) {
        bool counted = false;
        const bool credited = table->Attribute(m, ev, e.spec, started, &counted);
        a.Count(credited, counted);
      }
      if ((i + 1) % 1024 == 0) report("members", i + 1, members);
    }
    if (members >= 1024) report("members", members, members);
  }
  return a;
}

}  // namespace

json AnalyzeFromHome(const std::string& home, const Experiment& e,
                     const AnalyzeProgress& progress) {
  ExposureTable table(e.spec);
  const Attribution a = ReadFromHome(home, e, progress, &table);
  return Analyze(e.spec, std::string(ExperimentStateName(e.record.state)),
                 e.record.first_started_at, table, a);
}

json TimeseriesFromHome(const std::string& home, const Experiment& e) {
  ExposureTable table(e.spec);
  ReadFromHome(home, e, {}, &table);
  json out = Timeseries(e.spec, table);
  out["state"] = std::string(ExperimentStateName(e.record.state));
  return out;
}

std::string FormatAnalysis(const json& a) {
  std::string s;
  auto pct = [](const json& v) {
    return v.is_number() ? fmt::format("{:+.2f}%", 100 * v.get<double>()) : std::string("n/a");
  };
  auto share = [](const json& v) {
    return v.is_number() ? fmt::format("{:.2f}%", 100 * v.get<double>()) : std::string("n/a");
  };
  auto num = [](const json& v) {
    return v.is_number() ? fmt::format("{:.4g}", v.get<double>()) : std::string("n/a");
  };
  s += fmt::format("experiment {} ({}, {}): {} members, {} exposures, {} plays credited ({} not)\n",
                   a["experiment"].get<std::string>(), a["mode"].get<std::string>(),
                   a["state"].get<std::string>(), a["members"].get<uint64_t>(),
                   a["exposures"].get<uint64_t>(), a["plays_credited"].get<uint64_t>(),
                   a["plays_not_credited"].get<uint64_t>());
  s += fmt::format("attribution window: {} s\n", a["attribution_window_seconds"].get<int64_t>());
  if (a.contains("srm")) {
    const json& srm = a["srm"];
    if (srm.contains("error")) {
      s += fmt::format("sample ratio: not testable ({})\n", srm["error"].get<std::string>());
    } else if (srm["warning"].get<bool>()) {
      s += "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n";
      s += "!!! " + srm["message"].get<std::string>() + "\n";
      s += "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n";
    } else {
      s += fmt::format("sample ratio: ok (chi2 {:.3f}, p {:.3g})\n", srm["chi2"].get<double>(),
                       srm["p_value"].get<double>());
    }
  }
  if (a.contains("cells")) {
    s += fmt::format("\n{:<16} {:>8} {:>6} {:>10} {:>8} {:>14} {:>16}\n", "cell", "weight",
                     "members", "exposures", "plays", "plays/member", "plays/exposure");
    for (const auto& c : a["cells"]) {
      s += fmt::format("{:<16} {:>8.3f} {:>6} {:>10} {:>8} {:>14.4f} {:>16.4f}\n",
                       c["name"].get<std::string>(), c["weight"].get<double>(),
                       c["members"].get<uint64_t>(), c["exposures"].get<uint64_t>(),
                       c["plays"].get<uint64_t>(), c["plays_per_member"].get<double>(),
                       c["plays_per_exposure"].get<double>());
    }
    for (const auto& cmp : a["comparisons"]) {
      s += fmt::format("\n{} vs {}:\n", cmp["cell"].get<std::string>(),
                       cmp["control"].get<std::string>());
      for (const char* metric : {"plays_per_member", "plays_per_exposure"}) {
        const json& m = cmp[metric];
        if (m.contains("error")) {
          s += fmt::format("  {:<20} n/a: {}\n", metric, m["error"].get<std::string>());
          continue;
        }
        s += fmt::format("  {:<20} diff {} [{}, {}]  lift {} [{}, {}]  p {}\n", metric,
                         num(m["diff"]), num(m["diff_ci"][0]), num(m["diff_ci"][1]),
                         pct(m["rel_lift"]), pct(m["rel_ci"][0]), pct(m["rel_ci"][1]),
                         num(m["p_value"]));
        if (m.contains("cuped")) {
          const json& c = m["cuped"];
          if (c.contains("error")) {
            s += fmt::format("    CUPED n/a: {}\n", c["error"].get<std::string>());
          } else {
            s += fmt::format("    CUPED: diff {} [{}, {}]  p {}  (variance reduction {})\n",
                             num(c["diff"]), num(c["diff_ci"][0]), num(c["diff_ci"][1]),
                             num(c["p_value"]), share(c["variance_reduction"]));
          }
        }
        if (m.contains("sequential_p_value")) {
          const json& q = m["sequential_p_value"];
          s += fmt::format("    always-valid (mSPRT) p: {}\n",
                           q.is_object() ? q["error"].get<std::string>() : num(q));
        }
      }
    }
  }
  if (a.contains("rankers")) {
    s += "\n";
    for (const auto& r : a["rankers"]) {
      s += fmt::format("ranker {:<16} plays {:>8}  preferred by {:>6} members ({:.1f}%)\n",
                       r["name"].get<std::string>(), r["plays"].get<uint64_t>(),
                       r["members_preferring"].get<uint64_t>(),
                       100 * r["share_preferring"].get<double>());
    }
    s += fmt::format("ties: {} members ({:.1f}%)\n", a["ties"].get<uint64_t>(),
                     100 * a["share_ties"].get<double>());
    if (a.contains("sequential_p_value")) {
      const json& q = a["sequential_p_value"];
      s += fmt::format("always-valid (mSPRT) p of no preference: {}\n",
                       q.is_object() ? q["error"].get<std::string>() : num(q));
    }
    const json& b = a["binomial"];
    if (b.contains("error")) {
      s += fmt::format("binomial test: n/a ({})\n", b["error"].get<std::string>());
    } else {
      s += fmt::format("binomial test: {} of {} decided members prefer '{}' ({} [{}, {}]), p {}\n",
                       b["wins"].get<uint64_t>(), b["decided"].get<uint64_t>(),
                       a["rankers"][1]["name"].get<std::string>(), share(b["share"]),
                       share(b["ci"][0]), share(b["ci"][1]), num(b["p_value"]));
    }
  }
  return s;
}

}  // namespace marquee

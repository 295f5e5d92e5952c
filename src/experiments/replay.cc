#include "experiments/replay.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_set>

#include "common/log.h"
#include "common/top_k.h"
#include "data/catalog.h"
#include "data/readers.h"
#include "experiments/interleave.h"
#include "experiments/stats.h"
#include "kinds/recommender/recommender_kind.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "marquee/recommender.h"
#include "pipeline/config.h"

namespace marquee {
namespace {

// SplitMix64: platform-independent randomness for the traffic (so results match across
// standard libraries).
struct Rng {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  uint64_t Below(uint64_t n) { return Next() % n; }  // bias < n / 2^64, negligible here
  bool Coin() { return (Next() >> 63) != 0; }
};

// One held-out member as the simulator sees it.
struct Member {
  std::vector<std::string> top_a, top_b;  // top-k item ids, history excluded
  std::unordered_set<std::string> held_out;
  double plays_a = 0, plays_b = 0;  // shown items among held-out items
};

// The arrival stream: members in a random order, reshuffled for every pass.
class Stream {
 public:
  Stream(size_t members, uint64_t seed) : order_(members), rng_{seed} {
    std::iota(order_.begin(), order_.end(), 0);
    Shuffle();
  }
  size_t Next() {
    if (pos_ == order_.size()) {
      Shuffle();
      pos_ = 0;
    }
    return order_[pos_++];
  }
  Rng& rng() { return rng_; }

 private:
  void Shuffle() {
    for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng_.Below(i)]);
  }
  std::vector<size_t> order_;
  Rng rng_;
  size_t pos_ = 0;
};

// Interleaving outcome of one arrival: +1 B preferred, -1 A preferred, 0 tie.
int InterleavePreference(const Member& m, uint32_t k, uint64_t seed) {
  const Interleaved list = TeamDraft(m.top_a, m.top_b, k, seed);
  std::vector<size_t> clicks;
  for (size_t i = 0; i < list.items.size(); ++i) {
    if (m.held_out.contains(list.items[i])) clicks.push_back(i);
  }
  const Credit c = AssignCredit(list, clicks);
  return c.winner == Preference::kB ? 1 : c.winner == Preference::kA ? -1 : 0;
}

Dataset LoadData(const ReplayConfig& c, Env* env) {
  if (!c.dataset.empty() && !c.data_file.empty()) {
    Fail(ErrorCode::kInvalidArgument, "give either a dataset name or a data file, not both");
  }
  if (!c.dataset.empty()) return DatasetCatalog(c.home, env).Open(c.dataset);
  if (c.data_file.empty()) Fail(ErrorCode::kInvalidArgument, "no dataset or data file given");
  ReadResult rr = ReadInteractions(c.data_file, ReadOptions{}, env);
  Dataset ds = Dataset::FromRows(rr.rows, rr.has_values, rr.has_times, c.data_file);
  ds.mutable_info().source = c.data_file;
  return ds;
}

// Trains `spec` on `train` and writes each eval member's top-k item ids into `tops`.
void RankMembers(const RankerSpec& spec, const CsrMatrix& train, const EvalSet& eval,
                 const std::vector<std::string>& item_ids, uint32_t k, const Context& ctx,
                 std::vector<std::vector<std::string>>& tops) {
  auto model = CreateRecommender(spec.family, spec.params);
  Context c = ctx;
  if (spec.seed != 0) c.seed = spec.seed;
  model->Fit(train, c);
  const uint32_t items = model->num_items();
  tops.assign(eval.input.rows, {});
  constexpr uint32_t kBatch = 256;
  std::vector<float> scores;
  std::vector<uint32_t> top;
  for (uint32_t start = 0; start < eval.input.rows; start += kBatch) {
    const uint32_t end = std::min(eval.input.rows, start + kBatch);
    std::vector<uint32_t> rows(end - start);
    std::iota(rows.begin(), rows.end(), start);
    const CsrMatrix batch = eval.input.SelectRows(rows).Binarized();
    scores.assign(static_cast<size_t>(batch.rows) * items, 0.0f);
    model->ScoreBatch(batch, scores, c);
    for (uint32_t r = 0; r < batch.rows; ++r) {
      std::span<const float> row(scores.data() + static_cast<size_t>(r) * items, items);
      std::vector<uint32_t> hist(batch.row_indices(r).begin(), batch.row_indices(r).end());
      std::sort(hist.begin(), hist.end());
      TopK(row, hist, k, top);  // the ranking serving and evaluation use (NaN last)
      for (uint32_t i : top) tops[start + r].push_back(item_ids[i]);
    }
  }
}

struct SeedResult {
  uint64_t ab_members = 0, il_members = 0;  // 0: not reached
  double ab_p = 1, il_p = 1;
  double ab_diff = 0;       // mean plays B - A at the stop
  double il_share_b = 0.5;  // share of non-tied members preferring B at the stop
};

SeedResult RunSeed(const std::vector<Member>& members, const ReplayConfig& c, uint64_t seed) {
  SeedResult r;
  SequentialTest::Options ab_opts;
  ab_opts.tau2_relative_sd = c.tau_sd;
  SequentialTest ab(ab_opts);
  SequentialTest::Options il_opts = ab_opts;
  il_opts.one_sample = true;
  SequentialTest il(il_opts);
  Stream stream(members.size(), seed);
  uint64_t wins_b = 0, prefs = 0;
  for (uint64_t n = 1; n <= c.max_members && (r.ab_members == 0 || r.il_members == 0); ++n) {
    const Member& m = members[stream.Next()];
    const uint64_t flips = stream.rng().Next();
    if (r.ab_members == 0) {
      const int cell = (flips >> 63) != 0 ? 1 : 0;
      ab.Add(cell, cell == 0 ? m.plays_a : m.plays_b);
      if (ab.Peek() < c.alpha) {
        r.ab_members = n;
        r.ab_p = ab.p_value();
        r.ab_diff = ab.cell(1).mean - ab.cell(0).mean;
      }
    }
    if (r.il_members == 0) {
      const int pref = InterleavePreference(m, c.k, flips);
      if (pref != 0) {
        il.Add(0, pref);
        ++prefs;
        wins_b += pref > 0;
        if (il.Peek() < c.alpha) {
          r.il_members = n;
          r.il_p = il.p_value();
          r.il_share_b = static_cast<double>(wins_b) / static_cast<double>(prefs);
        }
      }
    }
  }
  if (r.ab_members == 0) {
    r.ab_p = ab.p_value();
    r.ab_diff = ab.cell(1).mean - ab.cell(0).mean;
  }
  if (r.il_members == 0) {
    r.il_p = il.p_value();
    r.il_share_b = prefs == 0 ? 0.5 : static_cast<double>(wins_b) / static_cast<double>(prefs);
  }
  return r;
}

// Fixed-horizon power at `horizon` arrivals over `reps` replays: {A/B power, interleaving power}.
std::pair<double, double> FixedHorizonPower(const std::vector<Member>& members,
                                            const ReplayConfig& c, uint64_t horizon,
                                            uint64_t seed) {
  uint32_t ab_hits = 0, il_hits = 0;
  std::vector<double> cells[2];
  for (uint32_t rep = 0; rep < c.power_reps; ++rep) {
    Stream stream(members.size(), seed * 1000003ULL + rep);
    cells[0].clear();
    cells[1].clear();
    uint64_t wins_b = 0, prefs = 0;
    for (uint64_t n = 0; n < horizon; ++n) {
      const Member& m = members[stream.Next()];
      const uint64_t flips = stream.rng().Next();
      const int cell = (flips >> 63) != 0 ? 1 : 0;
      cells[cell].push_back(cell == 0 ? m.plays_a : m.plays_b);
      const int pref = InterleavePreference(m, c.k, flips);
      if (pref != 0) {
        ++prefs;
        wins_b += pref > 0;
      }
    }
    try {
      ab_hits += Welch(cells[0], cells[1], c.alpha).p_value < c.alpha;
    } catch (const Error&) {
      // Fewer than 2 members in a cell or no variance at all: no decision at this horizon.
    }
    if (prefs > 0) il_hits += BinomialTest(wins_b, prefs).p_value < c.alpha;
  }
  return {ab_hits / static_cast<double>(c.power_reps), il_hits / static_cast<double>(c.power_reps)};
}

bool IsFamily(const std::string& name) {
  const auto families = RecommenderFamilies();
  return std::find(families.begin(), families.end(), name) != families.end();
}

nlohmann::json Summary(const std::vector<double>& v) {
  if (v.empty()) return nullptr;
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  return {{"mean", mean},
          {"min", *std::min_element(v.begin(), v.end())},
          {"max", *std::max_element(v.begin(), v.end())},
          {"n", v.size()}};
}

}  // namespace

RankerSpec ParseRankerSpec(const std::string& arg, const RankerRefResolver& resolver) {
  if (arg.empty()) Fail(ErrorCode::kInvalidArgument, "empty ranker: give a config file or family");
  RankerSpec spec;
  spec.label = arg;
  if (Env::Default()->FileExists(arg)) {
    const TrainConfig tc = LoadTrainConfig(arg, {});
    const auto* rc = dynamic_cast<const RecommenderConfig*>(tc.settings.get());
    if (rc == nullptr) {
      Fail(ErrorCode::kInvalidArgument, "{}: [model] family = \"{}\" is not a ranker", arg,
           tc.family);
    }
    spec.family = rc->family;
    spec.params = rc->model_params;
    spec.seed = rc->model_seed;
  } else if (resolver && arg.find(':') == std::string::npos &&
             (arg.find('@') != std::string::npos || arg.find('/') != std::string::npos ||
              !IsFamily(arg))) {
    std::optional<RankerSpec> found = resolver(arg);
    if (!found) {
      Fail(ErrorCode::kInvalidArgument,
           "ranker '{}' is neither a config file, a recommender family (one of {}) nor a model "
           "in the registry",
           arg, fmt::join(RecommenderFamilies(), ", "));
    }
    spec.family = found->family;
    spec.params = found->params;
    spec.seed = found->seed;
  } else {
    const size_t colon = arg.find(':');
    spec.family = arg.substr(0, colon);
    if (colon != std::string::npos) {
      std::string rest = arg.substr(colon + 1);
      size_t start = 0;
      while (start <= rest.size()) {
        size_t end = rest.find(',', start);
        if (end == std::string::npos) end = rest.size();
        const std::string kv = rest.substr(start, end - start);
        const size_t eq = kv.find('=');
        if (eq == std::string::npos || eq == 0) {
          Fail(ErrorCode::kInvalidArgument, "ranker {}: parameter '{}' is not key=value", arg, kv);
        }
        const std::string key = kv.substr(0, eq), value = kv.substr(eq + 1);
        nlohmann::json parsed = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
        spec.params[key] = parsed.is_discarded() ? nlohmann::json(value) : parsed;
        start = end + 1;
      }
    }
    if (!IsFamily(spec.family)) {
      const auto families = RecommenderFamilies();
      Fail(ErrorCode::kInvalidArgument,
           "ranker '{}' is neither a config file nor a recommender family (one of {})", arg,
           fmt::join(families, ", "));
    }
  }
  CreateRecommender(spec.family, spec.params);  // validates the params now, naming a bad key
  return spec;
}

nlohmann::json RunReplaySimulation(const ReplayConfig& c, const RankerSpec& a, const RankerSpec& b,
                                   const Context& ctx_in) {
  if (c.k == 0) Fail(ErrorCode::kInvalidArgument, "k must be at least 1");
  if (c.seeds == 0) Fail(ErrorCode::kInvalidArgument, "seeds must be at least 1");
  if (!(c.alpha > 0.0 && c.alpha < 1.0)) Fail(ErrorCode::kInvalidArgument, "alpha not in (0, 1)");
  if (!(c.tau_sd > 0.0)) Fail(ErrorCode::kInvalidArgument, "tau-sd must be positive");
  if (c.max_members < 20) Fail(ErrorCode::kInvalidArgument, "max-members must be at least 20");
  Context ctx = ctx_in;
  Env* env = ctx.env != nullptr ? ctx.env : Env::Default();
  ctx.env = env;
  if (ctx.threads <= 0) ctx.threads = Context::DefaultThreads();

  Stopwatch sw;
  const Dataset ds = LoadData(c, env);
  SplitConfig sc = c.split;
  sc.protocol = "strong-generalization";
  if (sc.test_users == 0) sc.test_users = ds.num_users() / 2;
  const Split split = MakeSplit(ds, c.positive_threshold, sc);
  if (split.eval.input.rows < 2) {
    Fail(ErrorCode::kInvalidArgument, "the split left {} held-out members; at least 2 are needed",
         split.eval.input.rows);
  }
  std::vector<std::string> item_ids;
  item_ids.reserve(ds.num_items());
  for (uint32_t i = 0; i < ds.num_items(); ++i) item_ids.emplace_back(ds.item_id(i));
  const CsrMatrix train = split.train.Binarized();
  std::vector<std::vector<std::string>> tops_a, tops_b;
  Context mctx = ctx;
  mctx.seed = sc.seed;
  ctx.Report("train A", 0.0);
  RankMembers(a, train, split.eval, item_ids, c.k, mctx, tops_a);
  ctx.Report("train B", 0.5);
  RankMembers(b, train, split.eval, item_ids, c.k, mctx, tops_b);
  const double train_seconds = sw.Seconds();

  std::vector<Member> members(split.eval.input.rows);
  double plays_a = 0, plays_b = 0;
  for (uint32_t m = 0; m < members.size(); ++m) {
    Member& mem = members[m];
    mem.top_a = std::move(tops_a[m]);
    mem.top_b = std::move(tops_b[m]);
    for (uint32_t i : split.eval.target.row_indices(m)) mem.held_out.insert(item_ids[i]);
    for (const auto& it : mem.top_a) mem.plays_a += mem.held_out.contains(it);
    for (const auto& it : mem.top_b) mem.plays_b += mem.held_out.contains(it);
    plays_a += mem.plays_a;
    plays_b += mem.plays_b;
  }
  const double nm = static_cast<double>(members.size());

  sw = Stopwatch();
  nlohmann::json per_seed = nlohmann::json::array();
  std::vector<double> ab_needed, il_needed, ratios;
  uint32_t ab_detected = 0, il_detected = 0, ab_right = 0, il_right = 0;
  const bool b_better = plays_b > plays_a;
  for (uint32_t s = 0; s < c.seeds; ++s) {
    const SeedResult r = RunSeed(members, c, c.seed + s);
    nlohmann::json row = {
        {"seed", c.seed + s},
        {"ab_members", r.ab_members == 0 ? nlohmann::json(nullptr) : nlohmann::json(r.ab_members)},
        {"ab_p_value", r.ab_p},
        {"ab_diff", r.ab_diff},
        {"interleave_members",
         r.il_members == 0 ? nlohmann::json(nullptr) : nlohmann::json(r.il_members)},
        {"interleave_p_value", r.il_p},
        {"interleave_share_b", r.il_share_b}};
    if (r.ab_members > 0) {
      ++ab_detected;
      ab_right += (r.ab_diff > 0) == b_better;
      ab_needed.push_back(static_cast<double>(r.ab_members));
    }
    if (r.il_members > 0) {
      ++il_detected;
      il_right += (r.il_share_b > 0.5) == b_better;
      il_needed.push_back(static_cast<double>(r.il_members));
    }
    if (r.ab_members > 0 && r.il_members > 0) {
      const double ratio = static_cast<double>(r.ab_members) / static_cast<double>(r.il_members);
      row["ratio"] = ratio;
      ratios.push_back(ratio);
    } else {
      row["ratio"] = nullptr;
    }
    per_seed.push_back(row);
    ctx.Report("simulate", 0.5 + 0.3 * (s + 1) / c.seeds);
  }

  // Fixed-horizon power on a grid 10, 12, 14, ..., growing by about 1/8 per step (so the
  // members for 80% power are known to within about 12%) up to max_members.
  nlohmann::json power = nlohmann::json::array();
  nlohmann::json ab_n80 = nullptr, il_n80 = nullptr;
  if (c.power_reps > 0) {
    for (uint64_t h = 10; h <= c.max_members; h += std::max<uint64_t>(2, h / 8)) {
      const auto [pab, pil] = FixedHorizonPower(members, c, h, c.seed + 7919);
      power.push_back({{"members", h}, {"ab_power", pab}, {"interleave_power", pil}});
      if (ab_n80.is_null() && pab >= 0.8) ab_n80 = h;
      if (il_n80.is_null() && pil >= 0.8) il_n80 = h;
      if (!ab_n80.is_null() && !il_n80.is_null()) break;
    }
  }
  const double sim_seconds = sw.Seconds();
  ctx.Report("simulate", 1.0);

  auto ranker_json = [](const RankerSpec& r, double plays, double n, uint32_t k) {
    return nlohmann::json{{"spec", r.label},
                          {"family", r.family},
                          {"params", r.params},
                          {"plays_per_member", plays / n},
                          {"precision_at_k", plays / n / k}};
  };
  return {
      {"dataset",
       {{"name", ds.info().name},
        {"source", ds.info().source},
        {"users", ds.num_users()},
        {"items", ds.num_items()},
        {"interactions", ds.num_interactions()}}},
      {"split", split.details},
      {"held_out_members", members.size()},
      {"k", c.k},
      {"alpha", c.alpha},
      {"sequential",
       {{"test", "mSPRT (normal mixture), p-value checked after every member"},
        {"tau_sd", c.tau_sd},
        {"max_members", c.max_members}}},
      {"a", ranker_json(a, plays_a, nm, c.k)},
      {"b", ranker_json(b, plays_b, nm, c.k)},
      {"better", b_better ? "b" : (plays_a > plays_b ? "a" : "tie")},
      {"seeds", per_seed},
      {"ab",
       {{"detected", ab_detected}, {"right_direction", ab_right}, {"members", Summary(ab_needed)}}},
      {"interleave",
       {{"detected", il_detected}, {"right_direction", il_right}, {"members", Summary(il_needed)}}},
      {"ratio_ab_over_interleave", Summary(ratios)},
      {"fixed_horizon",
       {{"reps", c.power_reps},
        {"grid", power},
        {"ab_members_for_80pct_power", ab_n80},
        {"interleave_members_for_80pct_power", il_n80},
        {"ratio_at_80pct_power",
         ab_n80.is_null() || il_n80.is_null()
             ? nlohmann::json(nullptr)
             : nlohmann::json(ab_n80.get<double>() / il_n80.get<double>())}}},
      {"timings", {{"train_and_rank", train_seconds}, {"simulate", sim_seconds}}}};
}

std::string FormatReplayReport(const nlohmann::json& r) {
  std::string out;
  const auto& d = r["dataset"];
  std::string name = d["name"].get<std::string>();
  if (name.empty()) name = d["source"].get<std::string>();
  out += fmt::format("Replay simulation on {} ({} held-out members as traffic, top-{})\n", name,
                     r["held_out_members"].get<uint64_t>(), r["k"].get<uint32_t>());
  for (const char* which : {"a", "b"}) {
    const auto& x = r[which];
    out += fmt::format("  {} = {:<30} plays/member {:.3f} (precision@k {:.4f})\n",
                       which[0] == 'a' ? "A" : "B", x["spec"].get<std::string>(),
                       x["plays_per_member"].get<double>(), x["precision_at_k"].get<double>());
  }
  out += fmt::format(
      "\nSequential (mSPRT, tau = {} sd, alpha {}): members until p < alpha, per seed\n",
      r["sequential"]["tau_sd"].get<double>(), r["alpha"].get<double>());
  out += fmt::format("  {:>6} {:>12} {:>14} {:>8}\n", "seed", "A/B", "interleaving", "ratio");
  auto cell = [](const nlohmann::json& v) {
    return v.is_null() ? std::string("not reached") : fmt::format("{}", v.get<uint64_t>());
  };
  for (const auto& s : r["seeds"]) {
    out +=
        fmt::format("  {:>6} {:>12} {:>14} {:>8}\n", s["seed"].get<uint64_t>(),
                    cell(s["ab_members"]), cell(s["interleave_members"]),
                    s["ratio"].is_null() ? "-" : fmt::format("{:.2f}", s["ratio"].get<double>()));
  }
  const auto& ratio = r["ratio_ab_over_interleave"];
  if (!ratio.is_null()) {
    out += fmt::format("  ratio A/B over interleaving: mean {:.2f}, min {:.2f}, max {:.2f}\n",
                       ratio["mean"].get<double>(), ratio["min"].get<double>(),
                       ratio["max"].get<double>());
  }
  out += fmt::format("  detected: A/B {}/{} seeds, interleaving {}/{} (right direction {} / {})\n",
                     r["ab"]["detected"].get<uint32_t>(), r["seeds"].size(),
                     r["interleave"]["detected"].get<uint32_t>(), r["seeds"].size(),
                     r["ab"]["right_direction"].get<uint32_t>(),
                     r["interleave"]["right_direction"].get<uint32_t>());
  const auto& fh = r["fixed_horizon"];
  if (!fh["grid"].empty()) {
    out += fmt::format("\nFixed horizon (Welch / binomial, {} replays per horizon): power\n",
                       fh["reps"].get<uint32_t>());
    out += fmt::format("  {:>8} {:>8} {:>14}\n", "members", "A/B", "interleaving");
    for (const auto& g : fh["grid"]) {
      out += fmt::format("  {:>8} {:>8.2f} {:>14.2f}\n", g["members"].get<uint64_t>(),
                         g["ab_power"].get<double>(), g["interleave_power"].get<double>());
    }
    auto n80 = [](const nlohmann::json& v) {
      return v.is_null() ? std::string("beyond the grid") : fmt::format("{}", v.get<uint64_t>());
    };
    out += fmt::format("  members for 80% power: A/B {}, interleaving {}",
                       n80(fh["ab_members_for_80pct_power"]),
                       n80(fh["interleave_members_for_80pct_power"]));
    out += fh["ratio_at_80pct_power"].is_null()
               ? std::string("\n")
               : fmt::format(" (ratio {:.2f})\n", fh["ratio_at_80pct_power"].get<double>());
  }
  return out;
}

}  // namespace marquee

// The shadow log (records, their encoding, scans by model and time), the online metrics of a
// candidate against production on the same requests, and the canary's verdicts and experiment
// definition (issue #17).
#include <gtest/gtest.h>

#include <map>

#include "experiments/analysis.h"
#include "experiments/canary.h"
#include "experiments/experiment.h"
#include "experiments/shadow_log.h"
#include "marquee/error.h"
#include "test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;

ShadowRecord Rec(const std::string& user, int64_t ts, std::vector<std::string> p,
                 std::vector<std::string> c, uint32_t k = 2, int64_t cv = 2) {
  ShadowRecord r;
  r.model = "m";
  r.production_version = 1;
  r.candidate_version = cv;
  r.user = user;
  r.ts = ts;
  r.k = k;
  r.production = std::move(p);
  r.candidate = std::move(c);
  return r;
}

StoredEvent Play(const std::string& user, const std::string& item, int64_t ts,
                 std::string type = "play", float value = 1) {
  StoredEvent e;
  e.user = user;
  e.item = item;
  e.ts = ts;
  e.type = std::move(type);
  e.value = value;
  return e;
}

TEST(ShadowRecordTest, EncodesAndDecodesEveryField) {
  const ShadowRecord r = Rec("u\xc3\xa9", 1700000000, {"a", "b"}, {"b", "c"}, 7, 9);
  ShadowRecord back;
  ASSERT_TRUE(DecodeShadowRecord(EncodeShadowRecord(r), back));
  EXPECT_EQ(back.model, "m");
  EXPECT_EQ(back.user, r.user);
  EXPECT_EQ(back.ts, r.ts);
  EXPECT_EQ(back.k, 7u);
  EXPECT_EQ(back.production_version, 1);
  EXPECT_EQ(back.candidate_version, 9);
  EXPECT_EQ(back.production, r.production);
  EXPECT_EQ(back.candidate, r.candidate);
  for (const char* bad : {"", "{", "[]", R"({"m":"m"})",
                          R"({"m":"m","u":"u","pv":1,"cv":2,"ts":3,"k":-1,"p":[],"c":[]})",
                          R"({"m":"m","u":"u","pv":1,"cv":2,"ts":3,"k":1,"p":[1],"c":[]})"}) {
    EXPECT_FALSE(DecodeShadowRecord(bad, back)) << bad;
  }
}

TEST(ShadowLogTest, RecordsAreDurableAndScanByModelAndTime) {
  marquee::testing::TempDir dir;
  const std::string path = dir.file("shadow");
  {
    auto log = ShadowLog::Open(path);
    for (int64_t t : {30, 10, 20})
      EXPECT_TRUE(log->Record(Rec("u" + std::to_string(t), t, {}, {})));
    ShadowRecord other = Rec("x", 15, {"a"}, {"b"});
    other.model = "m2";
    EXPECT_TRUE(log->Record(other));
    log->Flush();
    EXPECT_EQ(log->recorded(), 4u);
    EXPECT_EQ(log->dropped(), 0u);
  }
  auto ro = ShadowLog::Open(path, ShadowLogOptions{.read_only = true});
  std::vector<int64_t> ts;
  ro->ForEach("m", 0, 1000, [&](const ShadowRecord& r) {
    ts.push_back(r.ts);
    return true;
  });
  EXPECT_EQ(ts, (std::vector<int64_t>{10, 20, 30}));
  ts.clear();
  ro->ForEach("m", 15, 30, [&](const ShadowRecord& r) {
    ts.push_back(r.ts);
    return true;
  });
  EXPECT_EQ(ts, (std::vector<int64_t>{20}));
  EXPECT_THROW(ro->Record(Rec("u", 1, {}, {})), Error);
}

TEST(ShadowLogTest, DropsAndCountsBeyondThePendingBound) {
  marquee::testing::TempDir dir;
  auto log = ShadowLog::Open(dir.file("shadow"), ShadowLogOptions{.max_pending = 0});
  EXPECT_FALSE(log->Record(Rec("u", 1, {}, {})));
  EXPECT_EQ(log->dropped(), 1u);
}

TEST(ShadowMetricsTest, AgreementAndRecallOnKnownLists) {
  // r1: P = {a, b}, C = {b, c}: overlap 1/2, Jaccard 1/3. u1 then plays c (and a, outside the
  // window): production recall 0, candidate 1.
  // r2: P = C = {a, b}: overlap 1, Jaccard 1. u2 plays a and d: recall 1/2 for both.
  // r3: no plays afterwards: not in the recall.
  std::vector<ShadowRecord> rs = {Rec("u1", 100, {"a", "b"}, {"b", "c"}),
                                  Rec("u2", 100, {"a", "b"}, {"a", "b"}),
                                  Rec("u3", 100, {"a"}, {"z"})};
  std::map<std::string, std::vector<StoredEvent>> ev = {
      {"u1", {Play("u1", "c", 150), Play("u1", "a", 100 + 7200), Play("u1", "b", 50)}},
      {"u2", {Play("u2", "a", 101), Play("u2", "d", 102), Play("u2", "b", 103, "view", 0)}},
  };
  ShadowMetricsOptions o;
  o.window = 3600;
  const json m = ShadowMetrics(
      rs, [&](const std::string& u) { return ev[u]; }, o);
  EXPECT_EQ(m["requests"], 3);
  EXPECT_EQ(m["members"], 3);
  // overlaps 1/2, 1, 0 (k = 2); Jaccard 1/3, 1, 0.
  EXPECT_NEAR(m["agreement"]["overlap_mean"].get<double>(), 0.5, 1e-12);
  EXPECT_NEAR(m["agreement"]["jaccard_mean"].get<double>(), (1.0 / 3 + 1) / 3, 1e-12);
  EXPECT_EQ(m["agreement"]["jaccard_histogram"], json({1, 0, 0, 1, 0, 0, 0, 0, 0, 1}));
  EXPECT_EQ(m["recall"]["requests_with_plays"], 2);
  EXPECT_EQ(m["recall"]["plays"], 3);
  EXPECT_NEAR(m["recall"]["production"].get<double>(), (0 + 0.5) / 2, 1e-12);
  EXPECT_NEAR(m["recall"]["candidate"].get<double>(), (1 + 0.5) / 2, 1e-12);
  EXPECT_NEAR(m["recall"]["difference"].get<double>(), 0.5, 1e-12);

  // Only "view" events count: u2's "view" has value 0, so nothing is a play.
  o.event_types = {"view"};
  const json none = ShadowMetrics(
      rs, [&](const std::string& u) { return ev[u]; }, o);
  EXPECT_EQ(none["recall"]["requests_with_plays"], 0);
  EXPECT_TRUE(none["recall"]["candidate"].is_null());

  // Filters: another candidate version, and a time range.
  o = {};
  o.candidate_version = 3;
  EXPECT_EQ(ShadowMetrics(
                rs, [&](const std::string& u) { return ev[u]; }, o)["requests"],
            0);
  o = {};
  o.since = 101;
  const json later = ShadowMetrics(
      rs, [&](const std::string& u) { return ev[u]; }, o);
  EXPECT_EQ(later["requests"], 0);
  EXPECT_TRUE(later["agreement"]["jaccard_mean"].is_null());
}

json Analysis(int64_t members_c, int64_t members_t, double ppm_c, double ppm_t, double rel_lift,
              double p) {
  return json{{"cells",
               {{{"name", "production"}, {"members", members_c}, {"plays_per_member", ppm_c}},
                {{"name", "candidate"}, {"members", members_t}, {"plays_per_member", ppm_t}}}},
              {"comparisons",
               {{{"cell", "candidate"},
                 {"plays_per_member", {{"rel_lift", rel_lift}, {"sequential_p_value", p}}}}}}};
}

TEST(CanaryTest, JudgeStopsOnASignificantDropPassesOnEnoughMembersAndWaitsOtherwise) {
  CanaryOptions o;
  o.min_members = 50;
  o.max_drop = 0.1;
  o.alpha = 0.05;
  std::string why;
  // Significantly worse beyond the limit: fail at once, even before min_members.
  EXPECT_EQ(JudgeCanary(Analysis(20, 10, 2.0, 0.5, -0.75, 0.001), o, &why), -1);
  EXPECT_NE(why.find("guardrail failed"), std::string::npos) << why;
  // Worse beyond the limit but not significant: keep going, even with enough members.
  EXPECT_EQ(JudgeCanary(Analysis(60, 60, 2.0, 1.5, -0.25, 0.2), o, &why), 0);
  // Significant but within the limit, enough members: pass.
  EXPECT_EQ(JudgeCanary(Analysis(60, 60, 2.0, 1.9, -0.05, 0.01), o, &why), 1);
  EXPECT_NE(why.find("passed"), std::string::npos) << why;
  // Not enough members in the candidate cell yet.
  EXPECT_EQ(JudgeCanary(Analysis(60, 49, 2.0, 2.1, 0.05, 0.5), o, &why), 0);
  // No analysis (no exposures yet).
  EXPECT_EQ(JudgeCanary(json::object(), o, &why), 0);
}

TEST(CanaryTest, ExperimentDefinitionHasProductionAndCandidateCells) {
  CanaryOptions o;
  o.model = "recs";
  o.candidate = 4;
  o.share = 0.25;
  o.attribution_window = 600;
  o.event_types = {"play"};
  const ExperimentSpec spec =
      ParseExperimentToml(CanaryExperimentToml(o, "canary-recs-v4"), "canary");
  EXPECT_EQ(spec.name, "canary-recs-v4");
  ASSERT_EQ(spec.cells.size(), 2u);
  EXPECT_EQ(spec.cells[0].name, "production");
  EXPECT_EQ(spec.cells[0].model, "recs@production");
  EXPECT_NEAR(spec.cells[0].weight, 0.75, 1e-12);
  EXPECT_EQ(spec.cells[1].model, "recs/4");
  EXPECT_NEAR(spec.cells[1].weight, 0.25, 1e-12);
  EXPECT_EQ(spec.attribution_window, 600);
  EXPECT_EQ(spec.event_types, std::vector<std::string>{"play"});
  o.share = 1.0;
  EXPECT_THROW(CanaryExperimentToml(o, "x"), Error);
  o.share = 0.1;
  o.candidate = 0;
  EXPECT_THROW(CanaryExperimentToml(o, "x"), Error);
  o.candidate = 4;
  o.max_head_share_change = 1.5;
  EXPECT_THROW(CanaryExperimentToml(o, "x"), Error);
}

// A canary experiment's analysis where production shows items p0..p10 (p0..p2 in every list, two
// of p3..p10 in turn: 30 times each) and the candidate shows `candidate_items` to every member;
// 60 members per cell, each with two exposures.
json ConcentrationAnalysis(const std::vector<std::string>& candidate_items) {
  CanaryOptions o;
  o.model = "recs";
  o.candidate = 2;
  o.share = 0.5;
  AnalysisInput in;
  in.spec = ParseExperimentToml(CanaryExperimentToml(o, "c"), "canary");
  for (int u = 0; u < 120; ++u) {
    for (int k = 0; k < 2; ++k) {
      Exposure e;
      e.experiment = "c";
      e.user = "u" + std::to_string(u);
      e.ts = 1000 + u * 10 + k;
      if (u % 2 == 0) {
        e.cell = "production";
        const int j = u + k;  // 0..119 over production's exposures
        e.items = {"p0", "p1", "p2", "p" + std::to_string(3 + (2 * j) % 8),
                   "p" + std::to_string(3 + (2 * j + 1) % 8)};
      } else {
        e.cell = "candidate";
        e.items = candidate_items;
      }
      in.exposures.push_back(e);
    }
  }
  return AnalyzeExperiment(in);
}

TEST(CanaryTest, AnalysisMeasuresConcentrationAgainstProductionsHead) {
  // Production: 120 exposures x 5 items; p0..p2 take 360 of 600 impressions, so its head is
  // p0 and p1 (240 of 600 < half) plus p2 (360 >= 300): head share 0.6.
  const json same = ConcentrationAnalysis({"p0", "p1", "p2", "p3", "p4"});
  const json& prod = same["cells"][0]["concentration"];
  EXPECT_EQ(prod["impressions"], 600);
  EXPECT_EQ(prod["distinct_items"], 11);
  EXPECT_NEAR(prod["head_share"].get<double>(), 0.6, 1e-12);
  // Its Gini over the 11 items either cell showed: 8 at 30, 3 at 120 (ascending positions
  // 1..8 and 9..11): 2 * (30 * 36 + 120 * 30) / (11 * 600) - 12 / 11.
  EXPECT_NEAR(prod["gini"].get<double>(), 2.0 * (30 * 36 + 120 * 30) / (11 * 600) - 12.0 / 11,
              1e-12);
  // A candidate showing production's head and two more: 3 of its 5 items on the head.
  EXPECT_NEAR(same["cells"][1]["concentration"]["head_share"].get<double>(), 0.6, 1e-12);
  // Popular only: its impressions all on the head; long tail only (items production never
  // showed): none, and the Gini over the 15 items shown by either cell is higher than
  // production's.
  const json popular = ConcentrationAnalysis({"p0", "p1", "p2"});
  EXPECT_NEAR(popular["cells"][1]["concentration"]["head_share"].get<double>(), 1.0, 1e-12);
  const json tail = ConcentrationAnalysis({"t0", "t1", "t2", "t3", "t4"});
  const json& tc = tail["cells"][1]["concentration"];
  EXPECT_EQ(tc["head_share"].get<double>(), 0.0);
  EXPECT_EQ(tc["distinct_items"], 5);
  // Over the 16 items: the candidate's 5 at 120 after 11 zeros, 0.6875; production's 0.5375.
  EXPECT_NEAR(tc["gini"].get<double>(), 0.6875, 1e-12);
  EXPECT_NEAR(tail["cells"][0]["concentration"]["gini"].get<double>(), 0.5375, 1e-12);
}

TEST(CanaryTest, ConcentrationGuardrailFailsAPopularOrLongTailCandidateOnlyWhenOn) {
  CanaryOptions o;
  o.min_members = 50;  // both cells have 60: the plays guardrail alone would pass
  std::string why;
  const json popular = ConcentrationAnalysis({"p0", "p1", "p2"});
  const json tail = ConcentrationAnalysis({"t0", "t1", "t2", "t3", "t4"});
  const json same = ConcentrationAnalysis({"p0", "p1", "p2", "p3", "p4"});
  // Off (the default): no play was credited in either cell, so both pass on members.
  EXPECT_EQ(JudgeCanary(popular, o, &why), 1) << why;
  EXPECT_EQ(JudgeCanary(tail, o, &why), 1) << why;
  o.max_head_share_change = 0.25;
  EXPECT_EQ(JudgeCanary(popular, o, &why), -1);
  EXPECT_NE(why.find("guardrail failed: concentration"), std::string::npos) << why;
  EXPECT_NE(why.find("head share 1.000 against production's 0.600"), std::string::npos) << why;
  EXPECT_EQ(JudgeCanary(tail, o, &why), -1);
  EXPECT_NE(why.find("head share 0.000 against production's 0.600 (-0.600"), std::string::npos)
      << why;
  EXPECT_EQ(JudgeCanary(same, o, &why), 1) << why;
  EXPECT_NE(why.find("head share 0.600 / 0.600"), std::string::npos) << why;
  // Not judged before kConcentrationMinExposures exposures per cell, and no pass meanwhile.
  json early = tail;
  early["cells"][1]["exposures"] = kConcentrationMinExposures - 1;
  EXPECT_EQ(JudgeCanary(early, o, &why), 0);
  EXPECT_NE(why.find("waiting for 50 exposures"), std::string::npos) << why;
}

}  // namespace
}  // namespace marquee

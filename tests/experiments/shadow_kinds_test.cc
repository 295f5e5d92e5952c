// Shadow records of bandit policies and tabular models (issue #17): the log format of every kind
// (version 2; a version-1 value still decodes as a recommender record), and the online metrics
// of bandit and tabular candidates against hand computations on small fixed logs.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <optional>

#include "experiments/shadow_log.h"
#include "test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;

ShadowRecord Decision(const std::string& id, std::vector<double> pp, uint32_t chosen,
                      std::vector<double> cp, uint32_t greedy, int64_t ts = 100) {
  ShadowRecord r;
  r.kind = ShadowKind::kBandit;
  r.model = "artwork";
  r.production_version = 1;
  r.candidate_version = 2;
  r.user = "u" + id;
  r.ts = ts;
  r.decision_id = id;
  r.actions = {"a", "b"};
  r.production_probabilities = std::move(pp);
  r.chosen = chosen;
  r.candidate_probabilities = std::move(cp);
  r.candidate_greedy = greedy;
  return r;
}

ShadowRecord Scores(std::vector<double> p, std::vector<double> c, uint32_t width = 1,
                    uint64_t rows = 0) {
  ShadowRecord r;
  r.kind = ShadowKind::kTabular;
  r.model = "retry";
  r.production_version = 1;
  r.candidate_version = 2;
  r.ts = 100;
  r.width = width;
  r.rows = rows != 0 ? rows : p.size() / width;
  r.production_scores = std::move(p);
  r.candidate_scores = std::move(c);
  return r;
}

TEST(ShadowRecordKinds, AVersionOneValueStillDecodesAsARecommenderRecord) {
  // Exactly what version 1 wrote (no "kind").
  const std::string v1 =
      R"({"c":["b","c"],"cv":2,"k":2,"m":"recs","p":["a","b"],"pv":1,"ts":1700000000,"u":"u1"})";
  ShadowRecord r;
  ASSERT_TRUE(DecodeShadowRecord(v1, r));
  EXPECT_EQ(r.kind, ShadowKind::kRecommender);
  EXPECT_EQ(r.model, "recs");
  EXPECT_EQ(r.k, 2u);
  EXPECT_EQ(r.production, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r.candidate, (std::vector<std::string>{"b", "c"}));
  // Recommender records are still written without "kind", so a version-1 reader reads them.
  EXPECT_EQ(json::parse(EncodeShadowRecord(r)), json::parse(v1));
  // A kind this build does not know is not a record.
  EXPECT_FALSE(DecodeShadowRecord(
      R"({"kind":"ranker","cv":2,"m":"recs","pv":1,"ts":1,"u":"u1","k":1,"p":[],"c":[]})", r));
}

TEST(ShadowRecordKinds, BanditAndTabularRecordsRoundTripAndBadOnesAreRefused) {
  const ShadowRecord d = Decision("0123", {0.25, 0.75}, 1, {0.5, 0.5}, 0);
  ShadowRecord back;
  ASSERT_TRUE(DecodeShadowRecord(EncodeShadowRecord(d), back));
  EXPECT_EQ(back.kind, ShadowKind::kBandit);
  EXPECT_EQ(back.decision_id, "0123");
  EXPECT_EQ(back.actions, d.actions);
  EXPECT_EQ(back.production_probabilities, d.production_probabilities);
  EXPECT_EQ(back.candidate_probabilities, d.candidate_probabilities);
  EXPECT_EQ(back.chosen, 1u);
  EXPECT_EQ(back.candidate_greedy, 0u);
  EXPECT_EQ(back.user, "u0123");

  const ShadowRecord t = Scores({0.1, 0.7}, {0.2, 0.65}, 1, 70);
  ASSERT_TRUE(DecodeShadowRecord(EncodeShadowRecord(t), back));
  EXPECT_EQ(back.kind, ShadowKind::kTabular);
  EXPECT_EQ(back.rows, 70u);
  EXPECT_EQ(back.width, 1u);
  EXPECT_EQ(back.production_scores, t.production_scores);
  EXPECT_EQ(back.candidate_scores, t.candidate_scores);

  auto bad = [&](const ShadowRecord& r) {
    return !DecodeShadowRecord(EncodeShadowRecord(r), back);
  };
  EXPECT_TRUE(bad(Decision("x", {0.5, 0.6}, 0, {0.5, 0.5}, 0)));     // does not sum to 1
  EXPECT_TRUE(bad(Decision("x", {0.5, 0.5}, 2, {0.5, 0.5}, 0)));     // chosen outside
  EXPECT_TRUE(bad(Decision("x", {1.0, 0.0}, 1, {0.5, 0.5}, 0)));     // chose a 0-probability action
  EXPECT_TRUE(bad(Decision("x", {0.5, 0.5}, 0, {0.5, 0.5, 0}, 0)));  // sizes differ
  EXPECT_TRUE(bad(Scores({0.1, 0.2}, {0.1})));                       // sizes differ
  EXPECT_TRUE(bad(Scores({0.1, 0.2, 0.3}, {0.1, 0.2, 0.3}, 2)));     // not whole rows
  EXPECT_TRUE(bad(Scores({0.1, 0.2}, {0.1, 0.2}, 1, 1)));            // more rows than the request
}

TEST(BanditShadowMetricsTest, AgreementAndOffPolicyValueMatchAHandComputation) {
  // Four decisions over actions {a, b}; the fourth is still open (no reward yet).
  const std::vector<ShadowRecord> rs = {
      Decision("d1", {0.5, 0.5}, 0, {0.8, 0.2}, 0),    // reward 1 (joined)
      Decision("d2", {0.25, 0.75}, 1, {0.5, 0.5}, 0),  // reward 0 (the default)
      Decision("d3", {0.5, 0.5}, 1, {0.2, 0.8}, 1),    // reward 1 (joined)
      Decision("d4", {0.5, 0.5}, 0, {1.0, 0.0}, 0),    // open
  };
  const std::map<std::string, ShadowOutcome> outcomes = {
      {"d1", {1.0, true}}, {"d2", {0.0, false}}, {"d3", {1.0, true}}};
  ShadowMetricsOptions o;
  o.bootstrap = 50;
  const json m = BanditShadowMetrics(
      rs,
      [&](const std::string& id) -> std::optional<ShadowOutcome> {
        auto it = outcomes.find(id);
        if (it == outcomes.end()) return std::nullopt;
        return it->second;
      },
      o);
  EXPECT_EQ(m["kind"], "bandit");
  EXPECT_EQ(m["requests"], 4);
  EXPECT_EQ(m["members"], 4);
  EXPECT_EQ(m["candidate_versions"], json({2}));
  // Greedy == chosen for d1, d3, d4 (d2's tie goes to the lower index, a; production chose b).
  EXPECT_DOUBLE_EQ(m["agreement"]["greedy_match"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(m["agreement"]["candidate_p_chosen_mean"].get<double>(),
                   (0.8 + 0.5 + 0.8 + 1.0) / 4);
  EXPECT_DOUBLE_EQ(m["agreement"]["production_p_chosen_mean"].get<double>(),
                   (0.5 + 0.75 + 0.5 + 0.5) / 4);
  const json& v = m["value"];
  EXPECT_EQ(v["rewarded"], 3);
  EXPECT_EQ(v["joined"], 2);
  // Weights candidate p / logged propensity of the chosen action: 1.6, 2/3, 1.6.
  const double w1 = 0.8 / 0.5, w2 = 0.5 / 0.75, w3 = 0.8 / 0.5;
  EXPECT_NEAR(v["production"].get<double>(), 2.0 / 3, 1e-12);
  EXPECT_NEAR(v["ips"]["value"].get<double>(), (w1 * 1 + w2 * 0 + w3 * 1) / 3, 1e-12);
  EXPECT_NEAR(v["snips"]["value"].get<double>(), (w1 + w3) / (w1 + w2 + w3), 1e-12);
  EXPECT_NEAR(v["difference"].get<double>(), (w1 + w3) / (w1 + w2 + w3) - 2.0 / 3, 1e-12);
  EXPECT_NEAR(v["ess"].get<double>(),
              (w1 + w2 + w3) * (w1 + w2 + w3) / (w1 * w1 + w2 * w2 + w3 * w3), 1e-12);
  EXPECT_NEAR(v["max_weight"].get<double>(), 1.6, 1e-12);
  const json ci = v["snips"]["ci"];
  EXPECT_LE(ci[0].get<double>(), ci[1].get<double>());

  // No outcome yet: agreement, no value.
  const json none = BanditShadowMetrics(
      rs, [](const std::string&) { return std::optional<ShadowOutcome>(); }, o);
  EXPECT_EQ(none["value"]["rewarded"], 0);
  EXPECT_TRUE(none["value"]["snips"].is_null());
  EXPECT_DOUBLE_EQ(none["agreement"]["greedy_match"].get<double>(), 0.75);
  // Another candidate's records are left out; so are other kinds'.
  o.candidate_version = 3;
  EXPECT_EQ(
      BanditShadowMetrics(
          rs, [](const std::string&) { return std::optional<ShadowOutcome>(); }, o)["requests"],
      0);
  EXPECT_EQ(
      BanditShadowMetrics(
          {Scores({0.1}, {0.2})}, [](const std::string&) { return std::optional<ShadowOutcome>(); },
          ShadowMetricsOptions{})["requests"],
      0);
}

TEST(TabularShadowMetricsTest, DifferencesCorrelationAndClassAgreementMatchAHandComputation) {
  // Two requests: three rows, then one.
  const std::vector<double> p = {0.1, 0.7, 0.45, 0.9}, c = {0.2, 0.6, 0.55, 0.6};
  const std::vector<ShadowRecord> rs = {Scores({p[0], p[1], p[2]}, {c[0], c[1], c[2]}, 1, 80),
                                        Scores({p[3]}, {c[3]})};
  const json m = TabularShadowMetrics(rs, ShadowMetricsOptions{});
  EXPECT_EQ(m["kind"], "tabular");
  EXPECT_EQ(m["requests"], 2);
  EXPECT_EQ(m["rows"], 4);
  EXPECT_NEAR(m["score"]["mean_abs_diff"].get<double>(), (0.1 + 0.1 + 0.1 + 0.3) / 4, 1e-12);
  EXPECT_NEAR(m["score"]["max_abs_diff"].get<double>(), 0.3, 1e-12);
  double mp = 0, mc = 0;
  for (size_t i = 0; i < 4; ++i) {
    mp += p[i] / 4;
    mc += c[i] / 4;
  }
  double cov = 0, vp = 0, vc = 0;
  for (size_t i = 0; i < 4; ++i) {
    cov += (p[i] - mp) * (c[i] - mc);
    vp += (p[i] - mp) * (p[i] - mp);
    vc += (c[i] - mc) * (c[i] - mc);
  }
  EXPECT_NEAR(m["score"]["pearson"].get<double>(), cov / std::sqrt(vp * vc), 1e-12);
  // 0.45 vs 0.55 is the one row classed differently at 0.5.
  EXPECT_DOUBLE_EQ(m["class_agreement"].get<double>(), 0.75);

  // Multi-class rows agree when their arg-max does.
  const json mc3 = TabularShadowMetrics(
      {Scores({0.2, 0.5, 0.3, 0.6, 0.3, 0.1}, {0.1, 0.6, 0.3, 0.3, 0.6, 0.1}, 3)},
      ShadowMetricsOptions{});
  EXPECT_EQ(mc3["rows"], 2);
  EXPECT_EQ(mc3["outputs"], 6);
  EXPECT_DOUBLE_EQ(mc3["class_agreement"].get<double>(), 0.5);
  // A constant side has no correlation; no records, no means.
  EXPECT_TRUE(TabularShadowMetrics({Scores({0.5, 0.5}, {0.1, 0.2})},
                                   ShadowMetricsOptions{})["score"]["pearson"]
                  .is_null());
  EXPECT_TRUE(TabularShadowMetrics({}, ShadowMetricsOptions{})["class_agreement"].is_null());
}

TEST(ShadowMetricsFromHomeTest, ReadsTheRecordsOfTheAskedKind) {
  marquee::testing::TempDir dir;
  const std::string home = dir.file("home");
  {
    auto log = ShadowLog::Open(home + "/serving/shadow");
    ASSERT_TRUE(log->Record(Scores({0.1, 0.7}, {0.2, 0.6})));
    ShadowRecord rec;
    rec.model = "retry";  // a recommender record of the same name is not read as tabular
    rec.production_version = 1;
    rec.candidate_version = 2;
    rec.ts = 100;
    rec.k = 1;
    rec.production = {"a"};
    rec.candidate = {"b"};
    ASSERT_TRUE(log->Record(rec));
    log->Flush();
  }
  ShadowMetricsOptions o;
  o.kind = ShadowKind::kTabular;
  const json m = ShadowMetricsFromHome(home, "retry", o);
  EXPECT_EQ(m["kind"], "tabular");
  EXPECT_EQ(m["requests"], 1);
  EXPECT_EQ(m["rows"], 2);
  o.kind = ShadowKind::kBandit;  // no bandit records, no decision log
  EXPECT_EQ(ShadowMetricsFromHome(home, "retry", o)["requests"], 0);
}

}  // namespace
}  // namespace marquee

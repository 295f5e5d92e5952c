// XGBoost through the C API: training, SHAP contributions summing to the margin, the
// Predictor's row encoding and every bad-input case, artifacts and imports, the train job.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include "marquee/env.h"
#include "marquee/error.h"
#include "tabular/metrics.h"
#include "tabular/predictor.h"
#include "tabular/table.h"
#include "tabular/train.h"
#include "test_util.h"

namespace marquee {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// y = 1 when x0 + 0.5 * (cat == 2) + noise > 0.6; x1 is noise; 10% of x0 missing.
struct Synthetic {
  std::vector<float> x, y;
  uint64_t rows = 0;
};
Synthetic MakeData(uint64_t rows, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(0, 1);
  Synthetic s;
  s.rows = rows;
  for (uint64_t i = 0; i < rows; ++i) {
    const float x0 = u(rng), x1 = u(rng);
    const float cat = static_cast<float>(static_cast<int>(u(rng) * 3));
    const bool miss = u(rng) < 0.1f;
    s.x.insert(s.x.end(), {miss ? kNaN : x0, x1, cat});
    s.y.push_back(x0 + (cat == 2 ? 0.5f : 0.0f) + 0.2f * (u(rng) - 0.5f) > 0.6f ? 1.0f : 0.0f);
  }
  return s;
}

const std::vector<std::string> kNames = {"x0", "x1", "color"};
const std::vector<std::string> kTypes = {"q", "q", "c"};

XgbModel TrainSmall(const Synthetic& s, int rounds = 20) {
  XgbDMatrix m(s.x, s.rows, 3);
  m.SetLabels(s.y);
  m.SetFeatureNames(kNames);
  m.SetFeatureTypes(kTypes);
  return XgbModel::Train({{"objective", "binary:logistic"},
                          {"max_depth", "3"},
                          {"eta", "0.3"},
                          {"tree_method", "hist"},
                          {"nthread", "1"},
                          {"verbosity", "0"}},
                         m, nullptr, rounds, 0, nullptr);
}

Predictor MakePredictor(const Synthetic& s) {
  TabularModelInfo info;
  info.feature_names = kNames;
  info.feature_types = kTypes;
  info.categories["color"] = {"blue", "green", "red"};
  info.objective = "binary:logistic";
  return Predictor(TrainSmall(s), info);
}

void ExpectBad(const Predictor& p, const nlohmann::json& rows, ErrorCode code,
               const std::string& needle) {
  try {
    p.PredictRows(rows, false);
    FAIL() << "expected an error containing '" << needle << "' for " << rows.dump();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(XgbModel, TrainsAndLearns) {
  Synthetic tr = MakeData(2000, 1), te = MakeData(500, 2);
  XgbModel m = TrainSmall(tr);
  EXPECT_EQ(m.BoostedRounds(), 20);
  EXPECT_EQ(m.NumFeatures(), 3u);
  EXPECT_EQ(m.FeatureNames(), kNames);
  std::vector<float> p = m.PredictDense(te.x.data(), te.rows, false);
  ASSERT_EQ(p.size(), te.rows);
  EXPECT_GT(RocAuc(te.y, p), 0.9);
  auto imp = m.Importance("gain");
  EXPECT_FALSE(imp.empty());
}

TEST(XgbModel, ShapContributionsSumToTheMargin) {
  Synthetic tr = MakeData(1500, 3), te = MakeData(300, 4);
  XgbModel m = TrainSmall(tr, 30);
  XgbDMatrix dm(te.x, te.rows, 3);
  dm.SetFeatureNames(kNames);
  dm.SetFeatureTypes(kTypes);
  std::vector<float> c = m.Contributions(dm, te.rows);
  ASSERT_EQ(c.size(), te.rows * 4);
  std::vector<float> margin = m.PredictDense(te.x.data(), te.rows, true);
  std::vector<float> prob = m.PredictDense(te.x.data(), te.rows, false);
  for (uint64_t i = 0; i < te.rows; ++i) {
    double sum = 0;
    for (int f = 0; f < 4; ++f) sum += c[i * 4 + f];
    EXPECT_NEAR(sum, margin[i], 1e-4) << "row " << i;
    EXPECT_NEAR(1 / (1 + std::exp(-margin[i])), prob[i], 1e-6);
  }
  // Through the Predictor too (explain = true).
  Predictor p = MakePredictor(tr);
  nlohmann::json rows = {{{"x0", 0.9}, {"x1", 0.2}, {"color", "red"}}, {{"x1", 0.5}}};
  Predictor::Result r = p.PredictRows(rows, true);
  ASSERT_EQ(r.contribs.size(), 2u * 4);
  for (int i = 0; i < 2; ++i) {
    double sum = 0;
    for (int f = 0; f < 4; ++f) sum += r.contribs[i * 4 + f];
    EXPECT_NEAR(sum, r.margins[i], 1e-4);
  }
  nlohmann::json out = p.ToJson(r);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].contains("score"));
  EXPECT_TRUE(out[0]["contributions"].contains("x0"));
  EXPECT_TRUE(out[0].contains("bias"));
}

TEST(Predictor, RowsMatchTheDenseMatrix) {
  Synthetic tr = MakeData(1000, 5);
  Predictor p = MakePredictor(tr);
  nlohmann::json rows = {{{"x0", 0.7}, {"x1", 0.1}, {"color", "red"}},
                         {{"x0", nullptr}, {"color", "blue"}},
                         {{"color", "purple"}},  // unseen category: missing
                         nlohmann::json::object()};
  std::vector<float> x = {0.7f, 0.1f, 2, kNaN, kNaN, 0, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN};
  Predictor::Result a = p.PredictRows(rows, false);
  Predictor::Result b = p.PredictMatrix(x, 4, false);
  ASSERT_EQ(a.scores.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(a.scores[i], b.scores[i]);
  EXPECT_EQ(a.scores[2], a.scores[3]);
}

TEST(Predictor, BadInputsAre4xxNamingTheField) {
  Synthetic tr = MakeData(500, 6);
  Predictor p = MakePredictor(tr);
  const auto kBad = ErrorCode::kInvalidArgument;
  ExpectBad(p, nlohmann::json::object(), kBad, "rows: expected an array");
  ExpectBad(p, {1, 2}, kBad, "rows[0]: expected an object, got a number");
  ExpectBad(p, {{{"x0", 1}}, {{"nope", 1}}}, kBad, "rows[1].nope: unknown feature");
  ExpectBad(p, {{{"x0", "1.5"}}}, kBad, "rows[0].x0: expected a number or null, got a string");
  ExpectBad(p, {{{"x0", true}}}, kBad, "rows[0].x0: expected a number or null, got a boolean");
  ExpectBad(p, {{{"x1", nlohmann::json::array({1})}}}, kBad, "rows[0].x1");
  ExpectBad(p, {{{"color", 3}}}, kBad, "rows[0].color: expected a category (string)");
  ExpectBad(p, {{{"x0", 1e300}}}, kBad, "rows[0].x0: 1e+300 does not fit in a float32");
  nlohmann::json many = nlohmann::json::array();
  for (size_t i = 0; i <= Predictor::kMaxRows; ++i) many.push_back(nlohmann::json::object());
  ExpectBad(p, many, ErrorCode::kResourceExhausted, "exceed the limit");
  EXPECT_THROW(p.PredictMatrix(std::vector<float>(5), 2, false), Error);
  EXPECT_EQ(p.PredictRows(nlohmann::json::array(), false).rows, 0u);
}

TEST(Predictor, ArtifactRoundTripAndImport) {
  testing::TempDir tmp;
  Synthetic tr = MakeData(800, 7), te = MakeData(200, 8);
  XgbModel m = TrainSmall(tr);
  const std::vector<float> want = m.PredictDense(te.x.data(), te.rows, false);
  for (const char* format : {"json", "ubj"}) {
    const std::string bytes = m.Save(format);
    XgbModel loaded;
    TabularModelInfo info = DescribeImportedModel(
        {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, &loaded);
    EXPECT_EQ(info.model_format, format);
    EXPECT_EQ(info.feature_names, kNames);
    EXPECT_EQ(info.feature_types, kTypes);
    EXPECT_EQ(info.objective, "binary:logistic");
    std::string digest;
    const std::string path = SaveTabularModel(bytes, info, {}, tmp.path(), Env::Default(), &digest);
    auto p = Predictor::Load(path, Env::Default());
    Predictor::Result r = p->PredictMatrix(te.x, te.rows, false);
    ASSERT_EQ(r.scores.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(r.scores[i], want[i]) << format << " " << i;
    EXPECT_EQ(TabularSmokeTest(path, Env::Default()).size(), 2u);
  }
  // Garbage and nameless models are refused with a reason.
  const std::string junk = "not a model";
  XgbModel out;
  EXPECT_THROW(
      DescribeImportedModel({reinterpret_cast<const uint8_t*>(junk.data()), junk.size()}, &out),
      Error);
  XgbDMatrix nameless(tr.x, tr.rows, 3);
  nameless.SetLabels(tr.y);
  XgbModel nm = XgbModel::Train({{"objective", "binary:logistic"}, {"verbosity", "0"}}, nameless,
                                nullptr, 2, 0, nullptr);
  const std::string nb = nm.Save("json");
  try {
    DescribeImportedModel({reinterpret_cast<const uint8_t*>(nb.data()), nb.size()}, &out);
    FAIL() << "a model without feature names was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no feature names"), std::string::npos) << e.what();
  }
}

// Issue #12: `marquee predict --input train.csv` scores the very CSV the model was trained on:
// columns the model does not use (the id, the label) are skipped and reported, not an error.
TEST(Predictor, CsvRowsSkipColumnsTheModelDoesNotUse) {
  Predictor p = MakePredictor(MakeData(400, 21));
  const std::string csv =
      "id,x0,x1,color,label\n"
      "r1,0.9,0.1,red,1\n"
      "r2,,0.5,blue,0\n"
      "r3,0.25,0.75,purple,0\n";
  std::vector<std::string> ignored;
  const std::vector<nlohmann::json> rows = CsvRowsForModel(csv, "train.csv", p.info(), &ignored);
  EXPECT_EQ(ignored, (std::vector<std::string>{"id", "label"}));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["color"], "red");
  EXPECT_FALSE(rows[1].contains("x0"));  // empty cell: missing
  // Scores equal those of the same rows given as a matrix (red = code 2, purple unknown).
  const std::vector<float> m = {0.9f, 0.1f, 2, kNaN, 0.5f, 0, 0.25f, 0.75f, kNaN};
  const Predictor::Result want = p.PredictMatrix(m, 3, false);
  const Predictor::Result got = p.PredictRows(nlohmann::json(rows), false);
  ASSERT_EQ(got.scores.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(got.scores[i], want.scores[i]) << i;

  // A feature with no column is a missing value in every row, named in *absent, and scores as a
  // JSON row that leaves it out does.
  std::vector<std::string> absent;
  const std::vector<nlohmann::json> partial =
      CsvRowsForModel("x0,color,label\n1,red,0\n", "rows.csv", p.info(), nullptr, &absent);
  EXPECT_EQ(absent, std::vector<std::string>{"x1"});
  ASSERT_EQ(partial.size(), 1u);
  EXPECT_FALSE(partial[0].contains("x1"));
  EXPECT_EQ(p.PredictRows(nlohmann::json(partial), false).scores,
            p.PredictRows(nlohmann::json::array({{{"x0", 1}, {"color", "red"}}}), false).scores);
  // A header that names no feature at all is the wrong file: an error naming both sides.
  try {
    CsvRowsForModel("a,b\n1,2\n", "rows.csv", p.info(), nullptr);
    FAIL() << "a CSV without any feature column was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("rows.csv: no column names a feature of the model"),
              std::string::npos)
        << e.what();
  }
  // A numeric feature with text in it names file:line and the column.
  try {
    CsvRowsForModel("x0,x1,color\n1,2,red\nabc,2,red\n", "rows.csv", p.info(), nullptr);
    FAIL() << "text in a numeric feature was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rows.csv:3: column 'x0'"), std::string::npos) << e.what();
  }

  // Categories learnt from numbers are spelled as in training ("1", not "1.0"); without a
  // dictionary a categorical feature takes integer codes.
  TabularModelInfo numeric_cats = p.info();
  numeric_cats.categories["color"] = {"1", "2"};
  auto r1 = CsvRowsForModel("x0,x1,color\n1,2,1.0\n", "n.csv", numeric_cats, nullptr);
  EXPECT_EQ(r1.at(0)["color"], "1");
  TabularModelInfo codes = p.info();
  codes.categories.clear();
  auto r2 = CsvRowsForModel("x0,x1,color\n1,2,2\n", "c.csv", codes, nullptr);
  EXPECT_TRUE(r2.at(0)["color"].is_number_integer());
  EXPECT_EQ(r2.at(0)["color"], 2);
}

TEST(Predictor, ParsePredictRequest) {
  PredictRequest r = ParsePredictRequest(nlohmann::json::parse(
      R"({"model": "payment-retry@production", "rows": [{"X1": 1}], "explain": true})"));
  EXPECT_EQ(r.model, "payment-retry@production");
  EXPECT_TRUE(r.explain);
  EXPECT_EQ(r.rows.size(), 1u);
  const auto bad = [](const std::string& body, const std::string& needle) {
    try {
      ParsePredictRequest(nlohmann::json::parse(body));
      FAIL() << body;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  bad("[]", "JSON object");
  bad(R"({"rows": []})", "model: required");
  bad(R"({"model": "m"})", "rows: required");
  bad(R"({"model": 3, "rows": []})", "model: expected");
  bad(R"({"model": "m", "rows": {}})", "rows: expected an array");
  bad(R"({"model": "m", "rows": [], "explain": "yes"})", "explain: expected true or false");
  bad(R"({"model": "m", "rows": [], "k": 3})", "k: unknown field");
}

TEST(XgbModel, EarlyStoppingKeepsTheBestRounds) {
  Synthetic tr = MakeData(1500, 9), va = MakeData(400, 10);
  XgbDMatrix dtr(tr.x, tr.rows, 3), dva(va.x, va.rows, 3);
  dtr.SetLabels(tr.y);
  dva.SetLabels(va.y);
  XgbEvalLog log;
  XgbModel m = XgbModel::Train({{"objective", "binary:logistic"},
                                {"eta", "0.8"},
                                {"max_depth", "6"},
                                {"eval_metric", "logloss"},
                                {"verbosity", "0"}},
                               dtr, &dva, 300, 5, &log);
  EXPECT_EQ(log.metric, "logloss");
  EXPECT_GE(log.best_iteration, 0);
  EXPECT_LT(log.valid_scores.size(), 300u);
  EXPECT_EQ(m.BoostedRounds(), log.best_iteration + 1);
  EXPECT_THROW(XgbModel::Train({{"objective", "no-such"}}, dtr, nullptr, 1, 0, nullptr), Error);
}

TEST(TabularTrain, ConfigErrorsNameTheKey) {
  auto parse = [](const std::string& json) {
    return ParseTabularConfig(nlohmann::json::parse(json), "", "m");
  };
  EXPECT_THROW(parse(R"({"data": {"train": "x.csv"}, "model": {"family": "xgboost"}})"), Error);
  EXPECT_THROW(parse(R"({"data": {"train": "x.csv", "label": "y"},
                         "model": {"family": "xgboost", "max_dept": 3}})"),
               Error);
  EXPECT_THROW(parse(R"({"data": {"train": "x.csv", "label": "y"}, "split": {"protocol": "x"},
                         "model": {"family": "xgboost"}})"),
               Error);
  EXPECT_THROW(parse(R"({"data": {"train": "x.csv", "label": "y"},
                         "split": {"protocol": "temporal"}, "model": {"family": "xgboost"}})"),
               Error);
  TabularTrainConfig c = parse(R"({"data": {"train": "x.csv", "label": "y", "drop": ["ID"]},
      "model": {"family": "xgboost", "max_depth": 4, "eta": 0.1, "num_round": 50}})");
  EXPECT_EQ(c.model_name, "m");
  EXPECT_EQ(c.metrics.size(), 6u);
  EXPECT_EQ(c.drop, (std::vector<std::string>{"ID"}));
}

TEST(TabularTrain, EndToEndOnACsvWithCategories) {
  testing::TempDir tmp;
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0, 1);
  std::string csv = "id,amount,country,card_present,y\n";
  const char* countries[] = {"DE", "FR", "US", "BR"};
  for (int i = 0; i < 3000; ++i) {
    const double amount = u(rng) * 1000;
    const int c = static_cast<int>(u(rng) * 4);
    const bool present = u(rng) < 0.5;
    const double z = amount / 1000 + (c == 3 ? 0.6 : 0) - (present ? 0.3 : 0) + 0.3 * u(rng);
    csv += fmt::format("{},{},{},{},{}\n", i,
                       i % 17 == 0 ? std::string("") : fmt::format("{:.2f}", amount), countries[c],
                       present ? "true" : "false", z > 0.7 ? 1 : 0);
  }
  const std::string path = tmp.file("pay.csv");
  std::ofstream(path) << csv;
  for (const char* protocol : {"stratified-holdout", "kfold"}) {
    TabularTrainConfig c =
        ParseTabularConfig(nlohmann::json::parse(fmt::format(
                               R"({{"data": {{"train": "{}", "label": "y", "drop": ["id"]}},
            "split": {{"protocol": "{}", "folds": 3}},
            "model": {{"family": "xgboost", "max_depth": 4, "eta": 0.2, "num_round": 60,
                       "early_stopping_rounds": 10}}}})",
                               path, protocol)),
                           "", "pay");
    Context ctx;
    ctx.threads = 1;
    nlohmann::json r = RunTabularTraining(c, tmp.path(), ctx);
    EXPECT_GT(r["metrics"]["auc"].get<double>(), 0.85) << protocol;
    EXPECT_EQ(r["metric_order"].size(), 6u);
    EXPECT_EQ(r["reliability"].size(), 10u);
    EXPECT_FALSE(r["feature_importance"].empty());
    EXPECT_EQ(r["dataset"]["schema"]["columns"][2]["type"], "categorical");
    EXPECT_EQ(r["dataset"]["schema"]["columns"][3]["type"], "boolean");
    EXPECT_FALSE(FormatTabularReport(r).empty());
    auto p = Predictor::Load(r["artifact"].get<std::string>(), Env::Default());
    EXPECT_EQ(p->info().feature_names,
              (std::vector<std::string>{"amount", "country", "card_present"}));
    Predictor::Result pr = p->PredictRows(
        nlohmann::json::parse(R"([{"amount": 900, "country": "BR", "card_present": false},
                                   {"amount": 10, "country": "DE", "card_present": true}])"),
        true);
    EXPECT_GT(pr.scores[0], pr.scores[1]);
  }
}

}  // namespace
}  // namespace marquee

// Datasets over /api/v1 (src/control/data_routes.cc, control/views.h): the dashboard's
// histograms of interactions per user and per item, and imports of every kind `dataset import`
// takes (interaction files, tabular CSVs, bandit logs) uploaded as the body with the reader
// options as query parameters.
#include <gtest/gtest.h>

#include "client/http_client.h"
#include "common/time.h"
#include "control/views.h"
#include "serving/serving_test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;

class DatasetRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = dir_.file("home");
    Registry reg(home_);  // imports write a catalog beside the registry
    marquee::testing::InProcessServerOptions o;
    server_ = std::make_unique<marquee::testing::InProcessServer>(home_, std::move(o));
    server_->Start();
    client_ = std::make_unique<HttpClient>(fmt::format("http://127.0.0.1:{}", server_->port()));
  }
  // `body` sent as a file (not JSON), as `marquee --server URL dataset import` uploads it.
  ClientResponse Upload(const std::string& target, const std::string& body) {
    return client_->Send("POST", target, body, "text/csv");
  }
  json Get(const std::string& target) { return client_->Json("GET", target); }
  // The error code of a failed answer ("" when it succeeded).
  static std::string CodeOf(const ClientResponse& r) {
    if (r.status < 400) return "";
    return json::parse(r.body)["error"]["code"].get<std::string>();
  }
  static std::string MessageOf(const ClientResponse& r) {
    return json::parse(r.body)["error"]["message"].get<std::string>();
  }

  marquee::testing::TempDir dir_;
  std::string home_;
  std::unique_ptr<marquee::testing::InProcessServer> server_;
  std::unique_ptr<HttpClient> client_;
};

json Bucket(uint64_t lo, uint64_t hi, uint64_t count) {
  return {{"lo", lo}, {"hi", hi}, {"count", count}};
}

TEST(Log2HistogramTest, BucketsArePowersOfTwoWithEmptyOnesKept) {
  EXPECT_EQ(Log2Histogram({})["buckets"], json::array());
  EXPECT_EQ(Log2Histogram({1, 1, 2, 3, 4, 7, 8, 8})["buckets"],
            json::array({Bucket(1, 2, 2), Bucket(2, 4, 2), Bucket(4, 8, 2), Bucket(8, 16, 2)}));
  // A gap stays in the chart as an empty bucket; a zero count has its own bucket first.
  EXPECT_EQ(Log2Histogram({0, 1, 20})["buckets"],
            json::array({Bucket(0, 1, 1), Bucket(1, 2, 1), Bucket(2, 4, 0), Bucket(4, 8, 0),
                         Bucket(8, 16, 0), Bucket(16, 32, 1)}));
}

// Users a..d with 1, 2, 3 and 5 interactions; items x (4), y (3), z (2), w and v (1 each).
TEST_F(DatasetRoutesTest, HistogramsCountInteractionsPerUserAndPerItem) {
  const std::string csv =
      "user,item,ts\n"
      "a,x,1796000000\n"
      "b,x,1796000100\nb,y,1796000200\n"
      "c,x,1796000300\nc,y,1796000400\nc,z,1796000500\n"
      "d,x,1796000600\nd,y,1796000700\nd,z,1796000800\nd,w,1796000900\nd,v,1796001000\n";
  ClientResponse r = Upload(
      "/api/v1/datasets/small?format=csv&header=true&user_col=user&item_col=item&value_col=none&"
      "time_col=ts",
      csv);
  ASSERT_EQ(r.status, 201) << r.body;
  const json h = Get("/api/v1/datasets/small/histograms");
  EXPECT_EQ(h["dataset"], "small");
  EXPECT_EQ(h["kind"], "interactions");
  EXPECT_EQ(h["snapshot"], json::parse(r.body)["id"]);
  EXPECT_EQ(h["users"], 4);
  EXPECT_EQ(h["items"], 5);
  EXPECT_EQ(h["interactions"], 11);
  EXPECT_EQ(h["activity"]["buckets"],
            json::array({Bucket(1, 2, 1), Bucket(2, 4, 2), Bucket(4, 8, 1)}));
  EXPECT_EQ(h["popularity"]["buckets"],
            json::array({Bucket(1, 2, 2), Bucket(2, 4, 2), Bucket(4, 8, 1)}));
  EXPECT_EQ(h["time_range"]["min"], IsoUtc(1796000000));
  EXPECT_EQ(h["time_range"]["max"], IsoUtc(1796001000));
  // A snapshot id prefix names it too, as in `dataset show`.
  const std::string prefix = h["snapshot"].get<std::string>().substr(0, 12);
  EXPECT_EQ(Get("/api/v1/datasets/" + prefix)["name"], "small");
  EXPECT_EQ(Get("/api/v1/datasets/" + prefix + "/histograms")["popularity"], h["popularity"]);

  // Without a time column the range is null; the counts are the same.
  r = Upload(
      "/api/v1/datasets/untimed?format=csv&header=true&user_col=user&item_col=item&value_col=none&"
      "time_col=none",
      csv);
  ASSERT_EQ(r.status, 201) << r.body;
  const json u = Get("/api/v1/datasets/untimed/histograms");
  EXPECT_TRUE(u["time_range"]["min"].is_null());
  EXPECT_TRUE(u["time_range"]["max"].is_null());
  EXPECT_EQ(u["activity"], h["activity"]);
}

TEST_F(DatasetRoutesTest, HistogramsOfAnUnknownNameOrAnotherKindAreRefused) {
  ClientResponse r = client_->Send("GET", "/api/v1/datasets/nope/histograms");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(CodeOf(r), "not_found");
  ASSERT_EQ(Upload("/api/v1/datasets/tab?format=tabular&label=y", "a,b,y\n1,x,0\n2,y,1\n").status,
            201);
  r = client_->Send("GET", "/api/v1/datasets/tab/histograms");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(MessageOf(r).find("tabular"), std::string::npos) << r.body;
}

// A tabular CSV with the options of `dataset import --format tabular`: the label, a forced type,
// a dropped column, and the source recorded as given. `dataset show` then answers the same schema.
TEST_F(DatasetRoutesTest, TabularImportTakesTheCliOptions) {
  const std::string csv = "id,amount,country,noise,label\n1,10.5,se,7,1\n2,3,no,8,0\n3,7,se,9,1\n";
  ClientResponse r = Upload(
      "/api/v1/datasets/pay?format=tabular&label=label&id_col=id&type=amount%3Dcategorical&"
      "drop=noise&source=%2Fdata%2Fpay.csv",
      csv);
  ASSERT_EQ(r.status, 201) << r.body;
  const json j = json::parse(r.body);
  EXPECT_EQ(j["kind"], "tabular");
  EXPECT_EQ(j["label"], "label");
  EXPECT_EQ(j["rows"], 3);
  EXPECT_EQ(j["source"], "/data/pay.csv");
  std::map<std::string, json> columns;
  for (const auto& c : j["schema"]) columns[c["name"].get<std::string>()] = c;
  EXPECT_EQ(columns["amount"]["type"], "categorical");
  EXPECT_EQ(columns["country"]["type"], "categorical");
  EXPECT_EQ(columns["id"]["role"], "id");
  EXPECT_EQ(columns["label"]["role"], "label");
  EXPECT_EQ(columns["noise"]["role"], "ignored") << j["schema"].dump();
  const json shown = Get("/api/v1/datasets/pay");
  EXPECT_EQ(shown["schema"], j["schema"]);
  EXPECT_EQ(shown["label"], "label");

  r = Upload("/api/v1/datasets/nolabel?format=tabular", csv);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(MessageOf(r).find("label"), std::string::npos) << r.body;
  r = Upload("/api/v1/datasets/bad?format=tabular&label=label&user_col=id", csv);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(MessageOf(r).find("user_col"), std::string::npos) << r.body;
}

TEST_F(DatasetRoutesTest, BanditLogsImportAsJsonlUploads) {
  std::string log;
  for (int i = 0; i < 20; ++i) {
    log += json{{"context", {{"device", i % 2 ? "tv" : "phone"}}},
                {"actions", json::array({{{"id", "a"}}, {{"id", "b"}}})},
                {"chosen", i % 2},
                {"probability", 0.5},
                {"reward", i % 3 == 0 ? 1.0 : 0.0},
                {"ts", 1796000000 + i}}
               .dump() +
           "\n";
  }
  ClientResponse r = Upload("/api/v1/datasets/art?format=bandit-jsonl", log);
  ASSERT_EQ(r.status, 201) << r.body;
  const json j = json::parse(r.body);
  EXPECT_EQ(j["kind"], "bandit");
  EXPECT_EQ(j["rows"], 20);
  EXPECT_EQ(j["actions"], 2);
  EXPECT_NEAR(j["stats"]["mean_reward"].get<double>(), 7.0 / 20.0, 1e-12);
  const json shown = Get("/api/v1/datasets/art");
  EXPECT_EQ(shown["stats"], j["stats"]);

  // OBD reads item_context.csv beside the campaign file: an upload has none.
  r = Upload("/api/v1/datasets/obd?format=obd", "x\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(MessageOf(r).find("item_context.csv"), std::string::npos) << r.body;
  r = Upload("/api/v1/datasets/art2?format=bandit-jsonl&label=x", log);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(MessageOf(r).find("label"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace marquee

// Serving with an HNSW index ([serve] index = "hnsw", RetrievalSpec): factor models answer
// /v1/recommend and /v1/similar-items through their FactorIndex with the exact path's items and
// scores on a catalogue small enough to be searched whole, filters included; other families
// keep exact scoring.
#include <gtest/gtest.h>

#include <string>

#include "marquee/env.h"
#include "serving/model_manager.h"
#include "serving/service.h"
#include "serving_test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;

struct Server {
  std::unique_ptr<ModelManager> models;
  std::unique_ptr<Service> service;
};

Server MakeServer(const std::string& home, const std::string& index) {
  Server s;
  ModelManagerOptions mo;
  mo.home = home;
  mo.refs = {"recs/1"};
  mo.score_cache_bytes = 0;  // every known user is scored, through the index when there is one
  mo.retrieval.index = index;
  mo.retrieval.threads = 1;
  s.models = std::make_unique<ModelManager>(std::move(mo));
  s.models->Refresh();
  s.service =
      std::make_unique<Service>(s.models.get(), nullptr, nullptr, ApiKeys(), ServiceLimits());
  return s;
}

json Post(Service& service, const std::string& path, const json& body) {
  Request req;
  req.method = "POST";
  req.target = path;
  req.body = body.dump();
  Response out;
  service.Handle(req, [&](Response r) { out = std::move(r); });
  EXPECT_EQ(out.status, 200) << path << " " << out.body;
  return json::parse(out.body);
}

TEST(AnnServing, FactorModelsAnswerThroughTheIndexAsExactScoringDoes) {
  for (const std::string family : {"ials", "bpr"}) {
    SCOPED_TRACE(family);
    marquee::testing::TempDir dir;
    const std::string home = dir.file("home");
    marquee::testing::RegisterModel(home, "recs", family, {{"factors", 8}});
    Server hnsw = MakeServer(home, "hnsw"), exact = MakeServer(home, "exact");
    const auto m = hnsw.models->Get("recs/1");
    ASSERT_NE(m->index, nullptr);
    EXPECT_EQ(exact.models->Get("recs/1")->index, nullptr);
    EXPECT_EQ(m->Describe()["index"]["kind"], "hnsw");
    EXPECT_EQ(m->Describe()["index"]["ef_search"], 200);
    EXPECT_EQ(m->Describe()["index"]["quantization"], "sq8");
    const std::vector<json> bodies = {
        {{"model", "recs/1"}, {"user", "u0"}, {"k", 5}},
        {{"model", "recs/1"}, {"user", "u1"}, {"k", 20}},
        {{"model", "recs/1"}, {"history", {"i3", "i4"}}, {"k", 8}},
        {{"model", "recs/1"}, {"user", "u2"}, {"filter", {{"deny", {"i0", "i1", "i2"}}}}},
        {{"model", "recs/1"}, {"user", "u3"}, {"exclude_seen", false}},
        {{"model", "recs/1"},
         {"user", "u4"},
         {"filter", {{"allow", {"i11", "i5", "i12", "i19"}}, {"deny", {"i12"}}}}}};
    for (const json& body : bodies) {
      const json a = Post(*hnsw.service, "/v1/recommend", body);
      const json b = Post(*exact.service, "/v1/recommend", body);
      ASSERT_FALSE(a["items"].empty()) << a.dump();
      EXPECT_EQ(a.dump(), b.dump()) << body.dump();
    }
    // The deny list and the allow list hold in the index's answer.
    const json f = Post(*hnsw.service, "/v1/recommend", bodies[5]);
    ASSERT_EQ(f["items"].size(), 3u) << f.dump();
    for (const json& it : f["items"]) EXPECT_NE(it["id"], "i12");
    for (const json& body :
         {json{{"model", "recs/1"}, {"item", "i3"}, {"k", 5}},
          json{{"model", "recs/1"}, {"item", "i14"}, {"filter", {{"deny", {"i15"}}}}},
          json{{"model", "recs/1"}, {"item", "i0"}, {"filter", {{"allow", {"i9", "i1", "i0"}}}}}}) {
      const json a = Post(*hnsw.service, "/v1/similar-items", body);
      const json b = Post(*exact.service, "/v1/similar-items", body);
      ASSERT_FALSE(a["items"].empty()) << a.dump();
      EXPECT_EQ(a.dump(), b.dump()) << body.dump();
    }
  }
}

// The graph a load built is saved under the index directory and read back by the next load of
// the same artifact, which answers alike; a damaged file is rebuilt, never served.
TEST(AnnServing, TheNextLoadReadsTheSavedGraph) {
  marquee::testing::TempDir dir;
  const std::string home = dir.file("home");
  marquee::testing::RegisterModel(home, "recs", "ials", {{"factors", 8}});
  auto make = [&] {
    ModelManagerOptions mo;
    mo.home = home;
    mo.refs = {"recs/1"};
    mo.retrieval.index = "hnsw";
    mo.retrieval.threads = 1;
    mo.retrieval.index_dir = home + "/serving/index";
    Server s;
    s.models = std::make_unique<ModelManager>(std::move(mo));
    s.models->Refresh();
    s.service =
        std::make_unique<Service>(s.models.get(), nullptr, nullptr, ApiKeys(), ServiceLimits());
    return s;
  };
  const json body = {{"model", "recs/1"}, {"user", "u0"}, {"k", 5}};
  Server first = make();
  EXPECT_EQ(first.models->Get("recs/1")->Describe()["index"]["source"], "built");
  const std::string a = Post(*first.service, "/v1/recommend", body).dump();
  Server second = make();
  EXPECT_EQ(second.models->Get("recs/1")->Describe()["index"]["source"], "saved");
  EXPECT_EQ(Post(*second.service, "/v1/recommend", body).dump(), a);
  // One graph and its manifest, named by the artifact's digest and the settings.
  std::vector<std::string> files = Env::Default()->ListDir(home + "/serving/index");
  ASSERT_EQ(files.size(), 2u);
  const std::string graph = home + "/serving/index/" + files[0];
  // The default graph is SQ8 (HnswParams::quantization), named so.
  EXPECT_NE(files[0].find("-m16-efc100-sq8.hnsw"), std::string::npos) << files[0];
  std::string bytes = Env::Default()->ReadFile(graph);
  bytes[bytes.size() - 1] ^= 1;
  Env::Default()->WriteFileAtomic(graph, bytes);
  Server third = make();
  EXPECT_EQ(third.models->Get("recs/1")->Describe()["index"]["source"], "built");
  EXPECT_EQ(Post(*third.service, "/v1/recommend", body).dump(), a);
  Server fourth = make();  // the rebuilt graph was saved again
  EXPECT_EQ(fourth.models->Get("recs/1")->Describe()["index"]["source"], "saved");
}

TEST(AnnServing, ModelsWithoutItemFactorsStayExact) {
  marquee::testing::TempDir dir;
  const std::string home = dir.file("home");
  marquee::testing::RegisterModel(home, "recs", "ease", {{"lambda", 10.0}});
  Server s = MakeServer(home, "hnsw");
  const auto m = s.models->Get("recs/1");
  EXPECT_EQ(m->index, nullptr);
  EXPECT_FALSE(m->Describe().contains("index"));
  EXPECT_FALSE(
      Post(*s.service, "/v1/recommend", {{"model", "recs/1"}, {"user", "u0"}})["items"].empty());
}

TEST(AnnServing, AnUnknownIndexKindFailsTheLoad) {
  marquee::testing::TempDir dir;
  const std::string home = dir.file("home");
  marquee::testing::RegisterModel(home, "recs", "ials", {{"factors", 4}});
  ModelManagerOptions mo;
  mo.home = home;
  mo.refs = {"recs/1"};
  mo.retrieval.index = "annoy";
  ModelManager models(std::move(mo));
  const json r = models.Refresh();
  EXPECT_NE(r["recs/1"].get<std::string>().find("index 'annoy'"), std::string::npos) << r.dump();
}

}  // namespace
}  // namespace marquee

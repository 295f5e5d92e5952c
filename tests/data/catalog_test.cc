#include "data/catalog.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/sha256.h"
#include "data/data_test_util.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "test_util.h"

namespace marquee {
namespace {

using testing::CatchError;
using testing::TempDir;
using testing::ToVector;

Dataset Make(std::vector<RawInteraction> rows, const std::string& source = "test") {
  return Dataset::FromRows(rows, true, true, source);
}

Dataset First() {
  return Make({{"a", "x", 5, 10}, {"a", "y", 3, 20}, {"b", "x", 4, 15}}, "first.csv");
}
Dataset Second() { return Make({{"a", "x", 1, 10}, {"c", "z", 2, 30}}, "second.csv"); }

class Catalog : public ::testing::Test {
 protected:
  std::string Objects() const { return home_.path() + "/datasets/objects"; }
  TempDir home_;
  DatasetCatalog catalog_{home_.path(), Env::Default()};
};

TEST_F(Catalog, ImportStoresAContentAddressedSnapshot) {
  DatasetEntry e = catalog_.Import("ml-small_v1.0", First());
  EXPECT_EQ(e.name, "ml-small_v1.0");
  EXPECT_EQ(e.id.size(), 64u);
  EXPECT_EQ(e.path, Objects() + "/" + e.id + ".mqds");
  EXPECT_EQ(Sha256Hex(Env::Default()->ReadFile(e.path)), e.id);
  EXPECT_EQ(e.users, 2u);
  EXPECT_EQ(e.items, 2u);
  EXPECT_EQ(e.interactions, 3u);
  EXPECT_EQ(e.source, "first.csv");
  EXPECT_EQ(e.created_at.size(), 20u) << e.created_at;  // 2024-01-02T03:04:05Z
  EXPECT_EQ(e.created_at.back(), 'Z');
  // Nothing but the object itself is left in objects/.
  EXPECT_EQ(Env::Default()->ListDir(Objects()), std::vector<std::string>{e.id + ".mqds"});
  // The name file has the documented fields.
  nlohmann::json j = nlohmann::json::parse(
      Env::Default()->ReadFile(home_.path() + "/datasets/names/ml-small_v1.0.json"));
  for (const char* key :
       {"name", "id", "source", "created_at", "users", "items", "interactions", "history"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["id"], e.id);
  EXPECT_TRUE(j["history"].empty());
}

TEST_F(Catalog, ListGetAndOpen) {
  DatasetEntry a = catalog_.Import("alpha", First());
  DatasetEntry b = catalog_.Import("beta", Second());
  std::vector<DatasetEntry> all = catalog_.List();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "alpha");
  EXPECT_EQ(all[1].name, "beta");
  EXPECT_EQ(all[1].id, b.id);

  EXPECT_EQ(catalog_.Get("alpha").id, a.id);
  EXPECT_EQ(catalog_.Get(a.id).name, "alpha");
  EXPECT_EQ(catalog_.Get(a.id.substr(0, 8)).id, a.id);
  EXPECT_EQ(catalog_.Get(b.id.substr(0, 12)).name, "beta");

  Dataset ds = catalog_.Open("beta");
  EXPECT_EQ(ds.info().name, "beta");
  EXPECT_EQ(ds.info().id, b.id);
  EXPECT_EQ(ds.info().source, "second.csv");
  EXPECT_EQ(ds.num_interactions(), 2u);
  EXPECT_EQ(ToVector(ds.values()), ToVector(Second().values()));
  EXPECT_EQ(catalog_.Open(a.id.substr(0, 10)).num_users(), 2u);

  EXPECT_EQ(a.ToJson()["id"], a.id);
  EXPECT_EQ(a.ToJson()["interactions"], 3);
}

TEST_F(Catalog, ShortUnknownAndAmbiguousLookups) {
  DatasetEntry a = catalog_.Import("alpha", First());
  Error short_prefix = CatchError([&] { catalog_.Get(a.id.substr(0, 7)); });
  EXPECT_EQ(short_prefix.code(), ErrorCode::kNotFound);
  EXPECT_NE(std::string(short_prefix.what()).find("at least 8"), std::string::npos);
  EXPECT_EQ(CatchError([&] { catalog_.Get("gamma"); }).code(), ErrorCode::kNotFound);
  EXPECT_EQ(CatchError([&] { catalog_.Get("0123456789abcdef"); }).code(), ErrorCode::kNotFound);
  // Two objects sharing a prefix.
  const std::string p = "abcdef12";
  for (char c : {'0', '1'}) {
    testing::WriteText(Objects() + "/" + p + std::string(55, '0') + c + ".mqds", "x");
  }
  Error amb = CatchError([&] { catalog_.Get(p); });
  EXPECT_EQ(amb.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(std::string(amb.what()).find("ambiguous"), std::string::npos) << amb.what();
}

TEST_F(Catalog, ReimportMovesTheNameAndKeepsHistory) {
  DatasetEntry v1 = catalog_.Import("data", First());
  DatasetEntry v2 = catalog_.Import("data", Second());
  EXPECT_NE(v1.id, v2.id);
  EXPECT_EQ(v2.history, std::vector<std::string>{v1.id});
  EXPECT_EQ(catalog_.Get("data").id, v2.id);
  EXPECT_EQ(catalog_.Get("data").history, std::vector<std::string>{v1.id});
  EXPECT_EQ(catalog_.List().size(), 1u);
  // The old snapshot stays addressable by id.
  DatasetEntry old = catalog_.Get(v1.id.substr(0, 9));
  EXPECT_EQ(old.id, v1.id);
  EXPECT_EQ(old.name, "");
  EXPECT_EQ(old.interactions, 3u);
  EXPECT_EQ(catalog_.Open(v1.id).num_interactions(), 3u);
  // Identical content: same id, history unchanged; a third version appends.
  DatasetEntry again = catalog_.Import("data", Second());
  EXPECT_EQ(again.id, v2.id);
  EXPECT_EQ(again.history, std::vector<std::string>{v1.id});
  DatasetEntry v3 = catalog_.Import("data", First());
  EXPECT_EQ(v3.id, v1.id);
  EXPECT_EQ(v3.history, (std::vector<std::string>{v1.id, v2.id}));
  EXPECT_EQ(Env::Default()->ListDir(Objects()).size(), 2u);
}

TEST_F(Catalog, RejectsBadNames) {
  for (const std::string& bad :
       {std::string(), std::string("a/b"), std::string(".."), std::string("."), std::string("x y"),
        std::string("ü"), std::string(129, 'a')}) {
    Error e = CatchError([&] { catalog_.Import(bad, First()); });
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << bad;
  }
  EXPECT_NO_THROW(catalog_.Import(std::string(128, 'a'), First()));
  EXPECT_NO_THROW(catalog_.Import("A-z_0.9", First()));
}

// Issue #12: one name rule for every catalog; a leading '-' (it reads as a command-line option)
// is refused, and the message says what is wrong with the name, escaped.
TEST_F(Catalog, NamesStartingWithDashAreRefusedWithAReason) {
  EXPECT_FALSE(ValidCatalogName("-x"));
  EXPECT_FALSE(ValidCatalogName("--name"));
  EXPECT_TRUE(ValidCatalogName("x-"));
  EXPECT_TRUE(ValidCatalogName("a-b"));
  Error dash = CatchError([&] { catalog_.Import("-plays", First()); });
  EXPECT_EQ(dash.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(std::string(dash.what()).find("starts with '-'"), std::string::npos) << dash.what();
  Error empty = CatchError([] { ValidateCatalogName("", "model"); });
  EXPECT_NE(std::string(empty.what()).find("invalid model name '': it is empty"), std::string::npos)
      << empty.what();
  Error esc = CatchError([] { ValidateCatalogName("a\x1b[2Jb", "tag key"); });
  EXPECT_EQ(std::string(esc.what()).find('\x1b'), std::string::npos) << esc.what();
  EXPECT_NE(std::string(esc.what()).find("a\\x1b[2Jb"), std::string::npos) << esc.what();
  Error long_name = CatchError([] { ValidateCatalogName(std::string(100000, 'k'), "tag key"); });
  EXPECT_LT(std::string(long_name.what()).size(), 500u);
  EXPECT_FALSE(Env::Default()->FileExists(home_.path() + "/datasets/names/-plays.json"));
}

// Issue #12: the temporary snapshot file carries the writer's pid, so gc can prove a leftover
// of a killed import abandoned.
TEST_F(Catalog, TemporarySnapshotNamesCarryTheWritersPid) {
  std::string seen;
  StoreContentAddressed(Env::Default(), Objects(), ".mqds", [&](const std::string& path) {
    seen = path.substr(path.rfind('/') + 1);
    Env::Default()->WriteFileAtomic(path, "bytes");
    return Sha256Hex("bytes");
  });
  EXPECT_EQ(seen.rfind(".incoming-" + std::to_string(::getpid()) + "-", 0), 0u) << seen;
}

TEST_F(Catalog, MalformedNameFileIsCorruption) {
  catalog_.Import("ok", First());
  testing::WriteText(home_.path() + "/datasets/names/broken.json", "{not json");
  Error e = CatchError([&] { catalog_.Get("broken"); });
  EXPECT_EQ(e.code(), ErrorCode::kCorruption);
  EXPECT_NE(std::string(e.what()).find("broken.json"), std::string::npos);
}

TEST_F(Catalog, EmptyHomeListsNothing) { EXPECT_TRUE(catalog_.List().empty()); }

TEST(Stats, HandBuiltDataset) {
  Dataset ds = Dataset::FromRows({{"u1", "a", 5, 100},
                                  {"u1", "b", 4.5, 50},
                                  {"u1", "c", 5, 300},
                                  {"u2", "a", 1, 200},
                                  {"u2", "d", 5, 10},
                                  {"u3", "a", 4.5, 400}},
                                 true, true, "hand");
  DatasetStats s = ComputeStats(ds);
  EXPECT_EQ(s.users, 3u);
  EXPECT_EQ(s.items, 4u);
  EXPECT_EQ(s.interactions, 6u);
  EXPECT_DOUBLE_EQ(s.density, 0.5);
  EXPECT_EQ(s.value_histogram, (std::map<std::string, uint64_t>{{"1", 1}, {"4.5", 2}, {"5", 3}}));
  EXPECT_EQ(s.time_min, 10);
  EXPECT_EQ(s.time_max, 400);
  EXPECT_DOUBLE_EQ(s.mean_per_user, 2.0);
  EXPECT_EQ(s.max_per_user, 3u);
  EXPECT_DOUBLE_EQ(s.mean_per_item, 1.5);
  EXPECT_EQ(s.max_per_item, 3u);
  nlohmann::json j = s.ToJson();
  EXPECT_EQ(j["value_histogram"]["4.5"], 2);
  EXPECT_EQ(j["time_min_iso"], "1970-01-01T00:00:10Z");
  EXPECT_DOUBLE_EQ(j["density"].get<double>(), 0.5);
}

TEST(Stats, ManyDistinctValuesUseTenBuckets) {
  std::vector<RawInteraction> rows;
  for (int k = 0; k < 100; ++k)
    rows.push_back(
        {"u" + std::to_string(k % 7), "i" + std::to_string(k), static_cast<float>(k), 0});
  DatasetStats s = ComputeStats(Dataset::FromRows(rows, true, false, "many"));
  ASSERT_EQ(s.value_histogram.size(), 10u);
  uint64_t total = 0;
  for (const auto& [label, count] : s.value_histogram) {
    EXPECT_EQ(count, 10u) << label;
    total += count;
  }
  EXPECT_EQ(total, 100u);
  EXPECT_EQ(s.value_histogram.count("[0, 9.9)"), 1u);
  EXPECT_EQ(s.value_histogram.count("[89.1, 99]"), 1u);
  EXPECT_FALSE(s.ToJson().contains("time_min"));
}

TEST(Stats, ImplicitAndEmptyDatasets) {
  DatasetStats implicit = ComputeStats(Dataset::FromRows({{"u", "i"}}, false, false, ""));
  EXPECT_TRUE(implicit.value_histogram.empty());
  EXPECT_DOUBLE_EQ(implicit.density, 1.0);
  DatasetStats empty = ComputeStats(Dataset());
  EXPECT_EQ(empty.interactions, 0u);
  EXPECT_DOUBLE_EQ(empty.density, 0.0);
}

TEST(ResolveHome, FlagThenEnvironmentThenDefault) {
  const char* saved = std::getenv("MARQUEE_HOME");
  const std::string saved_value = saved ? saved : "";
  ::setenv("MARQUEE_HOME", "/from/env", 1);
  EXPECT_EQ(ResolveHome("/from/flag"), "/from/flag");
  EXPECT_EQ(ResolveHome(""), "/from/env");
  ::unsetenv("MARQUEE_HOME");
  EXPECT_EQ(ResolveHome(""), "./.marquee");
  if (saved) ::setenv("MARQUEE_HOME", saved_value.c_str(), 1);
}

}  // namespace
}  // namespace marquee

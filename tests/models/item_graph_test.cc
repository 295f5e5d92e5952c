// ItemGraphModel (src/models/item_graph.h), the base of the neighbourhood families, checked
// through each of them: progress reported under the family's name, the catalogue size before
// and after Fit and Load, and corrupt item matrices refused as kCorruption naming the family.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "marquee/error.h"
#include "marquee/recommender.h"
#include "model_test_util.h"
#include "test_util.h"

namespace marquee {
namespace {

const std::vector<std::string> kFamilies = {"itemknn", "rp3beta"};

TEST(ItemGraphModel, ReportsProgressUnderTheFamilyNameFromZeroToOne) {
  // 2,500 items: two reports within the item loop (every 1,024 items) besides 0 and 1.
  const CsrMatrix x = testing::PlantedClusters(400, 2500, 5, 20, 0.8, 7);
  for (const std::string& family : kFamilies) {
    SCOPED_TRACE(family);
    auto m = CreateRecommender(family, nlohmann::json::object());
    EXPECT_EQ(m->num_items(), 0u);
    std::vector<double> fractions;
    Context ctx;
    ctx.threads = 1;
    ctx.progress = [&](std::string_view stage, double f) {
      EXPECT_EQ(stage, family);
      fractions.push_back(f);
    };
    m->Fit(x, ctx);
    EXPECT_EQ(m->num_items(), 2500u);
    ASSERT_EQ(fractions.size(), 4u);
    EXPECT_EQ(fractions.front(), 0.0);
    EXPECT_DOUBLE_EQ(fractions[1], 1024.0 / 2500);
    EXPECT_DOUBLE_EQ(fractions[2], 2048.0 / 2500);
    EXPECT_EQ(fractions.back(), 1.0);

    testing::TempDir dir;
    auto r = testing::SaveArtifact(*m, dir.file("m.mqa"));
    auto loaded = CreateRecommender(family, nlohmann::json::object());
    loaded->Load(*r);
    EXPECT_EQ(loaded->num_items(), 2500u);
    EXPECT_EQ(loaded->family(), family);
  }
}

// Loads an artifact holding the given item matrix into a fresh `family` model; the error code
// and message, or nullopt when it loaded.
std::optional<std::pair<ErrorCode, std::string>> LoadMatrix(const std::string& family,
                                                            std::vector<uint64_t> indptr,
                                                            std::vector<uint32_t> indices,
                                                            std::vector<float> values) {
  testing::TempDir dir;
  const std::string path = dir.file("m.mqa");
  ArtifactWriter w(family, nlohmann::json::object());
  w.Add<uint64_t>("indptr", indptr);
  w.Add<uint32_t>("indices", indices);
  w.Add<float>("values", values);
  w.Write(path, Env::Default());
  auto r = ArtifactReader::Open(path, Env::Default());
  auto m = CreateRecommender(family, nlohmann::json::object());
  try {
    m->Load(*r);
  } catch (const Error& e) {
    return std::make_pair(e.code(), std::string(e.what()));
  }
  EXPECT_EQ(m->num_items(), indptr.size() - 1);
  return std::nullopt;
}

TEST(ItemGraphModel, RefusesCorruptItemMatricesNamingTheFamily) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const std::string& family : kFamilies) {
    SCOPED_TRACE(family);
    EXPECT_EQ(LoadMatrix(family, {0, 1, 2}, {1, 0}, {0.5f, 0.25f}), std::nullopt);
    const std::vector<std::optional<std::pair<ErrorCode, std::string>>> bad = {
        LoadMatrix(family, {0, 1, 3}, {1, 0}, {0.5f, 0.25f}),  // indptr past the indices
        LoadMatrix(family, {0, 2, 1}, {1}, {0.5f}),            // indptr not sorted
        LoadMatrix(family, {0, 1, 2}, {1, 2}, {0.5f, 0.25f}),  // item 2 of 2 items
        LoadMatrix(family, {0, 1, 2}, {1, 0}, {0.5f, nan}),    // non-finite weight
        LoadMatrix(family, {0, 1, 2}, {1, 0}, {0.5f}),         // values shorter than indices
    };
    for (const auto& error : bad) {
      ASSERT_TRUE(error.has_value());
      const auto& [code, message] = *error;
      EXPECT_EQ(code, ErrorCode::kCorruption) << message;
      EXPECT_NE(message.find(family + " artifact"), std::string::npos) << message;
    }
  }
}

}  // namespace
}  // namespace marquee

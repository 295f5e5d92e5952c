// Damaged XGBoost model files (issue #12): `models import --family xgboost` and artifact loads
// go through XgbModel::FromBuffer, whose structural check (CheckXgbModelBytes) must turn every
// corrupted JSON or UBJSON file into a clear error instead of a crash inside libxgboost.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "marquee/error.h"
#include "tabular/xgb_model.h"

namespace marquee {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// A real XGBoost model: 15 rounds of depth-4 trees on 3 named features (one categorical).
const std::string& TrainedModel(const std::string& format) {
  static const auto* models = [] {
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<float> u(0, 1);
    const uint64_t rows = 600;
    std::vector<float> x, y;
    for (uint64_t i = 0; i < rows; ++i) {
      const float a = u(rng), b = u(rng), c = static_cast<float>(static_cast<int>(u(rng) * 4));
      x.insert(x.end(), {a, b, c});
      y.push_back(a + 0.3f * (c == 1) + 0.2f * (u(rng) - 0.5f) > 0.6f ? 1.0f : 0.0f);
    }
    XgbDMatrix m(x, rows, 3);
    m.SetLabels(y);
    m.SetFeatureNames({"a", "b", "color"});
    m.SetFeatureTypes({"q", "q", "c"});
    XgbModel model = XgbModel::Train({{"objective", "binary:logistic"},
                                      {"max_depth", "4"},
                                      {"tree_method", "hist"},
                                      {"nthread", "1"},
                                      {"verbosity", "0"}},
                                     m, nullptr, 15, 0, nullptr);
    return new std::map<std::string, std::string>{{"ubj", model.Save("ubj")},
                                                  {"json", model.Save("json")}};
  }();
  return models->at(format);
}

// Deterministic damage: overwrite 1-4 bytes, flip one bit, truncate, or duplicate a slice.
std::string Mutate(const std::string& in, std::mt19937_64& rng) {
  std::string s = in;
  auto pos = [&] { return static_cast<size_t>(rng() % s.size()); };
  switch (rng() % 8) {
    case 0:
      s.resize(pos());
      break;
    case 1: {
      const size_t p = pos(), n = std::min<size_t>(1 + rng() % 64, s.size() - p);
      s.insert(p, s.substr(p, n));
      break;
    }
    case 2:
      s[pos()] ^= static_cast<char>(1u << (rng() % 8));
      break;
    default:
      for (int k = 0, n = 1 + static_cast<int>(rng() % 4); k < n; ++k) {
        s[pos()] = static_cast<char>(rng() & 0xff);
      }
  }
  return s;
}

void ExpectLoadsOrRefuses(const std::string& format, uint64_t seed) {
  const std::string& good = TrainedModel(format);
  ASSERT_NO_THROW(XgbModel::FromBuffer(Bytes(good)));
  // XGB_IMPORT_SEED=N reruns with other mutations (a longer manual hunt).
  if (const char* env = std::getenv("XGB_IMPORT_SEED")) seed += std::strtoull(env, nullptr, 10);
  std::mt19937_64 rng(seed);
  int loaded = 0, refused = 0;
  for (int i = 0; i < 300; ++i) {
    const std::string bad = Mutate(good, rng);
    if (std::getenv("XGB_IMPORT_VERBOSE") != nullptr) {
      std::fprintf(stderr, "mutation %d\n", i);
      std::fflush(stderr);
    }
    try {
      XgbModel m = XgbModel::FromBuffer(Bytes(bad));
      ++loaded;
      // What loads must also score without crashing (walks every tree; 0 to 3 categories).
      const uint64_t nf = m.NumFeatures();
      std::vector<float> rows(8 * nf);
      for (size_t k = 0; k < rows.size(); ++k) rows[k] = static_cast<float>(k % 4);
      m.PredictDense(rows.data(), 8, false);
    } catch (const Error& e) {
      ++refused;
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
      EXPECT_GT(std::string(e.what()).size(), 10u);
      if (std::getenv("XGB_IMPORT_VERBOSE") != nullptr) std::fprintf(stderr, "%s\n", e.what());
    }
  }
  // Both outcomes occur: damage inside float payloads loads, damage to the structure does not.
  EXPECT_EQ(loaded + refused, 300);
  EXPECT_GT(refused, 0);
  EXPECT_GT(loaded, 0);
  ::testing::Test::RecordProperty("loaded", loaded);
  ::testing::Test::RecordProperty("refused", refused);
  std::printf("%s: %d of 300 mutated models loaded, %d refused\n", format.c_str(), loaded, refused);
}

TEST(XgbImport, ThreeHundredMutatedUbjsonModelsLoadOrFailCleanly) {
  ExpectLoadsOrRefuses("ubj", 20261205);
}

TEST(XgbImport, ThreeHundredMutatedJsonModelsLoadOrFailCleanly) {
  ExpectLoadsOrRefuses("json", 20261206);
}

// The checks must not refuse real models of other shapes: multi-class, dart, gblinear, deeper
// trees without categories, in both formats.
TEST(XgbImport, RealModelsOfOtherShapesStillLoad) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<float> u(0, 1);
  const uint64_t rows = 300;
  std::vector<float> x, y;
  for (uint64_t i = 0; i < rows; ++i) {
    const float a = u(rng), b = u(rng);
    x.insert(x.end(), {a, b});
    y.push_back(a < 0.3f ? 0.0f : b < 0.5f ? 1.0f : 2.0f);
  }
  XgbDMatrix m(x, rows, 2);
  m.SetLabels(y);
  m.SetFeatureNames({"a", "b"});
  const std::vector<std::vector<std::pair<std::string, std::string>>> configs = {
      {{"objective", "multi:softprob"}, {"num_class", "3"}, {"max_depth", "6"}},
      {{"objective", "reg:squarederror"}, {"booster", "dart"}, {"rate_drop", "0.3"}},
      {{"objective", "reg:squarederror"}, {"booster", "gblinear"}},
  };
  for (auto params : configs) {
    params.push_back({"nthread", "1"});
    params.push_back({"verbosity", "0"});
    XgbModel model = XgbModel::Train(params, m, nullptr, 6, 0, nullptr);
    const std::string want = model.Save("json");  // (gblinear has no in-place predict)
    for (const char* format : {"ubj", "json"}) {
      XgbModel back = XgbModel::FromBuffer(Bytes(model.Save(format)));
      EXPECT_EQ(back.Save("json"), want) << params[1].second << " " << format;
    }
  }
}

void ExpectRefused(const std::string& bytes, const std::string& needle) {
  try {
    XgbModel::FromBuffer(Bytes(bytes));
    FAIL() << "accepted; expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

std::string Int64Be(uint64_t v) {
  std::string s(8, '\0');
  for (int k = 7; k >= 0; --k, v >>= 8) s[static_cast<size_t>(k)] = static_cast<char>(v & 0xff);
  return s;
}

TEST(XgbImport, HostileUbjsonIsRefusedWithTheReason) {
  const std::string key = "L" + Int64Be(1) + "a";
  // Nesting bomb: a key followed by 100,000 '[' (libxgboost recursed until the stack ran out).
  ExpectRefused("{" + key + std::string(100000, '['), "nested deeper than 64");
  // An array that never closes (libxgboost loops appending nulls).
  ExpectRefused("{" + key + "[i\x01", "no closing ']'");
  // A string longer than the file (libxgboost copies past the buffer).
  ExpectRefused("{" + key + "SL" + Int64Be(1u << 30) + "abc}", "needs 1073741824 byte(s)");
  ExpectRefused("{" + key + "SL" + Int64Be(~uint64_t{0}) + "}", "negative size");
  // Typed and counted arrays whose count exceeds the bytes left.
  ExpectRefused("{" + key + "[$d#L" + Int64Be(1000) + "}", "runs past the end");
  ExpectRefused("{" + key + "[#L" + Int64Be(1000) + "Z}", "cannot fit");
  ExpectRefused("{" + key + "[$q#L" + Int64Be(0) + "}", "unsupported type 0x71");
  ExpectRefused("{" + key + "D" + std::string(8, '\0') + "}", "marker 0x44");
  ExpectRefused("{" + key + "Z}junk", "4 unexpected byte(s)");
  ExpectRefused("{" + key + "Z", "no closing '}'");
  ExpectRefused("{Lab", "ends inside the size");
}

TEST(XgbImport, HostileJsonAndOtherFormatsAreRefused) {
  ExpectRefused("{\"a\":" + std::string(100000, '['), "nested deeper than 64");
  ExpectRefused("{\"a\": [1, 2}", "parse error");
  ExpectRefused("{\"a\": \"\xc3\x28\"}", "parse error");
  ExpectRefused("{\"a\": 1} {}", "parse error");
  ExpectRefused("binf\x00\x00\x00", "legacy binary models are not accepted");
  ExpectRefused("", "empty");
  ExpectRefused("{", "not an XGBoost JSON or UBJSON model");
  ExpectRefused("{!", "byte 0x21 after the opening brace");
}

}  // namespace
}  // namespace marquee

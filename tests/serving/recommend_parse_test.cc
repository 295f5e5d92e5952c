// The /v1/recommend body parser without a DOM (ParseRecommendRequestFast, simdjson On Demand)
// gives the request that the nlohmann path (ParseRecommendBody) gives, for every body it takes,
// and takes no body that the nlohmann path refuses: random bodies with every field, wrong types,
// repeated and unknown keys, escapes, NULs, numbers as ids, limits, whitespace, trailing text and
// random byte damage.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "marquee/error.h"
#include "serving/service.h"

namespace marquee {
namespace {

std::string Describe(const RecommendRequest& r) {
  auto list = [](const std::vector<std::string>& v) {
    std::string s = "[";
    for (const auto& x : v) s += "<" + x + ">";
    return s + "]";
  };
  return "model<" + r.model + "> user" + (r.user ? "<" + *r.user + ">" : "-") + " k" +
         std::to_string(r.k) + " ex" + std::to_string(r.exclude_seen) + " history" +
         (r.history ? list(*r.history) : "-") + " allow" + (r.allow ? list(*r.allow) : "-") +
         " deny" + list(r.deny) + " experiment" + (r.experiment ? "<" + *r.experiment + ">" : "-");
}

std::string Pick(std::mt19937& rng, const std::vector<std::string>& v) {
  return v[rng() % v.size()];
}

std::string RandomString(std::mt19937& rng) {
  return Pick(rng, {R"("196")", R"("i1")", R"("")", R"("a\"b")", R"("\u0041x")", R"("\u0000")",
                    R"("caf\u00e9")", "\"caf\xc3\xa9\"", R"("\ud83d\ude00")", R"("\ud800")",
                    "\"raw\x01\"", "\"bad\xff\"", R"("x\ny")", R"("recs@production")"});
}

std::string RandomValue(std::mt19937& rng, int depth = 0) {
  switch (rng() % 12) {
    case 0:
    case 1:
    case 2:
      return RandomString(rng);
    case 3:
      return Pick(rng, {"10", "0", "-1", "1", "1000", "1001", "3.0", "1e1", "-0", "01",
                        "99999999999999999999", "18446744073709551615"});
    case 4:
      return Pick(rng, {"true", "false", "null"});
    case 5:
    case 6:
    case 7: {
      std::string a = "[";
      const int n = static_cast<int>(rng() % 5);
      for (int i = 0; i < n; ++i) {
        if (i) a += ",";
        a += rng() % 6 == 0 ? RandomValue(rng, depth + 1) : RandomString(rng);
      }
      return a + "]";
    }
    case 8:
      if (depth < 3) {
        std::string o = "{";
        const int n = static_cast<int>(rng() % 3);
        for (int i = 0; i < n; ++i) {
          if (i) o += ",";
          o += "\"" + Pick(rng, {"allow", "deny", "other", "allow"}) +
               "\":" + RandomValue(rng, depth + 1);
        }
        return o + "}";
      }
      return "{}";
    default:
      return RandomString(rng);
  }
}

std::string RandomBody(std::mt19937& rng) {
  static const std::vector<std::string> kKeys = {"model",        "user",        "k",
                                                 "exclude_seen", "history",     "filter",
                                                 "experiment",   "mod\\u0065l", "surprise"};
  std::string b = rng() % 8 == 0 ? Pick(rng, {" {", "\t{\n", "\xef\xbb\xbf{", "["}) : "{";
  const int n = static_cast<int>(rng() % 6);
  bool any = false;
  auto add = [&](const std::string& key, const std::string& value) {
    if (any) b += Pick(rng, {",", " , ", ",\n"});
    any = true;
    b += "\"" + key + "\"" + Pick(rng, {":", " : "}) + value;
  };
  if (rng() % 4 != 0) add("model", R"("recs@production")");
  for (int i = 0; i < n; ++i) {
    const std::string key = rng() % 8 == 0 ? Pick(rng, kKeys) : Pick(rng, {"user", "k", "history"});
    std::string value = RandomValue(rng);
    if (key == "user" && rng() % 4 != 0) value = Pick(rng, {R"("196")", R"("caf\u00e9")", "null"});
    if (key == "history" && rng() % 4 != 0) {  // usually well formed
      value = "[";
      const int items = static_cast<int>(rng() % 6);
      for (int j = 0; j < items; ++j) value += (j ? ",\"i" : "\"i") + std::to_string(j) + "\"";
      value += "]";
    }
    if (key == "filter" && rng() % 2) value = R"({"allow": ["i1", "i2"], "deny": ["i3"]})";
    if (key == "k" && rng() % 4 != 0) value = std::to_string(rng() % 12);
    if (key == "exclude_seen" && rng() % 2) value = "false";
    add(key, value);
  }
  b += rng() % 4 != 0 ? "}" : Pick(rng, {"} ", "}\n", "}x", "}}", "", "}{}", "} \"\""});
  // Random damage: a byte changed, cut or inserted.
  if (rng() % 8 == 0 && !b.empty()) {
    const size_t at = rng() % b.size();
    switch (rng() % 3) {
      case 0:
        b[at] = static_cast<char>(rng() % 256);
        break;
      case 1:
        b.resize(at);
        break;
      default:
        b.insert(at, 1, Pick(rng, {"\"", "\\", ",", "[", "\x80", "0"})[0]);
    }
  }
  return b;
}

TEST(RecommendParse, FastPathAgreesWithTheNlohmannPath) {
  ServiceLimits limits;
  limits.max_history = 4;  // lists over it are refused (kResourceExhausted) by the slow path
  std::mt19937 rng(20261206);
  size_t fast = 0, slow_only = 0, refused = 0;
  for (int i = 0; i < 60000; ++i) {
    const std::string body = RandomBody(rng);
    RecommendRequest got;
    const bool taken = ParseRecommendRequestFast(body, limits, got);
    std::string want, error;
    try {
      want = Describe(ParseRecommendBody(body, limits));
    } catch (const std::exception& e) {  // marquee::Error, or nlohmann's for wrong value types
      error = e.what();
    }
    if (taken) {
      ASSERT_EQ(error, "") << "the fast path took a body the nlohmann path refuses: " << body;
      ASSERT_EQ(Describe(got), want) << body;
      ++fast;
    } else if (error.empty()) {
      ++slow_only;
    } else {
      ++refused;
    }
  }
  // Each outcome occurred often enough to have been tested.
  EXPECT_GT(fast, 2000u);
  EXPECT_GT(slow_only, 200u);
  EXPECT_GT(refused, 2000u);
  std::printf("fast %zu, nlohmann only %zu, refused %zu\n", fast, slow_only, refused);
}

TEST(RecommendParse, TheBenchmarksBodiesTakeTheFastPath) {
  ServiceLimits limits;
  RecommendRequest r;
  ASSERT_TRUE(ParseRecommendRequestFast(
      R"({"model": "ml100k-ease@production", "user": "196", "k": 10})", limits, r));
  EXPECT_EQ(r.model, "ml100k-ease@production");
  EXPECT_EQ(*r.user, "196");
  EXPECT_EQ(r.k, 10u);
  EXPECT_FALSE(r.history.has_value());
  ASSERT_TRUE(ParseRecommendRequestFast(
      R"({"model": "m", "history": ["1", "50", "181"], "k": 10, "filter": {"deny": ["7"]}})",
      limits, r));
  EXPECT_EQ(Describe(r),
            Describe(ParseRecommendBody(R"({"model":"m","history":["1","50","181"],"k":10,)"
                                        R"("filter":{"deny":["7"]}})",
                                        limits)));
  EXPECT_FALSE(r.user.has_value());
  // Numbers as ids, unknown keys: the nlohmann path (which takes the first, refuses the second).
  EXPECT_FALSE(ParseRecommendRequestFast(R"({"model": "m", "user": 196})", limits, r));
  EXPECT_FALSE(ParseRecommendRequestFast(R"({"model": "m", "user": "1", "x": 1})", limits, r));
  // Over 64 KiB (the parser per thread stays small): the nlohmann path, which reads it the same.
  const std::string big = R"({"model": "m", "user": ")" + std::string(70000, 'u') + R"("})";
  EXPECT_FALSE(ParseRecommendRequestFast(big, limits, r));
  EXPECT_EQ(ParseRecommendBody(big, limits).user->size(), 70000u);
}

}  // namespace
}  // namespace marquee

// The /v1/recommend response writer (Ranked::AppendJson) writes the same bytes as building the
// nlohmann value and dumping it (DumpJson(Ranked::ToJson())), on many random responses: ids that
// need escaping, invalid UTF-8 (replaced), control characters, every kind of float (integral,
// tiny, huge, negative, subnormal, non-finite), empty lists, fallback and history flags, and
// error answers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "serving/service.h"

namespace marquee {
namespace {

std::string RandomId(std::mt19937& rng) {
  static const std::vector<std::string> kPieces = {"42",
                                                   "item",
                                                   "\"",
                                                   "\\",
                                                   "/",
                                                   "\n",
                                                   "\t",
                                                   "\x01",
                                                   "\x1f",
                                                   "\x7f",
                                                   "é",
                                                   "\xE2\x82\xAC",
                                                   "\xF0\x9F\x8E\xAC",
                                                   "\xff",
                                                   "\xC3",
                                                   "\xED\xA0\x80",
                                                   " ",
                                                   "\u2028",
                                                   "a b",
                                                   "",
                                                   "{}",
                                                   "[]"};
  std::string s;
  const int n = std::uniform_int_distribution<int>(0, 4)(rng);
  for (int i = 0; i < n; ++i) s += kPieces[rng() % kPieces.size()];
  return s;
}

float RandomScore(std::mt19937& rng) {
  switch (rng() % 10) {
    case 0:
      return static_cast<float>(std::uniform_int_distribution<int>(-1000, 1000)(rng));  // integral
    case 1:
      return std::ldexp(1.0f, std::uniform_int_distribution<int>(-149, 127)(rng));  // powers of 2
    case 2: {
      uint32_t bits = static_cast<uint32_t>(rng());  // any bit pattern, NaN and inf included
      float f;
      std::memcpy(&f, &bits, sizeof(f));
      return f;
    }
    case 3:
      return std::numeric_limits<float>::denorm_min() * static_cast<float>(rng() % 1000);
    case 4:
      return 0.1f * static_cast<float>(rng() % 100);
    default:
      return std::uniform_real_distribution<float>(-2.0f, 2.0f)(rng);
  }
}

TEST(ResponseJson, AppendJsonIsByteIdenticalToDumpingTheJsonValue) {
  std::mt19937 rng(18);
  int compared = 0;
  for (int model_no = 0; model_no < 40; ++model_no) {
    auto m = std::make_shared<ServableModel>();
    m->name = model_no % 3 == 0 ? RandomId(rng) : "ml100k-ease";
    m->version = model_no % 4 == 0 ? std::numeric_limits<int64_t>::max() : model_no;
    const int n = 1 + static_cast<int>(rng() % 50);
    for (int i = 0; i < n; ++i) {
      m->bundle.item_ids.push_back(i % 2 == 0 ? std::to_string(i) : RandomId(rng));
    }
    for (int resp = 0; resp < 100; ++resp) {
      Ranked r;
      r.model = m;
      const int k = static_cast<int>(rng() % 12);
      for (int j = 0; j < k; ++j) {
        r.items.push_back(static_cast<uint32_t>(rng() % n));
        r.scores.push_back(RandomScore(rng));
      }
      r.fallback = rng() % 3 == 0;
      r.history_unavailable = rng() % 5 == 0;
      std::string fast = "prefix:";  // AppendJson appends
      r.AppendJson(fast);
      EXPECT_EQ(fast, "prefix:" + DumpJson(r.ToJson()))
          << "model " << model_no << " response " << resp;
      ++compared;
    }
  }
  EXPECT_EQ(compared, 4000);
}

TEST(ResponseJson, ErrorsAndPlainResponsesRead) {
  auto m = std::make_shared<ServableModel>();
  m->name = "recs";
  m->version = 3;
  m->bundle.item_ids = {"a", "b\"c"};
  Ranked r;
  r.model = m;
  r.items = {1, 0};
  r.scores = {1.5f, 0.25f};
  std::string out;
  r.AppendJson(out);
  EXPECT_EQ(
      out,
      R"({"items":[{"id":"b\"c","score":1.5},{"id":"a","score":0.25}],"model":"recs","version":3})");
  Ranked failed;
  failed.error.emplace(ErrorCode::kNotFound, "unknown item '\xff'");
  out.clear();
  failed.AppendJson(out);
  EXPECT_EQ(out, DumpJson(failed.ToJson()));
  EXPECT_NE(out.find("\"not_found\""), std::string::npos) << out;
}

}  // namespace
}  // namespace marquee

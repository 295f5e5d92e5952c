#include "common/time.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace marquee {
namespace {

TEST(TimeTest, FormatsIsoUtc) {
  EXPECT_EQ(IsoUtc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(IsoUtc(-1), "1969-12-31T23:59:59Z");
  EXPECT_EQ(IsoUtc(951782400), "2000-02-29T00:00:00Z");  // a leap day of a century year
  EXPECT_EQ(IsoUtc(1796454341), "2026-12-05T07:05:41Z");
  EXPECT_EQ(IsoUtcMillis(1796454341123), "2026-12-05T07:05:41.123Z");
  EXPECT_EQ(IsoUtcMillis(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(IsoUtcMillis(5), "1970-01-01T00:00:00.005Z");
  // Any int64: times read from files are not range-checked before they are printed.
  EXPECT_FALSE(IsoUtc(std::numeric_limits<int64_t>::max()).empty());
  EXPECT_FALSE(IsoUtc(std::numeric_limits<int64_t>::min() / 2).empty());
}

TEST(TimeTest, ParsesIsoUtcAndRoundTrips) {
  const struct {
    const char* text;
    int64_t seconds;
  } kCases[] = {{"1970-01-01", 0},
                {"2024-02-29", 1709164800},
                {"2026-12-05T07:05:41Z", 1796454341},
                {"2026-12-05t07:05:41z", 1796454341},
                {"2026-12-05 08:05:41.5+01:00", 1796454341},
                {"2026-12-05T02:05:41-0500", 1796454341},
                {"2026-12-05T07:05", 1796454300}};
  for (const auto& c : kCases) EXPECT_EQ(ParseIsoUtc(c.text), c.seconds) << c.text;
  for (int64_t t : {int64_t{-86401}, int64_t{0}, int64_t{951782400}, int64_t{4102444799}}) {
    EXPECT_EQ(ParseIsoUtc(IsoUtc(t)), t) << t;
  }
  for (const char* bad : {"", "2026", "2026-13-01", "2026-02-29", "2026-12-05T24:00:00Z",
                          "2026-12-05T07:05:41Q", "2026-12-05T07", "yesterday", "12/05/2026"}) {
    EXPECT_FALSE(ParseIsoUtc(bad).has_value()) << bad;
  }
}

TEST(TimeTest, ParseTimeTakesUnixSecondsOrIso) {
  const struct {
    const char* text;
    int64_t seconds;
  } kCases[] = {{"964982703", 964982703}, {"+12", 12},
                {" 12.9\r", 12},          {"-0.5", -1},
                {"1.5e9", 1500000000},    {"2019-11-24T00:03:13Z", 1574553793}};
  for (const auto& c : kCases) EXPECT_EQ(ParseTime(c.text), c.seconds) << c.text;
  for (const char* bad : {"", "  ", "inf", "nan", "0x10", "1e30", "12abc", "+2019-11-24", "--1"}) {
    EXPECT_FALSE(ParseTime(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace marquee

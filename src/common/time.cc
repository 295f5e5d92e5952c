#include "common/time.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace marquee {
namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// Reads exactly `width` digits at s[*pos].
bool Digits(std::string_view s, size_t* pos, size_t width, int* out) {
  if (*pos + width > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < width; ++i) {
    char c = s[*pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += width;
  *out = v;
  return true;
}

// "YYYY-MM-DDTHH:MM:SS" of Unix seconds (H. Hinnant's civil_from_days), without the zone.
std::string IsoUtcNoZone(int64_t t) {
  int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
  int64_t secs = t - days * 86400;
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", y, m, d, secs / 3600, (secs / 60) % 60,
                     secs % 60);
}

std::string_view TrimBlanks(std::string_view s) {
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string IsoUtc(int64_t unix_seconds) { return IsoUtcNoZone(unix_seconds) + "Z"; }

std::string IsoUtcMillis(int64_t ms) {
  const int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  return fmt::format("{}.{:03}Z", IsoUtcNoZone(secs), ms - secs * 1000);
}

std::optional<int64_t> ParseIsoUtc(std::string_view s) {
  size_t p = 0;
  int year, month, day, hour = 0, minute = 0, second = 0;
  if (!Digits(s, &p, 4, &year) || p >= s.size() || s[p++] != '-' || !Digits(s, &p, 2, &month) ||
      p >= s.size() || s[p++] != '-' || !Digits(s, &p, 2, &day)) {
    return std::nullopt;
  }
  static constexpr int kMonthDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1) return std::nullopt;
  if (day > kMonthDays[month - 1] + (month == 2 && IsLeap(year) ? 1 : 0)) return std::nullopt;
  int64_t offset_seconds = 0;
  if (p < s.size() && (s[p] == 'T' || s[p] == 't' || s[p] == ' ')) {
    ++p;
    if (!Digits(s, &p, 2, &hour) || p >= s.size() || s[p++] != ':' || !Digits(s, &p, 2, &minute)) {
      return std::nullopt;
    }
    if (p < s.size() && s[p] == ':') {
      ++p;
      if (!Digits(s, &p, 2, &second)) return std::nullopt;
      if (p < s.size() && (s[p] == '.' || s[p] == ',')) {
        ++p;
        size_t start = p;
        while (p < s.size() && s[p] >= '0' && s[p] <= '9') ++p;
        if (p == start) return std::nullopt;  // fractional seconds are truncated
      }
    }
    if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
    if (p < s.size()) {
      if (s[p] == 'Z' || s[p] == 'z') {
        ++p;
      } else if (s[p] == '+' || s[p] == '-') {
        const int sign = s[p] == '-' ? -1 : 1;
        ++p;
        int oh, om = 0;
        if (!Digits(s, &p, 2, &oh)) return std::nullopt;
        if (p < s.size() && s[p] == ':') ++p;
        if (p < s.size() && !Digits(s, &p, 2, &om)) return std::nullopt;
        if (oh > 23 || om > 59) return std::nullopt;
        offset_seconds = sign * (oh * 3600 + om * 60);
      }
    }
  }
  if (p != s.size()) return std::nullopt;
  return DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
         hour * 3600 + minute * 60 + second - offset_seconds;
}

std::optional<int64_t> ParseTime(std::string_view field) {
  std::string_view s = TrimBlanks(field);
  if (s.empty()) return std::nullopt;
  std::string_view d = s;  // from_chars takes no '+'
  if (d.size() > 1 && d[0] == '+') d.remove_prefix(1);
  {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(d.data(), d.data() + d.size(), v);
    if (ec == std::errc() && end == d.data() + d.size()) return v;
  }
  // Decimal Unix seconds ("1600000000.25", "1.6e9"): plain numbers only, no inf/nan/hex.
  const bool numeric_chars = std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-';
  });
  if (numeric_chars && s.find_first_of("0123456789") != std::string_view::npos) {
    double v = 0;
    auto [end, ec] = std::from_chars(d.data(), d.data() + d.size(), v);
    if (ec == std::errc() && end == d.data() + d.size() && std::isfinite(v) && v > -9.2e18 &&
        v < 9.2e18) {
      return static_cast<int64_t>(std::floor(v));
    }
  }
  return ParseIsoUtc(s);
}

}  // namespace marquee

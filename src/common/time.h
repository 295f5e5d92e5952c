// Time text: Marquee's one convention for printed times is ISO 8601 in UTC with a 'Z'
// ("2026-12-05T07:05:41Z"), in human output and in JSON alike. Every formatter and parser of
// calendar time lives here. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace marquee {

// Unix seconds as "YYYY-MM-DDTHH:MM:SSZ" (proleptic Gregorian, any int64 year range: the
// calendar arithmetic is H. Hinnant's, as in std::chrono, whose year type stops at 32767).
std::string IsoUtc(int64_t unix_seconds);
// Unix milliseconds as "YYYY-MM-DDTHH:MM:SS.mmmZ" (DSJSON's Timestamp).
std::string IsoUtcMillis(int64_t unix_millis);
// Parses ISO 8601 "YYYY-MM-DD", "YYYY-MM-DD[T ]HH:MM[:SS[.fff]]" with an optional "Z" or
// "+hh[:mm]"/"-hh[:mm]" offset (no offset: UTC) into Unix seconds (fractions are truncated).
// nullopt when `text` is not such a date-time or names an invalid date.
std::optional<int64_t> ParseIsoUtc(std::string_view text);
// Parses a time field of a data file or a flag: integer or decimal Unix seconds ("964982703",
// "1.5e9"; decimals are floored), or ParseIsoUtc's ISO 8601; surrounding blanks (spaces, tabs,
// CR) are ignored. nullopt when it is neither. Every reader of times (interaction, tabular and
// bandit files, `decisions export --since`) goes through this one rule.
std::optional<int64_t> ParseTime(std::string_view field);

}  // namespace marquee

// Fuzzes the one delimited-text scanner (CsvScanner in src/common/csv.cc) that the interaction,
// tabular and OBD readers share. The first byte picks the dialect (delimiter ',', '\t', ';' or
// "::"; quoting; trimming; whitespace lines); the rest is the text. Checks: every record starts
// on a line within the text, line numbers never go back, the scanner always advances, and a
// text that scans without errors round-trips: writing each record back with every field quoted
// (RFC 4180) and scanning that gives the same fields.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "common/csv.h"
#include "fuzz_util.h"

namespace {

using Records = std::vector<std::vector<std::string>>;

// Scans `text`; false when a record is malformed.
bool ScanAll(std::string_view text, const marquee::CsvDialect& d, Records* out) {
  using marquee::fuzz::Check;
  marquee::CsvScanner scan(text, d);
  const uint64_t max_line = 1 + static_cast<uint64_t>(std::count(text.begin(), text.end(), '\n'));
  uint64_t last_line = 0;
  size_t last_pos = 0;
  bool ok = true;
  for (marquee::CsvRecord r; scan.Next(&r);) {
    Check(r.line >= 1 && r.line <= max_line, "a record's line is outside the text");
    Check(r.line >= last_line, "line numbers went back");
    Check(scan.position() > last_pos, "the scanner did not advance");
    Check(r.error.empty() || r.fields.empty(), "a malformed record has fields");
    last_line = r.line;
    last_pos = scan.position();
    if (!r.error.empty()) {
      ok = false;
      continue;
    }
    Check(!r.fields.empty(), "a record without fields");
    out->emplace_back(r.fields.begin(), r.fields.end());
  }
  return ok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace marquee;
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  static constexpr std::string_view kDelims[] = {",", "\t", ";", "::"};
  CsvDialect d;
  d.delimiter = kDelims[flags & 3];
  d.quoting = (flags & 4) == 0;
  d.trim = (flags & 8) == 0;
  d.skip_whitespace_lines = (flags & 16) != 0;
  const std::string_view text = fuzz::AsText(data + 1, size - 1);
  Records records;
  try {
    if (!ScanAll(text, d, &records) || !d.quoting) return 0;
  } catch (const Error&) {
    return 0;
  }
  // Round trip: every field quoted, records on their own lines.
  std::string written;
  for (const auto& rec : records) {
    for (size_t i = 0; i < rec.size(); ++i) {
      if (i > 0) written += d.delimiter;
      written += '"';
      for (char c : rec[i]) {
        if (c == '"') written += '"';
        written += c;
      }
      written += '"';
    }
    written += '\n';
  }
  Records again;
  fuzz::Check(ScanAll(written, d, &again), "a written record does not scan");
  fuzz::Check(again == records, "the round trip changed the records");
  return 0;
}

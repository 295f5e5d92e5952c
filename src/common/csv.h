// CsvScanner: Marquee's one reader of delimited text (RFC 4180 CSV, TSV, MovieLens "::"), used
// by the interaction readers (data/readers.cc), the tabular CSV reader (tabular/table.cc) and the
// Open Bandit Dataset reader (bandits/log.cc).
//
// The grammar, for a dialect with quoting on (RFC 4180 plus the relaxations real files need):
//   - a record ends at LF, CRLF or a lone CR; the last record needs no line break;
//   - a field that starts with '"' (after blanks, when trimming) is quoted: it may hold the
//     delimiter, line breaks and doubled quotes ("" is one "); only blanks may follow its closing
//     quote before the delimiter or the end of the record;
//   - an unquoted field runs to the delimiter or the end of the record; a '"' inside it is text;
//   - empty lines (and, with skip_whitespace_lines, lines of only spaces and tabs) are skipped;
//   - a UTF-8 byte order mark at the start of the text is skipped.
// Fields are string_views into the text, except quoted fields with doubled quotes, which are
// unescaped into scratch buffers the scanner owns: every view stays valid until the next call to
// Next() on the same scanner (copies of a scanner own their own buffers). Nothing is copied per
// field otherwise, so a multi-gigabyte memory-mapped file streams through it.
//
// A malformed record (an unterminated quote, text after a closing quote) is reported in the
// record (`error`, with `line` the 1-based line it starts on) and the scanner resumes on the
// next physical line, so one bad quote costs one line, not the rest of the file. Callers that
// stop at the first error throw it; those that skip bad lines count it.
//
// Thread-compatible: one scanner per thread.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace marquee {

struct CsvDialect {
  // One or more characters ("::" for MovieLens .dat); never a line break, nor '"' with quoting.
  std::string_view delimiter = ",";
  bool quoting = true;  // off: '"' is ordinary text (TSV, MovieLens u.data and .dat)
  // Strip spaces and tabs (other than the delimiter) around unquoted fields and quotes.
  bool trim = true;
  // Also skip lines holding only spaces and tabs (otherwise they are records of blank fields).
  bool skip_whitespace_lines = false;
};

struct CsvRecord {
  std::vector<std::string_view> fields;  // valid until the scanner's next Next()
  uint64_t line = 0;                     // 1-based line the record starts on
  std::string error;                     // non-empty: the record is malformed, fields is empty
};

class CsvScanner {
 public:
  // `text` must outlive the scanner. Fails (kInvalidArgument) on an invalid delimiter.
  CsvScanner(std::string_view text, const CsvDialect& dialect);

  // Reads the next record into *r; false at the end of the text (r is then cleared).
  bool Next(CsvRecord* r);

  // Byte offset of the next record (or of the blank lines before it).
  size_t position() const { return pos_; }

 private:
  void SkipBlankLines();
  // The offset just past the line break that ends the physical line holding `pos`.
  size_t NextLineStart(size_t pos) const;
  bool IsBlank(char c) const { return (c == ' ' || c == '\t') && c != d0_; }
  bool AtDelimiter(size_t i) const {
    return text_[i] == d0_ && (dlen_ == 1 || text_.compare(i, dlen_, delim_) == 0);
  }
  // After a record's last field at `i` (a line break or the end): moves past the break.
  size_t EndOfRecord(size_t i);
  void Malformed(CsvRecord* r, size_t record_start, std::string why);
  std::string& Scratch();

  std::string_view text_;
  std::string delim_;
  char d0_;
  size_t dlen_;
  bool quoting_, trim_, skip_ws_lines_;
  size_t pos_ = 0;
  uint64_t line_ = 1;
  std::deque<std::string> scratch_;  // deque: growing it never moves the strings views point at
  size_t scratch_used_ = 0;
};

}  // namespace marquee

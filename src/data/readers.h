// Interaction readers: MovieLens u.data (TSV), ratings.csv (CSV with header, CRLF),
// ratings.dat ("::"), and generic CSV / TSV / JSONL with column mapping.
// Errors name the file and line: "ratings.csv:17: value 'abc' is not a number".
// Ids must be valid UTF-8 without NUL bytes (they are echoed in every JSON response): anything
// else is refused at import as "u.data:17: user id is not valid UTF-8 (byte 0xc3 at offset 3;
// ...)". There is no encoding option: convert Latin-1 files first (iconv -f latin1 -t utf-8).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/time.h"
#include "marquee/dataset.h"

namespace marquee {

class Env;

struct ReadOptions {
  // "auto" (by file name and content), "movielens" (u.data: user item rating time, TAB),
  // "movielens-csv" (ratings.csv), "movielens-dat" (ratings.dat, "::"), "csv", "tsv", "jsonl".
  std::string format = "auto";
  std::optional<char> delimiter;  // overrides the format's delimiter for csv/tsv
  std::optional<bool> header;     // unset: detected (first row's value/time fields not numeric)
  // Column names (with a header, or JSONL keys) or 0-based indices ("0", "1", ...). Empty means
  // the default: user, item, value, time in that order (first four columns); a default value or
  // time column the file does not have is simply absent (has_values / has_times false).
  // "none" (or "-") drops the value or time column even when the file has one. Header names
  // match exactly, else case-insensitively. JSONL defaults are the first key present in the
  // first object among user/user_id/userId/userid/uid, item/item_id/itemId/itemid/movieId/
  // movie_id/iid, value/rating/score and time/timestamp/ts; an index picks the first object's
  // N-th key. Unquoted fields are trimmed of surrounding spaces; quoted fields are verbatim.
  std::string user_col, item_col, value_col, time_col;
  bool skip_bad_lines = false;  // count and continue instead of failing on the first bad line
  // Called from the reading thread every 64Ki lines with the lines read so far and the file's
  // line count (for a progress display); may be empty.
  std::function<void(uint64_t lines_done, uint64_t lines_total)> progress;
};

struct ReadResult {
  std::vector<RawInteraction> rows;
  bool has_values = false;
  bool has_times = false;
  std::string format;  // the format actually used
  uint64_t lines = 0;  // data lines seen (header excluded)
  uint64_t bad_lines = 0;
  std::vector<std::string> bad_line_examples;  // first few "file:line: reason" messages
};

// Reads a whole file. Throws kNotFound for a missing file, kInvalidArgument for a malformed
// line (unless skip_bad_lines) or bad options, naming file:line and the reason.
ReadResult ReadInteractions(const std::string& path, const ReadOptions& options, Env* env);

struct DatasetReadResult {
  Dataset dataset;  // source = the path
  bool has_values = false;
  bool has_times = false;
  std::string format;
  uint64_t lines = 0;
  uint64_t bad_lines = 0;
  std::vector<std::string> bad_line_examples;
};

// Reads a whole file straight into a Dataset: the same rows, ids and order as
// Dataset::FromRows(ReadInteractions(...).rows, ...) (hence the same snapshot bytes), without a
// record per row: ids become dense on the fly through one hash map per side, each distinct id
// is stored once, the rows go into four columns, and the file's pages are released from memory
// behind the parse. Peak memory is about the columns plus one permuted column (20 bytes a row
// with values and times, plus 4 for the sort). Errors as ReadInteractions.
DatasetReadResult ReadDataset(const std::string& path, const ReadOptions& options, Env* env);

// The same parser over bytes in memory (tests, fuzzing). `origin` stands for the file name: it
// picks the format under "auto" as a file name would and names the source in messages.
ReadResult ParseInteractions(std::string_view text, const std::string& origin,
                             const ReadOptions& options);

// Why `text` cannot be stored as an id, a category or a feature name, or "" when it can: it must
// be valid UTF-8 without NUL bytes. The reason reads after the field's name: "is not valid UTF-8
// (byte 0xe9 at offset 3; if the file is Latin-1, convert it: iconv -f latin1 -t utf-8)" or
// "contains a NUL byte (at offset 2)". Pure, thread-safe; plain ASCII costs one pass.
std::string StoredTextProblem(std::string_view text);

// ParseTime (a time field: Unix seconds or ISO 8601) comes from common/time.h.

}  // namespace marquee

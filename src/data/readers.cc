// Interaction readers. The file is memory-mapped and parsed in one pass; fields are string_views
// into the mapping (quoted fields with doubled quotes, unescaped by common/csv.h's scanner, and
// JSON strings with escapes are the only ones copied into reusable scratch buffers), numbers go
// through std::from_chars, so the only per-row allocations are ids longer than the small-string
// buffer.
#include "data/readers.h"

#include <sys/mman.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/csv.h"
#include "common/text.h"
#include "common/time.h"
#include "data/dataset_storage.h"
#include "marquee/env.h"
#include "marquee/error.h"

namespace marquee {
namespace {

constexpr size_t kMaxBadLineExamples = 10;

// Asks the kernel to back a large fresh allocation with transparent huge pages. The rows of a
// 20M-line file take 1.6 GB; with 4 KiB pages the first-touch page faults cost more than the
// parsing itself (measured: 3M lines 1.3 s -> 0.4 s). A hint only: failure changes nothing.
void AdviseHugePages(const void* data, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(kHuge - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)data;
  (void)bytes;
#endif
}

enum class Format { kMovieLens, kMovieLensCsv, kMovieLensDat, kCsv, kTsv, kJsonl };

std::string_view FormatName(Format f) {
  switch (f) {
    case Format::kMovieLens:
      return "movielens";
    case Format::kMovieLensCsv:
      return "movielens-csv";
    case Format::kMovieLensDat:
      return "movielens-dat";
    case Format::kCsv:
      return "csv";
    case Format::kTsv:
      return "tsv";
    case Format::kJsonl:
      return "jsonl";
  }
  return "?";
}

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (IsSpace(s.front()) || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (IsSpace(s.back()) || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && EqualsIgnoreCase(s.substr(s.size() - suffix.size()), suffix);
}

// Field text quoted into a message, shortened so a runaway field cannot flood the terminal, and
// escaped so that no byte of it can make the message invalid UTF-8 or drive the terminal.
std::string Quote(std::string_view s) { return fmt::format("'{}'", QuoteForMessage(s, 40)); }

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += n.empty() ? "''" : QuoteForMessage(n, 60);
  }
  return out;
}

bool PlainAscii(std::string_view s) {
  for (char c : s) {
    if (c == '\0' || (static_cast<unsigned char>(c) & 0x80) != 0) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Numbers and times.

// Parses a float field; on failure sets *reason (the field is named `what` in it).
bool ParseFloatField(std::string_view raw, const char* what, float* out, std::string* reason) {
  std::string_view s = Trim(raw);
  if (s.empty()) {
    *reason = fmt::format("empty {} field", what);
    return false;
  }
  std::string_view digits = s;
  if (digits.size() > 1 && digits[0] == '+' && digits[1] != '-') digits.remove_prefix(1);
  float v = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec == std::errc::result_out_of_range) {
    *reason = fmt::format("{} {} is out of range", what, Quote(s));
    return false;
  }
  if (ec != std::errc() || end != digits.data() + digits.size()) {
    *reason = fmt::format("{} {} is not a number", what, Quote(s));
    return false;
  }
  if (!std::isfinite(v)) {
    *reason = fmt::format("{} {} is not finite", what, Quote(s));
    return false;
  }
  *out = v;
  return true;
}

bool ParseTimeField(std::string_view raw, int64_t* out, std::string* reason) {
  std::string_view s = Trim(raw);
  if (s.empty()) {
    *reason = "empty time field";
    return false;
  }
  std::optional<int64_t> t = ParseTime(s);
  if (!t) {
    *reason = fmt::format("time {} is not Unix seconds or an ISO-8601 date-time", Quote(s));
    return false;
  }
  *out = *t;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Minimal JSON object scanner for JSONL lines: collects the top-level members of one object.
// String values are unescaped (\uXXXX and surrogate pairs to UTF-8); numbers keep their text so
// numeric ids stay verbatim; nested objects and arrays are validated and skipped.

enum class JsonKind { kString, kNumber, kTrue, kFalse, kNull, kObject, kArray };

struct JsonMember {
  std::string_view key;
  JsonKind kind;
  std::string_view text;  // decoded string, or the number's text
};

class JsonLineScanner {
 public:
  // Parses `line` as exactly one JSON object. On failure sets *reason.
  bool Parse(std::string_view line, std::vector<JsonMember>* members, std::string* reason) {
    s_ = line;
    p_ = 0;
    used_ = 0;
    members->clear();
    error_.clear();
    SkipWs();
    if (!Eat('{')) return Error(reason, "expected '{' at the start of the line");
    SkipWs();
    if (!Eat('}')) {
      for (;;) {
        SkipWs();
        JsonMember m;
        if (Peek() != '"') return Error(reason, "expected a string key");
        if (!String(&m.key)) return Error(reason, error_);
        SkipWs();
        if (!Eat(':')) return Error(reason, "expected ':' after a key");
        SkipWs();
        if (!Value(&m.kind, &m.text, 0)) return Error(reason, error_);
        members->push_back(m);
        SkipWs();
        if (Eat(',')) continue;
        if (Eat('}')) break;
        return Error(reason, "expected ',' or '}'");
      }
    }
    SkipWs();
    if (p_ != s_.size()) return Error(reason, "unexpected text after the object");
    return true;
  }

 private:
  static constexpr int kMaxDepth = 64;

  char Peek() const { return p_ < s_.size() ? s_[p_] : '\0'; }
  bool Eat(char c) {
    if (p_ < s_.size() && s_[p_] == c) {
      ++p_;
      return true;
    }
    return false;
  }
  void SkipWs() {
    while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\t' || s_[p_] == '\r' || s_[p_] == '\n'))
      ++p_;
  }
  bool Error(std::string* reason, std::string_view what) {
    *reason = fmt::format("invalid JSON: {} at column {}", what, p_ + 1);
    return false;
  }
  bool Fail(const char* what) {
    error_ = what;
    return false;
  }
  std::string& Scratch() {
    if (used_ == scratch_.size()) scratch_.emplace_back();
    std::string& b = scratch_[used_++];
    b.clear();
    return b;
  }
  static void AppendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  bool Hex4(uint32_t* out) {
    if (p_ + 4 > s_.size()) return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[p_++];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return false;
      }
    }
    *out = v;
    return true;
  }
  // At '"'. Fast path: no escapes, the view points into the line.
  bool String(std::string_view* out) {
    ++p_;
    const size_t start = p_;
    while (p_ < s_.size() && s_[p_] != '"' && s_[p_] != '\\') {
      if (static_cast<unsigned char>(s_[p_]) < 0x20) return Fail("control character in a string");
      ++p_;
    }
    if (p_ >= s_.size()) return Fail("unterminated string");
    if (s_[p_] == '"') {
      *out = s_.substr(start, p_ - start);
      ++p_;
      return true;
    }
    std::string& buf = Scratch();
    buf.assign(s_.substr(start, p_ - start));
    for (;;) {
      if (p_ >= s_.size()) return Fail("unterminated string");
      char c = s_[p_++];
      if (c == '"') break;
      if (static_cast<unsigned char>(c) < 0x20) return Fail("control character in a string");
      if (c != '\\') {
        buf += c;
        continue;
      }
      if (p_ >= s_.size()) return Fail("unterminated string");
      char e = s_[p_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          buf += e;
          break;
        case 'b':
          buf += '\b';
          break;
        case 'f':
          buf += '\f';
          break;
        case 'n':
          buf += '\n';
          break;
        case 'r':
          buf += '\r';
          break;
        case 't':
          buf += '\t';
          break;
        case 'u': {
          uint32_t cp;
          if (!Hex4(&cp)) return Fail("bad \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo;
            if (p_ + 2 > s_.size() || s_[p_] != '\\' || s_[p_ + 1] != 'u') {
              return Fail("unpaired surrogate in \\u escape");
            }
            p_ += 2;
            if (!Hex4(&lo) || lo < 0xDC00 || lo > 0xDFFF) {
              return Fail("unpaired surrogate in \\u escape");
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return Fail("unpaired surrogate in \\u escape");
          }
          AppendUtf8(buf, cp);
          break;
        }
        default:
          return Fail("bad escape in a string");
      }
    }
    *out = buf;
    return true;
  }
  bool Number(std::string_view* out) {
    const size_t start = p_;
    Eat('-');
    if (Eat('0')) {
    } else if (Peek() >= '1' && Peek() <= '9') {
      while (Peek() >= '0' && Peek() <= '9') ++p_;
    } else {
      return Fail("bad number");
    }
    if (Eat('.')) {
      if (!(Peek() >= '0' && Peek() <= '9')) return Fail("bad number");
      while (Peek() >= '0' && Peek() <= '9') ++p_;
    }
    if (Peek() == 'e' || Peek() == 'E') {
      ++p_;
      if (Peek() == '+' || Peek() == '-') ++p_;
      if (!(Peek() >= '0' && Peek() <= '9')) return Fail("bad number");
      while (Peek() >= '0' && Peek() <= '9') ++p_;
    }
    *out = s_.substr(start, p_ - start);
    return true;
  }
  bool Literal(std::string_view word) {
    if (s_.substr(p_, word.size()) != word) return Fail("unexpected character");
    p_ += word.size();
    return true;
  }
  bool Value(JsonKind* kind, std::string_view* text, int depth) {
    if (depth > kMaxDepth) return Fail("nesting too deep");
    std::string_view ignored;
    if (text == nullptr) text = &ignored;
    const char c = Peek();
    if (c == '"') {
      *kind = JsonKind::kString;
      return String(text);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      *kind = JsonKind::kNumber;
      return Number(text);
    }
    if (c == 't') {
      *kind = JsonKind::kTrue;
      return Literal("true");
    }
    if (c == 'f') {
      *kind = JsonKind::kFalse;
      return Literal("false");
    }
    if (c == 'n') {
      *kind = JsonKind::kNull;
      return Literal("null");
    }
    if (c == '{' || c == '[') {
      const bool object = c == '{';
      *kind = object ? JsonKind::kObject : JsonKind::kArray;
      const char close = object ? '}' : ']';
      ++p_;
      SkipWs();
      if (Eat(close)) return true;
      for (;;) {
        SkipWs();
        if (object) {
          std::string_view key;
          if (Peek() != '"' || !String(&key))
            return error_.empty() ? Fail("expected a key") : false;
          SkipWs();
          if (!Eat(':')) return Fail("expected ':' after a key");
          SkipWs();
        }
        JsonKind k;
        if (!Value(&k, nullptr, depth + 1)) return false;
        SkipWs();
        if (Eat(',')) continue;
        if (Eat(close)) return true;
        return Fail(object ? "expected ',' or '}'" : "expected ',' or ']'");
      }
    }
    if (c == '\0' && p_ >= s_.size()) return Fail("unexpected end of line");
    return Fail("unexpected character");
  }

  std::string_view s_;
  size_t p_ = 0;
  std::string error_;
  std::deque<std::string> scratch_;  // deque: growing it never moves the strings views point at
  size_t used_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Delimited records.

// Where a Reader puts each good row: RawInteraction records (ReadInteractions), or dense
// columns (ReadDataset).
class RowSink {
 public:
  virtual ~RowSink() = default;
  virtual void Reserve(uint64_t lines) = 0;
  virtual void Add(std::string_view user, std::string_view item, float value, int64_t time) = 0;
};

class RecordSink final : public RowSink {
 public:
  explicit RecordSink(std::vector<RawInteraction>* rows) : rows_(rows) {}
  void Reserve(uint64_t lines) override {
    // Reserving for every line up front avoids regrowing a multi-gigabyte vector.
    rows_->reserve(static_cast<size_t>(lines));
    AdviseHugePages(rows_->data(), rows_->capacity() * sizeof(RawInteraction));
  }
  void Add(std::string_view user, std::string_view item, float value, int64_t time) override {
    RawInteraction& r = rows_->emplace_back();
    r.user.assign(user);
    r.item.assign(item);
    r.value = value;
    r.time = time;
  }

 private:
  std::vector<RawInteraction>* rows_;
};

// Dense ids in order of first appearance (as Dataset::FromRows assigns them), each distinct id
// stored once in an arena of blocks that never move, so the hash maps can key on views of it.
class IdDictionary {
 public:
  uint32_t Intern(std::string_view id) {
    auto it = index_.find(id);
    if (it != index_.end()) return it->second;
    if (ids_.size() >= UINT32_MAX - 1) {
      Fail(ErrorCode::kResourceExhausted, "more than 2^32-2 distinct users or items");
    }
    const std::string_view stored = Store(id);
    const auto dense = static_cast<uint32_t>(ids_.size());
    ids_.push_back(stored);
    index_.emplace(stored, dense);
    return dense;
  }
  // The ids in dense order; the dictionary is left empty.
  std::vector<std::string> Release() {
    std::vector<std::string> out(ids_.begin(), ids_.end());
    std::unordered_map<std::string_view, uint32_t>().swap(index_);
    std::vector<std::string_view>().swap(ids_);
    std::vector<std::unique_ptr<char[]>>().swap(blocks_);
    return out;
  }

 private:
  static constexpr size_t kBlock = size_t{1} << 20;
  std::string_view Store(std::string_view id) {
    if (blocks_.empty() || used_ + id.size() > block_size_) {
      block_size_ = std::max(kBlock, id.size());
      blocks_.push_back(std::make_unique<char[]>(block_size_));
      used_ = 0;
    }
    char* at = blocks_.back().get() + used_;
    std::memcpy(at, id.data(), id.size());
    used_ += id.size();
    return {at, id.size()};
  }
  std::unordered_map<std::string_view, uint32_t> index_;
  std::vector<std::string_view> ids_;
  std::vector<std::unique_ptr<char[]>> blocks_;
  size_t used_ = 0, block_size_ = 0;
};

class ColumnSink final : public RowSink {
 public:
  void Reserve(uint64_t lines) override {
    // Reserved, not filled: pages past the rows actually read are never touched.
    users_.reserve(static_cast<size_t>(lines));
    items_.reserve(static_cast<size_t>(lines));
    values_.reserve(static_cast<size_t>(lines));
    times_.reserve(static_cast<size_t>(lines));
  }
  void Add(std::string_view user, std::string_view item, float value, int64_t time) override {
    users_.push_back(user_ids_.Intern(user));
    items_.push_back(item_ids_.Intern(item));
    values_.push_back(value);
    times_.push_back(time);
  }
  Dataset Build(bool has_values, bool has_times, std::string source) {
    if (!has_values) std::vector<float>().swap(values_);
    if (!has_times) std::vector<int64_t>().swap(times_);
    return Dataset::FromColumns(user_ids_.Release(), item_ids_.Release(), std::move(users_),
                                std::move(items_), std::move(values_), std::move(times_),
                                std::move(source));
  }

 private:
  IdDictionary user_ids_, item_ids_;
  std::vector<uint32_t> users_, items_;
  std::vector<float> values_;
  std::vector<int64_t> times_;
};

class Reader {
 public:
  // `sink` receives the good rows; `release` (optional) drops the pages of a mapped `text`
  // behind the parse.
  Reader(std::string path, std::string_view text, const ReadOptions& options, Format format,
         RowSink* sink, MappedPageReleaser* release)
      : path_(std::move(path)),
        text_(text),
        options_(options),
        format_(format),
        sink_(sink),
        release_(release) {
    switch (format_) {
      case Format::kMovieLens:
      case Format::kTsv:
        delim_ = "\t";
        break;
      case Format::kMovieLensDat:
        delim_ = "::";
        break;
      case Format::kMovieLensCsv:
      case Format::kCsv:
        delim_ = ",";
        quoting_ = true;
        break;
      case Format::kJsonl:
        break;
    }
    if (options_.delimiter) delim_ = std::string(1, *options_.delimiter);
  }

  ReadResult Run() {
    result_.format = std::string(FormatName(format_));
    total_lines_ = CountLines();
    sink_->Reserve(total_lines_);
    if (format_ == Format::kJsonl) {
      RunJsonl();
    } else {
      RunDelimited();
    }
    return std::move(result_);
  }

 private:
  struct Column {
    bool present = false;
    size_t index = 0;  // delimited formats
    std::string key;   // JSONL
  };

  [[noreturn]] void OptionError(const std::string& message) {
    throw marquee::Error(ErrorCode::kInvalidArgument, message);
  }

  void BadLine(uint64_t line, const std::string& reason) {
    std::string message = fmt::format("{}:{}: {}", path_, line, reason);
    if (!options_.skip_bad_lines) throw marquee::Error(ErrorCode::kInvalidArgument, message);
    ++result_.bad_lines;
    if (result_.bad_line_examples.size() < kMaxBadLineExamples) {
      result_.bad_line_examples.push_back(std::move(message));
    }
  }

  size_t NextLineStart(size_t pos) const {
    const void* nl = std::memchr(text_.data() + pos, '\n', text_.size() - pos);
    return nl == nullptr ? text_.size()
                         : static_cast<size_t>(static_cast<const char*>(nl) - text_.data()) + 1;
  }

  // The line [pos, next) without its LF (CR is left for Trim / the JSON scanner).
  std::string_view LineText(size_t pos, size_t next) const {
    std::string_view l = text_.substr(pos, next - pos);
    if (!l.empty() && l.back() == '\n') l.remove_suffix(1);
    return l;
  }

  // Resolves a column spec for a delimited file. `header` is empty without a header row.
  Column ResolveDelimited(const std::string& spec, size_t default_index, const char* role,
                          bool required, const std::vector<std::string>& header, size_t width) {
    Column c;
    if (spec == "none" || spec == "-") {
      if (required) OptionError(fmt::format("the {} column cannot be '{}'", role, spec));
      return c;
    }
    if (spec.empty()) {
      if (default_index < width) {
        c.present = true;
        c.index = default_index;
      } else if (required) {
        OptionError(fmt::format("'{}' has {} column(s) per row; need at least user and item", path_,
                                width));
      }
      return c;
    }
    if (!header.empty()) {
      for (size_t k = 0; k < header.size(); ++k) {
        if (header[k] == spec) return {true, k, {}};
      }
    }
    if (AllDigits(spec)) {
      size_t idx = 0;
      std::from_chars(spec.data(), spec.data() + spec.size(), idx);
      if (idx >= width) {
        OptionError(fmt::format("{} column index {} is out of range: '{}' has {} column(s)", role,
                                spec, path_, width));
      }
      return {true, idx, {}};
    }
    if (header.empty()) {
      OptionError(fmt::format(
          "{} column '{}' is given by name but '{}' has no header row; use a 0-based index or "
          "set the header option",
          role, spec, path_));
    }
    size_t found = header.size();
    for (size_t k = 0; k < header.size(); ++k) {
      if (EqualsIgnoreCase(header[k], spec)) {
        if (found != header.size()) {
          OptionError(fmt::format("{} column '{}' matches several columns of '{}': {}", role, spec,
                                  path_, JoinNames(header)));
        }
        found = k;
      }
    }
    if (found == header.size()) {
      OptionError(fmt::format("unknown {} column '{}' in '{}'; its columns are: {}", role, spec,
                              path_, JoinNames(header)));
    }
    return {true, found, {}};
  }

  static bool IsKnownIdHeader(std::string_view s) {
    static constexpr std::string_view kNames[] = {
        "user",  "userid",  "user_id",  "users",   "item",       "itemid", "item_id", "items",
        "movie", "movieid", "movie_id", "product", "product_id", "uid",    "iid"};
    for (std::string_view n : kNames) {
      if (EqualsIgnoreCase(s, n)) return true;
    }
    return false;
  }

  static bool IsName(const std::string& spec) {
    return !spec.empty() && spec != "none" && spec != "-" && !AllDigits(spec);
  }

  // Decides whether `first` (the first record of the file) is a header row.
  bool DetectHeader(const CsvRecord& first) {
    if (options_.header) return *options_.header;
    if (format_ == Format::kMovieLensCsv) return true;
    if (format_ == Format::kMovieLens || format_ == Format::kMovieLensDat) return false;
    if (IsName(options_.user_col) || IsName(options_.item_col) || IsName(options_.value_col) ||
        IsName(options_.time_col)) {
      return true;
    }
    auto index_of = [](const std::string& spec, size_t def) -> std::optional<size_t> {
      if (spec == "none" || spec == "-") return std::nullopt;
      if (spec.empty()) return def;
      size_t idx = 0;
      std::from_chars(spec.data(), spec.data() + spec.size(), idx);
      return idx;
    };
    bool checked_numeric = false;
    std::string ignored;
    if (auto v = index_of(options_.value_col, 2);
        v && *v < first.fields.size() && !Trim(first.fields[*v]).empty()) {
      float x;
      if (!ParseFloatField(first.fields[*v], "value", &x, &ignored)) return true;
      checked_numeric = true;
    }
    if (auto t = index_of(options_.time_col, 3);
        t && *t < first.fields.size() && !Trim(first.fields[*t]).empty()) {
      int64_t x;
      if (!ParseTimeField(first.fields[*t], &x, &ignored)) return true;
      checked_numeric = true;
    }
    if (checked_numeric) return false;
    // Only id columns: a header can only be recognised by its names.
    for (std::string_view f : first.fields) {
      if (IsKnownIdHeader(f)) return true;
    }
    return false;
  }

  void RunDelimited() {
    if (delim_.empty() || delim_[0] == '\n' || delim_[0] == '\r' ||
        (quoting_ && delim_[0] == '"')) {
      OptionError(fmt::format("invalid delimiter for '{}'", path_));
    }
    CsvDialect dialect;
    dialect.delimiter = delim_;
    dialect.quoting = quoting_;
    dialect.skip_whitespace_lines = true;
    CsvScanner scan(text_, dialect);
    const CsvScanner start = scan;
    CsvRecord rec;
    if (!scan.Next(&rec)) return;  // empty file
    const bool first_ok = rec.error.empty();
    const bool header = first_ok ? DetectHeader(rec) : options_.header.value_or(false);
    std::vector<std::string> header_names;
    size_t width = 0;
    if (header) {
      if (first_ok) {
        for (std::string_view f : rec.fields) header_names.emplace_back(f);
        width = header_names.size();
      } else {
        BadLine(rec.line, "header row: " + rec.error);
      }
    } else {
      if (first_ok) width = rec.fields.size();
      scan = start;  // the first record is data: read it again below
    }
    if (width == 0) {
      // The first record is unusable: take the column count from the first one that parses.
      CsvScanner probe = scan;
      while (probe.Next(&rec)) {
        if (rec.error.empty()) {
          width = rec.fields.size();
          break;
        }
      }
      if (width == 0) width = 2;  // no record parses: each is reported below
    }
    user_ = ResolveDelimited(options_.user_col, 0, "user", true, header_names, width);
    item_ = ResolveDelimited(options_.item_col, 1, "item", true, header_names, width);
    value_ = ResolveDelimited(options_.value_col, 2, "value", false, header_names, width);
    time_ = ResolveDelimited(options_.time_col, 3, "time", false, header_names, width);
    CheckDistinctColumns();
    result_.has_values = value_.present;
    result_.has_times = time_.present;
    size_t need = std::max(user_.index, item_.index) + 1;
    if (value_.present) need = std::max(need, value_.index + 1);
    if (time_.present) need = std::max(need, time_.index + 1);

    while (scan.Next(&rec)) {
      ++result_.lines;
      ReportProgress();
      if (!rec.error.empty()) {
        BadLine(rec.line, rec.error);
        continue;
      }
      if (rec.fields.size() < need) {
        BadLine(rec.line,
                fmt::format("expected at least {} fields, found {}", need, rec.fields.size()));
        continue;
      }
      AddRow(rec.line, rec.fields[user_.index], rec.fields[item_.index],
             value_.present ? rec.fields[value_.index] : std::string_view(),
             time_.present ? rec.fields[time_.index] : std::string_view());
    }
  }

  void CheckDistinctColumns() {
    const Column* cols[] = {&user_, &item_, &value_, &time_};
    const char* names[] = {"user", "item", "value", "time"};
    for (int a = 0; a < 4; ++a) {
      for (int b = a + 1; b < 4; ++b) {
        if (!cols[a]->present || !cols[b]->present) continue;
        const bool same = format_ == Format::kJsonl ? cols[a]->key == cols[b]->key
                                                    : cols[a]->index == cols[b]->index;
        if (same) {
          OptionError(fmt::format("the {} and {} columns of '{}' are the same column", names[a],
                                  names[b], path_));
        }
      }
    }
  }

  void AddRow(uint64_t line, std::string_view user, std::string_view item, std::string_view value,
              std::string_view time) {
    std::string reason;
    if (user.empty()) return BadLine(line, "empty user id");
    if (item.empty()) return BadLine(line, "empty item id");
    if (!PlainAscii(user) && !(reason = StoredTextProblem(user)).empty()) {
      return BadLine(line, "user id " + reason);
    }
    if (!PlainAscii(item) && !(reason = StoredTextProblem(item)).empty()) {
      return BadLine(line, "item id " + reason);
    }
    float v = 1.0f;
    if (value_.present && !ParseFloatField(value, "value", &v, &reason)) {
      return BadLine(line, reason);
    }
    int64_t t = 0;
    if (time_.present && !ParseTimeField(time, &t, &reason)) return BadLine(line, reason);
    sink_->Add(user, item, v, t);
    if (release_ != nullptr && user.data() >= text_.data() &&
        user.data() < text_.data() + text_.size()) {
      release_->ReleaseUpTo(user.data());
    }
  }

  // Lines in the text (for reserving and progress), counted in pieces whose pages are released
  // behind the count.
  uint64_t CountLines() {
    constexpr size_t kPiece = size_t{4} << 20;
    uint64_t lines = 1;
    for (size_t at = 0; at < text_.size();) {
      const size_t len = std::min(kPiece, text_.size() - at);
      lines += static_cast<uint64_t>(std::count(text_.data() + at, text_.data() + at + len, '\n'));
      at += len;
      if (release_ != nullptr) release_->ReleaseUpTo(text_.data() + at);
    }
    if (release_ != nullptr) {
      release_->ReleaseAll();
      release_->Restart();
    }
    return lines;
  }

  // JSONL column: the spec (a key, or a 0-based position in the first object), or the first of
  // the conventional names that the first object has.
  Column ResolveJson(const std::string& spec, std::initializer_list<std::string_view> defaults,
                     const char* role, bool required, const std::vector<JsonMember>& first) {
    Column c;
    std::vector<std::string> keys;
    for (const auto& m : first) keys.emplace_back(m.key);
    if (spec == "none" || spec == "-") {
      if (required) OptionError(fmt::format("the {} column cannot be '{}'", role, spec));
      return c;
    }
    if (spec.empty()) {
      for (std::string_view d : defaults) {
        for (const auto& k : keys) {
          if (k == d) return {true, 0, k};
        }
      }
      if (required) {
        OptionError(fmt::format(
            "'{}': no {} key found in the first object (keys: {}); name it with the {} column "
            "option",
            path_, role, JoinNames(keys), role));
      }
      return c;
    }
    for (const auto& k : keys) {
      if (k == spec) return {true, 0, k};
    }
    if (AllDigits(spec)) {
      size_t idx = 0;
      std::from_chars(spec.data(), spec.data() + spec.size(), idx);
      if (idx >= keys.size()) {
        OptionError(
            fmt::format("{} column index {} is out of range: the first object of '{}' has "
                        "{} keys ({})",
                        role, spec, path_, keys.size(), JoinNames(keys)));
      }
      return {true, 0, keys[idx]};
    }
    // A key absent from the first object may still be present in others: lines without it are
    // reported as bad lines.
    return {true, 0, spec};
  }

  const JsonMember* FindMember(const std::vector<JsonMember>& members, const std::string& key) {
    const JsonMember* found = nullptr;
    for (const auto& m : members) {
      if (m.key == key) found = &m;  // the last duplicate wins, like most JSON libraries
    }
    return found;
  }

  std::string MissingKey(const std::string& key, const std::vector<JsonMember>& members) {
    std::vector<std::string> keys;
    for (const auto& m : members) keys.emplace_back(m.key);
    return fmt::format("missing key '{}' (the line has: {})", QuoteForMessage(key, 60),
                       JoinNames(keys));
  }

  // Text of an id member: strings verbatim, numbers as written.
  bool JsonId(const JsonMember& m, const char* role, std::string_view* out, std::string* reason) {
    if (m.kind == JsonKind::kString || m.kind == JsonKind::kNumber) {
      *out = m.text;
      return true;
    }
    *reason =
        fmt::format("{} id '{}' must be a string or a number", role, QuoteForMessage(m.key, 60));
    return false;
  }

  void RunJsonl() {
    if (options_.delimiter) OptionError("a delimiter applies only to csv and tsv files");
    if (options_.header.value_or(false)) OptionError("JSONL files have no header row");
    JsonLineScanner scanner;
    std::vector<JsonMember> members;
    std::string reason;
    // Resolve keys on the first valid object.
    bool resolved = false;
    for (size_t p = 0; p < text_.size();) {
      const size_t next = NextLineStart(p);
      std::string_view l = LineText(p, next);
      p = next;
      if (Trim(l).empty()) continue;
      if (scanner.Parse(l, &members, &reason)) {
        resolved = true;
        break;
      }
    }
    if (!resolved) members.clear();
    if (resolved) {
      user_ = ResolveJson(options_.user_col, {"user", "user_id", "userId", "userid", "uid"}, "user",
                          true, members);
      item_ = ResolveJson(options_.item_col,
                          {"item", "item_id", "itemId", "itemid", "movieId", "movie_id", "iid"},
                          "item", true, members);
      value_ =
          ResolveJson(options_.value_col, {"value", "rating", "score"}, "value", false, members);
      time_ = ResolveJson(options_.time_col, {"time", "timestamp", "ts"}, "time", false, members);
      CheckDistinctColumns();
    }
    result_.has_values = value_.present;
    result_.has_times = time_.present;

    uint64_t line = 0;
    for (size_t p = 0; p < text_.size();) {
      const size_t next = NextLineStart(p);
      std::string_view l = LineText(p, next);
      p = next;
      ++line;
      if (Trim(l).empty()) continue;
      ++result_.lines;
      ReportProgress();
      if (!scanner.Parse(l, &members, &reason)) {
        BadLine(line, reason);
        continue;
      }
      if (!resolved) continue;  // unreachable: a valid line would have resolved the keys
      const JsonMember* u = FindMember(members, user_.key);
      if (u == nullptr) {
        BadLine(line, MissingKey(user_.key, members));
        continue;
      }
      const JsonMember* it = FindMember(members, item_.key);
      if (it == nullptr) {
        BadLine(line, MissingKey(item_.key, members));
        continue;
      }
      std::string_view user, item, value, time;
      if (!JsonId(*u, "user", &user, &reason) || !JsonId(*it, "item", &item, &reason)) {
        BadLine(line, reason);
        continue;
      }
      if (value_.present) {
        const JsonMember* m = FindMember(members, value_.key);
        if (m == nullptr) {
          BadLine(line, MissingKey(value_.key, members));
          continue;
        }
        if (m->kind != JsonKind::kNumber && m->kind != JsonKind::kString) {
          BadLine(line, fmt::format("value '{}' must be a number", value_.key));
          continue;
        }
        value = m->text;
      }
      if (time_.present) {
        const JsonMember* m = FindMember(members, time_.key);
        if (m == nullptr) {
          BadLine(line, MissingKey(time_.key, members));
          continue;
        }
        if (m->kind != JsonKind::kNumber && m->kind != JsonKind::kString) {
          BadLine(line, fmt::format("time '{}' must be a number or a string", time_.key));
          continue;
        }
        time = m->text;
      }
      AddRow(line, user, item, value, time);
    }
  }

  std::string path_;
  std::string_view text_;
  const ReadOptions& options_;
  Format format_;
  std::string delim_;
  bool quoting_ = false;
  Column user_, item_, value_, time_;
  ReadResult result_;
  RowSink* sink_;
  MappedPageReleaser* release_;
  uint64_t total_lines_ = 0;

  void ReportProgress() const {
    if (options_.progress && (result_.lines & 0xFFFF) == 0) {
      options_.progress(result_.lines, total_lines_);
    }
  }
};

// The first non-blank line (CR trimmed), for sniffing.
std::string_view FirstLine(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view l = Trim(text.substr(pos, nl - pos));
    if (!l.empty()) return l;
    pos = nl + 1;
  }
  return {};
}

std::string_view BaseName(std::string_view path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

Format ParseFormatName(const std::string& name, const std::string& path) {
  if (name == "movielens") return Format::kMovieLens;
  if (name == "movielens-csv") return Format::kMovieLensCsv;
  if (name == "movielens-dat") return Format::kMovieLensDat;
  if (name == "csv") return Format::kCsv;
  if (name == "tsv") return Format::kTsv;
  if (name == "jsonl") return Format::kJsonl;
  Fail(ErrorCode::kInvalidArgument,
       "unknown format '{}' for '{}'; use auto, movielens, movielens-csv, movielens-dat, csv, "
       "tsv or jsonl",
       name, path);
}

// Chooses the format from the file name, then the first line. May also pick a delimiter for
// csv files that use ';' or '|'.
Format DetectFormat(const std::string& path, std::string_view text, std::optional<char>* delim) {
  const std::string_view base = BaseName(path);
  const std::string_view first = FirstLine(text);
  if (EndsWith(base, ".jsonl") || EndsWith(base, ".ndjson")) return Format::kJsonl;
  if (EndsWith(base, ".dat") && first.find("::") != std::string_view::npos) {
    return Format::kMovieLensDat;
  }
  if (EndsWith(base, ".tsv") || EndsWith(base, ".data") || EqualsIgnoreCase(base, "u.data")) {
    return Format::kTsv;
  }
  auto sniff_csv_delim = [&] {
    if (*delim || first.find(',') != std::string_view::npos) return;
    if (first.find(';') != std::string_view::npos) {
      *delim = ';';
    } else if (first.find('|') != std::string_view::npos) {
      *delim = '|';
    }
  };
  if (EndsWith(base, ".csv")) {
    if (!*delim && first.find(',') == std::string_view::npos &&
        first.find('\t') != std::string_view::npos) {
      return Format::kTsv;
    }
    sniff_csv_delim();
    return Format::kCsv;
  }
  if (!first.empty() && first.front() == '{') return Format::kJsonl;
  if (first.find("::") != std::string_view::npos) return Format::kMovieLensDat;
  if (first.find('\t') != std::string_view::npos) return Format::kTsv;
  if (first.find(',') != std::string_view::npos || first.find(';') != std::string_view::npos ||
      first.find('|') != std::string_view::npos) {
    sniff_csv_delim();
    return Format::kCsv;
  }
  if (first.empty()) return Format::kCsv;  // an empty file reads as zero rows in any format
  Fail(ErrorCode::kInvalidArgument,
       "cannot tell the format of '{}' from its name or first line; set the format "
       "(movielens, movielens-csv, movielens-dat, csv, tsv, jsonl)",
       path);
}

}  // namespace

namespace {

// Parses `text` (named `origin`) into `sink`; `release` as for Reader.
ReadResult ParseInto(std::string_view text, const std::string& origin, const ReadOptions& options,
                     RowSink* sink, MappedPageReleaser* release) {
  std::optional<char> delim = options.delimiter;
  Format format = Format::kCsv;
  const bool autodetect = options.format.empty() || options.format == "auto";
  if (!autodetect) format = ParseFormatName(options.format, origin);
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  if (autodetect) format = DetectFormat(origin, text, &delim);
  if (delim && (format == Format::kJsonl || format == Format::kMovieLensDat)) {
    Fail(ErrorCode::kInvalidArgument,
         "a delimiter applies only to csv and tsv files, not {} ('{}')", FormatName(format),
         origin);
  }
  ReadOptions effective = options;
  effective.delimiter = delim;
  Reader reader(origin, text, effective, format, sink, release);
  return reader.Run();
}

// Maps `path` and parses it into `sink`, releasing the mapping's pages behind the parse.
ReadResult ReadInto(const std::string& path, const ReadOptions& options, Env* env, RowSink* sink) {
  if (env == nullptr) env = Env::Default();
  const bool autodetect = options.format.empty() || options.format == "auto";
  if (!autodetect) ParseFormatName(options.format, path);  // a bad name before a missing file
  if (!env->FileExists(path)) {
    Fail(ErrorCode::kNotFound, "interaction file '{}' does not exist", path);
  }
  std::unique_ptr<MappedFile> file = env->MapFile(path);
  const std::string_view text(reinterpret_cast<const char*>(file->data().data()),
                              file->data().size());
  MappedPageReleaser release(env, text.data(), text.size());
  return ParseInto(text, path, options, sink, &release);
}

}  // namespace

ReadResult ParseInteractions(std::string_view text, const std::string& origin,
                             const ReadOptions& options) {
  ReadResult result;
  RecordSink sink(&result.rows);
  ReadResult r = ParseInto(text, origin, options, &sink, nullptr);
  r.rows = std::move(result.rows);
  return r;
}

ReadResult ReadInteractions(const std::string& path, const ReadOptions& options, Env* env) {
  ReadResult result;
  RecordSink sink(&result.rows);
  ReadResult r = ReadInto(path, options, env, &sink);
  r.rows = std::move(result.rows);
  return r;
}

DatasetReadResult ReadDataset(const std::string& path, const ReadOptions& options, Env* env) {
  DatasetReadResult out;
  {
    ColumnSink sink;
    ReadResult r = ReadInto(path, options, env, &sink);
    out.has_values = r.has_values;
    out.has_times = r.has_times;
    out.format = std::move(r.format);
    out.lines = r.lines;
    out.bad_lines = r.bad_lines;
    out.bad_line_examples = std::move(r.bad_line_examples);
    out.dataset = sink.Build(r.has_values, r.has_times, path);
  }
  return out;
}

std::string StoredTextProblem(std::string_view text) {
  if (PlainAscii(text)) return {};
  const size_t bad = FirstInvalidUtf8(text);
  const size_t nul = text.find('\0');
  if (nul < bad) return fmt::format("contains a NUL byte (at offset {})", nul);
  if (bad == text.size()) return {};
  return fmt::format(
      "is not valid UTF-8 (byte 0x{:02x} at offset {}; if the file is Latin-1, convert it: "
      "iconv -f latin1 -t utf-8)",
      static_cast<unsigned char>(text[bad]), bad);
}

}  // namespace marquee

#include "common/csv.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "common/text.h"
#include "marquee/error.h"

namespace marquee {

CsvScanner::CsvScanner(std::string_view text, const CsvDialect& dialect)
    : text_(text),
      delim_(dialect.delimiter),
      d0_(delim_.empty() ? '\0' : delim_[0]),
      dlen_(delim_.size()),
      quoting_(dialect.quoting),
      trim_(dialect.trim),
      skip_ws_lines_(dialect.skip_whitespace_lines) {
  if (delim_.empty() || delim_.find_first_of("\r\n") != std::string::npos ||
      (quoting_ && delim_.find('"') != std::string::npos)) {
    Fail(ErrorCode::kInvalidArgument, "invalid CSV delimiter '{}'", QuoteForMessage(delim_, 10));
  }
  if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
}

void CsvScanner::SkipBlankLines() {
  const size_t n = text_.size();
  for (;;) {
    size_t p = pos_;
    if (skip_ws_lines_) {
      while (p < n && (text_[p] == ' ' || text_[p] == '\t')) ++p;
      if (p >= n) {
        pos_ = n;
        return;
      }
    }
    if (p >= n) return;
    if (text_[p] == '\n') {
      ++line_;
    } else if (text_[p] != '\r') {
      return;
    }
    pos_ = p + 1;
  }
}

size_t CsvScanner::NextLineStart(size_t pos) const {
  const void* nl = std::memchr(text_.data() + pos, '\n', text_.size() - pos);
  return nl == nullptr ? text_.size()
                       : static_cast<size_t>(static_cast<const char*>(nl) - text_.data()) + 1;
}

size_t CsvScanner::EndOfRecord(size_t i) {
  const size_t n = text_.size();
  if (i >= n) return n;
  if (text_[i] == '\r') {
    ++i;
    if (i >= n || text_[i] != '\n') return i;  // a lone CR
  }
  ++line_;
  return i + 1;
}

void CsvScanner::Malformed(CsvRecord* r, size_t record_start, std::string why) {
  r->fields.clear();
  r->error = std::move(why);
  pos_ = NextLineStart(record_start);
  line_ = r->line + 1;
}

std::string& CsvScanner::Scratch() {
  if (scratch_used_ == scratch_.size()) scratch_.emplace_back();
  std::string& b = scratch_[scratch_used_++];
  b.clear();
  return b;
}

bool CsvScanner::Next(CsvRecord* r) {
  r->fields.clear();
  r->error.clear();
  scratch_used_ = 0;
  SkipBlankLines();
  r->line = line_;
  const size_t n = text_.size();
  if (pos_ >= n) return false;
  const size_t start = pos_;
  size_t i = pos_;
  uint64_t quoted_breaks = 0;  // line feeds inside quoted fields
  for (;;) {
    size_t f = i;
    if (trim_) {
      while (f < n && IsBlank(text_[f])) ++f;
    }
    if (quoting_ && f < n && text_[f] == '"') {
      i = f + 1;
      size_t seg = i;
      std::string* buf = nullptr;
      std::string_view field;
      for (;;) {
        const void* q = std::memchr(text_.data() + i, '"', n - i);
        if (q == nullptr) {
          Malformed(r, start, "unterminated quoted field");
          return true;
        }
        const size_t j = static_cast<size_t>(static_cast<const char*>(q) - text_.data());
        quoted_breaks +=
            static_cast<uint64_t>(std::count(text_.data() + i, text_.data() + j, '\n'));
        if (j + 1 < n && text_[j + 1] == '"') {  // "" is one quote
          if (buf == nullptr) buf = &Scratch();
          buf->append(text_.substr(seg, j + 1 - seg));
          i = j + 2;
          seg = i;
          continue;
        }
        if (buf != nullptr) {
          buf->append(text_.substr(seg, j - seg));
          field = *buf;
        } else {
          field = text_.substr(seg, j - seg);
        }
        i = j + 1;
        break;
      }
      r->fields.push_back(field);
      if (trim_) {
        while (i < n && IsBlank(text_[i])) ++i;
      }
      if (i >= n || text_[i] == '\n' || text_[i] == '\r') {
        i = EndOfRecord(i);
        break;
      }
      if (AtDelimiter(i)) {
        i += dlen_;
        continue;
      }
      Malformed(r, start,
                fmt::format("unexpected character '{}' after a closing quote",
                            QuoteForMessage(text_.substr(i, 1))));
      return true;
    }
    // Unquoted: up to the delimiter or the end of the record.
    size_t j = i;
    bool at_delim = false;
    for (; j < n; ++j) {
      const char c = text_[j];
      if (c == '\n' || c == '\r') break;
      if (c == d0_ && (dlen_ == 1 || text_.compare(j, dlen_, delim_) == 0)) {
        at_delim = true;
        break;
      }
    }
    std::string_view field = text_.substr(i, j - i);
    if (trim_) {
      while (!field.empty() && IsBlank(field.front())) field.remove_prefix(1);
      while (!field.empty() && IsBlank(field.back())) field.remove_suffix(1);
    }
    r->fields.push_back(field);
    if (at_delim) {
      i = j + dlen_;
      continue;
    }
    i = EndOfRecord(j);
    break;
  }
  pos_ = i;
  line_ += quoted_breaks;
  return true;
}

}  // namespace marquee

#include "common/text.h"

#include <fmt/format.h>

namespace marquee {
namespace {

// Length of the valid UTF-8 sequence starting at text[i], or 0 when the bytes there are invalid.
std::size_t SequenceLength(std::string_view text, std::size_t i) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // past U+10FFFF
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return len;
}

}  // namespace

std::size_t FirstInvalidUtf8(std::string_view text) noexcept {
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t len = SequenceLength(text, i);
    if (len == 0) return i;
    i += len;
  }
  return text.size();
}

bool IsValidUtf8(std::string_view text) noexcept { return FirstInvalidUtf8(text) == text.size(); }

std::string SanitizeUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t len = SequenceLength(text, i);
    if (len == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(text.substr(i, len));
      i += len;
    }
  }
  return out;
}

std::string_view TruncateUtf8(std::string_view text, std::size_t max_bytes) noexcept {
  if (text.size() <= max_bytes) return text;
  std::size_t i = 0;
  while (i < max_bytes) {
    std::size_t len = SequenceLength(text, i);
    if (len == 0) len = 1;
    if (i + len > max_bytes) break;
    i += len;
  }
  return text.substr(0, i);
}

std::string EscapeMarkup(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string EscapeForTerminal(std::string_view text, bool escape_backslash) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const unsigned char b = static_cast<unsigned char>(text[i]);
    const std::size_t len = SequenceLength(text, i);
    if (len == 0) {
      out += fmt::format("\\x{:02x}", b);
      ++i;
      continue;
    }
    if (len == 1) {
      switch (b) {
        case '\n':
          out += "\\n";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\\':
          out += escape_backslash ? "\\\\" : "\\";
          break;
        default:
          if (b < 0x20 || b == 0x7F) {
            out += fmt::format("\\x{:02x}", b);
          } else {
            out += static_cast<char>(b);
          }
      }
      ++i;
      continue;
    }
    // C1 controls (U+0080..U+009F) are encoded as C2 80..C2 9F; terminals act on some of them.
    if (len == 2 && b == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0) {
      out += fmt::format("\\u{{{:02x}}}", static_cast<unsigned char>(text[i + 1]));
    } else {
      out.append(text.substr(i, len));
    }
    i += len;
  }
  return out;
}

std::string QuoteForMessage(std::string_view text, std::size_t max_bytes) {
  const std::string_view cut = TruncateUtf8(text, max_bytes);
  std::string out = EscapeForTerminal(cut);
  if (cut.size() < text.size()) out += "...";
  return out;
}

}  // namespace marquee

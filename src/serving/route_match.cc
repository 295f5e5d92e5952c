#include "serving/route_match.h"

#include "common/text.h"
#include "marquee/error.h"

namespace marquee {
namespace {

// Splits "/a/b/c" into {"a", "b", "c"} (the leading '/' dropped; "/" gives {""}).
std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.starts_with('/')) path.remove_prefix(1);
  for (;;) {
    const size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) return out;
    path.remove_prefix(slash + 1);
  }
}

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A pattern segment "{name}suffix": the name and the suffix; nullopt for a literal segment.
struct ParamSegment {
  std::string_view name, suffix;
};
std::optional<ParamSegment> ParamOf(std::string_view segment) {
  if (!segment.starts_with('{')) return std::nullopt;
  const size_t close = segment.find('}');
  if (close == std::string_view::npos) return std::nullopt;
  return ParamSegment{segment.substr(1, close - 1), segment.substr(close + 1)};
}

}  // namespace

// Beyond what the header says: a literal pattern may end in '/' after a non-empty segment (a
// directory path such as "/ui/").
void ValidateRoutePattern(std::string_view pattern) {
  if (!pattern.starts_with('/')) {
    Fail(ErrorCode::kInvalidArgument, "route '{}': a path starts with '/'", pattern);
  }
  const std::vector<std::string_view> segments = Segments(pattern);
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string_view seg = segments[i];
    // A literal path may end in '/' ("/ui/", a directory), after a non-empty segment.
    const bool trailing_slash = i + 1 == segments.size() && i > 0 && !segments[i - 1].empty();
    if (seg.empty() && pattern != "/" && !trailing_slash) {
      Fail(ErrorCode::kInvalidArgument, "route '{}': empty segment", pattern);
    }
    if (auto p = ParamOf(seg)) {
      bool ok = !p->name.empty() && p->suffix.find_first_of("{}") == std::string_view::npos;
      for (char c : p->name) ok = ok && IsNameChar(c);
      if (!ok) Fail(ErrorCode::kInvalidArgument, "route '{}': bad parameter '{}'", pattern, seg);
    } else if (seg.find_first_of("{}") != std::string_view::npos) {
      Fail(ErrorCode::kInvalidArgument, "route '{}': a parameter starts its segment ('{}')",
           pattern, seg);
    }
  }
}

int RouteParamCount(std::string_view pattern) {
  int n = 0;
  for (std::string_view seg : Segments(pattern)) n += ParamOf(seg).has_value();
  return n;
}

bool MatchRoute(std::string_view pattern, std::string_view path, PathParams* params) {
  if (pattern.find('{') == std::string_view::npos) return pattern == path;
  const std::vector<std::string_view> want = Segments(pattern), got = Segments(path);
  if (want.size() != got.size()) return false;
  PathParams found;
  for (size_t i = 0; i < want.size(); ++i) {
    auto p = ParamOf(want[i]);
    if (!p) {
      if (want[i] != got[i]) return false;
      continue;
    }
    std::string_view seg = got[i];
    if (seg.size() <= p->suffix.size() || !seg.ends_with(p->suffix)) return false;
    seg.remove_suffix(p->suffix.size());
    auto value = PercentDecode(seg, /*plus_is_space=*/false);
    if (!value || value->empty()) return false;
    found.emplace_back(std::string(p->name), std::move(*value));
  }
  if (params != nullptr) *params = std::move(found);
  return true;
}

std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = HexValue(text[i + 1]), lo = HexValue(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (IsNameChar(static_cast<char>(c)) || c == '-' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

PathParams ParseQuery(std::string_view target) {
  PathParams out;
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return out;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    auto key = PercentDecode(pair.substr(0, eq), true);
    auto value = PercentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
    if (!key || !value) {
      Fail(ErrorCode::kInvalidArgument, "query parameter '{}': bad %-escape",
           QuoteForMessage(pair.substr(0, eq), 64));
    }
    out.emplace_back(std::move(*key), std::move(*value));
  }
  return out;
}

}  // namespace marquee

// Text helpers for user-supplied bytes: UTF-8 validation, safe cutting, and escaping for JSON
// messages and terminals. Every place that puts text it did not write itself into an error
// message, a JSON body or a human-readable table goes through these, so that no user byte can make
// the output invalid or make the error path throw. All functions are pure, thread-safe and
// noexcept apart from allocation failure.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace marquee {

// True when `text` is well-formed UTF-8 (no overlong forms, no surrogates, nothing past
// U+10FFFF). NUL bytes are valid UTF-8; callers that refuse them check separately.
bool IsValidUtf8(std::string_view text) noexcept;

// Byte offset of the first invalid sequence, or text.size() when `text` is valid.
std::size_t FirstInvalidUtf8(std::string_view text) noexcept;

// `text` with every invalid byte replaced by U+FFFD, so the result is always valid UTF-8.
std::string SanitizeUtf8(std::string_view text);

// The longest prefix of `text` of at most `max_bytes` bytes that does not end inside a UTF-8
// character. Invalid bytes count as one-byte characters.
std::string_view TruncateUtf8(std::string_view text, std::size_t max_bytes) noexcept;

// `text` made safe to print on a terminal and valid UTF-8: control characters (C0, DEL, C1) and
// invalid bytes become escapes (\n, \t, \r, \\xNN, \\u{NN}); printable characters, including
// non-ASCII ones, are kept. A backslash is doubled only when `escape_backslash` is set.
std::string EscapeForTerminal(std::string_view text, bool escape_backslash = false);

// `text` as HTML/XML character data or an attribute value: & < > " ' become entities.
std::string EscapeMarkup(std::string_view text);

// User text quoted for an error message: valid UTF-8, control characters escaped, cut to
// `max_bytes` on a character boundary with "..." appended when cut.
std::string QuoteForMessage(std::string_view text, std::size_t max_bytes = 200);

}  // namespace marquee

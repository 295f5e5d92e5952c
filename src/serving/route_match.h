// Route patterns and query strings of the HTTP API.
//
// A route pattern is a path whose segments are literals or parameters: "/api/v1/runs/{id}",
// "/v1/models/{name}/labels/{label}:recommend" (a parameter may be followed by a literal
// suffix, as TF Serving's ":predict" verbs are). A parameter matches one non-empty segment; its
// value is percent-decoded. Literal segments match exactly (no decoding).
// Pure functions: no I/O, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace marquee {

using PathParams = std::vector<std::pair<std::string, std::string>>;

// kInvalidArgument naming `pattern` when it is not a valid pattern: it must start with '/',
// a parameter is "{name}" with name [A-Za-z0-9_]+ at the start of a segment, optionally followed
// by a literal suffix that holds no '{' or '}', and no segment is empty.
void ValidateRoutePattern(std::string_view pattern);

// Whether `path` (no query string) matches `pattern`; on a match `params` (when not null) gets
// each parameter's decoded value in pattern order. A segment whose decoding is invalid (a bad
// %XX escape) does not match.
bool MatchRoute(std::string_view pattern, std::string_view path, PathParams* params);

// The number of parameters in `pattern` (a literal row beats a parameterised one).
int RouteParamCount(std::string_view pattern);

// "%41b+c" -> "Ab c" (with `plus_is_space`, as in query strings). nullopt for a truncated or
// non-hex escape.
std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space);
// Percent-encodes everything but RFC 3986 unreserved characters (for building URLs).
std::string PercentEncode(std::string_view text);

// The query string of `target` ("" when it has none) parsed into (key, value) pairs, in order,
// decoded. kInvalidArgument naming the parameter for a bad escape.
PathParams ParseQuery(std::string_view target);

}  // namespace marquee

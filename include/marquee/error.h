// Marquee's one error model: every failure is a marquee::Error carrying an ErrorCode and a
// message that names the problem. Errors are thrown inside the library and caught only at the
// edges (CLI, HTTP server, bindings), where ExitCodeFor / HttpStatusFor map the code in one place.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace marquee {

enum class ErrorCode {
  kInvalidArgument,     // bad input from the caller: a flag, a config key, a malformed line
  kNotFound,            // a named dataset, model, file, user or item does not exist
  kAlreadyExists,       // creating something whose name is taken
  kFailedPrecondition,  // the system is not in a state that allows the call
  kCorruption,          // stored data failed a format or checksum check
  kIOError,             // the operating system refused a read or write
  kUnimplemented,       // a documented option this build does not support
  kResourceExhausted,   // a size or rate limit was hit
  kPermissionDenied,    // authenticated, but not allowed
  kUnauthenticated,     // no or bad credentials
  kUnavailable,         // try again later (loading, shutting down)
  kInternal,            // a bug in Marquee
};

// The exception type thrown by every Marquee API. Thread-safe to copy and read.
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, std::string message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

// Stable lower-case name of a code ("invalid_argument"), used in JSON error bodies.
std::string_view ErrorCodeName(ErrorCode code) noexcept;
// Process exit status for the CLI (0 is success; 1 is reserved for unexpected exceptions).
int ExitCodeFor(ErrorCode code) noexcept;
// HTTP status for the server edge.
int HttpStatusFor(ErrorCode code) noexcept;

// Throws Error(code, fmt::format(...)).
template <typename... Args>
[[noreturn]] void Fail(ErrorCode code, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(code, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace marquee

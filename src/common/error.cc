#include "marquee/error.h"

#include "common/error_codes.h"

namespace marquee {

std::string_view ErrorCodeName(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kAlreadyExists:
      return "already_exists";
    case ErrorCode::kFailedPrecondition:
      return "failed_precondition";
    case ErrorCode::kCorruption:
      return "corruption";
    case ErrorCode::kIOError:
      return "io_error";
    case ErrorCode::kUnimplemented:
      return "unimplemented";
    case ErrorCode::kResourceExhausted:
      return "resource_exhausted";
    case ErrorCode::kPermissionDenied:
      return "permission_denied";
    case ErrorCode::kUnauthenticated:
      return "unauthenticated";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "internal";
}

std::optional<ErrorCode> ErrorCodeFromName(std::string_view name) noexcept {
  for (int i = 0; i <= static_cast<int>(ErrorCode::kInternal); ++i) {
    const auto code = static_cast<ErrorCode>(i);
    if (ErrorCodeName(code) == name) return code;
  }
  return std::nullopt;
}

// The single table mapping codes to the CLI's exit status and the server's HTTP status.
int ExitCodeFor(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 2;
    case ErrorCode::kNotFound:
      return 3;
    case ErrorCode::kAlreadyExists:
      return 4;
    case ErrorCode::kFailedPrecondition:
      return 5;
    case ErrorCode::kCorruption:
      return 6;
    case ErrorCode::kIOError:
      return 7;
    case ErrorCode::kUnimplemented:
      return 8;
    case ErrorCode::kResourceExhausted:
      return 9;
    case ErrorCode::kPermissionDenied:
      return 10;
    case ErrorCode::kUnauthenticated:
      return 11;
    case ErrorCode::kUnavailable:
      return 12;
    case ErrorCode::kInternal:
      return 13;
  }
  return 13;
}

int HttpStatusFor(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kAlreadyExists:
      return 409;
    case ErrorCode::kFailedPrecondition:
      return 409;
    case ErrorCode::kCorruption:
      return 500;
    case ErrorCode::kIOError:
      return 500;
    case ErrorCode::kUnimplemented:
      return 501;
    case ErrorCode::kResourceExhausted:
      return 413;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

}  // namespace marquee

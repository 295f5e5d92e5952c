// The reverse of ErrorCodeName (include/marquee/error.h): clients of the HTTP API turn the
// {"error": {"code": NAME}} of a response back into the ErrorCode the server threw.
#pragma once

#include <optional>
#include <string_view>

#include "marquee/error.h"

namespace marquee {

// The code named `name` (ErrorCodeName(code) == name), nullopt for a name no code has.
// Thread-safe.
std::optional<ErrorCode> ErrorCodeFromName(std::string_view name) noexcept;

}  // namespace marquee

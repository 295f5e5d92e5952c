// The kinds this build knows, registered once (thread-safe initialisation), read-only after.
#pragma once

#include "core/model_kind.h"

namespace marquee {

const KindRegistry& BuiltinKinds();

}  // namespace marquee

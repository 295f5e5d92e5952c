// The name of a temporary written beside `path` before it is renamed into place:
// "<path>.tmp.<pid>.<n>", the form ArtifactStore::IsTemporaryName and `marquee gc` recognise
// (the writer's pid in the name). Every atomic write of the POSIX Env uses it, and so does any
// writer that must let a library write the temporary itself (models/ann_index.cc: hnswlib).
// Thread-safe.
#pragma once

#include <string>

namespace marquee {

std::string TempName(const std::string& path);

}  // namespace marquee

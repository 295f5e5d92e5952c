// Dropping the resident pages of a read-only file mapping behind a one-pass reader, so reading a
// large file or snapshot once does not leave all of it in the process's RSS (the pages stay in the
// page cache; touching them again maps them back from there). The one place that calls madvise:
// the snapshot and file readers (data/dataset_storage.h MappedPageReleaser) and the typed bandit
// log (bandits/typed_log.h) both come here.
#pragma once

#include <cstddef>

namespace marquee {

// madvise(MADV_DONTNEED) on the whole pages inside [begin, end). Only for PROT_READ MAP_PRIVATE
// mappings of files (Env::Default's MappedFile, ArtifactReader), where it never loses data; never
// for memory the process wrote. A failure leaves the pages resident (memory, not correctness).
// Thread-safe; the caller must not be reading the range concurrently expecting it resident (it
// still reads correct bytes: they fault back in).
void ReleaseMappedPages(const void* begin, const void* end) noexcept;

// The system page size (cached).
size_t PageSize() noexcept;

}  // namespace marquee

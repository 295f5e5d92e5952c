// Deterministic static-partition parallel loops. Work is split into `threads` contiguous chunks
// (chunk t always gets the same range for the same n and thread count), so per-thread RNG
// streams give reproducible results. Exceptions thrown by a worker are rethrown in the caller.
#pragma once

#include <cstddef>
#include <functional>

namespace marquee {

// Calls fn(begin, end, thread_index) over [0, n) split into `threads` contiguous ranges.
void ParallelFor(size_t n, int threads,
                 const std::function<void(size_t begin, size_t end, int thread)>& fn);

// Dynamic variant for uneven work: indices are handed out in blocks of `grain`. fn(i, thread)
// is called once per index. Use only where the result does not depend on which thread ran i.
void ParallelForDynamic(size_t n, int threads, size_t grain,
                        const std::function<void(size_t i, int thread)>& fn);

// Lowers the calling thread's CPU priority for background work nobody waits on (the exposure
// log's writer): SCHED_BATCH (its wake-ups do not preempt a running thread) and nice 10. Best
// effort: errors are ignored.
void LowerCurrentThreadPriority() noexcept;

}  // namespace marquee

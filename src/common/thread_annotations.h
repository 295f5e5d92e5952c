// Clang thread-safety analysis annotations (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html),
// after leveldb's port/thread_annotations.h. With clang and -Wthread-safety (set for clang in
// the top-level CMakeLists.txt) the compiler checks that every member marked GUARDED_BY(mu) is
// touched only with mu held, and that functions marked REQUIRES / EXCLUDES are called
// accordingly. Other compilers (GCC, the release build) see no-ops.
//
// The rule (docs/ARCHITECTURE.md, Conventions): every mutex is a marquee::Mutex or SharedMutex
// (common/mutex.h), and every member it guards is GUARDED_BY it.
#pragma once

#if defined(__clang__) && !defined(SWIG)
#define MARQUEE_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define MARQUEE_THREAD_ANNOTATION(x)  // no-op
#endif

// A class whose instances are capabilities (mutexes): CAPABILITY("mutex").
#define CAPABILITY(x) MARQUEE_THREAD_ANNOTATION(capability(x))
// An RAII class that acquires a capability in its constructor and releases it in its destructor.
#define SCOPED_CAPABILITY MARQUEE_THREAD_ANNOTATION(scoped_lockable)

// A data member readable and writable only with the capability held (shared for reads).
#define GUARDED_BY(x) MARQUEE_THREAD_ANNOTATION(guarded_by(x))
// A pointer member whose pointee is guarded by the capability.
#define PT_GUARDED_BY(x) MARQUEE_THREAD_ANNOTATION(pt_guarded_by(x))

// Lock ordering: this capability is acquired before / after the listed ones.
#define ACQUIRED_BEFORE(...) MARQUEE_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) MARQUEE_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))

// The caller must hold the capabilities (exclusively / at least shared).
#define REQUIRES(...) MARQUEE_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) MARQUEE_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))

// The function acquires / releases the capabilities (exclusively, shared, or either).
#define ACQUIRE(...) MARQUEE_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) MARQUEE_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) MARQUEE_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) MARQUEE_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...) MARQUEE_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))

// The function tries to acquire the capabilities; the first argument is the return value that
// means success.
#define TRY_ACQUIRE(...) MARQUEE_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define TRY_ACQUIRE_SHARED(...) \
  MARQUEE_THREAD_ANNOTATION(try_acquire_shared_capability(__VA_ARGS__))

// The caller must not hold the capabilities (the function acquires them itself).
#define EXCLUDES(...) MARQUEE_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))

// The function asserts (at run time, or by contract) that the capability is held.
#define ASSERT_CAPABILITY(x) MARQUEE_THREAD_ANNOTATION(assert_capability(x))
#define ASSERT_SHARED_CAPABILITY(x) MARQUEE_THREAD_ANNOTATION(assert_shared_capability(x))

// The function returns a reference to the capability.
#define RETURN_CAPABILITY(x) MARQUEE_THREAD_ANNOTATION(lock_returned(x))

// Turns the analysis off for one function: only with a comment saying why it is safe.
#define NO_THREAD_SAFETY_ANALYSIS MARQUEE_THREAD_ANNOTATION(no_thread_safety_analysis)

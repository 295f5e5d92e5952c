// Mutexes the thread-safety analysis can check (common/thread_annotations.h), after leveldb's
// port::Mutex and Abseil's MutexLock: thin wrappers over std::mutex, std::shared_mutex and
// std::condition_variable whose lock and unlock operations are annotated, so clang proves that
// every GUARDED_BY member is accessed with its mutex held.
//
//   class Queue {
//     Mutex mu_;
//     CondVar cv_;
//     std::vector<int> items_ GUARDED_BY(mu_);
//     void Push(int x) EXCLUDES(mu_) {
//       MutexLock lock(&mu_);
//       items_.push_back(x);
//       cv_.NotifyOne();
//     }
//     int Pop() EXCLUDES(mu_) {
//       MutexLock lock(&mu_);
//       cv_.Wait(&mu_, [&] {
//         mu_.AssertHeld();  // a lambda is analysed on its own: say it runs under mu_
//         return !items_.empty();
//       });
//       ...
//     }
//   };
//
// Not copyable or movable. Thread-safe, as the standard types they wrap.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>
#include <utility>

#include "common/thread_annotations.h"

namespace marquee {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  // Returns whether the mutex is now held (never blocks).
  bool TryLock() TRY_ACQUIRE(true) { return mu_.try_lock(); }
  // Tells the analysis the mutex is held where it cannot see it (a callback run under it).
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// A reader-writer mutex: many shared holders or one exclusive holder.
class CAPABILITY("shared_mutex") SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  void LockShared() ACQUIRE_SHARED() { mu_.lock_shared(); }
  void UnlockShared() RELEASE_SHARED() { mu_.unlock_shared(); }
  // Tells the analysis the mutex is held exclusively where it cannot see it (a callback run
  // under it).
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

 private:
  std::shared_mutex mu_;
};

// Holds `mu` for its scope.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() RELEASE() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// Holds `mu` exclusively for its scope.
class SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~WriterLock() RELEASE() { mu_->Unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex* const mu_;
};

// Holds `mu` shared for its scope.
class SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex* mu) ACQUIRE_SHARED(mu) : mu_(mu) { mu_->LockShared(); }
  ~ReaderLock() RELEASE() { mu_->UnlockShared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex* const mu_;
};

// A shared hold on a SharedMutex handed from the function that took it to its caller (a reader
// handle returned by value). The analysis cannot follow a hold across functions, so adopting
// the hold ends it as far as the analysis sees; the destructor releases it.
class SharedHold {
 public:
  SharedHold() = default;
  // Adopts the shared hold the caller has on `mu` (for the analysis, the caller releases it).
  static SharedHold Adopt(SharedMutex* mu) RELEASE_SHARED(mu) NO_THREAD_SAFETY_ANALYSIS {
    return SharedHold(mu);
  }
  SharedHold(SharedHold&& o) noexcept : mu_(std::exchange(o.mu_, nullptr)) {}
  SharedHold& operator=(SharedHold&& o) noexcept {
    Reset();
    mu_ = std::exchange(o.mu_, nullptr);
    return *this;
  }
  ~SharedHold() { Reset(); }

 private:
  // Releases a hold the analysis no longer tracks (see above).
  void Reset() NO_THREAD_SAFETY_ANALYSIS {
    if (mu_ != nullptr) mu_->UnlockShared();
    mu_ = nullptr;
  }
  explicit SharedHold(SharedMutex* mu) : mu_(mu) {}
  SharedMutex* mu_ = nullptr;
};

// A condition variable. Each wait takes the Mutex it requires held, as Abseil's CondVar does (it
// is released while waiting and held again on return, as std::condition_variable does); waiters
// at the same time must pass the same Mutex.
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  // Waits until `done()` is true; `done` runs with `mu` held.
  template <typename Pred>
  void Wait(Mutex* mu, Pred done) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock, done);
    lock.release();  // still held: the caller's
  }
  // As Wait, for at most `timeout`; returns done().
  template <typename Rep, typename Period, typename Pred>
  bool WaitFor(Mutex* mu, std::chrono::duration<Rep, Period> timeout, Pred done) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    const bool result = cv_.wait_for(lock, timeout, done);
    lock.release();
    return result;
  }
  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace marquee

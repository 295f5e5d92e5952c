// Completion: turns an asynchronous call that reports through a callback into a blocking one.
//
//   Completion c;
//   log.AppendAsync(records, [&c](std::exception_ptr e) { c.Done(e); });
//   c.Wait();  // returns once Done ran; rethrows its error
//
// Done may be called from any thread, exactly once; Wait from the thread that owns `c`.
#pragma once

#include <exception>

#include "common/mutex.h"

namespace marquee {

class Completion {
 public:
  void Done(std::exception_ptr err) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    err_ = err;
    finished_ = true;
    cv_.NotifyOne();
  }
  void Wait() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    cv_.Wait(&mu_, [&] {
      mu_.AssertHeld();  // the predicate runs under mu_
      return finished_;
    });
    if (err_) std::rethrow_exception(err_);
  }

 private:
  Mutex mu_;
  CondVar cv_;
  bool finished_ GUARDED_BY(mu_) = false;
  std::exception_ptr err_ GUARDED_BY(mu_);
};

}  // namespace marquee

// Completion: turns an asynchronous call that reports through a callback into a blocking one.
//
//   Completion c;
//   log.AppendAsync(records, [&c](std::exception_ptr e) { c.Done(e); });
//   c.Wait();  // returns once Done ran; rethrows its error
//
// Done may be called from any thread, exactly once; Wait from the thread that owns `c`.
#pragma once

#include <condition_variable>
#include <exception>
#include <mutex>

namespace marquee {

class Completion {
 public:
  void Done(std::exception_ptr err) {
    std::lock_guard lock(mu_);
    err_ = err;
    finished_ = true;
    cv_.notify_one();
  }
  void Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return finished_; });
    if (err_) std::rethrow_exception(err_);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool finished_ = false;
  std::exception_ptr err_;
};

}  // namespace marquee

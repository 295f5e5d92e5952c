#include "common/thread_pool.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "marquee/context.h"

namespace marquee {

int Context::DefaultThreads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

namespace {

// The first exception thrown by any of the threads.
class FirstError {
 public:
  void Keep(std::exception_ptr e) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    if (!error_) error_ = std::move(e);
  }
  std::exception_ptr Get() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    return error_;
  }

 private:
  Mutex mu_;
  std::exception_ptr error_ GUARDED_BY(mu_);
};

void RunThreads(int threads, const std::function<void(int)>& body) {
  if (threads <= 1) {
    body(0);
    return;
  }
  FirstError error;
  std::vector<std::thread> workers;
  workers.reserve(static_cast<size_t>(threads - 1));
  auto guarded = [&](int t) {
    try {
      body(t);
    } catch (...) {
      error.Keep(std::current_exception());
    }
  };
  for (int t = 1; t < threads; ++t) workers.emplace_back(guarded, t);
  guarded(0);
  for (auto& w : workers) w.join();
  if (std::exception_ptr e = error.Get()) std::rethrow_exception(e);
}
}  // namespace

void ParallelFor(size_t n, int threads, const std::function<void(size_t, size_t, int)>& fn) {
  if (n == 0) return;
  int t_count = static_cast<int>(std::min<size_t>(static_cast<size_t>(std::max(threads, 1)), n));
  RunThreads(t_count, [&](int t) {
    size_t begin = n * static_cast<size_t>(t) / static_cast<size_t>(t_count);
    size_t end = n * static_cast<size_t>(t + 1) / static_cast<size_t>(t_count);
    if (begin < end) fn(begin, end, t);
  });
}

void ParallelForDynamic(size_t n, int threads, size_t grain,
                        const std::function<void(size_t, int)>& fn) {
  if (n == 0) return;
  grain = std::max<size_t>(grain, 1);
  size_t blocks = (n + grain - 1) / grain;
  int t_count =
      static_cast<int>(std::min<size_t>(static_cast<size_t>(std::max(threads, 1)), blocks));
  std::atomic<size_t> next{0};
  RunThreads(t_count, [&](int t) {
    for (;;) {
      size_t b = next.fetch_add(1);
      if (b >= blocks) break;
      size_t end = std::min(n, (b + 1) * grain);
      for (size_t i = b * grain; i < end; ++i) fn(i, t);
    }
  });
}

void LowerCurrentThreadPriority() noexcept {
  // Linux: a thread id names one thread (POSIX would apply these to the process).
  const auto tid = static_cast<pid_t>(syscall(SYS_gettid));
  // SCHED_BATCH: waking up does not preempt a running thread, so a flush waits for the request
  // thread's time slice instead of interrupting it mid-request.
  sched_param param{};
  (void)sched_setscheduler(tid, SCHED_BATCH, &param);
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(tid), 10);
}

}  // namespace marquee

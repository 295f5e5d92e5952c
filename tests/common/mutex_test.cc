#include "common/mutex.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "common/completion.h"

namespace marquee {
namespace {

class Counter {
 public:
  void Add() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    ++n_;
    cv_.NotifyAll();
  }
  void WaitFor(int n) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    cv_.Wait(&mu_, [&] {
      mu_.AssertHeld();
      return n_ >= n;
    });
  }
  int n() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    return n_;
  }

 private:
  Mutex mu_;
  CondVar cv_;
  int n_ GUARDED_BY(mu_) = 0;
};

TEST(Mutex, GuardsACounterAcrossThreads) {
  Counter c;
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) c.Add();
    });
  }
  c.WaitFor(4000);
  for (auto& t : ts) t.join();
  EXPECT_EQ(c.n(), 4000);
}

TEST(Mutex, TryLockFailsWhileHeldAndWaitForTimesOut) {
  Mutex mu;
  CondVar cv;
  mu.Lock();
  std::thread([&] {
    if (mu.TryLock()) {
      mu.Unlock();
      ADD_FAILURE() << "TryLock took a held mutex";
    }
  }).join();
  EXPECT_FALSE(cv.WaitFor(&mu, std::chrono::milliseconds(1), [] { return false; }));
  mu.Unlock();
  if (mu.TryLock()) {
    mu.Unlock();
  } else {
    ADD_FAILURE() << "TryLock failed on a free mutex";
  }
}

class Guarded {
 public:
  SharedHold Read() EXCLUDES(mu_) {
    mu_.LockShared();
    return SharedHold::Adopt(&mu_);
  }
  void Write() EXCLUDES(mu_) {
    WriterLock lock(&mu_);
    ++writes_;
  }

 private:
  SharedMutex mu_;
  int writes_ GUARDED_BY(mu_) = 0;
};

TEST(SharedMutex, ASharedHoldKeepsWritersOutUntilItIsReleased) {
  Guarded g;
  SharedHold a = g.Read();
  SharedHold b = std::move(a);  // the hold moves: released once, by b
  std::atomic<bool> wrote{false};
  std::thread writer([&] {
    g.Write();
    wrote = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(wrote);
  b = SharedHold();
  writer.join();
  EXPECT_TRUE(wrote);
}

TEST(Completion, WaitReturnsOnceDoneRanOnAnotherThread) {
  Completion c;
  std::thread t([&] { c.Done(nullptr); });
  c.Wait();
  t.join();
}

}  // namespace
}  // namespace marquee

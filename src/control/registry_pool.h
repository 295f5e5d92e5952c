// RegistryPool: Registry objects for the request threads of the control plane. A Registry is
// used by one thread at a time (registry.h), and opening one per request would cost a SQLite
// open and schema check each time; the pool lends an idle one or opens a new one, and takes it
// back when the lease ends. Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "kinds/builtin.h"
#include "registry/registry.h"

namespace marquee {

class RegistryPool {
 public:
  explicit RegistryPool(std::string home) : home_(std::move(home)) {}

  // A registry for the holder's exclusive use until the lease is destroyed.
  class Lease {
   public:
    Lease(RegistryPool* pool, std::unique_ptr<Registry> r) : pool_(pool), r_(std::move(r)) {}
    Lease(Lease&&) = default;
    ~Lease() {
      if (r_) pool_->Return(std::move(r_));
    }
    Registry& operator*() { return *r_; }
    Registry* operator->() { return r_.get(); }

   private:
    RegistryPool* pool_;
    std::unique_ptr<Registry> r_;
  };

  // Throws what OpenRegistry throws (a damaged store) when no idle registry is left.
  Lease Acquire() {
    {
      MutexLock lock(&mu_);
      if (!idle_.empty()) {
        auto r = std::move(idle_.back());
        idle_.pop_back();
        return Lease(this, std::move(r));
      }
    }
    RegistryOptions o;
    o.home = home_;
    o.kinds = &BuiltinKinds();  // as OpenRegistry (pipeline/train.h) opens it
    return Lease(this, std::make_unique<Registry>(std::move(o)));
  }
  const std::string& home() const { return home_; }

 private:
  void Return(std::unique_ptr<Registry> r) {
    MutexLock lock(&mu_);
    if (idle_.size() < kMaxIdle) idle_.push_back(std::move(r));
  }
  static constexpr size_t kMaxIdle = 8;
  const std::string home_;
  Mutex mu_;
  std::vector<std::unique_ptr<Registry>> idle_ GUARDED_BY(mu_);
};

}  // namespace marquee

// Input for `scripts/check-thread-safety.sh --self-test` (ctest
// base.thread_safety_check): built clean it must pass the check; with
// -DNEXUS_TSA_VIOLATION it reads and writes a guarded member without the lock
// and takes two locks against their declared order, and the check must fail.
// Not linked into any binary.
#include "base/mutex.h"

namespace nexus {

class Counter {
 public:
  void Add(int n) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    AddLocked(n);
  }
  int WaitPositive() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    lock.Wait(cv_, [&]() REQUIRES(mu_) { return value_ > 0; });
    return value_;
  }
#ifdef NEXUS_TSA_VIOLATION
  int Peek() { return value_; }  // reads without mu_
  void Bump() { AddLocked(1); }  // calls a *Locked helper without mu_
#endif

 private:
  void AddLocked(int n) REQUIRES(mu_) {
    value_ += n;
    cv_.notify_all();
  }

  Mutex mu_;
  std::condition_variable cv_;
  int value_ GUARDED_BY(mu_) = 0;
};

class Ordered {
 public:
  void Both() EXCLUDES(outer_, inner_) {
    MutexLock a(outer_);
    MutexLock b(inner_);
  }
#ifdef NEXUS_TSA_VIOLATION
  void Backwards() EXCLUDES(outer_, inner_) {
    MutexLock b(inner_);
    MutexLock a(outer_);  // against ACQUIRED_BEFORE
  }
#endif

 private:
  Mutex outer_ ACQUIRED_BEFORE(inner_);
  Mutex inner_;
};

}  // namespace nexus

// Mutex, SharedMutex and their scoped locks: std::mutex and std::shared_mutex
// with the capability attributes of base/thread_annotations.h, so members
// marked GUARDED_BY(mu_) are checked by clang's -Wthread-safety. They add no
// state and no cost over the std types they wrap.
//
// Waiting: MutexLock::Wait/WaitFor/WaitUntil wait on a std::condition_variable
// with the lock held on return, like std::condition_variable::wait on a
// std::unique_lock. The predicate is a separate function to the analysis, so
// one that reads guarded members says so: [&]() REQUIRES(mu_) { return stop_; }.
// Mutex is also BasicLockable (lock/unlock), so std::condition_variable_any
// and std::unique_lock<Mutex> work too, unchecked.
//
// Thread-safety: as the std types; a lock object belongs to one thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>
#include <utility>

#include "base/thread_annotations.h"

namespace nexus {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return mu_.try_lock(); }

  // Tells the analysis that the caller holds this mutex where it cannot see
  // it (no run-time check).
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

 private:
  friend class MutexLock;
  std::mutex mu_;
};

class CAPABILITY("shared_mutex") SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  void lock_shared() ACQUIRE_SHARED() { mu_.lock_shared(); }
  void unlock_shared() RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

// Holds a Mutex for its scope, like std::unique_lock: Unlock() and Lock()
// drop and retake it inside the scope, and the waits below release it while
// blocked.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() RELEASE() {
    if (held_) mu_.unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Unlock() RELEASE() {
    mu_.unlock();
    held_ = false;
  }
  void Lock() ACQUIRE() {
    mu_.lock();
    held_ = true;
  }

  void Wait(std::condition_variable& cv) {
    std::unique_lock<std::mutex> lk(mu_.mu_, std::adopt_lock);
    cv.wait(lk);
    lk.release();
  }
  template <typename Pred>
  void Wait(std::condition_variable& cv, Pred pred) {
    std::unique_lock<std::mutex> lk(mu_.mu_, std::adopt_lock);
    cv.wait(lk, std::move(pred));
    lk.release();
  }
  template <typename Rep, typename Period>
  std::cv_status WaitFor(std::condition_variable& cv, const std::chrono::duration<Rep, Period>& timeout) {
    std::unique_lock<std::mutex> lk(mu_.mu_, std::adopt_lock);
    std::cv_status status = cv.wait_for(lk, timeout);
    lk.release();
    return status;
  }
  // Returns pred() as last evaluated (false: timed out).
  template <typename Rep, typename Period, typename Pred>
  bool WaitFor(std::condition_variable& cv, const std::chrono::duration<Rep, Period>& timeout, Pred pred) {
    std::unique_lock<std::mutex> lk(mu_.mu_, std::adopt_lock);
    bool ok = cv.wait_for(lk, timeout, std::move(pred));
    lk.release();
    return ok;
  }
  template <typename Clock, typename Duration, typename Pred>
  bool WaitUntil(std::condition_variable& cv, const std::chrono::time_point<Clock, Duration>& deadline,
                 Pred pred) {
    std::unique_lock<std::mutex> lk(mu_.mu_, std::adopt_lock);
    bool ok = cv.wait_until(lk, deadline, std::move(pred));
    lk.release();
    return ok;
  }

 private:
  Mutex& mu_;
  bool held_ = true;
};

// Holds a SharedMutex exclusively for its scope.
class SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~WriterLock() RELEASE() { mu_.unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex& mu_;
};

// Holds a SharedMutex shared for its scope.
class SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex& mu) ACQUIRE_SHARED(mu) : mu_(mu) { mu_.lock_shared(); }
  ~ReaderLock() RELEASE() { mu_.unlock_shared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex& mu_;
};

}  // namespace nexus

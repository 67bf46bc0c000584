// nexus::Mutex and its locks: waits return with the lock held, WaitFor times
// out, Unlock/Lock let another thread in, SharedMutex readers share.
#include "base/mutex.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace nexus {
namespace {

using namespace std::chrono_literals;

// Whether `mu` is held, asked from another thread (try_lock on a mutex the
// caller owns would be undefined).
bool Held(Mutex& mu) NO_THREAD_SAFETY_ANALYSIS {
  bool held = true;
  std::thread([&] {
    if (mu.try_lock()) {
      held = false;
      mu.unlock();
    }
  }).join();
  return held;
}

struct Box {
  Mutex mu;
  std::condition_variable cv;
  int value GUARDED_BY(mu) = 0;
};

TEST(MutexTest, WaitReturnsWithThePredicateTrueAndTheLockHeld) {
  Box b;
  std::thread setter([&] {
    std::this_thread::sleep_for(10ms);
    MutexLock lk(b.mu);
    b.value = 7;
    b.cv.notify_all();
  });
  {
    MutexLock lk(b.mu);
    lk.Wait(b.cv, [&]() REQUIRES(b.mu) { return b.value != 0; });
    EXPECT_EQ(b.value, 7);
    EXPECT_TRUE(Held(b.mu));
  }
  setter.join();
  EXPECT_FALSE(Held(b.mu));
}

TEST(MutexTest, WaitForTimesOutWithTheLockHeld) {
  Box b;
  MutexLock lk(b.mu);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(lk.WaitFor(b.cv, 20ms, [&]() REQUIRES(b.mu) { return b.value != 0; }));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 20ms);
  EXPECT_TRUE(Held(b.mu));
}

TEST(MutexTest, UnlockLetsAnotherThreadInAndLockTakesItBack) {
  Box b;
  MutexLock lk(b.mu);
  lk.Unlock();
  std::thread other([&] {
    MutexLock olk(b.mu);
    b.value = 1;
  });
  other.join();
  lk.Lock();
  EXPECT_EQ(b.value, 1);
}

TEST(MutexTest, ReadersShareAndAWriterExcludesThem) {
  SharedMutex mu;
  std::atomic<bool> in{false};
  auto reader = [&] {
    ReaderLock lk(mu);
    in = true;
  };
  {
    ReaderLock lk(mu);
    std::thread other(reader);
    for (int i = 0; i < 1000 && !in; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_TRUE(in);  // got in beside us
    other.join();
  }
  in = false;
  std::thread other;
  {
    WriterLock lk(mu);
    other = std::thread(reader);
    std::this_thread::sleep_for(50ms);
    EXPECT_FALSE(in);  // kept out by the writer
  }
  other.join();
  EXPECT_TRUE(in);
}

}  // namespace
}  // namespace nexus

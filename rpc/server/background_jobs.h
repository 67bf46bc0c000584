// BackgroundJobs: threads for control-socket calls too slow for the event
// loop (snapshot restore, gc, export, reindexing). At most `max_threads`
// jobs run at once; the rest queue. The destructor waits for running and
// queued jobs, so anything they use must outlive this object.
//
// Threading: Submit may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "base/mutex.h"

namespace nexus {

class BackgroundJobs {
 public:
  explicit BackgroundJobs(size_t max_threads = 2);
  ~BackgroundJobs();
  BackgroundJobs(const BackgroundJobs&) = delete;
  BackgroundJobs& operator=(const BackgroundJobs&) = delete;

  void Submit(std::function<void()> job);
  size_t Running() const;

 private:
  void Worker() EXCLUDES(mu_);
  const size_t max_threads_;
  mutable Mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_ GUARDED_BY(mu_);
  size_t idle_ GUARDED_BY(mu_) = 0;
  size_t running_ GUARDED_BY(mu_) = 0;
  bool stop_ GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_ GUARDED_BY(mu_);
};

}  // namespace nexus

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
  void Worker();
  const size_t max_threads_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  size_t idle_ = 0;                          // guarded by mu_
  size_t running_ = 0;                       // guarded by mu_
  bool stop_ = false;                        // guarded by mu_
  std::vector<std::thread> threads_;         // guarded by mu_
};

}  // namespace nexus

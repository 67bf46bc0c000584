#include "rpc/server/background_jobs.h"

namespace nexus {

BackgroundJobs::BackgroundJobs(size_t max_threads) : max_threads_(max_threads ? max_threads : 1) {}

BackgroundJobs::~BackgroundJobs() {
  std::vector<std::thread> threads;
  {
    MutexLock lk(mu_);
    stop_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& t : threads) t.join();
}

void BackgroundJobs::Submit(std::function<void()> job) {
  MutexLock lk(mu_);
  queue_.push_back(std::move(job));
  if (idle_ == 0 && threads_.size() < max_threads_)
    threads_.emplace_back([this] { Worker(); });
  else
    cv_.notify_one();
}

size_t BackgroundJobs::Running() const {
  MutexLock lk(mu_);
  return running_;
}

void BackgroundJobs::Worker() {
  MutexLock lk(mu_);
  for (;;) {
    ++idle_;
    lk.Wait(cv_, [&]() REQUIRES(mu_) { return stop_ || !queue_.empty(); });
    --idle_;
    if (queue_.empty()) return;  // stopping, nothing left
    auto job = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    lk.Unlock();
    job();
    lk.Lock();
    --running_;
  }
}

}  // namespace nexus

// Internal to api/: a fixed set of threads for work that blocks (the database, a compute driver),
// with a bounded queue. The HTTP I/O threads never block: they hand requests here, and a full
// queue is refused at once (the caller answers 503 with Retry-After) rather than queued without
// bound. Thread-safe. stop() finishes the jobs already queued, then joins the threads.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gpucloud::api {

class WorkerPool {
 public:
  WorkerPool(std::string name, int threads, size_t max_queue);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // False when the queue is full or the pool stopped; the job is then not run.
  bool try_submit(std::function<void()> job);
  void stop();
  size_t queued() const;

 private:
  void run();
  std::string name_;
  size_t max_queue_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace gpucloud::api

// The bounded worker pool under the HTTP layer: a full queue refuses a job at once (the router
// answers 503 with Retry-After) instead of queueing without bound, and stop() still runs the jobs
// that were queued.
#include "api/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

namespace gpucloud::api {
namespace {

TEST(WorkerPoolTest, FullQueueRefusesAJobAndStopRunsTheQueuedOnes) {
  WorkerPool pool("test", 1, 2);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> started;
  std::atomic<int> ran{0};
  // The only thread is held by the first job...
  ASSERT_TRUE(pool.try_submit([&] {
    started.set_value();
    released.wait();
    ++ran;
  }));
  started.get_future().wait();
  // ...so two more wait in the queue, and a third is one too many.
  EXPECT_TRUE(pool.try_submit([&] { ++ran; }));
  EXPECT_TRUE(pool.try_submit([&] { ++ran; }));
  EXPECT_EQ(pool.queued(), 2u);
  EXPECT_FALSE(pool.try_submit([&] { ran += 100; }));
  EXPECT_EQ(pool.queued(), 2u);

  release.set_value();
  pool.stop();
  EXPECT_EQ(ran.load(), 3);  // the refused job never ran; the queued ones did
  EXPECT_FALSE(pool.try_submit([&] { ran += 100; }));  // stopped
  EXPECT_EQ(ran.load(), 3);
}

}  // namespace
}  // namespace gpucloud::api

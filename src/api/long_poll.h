// Internal to api/: long polls held without a thread. A parked request is an entry in a map, a
// wait on the HostTaskNotifier and a deadline timer; it resumes (once) when its host is notified,
// when the periodic re-check finds pending tasks for its host in the database (tasks created by
// another server replica), at its deadline, or when the server drains. 10,000 polling agents are
// 10,000 entries and no thread. Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "api/http_server.h"
#include "core/core.h"
#include "core/host_task_notifier.h"

namespace gpucloud::api {

class LongPolls {
 public:
  using Schedule =
      std::function<std::shared_ptr<TimerHandle>(std::chrono::milliseconds, std::function<void()>)>;
  // Runs the re-check query away from the I/O threads (false: could not, skip this round).
  using RunBlocking = std::function<bool(std::function<void()>)>;
  // Which of the parked keys (hosts, and kAgentTaskWaitKey + task id) have news in the database.
  using PendingHosts =
      std::function<Result<std::vector<std::string>>(const std::set<std::string>& parked)>;

  LongPolls(HostTaskNotifier& notifier, Schedule schedule, RunBlocking run,
            PendingHosts pending_hosts, std::chrono::milliseconds recheck);
  ~LongPolls();

  // `resume(final)` runs once: final is true at the deadline or when draining (the request must be
  // answered then), false when the host may have new tasks.
  void park(const std::string& host, std::chrono::steady_clock::time_point deadline,
            std::function<void(bool final)> resume);
  // Resumes every parked request with final = true; later parks resume at once.
  void drain();
  size_t parked() const;

 private:
  struct Entry {
    std::string host;
    HostTaskNotifier::WaitId wait = 0;
    std::shared_ptr<TimerHandle> timer;
    std::function<void(bool)> resume;
  };
  void fire(uint64_t id, bool final);
  void sweep();
  void schedule_sweep_locked();

  HostTaskNotifier& notifier_;
  Schedule schedule_;
  RunBlocking run_;
  PendingHosts pending_hosts_;
  std::chrono::milliseconds recheck_;
  mutable std::mutex mu_;
  uint64_t next_ = 0;
  std::map<uint64_t, Entry> entries_;
  bool sweep_scheduled_ = false;
  bool draining_ = false;
  std::shared_ptr<TimerHandle> sweep_timer_;
  // Callbacks from timers and the notifier may outlive this object by a moment: they hold a
  // weak reference to this token and do nothing once it is gone.
  std::shared_ptr<LongPolls*> self_;
};

}  // namespace gpucloud::api

// Wake-ups for agents' long polls. Whatever creates agent tasks for a host (today the agent task
// driver, compute/agent_driver.cc; later the conductor) calls notify(host); the API's long poll
// for that host waits here instead of polling the database, and answers as soon as it is woken.
// Only waiters in this process wake: the API re-checks the database now and then for tasks that
// another server replica created. Included directly by its users, not through core.h.
//
// Thread-safe. A waiter's callback runs at most once, on the notifying thread, outside the lock;
// it must be quick (it posts work elsewhere).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace gpucloud {

class HostTaskNotifier {
 public:
  using WaitId = uint64_t;

  // Calls `wake` at the next notify(host) (not for earlier ones).
  WaitId wait(const std::string& host, std::function<void()> wake);
  // True when the waiter was still waiting: its callback will not run.
  bool cancel(WaitId id);
  // Wakes every waiter of `host`.
  void notify(const std::string& host);
  size_t waiting() const;

 private:
  struct Waiter {
    std::string host;
    std::function<void()> wake;
  };
  mutable std::mutex mu_;
  WaitId next_ = 0;
  std::map<WaitId, Waiter> waiters_;
  std::multimap<std::string, WaitId> by_host_;
};

}  // namespace gpucloud

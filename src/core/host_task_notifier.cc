// Wake-ups for agents' long polls (host_task_notifier.h).
#include "core/host_task_notifier.h"

#include <vector>

namespace gpucloud {

HostTaskNotifier::WaitId HostTaskNotifier::wait(const std::string& host,
                                                std::function<void()> wake) {
  std::lock_guard lock(mu_);
  const WaitId id = ++next_;
  waiters_.emplace(id, Waiter{host, std::move(wake)});
  by_host_.emplace(host, id);
  return id;
}

bool HostTaskNotifier::cancel(WaitId id) {
  std::lock_guard lock(mu_);
  auto it = waiters_.find(id);
  if (it == waiters_.end()) return false;
  auto [lo, hi] = by_host_.equal_range(it->second.host);
  for (auto h = lo; h != hi; ++h) {
    if (h->second == id) {
      by_host_.erase(h);
      break;
    }
  }
  waiters_.erase(it);
  return true;
}

void HostTaskNotifier::notify(const std::string& host) {
  std::vector<std::function<void()>> woken;
  {
    std::lock_guard lock(mu_);
    auto [lo, hi] = by_host_.equal_range(host);
    for (auto h = lo; h != hi; ++h) {
      auto it = waiters_.find(h->second);
      woken.push_back(std::move(it->second.wake));
      waiters_.erase(it);
    }
    by_host_.erase(lo, hi);
  }
  for (auto& wake : woken) wake();
}

size_t HostTaskNotifier::waiting() const {
  std::lock_guard lock(mu_);
  return waiters_.size();
}

}  // namespace gpucloud

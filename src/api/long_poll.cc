// Long polls held without a thread (long_poll.h).
#include "api/long_poll.h"

#include <spdlog/spdlog.h>

#include <set>

namespace gpucloud::api {

LongPolls::LongPolls(HostTaskNotifier& notifier, Schedule schedule, RunBlocking run,
                     PendingHosts pending_hosts, std::chrono::milliseconds recheck)
    : notifier_(notifier),
      schedule_(std::move(schedule)),
      run_(std::move(run)),
      pending_hosts_(std::move(pending_hosts)),
      recheck_(recheck),
      self_(std::make_shared<LongPolls*>(this)) {}

LongPolls::~LongPolls() {
  drain();
  std::lock_guard lock(mu_);
  if (sweep_timer_) sweep_timer_->cancel();
}

void LongPolls::park(const std::string& host, std::chrono::steady_clock::time_point deadline,
                     std::function<void(bool final)> resume) {
  std::weak_ptr<LongPolls*> weak = self_;
  uint64_t id = 0;
  {
    std::lock_guard lock(mu_);
    if (!draining_) {
      id = ++next_;
      Entry& e = entries_[id];
      e.host = host;
      e.resume = std::move(resume);
      schedule_sweep_locked();
    }
  }
  if (id == 0) {
    resume(true);
    return;
  }
  auto wait = notifier_.wait(host, [weak, id] {
    if (auto self = weak.lock()) (*self)->fire(id, false);
  });
  const auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  auto timer = schedule_(std::max(delay, std::chrono::milliseconds(0)), [weak, id] {
    if (auto self = weak.lock()) (*self)->fire(id, true);
  });
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    // Already fired (a notify raced the registration): drop what is left.
    notifier_.cancel(wait);
    timer->cancel();
    return;
  }
  it->second.wait = wait;
  it->second.timer = std::move(timer);
}

void LongPolls::fire(uint64_t id, bool final) {
  Entry e;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    e = std::move(it->second);
    entries_.erase(it);
  }
  if (e.wait) notifier_.cancel(e.wait);
  if (e.timer) e.timer->cancel();
  e.resume(final);
}

void LongPolls::drain() {
  std::vector<uint64_t> ids;
  {
    std::lock_guard lock(mu_);
    draining_ = true;
    for (const auto& [id, e] : entries_) ids.push_back(id);
  }
  for (uint64_t id : ids) fire(id, true);
}

size_t LongPolls::parked() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

void LongPolls::schedule_sweep_locked() {
  if (sweep_scheduled_ || draining_) return;
  sweep_scheduled_ = true;
  std::weak_ptr<LongPolls*> weak = self_;
  sweep_timer_ = schedule_(recheck_, [weak] {
    if (auto self = weak.lock()) (*self)->sweep();
  });
}

// One query for all parked polls: which hosts have pending tasks? Those hosts' polls resume.
void LongPolls::sweep() {
  std::set<std::string> hosts;
  {
    std::lock_guard lock(mu_);
    sweep_scheduled_ = false;
    if (entries_.empty() || draining_) return;
    for (const auto& [id, e] : entries_) hosts.insert(e.host);
  }
  std::weak_ptr<LongPolls*> weak = self_;
  const bool started = run_([weak, hosts = std::move(hosts)] {
    auto self = weak.lock();
    if (!self) return;
    LongPolls& me = **self;
    auto pending = me.pending_hosts_(hosts);
    if (!pending.ok()) {
      spdlog::warn("long polls: re-checking the database for agent tasks failed: {}",
                   pending.error().message);
    } else {
      for (const auto& h : *pending) {
        if (hosts.count(h)) me.notifier_.notify(h);
      }
    }
    std::lock_guard lock(me.mu_);
    if (!me.entries_.empty()) me.schedule_sweep_locked();
  });
  if (!started) {
    std::lock_guard lock(mu_);
    if (!entries_.empty()) schedule_sweep_locked();
  }
}

}  // namespace gpucloud::api

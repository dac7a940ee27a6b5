// The readiness prober: every ACTIVE instance that is not READY is probed, first after
// `interval`, then with doubling backoff up to `max_interval`; after `timeout` since launch it is
// marked timed_out (and still probed at max_interval: a slow VM that answers later gets READY).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "controller/controller.h"

namespace gpucloud::controller {

struct ReadinessProber::Impl {
  store::Store& store;
  std::function<ReadinessOptions()> options;
  EndpointSource endpoint;
  struct Due {
    std::chrono::steady_clock::time_point at;
    std::chrono::milliseconds backoff{0};
  };
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, Due> due;  // by instance uuid
  std::set<std::string> running;   // being probed now
  std::deque<store::Instance> work;
  std::vector<std::thread> threads;
  std::thread scanner;
  bool stopping = false;

  Impl(store::Store& s, std::function<ReadinessOptions()> o, EndpointSource e)
      : store(s), options(std::move(o)), endpoint(std::move(e)) {
    if (!endpoint) endpoint = by_address(nullptr);
  }

  // The instances to probe now; marks them running.
  std::vector<store::Instance> collect() {
    std::vector<store::Instance> out;
    auto list = store.list_instances("", false);
    if (!list.ok()) {
      spdlog::warn("readiness: listing instances: {}", list.error().message);
      return out;
    }
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mu);
    std::set<std::string> live;
    for (auto& i : *list) {
      if (i.status != store::ServerStatus::kActive || i.readiness == store::Readiness::kReady)
        continue;
      live.insert(i.uuid);
      if (running.contains(i.uuid)) continue;
      auto it = due.find(i.uuid);
      if (it != due.end() && it->second.at > now) continue;
      running.insert(i.uuid);
      out.push_back(std::move(i));
    }
    std::erase_if(due, [&](const auto& kv) { return !live.contains(kv.first); });
    return out;
  }

  void probe_one(const store::Instance& i) {
    const ReadinessOptions o = options();
    // nullopt: another prober (the agent of the instance's host) probes it.
    if (const auto target = endpoint(i)) {
      probe::Spec spec;
      spec.ssh_port = o.ssh_port;
      spec.timeout = o.probe_timeout;
      spec.verify_tls = o.verify_tls;
      if (auto img = store.get_image(i.image_id); img.ok()) {
        auto p = img->properties.find("service_url");
        if (p != img->properties.end()) spec.service_url = p->second;
      }
      if (auto s = record_probe(store, i, probe::probe_guest(*target, spec), o); !s.ok()) {
        spdlog::warn("readiness: {}: {}", i.uuid, s.error().message);
      }
    }
    std::lock_guard lock(mu);
    running.erase(i.uuid);
    auto& d = due[i.uuid];
    d.backoff = d.backoff.count() == 0 ? o.interval : std::min(d.backoff * 2, o.max_interval);
    d.at = std::chrono::steady_clock::now() + d.backoff;
  }
};

EndpointSource by_address(AddressSource address) {
  return [address = std::move(address)](const store::Instance& i) {
    return std::optional<probe::Endpoint>(probe::Endpoint{address ? address(i) : i.ip_address, {}});
  };
}

Status record_probe(store::Store& store, const store::Instance& i, const Status& outcome,
                    const ReadinessOptions& o) {
  store::Readiness state = store::Readiness::kReady;
  std::string error;
  if (!outcome.ok()) {
    error = outcome.error().message;
    const auto since = i.launched_at.value_or(i.updated_at);
    const bool expired = std::chrono::system_clock::now() - since > o.give_up;
    state = expired ? store::Readiness::kTimedOut : store::Readiness::kWaiting;
  }
  if (state == i.readiness && error == i.readiness_error && i.readiness_at) return {};
  return store.set_instance_readiness(i.uuid, state, error);
}

ReadinessProber::ReadinessProber(store::Store& store, std::function<ReadinessOptions()> options,
                                 EndpointSource endpoint)
    : impl_(std::make_unique<Impl>(store, std::move(options), std::move(endpoint))) {}

ReadinessProber::~ReadinessProber() { stop(); }

void ReadinessProber::run_once() {
  for (const auto& i : impl_->collect()) impl_->probe_one(i);
}

void ReadinessProber::start() {
  Impl& m = *impl_;
  if (m.scanner.joinable()) return;
  const int threads = std::max(1, m.options().threads);
  for (int k = 0; k < threads; ++k) {
    m.threads.emplace_back([&m] {
      std::unique_lock lock(m.mu);
      while (true) {
        m.cv.wait(lock, [&] { return m.stopping || !m.work.empty(); });
        if (m.stopping) return;
        store::Instance i = std::move(m.work.front());
        m.work.pop_front();
        lock.unlock();
        m.probe_one(i);
        lock.lock();
      }
    });
  }
  m.scanner = std::thread([&m] {
    while (true) {
      auto batch = m.collect();
      std::unique_lock lock(m.mu);
      for (auto& i : batch) m.work.push_back(std::move(i));
      m.cv.notify_all();
      // Rescan often enough for the shortest interval, but never busily.
      auto period = std::clamp(m.options().interval / 2, std::chrono::milliseconds(50),
                               std::chrono::milliseconds(1000));
      if (m.cv.wait_for(lock, period, [&] { return m.stopping; })) return;
    }
  });
}

void ReadinessProber::stop() {
  Impl& m = *impl_;
  {
    std::lock_guard lock(m.mu);
    m.stopping = true;
  }
  m.cv.notify_all();
  if (m.scanner.joinable()) m.scanner.join();
  for (auto& t : m.threads)
    if (t.joinable()) t.join();
  m.threads.clear();
}

}  // namespace gpucloud::controller

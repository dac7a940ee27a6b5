// `gpucloud up`'s simulated hosts: the fake driver, registered in the store as agents would
// register real hosts, and kept alive by a heartbeat like an agent's.
#pragma once

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "api/api.h"
#include "compute/compute.h"

namespace gpucloud::cli {

class UpHosts {
 public:
  UpHosts(store::Store& store, std::unique_ptr<compute::ComputeDriver> driver,
          compute::HostRatios ratios)
      : store_(store), driver_(std::move(driver)), ratios_(ratios) {}
  ~UpHosts() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (heartbeat_.joinable()) heartbeat_.join();
  }

  Status register_now() { return compute::register_hosts(*driver_, store_, ratios_); }

  // Re-reports the hosts (a heartbeat) every `period`, as each host's agent would.
  void start_heartbeat(std::chrono::seconds period) {
    heartbeat_ = std::thread([this, period] {
      std::unique_lock lock(mu_);
      while (!cv_.wait_for(lock, period, [this] { return stopping_; })) {
        lock.unlock();
        if (auto s = register_now(); !s.ok()) {
          spdlog::warn("simulated hosts: heartbeat failed: {}", s.error().message);
        }
        lock.lock();
      }
    });
  }

  compute::ComputeDriver* driver() { return driver_.get(); }
  // What the API calls: the simulated hosts in-process, any other host through its agent
  // (`gpucloud agent` may join hosts to `up`'s cloud too).
  compute::ComputeDriver* serving_driver(std::chrono::seconds service_down_time) {
    if (!serving_) {
      compute::AgentDriverOptions o;
      o.service_down_time = service_down_time;
      serving_ = compute::make_agent_driver(store_, driver_.get(), o);
    }
    return serving_.get();
  }
  void cancel_waits() {
    if (serving_) serving_->cancel_waits();
  }

 private:
  store::Store& store_;
  std::unique_ptr<compute::ComputeDriver> driver_;
  std::unique_ptr<compute::AgentTaskDriver> serving_;
  compute::HostRatios ratios_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread heartbeat_;
};

// `fake_hosts_path` empty: the seed's vmhost1-3 (examples/seed/fake_hosts.json, embedded).
Result<std::unique_ptr<UpHosts>> start_up_hosts(store::Store& store,
                                                const config::NovaConfig& config,
                                                const std::string& fake_hosts_path);
void attach_up_hosts(UpHosts& hosts, api::ServerDeps& deps);

}  // namespace gpucloud::cli

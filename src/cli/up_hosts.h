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

  // Records a heartbeat of every host every `period`, as each host's agent would. One statement
  // for all: a re-registration would bump every host's generation and make every fleet view
  // re-read the whole fleet.
  void start_heartbeat(std::chrono::seconds period) {
    std::vector<std::string> names;
    if (auto hosts = driver_->hosts(); hosts.ok()) {
      for (const auto& h : *hosts) names.push_back(h.name);
    }
    heartbeat_ = std::thread([this, period, names] {
      std::unique_lock lock(mu_);
      while (!cv_.wait_for(lock, period, [this] { return stopping_; })) {
        lock.unlock();
        if (auto s = store_.record_heartbeats(names, std::chrono::system_clock::now()); !s.ok()) {
          spdlog::warn("simulated hosts: heartbeat failed: {}", s.error().message);
        }
        lock.lock();
      }
    });
  }

  // The simulated hosts, called in-process by the conductor (agents' hosts may join too).
  compute::ComputeDriver* driver() { return driver_.get(); }

 private:
  store::Store& store_;
  std::unique_ptr<compute::ComputeDriver> driver_;
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

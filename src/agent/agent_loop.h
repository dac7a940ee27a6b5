// `gpucloud agent`'s work: register the host with the server, heartbeat, take tasks and run them
// on the host's compute driver, and compare the hypervisor's domains with the server's view
// (orphans). Talks to the server's agent API (docs/agent.md) with its own Keystone credentials.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <thread>

#include "compute/compute.h"
#include "core/core.h"

namespace gpucloud::agent {

// As the openstack clients take them (OS_AUTH_URL, OS_USERNAME, ...).
struct AgentCredentials {
  std::string auth_url;  // e.g. http://controller:5000/identity/v3
  std::string username;
  std::string password;  // never logged
  std::string project_name;
  std::string user_domain_name = "Default";
  std::string project_domain_name = "Default";
};

struct AgentLoopOptions {
  std::string host;        // the host this agent serves
  std::string server_url;  // the agent API's base; empty: scheme://host:port of auth_url
  AgentCredentials credentials;
  std::chrono::seconds heartbeat_interval{10};
  std::chrono::seconds orphan_interval{60};  // 0: only on start
  int poll_wait_seconds = 10;                // the long poll's bound (the server caps it at 20)
  bool repair_orphans = false;               // destroy orphan domains, release leaked claims
  std::string doctor_status;  // reported with the host ("fail: ..." makes it unschedulable)
  // Where base images are kept (<dir>/<image id>): a spawn whose image data is not on this
  // host downloads it from the server first. Empty: off (the fake driver needs no data).
  std::string image_cache;
  // How often the guest watch reports addresses and probes guests that are not READY (the
  // server's readiness_interval when that is shorter).
  std::chrono::milliseconds guest_interval{5000};
};

class AgentClient;  // agent_client.h

class AgentLoop {
 public:
  // `driver` serves `options.host` and must outlive the loop.
  AgentLoop(AgentLoopOptions options, compute::ComputeDriver& driver);
  ~AgentLoop();

  // Authenticates and registers the host (errors name what failed; never the password).
  Status start();
  // Runs the task loop in this thread until stop(); heartbeats and orphan checks run beside it.
  void run();
  // From any thread (e.g. after SIGTERM): ends run() within a moment.
  void stop();
  bool stopping() const { return stopping_; }

  // One orphan check now (also run on start and every orphan_interval); returns a summary.
  Result<std::string> check_orphans();

 private:
  Status register_host();
  void heartbeat_loop();
  void run_one(const std::string& task_json);
  Status cache_image(store::AgentTask& task);
  // A shelve's snapshot: the guest's disk written to a file and uploaded as the task's image.
  Status snapshot(const store::AgentTask& task);
  Status cache_one_image(const std::string& task_id, const std::string& id,
                         const nlohmann::json& image);
  void guest_loop();
  // One guest watch pass: read the view, report addresses and probe outcomes. Returns how long
  // to wait before the next one.
  std::chrono::milliseconds watch_guests();

  AgentLoopOptions options_;
  compute::ComputeDriver& driver_;
  std::unique_ptr<AgentClient> tasks_client_;  // one per thread: httplib clients are not shared
  std::unique_ptr<AgentClient> beat_client_;
  std::unique_ptr<AgentClient> guest_client_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread beat_thread_;
  std::thread guest_thread_;
  // Each guest's firewall as the guest watch last set it (only that thread touches it).
  std::map<std::string, compute::Firewall> firewalls_;
  bool guests_due_ = false;  // a spawn finished: watch the guests now (guarded by mu_)
};

}  // namespace gpucloud::agent

// The conductor: carries out the instance lifecycle (boot, delete, stop, start, reboot, shelve,
// unshelve) as a durable state machine over the database, with a live view of the fleet for
// scheduling. The API only validates, writes the instance and its task row, and hands the task
// over (docs/conductor.md).
//
// Thread-safety: every public method may be called from any thread. Threads: see docs/threads.md.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/core.h"
#include "scheduler/scheduler.h"
#include "store/store.h"

namespace gpucloud {
class HostTaskNotifier;  // core/host_task_notifier.h
}
namespace gpucloud::compute {
class ComputeDriver;  // compute/compute.h
}

namespace gpucloud::conductor {

struct Options {
  int workers = 4;  // threads that run task steps; none of them ever waits for an agent
  // How often answers that agents gave to other replicas are looked for (in-process answers wake
  // the task at once), and agent calls checked against their timeout.
  std::chrono::milliseconds tick{100};
  // A task's lease: another replica takes the task over this long after its owner stopped
  // renewing (renewed every lease/3).
  std::chrono::milliseconds lease{std::chrono::seconds(15)};
  std::chrono::milliseconds adopt_every{std::chrono::seconds(1)};  // look for ownerless tasks
  std::chrono::milliseconds agent_timeout{std::chrono::minutes(5)};
  std::chrono::seconds service_down_time{60};  // nova.conf [DEFAULT] service_down_time
  std::chrono::milliseconds fleet_scan{std::chrono::seconds(1)};  // read host generations
  std::chrono::seconds keep_agent_tasks{600};  // finished agent tasks older than this are pruned
  // Told about every agent task created for a host, so that the agent's long poll answers at once
  // (core/host_task_notifier.h); may be null (agents then find tasks by the API's re-check).
  HostTaskNotifier* notifier = nullptr;
  // The image service, for shelve and unshelve: the data of a queued image from a local file (an
  // in-process host's snapshot; agents upload theirs), and deleting an image with its data (the
  // snapshot, once unshelved or when a shelve fails). Unset: in-process shelves fail.
  std::function<Status(const std::string& image_id, const std::string& path)> import_image;
  std::function<Status(const std::string& image_id)> delete_image;
};

// What the conductor did, for /metrics.
struct Counters {
  long long scheduling_attempts = 0;
  long long scheduling_failures = 0;
  long long claims_retried = 0;  // a claim lost to another boot; the next candidate was tried
  long long tasks_resumed = 0;   // tasks taken over from a replica whose lease ran out
  long long boots_undone = 0;    // boots that found their instance deleted and undid their work
  long long fleet_hosts = 0;     // hosts in the fleet view
  long long fleet_reloads = 0;   // hosts re-read because their generation changed
};

class Conductor {
 public:
  using ConfigSource = std::function<std::shared_ptr<const config::NovaConfig>()>;

  // `local`: the in-process driver of `gpucloud up` (may be null): its hosts are called
  // directly; every other host is served by its agent through agent_tasks rows. `local` and
  // `store` must outlive the conductor.
  static Result<std::unique_ptr<Conductor>> create(store::Store& store,
                                                   compute::ComputeDriver* local,
                                                   ConfigSource config, Options options);
  ~Conductor();

  // Builds the fleet view, starts the threads and takes over every task nobody holds.
  Status start();
  // Stops the threads; held tasks stay in the database for the next owner.
  void stop();
  bool running() const;

  // A task row was just created (by the API): run it now instead of at the next adoption scan.
  void submit(const std::string& task_id);
  // An agent answered `agent_task_id` through this replica: wake the task that waits for it.
  void agent_task_finished(const std::string& agent_task_id);

  // Devices per product and status in the fleet view (of `products`; all when empty), as the
  // admission check's GROUP BY would count pci_devices (compute_node_id 0): what the server's
  // own Cloud Controller reads instead of the table.
  std::vector<store::PciDeviceCount> device_counts(const std::vector<ProductId>& products) const;
  Counters counters() const;
  const std::string& replica_id() const;

  struct Impl;

 private:
  explicit Conductor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- what the API shares with the conductor ----

// Turns a server's flavor and image into the scheduler's request (kInvalidArgument: a 400).
Result<scheduler::RequestSpec> request_spec_for(const store::Flavor& flavor,
                                                const store::Image& image,
                                                const std::string& availability_zone,
                                                const config::NovaConfig& config);

// Hosts of the in-process driver (up regardless of heartbeats), sorted; empty without one.
std::vector<std::string> local_host_names(compute::ComputeDriver* local);
// nova's servicegroup: up unless forced down, when local or with a heartbeat younger than
// `down_after`. `local_hosts` is sorted (local_host_names()).
bool host_up(const store::ComputeHost& host, const std::vector<std::string>& local_hosts,
             std::chrono::seconds down_after);

// The scheduler's view of one host from its rows (aggregates given by the caller).
scheduler::HostState host_state(const store::ComputeHost& h,
                                const std::vector<store::PciDeviceRecord>& devices,
                                const std::vector<const store::Aggregate*>& aggregates, bool up);
// Every host, read from the store (what the fleet view starts from).
Result<std::vector<scheduler::HostState>> load_host_states(
    store::Store& store, const std::vector<std::string>& local_hosts,
    std::chrono::seconds down_after);

// The task_state an instance holds while a "stop", "start", "reboot" or "reboot_hard" task runs
// (nova's task_states: "powering-off", ...).
const char* power_task_state(const std::string& kind);

// A pci_devices row as core's PciDevice.
PciDevice to_device(const store::PciDeviceRecord& d);
// The device's NVLink partition and PCIe switch, from the tags the agent reported
// (pci_devices.extra_info: "nvlink_partition", "pcie_switch").
scheduler::DeviceTopology device_topology(const store::PciDeviceRecord& d);

}  // namespace gpucloud::conductor

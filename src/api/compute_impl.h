// Internal to api/: helpers shared by the compute (nova v2.1) handlers, and the boot service that
// schedules, claims and spawns servers in the background after POST /servers answered 202.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "api/router_impl.h"
#include "scheduler/scheduler.h"

namespace gpucloud::api {

inline const std::string kCompute = "/compute/v2.1";
// nova's default_availability_zone: the zone of hosts in no aggregate with a zone.
inline const std::string kDefaultZone = "nova";

// The server's nova.conf view, or an empty one (no aliases, default filters) when none was given.
std::shared_ptr<const config::NovaConfig> compute_config(const ApiContext& ctx);

// Hosts the compute driver manages (they count as up without a heartbeat: the fake driver runs
// in-process); empty without a driver.
std::vector<std::string> driver_host_names(ApiContext& ctx);
// nova's servicegroup: up unless forced down, when managed by our in-process driver or with a
// heartbeat younger than `down_after` (nova.conf's [DEFAULT] service_down_time, 60 s by default).
bool host_up(const store::ComputeHost& host, const std::vector<std::string>& driver_hosts,
             std::chrono::seconds down_after = std::chrono::seconds(60));

// nova's JSON-schema style errors.
Result<json> body_member(const json& body, const char* key);  // body[key] must be an object
Status no_extra_fields(const json& obj, const char* where,
                       std::initializer_list<const char*> known);
// A string field, or nullopt when absent; null counts as absent when `nullable`.
Result<std::optional<std::string>> string_field(const json& obj, const char* key, const char* where,
                                                bool nullable = true);
// An integer given as a JSON number or a string of digits (nova's schemas accept both).
Result<std::optional<int64_t>> int_field(const json& obj, const char* key, const char* where,
                                         int64_t min, int64_t max);
Result<std::optional<bool>> bool_field(const json& obj, const char* key, const char* where);

json link_list(const std::string& base, const std::string& path);
json flavor_json(const store::Flavor& f, const std::string& base, bool detail);

// Validates extra specs as the flavor API stores them: key shape, value length, and the keys
// gpucloud acts on (pci_passthrough:alias names configured aliases, hw_video:ram_max_mb an
// integer). The message names the key.
Status validate_extra_specs(const std::map<std::string, std::string>& specs,
                            const AliasTable& aliases);

// The scheduler's view of the cloud, read from the store: compute hosts, their aggregates
// (metadata and availability zone) and PCI devices. `driver_hosts` are up regardless of their
// heartbeat (the fake driver runs in-process).
Result<std::vector<scheduler::HostState>> load_host_states(
    store::Store& store, const std::vector<std::string>& driver_hosts,
    std::chrono::seconds down_after = std::chrono::seconds(60));

// Turns a server's flavor and image into the scheduler's request; errors are 400s.
Result<scheduler::RequestSpec> request_spec_for(const store::Flavor& flavor,
                                                const store::Image& image,
                                                const std::string& availability_zone,
                                                const config::NovaConfig& config);

// Boots servers on a few worker threads. Owned by the compute server routes; stopped by
// ApiServer::stop (queued boots that did not start stay in BUILD).
class BootService {
 public:
  BootService(ApiContext& ctx, int workers);
  ~BootService();
  void enqueue(std::string instance_uuid);
  void stop();

 private:
  void run();
  void boot(const std::string& uuid);
  void fail(const std::string& uuid, const std::string& message, int code);

  ApiContext& ctx_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// Registers the compute gauges (GPUs per alias/host and state) and counters on ctx.metrics.
void add_compute_metrics(ApiContext& ctx);

// A pci_devices row as core's PciDevice (for alias matching and host states).
PciDevice to_device(const store::PciDeviceRecord& d);

}  // namespace gpucloud::api

// The filter scheduler: picks hosts for a request with nova's filter and weigher semantics
// (AggregateInstanceExtraSpecsFilter, PciPassthroughFilter, ...), explains every verdict, and
// claims the chosen host through a Claimer so that a lost race moves on to the next host.
// Pure: host states and the request come in as values, so everything here runs without a database.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.h"

namespace gpucloud::config {
struct NovaConfig;
}

namespace gpucloud::scheduler {

// ---------------------------------------------------------------------------------------------
// Host state

// nova's PciDevice.status values that matter for scheduling: only kAvailable can be handed out.
enum class PciDeviceStatus { kAvailable, kClaimed, kAllocated, kUnavailable, kRemoved };
const char* to_string(PciDeviceStatus s);
Result<PciDeviceStatus> parse_pci_device_status(std::string_view text);

// Where a device sits, beyond its NUMA node (its pool's): what multi-GPU placement keeps
// together (pci_fit.cc). Empty: unknown, or not behind a switch / in no partition.
struct DeviceTopology {
  std::string nvlink_partition;  // an NVLink/NVSwitch partition, from the device spec's tags
  std::string pcie_switch;       // the PCIe switch's upstream port, from the sysfs path
};

struct PciDeviceState {
  PciAddress address;
  PciDeviceStatus status = PciDeviceStatus::kAvailable;
  DeviceTopology topology;
};

// nova's PciDeviceStats pool: the devices of one host that share vendor, product, NUMA node and
// device type. `sample` carries those four for alias matching; `free` counts kAvailable devices.
struct PciPool {
  PciDevice sample;
  std::vector<PciDeviceState> devices;
  int free = 0;
  int total() const { return static_cast<int>(devices.size()); }
};

struct Resources {
  int64_t vcpus = 0;
  int64_t memory_mb = 0;
  int64_t disk_gb = 0;
};

// One (architecture, hypervisor type, vm mode) triple a host can run, as ImagePropertiesFilter
// compares them. Lower case, canonical (nova's canonicalize()).
struct SupportedInstance {
  std::string arch;
  std::string hv_type;
  std::string vm_mode;
};

struct HostState {
  std::string name;
  std::vector<std::string> aggregates;  // names, in the order given; for explanations
  // Metadata of all the host's aggregates: key -> every value (nova's
  // aggregate_metadata_get_by_host; fill it with add_aggregate_metadata). An aggregate's
  // availability zone is its `availability_zone` key, as in nova.
  std::map<std::string, std::set<std::string>, std::less<>> aggregate_metadata;
  Resources total;
  Resources used;
  // nova's initial_*_allocation_ratio defaults since 2023.1 (as config/nova_config.h).
  double cpu_allocation_ratio = 4.0;
  double ram_allocation_ratio = 1.0;
  double disk_allocation_ratio = 1.0;
  bool enabled = true;          // nova: service not disabled
  std::string disabled_reason;  // shown by ComputeFilter
  bool heartbeat_fresh = true;  // nova: servicegroup says the service is up
  bool doctor_ok = true;        // `gpucloud host doctor` passed (IOMMU, vfio-pci)
  // ComputeCapabilitiesFilter's view of the host: nested nova attributes flattened with ':'
  // ("hypervisor_type", "cpu_info:arch"), values as nova prints them (str()).
  std::map<std::string, std::string, std::less<>> capabilities;
  std::vector<SupportedInstance> supported_instances;
  std::optional<int64_t> hypervisor_version;  // nova's integer form: 6000000 for 6.0.0
  std::vector<PciPool> pci_pools;

  // Adds one aggregate's `key = value` the way nova reads aggregate metadata for its filters:
  // the value is split on ',' and each part stripped, so "fast, slow" is `fast` and `slow`.
  void add_aggregate_metadata(const std::string& key, std::string_view value);
  // Adds one device to the pool with its vendor/product/NUMA node/type, creating it if needed.
  void add_pci_device(const PciDevice& device, PciDeviceStatus status,
                      DeviceTopology topology = {});
  int free_pci_devices() const;
  int64_t free_ram_mb() const { return total.memory_mb - used.memory_mb; }
  // Capacity under the allocation ratios minus what is used (placement's view).
  Resources headroom() const;
  bool fits(const Resources& wanted) const;
};

// ---------------------------------------------------------------------------------------------
// Request

// One alias of `pci_passthrough:alias`, resolved against the configured aliases (nova's
// InstancePCIRequest).
struct PciRequest {
  std::string alias;
  int count = 1;
  std::vector<PciAlias> specs;  // any of them matches (entries sharing the name)
  NumaPolicy numa_policy = NumaPolicy::kLegacy;
  bool matches(const PciDevice& device) const;
  // "1 K2_Grid (10de:11bf)"; with `adjective` "free": "1 free K2_Grid (10de:11bf)".
  std::string describe(std::string_view adjective = "") const;
};

struct FlavorSpec {
  std::string name;
  int64_t vcpus = 1;
  int64_t memory_mb = 512;
  int64_t root_gb = 0;
  int64_t ephemeral_gb = 0;
  int64_t swap_mb = 0;
  std::map<std::string, std::string> extra_specs;
};

struct ImageMeta {
  int64_t min_disk_gb = 0;
  int64_t min_ram_mb = 0;
  std::map<std::string, std::string> properties;
};

// The server group an instance boots into (nova's RequestSpec.instance_group): its policy and
// where its other servers already are.
struct GroupSpec {
  std::string uuid;
  std::string policy;  // "affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"
  int max_server_per_host = 1;       // anti-affinity's limit per host
  std::map<std::string, int> hosts;  // host -> the group's servers on it
};

struct RequestSpec {
  FlavorSpec flavor;
  FlavorExtraSpecs extra_specs;  // flavor.extra_specs parsed
  ImageMeta image;
  std::string availability_zone;  // empty: any
  int num_instances = 1;
  std::vector<PciRequest> pci_requests;
  // Host NUMA nodes the guest spans (hw:numa_nodes, or 1 for hw:cpu_policy=dedicated); nullopt
  // when the guest has no NUMA topology, which is when nova ignores PCI NUMA affinity.
  std::optional<int> numa_nodes;
  // gpucloud:topology=strict: the devices of a multi-device request must share an NVLink
  // partition, a PCIe switch or a NUMA node; a host that could only spread them is refused.
  // Otherwise (preferred, the default) the tightest group is taken when there is one.
  bool topology_strict = false;
  std::optional<GroupSpec> group;  // the `group` scheduler hint's server group
  // An admin's requested host (2.74's host/hypervisor_hostname, 2.91's unshelve host): only
  // that host is considered, and it must still pass every filter (nova's requested_destination).
  std::string requested_host;
  // The legacy forced host (availability_zone "zone:host", an admin's): the requested host skips
  // every filter but those that check fit (nova's force_hosts skips them all; the GPUs and
  // resources must still be there for the claim).
  bool force_host = false;
  // The guest network a boot asked for (`networks: [{"uuid": ...}]`, resolved by name): only
  // hosts whose guests get that network (capability guest_network:name) are considered, even a
  // requested or forced host. Empty: any host (docs/networks.md).
  std::string network;

  Resources requested() const;  // per instance; disk = root + ephemeral + swap rounded up to GB
};

// Builds the request the way nova's API does: parses the extra specs, resolves
// pci_passthrough:alias against `aliases` (unknown alias: error naming it), takes the NUMA policy
// from hw:pci_numa_affinity_policy / hw_pci_numa_affinity_policy over the alias's.
Result<RequestSpec> make_request_spec(FlavorSpec flavor, ImageMeta image,
                                      std::string availability_zone, int num_instances,
                                      const AliasTable& aliases);

// Checks that do not depend on a host and that nova makes before scheduling (compute API) or at
// spawn (libvirt driver): image min_ram/min_disk against the flavor, hw_video_ram against
// hw_video:ram_max_mb. A failure means no host can ever take the request.
Status check_request(const RequestSpec& request);

// ---------------------------------------------------------------------------------------------
// Options (filled from nova.conf by the CLI/server)

struct SchedulerOptions {
  // [filter_scheduler] enabled_filters; the legacy [DEFAULT] scheduler_default_filters maps here.
  std::vector<std::string> enabled_filters = {
      "ComputeFilter", "ComputeCapabilitiesFilter", "ImagePropertiesFilter",
      "ServerGroupAntiAffinityFilter", "ServerGroupAffinityFilter"};
  AliasTable aliases;
  std::string default_availability_zone = "nova";
  // For host states that do not carry their own (scenarios); nova.conf's effective ratios.
  double cpu_allocation_ratio = 4.0;
  double ram_allocation_ratio = 1.0;
  double disk_allocation_ratio = 1.0;
  double ram_weight_multiplier = 1.0;
  double pci_weight_multiplier = 1.0;
  double soft_affinity_weight_multiplier = 1.0;
  double soft_anti_affinity_weight_multiplier = 1.0;
  // [filter_scheduler] weight_classes as class names; a weigher not listed does not weigh.
  std::vector<std::string> weighers = {"RAMWeigher", "PCIWeigher", "ServerGroupSoftAffinityWeigher",
                                       "ServerGroupSoftAntiAffinityWeigher"};
  int max_attempts = 3;  // [scheduler] max_attempts
};

// The options nova.conf sets (filters as listed — an empty list runs none, as in nova —, aliases,
// ratios, weight multipliers, attempts): one mapping for the server and `scheduler explain`.
SchedulerOptions options_from(const config::NovaConfig& nova);

// ---------------------------------------------------------------------------------------------
// Filters: plugins behind one interface, created by name.

struct Verdict {
  bool passed = true;
  std::string reason;  // why the host failed, in words a user understands; empty on pass
  static Verdict pass() { return {}; }
  static Verdict fail(std::string why) { return {false, std::move(why)}; }
};

class HostView;  // select()'s fast path: host states plus their HostIndex (host_index.h)
class HostBits;  // a set of host positions (host_index.h)

class Filter {
 public:
  virtual ~Filter() = default;
  virtual const std::string& name() const = 0;
  virtual Verdict filter(const HostState& host, const RequestSpec& request) const = 0;
  // The hot path when nobody reads the reason; filters override it to skip building strings.
  virtual bool passes(const HostState& host, const RequestSpec& request) const {
    return filter(host, request).passed;
  }
  // select()'s fast path over all hosts at once: clears from `candidates` every host this filter
  // refuses. The default asks passes() host by host; the built-in filters decide from the compact
  // index instead, or once from the request alone. Must agree with passes() on every host.
  virtual void narrow(const HostView& hosts, const RequestSpec& request,
                      HostBits& candidates) const;
  // Whether the filter checks what the host physically has for the guest (resources, devices):
  // only these run for a forced host.
  virtual bool checks_fit() const { return false; }
  // Whether the filter also judges a rebuild onto a new image on the server's own host (nova's
  // RUN_ON_REBUILD: the filters that look at the image).
  virtual bool runs_on_rebuild() const { return false; }
};

using FilterFactory = std::function<std::unique_ptr<Filter>(const SchedulerOptions&)>;

class FilterRegistry {
 public:
  // Every filter gpucloud knows, including nova's legacy names (RamFilter, CoreFilter, DiskFilter
  // map onto resource fit; RetryFilter is a no-op because nova removed it).
  static FilterRegistry builtin();

  void add(std::string name, FilterFactory factory);
  // In the given order; an unknown name is an error naming it and listing the known ones.
  Result<std::vector<std::unique_ptr<Filter>>> create(const std::vector<std::string>& names,
                                                      const SchedulerOptions& options) const;
  std::vector<std::string> names() const;

 private:
  std::vector<std::pair<std::string, FilterFactory>> factories_;
};

// ---------------------------------------------------------------------------------------------
// Selection

struct FilterVerdict {
  std::string filter;
  Verdict verdict;
};

struct HostReport {
  std::string host;
  bool passed = false;
  std::vector<FilterVerdict> filters;  // every enabled filter, in order (explain mode)
  std::optional<double> weight;        // passed hosts only
  std::vector<std::pair<std::string, double>> weigher_scores;  // multiplier * normalized
};

// Where one instance goes: the host, the exact PCI devices, the resources to claim.
struct Placement {
  std::string host;
  std::vector<PciAddress> pci_devices;
  Resources resources;
};

// A compact copy of what the filters and weighers read from a list of host states: aggregate
// metadata interned into small ids with the hosts holding each value, resources and free PCI
// devices per pool kind in flat arrays. select() reads it instead of walking every HostState's
// maps, which is where the time went at 10k hosts (cache misses). Build it once for a list of
// host states and update() a host after changing its state; select() without an index builds
// one per call.
class HostIndex {
 public:
  explicit HostIndex(const std::vector<HostState>& hosts);
  HostIndex(const HostIndex& other);
  HostIndex& operator=(const HostIndex& other);
  HostIndex(HostIndex&&) noexcept;
  HostIndex& operator=(HostIndex&&) noexcept;
  ~HostIndex();

  // Host `i` (its position in the list the index was built from) changed; O(that host). Its
  // name must stay the same.
  void update(size_t i, const HostState& host);
  size_t size() const;

  struct Data;  // host_index.h
  const Data& data() const { return *d_; }

 private:
  std::unique_ptr<Data> d_;
};

struct Selection {
  std::vector<HostReport> hosts;  // first instance's view, hosts in input order
  // Per instance: candidate placements, best first (the chosen one plus up to max_attempts - 1
  // alternates, as nova returns them).
  std::vector<std::vector<Placement>> candidates;
  std::string request_error;  // check_request failed; no host was considered
  std::string fault;          // empty when every instance has a host
  bool ok() const { return fault.empty(); }
  std::vector<std::string> selected() const;  // the chosen host per instance
};

enum class ClaimResult { kClaimed, kLostRace };

// Takes a placement for real (the store: a transaction that re-checks the devices are still
// free). kLostRace when someone else got there first; an Error ends scheduling.
class Claimer {
 public:
  virtual ~Claimer() = default;
  virtual Result<ClaimResult> claim(const Placement& placement) = 0;
};

struct ScheduleOutcome {
  std::vector<Placement> claimed;  // one per instance that got a host
  std::string fault;               // empty on success; the instance's fault message otherwise
  int attempts = 0;                // claims tried, all instances together
  bool ok() const { return fault.empty(); }
};

class Scheduler {
 public:
  static Result<Scheduler> create(SchedulerOptions options,
                                  const FilterRegistry& registry = FilterRegistry::builtin());

  // explain: run every filter on every host and keep all verdicts and weights. Without it, a host
  // stops at its first failing filter and no reasons are built (the fault is still explained;
  // when no host fits, `hosts` then holds per host only the refusal the fault names).
  Selection select(const std::vector<HostState>& hosts, const RequestSpec& request,
                   bool explain = true) const;
  // The same with an index the caller keeps in step with `hosts` (built from them, update()d
  // after each change): what a scheduler serving many requests against one set of hosts calls.
  Selection select(const std::vector<HostState>& hosts, const HostIndex& index,
                   const RequestSpec& request, bool explain = true) const;

  // select(), then claim instance by instance, trying candidates in weight order; a lost race
  // moves on to the next candidate, at most max_attempts claims per instance.
  ScheduleOutcome schedule_and_claim(const std::vector<HostState>& hosts,
                                     const RequestSpec& request, Claimer& claimer) const;

  const SchedulerOptions& options() const { return options_; }
  const std::vector<std::string>& filter_names() const { return filter_names_; }
  // A rebuild onto a new image: the verdicts of the enabled filters that run on a rebuild, on
  // the server's host (the resources and devices it holds are not judged again).
  std::vector<FilterVerdict> rebuild_verdicts(const HostState& host,
                                              const RequestSpec& request) const;

 private:
  Scheduler() = default;
  Selection select_with(const std::vector<HostState>& hosts, const HostIndex* index,
                        const RequestSpec& request, bool explain) const;
  SchedulerOptions options_;
  std::vector<std::shared_ptr<const Filter>> filters_;
  std::vector<std::shared_ptr<const Filter>> fit_filters_;  // those of filters_ that check_fit()
  std::vector<std::string> filter_names_;
};

// Claims against host states held in memory, under a mutex: the reference for what the store's
// claim must do, used by tests, benchmarks and `scheduler explain`.
class InMemoryClaimer : public Claimer {
 public:
  explicit InMemoryClaimer(std::vector<HostState> hosts) : hosts_(std::move(hosts)) {}
  Result<ClaimResult> claim(const Placement& placement) override;
  std::vector<HostState> snapshot() const;

 private:
  mutable std::mutex mu_;
  std::vector<HostState> hosts_;
};

// Applies a placement to a host state (devices -> claimed, resources used). Returns false and
// changes nothing when a device is no longer available or the resources no longer fit.
bool consume(HostState& host, const Placement& placement);

// ---------------------------------------------------------------------------------------------
// Scenarios and explanations (`gpucloud scheduler explain`)

struct Scenario {
  std::vector<HostState> hosts;
  RequestSpec request;
};

// The JSON described in docs/scheduler.md. Errors name the field: "hosts[1].pci_devices[0].
// vendor_id: 'zz' is not 4 hex digits". Unknown fields are ignored; missing optional ones take
// nova's defaults.
Result<Scenario> parse_scenario(std::string_view json, const SchedulerOptions& options);

std::string explain_text(const Scheduler& scheduler, const Scenario& scenario,
                         const Selection& selection);
std::string explain_json(const Scheduler& scheduler, const Scenario& scenario,
                         const Selection& selection);

}  // namespace gpucloud::scheduler

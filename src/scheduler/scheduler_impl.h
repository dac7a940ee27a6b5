// Private parts of the scheduler module shared between its files: filter factories, weighers and
// the PCI fitting that both PciPassthroughFilter and placement use.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "scheduler/scheduler.h"

namespace gpucloud::scheduler {

// Most filters: a name, and one check that says why when asked. filter() and passes() both come
// from check(), so the explained verdict and the fast answer cannot disagree.
class CheckFilter : public Filter {
 public:
  explicit CheckFilter(std::string name) : name_(std::move(name)) {}
  const std::string& name() const final { return name_; }
  Verdict filter(const HostState& host, const RequestSpec& request) const final {
    std::string why;
    if (check(host, request, &why)) return Verdict::pass();
    return Verdict::fail(std::move(why));
  }
  bool passes(const HostState& host, const RequestSpec& request) const final {
    return check(host, request, nullptr);
  }

 protected:
  // Whether `host` passes; when it does not and `why` is not null, sets the reason in words.
  virtual bool check(const HostState& host, const RequestSpec& request, std::string* why) const = 0;

 private:
  std::string name_;
};

// Placement's test (HostState::fits) on a host's headroom and totals, shared with the index.
inline bool fits(const Resources& wanted, const Resources& headroom, const Resources& total) {
  // max_unit is the host's total: one instance never overcommits against itself.
  return wanted.vcpus <= headroom.vcpus && wanted.vcpus <= total.vcpus &&
         wanted.memory_mb <= headroom.memory_mb && wanted.memory_mb <= total.memory_mb &&
         wanted.disk_gb <= headroom.disk_gb &&
         (wanted.disk_gb == 0 || wanted.disk_gb <= total.disk_gb);
}

std::unique_ptr<Filter> make_availability_zone_filter(const SchedulerOptions& options);
std::unique_ptr<Filter> make_compute_filter(const SchedulerOptions& options);
std::unique_ptr<Filter> make_aggregate_instance_extra_specs_filter(const SchedulerOptions& options);
std::unique_ptr<Filter> make_compute_capabilities_filter(const SchedulerOptions& options);
std::unique_ptr<Filter> make_pci_passthrough_filter(const SchedulerOptions& options);
std::unique_ptr<Filter> make_image_properties_filter(const SchedulerOptions& options);
// `which` is the name it answers to; RamFilter checks RAM only, CoreFilter vCPUs, DiskFilter disk,
// ResourceFitFilter all three.
std::unique_ptr<Filter> make_resource_fit_filter(const std::string& which);
// ServerGroupAffinityFilter (`anti` false) and ServerGroupAntiAffinityFilter (true).
std::unique_ptr<Filter> make_server_group_filter(bool anti);
// A filter that always passes, with a comment in the registry saying why it exists.
std::unique_ptr<Filter> make_noop_filter(const std::string& name);

// Picks devices for all of `request.pci_requests` on `host`, nova's way (pci/stats.py
// apply_requests): requests in order, each from the pools that match its alias and its NUMA
// policy. A request for several devices takes them from the tightest group that holds them all:
// an NVLink partition, else a PCIe switch, else a NUMA node (the smallest such group, keeping
// bigger ones for bigger requests); with request.topology_strict a host without such a group
// fails. Returns the chosen addresses, or nullopt when the host cannot satisfy them. `shortfall`,
// when given, receives the first request that failed, and `largest_group` the most of its
// devices that one group held when topology was the reason (else 0).
std::optional<std::vector<PciAddress>> fit_pci_requests(const HostState& host,
                                                        const RequestSpec& request,
                                                        const PciRequest** shortfall = nullptr,
                                                        int* largest_group = nullptr);

// Whether devices of a pool with this sample (vendor, product, NUMA node, type) can serve
// `request`: the alias matches, and a PF only for a request that asks for PFs.
bool pool_matches(const PciRequest& request, const PciDevice& sample);

// Free and total devices on `host` that match a request's alias (any NUMA node).
std::pair<int, int> count_matching_devices(const HostState& host, const PciRequest& request);

// nova's weighing (weights.py): each weigher's raw weights are normalized to [0, 1] over the
// hosts that passed (`passed`, positions in `hosts`), multiplied by the weigher's multiplier and
// summed. `scores`, when given, receives per host the (weigher, multiplier * normalized) pairs.
std::vector<double> weigh_hosts(
    const HostView& hosts, const std::vector<size_t>& passed, const RequestSpec& request,
    const SchedulerOptions& options,
    std::vector<std::vector<std::pair<std::string, double>>>* scores = nullptr);

// Without explain, what summarize_fault needs when no host passed: per host only the verdict the
// fault can name (its first refusal by a filter other than PciPassthroughFilter, else
// PciPassthroughFilter's), found with narrow() over all hosts so that one reason per host is
// built instead of every filter's.
// Why `host` is out before any filter runs: another host was requested, or it lacks the requested
// network. nullopt: it is in.
std::optional<FilterVerdict> pinned_out(const HostState& host, const RequestSpec& request);

std::vector<HostReport> refusal_reports(const std::vector<std::shared_ptr<const Filter>>& filters,
                                        const HostView& hosts, const RequestSpec& request);

// The fault message when no host fits (see docs/scheduler.md).
// `reports[i]` is the explain-mode report of `hosts[i]`.
std::string summarize_fault(const std::vector<HostReport>& reports,
                            const std::vector<const HostState*>& hosts, const RequestSpec& request,
                            int instance_index);

}  // namespace gpucloud::scheduler

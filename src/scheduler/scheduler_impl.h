// Private parts of the scheduler module shared between its files: filter factories, weighers and
// the PCI fitting that both PciPassthroughFilter and placement use.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "scheduler/scheduler.h"

namespace gpucloud::scheduler {

std::unique_ptr<Filter> make_availability_zone_filter(const SchedulerOptions& options);
std::unique_ptr<Filter> make_compute_filter(const SchedulerOptions& options);
std::unique_ptr<Filter> make_aggregate_instance_extra_specs_filter(const SchedulerOptions& options);
std::unique_ptr<Filter> make_compute_capabilities_filter(const SchedulerOptions& options);
std::unique_ptr<Filter> make_pci_passthrough_filter(const SchedulerOptions& options);
std::unique_ptr<Filter> make_image_properties_filter(const SchedulerOptions& options);
// `which` is the name it answers to; RamFilter checks RAM only, CoreFilter vCPUs, DiskFilter disk,
// ResourceFitFilter all three.
std::unique_ptr<Filter> make_resource_fit_filter(const std::string& which);
// A filter that always passes, with a comment in the registry saying why it exists.
std::unique_ptr<Filter> make_noop_filter(const std::string& name);

// Picks devices for all of `request.pci_requests` on `host`, nova's way (pci/stats.py
// apply_requests): requests in order, each from the pools that match its alias and its NUMA
// policy. Returns the chosen addresses, or nullopt when the host cannot satisfy them. `shortfall`,
// when given, receives the first request that failed.
std::optional<std::vector<PciAddress>> fit_pci_requests(const HostState& host,
                                                        const RequestSpec& request,
                                                        const PciRequest** shortfall = nullptr);

// Free and total devices on `host` that match a request's alias (any NUMA node).
std::pair<int, int> count_matching_devices(const HostState& host, const PciRequest& request);

// nova's weighing (weights.py): each weigher's raw weights are normalized to [0, 1] over the
// hosts that passed, multiplied by the weigher's multiplier and summed. `scores`, when given,
// receives per host the (weigher, multiplier * normalized) pairs.
std::vector<double> weigh_hosts(
    const std::vector<const HostState*>& hosts, const RequestSpec& request,
    const SchedulerOptions& options,
    std::vector<std::vector<std::pair<std::string, double>>>* scores = nullptr);

// The fault message when no host fits (see docs/scheduler.md).
// `reports[i]` is the explain-mode report of `hosts[i]`.
std::string summarize_fault(const std::vector<HostReport>& reports,
                            const std::vector<const HostState*>& hosts, const RequestSpec& request,
                            int instance_index);

}  // namespace gpucloud::scheduler

// PciPassthroughFilter: the host must have free devices for every alias of
// pci_passthrough:alias, honouring each request's NUMA affinity policy and, with
// gpucloud:topology=strict, keeping a multi-device request in one group (see pci_fit.cc).
#include "scheduler/host_index.h"
#include "scheduler/scheduler_impl.h"

namespace gpucloud::scheduler {
namespace {

class PciPassthroughFilter : public CheckFilter {
 public:
  PciPassthroughFilter() : CheckFilter("PciPassthroughFilter") {}
  bool checks_fit() const override { return true; }

  // The common request (one alias, a guest without NUMA topology) needs only the free count of
  // the host's pools whose kind matches: the kinds are matched once per request, and the counts
  // are in the index. Anything else runs the full fit on the host's pools.
  void narrow(const HostView& hosts, const RequestSpec& request,
              HostBits& candidates) const override {
    if (request.pci_requests.empty()) return;
    const PciRequest& pci = request.pci_requests.front();
    if (request.pci_requests.size() > 1 || request.numa_nodes || pci.count < 1) {
      Filter::narrow(hosts, request, candidates);
      return;
    }
    const bool grouped = request.topology_strict && pci.count > 1;
    const auto& index = hosts.index();
    std::vector<char> usable(index.pool_kinds.size());
    for (size_t k = 0; k < usable.size(); ++k) usable[k] = pool_matches(pci, index.pool_kinds[k]);
    candidates.keep_if([&](size_t i) {
      int free = 0;
      for (uint32_t p = index.pool_begin[i]; p < index.pool_begin[i + 1]; ++p) {
        if (usable[index.pools[p].first]) free += index.pools[p].second;
      }
      return free >= pci.count;
    });
    // Enough free devices is necessary; whether enough of them share a group needs the devices.
    if (grouped) Filter::narrow(hosts, request, candidates);
  }

 private:
  bool check(const HostState& host, const RequestSpec& request, std::string* why) const override {
    if (request.pci_requests.empty()) return true;
    if (!why) return !host.pci_pools.empty() && fit_pci_requests(host, request).has_value();
    const PciRequest* missing = nullptr;
    int largest = 0;
    if (fit_pci_requests(host, request, &missing, &largest)) return true;
    auto [free, total] = count_matching_devices(host, *missing);
    *why = "needs " + missing->describe() + ", host has " + std::to_string(free) + " of " +
           std::to_string(total) + " free";
    if (largest > 0 || (request.topology_strict && free >= missing->count)) {
      *why += " but at most " + std::to_string(largest) +
              " in one NVLink partition, PCIe switch or NUMA node (gpucloud:topology=strict)";
    } else if (free >= missing->count) {
      *why += std::string(" but not on the guest's NUMA node(s) (numa_policy ") +
              to_string(missing->numa_policy) + ")";
    }
    return false;
  }
};

}  // namespace

std::unique_ptr<Filter> make_pci_passthrough_filter(const SchedulerOptions&) {
  return std::make_unique<PciPassthroughFilter>();
}

}  // namespace gpucloud::scheduler

// Fitting PCI requests to a host's pools, following nova's pci/stats.py (apply_requests and
// _filter_pools): requests are applied in order, each taking devices from the pools that match
// its alias, that are not PFs it did not ask for, and that suit its NUMA affinity policy.
//
// One simplification, documented: nova checks NUMA affinity in NUMATopologyFilter, where the
// guest's cells are fitted to host cells first. gpucloud folds that into PciPassthroughFilter and
// takes, as the guest's cells, the `numa_nodes` host nodes with the most free matching devices,
// which gives the same pass/fail for the PCI part. A guest without a NUMA topology ignores the
// policy, as in nova.
#include <algorithm>
#include <cstdint>

#include "scheduler/scheduler_impl.h"

namespace gpucloud::scheduler {

bool pool_matches(const PciRequest& request, const PciDevice& sample) {
  if (!request.matches(sample)) return false;
  if (sample.dev_type != PciDeviceType::kPf) return true;
  // nova's _filter_pools_for_unrequested_pfs: keep PFs for those who ask for them.
  for (const auto& spec : request.specs) {
    if (spec.device_type == PciDeviceType::kPf) return true;
  }
  return false;
}

namespace {

// Indexes of pools usable for `request` in the order devices should be taken from them, or empty.
std::vector<size_t> usable_pools(const HostState& host, const RequestSpec& spec,
                                 const PciRequest& request, const std::vector<int>& free) {
  std::vector<size_t> pools;
  int available = 0;
  for (size_t i = 0; i < host.pci_pools.size(); ++i) {
    if (free[i] == 0 || !pool_matches(request, host.pci_pools[i].sample)) continue;
    pools.push_back(i);
    available += free[i];
  }
  if (available < request.count) return {};
  if (!spec.numa_nodes) return pools;

  // The guest's cells: the host NUMA nodes with the most free matching devices.
  std::map<int, int> per_node;
  for (size_t i : pools) {
    if (host.pci_pools[i].sample.numa_node)
      per_node[*host.pci_pools[i].sample.numa_node] += free[i];
  }
  std::vector<std::pair<int, int>> nodes(per_node.begin(), per_node.end());
  std::stable_sort(nodes.begin(), nodes.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::set<int> cells;
  for (size_t k = 0; k < nodes.size() && static_cast<int>(k) < *spec.numa_nodes; ++k) {
    cells.insert(nodes[k].first);
  }
  auto in_cells = [&](size_t i) {
    const auto& n = host.pci_pools[i].sample.numa_node;
    return n && cells.count(*n) > 0;
  };
  auto sum = [&](const std::vector<size_t>& v) {
    int s = 0;
    for (size_t i : v) s += free[i];
    return s;
  };

  std::vector<size_t> strict;
  for (size_t i : pools) {
    if (in_cells(i)) strict.push_back(i);
  }
  const NumaPolicy policy = request.numa_policy;
  if (policy == NumaPolicy::kRequired || sum(strict) >= request.count) {
    return sum(strict) >= request.count ? strict : std::vector<size_t>{};
  }
  // nova needs socket information for `socket`; gpucloud's host states carry none, and nova
  // without it ("No socket information in host NUMA cell(s)") fits nothing.
  if (policy == NumaPolicy::kSocket) return {};
  // legacy also accepts devices whose NUMA node is unknown.
  std::vector<size_t> loose;
  for (size_t i : pools) {
    if (in_cells(i) || !host.pci_pools[i].sample.numa_node) loose.push_back(i);
  }
  if (policy == NumaPolicy::kLegacy || sum(loose) >= request.count) {
    return sum(loose) >= request.count ? loose : std::vector<size_t>{};
  }
  // preferred: anything, affine pools first.
  std::stable_partition(pools.begin(), pools.end(), in_cells);
  return pools;
}

// One free device that a request may take, with what groups it belongs to.
struct Candidate {
  const PciDeviceState* device;
  size_t pool;
};

// `count` of the candidates that share the tightest group: an NVLink partition, else a PCIe
// switch, else a NUMA node. At each level the smallest group that holds them all is taken, so
// that a bigger group stays whole for a bigger request. Empty when no group holds `count`;
// `largest` then says the most one group held. Hosts have a handful of devices: linear scans
// over small vectors, no maps (this runs for every candidate host of a strict request).
std::vector<size_t> tightest_group(const HostState& host, const std::vector<Candidate>& c,
                                   int count, int& largest) {
  largest = 0;
  // Group label of a candidate at a level: a string (partition, switch) or the NUMA node.
  auto label = [&](const Candidate& x, int level, const std::string*& text, int& number) {
    text = nullptr;
    number = -1;
    if (level == 0) text = &x.device->topology.nvlink_partition;
    if (level == 1) text = &x.device->topology.pcie_switch;
    if (level == 2) number = host.pci_pools[x.pool].sample.numa_node.value_or(-1);
    return text ? !text->empty() : number >= 0;
  };
  for (int level = 0; level < 3; ++level) {
    std::vector<size_t> firsts;  // the first member of each group, in order of appearance
    std::vector<int> sizes;
    std::vector<size_t> group_of(c.size(), SIZE_MAX);
    for (size_t k = 0; k < c.size(); ++k) {
      const std::string* text;
      int number;
      if (!label(c[k], level, text, number)) continue;
      for (size_t g = 0; g < firsts.size(); ++g) {
        const std::string* t2;
        int n2;
        label(c[firsts[g]], level, t2, n2);
        if (text ? *text == *t2 : number == n2) {
          group_of[k] = g;
          break;
        }
      }
      if (group_of[k] == SIZE_MAX) {
        group_of[k] = firsts.size();
        firsts.push_back(k);
        sizes.push_back(0);
      }
      ++sizes[group_of[k]];
    }
    size_t best = SIZE_MAX;
    for (size_t g = 0; g < sizes.size(); ++g) {
      largest = std::max(largest, sizes[g]);
      if (sizes[g] >= count && (best == SIZE_MAX || sizes[g] < sizes[best])) best = g;
    }
    if (best == SIZE_MAX) continue;
    std::vector<size_t> pick;
    for (size_t k = 0; k < c.size() && static_cast<int>(pick.size()) < count; ++k) {
      if (group_of[k] == best) pick.push_back(k);
    }
    return pick;
  }
  return {};
}

}  // namespace

std::optional<std::vector<PciAddress>> fit_pci_requests(const HostState& host,
                                                        const RequestSpec& request,
                                                        const PciRequest** shortfall,
                                                        int* largest_group) {
  std::vector<PciAddress> chosen;
  if (largest_group) *largest_group = 0;
  if (request.pci_requests.empty()) return chosen;
  std::vector<int> free;
  free.reserve(host.pci_pools.size());
  for (const auto& pool : host.pci_pools) free.push_back(pool.free);
  // Devices already taken by an earlier request of this instance.
  std::vector<const PciDeviceState*> taken;

  for (const auto& pci : request.pci_requests) {
    auto pools = usable_pools(host, request, pci, free);
    if (pools.empty()) {
      if (shortfall) *shortfall = &pci;
      return std::nullopt;
    }
    // The free devices it may take, in the pools' order (affine pools first).
    std::vector<Candidate> candidates;
    for (size_t i : pools) {
      for (const auto& dev : host.pci_pools[i].devices) {
        if (dev.status == PciDeviceStatus::kAvailable &&
            std::find(taken.begin(), taken.end(), &dev) == taken.end()) {
          candidates.push_back({&dev, i});
        }
      }
    }
    std::vector<size_t> pick;
    if (pci.count > 1) {
      int largest = 0;
      pick = tightest_group(host, candidates, pci.count, largest);
      if (pick.empty() && request.topology_strict) {
        if (shortfall) *shortfall = &pci;
        if (largest_group) *largest_group = largest;
        return std::nullopt;
      }
    }
    if (pick.empty()) {  // one device, or no group holds them all: the first ones, as nova
      for (size_t k = 0; k < candidates.size() && static_cast<int>(k) < pci.count; ++k) {
        pick.push_back(k);
      }
    }
    for (size_t k : pick) {
      chosen.push_back(candidates[k].device->address);
      taken.push_back(candidates[k].device);
      --free[candidates[k].pool];
    }
  }
  return chosen;
}

std::pair<int, int> count_matching_devices(const HostState& host, const PciRequest& request) {
  int free = 0;
  int total = 0;
  for (const auto& pool : host.pci_pools) {
    if (!pool_matches(request, pool.sample)) continue;
    free += pool.free;
    for (const auto& dev : pool.devices) {
      if (dev.status != PciDeviceStatus::kRemoved) ++total;
    }
  }
  return {free, total};
}

}  // namespace gpucloud::scheduler

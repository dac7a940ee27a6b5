// Host state bookkeeping: PCI pools as nova's PciDeviceStats keeps them, and placement's capacity
// arithmetic (total * allocation ratio, each allocation at most the total).
#include <cctype>
#include <cmath>

#include "scheduler/scheduler_impl.h"

namespace gpucloud::scheduler {

const char* to_string(PciDeviceStatus s) {
  switch (s) {
    case PciDeviceStatus::kAvailable:
      return "available";
    case PciDeviceStatus::kClaimed:
      return "claimed";
    case PciDeviceStatus::kAllocated:
      return "allocated";
    case PciDeviceStatus::kUnavailable:
      return "unavailable";
    case PciDeviceStatus::kRemoved:
      return "removed";
  }
  return "unavailable";
}

Result<PciDeviceStatus> parse_pci_device_status(std::string_view text) {
  for (auto s :
       {PciDeviceStatus::kAvailable, PciDeviceStatus::kClaimed, PciDeviceStatus::kAllocated,
        PciDeviceStatus::kUnavailable, PciDeviceStatus::kRemoved}) {
    if (text == to_string(s)) return s;
  }
  // nova also has `deleted` and `unclaimable`: neither can be handed out.
  if (text == "deleted" || text == "unclaimable") return PciDeviceStatus::kUnavailable;
  return Error::invalid("'" + std::string(text) +
                        "' is not a PCI device status (available, claimed, allocated, "
                        "unavailable, removed)");
}

void HostState::add_aggregate_metadata(const std::string& key, std::string_view value) {
  auto& values = aggregate_metadata[key];
  size_t start = 0;
  while (true) {
    const size_t comma = value.find(',', start);
    std::string_view part = value.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    // Python's str.strip(): every whitespace character at either end.
    while (!part.empty() && std::isspace(static_cast<unsigned char>(part.front())))
      part.remove_prefix(1);
    while (!part.empty() && std::isspace(static_cast<unsigned char>(part.back())))
      part.remove_suffix(1);
    values.emplace(part);  // nova keeps an empty part too ("a," is `a` and ``)
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
}

void HostState::add_pci_device(const PciDevice& device, PciDeviceStatus status,
                               DeviceTopology topology) {
  // nova's pool keys: vendor_id, product_id, numa_node, dev_type (pci/stats.py pool_keys).
  for (auto& pool : pci_pools) {
    const PciDevice& s = pool.sample;
    if (s.vendor_id == device.vendor_id && s.product_id == device.product_id &&
        s.numa_node == device.numa_node && s.dev_type == device.dev_type) {
      pool.devices.push_back({device.address, status, std::move(topology)});
      if (status == PciDeviceStatus::kAvailable) ++pool.free;
      return;
    }
  }
  PciPool pool;
  pool.sample = device;
  pool.devices.push_back({device.address, status, std::move(topology)});
  pool.free = status == PciDeviceStatus::kAvailable ? 1 : 0;
  pci_pools.push_back(std::move(pool));
}

int HostState::free_pci_devices() const {
  int n = 0;
  for (const auto& pool : pci_pools) n += pool.free;
  return n;
}

namespace {
int64_t capacity(int64_t total, double ratio) {
  return static_cast<int64_t>(std::floor(static_cast<double>(total) * ratio));
}
}  // namespace

Resources HostState::headroom() const {
  return {capacity(total.vcpus, cpu_allocation_ratio) - used.vcpus,
          capacity(total.memory_mb, ram_allocation_ratio) - used.memory_mb,
          capacity(total.disk_gb, disk_allocation_ratio) - used.disk_gb};
}

bool HostState::fits(const Resources& wanted) const {
  return scheduler::fits(wanted, headroom(), total);
}

bool consume(HostState& host, const Placement& placement) {
  if (!host.fits(placement.resources)) return false;
  // Check every device before changing any, so a failed claim leaves the host as it was.
  std::vector<std::pair<PciPool*, PciDeviceState*>> picked;
  for (const auto& address : placement.pci_devices) {
    PciDeviceState* found = nullptr;
    PciPool* found_pool = nullptr;
    for (auto& pool : host.pci_pools) {
      for (auto& dev : pool.devices) {
        if (dev.address == address) {
          found = &dev;
          found_pool = &pool;
        }
      }
    }
    if (found == nullptr || found->status != PciDeviceStatus::kAvailable) return false;
    for (const auto& p : picked) {
      if (p.second == found) return false;  // the same device twice
    }
    picked.emplace_back(found_pool, found);
  }
  for (auto& [pool, dev] : picked) {
    dev->status = PciDeviceStatus::kClaimed;
    --pool->free;
  }
  host.used.vcpus += placement.resources.vcpus;
  host.used.memory_mb += placement.resources.memory_mb;
  host.used.disk_gb += placement.resources.disk_gb;
  return true;
}

}  // namespace gpucloud::scheduler

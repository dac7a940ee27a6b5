// The driver's hosts into the store, as an agent's periodic report would put them there.
#include <nlohmann/json.hpp>

#include "compute/compute.h"

namespace gpucloud::compute {

Status register_host(const HostResources& r, store::Store& store, const HostRatios& ratios) {
  store::ComputeHost h;
  h.name = r.name;
  h.hypervisor_type = r.hypervisor_type;
  h.vcpus = r.vcpus;
  h.memory_mb = r.memory_mb;
  h.disk_gb = r.disk_gb;
  h.cpu_allocation_ratio = ratios.cpu;
  h.ram_allocation_ratio = ratios.ram;
  h.disk_allocation_ratio = ratios.disk;
  h.capabilities_json =
      nlohmann::json{{"hypervisor_type", r.hypervisor_type}, {"cpu_info", {{"arch", r.cpu_arch}}}}
          .dump();
  auto up = store.upsert_compute_host(h);
  if (!up.ok()) return up.error().with_context("host " + r.name);
  // The heartbeat before the inventory: a fleet view that re-reads the host when the inventory
  // lands sees it up.
  if (auto s = store.record_heartbeat(r.name, std::chrono::system_clock::now()); !s.ok()) return s;
  if (r.booted_at) {
    if (auto s = store.record_host_boot(r.name, *r.booted_at); !s.ok()) return s;
  }
  std::map<PciAddress, std::string> extra_info;
  for (const auto& [address, tags] : r.device_tags) {
    if (!tags.empty()) extra_info[address] = nlohmann::json(tags).dump();
  }
  if (auto s = store.sync_pci_devices(r.name, r.pci_devices, extra_info); !s.ok()) {
    return s.error().with_context("host " + r.name);
  }
  return {};
}

Status register_hosts(ComputeDriver& driver, store::Store& store, const HostRatios& ratios) {
  auto hosts = driver.hosts();
  if (!hosts.ok()) return hosts.error();
  for (const HostResources& r : *hosts) {
    if (auto s = register_host(r, store, ratios); !s.ok()) return s;
  }
  return {};
}

}  // namespace gpucloud::compute

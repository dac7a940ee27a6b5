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
  nlohmann::json caps = {{"hypervisor_type", r.hypervisor_type},
                         {"cpu_info", {{"arch", r.cpu_arch}}}};
  // The guest network rides in the capabilities: the scheduler reads them for every host already,
  // so a boot that asks for a network (networks: [{uuid}]) needs no other host column, and
  // os-networks lists the networks from them (docs/networks.md).
  if (!r.guest_network.empty()) {
    caps["guest_network"] = {{"name", r.guest_network}, {"cidr", r.guest_cidr}};
  }
  h.capabilities_json = caps.dump();
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

std::optional<GuestNetwork> guest_network(const store::ComputeHost& host) {
  const auto caps = nlohmann::json::parse(host.capabilities_json, nullptr, false);
  if (!caps.is_object()) return std::nullopt;
  const auto n = caps.find("guest_network");
  if (n == caps.end() || !n->is_object()) return std::nullopt;
  const auto name = n->find("name");
  if (name == n->end() || !name->is_string() || name->get<std::string>().empty()) {
    return std::nullopt;
  }
  const auto cidr = n->find("cidr");
  return GuestNetwork{name->get<std::string>(),
                      cidr != n->end() && cidr->is_string() ? cidr->get<std::string>() : ""};
}

Result<std::vector<std::string>> reserved_guest_addresses(store::Store& store,
                                                          const std::string& host) {
  auto h = store.get_compute_host(host);
  if (!h.ok()) return h.error();
  std::vector<std::string> out;
  const auto network = guest_network(*h);
  if (!network) return out;
  auto rows = store.list_fixed_ip_reservations(network->name);
  if (!rows.ok()) return rows.error();
  for (auto& [name, address] : *rows) out.push_back(std::move(address));
  return out;
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

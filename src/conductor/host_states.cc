// The scheduler's view of hosts and requests, built from the store's rows: what the fleet view
// starts from and what it re-reads for a host whose generation changed.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "compute/compute.h"
#include "conductor/conductor.h"

namespace gpucloud::conductor {
namespace {

using nlohmann::json;

scheduler::PciDeviceStatus scheduler_status(store::PciDeviceStatus s) {
  switch (s) {
    case store::PciDeviceStatus::kAvailable:
      return scheduler::PciDeviceStatus::kAvailable;
    case store::PciDeviceStatus::kClaimed:
      return scheduler::PciDeviceStatus::kClaimed;
    case store::PciDeviceStatus::kAllocated:
      return scheduler::PciDeviceStatus::kAllocated;
    case store::PciDeviceStatus::kRemoved:
    case store::PciDeviceStatus::kDeleted:
      return scheduler::PciDeviceStatus::kRemoved;
    default:
      return scheduler::PciDeviceStatus::kUnavailable;
  }
}

// ComputeCapabilitiesFilter's keys: nested objects flattened with ':'.
void flatten(const json& j, const std::string& prefix,
             std::map<std::string, std::string, std::less<>>& out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string key = prefix.empty() ? it.key() : prefix + ":" + it.key();
    if (it->is_object()) {
      flatten(*it, key, out);
    } else if (it->is_string()) {
      out[key] = it->get<std::string>();
    } else {
      out[key] = it->dump();
    }
  }
}

}  // namespace

PciDevice to_device(const store::PciDeviceRecord& d) {
  PciDevice p;
  p.address = d.address;
  p.vendor_id = d.vendor_id;
  p.product_id = d.product_id;
  p.dev_type = d.dev_type;
  p.parent_addr = d.parent_addr;
  p.numa_node = d.numa_node;
  return p;
}

scheduler::DeviceTopology device_topology(const store::PciDeviceRecord& d) {
  scheduler::DeviceTopology t;
  if (d.extra_info.empty() || d.extra_info == "{}") return t;  // the common case: no tags
  json extra = json::parse(d.extra_info, nullptr, false);
  if (!extra.is_object()) return t;
  auto text = [&](const char* key) {
    return extra.contains(key) && extra[key].is_string() ? extra[key].get<std::string>() : "";
  };
  t.nvlink_partition = text("nvlink_partition");
  t.pcie_switch = text("pcie_switch");
  return t;
}

std::vector<std::string> local_host_names(compute::ComputeDriver* local) {
  std::vector<std::string> out;
  if (!local) return out;
  auto hosts = local->hosts();
  if (!hosts.ok()) return out;
  for (const auto& h : *hosts) out.push_back(h.name);
  std::sort(out.begin(), out.end());  // host_up() searches it: 10,000 hosts are 10,000 lookups
  return out;
}

bool host_up(const store::ComputeHost& host, const std::vector<std::string>& local_hosts,
             std::chrono::seconds down_after) {
  if (host.forced_down) return false;
  if (std::binary_search(local_hosts.begin(), local_hosts.end(), host.name)) {
    return true;
  }
  return host.heartbeat_at && std::chrono::system_clock::now() - *host.heartbeat_at < down_after;
}

scheduler::HostState host_state(const store::ComputeHost& h,
                                const std::vector<store::PciDeviceRecord>& devices,
                                const std::vector<const store::Aggregate*>& aggregates, bool up) {
  scheduler::HostState s;
  s.name = h.name;
  for (const store::Aggregate* a : aggregates) {
    s.aggregates.push_back(a->name);
    for (const auto& [k, v] : a->metadata) s.add_aggregate_metadata(k, v);
    if (a->availability_zone) s.add_aggregate_metadata("availability_zone", *a->availability_zone);
  }
  s.total = {h.vcpus - h.reserved_host_cpus, h.memory_mb - h.reserved_host_memory_mb,
             h.disk_gb - h.reserved_host_disk_mb / 1024};
  s.used = {h.vcpus_used, h.memory_mb_used, h.disk_gb_used};
  s.cpu_allocation_ratio = h.cpu_allocation_ratio;
  s.ram_allocation_ratio = h.ram_allocation_ratio;
  s.disk_allocation_ratio = h.disk_allocation_ratio;
  s.enabled = h.enabled;
  s.disabled_reason = h.disabled_reason;
  s.heartbeat_fresh = up;
  // The agent writes its doctor summary starting with "fail" when passthrough is not ready.
  s.doctor_ok = h.doctor_status.rfind("fail", 0) != 0 && h.doctor_status.rfind("FAIL", 0) != 0;
  json caps = json::parse(h.capabilities_json, nullptr, false);
  if (caps.is_object()) flatten(caps, "", s.capabilities);
  s.capabilities["hypervisor_type"] = h.hypervisor_type;
  std::string arch = "x86_64";
  if (auto it = s.capabilities.find("cpu_info:arch"); it != s.capabilities.end()) arch = it->second;
  std::string hv = h.hypervisor_type;
  for (auto& c : hv) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  s.supported_instances = {{arch, hv, "hvm"}};
  if (hv == "qemu") s.supported_instances.push_back({arch, "kvm", "hvm"});
  for (const auto& d : devices) {
    if (d.deleted != 0) continue;
    s.add_pci_device(to_device(d), scheduler_status(d.status), device_topology(d));
  }
  return s;
}

Result<std::vector<scheduler::HostState>> load_host_states(
    store::Store& store, const std::vector<std::string>& local_hosts,
    std::chrono::seconds down_after) {
  auto hosts = store.list_compute_hosts();
  if (!hosts.ok()) return hosts.error();
  auto aggs = store.list_aggregates();
  if (!aggs.ok()) return aggs.error();
  auto devices = store.list_pci_devices({});
  if (!devices.ok()) return devices.error();
  // One pass over each table (the rows are grouped by host here, not searched per host).
  std::map<std::string, std::vector<const store::Aggregate*>> by_name;
  for (const auto& a : *aggs) {
    for (const auto& h : a.hosts) by_name[h].push_back(&a);
  }
  std::map<int64_t, std::vector<store::PciDeviceRecord>> by_node;
  for (auto& d : *devices) by_node[d.compute_node_id].push_back(std::move(d));
  std::vector<scheduler::HostState> out;
  out.reserve(hosts->size());
  for (const auto& h : *hosts) {
    out.push_back(
        host_state(h, by_node[h.id], by_name[h.name], host_up(h, local_hosts, down_after)));
  }
  return out;
}

Result<scheduler::RequestSpec> request_spec_for(const store::Flavor& flavor,
                                                const store::Image& image,
                                                const std::string& availability_zone,
                                                const config::NovaConfig& config) {
  scheduler::FlavorSpec fs;
  fs.name = flavor.name;
  fs.vcpus = flavor.vcpus;
  fs.memory_mb = flavor.memory_mb;
  fs.root_gb = flavor.root_gb;
  fs.ephemeral_gb = flavor.ephemeral_gb;
  fs.swap_mb = flavor.swap_mb;
  fs.extra_specs = flavor.extra_specs;
  scheduler::ImageMeta im;
  im.min_disk_gb = image.min_disk;
  im.min_ram_mb = image.min_ram;
  im.properties = image.properties;
  auto spec = scheduler::make_request_spec(fs, im, availability_zone, 1, config.aliases);
  if (!spec.ok()) return Error::invalid(spec.error().message);
  if (auto s = scheduler::check_request(*spec); !s.ok()) return Error::invalid(s.error().message);
  return spec;
}

}  // namespace gpucloud::conductor

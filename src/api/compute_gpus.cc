// gpucloud's extension to the compute API: free GPUs per model (PCI alias) for everyone, and per
// host with each device's state and holder for admins. nova has no such call; the portal shows it
// so that users see before launching whether a GPU service can start at all.
#include <fmt/format.h>

#include "api/compute_impl.h"

namespace gpucloud::api {
namespace {

// The portal and the metrics count a device as free, claimed (a boot in progress) or allocated
// (a running server); anything else (unavailable, removed...) is out of service.
const char* gpu_state(store::PciDeviceStatus s) {
  switch (s) {
    case store::PciDeviceStatus::kAvailable:
      return "free";
    case store::PciDeviceStatus::kClaimed:
      return "claimed";
    case store::PciDeviceStatus::kAllocated:
      return "allocated";
    default:
      return "unavailable";
  }
}

json alias_ids(const AliasTable& aliases, const std::string& name) {
  json ids = json::array();
  for (const PciAlias* a : aliases.find(name)) {
    ids.push_back({{"vendor_id", a->vendor_id ? json(a->vendor_id->str()) : json(nullptr)},
                   {"product_id", a->product_id ? json(a->product_id->str()) : json(nullptr)}});
  }
  return ids;
}

Result<Reply> list_gpus(ApiContext& ctx, Call& call) {
  auto hosts = ctx.store().list_compute_hosts();
  if (!hosts.ok()) return hosts.error();
  auto devices = ctx.store().list_pci_devices({});
  if (!devices.ok()) return devices.error();
  const auto cfg = compute_config(ctx);
  const AliasTable& aliases = cfg->aliases;

  std::map<int64_t, const store::ComputeHost*> by_id;
  for (const auto& h : *hosts) by_id[h.id] = &h;

  // Per model: counts by state. Every configured alias appears, zeros included, so that "0 free"
  // is distinguishable from "unknown model".
  std::map<std::string, std::map<std::string, int>> per_alias;
  for (const auto& name : aliases.names()) {
    for (const char* s : {"free", "claimed", "allocated", "unavailable"}) per_alias[name][s] = 0;
  }
  std::map<std::string, json> host_devices;  // host name -> device list (admins only)
  std::map<std::string, std::map<std::string, int>> host_free;
  for (const auto& d : *devices) {
    if (d.deleted != 0 || d.status == store::PciDeviceStatus::kRemoved ||
        d.status == store::PciDeviceStatus::kDeleted) {
      continue;
    }
    const char* state = gpu_state(d.status);
    const PciDevice dev = conductor::to_device(d);
    std::vector<std::string> matched;
    for (const auto& name : aliases.names()) {
      if (aliases.matches(name, dev)) matched.push_back(name);
    }
    if (matched.empty()) continue;  // not a device any flavor can ask for
    for (const auto& name : matched) per_alias[name][state] += 1;
    auto h = by_id.find(d.compute_node_id);
    const std::string host =
        h == by_id.end() ? fmt::format("node-{}", d.compute_node_id) : h->second->name;
    for (const auto& name : matched)
      host_free[host][name] += d.status == store::PciDeviceStatus::kAvailable;
    host_devices[host].push_back(
        {{"address", d.address.to_string()},
         {"vendor_id", d.vendor_id.str()},
         {"product_id", d.product_id.str()},
         {"aliases", matched},
         {"status", to_string(d.status)},
         {"state", state},
         {"instance_uuid", d.instance_uuid ? json(*d.instance_uuid) : json(nullptr)}});
  }

  json models = json::array();
  for (const auto& [name, counts] : per_alias) {
    int total = 0;
    for (const auto& [s, n] : counts) total += n;
    models.push_back({{"alias", name},
                      {"ids", alias_ids(aliases, name)},
                      {"total", total},
                      {"free", counts.at("free")},
                      {"claimed", counts.at("claimed")},
                      {"allocated", counts.at("allocated")},
                      {"unavailable", counts.at("unavailable")}});
  }
  json body = {{"gpus", models}};
  if (call.who().is_admin()) {
    json per_host = json::array();
    for (const auto& h : *hosts) {
      auto it = host_devices.find(h.name);
      // The agent's last `host doctor` summary: the hypervisor API has no field for it.
      per_host.push_back(
          {{"host", h.name},
           {"doctor_status", h.doctor_status},
           {"free", host_free.count(h.name) ? json(host_free[h.name]) : json::object()},
           {"devices", it == host_devices.end() ? json::array() : it->second}});
    }
    body["hosts"] = per_host;
  }
  return Reply::ok(body);
}

}  // namespace

std::vector<Route> compute_gpu_routes(ApiContext& ctx) {
  return {{"GET",
           kCompute + "/gpucloud-gpus",
           Service::kCompute,
           "compute:read",
           [&ctx](Call& call) { return list_gpus(ctx, call); },
           {}}};
}

}  // namespace gpucloud::api

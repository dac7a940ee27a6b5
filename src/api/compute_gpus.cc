// gpucloud's extension to the compute API: free GPUs per model (PCI alias) for everyone, and per
// host with each device's state and holder for admins. nova has no such call; the portal shows it
// so that users see before launching whether a GPU service can start at all.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>

#include "api/compute_impl.h"

namespace gpucloud::api {
namespace {

// The portal and the metrics count a device as free, claimed (a boot in progress), allocated
// (a running server), cleaning (given back, being reset and checked) or unavailable (out of
// service: a failed cleaning, one_time_use, an operator's switch).
const char* gpu_state(store::PciDeviceStatus s) {
  switch (s) {
    case store::PciDeviceStatus::kAvailable:
      return "free";
    case store::PciDeviceStatus::kClaimed:
      return "claimed";
    case store::PciDeviceStatus::kAllocated:
      return "allocated";
    case store::PciDeviceStatus::kCleaning:
      return "cleaning";
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
  auto reasons = ctx.store().pci_device_reasons();
  if (!reasons.ok()) return reasons.error();
  const auto cfg = compute_config(ctx);
  const AliasTable& aliases = cfg->aliases;

  std::map<int64_t, const store::ComputeHost*> by_id;
  for (const auto& h : *hosts) by_id[h.id] = &h;

  // Per model: counts by state. Every configured alias appears, zeros included, so that "0 free"
  // is distinguishable from "unknown model".
  std::map<std::string, std::map<std::string, int>> per_alias;
  for (const auto& name : aliases.names()) {
    for (const char* s : {"free", "claimed", "allocated", "cleaning", "unavailable"})
      per_alias[name][s] = 0;
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
    auto why = reasons->find(d.id);
    const bool out_of_service = d.status == store::PciDeviceStatus::kUnavailable;
    host_devices[host].push_back(
        {{"id", d.id},
         {"address", d.address.to_string()},
         {"vendor_id", d.vendor_id.str()},
         {"product_id", d.product_id.str()},
         {"aliases", matched},
         {"status", to_string(d.status)},
         {"state", state},
         {"reason", out_of_service && why != reasons->end() ? json(why->second) : json(nullptr)},
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
                      {"cleaning", counts.at("cleaning")},
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

// GET .../gpucloud-gpu-usage[?project_id=P]: project_gpu_usage() as JSON. Admins see every
// project (or the one asked for); a member only their own (403 for another).
Result<Reply> gpu_usage(ApiContext& ctx, Call& call) {
  const auto& who = call.who();
  std::string project = call.query("project_id").value_or("");
  if (!who.is_admin()) {
    if (!project.empty() && project != who.project_id) {
      return forbidden("Policy doesn't allow compute:gpu-usage for another project.");
    }
    project = who.project_id;
  }
  auto rows = project_gpu_usage(ctx, project);
  if (!rows.ok()) return rows.error();
  json out = json::array();
  for (const auto& r : *rows) {
    out.push_back({{"project_id", r.project_id},
                   {"alias", r.alias},
                   {"in_use", r.in_use},
                   {"reserved", r.reserved},
                   {"quota", r.quota ? json(*r.quota) : json(nullptr)}});
  }
  return Reply::ok({{"gpu_usage", out}});
}

// PUT .../gpucloud-gpus/devices/{device_id} {"status": "available" | "unavailable"}: an admin
// takes a free device out of service, or returns an unavailable one (a failed cleaning, a used
// one_time_use GPU) after looking at it. Only those two moves: a device in use or being cleaned
// is the conductor's and its agent's (409).
Result<Reply> set_gpu_status(ApiContext& ctx, Call& call) {
  int64_t id = 0;
  const std::string& text = call.param("device_id");
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id <= 0) {
    return Error::not_found("PCI device " + text.substr(0, 64) + " could not be found.");
  }
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (auto s = no_extra_fields(*body, "body", {"status"}); !s.ok()) return s.error();
  auto status = string_field(*body, "status", "body", true);
  if (!status.ok()) return status.error();
  const std::string want = status->value_or("");
  if (want != "available" && want != "unavailable") {
    return Error::invalid("status: 'available' or 'unavailable' is required, not '" +
                          want.substr(0, 64) + "'");
  }
  store::PciDeviceFilter all;
  auto devices = ctx.store().list_pci_devices(all);
  if (!devices.ok()) return devices.error();
  const store::PciDeviceRecord* dev = nullptr;
  for (const auto& d : *devices) {
    if (d.id == id) dev = &d;
  }
  if (!dev) return Error::not_found("PCI device " + text + " could not be found.");
  if (to_string(dev->status) == want) {
    return Reply::ok({{"device", {{"id", id}, {"status", want}}}});
  }
  if (auto s = ctx.store().set_pci_device_available(id, want == "available"); !s.ok()) {
    if (s.error().code == ErrorCode::kConflict) {
      return Error::conflict("PCI device " + text + " is " + to_string(dev->status) +
                             ": only a free device can be made unavailable, and only an "
                             "unavailable one available");
    }
    return s.error();
  }
  spdlog::info("PCI device {} ({}) made {} by user {}", id, dev->address.to_string(), want,
               call.who().user_id);
  return Reply::ok({{"device", {{"id", id}, {"status", want}}}});
}

}  // namespace

Result<std::vector<ProjectGpuUsage>> project_gpu_usage(ApiContext& ctx,
                                                       const std::string& project_id) {
  auto devices = ctx.store().list_pci_devices({});
  if (!devices.ok()) return devices.error();
  auto instances = ctx.store().list_instances(project_id, false);
  if (!instances.ok()) return instances.error();
  auto quotas = ctx.store().list_gpu_quotas(project_id);
  if (!quotas.ok()) return quotas.error();
  const auto cfg = compute_config(ctx);
  std::map<std::string, std::string> owner;  // instance -> project
  for (const auto& i : *instances) owner[i.uuid] = i.project_id;
  std::map<std::pair<std::string, std::string>, ProjectGpuUsage> rows;  // (project, alias)
  auto row = [&](const std::string& project, const std::string& alias) -> ProjectGpuUsage& {
    ProjectGpuUsage& r = rows[{project, alias}];
    r.project_id = project;
    r.alias = alias;
    return r;
  };
  for (const auto& q : *quotas) row(q.project_id, q.alias).quota = q.limit;
  for (const auto& d : *devices) {
    if (d.deleted != 0 || !d.instance_uuid) continue;
    const bool allocated = d.status == store::PciDeviceStatus::kAllocated;
    if (!allocated && d.status != store::PciDeviceStatus::kClaimed) continue;
    auto o = owner.find(*d.instance_uuid);
    if (o == owner.end()) continue;  // another project's
    for (const auto& alias : cfg->aliases.names()) {
      if (!cfg->aliases.matches(alias, conductor::to_device(d))) continue;
      ProjectGpuUsage& r = row(o->second, alias);
      (allocated ? r.in_use : r.reserved) += 1;
      break;  // counted once, under its first alias
    }
  }
  std::vector<ProjectGpuUsage> out;
  for (auto& [key, r] : rows) out.push_back(std::move(r));
  return out;
}

std::vector<Route> compute_gpu_routes(ApiContext& ctx) {
  return {{"GET",
           kCompute + "/gpucloud-gpus",
           Service::kCompute,
           "compute:read",
           [&ctx](Call& call) { return list_gpus(ctx, call); },
           {}},
          {"GET",
           kCompute + "/gpucloud-gpu-usage",
           Service::kCompute,
           "compute:read",
           [&ctx](Call& call) { return gpu_usage(ctx, call); },
           {}},
          {"PUT",
           kCompute + "/gpucloud-gpus/devices/{device_id}",
           Service::kCompute,
           "compute:admin",
           [&ctx](Call& call) { return set_gpu_status(ctx, call); },
           {}}};
}

}  // namespace gpucloud::api

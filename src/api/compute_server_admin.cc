// Compute v2.1: nova's admin documents about servers that gpucloud answers from what it keeps:
// server diagnostics, external events from other services, the instance usage audit log, and the
// (deprecated, fixed) extensions list. None of them changes a server.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "api/compute_impl.h"

namespace gpucloud::api {
namespace {

const char* diagnostics_state(store::PowerState p) {
  switch (p) {
    case store::PowerState::kRunning:
      return "running";
    case store::PowerState::kPaused:
      return "paused";
    case store::PowerState::kShutdown:
      return "shutdown";
    case store::PowerState::kCrashed:
      return "crashed";
    case store::PowerState::kNoState:
      break;
  }
  return "pending";
}

// GET /servers/{id}/diagnostics (admins). From 2.48 nova's standard shape, filled with what the
// control plane knows (flavor size, state, uptime since launch) and null where only the hypervisor
// knows (per-CPU times, NIC and disk counters). Before 2.48 a driver-specific object: libvirt's
// "memory" in KiB and the vCPU count.
Result<Reply> server_diagnostics(ApiContext& ctx, const Call& call) {
  auto i = owned_server(ctx, call);
  if (!i.ok()) return i.error();
  if (!i->host) {
    return Error::conflict("Cannot 'get_diagnostics' instance " + i->uuid +
                           " while it is in vm_state " + i->vm_state);
  }
  auto flavor = ctx.store().get_flavor(i->flavor_id);
  const json vcpus = flavor.ok() ? json(flavor->vcpus) : json(nullptr);
  const json memory_mb = flavor.ok() ? json(flavor->memory_mb) : json(nullptr);
  if (!call.microversion.at_least(2, 48)) {
    return Reply::ok({{"memory", flavor.ok() ? json(flavor->memory_mb * 1024) : json(nullptr)},
                      {"vcpus", vcpus},
                      {"state", diagnostics_state(i->power_state)}});
  }
  json uptime = nullptr;
  if (i->power_state == store::PowerState::kRunning && i->launched_at) {
    uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() -
                                                              *i->launched_at)
                 .count();
  }
  json cpus = json::array();
  if (flavor.ok()) {
    for (int c = 0; c < flavor->vcpus; ++c) {
      cpus.push_back({{"id", c}, {"time", nullptr}, {"utilisation", nullptr}});
    }
  }
  return Reply::ok({{"state", diagnostics_state(i->power_state)},
                    {"driver", "libvirt"},
                    {"hypervisor", "kvm"},
                    {"hypervisor_os", "linux"},
                    {"uptime", uptime},
                    {"config_drive", i->config_drive},
                    {"num_cpus", flavor.ok() ? flavor->vcpus : 0},
                    {"num_nics", 1},
                    {"num_disks", 1},
                    {"memory_details", {{"maximum", memory_mb}, {"used", nullptr}}},
                    {"cpu_details", cpus},
                    {"nic_details", json::array()},
                    {"disk_details", json::array()}});
}

// POST /os-server-external-events: neutron, cinder and cyborg tell nova about changes to a
// server's ports, volumes and accelerators. gpucloud has none of those services, so an event is
// accepted (200) for a server on a host and changes nothing; 404 for an unknown server and 422
// for one not on a host, as nova. The answer is 404 when no event was accepted, 207 when some
// were not.
Result<Reply> external_events(ApiContext& ctx, Call& call) {
  static const std::vector<std::string> kNames = {
      "network-changed", "network-vif-plugged", "network-vif-unplugged",     "network-vif-deleted",
      "volume-extended", "power-update",        "accelerator-request-bound", "volume-reimaged"};
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (auto s = no_extra_fields(*body, "body", {"events"}); !s.ok()) return s.error();
  if (!body->contains("events") || !(*body)["events"].is_array() || (*body)["events"].empty()) {
    return bad_request(
        "Invalid input for field/attribute events. 'events' must be a non-empty array");
  }
  json out = json::array();
  int accepted = 0;
  for (const auto& e : (*body)["events"]) {
    if (!e.is_object())
      return bad_request("Invalid input for field/attribute events: not an object");
    if (auto s = no_extra_fields(e, "events", {"name", "server_uuid", "status", "tag"}); !s.ok())
      return s.error();
    auto name = string_field(e, "name", "events", false);
    if (!name.ok()) return name.error();
    auto uuid = string_field(e, "server_uuid", "events", false);
    if (!uuid.ok()) return uuid.error();
    auto status = string_field(e, "status", "events", false);
    if (!status.ok()) return status.error();
    auto tag = string_field(e, "tag", "events", false);
    if (!tag.ok()) return tag.error();
    if (!*name || std::find(kNames.begin(), kNames.end(), **name) == kNames.end()) {
      return bad_request("Invalid input for field/attribute name. Value: " + name->value_or("") +
                         ". It is not one of the event names nova knows");
    }
    if (!*uuid) return bad_request("Invalid input for field/attribute server_uuid: required");
    const std::string st = status->value_or("completed");
    if (st != "completed" && st != "failed" && st != "in-progress") {
      return bad_request("Invalid input for field/attribute status. Value: " + st +
                         ". 'completed', 'failed' or 'in-progress'");
    }
    json r = {{"name", **name}, {"server_uuid", **uuid}, {"status", st}};
    if (*tag) r["tag"] = **tag;
    auto i = ctx.store().get_instance(**uuid);
    if (!i.ok() || i->status == store::ServerStatus::kDeleted) {
      r["code"] = 404;
      r["status"] = "failed";
    } else if (!i->host) {
      r["code"] = 422;
      r["status"] = "failed";
    } else {
      r["code"] = 200;
      ++accepted;
      spdlog::info("external event {} ({}) for instance {}: nothing to do", **name, st, **uuid);
    }
    out.push_back(r);
  }
  if (accepted == 0) return Error::not_found("No instances found for any event");
  return Reply::ok({{"events", out}}, accepted == static_cast<int>(out.size()) ? 200 : 207);
}

// nova's instance usage audit log: the periodic task that records, per host, the servers that
// existed in a period. gpucloud does not run it (os-simple-tenant-usage answers the same question
// from the servers' own times), so every host is reported as not having run it.
Result<Reply> audit_log(ApiContext& ctx, const Call& call, bool one_period) {
  auto hosts = ctx.store().list_compute_hosts();
  if (!hosts.ok()) return hosts.error();
  using namespace std::chrono;
  auto end = system_clock::now();
  if (one_period) {
    // before_timestamp: "YYYY-MM-DD HH:MM:SS[.ffffff]", as nova parses it.
    const std::string& when = call.param("before");
    std::tm tm{};
    const char* rest = strptime(when.c_str(), "%Y-%m-%d %H:%M:%S", &tm);
    if (!rest || (*rest != '\0' && *rest != '.')) {
      return bad_request("Invalid timestamp for date " + when);
    }
    end = system_clock::from_time_t(timegm(&tm));
  }
  // nova's period is the last whole month before `end`.
  const std::time_t t = system_clock::to_time_t(end);
  std::tm month{};
  gmtime_r(&t, &month);
  month.tm_mday = 1;
  month.tm_hour = month.tm_min = month.tm_sec = 0;
  const std::time_t period_end = timegm(&month);
  month.tm_mon -= 1;
  const std::time_t period_begin = timegm(&month);
  json not_run = json::array();
  for (const auto& h : *hosts) not_run.push_back(h.name);
  const auto fmt_time = [](std::time_t v) {
    std::tm tm{};
    gmtime_r(&v, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return std::string(buf);
  };
  const size_t n = not_run.size();
  json log = {{"hosts_not_run", not_run},
              {"log", json::object()},
              {"num_hosts", n},
              {"num_hosts_done", 0},
              {"num_hosts_not_run", n},
              {"num_hosts_running", 0},
              {"overall_status", fmt::format("0 of {} hosts done. 0 errors.", n)},
              {"period_beginning", fmt_time(period_begin)},
              {"period_ending", fmt_time(period_end)},
              {"total_errors", 0},
              {"total_instances", 0}};
  return Reply::ok({{one_period ? "instance_usage_audit_log" : "instance_usage_audit_logs", log}});
}

struct Extension {
  const char* alias;
  const char* name;
  const char* description;
};

// The entries of nova's fixed extensions list for the APIs gpucloud serves.
const std::vector<Extension>& extensions() {
  static const std::vector<Extension> kList = {
      {"OS-DCF", "DiskConfig", "Disk Management Extension."},
      {"OS-EXT-AZ", "ExtendedAvailabilityZone", "Extended Availability Zone support."},
      {"OS-EXT-IMG-SIZE", "ImageSize", "Adds image size to image listings."},
      {"OS-EXT-SRV-ATTR", "ExtendedServerAttributes", "Extended Server Attributes support."},
      {"OS-EXT-STS", "ExtendedStatus", "Extended Status support."},
      {"OS-FLV-DISABLED", "FlavorDisabled", "Support to show the disabled status of a flavor."},
      {"OS-FLV-EXT-DATA", "FlavorExtraData", "Provide additional data for flavors."},
      {"OS-SRV-USG", "ServerUsage", "Adds launched_at and terminated_at on Servers."},
      {"os-access-ips", "AccessIPs", "Access IPs support."},
      {"os-admin-actions", "AdminActions", "Enable admin-only server actions."},
      {"os-aggregates", "Aggregates", "Admin-only aggregate administration."},
      {"os-availability-zone", "AvailabilityZone", "Availability zones and their description."},
      {"os-config-drive", "ConfigDrive", "Config Drive Extension."},
      {"os-console-auth-tokens", "ConsoleAuthTokens", "Console token authentication support."},
      {"os-consoles", "Consoles", "Interactive Console support."},
      {"os-flavor-access", "FlavorAccess", "Flavor access support."},
      {"os-flavor-extra-specs", "FlavorExtraSpecs", "Flavors extra specs support."},
      {"os-flavor-manage", "FlavorManage", "Flavor create/delete API support."},
      {"os-flavor-rxtx", "FlavorRxtx", "Support to show the rxtx status of a flavor."},
      {"os-hosts", "Hosts", "Admin-only host administration."},
      {"os-hypervisors", "Hypervisors", "Admin-only hypervisor administration."},
      {"os-instance_usage_audit_log", "OSInstanceUsageAuditLog", "Admin-only Task Log Monitoring."},
      {"os-keypairs", "Keypairs", "Keypair Support."},
      {"os-lock-server", "LockServer", "Enable lock/unlock server actions."},
      {"os-migrations", "Migrations", "Provide data on migrations."},
      {"os-multiple-create", "MultipleCreate", "Allow multiple create in the Create Server API."},
      {"os-quota-class-sets", "QuotaClasses", "Quota classes management support."},
      {"os-quota-sets", "Quotas", "Quotas management support."},
      {"os-server-diagnostics", "ServerDiagnostics", "Allow Admins to view server diagnostics."},
      {"os-server-external-events", "ServerExternalEvents", "Server External Event Triggers."},
      {"os-server-password", "ServerPassword", "Server password support."},
      {"os-server-start-stop", "ServerStartStop", "Start/Stop instance compute API support."},
      {"os-services", "Services", "Services support."},
      {"os-shelve", "Shelve", "Instance shelve mode."},
      {"os-simple-tenant-usage", "SimpleTenantUsage", "Simple tenant usage extension."},
      {"os-used-limits", "UsedLimits", "Provide data on limited resources that are being used."},
      {"os-user-data", "UserData", "Add user_data to the Create Server API."},
  };
  return kList;
}

json extension_json(const Extension& e) {
  return {{"alias", e.alias},
          {"name", e.name},
          {"description", e.description},
          {"links", json::array()},
          {"namespace", "http://docs.openstack.org/compute/ext/fake_xml"},
          {"updated", "2014-12-03T00:00:00Z"}};
}

}  // namespace

std::vector<Route> compute_server_admin_routes(ApiContext& ctx) {
  ApiContext* c = &ctx;
  std::vector<Route> r;
  const auto add = [&](const char* method, const std::string& path, const char* rule,
                       std::function<Result<Reply>(Call&)> h) {
    r.push_back({method, path, Service::kCompute, rule, std::move(h), {}});
  };
  add("GET", kCompute + "/servers/{server_id}/diagnostics", "compute:admin",
      [c](Call& call) { return server_diagnostics(*c, call); });
  add("POST", kCompute + "/os-server-external-events", "compute:admin",
      [c](Call& call) { return external_events(*c, call); });
  add("GET", kCompute + "/os-instance_usage_audit_log", "compute:admin",
      [c](Call& call) { return audit_log(*c, call, false); });
  add("GET", kCompute + "/os-instance_usage_audit_log/{before}", "compute:admin",
      [c](Call& call) { return audit_log(*c, call, true); });
  add("GET", kCompute + "/extensions", "compute:read", [](Call&) -> Result<Reply> {
    json list = json::array();
    for (const auto& e : extensions()) list.push_back(extension_json(e));
    return Reply::ok({{"extensions", list}});
  });
  add("GET", kCompute + "/extensions/{alias}", "compute:read", [](Call& call) -> Result<Reply> {
    for (const auto& e : extensions()) {
      if (call.param("alias") == e.alias) return Reply::ok({{"extension", extension_json(e)}});
    }
    return Error::not_found("The resource could not be found.");
  });
  return r;
}

}  // namespace gpucloud::api

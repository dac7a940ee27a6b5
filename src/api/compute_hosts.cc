// Compute v2.1: os-hypervisors, os-services and os-availability-zone, all read from the store's
// compute hosts and aggregates.
#include <fmt/format.h>

#include <algorithm>
#include <regex>

#include "api/compute_impl.h"
#include "api/http_message.h"

namespace gpucloud::api {
namespace {

bool looks_like_uuid(const std::string& s) {
  static const std::regex kUuid(
      "^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$");
  return std::regex_match(s, kUuid);
}

struct HostView {
  store::ComputeHost host;
  bool up = false;
  std::string zone;
  int running = 0;
};

Result<std::vector<HostView>> host_views(ApiContext& ctx) {
  auto hosts = ctx.store().list_compute_hosts();
  if (!hosts.ok()) return hosts.error();
  auto aggs = ctx.store().list_aggregates();
  if (!aggs.ok()) return aggs.error();
  auto instances = ctx.store().list_instances("", false);
  if (!instances.ok()) return instances.error();
  const auto managed = driver_host_names(ctx);
  const std::chrono::seconds down_after(compute_config(ctx)->service_down_time);
  const std::string zone = default_zone(ctx);
  std::map<std::string, int> running;
  for (const auto& i : *instances) {
    if (i.host) ++running[*i.host];
  }
  std::vector<HostView> out;
  for (const auto& h : *hosts) {
    HostView v{h, conductor::host_up(h, managed, down_after), zone, running[h.name]};
    for (const auto& a : *aggs) {
      if (!a.availability_zone) continue;
      if (std::find(a.hosts.begin(), a.hosts.end(), h.name) != a.hosts.end()) {
        v.zone = *a.availability_zone;
      }
    }
    out.push_back(std::move(v));
  }
  return out;
}

// Below 2.53 hypervisors and services are known by their integer id, from 2.53 by UUID.
json host_ref(const store::ComputeHost& h, const Microversion& mv) {
  return mv.at_least(2, 53) ? json(h.uuid) : json(h.id);
}

// `uptime`: GET /os-hypervisors/{id} carries it from 2.88 (null when the host never said when it
// booted); `show` tells it is that call.
json hypervisor_json(const HostView& v, bool detail, const Microversion& mv, bool show = false,
                     const json& uptime = nullptr) {
  const auto& h = v.host;
  json j = {{"id", host_ref(h, mv)},
            {"hypervisor_hostname", h.name},
            {"state", v.up ? "up" : "down"},
            {"status", h.enabled ? "enabled" : "disabled"}};
  if (!detail) return j;
  j["hypervisor_type"] = h.hypervisor_type;
  j["hypervisor_version"] = 6000000;
  j["host_ip"] = "127.0.0.1";
  j["service"] = {{"host", h.name},
                  {"id", host_ref(h, mv)},
                  {"disabled_reason", h.enabled ? json(nullptr) : json(h.disabled_reason)}};
  if (mv.at_least(2, 88)) {
    // 2.88 dropped the resource figures (placement has them) and the cpu_info.
    if (show) j["uptime"] = uptime;
    return j;
  }
  j["vcpus"] = h.vcpus;
  j["memory_mb"] = h.memory_mb;
  j["local_gb"] = h.disk_gb;
  j["vcpus_used"] = h.vcpus_used;
  j["memory_mb_used"] = h.memory_mb_used;
  j["local_gb_used"] = h.disk_gb_used;
  j["free_ram_mb"] = h.memory_mb - h.memory_mb_used;
  j["free_disk_gb"] = h.disk_gb - h.disk_gb_used;
  j["disk_available_least"] = h.disk_gb - h.disk_gb_used;
  j["current_workload"] = 0;
  j["running_vms"] = v.running;
  // 2.28: cpu_info is an object rather than its JSON text.
  if (mv.at_least(2, 28)) {
    json parsed = json::parse(h.capabilities_json, nullptr, false);
    j["cpu_info"] = parsed.is_object() ? parsed : json::object();
  } else {
    j["cpu_info"] = h.capabilities_json;
  }
  return j;
}

// The servers on each host, for with_servers (2.53) and the older /{pattern}/servers.
Result<std::map<std::string, json>> servers_by_host(ApiContext& ctx) {
  auto all = ctx.store().list_instances("", false);
  if (!all.ok()) return all.error();
  std::map<std::string, json> out;
  for (const auto& i : *all) {
    if (i.host) out[*i.host].push_back({{"name", i.name}, {"uuid", i.uuid}});
  }
  return out;
}

Error resource_not_found() { return Error::not_found("The resource could not be found."); }

// nova adds `forced_down` at 2.11; a 2.1 client's response schema refuses it.
json service_json(const HostView& v, const Microversion& mv) {
  const auto& h = v.host;
  json j = {{"id", host_ref(h, mv)},
            {"binary", "nova-compute"},
            {"host", h.name},
            {"zone", v.zone},
            {"status", h.enabled ? "enabled" : "disabled"},
            {"state", v.up ? "up" : "down"},
            {"updated_at", h.heartbeat_at ? json(iso8601(*h.heartbeat_at)) : json(nullptr)},
            {"disabled_reason", h.enabled ? json(nullptr) : json(h.disabled_reason)}};
  if (mv.at_least(2, 11)) j["forced_down"] = h.forced_down;
  return j;
}

// GET /os-hypervisors[/detail]: 2.33 pages (limit, marker: the last id seen), 2.53 filters by
// hypervisor_hostname_pattern (no match: 404) and adds each one's servers with with_servers.
Result<Reply> list_hypervisors(ApiContext& ctx, const Call& call, bool detail) {
  const Microversion& mv = call.microversion;
  auto views = host_views(ctx);
  if (!views.ok()) return views.error();
  const auto pattern =
      mv.at_least(2, 53) ? call.query("hypervisor_hostname_pattern") : std::nullopt;
  const bool with_servers =
      mv.at_least(2, 53) && call.query("with_servers") && *call.query("with_servers") != "false" &&
      *call.query("with_servers") != "False" && *call.query("with_servers") != "0";
  auto marker = mv.at_least(2, 33) ? call.query("marker") : std::nullopt;
  auto limit_text = mv.at_least(2, 33) ? call.query("limit") : std::nullopt;
  if (pattern && (marker || limit_text)) {
    return bad_request(
        "Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not "
        "supported.");
  }
  size_t limit = views->size();
  if (limit_text) {
    if (limit_text->empty() || limit_text->size() > 9 ||
        !std::all_of(limit_text->begin(), limit_text->end(),
                     [](char ch) { return ch >= '0' && ch <= '9'; })) {
      return bad_request("Invalid input for query parameters limit. Value: " + *limit_text);
    }
    limit = std::stoul(*limit_text);
  }
  std::map<std::string, json> servers;
  if (with_servers) {
    auto s = servers_by_host(ctx);
    if (!s.ok()) return s.error();
    servers = std::move(*s);
  }
  // nova pages in id order.
  std::sort(views->begin(), views->end(),
            [](const HostView& a, const HostView& b) { return a.host.id < b.host.id; });
  bool started = !marker;
  json list = json::array();
  bool more = false;
  for (const auto& v : *views) {
    if (!started) {
      started = (mv.at_least(2, 53) ? v.host.uuid : std::to_string(v.host.id)) == *marker;
      continue;
    }
    if (pattern && v.host.name.find(*pattern) == std::string::npos) continue;
    if (list.size() == limit) {
      more = true;
      break;
    }
    json h = hypervisor_json(v, detail, mv);
    if (with_servers && servers.count(v.host.name)) h["servers"] = servers[v.host.name];
    list.push_back(std::move(h));
  }
  if (marker && !started) return bad_request("marker [" + *marker + "] not found");
  if (pattern && list.empty()) {
    return Error::not_found("No hypervisor matching '" + *pattern + "' could be found.");
  }
  json out = {{"hypervisors", list}};
  if (more && !list.empty()) {
    const json& last = list.back()["id"];
    out["hypervisors_links"] = json::array(
        {{{"rel", "next"},
          {"href", ctx.base_url + kCompute + "/os-hypervisors" + (detail ? "/detail" : "") +
                       "?limit=" + std::to_string(limit) +
                       "&marker=" + (last.is_string() ? last.get<std::string>() : last.dump())}}});
  }
  return Reply::ok(out);
}

// The hypervisor a path names: by integer id below 2.53, by UUID from it.
Result<HostView> find_hypervisor(ApiContext& ctx, const Call& call) {
  const Microversion& mv = call.microversion;
  const std::string& id = call.param("id");
  auto views = host_views(ctx);
  if (!views.ok()) return views.error();
  for (auto& v : *views) {
    if (mv.at_least(2, 53) ? v.host.uuid == id : std::to_string(v.host.id) == id) {
      return std::move(v);
    }
  }
  if (mv.at_least(2, 53) && !looks_like_uuid(id)) {
    return bad_request("Invalid uuid " + id);
  }
  return Error::not_found("Hypervisor with ID '" + id + "' could not be found.");
}

// What `uptime` prints on the host, up to the users and load average, which no agent reports:
// " 08:32:11 up 93 days, 18:25". The clock is UTC. Null when the host never said when it booted.
Result<json> uptime_of(ApiContext& ctx, const store::ComputeHost& h) {
  auto booted = ctx.store().host_booted_at(h.name);
  if (!booted.ok()) return booted.error();
  if (!*booted) return json(nullptr);
  const auto now = std::chrono::system_clock::now();
  // A boot time ahead of this clock (the host's clock is off) reads as just booted.
  const auto up = std::chrono::duration_cast<std::chrono::minutes>(
      std::max(now - **booted, std::chrono::system_clock::duration::zero()));
  const auto days = up.count() / (24 * 60), hours = up.count() / 60 % 24, mins = up.count() % 60;
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm utc{};
  gmtime_r(&t, &utc);
  std::string text = fmt::format(" {:02}:{:02}:{:02} up ", utc.tm_hour, utc.tm_min, utc.tm_sec);
  if (days > 0) text += fmt::format("{} day{}, ", days, days == 1 ? "" : "s");
  text += hours > 0 ? fmt::format("{:2}:{:02}", hours, mins) : fmt::format("{} min", mins);
  return json(text);
}

// GET /os-hypervisors/{id} (with_servers from 2.53; the uptime from 2.88).
Result<Reply> show_hypervisor(ApiContext& ctx, const Call& call) {
  const Microversion& mv = call.microversion;
  auto v = find_hypervisor(ctx, call);
  if (!v.ok()) return v.error();
  json uptime = nullptr;
  if (mv.at_least(2, 88)) {
    auto u = uptime_of(ctx, v->host);
    if (!u.ok()) return u.error();
    uptime = *u;
  }
  json h = hypervisor_json(*v, true, mv, true, uptime);
  const auto ws = call.query("with_servers");
  if (mv.at_least(2, 53) && ws && *ws != "false" && *ws != "False" && *ws != "0") {
    auto servers = servers_by_host(ctx);
    if (!servers.ok()) return servers.error();
    if (servers->count(v->host.name)) h["servers"] = (*servers)[v->host.name];
  }
  return Reply::ok({{"hypervisor", h}});
}

// GET /os-hypervisors/{id}/uptime (2.1-2.87; 2.88 moved the uptime into the show). nova answers
// 501 when the hypervisor cannot tell.
Result<Reply> hypervisor_uptime(ApiContext& ctx, const Call& call) {
  if (call.microversion.at_least(2, 88)) return resource_not_found();
  auto v = find_hypervisor(ctx, call);
  if (!v.ok()) return v.error();
  auto uptime = uptime_of(ctx, v->host);
  if (!uptime.ok()) return uptime.error();
  if (uptime->is_null()) {
    return Error{ErrorCode::kNotImplemented, "Virt driver does not implement uptime function."};
  }
  json h = hypervisor_json(*v, false, call.microversion);
  h["uptime"] = *uptime;
  return Reply::ok({{"hypervisor", h}});
}

// nova (2.1-2.52): /os-hypervisors/{pattern}/search and /{pattern}/servers list the hypervisors
// whose hostname contains the pattern (SQL LIKE %pattern%), the latter with their servers (key
// left out when a hypervisor runs none); no match is 404.
Result<Reply> search_hypervisors(ApiContext& ctx, const Call& call, bool servers) {
  // 2.53 replaced them with the list's hypervisor_hostname_pattern and with_servers.
  if (call.microversion.at_least(2, 53)) return resource_not_found();
  const std::string& pattern = call.param("host");
  auto views = host_views(ctx);
  if (!views.ok()) return views.error();
  std::vector<store::Instance> instances;
  if (servers) {
    auto all = ctx.store().list_instances("", false);
    if (!all.ok()) return all.error();
    instances = std::move(*all);
  }
  json list = json::array();
  for (const auto& v : *views) {
    if (v.host.name.find(pattern) == std::string::npos) continue;
    json h = hypervisor_json(v, false, call.microversion);
    if (servers) {
      json on = json::array();
      for (const auto& i : instances) {
        if (i.host && *i.host == v.host.name) on.push_back({{"name", i.name}, {"uuid", i.uuid}});
      }
      if (!on.empty()) h["servers"] = on;
    }
    list.push_back(std::move(h));
  }
  if (list.empty()) {
    return Error::not_found("No hypervisor matching '" + pattern + "' could be found.");
  }
  return Reply::ok({{"hypervisors", list}});
}

// nova's os-hosts (2.1-2.42): one "compute" service per host with its zone (?zone= filters),
// and a host's resources: its totals, what its servers use now, and per project.
Result<Reply> list_hosts(ApiContext& ctx, const Call& call) {
  if (call.microversion.at_least(2, 43)) return resource_not_found();
  auto views = host_views(ctx);
  if (!views.ok()) return views.error();
  const auto zone = call.query("zone");
  json list = json::array();
  for (const auto& v : *views) {
    if (zone && !zone->empty() && *zone != v.zone) continue;  // nova: a blank zone is no filter
    list.push_back({{"host_name", v.host.name}, {"service", "compute"}, {"zone", v.zone}});
  }
  return Reply::ok({{"hosts", list}});
}

Result<Reply> show_host(ApiContext& ctx, const Call& call) {
  if (call.microversion.at_least(2, 43)) return resource_not_found();
  const std::string& name = call.param("host");
  auto host = ctx.store().get_compute_host(name);
  if (!host.ok()) {
    return host.error().code == ErrorCode::kNotFound
               ? Error::not_found("Compute host " + name + " could not be found.")
               : host.error();
  }
  auto instances = ctx.store().list_instances("", false);
  if (!instances.ok()) return instances.error();
  auto flavors = ctx.store().list_flavors();
  if (!flavors.ok()) return flavors.error();
  struct Use {
    int64_t cpu = 0, memory_mb = 0, disk_gb = 0;
  };
  std::map<std::string, Use> by_project;
  for (const auto& i : *instances) {
    if (i.host != std::optional<std::string>(name)) continue;
    for (const auto& f : *flavors) {
      if (f.id != i.flavor_id) continue;
      Use& u = by_project[i.project_id];
      u.cpu += f.vcpus;
      u.memory_mb += f.memory_mb;
      u.disk_gb += f.root_gb + f.ephemeral_gb;
    }
  }
  auto resource = [&](const std::string& project, int64_t cpu, int64_t mem, int64_t disk) {
    return json{{"resource",
                 {{"host", name},
                  {"project", project},
                  {"cpu", cpu},
                  {"memory_mb", mem},
                  {"disk_gb", disk}}}};
  };
  json out = json::array();
  out.push_back(resource("(total)", host->vcpus, host->memory_mb, host->disk_gb));
  out.push_back(resource("(used_now)", host->vcpus_used, host->memory_mb_used, host->disk_gb_used));
  Use all;
  for (const auto& [p, u] : by_project) {
    all.cpu += u.cpu;
    all.memory_mb += u.memory_mb;
    all.disk_gb += u.disk_gb;
  }
  out.push_back(resource("(used_max)", all.cpu, all.memory_mb, all.disk_gb));
  for (const auto& [p, u] : by_project) out.push_back(resource(p, u.cpu, u.memory_mb, u.disk_gb));
  return Reply::ok({{"host", out}});
}

Result<store::ComputeHost> known_host(ApiContext& ctx, const std::string& name) {
  auto host = ctx.store().get_compute_host(name);
  if (!host.ok() && host.error().code == ErrorCode::kNotFound) {
    return Error::not_found("Compute host " + name + " could not be found.");
  }
  return host;
}

// PUT /os-hosts/{host} (2.1-2.42): {"status": "enable"|"disable"} enables or disables the host's
// compute service (as PUT /os-services does); maintenance mode is a hypervisor feature nova's
// libvirt driver does not have either (501).
Result<Reply> update_host(ApiContext& ctx, Call& call) {
  if (call.microversion.at_least(2, 43)) return resource_not_found();
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (auto s = no_extra_fields(*body, "body", {"status", "maintenance_mode"}); !s.ok())
    return s.error();
  auto status = string_field(*body, "status", "body", false);
  if (!status.ok()) return status.error();
  auto maintenance = string_field(*body, "maintenance_mode", "body", false);
  if (!maintenance.ok()) return maintenance.error();
  if (!*status && !*maintenance) {
    return bad_request(
        "Invalid input for field/attribute body. 'status' or 'maintenance_mode' "
        "is required");
  }
  const auto enable_disable = [](const std::optional<std::string>& v, const char* field) -> Status {
    if (!v || iequals(*v, "enable") || iequals(*v, "disable")) return {};
    return bad_request(fmt::format(
        "Invalid input for field/attribute {}. Value: {}. '{}' is not one of ['enable', "
        "'disable']",
        field, *v, *v));
  };
  if (auto s = enable_disable(*status, "status"); !s.ok()) return s.error();
  if (auto s = enable_disable(*maintenance, "maintenance_mode"); !s.ok()) return s.error();
  const std::string& name = call.param("host");
  auto host = known_host(ctx, name);
  if (!host.ok()) return host.error();
  if (*maintenance) {
    return Error{ErrorCode::kNotImplemented,
                 "Virt driver does not implement host maintenance mode."};
  }
  const bool enable = iequals(**status, "enable");
  if (auto s = ctx.store().set_compute_host_enabled(name, enable, ""); !s.ok()) return s.error();
  return Reply::ok({{"host", name}, {"status", enable ? "enabled" : "disabled"}});
}

// GET /os-hosts/{host}/{startup,shutdown,reboot} (2.1-2.42): gpucloud does not power hosts (nor
// does nova's libvirt driver): 404 for an unknown host, else 501.
Result<Reply> host_power_action(ApiContext& ctx, const Call& call) {
  if (call.microversion.at_least(2, 43)) return resource_not_found();
  const std::string& action = call.param("action");
  if (action != "startup" && action != "shutdown" && action != "reboot") {
    return resource_not_found();
  }
  auto host = known_host(ctx, call.param("host"));
  if (!host.ok()) return host.error();
  return Error{ErrorCode::kNotImplemented, "Virt driver does not implement host " + action + "."};
}

Result<Reply> availability_zones(ApiContext& ctx, bool detail) {
  auto views = host_views(ctx);
  if (!views.ok()) return views.error();
  std::vector<std::string> zones;
  for (const auto& v : *views) {
    if (std::find(zones.begin(), zones.end(), v.zone) == zones.end()) zones.push_back(v.zone);
  }
  json list = json::array();
  for (const auto& z : zones) {
    bool available = false;
    json hosts = json::object();
    for (const auto& v : *views) {
      if (v.zone != z) continue;
      available = available || (v.up && v.host.enabled);
      hosts[v.host.name]["nova-compute"] = {
          {"available", v.up},
          {"active", v.host.enabled},
          {"updated_at",
           v.host.heartbeat_at ? json(iso8601(*v.host.heartbeat_at)) : json(nullptr)}};
    }
    list.push_back({{"zoneName", z},
                    {"zoneState", {{"available", available}}},
                    {"hosts", detail ? hosts : json(nullptr)}});
  }
  return Reply::ok({{"availabilityZoneInfo", list}});
}

// PUT /os-services/{service_id} (2.53): status enabled/disabled with disabled_reason, and
// forced_down; answers the whole service.
Result<Reply> service_update_by_id(ApiContext& ctx, Call& call) {
  const std::string& id = call.param("action");
  auto views = host_views(ctx);
  if (!views.ok()) return views.error();
  const HostView* found = nullptr;
  for (const auto& v : *views) found = v.host.uuid == id ? &v : found;
  if (!found) {
    if (!looks_like_uuid(id)) return bad_request("Invalid uuid " + id);
    return Error::not_found("Service " + id + " could not be found.");
  }
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (auto s = no_extra_fields(*body, "body", {"status", "disabled_reason", "forced_down"});
      !s.ok())
    return s.error();
  auto status = string_field(*body, "status", "body", false);
  if (!status.ok()) return status.error();
  if (*status && **status != "enabled" && **status != "disabled") {
    return bad_request("Invalid input for field/attribute status. Value: " + **status + ". '" +
                       **status + "' is not one of ['enabled', 'disabled']");
  }
  auto reason = string_field(*body, "disabled_reason", "body", false);
  if (!reason.ok()) return reason.error();
  auto forced = bool_field(*body, "forced_down", "body");
  if (!forced.ok()) return forced.error();
  if (!*status && !*forced) {
    return bad_request("At least one of 'status' or 'forced_down' must be specified.");
  }
  if (*reason && !(*status && **status == "disabled")) {
    return bad_request("Specifying 'disabled_reason' with status 'enabled' is invalid.");
  }
  const std::string& host = found->host.name;
  if (*status) {
    if (auto s =
            ctx.store().set_compute_host_enabled(host, **status == "enabled", reason->value_or(""));
        !s.ok()) {
      return s.error();
    }
  }
  if (*forced) {
    if (auto s = ctx.store().set_compute_host_forced_down(host, **forced); !s.ok())
      return s.error();
  }
  auto again = host_views(ctx);
  if (!again.ok()) return again.error();
  for (const auto& v : *again) {
    if (v.host.uuid == id) return Reply::ok({{"service", service_json(v, call.microversion)}});
  }
  return Error::not_found("Service " + id + " could not be found.");
}

// PUT /os-services/{enable,disable,disable-log-reason,force-down} (the spelling before 2.53).
Result<Reply> service_update(ApiContext& ctx, Call& call) {
  if (call.microversion.at_least(2, 53)) return service_update_by_id(ctx, call);
  const std::string action = call.param("action");
  if (action != "enable" && action != "disable" && action != "disable-log-reason" &&
      action != "force-down") {
    return Error::not_found("Unknown action " + action);
  }
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (auto s = no_extra_fields(*body, "body", {"host", "binary", "disabled_reason", "forced_down"});
      !s.ok())
    return s.error();
  auto host = string_field(*body, "host", "body", false);
  if (!host.ok()) return host.error();
  auto binary = string_field(*body, "binary", "body", false);
  if (!binary.ok()) return binary.error();
  if (!*host || !*binary) return bad_request("'host' and 'binary' are required");
  if (**binary != "nova-compute") {
    return Error::not_found("Service " + **binary + " on host " + **host + " not found.");
  }
  if (!ctx.store().get_compute_host(**host).ok()) {
    return Error::not_found("Compute host " + **host + " could not be found.");
  }
  json out = {{"host", **host}, {"binary", **binary}};
  if (action == "force-down") {
    auto fd = bool_field(*body, "forced_down", "body");
    if (!fd.ok()) return fd.error();
    if (!*fd) return bad_request("'forced_down' is required");
    if (auto s = ctx.store().set_compute_host_forced_down(**host, **fd); !s.ok()) return s.error();
    out["forced_down"] = **fd;
    return Reply::ok({{"service", out}});
  }
  auto reason = string_field(*body, "disabled_reason", "body");
  if (!reason.ok()) return reason.error();
  if (action == "disable-log-reason" && (!*reason || (*reason)->empty())) {
    return bad_request("Missing disabled reason field");
  }
  const bool enable = action == "enable";
  if (auto s = ctx.store().set_compute_host_enabled(**host, enable, reason->value_or("")); !s.ok())
    return s.error();
  out["status"] = enable ? "enabled" : "disabled";
  if (action == "disable-log-reason") out["disabled_reason"] = **reason;
  return Reply::ok({{"service", out}});
}

}  // namespace

std::vector<Route> compute_host_routes(ApiContext& ctx) {
  ApiContext* c = &ctx;
  const std::string hv = kCompute + "/os-hypervisors";
  std::vector<Route> r;
  r.push_back({"GET",
               hv,
               Service::kCompute,
               "compute:admin",
               [c](Call& call) { return list_hypervisors(*c, call, false); },
               {}});
  r.push_back({"GET",
               hv + "/detail",
               Service::kCompute,
               "compute:admin",
               [c](Call& call) { return list_hypervisors(*c, call, true); },
               {}});
  r.push_back({"GET",
               hv + "/statistics",
               Service::kCompute,
               "compute:admin",
               [c](Call& call) -> Result<Reply> {
                 // 2.88 removed the statistics (placement has them).
                 if (call.microversion.at_least(2, 88)) return resource_not_found();
                 auto views = host_views(*c);
                 if (!views.ok()) return views.error();
                 json s = {{"count", 0},         {"vcpus", 0},
                           {"memory_mb", 0},     {"local_gb", 0},
                           {"vcpus_used", 0},    {"memory_mb_used", 0},
                           {"local_gb_used", 0}, {"free_ram_mb", 0},
                           {"free_disk_gb", 0},  {"current_workload", 0},
                           {"running_vms", 0},   {"disk_available_least", 0}};
                 for (const auto& v : *views) {
                   json h = hypervisor_json(v, true, Microversion{});
                   s["count"] = s["count"].get<int64_t>() + 1;
                   for (auto it = s.begin(); it != s.end(); ++it) {
                     if (it.key() != "count") *it = it->get<int64_t>() + h[it.key()].get<int64_t>();
                   }
                 }
                 return Reply::ok({{"hypervisor_statistics", s}});
               },
               {}});
  r.push_back({"GET",
               kCompute + "/os-hosts",
               Service::kCompute,
               "compute:admin",
               [c](Call& call) { return list_hosts(*c, call); },
               {}});
  r.push_back({"GET",
               kCompute + "/os-hosts/{host}",
               Service::kCompute,
               "compute:admin",
               [c](Call& call) { return show_host(*c, call); },
               {}});
  r.push_back({"PUT",
               kCompute + "/os-hosts/{host}",
               Service::kCompute,
               "compute:admin",
               [c](Call& call) { return update_host(*c, call); },
               {}});
  r.push_back({"GET",
               kCompute + "/os-hosts/{host}/{action}",
               Service::kCompute,
               "compute:admin",
               [c](Call& call) { return host_power_action(*c, call); },
               {}});
  r.push_back({"GET",
               hv + "/{host}/search",
               Service::kCompute,
               "compute:admin",
               [c](Call& call) { return search_hypervisors(*c, call, false); },
               {}});
  r.push_back({"GET",
               hv + "/{host}/servers",
               Service::kCompute,
               "compute:admin",
               [c](Call& call) { return search_hypervisors(*c, call, true); },
               {}});
  r.push_back({"GET",
               hv + "/{id}",
               Service::kCompute,
               "compute:admin",
               [c](Call& call) { return show_hypervisor(*c, call); },
               {}});
  r.push_back({"GET",
               hv + "/{id}/uptime",
               Service::kCompute,
               "compute:admin",
               [c](Call& call) { return hypervisor_uptime(*c, call); },
               {}});
  r.push_back({"GET",
               kCompute + "/os-services",
               Service::kCompute,
               "compute:admin",
               [c](Call& call) -> Result<Reply> {
                 auto views = host_views(*c);
                 if (!views.ok()) return views.error();
                 const auto host = call.query("host");
                 const auto binary = call.query("binary");
                 json list = json::array();
                 for (const auto& v : *views) {
                   if (host && *host != v.host.name) continue;
                   if (binary && *binary != "nova-compute") continue;
                   list.push_back(service_json(v, call.microversion));
                 }
                 return Reply::ok({{"services", list}});
               },
               {}});
  r.push_back({"PUT",
               kCompute + "/os-services/{action}",
               Service::kCompute,
               "compute:admin",
               [c](Call& call) { return service_update(*c, call); },
               {}});
  r.push_back({"GET",
               kCompute + "/os-availability-zone",
               Service::kCompute,
               "compute:read",
               [c](Call&) { return availability_zones(*c, false); },
               {}});
  r.push_back({"GET",
               kCompute + "/os-availability-zone/detail",
               Service::kCompute,
               "compute:admin",
               [c](Call&) { return availability_zones(*c, true); },
               {}});
  return r;
}

}  // namespace gpucloud::api

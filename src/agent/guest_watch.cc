// The agent's guest watch: addresses and readiness probes of its guests (guest_watch.h).
#include "agent/guest_watch.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

namespace gpucloud::agent {

using nlohmann::json;

Result<GuestWatchView> parse_guest_watch_view(const std::string& text) {
  json v = json::parse(text, nullptr, false);
  if (!v.is_object()) return Error::unavailable("server view: not a JSON object");
  GuestWatchView out;
  for (const auto& i : v.value("instances", json::array())) {
    if (!i.is_object()) continue;
    WatchedGuest g;
    g.uuid = i.value("uuid", "");
    g.status = i.value("status", "");
    g.readiness = i.value("readiness", "waiting");
    if (i.contains("service_url") && i["service_url"].is_string()) {
      g.service_url = i["service_url"].get<std::string>();
    }
    if (i.contains("firewall") && !i["firewall"].is_null()) {
      // One malformed firewall leaves that guest's as it is; the others still apply.
      auto fw = compute::firewall_from_json(i["firewall"].dump());
      if (fw.ok()) {
        g.firewall = std::move(*fw);
      } else {
        spdlog::warn("guest watch: {}: {}", g.uuid, fw.error().message);
      }
    }
    if (!g.uuid.empty()) out.guests.push_back(std::move(g));
  }
  // A server without a Cloud Controller (or one older than the guest watch) sends no settings.
  if (v.contains("probe") && v["probe"].is_object()) {
    const json& p = v["probe"];
    out.probe = true;
    out.spec.ssh_port = p.value("ssh_port", 22);
    out.spec.timeout = std::chrono::milliseconds(p.value("probe_timeout_ms", 3000));
    out.spec.verify_tls = p.value("verify_tls", false);
    out.interval = std::chrono::milliseconds(p.value("interval_ms", 0));
  }
  return out;
}

int apply_firewalls(compute::ComputeDriver& driver, const std::string& host,
                    const GuestWatchView& view, std::map<std::string, compute::Firewall>& applied) {
  std::map<std::string, compute::Firewall> still;
  int set = 0;
  for (const auto& g : view.guests) {
    if (!g.firewall) continue;
    auto last = applied.find(g.uuid);
    if (last != applied.end() && last->second == *g.firewall) {
      still[g.uuid] = last->second;
      continue;
    }
    Status s = driver.update_firewall(host, g.uuid, *g.firewall);
    if (!s.ok() && s.error().code == ErrorCode::kNotFound) {
      // No guest yet (its spawn sets the firewall) or no more (destroyed while this pass ran:
      // no filter may outlive it). Not remembered: a guest that appears gets it next pass.
      spdlog::debug("guest watch: firewall of {}: {}", g.uuid, s.error().message);
      continue;
    }
    if (!s.ok() && s.error().code != ErrorCode::kNotImplemented) {
      // Not remembered: the next pass tries again.
      spdlog::warn("guest watch: firewall of {}: {}", g.uuid, s.error().message);
      continue;
    }
    if (s.ok()) {
      spdlog::info("guest watch: firewall of {} set: {} ingress rule(s)", g.uuid,
                   g.firewall->ingress.size());
      ++set;
    }
    still[g.uuid] = *g.firewall;
  }
  applied = std::move(still);
  return set;
}

std::string guest_report(compute::ComputeDriver& driver, const std::string& host,
                         const GuestWatchView& view) {
  json guests = json::array();
  for (const auto& g : view.guests) {
    if (g.status != "ACTIVE") continue;
    auto info = driver.guest(host, g.uuid);
    if (!info.ok()) {
      spdlog::debug("guest watch: {}: {}", g.uuid, info.error().message);
      continue;  // no domain: the orphan check reports it
    }
    json one = {{"instance_uuid", g.uuid}};
    if (!info->ip_address.empty()) {
      one["ip_address"] = info->ip_address;
      one["network"] = info->network;
      one["mac_address"] = info->mac_address;
      one["address_source"] = info->address_source;
    }
    if (info->console_port > 0) {
      one["console"] = {
          {"type", info->console_type}, {"host", info->console_host}, {"port", info->console_port}};
    }
    if (view.probe && g.readiness != "ready") {
      probe::Spec spec = view.spec;
      spec.service_url = g.service_url;
      probe::Endpoint at{info->ip_address, info->forwarded_ports};
      Status s = probe::probe_guest(at, spec);
      one["probe"] = {{"ok", s.ok()}, {"error", s.ok() ? "" : s.error().message}};
    }
    guests.push_back(std::move(one));
  }
  return json{{"guests", guests}}.dump();
}

}  // namespace gpucloud::agent

// What an agent learns about its guests and the server stores: each guest's address (from
// libvirt: DHCP lease, guest agent or ARP) and, for guests not READY yet, the outcome of the
// readiness probe the agent ran — only the guest's host can reach it. The server keeps deciding
// the state: READY, waiting with the probe's error, or timed_out after the Cloud Controller's
// readiness_timeout since launch (docs/controller.md, "Who probes").
#include <spdlog/spdlog.h>

#include "api/agent_guests_impl.h"
#include "controller/controller.h"

namespace gpucloud::api {
namespace {

// The Cloud Controller's readiness options; none without one (then nobody probes).
std::optional<controller::ReadinessOptions> readiness_options(ApiContext& ctx) {
  if (!ctx.deps.controller) return std::nullopt;
  return ctx.deps.controller->settings()->readiness;
}

std::string image_service_url(ApiContext& ctx, const std::string& image_id,
                              std::map<std::string, std::string>& cache) {
  if (auto it = cache.find(image_id); it != cache.end()) return it->second;
  std::string url;
  if (auto img = ctx.store().get_image(image_id); img.ok()) {
    auto p = img->properties.find("service_url");
    if (p != img->properties.end()) url = p->second;
  }
  cache[image_id] = url;
  return url;
}

constexpr const char* kGuestsReport = "guests";

Result<ReportedAddress> address_from(const json& g, const std::string& where) {
  ReportedAddress a;
  for (auto [key, out] :
       {std::pair{"ip_address", &a.ip_address}, std::pair{"network", &a.network},
        std::pair{"mac_address", &a.mac_address}, std::pair{"address_source", &a.source}}) {
    auto v = string_field(g, key, where.c_str());
    if (!v.ok()) return v.error();
    *out = v->value_or("");
  }
  if (g.contains("console") && !g["console"].is_null()) {
    const json& c = g["console"];
    const std::string cw = where + ".console";
    if (!c.is_object()) return bad_request(cw + ": an object is required");
    if (auto s = no_extra_fields(c, cw.c_str(), {"type", "host", "port"}); !s.ok()) {
      return s.error();
    }
    for (auto [key, out] :
         {std::pair{"type", &a.console_type}, std::pair{"host", &a.console_host}}) {
      auto v = string_field(c, key, cw.c_str(), false);
      if (!v.ok()) return v.error();
      if (!*v || (*v)->empty()) return bad_request(cw + "." + key + ": required");
      *out = **v;
    }
    if (!c.contains("port") || !c["port"].is_number_integer() || c["port"].get<int64_t>() < 1 ||
        c["port"].get<int64_t>() > 65535) {
      return bad_request(cw + ".port: an integer from 1 to 65535 is required");
    }
    a.console_port = c["port"].get<int>();
  }
  return a;
}

json address_json(const ReportedAddress& a) {
  json out = {{"ip_address", a.ip_address},
              {"network", a.network},
              {"mac_address", a.mac_address},
              {"address_source", a.source}};
  if (a.console_port > 0) {
    out["console"] = {{"type", a.console_type}, {"host", a.console_host}, {"port", a.console_port}};
  }
  return out;
}

}  // namespace

json guest_view_fields(ApiContext& ctx, const store::Instance& i,
                       std::map<std::string, std::string>& service_urls) {
  json out = {{"readiness", to_string(i.readiness)}};
  const std::string url = image_service_url(ctx, i.image_id, service_urls);
  out["service_url"] = url.empty() ? json(nullptr) : json(url);
  return out;
}

json guest_probe_settings(ApiContext& ctx) {
  auto o = readiness_options(ctx);
  if (!o) return nullptr;
  return {{"ssh_port", o->ssh_port},
          {"probe_timeout_ms", o->probe_timeout.count()},
          {"interval_ms", o->interval.count()},
          {"verify_tls", o->verify_tls}};
}

// PUT {host}/guests: {"guests": [{"instance_uuid", "ip_address"?, "network"?, "mac_address"?,
// "address_source"?, "probe"?: {"ok": bool, "error"?: "..."}}]}.
Result<Reply> report_guests(ApiContext& ctx, Call& call) {
  const std::string host = call.param("host");
  if (auto h = ctx.store().get_compute_host(host); !h.ok()) return h.error();
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (!body->is_object() || !body->contains("guests") || !(*body)["guests"].is_array()) {
    return bad_request("guests: a list is required");
  }
  const auto options = readiness_options(ctx);
  // The host's addresses as last reported; a guest missing from this report keeps its address
  // while it is still a server of this host (one failed lookup must not make it flap).
  std::map<std::string, ReportedAddress> addresses = reported_addresses(ctx, host);
  const std::map<std::string, ReportedAddress> before = addresses;
  std::erase_if(addresses, [&](const auto& kv) {
    auto inst = ctx.store().get_instance(kv.first);
    return !inst.ok() || inst->host != host || inst->status == store::ServerStatus::kDeleted;
  });
  int changed = 0, probes = 0;
  json skipped = json::array();
  const json& guests = (*body)["guests"];
  for (size_t k = 0; k < guests.size(); ++k) {
    const std::string where = "guests[" + std::to_string(k) + "]";
    const json& g = guests[k];
    if (!g.is_object()) return bad_request(where + ": an object is required");
    if (auto s = no_extra_fields(g, where.c_str(),
                                 {"instance_uuid", "ip_address", "network", "mac_address",
                                  "address_source", "probe", "console"});
        !s.ok())
      return s.error();
    auto uuid = string_field(g, "instance_uuid", where.c_str(), false);
    if (!uuid.ok()) return uuid.error();
    if (!*uuid || (*uuid)->empty()) return bad_request(where + ".instance_uuid: required");
    auto address = address_from(g, where);
    if (!address.ok()) return address.error();
    std::optional<Status> outcome;
    if (g.contains("probe") && !g["probe"].is_null()) {
      const json& p = g["probe"];
      const std::string pw = where + ".probe";
      if (!p.is_object() || !p.contains("ok") || !p["ok"].is_boolean()) {
        return bad_request(pw + ".ok: a boolean is required");
      }
      auto error = string_field(p, "error", pw.c_str());
      if (!error.ok()) return error.error();
      if (p["ok"].get<bool>()) {
        outcome = Status{};
      } else {
        const std::string why = error->value_or("");
        outcome = Status(Error::unavailable(why.empty() ? "the probe failed" : why));
      }
    }
    auto inst = ctx.store().get_instance(**uuid);
    if (!inst.ok() || inst->host != host || inst->status == store::ServerStatus::kDeleted) {
      // A guest the server does not place on this host: the orphan check's business.
      skipped.push_back({{"instance_uuid", **uuid}, {"reason", "not a server of this host"}});
      continue;
    }
    if (!address->ip_address.empty() || address->console_port > 0) {
      ReportedAddress merged = *address;
      auto old = before.find(**uuid);
      if (old != before.end()) {
        // Either part may be missing from one report (an address lookup failed): keep the last.
        if (merged.ip_address.empty()) {
          merged.ip_address = old->second.ip_address;
          merged.network = old->second.network;
          merged.mac_address = old->second.mac_address;
          merged.source = old->second.source;
        }
        if (merged.console_port == 0) {
          merged.console_type = old->second.console_type;
          merged.console_host = old->second.console_host;
          merged.console_port = old->second.console_port;
        }
      }
      if (!merged.ip_address.empty() && merged.ip_address != inst->ip_address) {
        // Remote-group rules match a guest by this address (store ingress_rules).
        if (auto s = ctx.store().set_instance_address(inst->uuid, merged.ip_address); !s.ok()) {
          return s.error();
        }
      }
      if (old == before.end() || address_json(old->second) != address_json(merged)) {
        spdlog::info("host {}: instance {} has address {} ({}, {}), console {}:{}", host, **uuid,
                     merged.ip_address, merged.network, merged.source, merged.console_host,
                     merged.console_port);
        ++changed;
      }
      addresses[**uuid] = merged;
    }
    if (outcome && options && inst->status == store::ServerStatus::kActive) {
      if (auto s = controller::record_probe(ctx.store(), *inst, *outcome, *options); !s.ok()) {
        return s.error();
      }
      ++probes;
    }
  }
  if (changed > 0 || addresses.size() != before.size()) {
    json all = json::object();
    for (const auto& [uuid, a] : addresses) all[uuid] = address_json(a);
    store::AgentReport r{host, kGuestsReport, json{{"guests", all}}.dump(),
                         std::chrono::system_clock::now()};
    if (auto s = ctx.store().put_agent_report(r); !s.ok()) return s.error();
  }
  return Reply::ok({{"addresses_changed", changed}, {"probes", probes}, {"skipped", skipped}});
}

std::map<std::string, ReportedAddress> reported_addresses(ApiContext& ctx,
                                                          const std::string& host) {
  std::map<std::string, ReportedAddress> out;
  auto reports = ctx.store().list_agent_reports(host);
  if (!reports.ok()) return out;  // addresses are shown without their network names then
  for (const auto& r : *reports) {
    if (r.kind != kGuestsReport) continue;
    json j = json::parse(r.report, nullptr, false);
    if (!j.is_object() || !j.contains("guests") || !j["guests"].is_object()) continue;
    for (auto it = j["guests"].begin(); it != j["guests"].end(); ++it) {
      if (!it->is_object()) continue;
      ReportedAddress a;
      a.ip_address = it->value("ip_address", "");
      a.network = it->value("network", "");
      a.mac_address = it->value("mac_address", "");
      a.source = it->value("address_source", "");
      if (auto c = it->find("console"); c != it->end() && c->is_object()) {
        a.console_type = c->value("type", "");
        a.console_host = c->value("host", "");
        a.console_port = c->value("port", 0);
      }
      out[it.key()] = std::move(a);
    }
  }
  return out;
}

}  // namespace gpucloud::api

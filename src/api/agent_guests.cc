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
  return a;
}

json address_json(const ReportedAddress& a) {
  return {{"ip_address", a.ip_address},
          {"network", a.network},
          {"mac_address", a.mac_address},
          {"address_source", a.source}};
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
    if (auto s = no_extra_fields(
            g, where.c_str(),
            {"instance_uuid", "ip_address", "network", "mac_address", "address_source", "probe"});
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
    if (!address->ip_address.empty()) {
      auto old = before.find(**uuid);
      if (old == before.end() || address_json(old->second) != address_json(*address)) {
        spdlog::info("host {}: instance {} has address {} ({}, {})", host, **uuid,
                     address->ip_address, address->network, address->source);
        ++changed;
      }
      addresses[**uuid] = *address;
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
      out[it.key()] = {it->value("ip_address", ""), it->value("network", ""),
                       it->value("mac_address", ""), it->value("address_source", "")};
    }
  }
  return out;
}

}  // namespace gpucloud::api

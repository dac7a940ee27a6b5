// Internal to api/: the agent routes' part about guests (agent_guests.cc): what the host view
// tells an agent about each guest and about probing, and the agent's report of its guests.
#pragma once

#include <map>
#include <string>

#include "api/compute_impl.h"

namespace gpucloud::api {

// Per instance in GET {host}/view: "readiness" (its state) and "service_url" (its image's, or
// null: the ssh banner is probed). `service_urls` caches images across one view.
json guest_view_fields(ApiContext& ctx, const store::Instance& i,
                       std::map<std::string, std::string>& service_urls);
// "probe" in GET {host}/view: how agents probe ({"ssh_port", "probe_timeout_ms", "interval_ms",
// "verify_tls"}), or null when the server has no Cloud Controller (then nobody probes).
json guest_probe_settings(ApiContext& ctx);
// PUT {host}/guests.
Result<Reply> report_guests(ApiContext& ctx, Call& call);

// A guest's address and console as the agent of its host last reported it. The reports are kept as
// each host's `guests` agent report (store::AgentReport), rewritten only when an address changes.
struct ReportedAddress {
  std::string ip_address;
  std::string network;  // the libvirt network's name; "" when the hypervisor has none
  std::string mac_address;
  std::string source;  // "lease", "agent", "arp", "fake"
  // The guest's console as its host reports it (compute::DomainInfo); console_port 0: none.
  std::string console_type;
  std::string console_host;
  int console_port = 0;
};
// By instance uuid; the reports of every host, or of `host` only.
std::map<std::string, ReportedAddress> reported_addresses(ApiContext& ctx,
                                                          const std::string& host = "");

}  // namespace gpucloud::api

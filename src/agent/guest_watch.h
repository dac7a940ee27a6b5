// Private to agent/: what the agent tells the server about its guests every --guest-interval:
// each ACTIVE guest's address as the driver reads it (libvirt: DHCP lease, guest agent, ARP) and,
// while the server has not seen it READY, one readiness probe of it (ssh banner or the image's
// service_url). Only the host reaches its guests' networks, so the agent probes and the server
// decides the state (docs/controller.md, "Who probes").
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compute/compute.h"
#include "core/core.h"
#include "probe/probe.h"

namespace gpucloud::agent {

struct WatchedGuest {
  std::string uuid;
  std::string status;     // the server's: ACTIVE, BUILD, ...
  std::string readiness;  // "waiting", "ready", "timed_out"
  std::string service_url;
  // What its security groups let in (docs/security_groups.md); nullopt: the server manages no
  // firewall for it (a server from before security groups), or the one sent was malformed.
  std::optional<compute::Firewall> firewall;
};

// The parts of GET {host}/view the guest watch uses.
struct GuestWatchView {
  std::vector<WatchedGuest> guests;
  bool probe = false;  // the server has a Cloud Controller: probe what is not READY
  probe::Spec spec;    // ssh port, timeout, TLS checking (service_url is per guest)
  std::chrono::milliseconds interval{0};  // the server's readiness_interval; 0: not given
};
Result<GuestWatchView> parse_guest_watch_view(const std::string& view_json);

// Sets each guest's firewall that differs from what `applied` says was set last (all of them
// after an agent restart), and forgets guests no longer in the view. Returns how many were set.
int apply_firewalls(compute::ComputeDriver& driver, const std::string& host,
                    const GuestWatchView& view, std::map<std::string, compute::Firewall>& applied);

// The body of PUT {host}/guests for one pass over `view` (probes run here, one after another).
std::string guest_report(compute::ComputeDriver& driver, const std::string& host,
                         const GuestWatchView& view);

}  // namespace gpucloud::agent

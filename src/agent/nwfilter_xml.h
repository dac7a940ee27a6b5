// Private to agent/: a guest's firewall (compute::Firewall, from its server's security groups) as
// a libvirt nwfilter, which the guest's NIC references (docs/security_groups.md).
#pragma once

#include <string>
#include <vector>

#include "compute/compute.h"

namespace gpucloud::agent {

// "gpucloud-<uuid>": one filter per guest, named after its instance.
std::string nwfilter_name(const std::string& instance_uuid);

// The filter: DHCP replies and IPv6 neighbour discovery in, each ingress rule as a stateful
// accept of traffic to the guest, everything from the guest accepted (its replies come back
// through connection tracking), and everything else to the guest dropped. Every value in it
// was checked by firewall_from_json (protocols from a fixed set, integers, parsed CIDRs).
// `filter_uuid`: the existing filter's own UUID when it is redefined (libvirt refuses a filter of
// an existing name without it); "" for a new one. `host_addresses`: the host's own addresses on
// the guest's network (the libvirt network's gateway): they may always reach the guest (the
// agent's readiness probes come from there), and no guest may send from them.
std::string nwfilter_xml(const std::string& instance_uuid, const compute::Firewall& firewall,
                         const std::string& filter_uuid = "",
                         const std::vector<std::string>& host_addresses = {});

}  // namespace gpucloud::agent

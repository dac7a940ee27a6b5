// Private to agent/: the guest's firewall read back from the nwfilter that nwfilter_xml wrote
// (the libvirt driver's firewall(): what the host enforces now, for an operator or a test to
// compare with what the server wants).
#pragma once

#include <string>

#include "compute/compute.h"
#include "core/core.h"

namespace gpucloud::agent {

// The ingress rules of a gpucloud filter, as libvirt gives it back (virNWFilterGetXMLDesc):
// its accept rules to the guest at the group rules' priority, in order. The rules the filter
// always has (DHCP, neighbour discovery, the host, everything out, the final drop) are not
// part of the firewall and are left out. A tcp/udp rule's one port reads back as from_port ==
// to_port, as nwfilter_xml writes it. A filter that is not one of ours (a rule at that priority
// with an element or attribute nwfilter_xml never writes) is kInvalidArgument naming the rule.
Result<compute::Firewall> firewall_from_nwfilter_xml(const std::string& xml);

}  // namespace gpucloud::agent

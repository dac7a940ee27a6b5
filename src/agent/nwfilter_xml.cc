// nwfilter_xml: a guest's firewall as libvirt's nwfilter XML
// (https://libvirt.org/formatnwfilter.html).
//
// Why it is written this way:
// - direction='in' is traffic to the guest, 'out' traffic from it.
// - The tcp, udp, icmp and all elements (and their -ipv6 forms) become iptables/ip6tables rules,
//   and libvirt makes those stateful by default: an accepted 'in' rule also lets the replies out,
//   and the accepted 'out' rule lets the replies to the guest's own connections back in. That is
//   nova's rule: a security group lists what may come in; what the guest starts is answered.
// - Lower priorities run first: a guest posing as its host dropped (50), DHCP and neighbour
//   discovery (100), the host itself (150), the group rules (200), the guest's own traffic
//   (500), then the drop of everything else in (1000).
// - ARP is not IP and is left alone (the iptables layer never sees it).
#include "agent/nwfilter_xml.h"

#include <fmt/format.h>

#include "agent/domain_spec.h"

namespace gpucloud::agent {
namespace {

std::string rule(const char* action, const char* direction, int priority,
                 const std::string& match) {
  return fmt::format(
      "  <rule action='{}' direction='{}' priority='{}'>\n"
      "    <{}/>\n"
      "  </rule>\n",
      action, direction, priority, match);
}

// One ingress rule's match: the element of its protocol and address family, its source network,
// and its ports (tcp/udp) or type and code (icmp) when given.
std::string ingress_match(const compute::FirewallRule& r) {
  auto cidr = parse_cidr(r.cidr);
  const bool v6 = cidr.ok() && cidr->ipv6;
  std::string element;
  if (r.protocol == "tcp" || r.protocol == "udp") {
    element = r.protocol + (v6 ? "-ipv6" : "");
  } else if (r.protocol == "icmp") {
    element = v6 ? "icmpv6" : "icmp";
  } else {
    element = v6 ? "all-ipv6" : "all";
  }
  std::string m = element;
  if (cidr.ok()) {
    m += fmt::format(" srcipaddr='{}' srcipmask='{}'", xml_escape(cidr->address), cidr->prefix);
  }
  if ((r.protocol == "tcp" || r.protocol == "udp") && r.from_port >= 0) {
    m += fmt::format(" dstportstart='{}' dstportend='{}'", r.from_port,
                     r.to_port >= 0 ? r.to_port : r.from_port);
  }
  if (r.protocol == "icmp") {
    if (r.from_port >= 0) m += fmt::format(" type='{}'", r.from_port);
    if (r.to_port >= 0) m += fmt::format(" code='{}'", r.to_port);
  }
  return m;
}

}  // namespace

std::string nwfilter_name(const std::string& instance_uuid) { return "gpucloud-" + instance_uuid; }

std::string nwfilter_xml(const std::string& instance_uuid, const compute::Firewall& firewall,
                         const std::string& filter_uuid,
                         const std::vector<std::string>& host_addresses) {
  std::string x =
      fmt::format("<filter name='{}' chain='root'>\n", xml_escape(nwfilter_name(instance_uuid)));
  if (!filter_uuid.empty()) x += fmt::format("  <uuid>{}</uuid>\n", xml_escape(filter_uuid));
  // The guest's address comes from the network's DHCP server; IPv6 needs neighbour discovery
  // (router advertisement 134, neighbour solicitation 135 and advertisement 136).
  x += rule("accept", "in", 100, "udp srcportstart='67' dstportstart='68'");
  x += rule("accept", "in", 100, "udp-ipv6 srcportstart='547' dstportstart='546'");
  for (int type : {134, 135, 136}) {
    x += rule("accept", "in", 100, fmt::format("icmpv6 type='{}'", type));
  }
  // The host itself: nwfilter filters what the host sends to its guests too, and the agent's
  // readiness probes (ssh banner, service_url) come from the host's address on the network. So
  // that no guest can borrow that trust, a packet from a guest claiming the host's address is
  // dropped first.
  for (const auto& a : host_addresses) {
    auto cidr = parse_cidr(a);
    if (!cidr.ok()) continue;
    const std::string all = cidr->ipv6 ? "all-ipv6" : "all";
    const std::string match = fmt::format("{} srcipaddr='{}'", all, xml_escape(cidr->address));
    x += rule("drop", "out", 50, match);
    x += rule("accept", "in", 150, match);
  }
  for (const auto& r : firewall.ingress) x += rule("accept", "in", 200, ingress_match(r));
  x += rule("accept", "out", 500, "all");
  x += rule("accept", "out", 500, "all-ipv6");
  x += rule("drop", "in", 1000, "all");
  x += rule("drop", "in", 1000, "all-ipv6");
  x += "</filter>\n";
  return x;
}

}  // namespace gpucloud::agent

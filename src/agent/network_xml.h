// What the agent reads from and writes into the guests' libvirt network (its XML): the IPv4
// network the host reports (os-networks), and the DHCP host entries that keep reserved fixed
// IPs (os-fixed-ips reserve) from guests (docs/networks.md).
#pragma once

#include <string>
#include <vector>

namespace gpucloud::agent {

// The IPv4 network of a libvirt network XML's first IPv4 <ip address=... prefix|netmask=...>,
// host bits cleared ("192.168.122.0/24"); "" when it has none.
std::string network_ipv4_cidr(const std::string& network_xml);

// A reserved address is a DHCP host entry for a MAC no NIC has: 02:67:63 (locally administered,
// "gc") and the address's last three bytes, so that dnsmasq never leases it to a guest.
std::string reservation_host_xml(const std::string& address);

// The <host> entries (as reservation_host_xml writes them) to add and to delete so that the
// network's gpucloud reservations are `addresses`: those outside the network's IPv4 range are
// left out (libvirt refuses them), other <host> entries are not touched.
struct ReservationChanges {
  std::vector<std::string> add, remove;
};
ReservationChanges reservation_changes(const std::string& network_xml,
                                       const std::vector<std::string>& addresses);

}  // namespace gpucloud::agent

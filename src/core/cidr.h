// An IP network as security group rules name it ("10.2.3.124/24", "0.0.0.0/0", "2001:db8::/64").
// The API checks a rule's cidr with it and the agent turns it into firewall matches.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace gpucloud {

struct Cidr {
  bool ipv6 = false;
  std::string address;  // as written ("10.2.3.124"): nova keeps host bits, and so do we
  int prefix = 0;       // 0..32 or 0..128
};

// Refuses anything but "<IPv4>/<0-32>" or "<IPv6>/<0-128>"; a bare address is a /32 or /128
// (nova accepts it so). The message says what is wrong, without a field name.
Result<Cidr> parse_cidr(std::string_view text);

// An IPv4 network as the addresses it holds: its network bits and mask, host byte order. Guest
// networks are ranges of this kind (a host's report, a libvirt network; docs/networks.md).
struct Ipv4Range {
  uint32_t network = 0;
  uint32_t mask = 0;
  bool contains(std::string_view address) const;  // false for anything but an IPv4 address
  std::string netmask() const;                    // "255.255.255.0"
  std::string text() const;                       // "10.2.0.0/24"
};
// "10.2.3.4/24" as {10.2.0.0, 255.255.255.0} (host bits cleared); nullopt for an IPv6 CIDR or
// anything parse_cidr refuses.
std::optional<Ipv4Range> ipv4_range(std::string_view cidr);

}  // namespace gpucloud

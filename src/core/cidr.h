// An IP network as security group rules name it ("10.2.3.124/24", "0.0.0.0/0", "2001:db8::/64").
// The API checks a rule's cidr with it and the agent turns it into firewall matches.
#pragma once

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

}  // namespace gpucloud

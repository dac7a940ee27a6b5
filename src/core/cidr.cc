#include "core/cidr.h"

#include <arpa/inet.h>

#include <bit>
#include <charconv>

namespace gpucloud {
namespace {

std::optional<uint32_t> ipv4_bits(std::string_view text) {
  in_addr a{};
  if (::inet_pton(AF_INET, std::string(text).c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

std::string ipv4_text(uint32_t bits) {
  in_addr a{};
  a.s_addr = htonl(bits);
  char out[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &a, out, sizeof out);
  return out;
}

}  // namespace

Result<Cidr> parse_cidr(std::string_view text) {
  const auto bad = [&] {
    return Error::invalid("'" + std::string(text) + "' is not a CIDR (such as 10.0.0.0/24)");
  };
  Cidr c;
  const size_t slash = text.find('/');
  c.address = std::string(text.substr(0, slash));
  unsigned char buf[16];
  if (::inet_pton(AF_INET, c.address.c_str(), buf) == 1) {
    c.ipv6 = false;
  } else if (::inet_pton(AF_INET6, c.address.c_str(), buf) == 1) {
    c.ipv6 = true;
  } else {
    return bad();
  }
  const int max = c.ipv6 ? 128 : 32;
  c.prefix = max;
  if (slash != std::string_view::npos) {
    std::string_view p = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), c.prefix);
    if (p.empty() || ec != std::errc() || end != p.data() + p.size() || c.prefix < 0 ||
        c.prefix > max) {
      return bad();
    }
  }
  return c;
}

std::optional<Ipv4Range> ipv4_range(std::string_view cidr) {
  auto c = parse_cidr(cidr);
  if (!c.ok() || c->ipv6) return std::nullopt;
  const auto bits = ipv4_bits(c->address);
  if (!bits) return std::nullopt;
  const uint32_t mask = c->prefix == 0 ? 0 : ~uint32_t{0} << (32 - c->prefix);
  return Ipv4Range{*bits & mask, mask};
}

bool Ipv4Range::contains(std::string_view address) const {
  const auto bits = ipv4_bits(address);
  return bits && (*bits & mask) == network;
}

std::string Ipv4Range::netmask() const { return ipv4_text(mask); }

std::string Ipv4Range::text() const {
  return ipv4_text(network) + "/" + std::to_string(std::popcount(mask));
}

}  // namespace gpucloud

#include "core/cidr.h"

#include <arpa/inet.h>

#include <charconv>

namespace gpucloud {

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

}  // namespace gpucloud

#include "agent/network_xml.h"

#include <arpa/inet.h>

#include <bit>
#include <cstdint>
#include <cstdio>
#include <regex>
#include <set>

#include "core/cidr.h"

namespace gpucloud::agent {
namespace {

const std::string kReservedMacPrefix = "02:67:63:";

bool parse_ipv4(const std::string& text, uint32_t& out) {
  in_addr a{};
  if (inet_pton(AF_INET, text.c_str(), &a) != 1) return false;
  out = ntohl(a.s_addr);
  return true;
}

}  // namespace

std::string network_ipv4_cidr(const std::string& xml) {
  static const std::regex kIp(R"(<ip\b([^>]*)>)");
  static const std::regex kAddress(R"(\baddress=['"]([0-9.]+)['"])");
  static const std::regex kPrefix(R"(\bprefix=['"]([0-9]+)['"])");
  static const std::regex kNetmask(R"(\bnetmask=['"]([0-9.]+)['"])");
  for (std::sregex_iterator it(xml.begin(), xml.end(), kIp), end; it != end; ++it) {
    const std::string attrs = (*it)[1];
    std::smatch a, p, m;
    if (!std::regex_search(attrs, a, kAddress)) continue;  // IPv6
    std::string prefix = "24";  // libvirt's default for a class C address without either attribute
    uint32_t mask = 0;
    if (std::regex_search(attrs, p, kPrefix)) {
      prefix = p[1].str();
    } else if (std::regex_search(attrs, m, kNetmask) && parse_ipv4(m[1].str(), mask)) {
      prefix = std::to_string(std::popcount(mask));
    }
    if (auto range = ipv4_range(a[1].str() + "/" + prefix)) return range->text();
  }
  return "";
}

std::string reservation_host_xml(const std::string& address) {
  uint32_t a = 0;
  (void)parse_ipv4(address, a);
  char mac[32];
  std::snprintf(mac, sizeof mac, "%s%02x:%02x:%02x", kReservedMacPrefix.c_str(), (a >> 16) & 255,
                (a >> 8) & 255, a & 255);
  // No name: libvirt refuses a second entry with the same name, and the MAC says what it is.
  return "<host mac='" + std::string(mac) + "' ip='" + address + "'/>";
}

ReservationChanges reservation_changes(const std::string& xml,
                                       const std::vector<std::string>& addresses) {
  ReservationChanges out;
  const auto range = ipv4_range(network_ipv4_cidr(xml));
  if (!range) return out;
  std::set<std::string> wanted;
  for (const auto& a : addresses) {
    if (range->contains(a)) wanted.insert(a);
  }
  // The entries gpucloud made before: a <host> whose MAC has the reserved prefix.
  static const std::regex kHost(R"(<host\b([^>]*)/?>)");
  static const std::regex kMac(R"(\bmac=['"]([0-9A-Fa-f:]+)['"])");
  static const std::regex kIp(R"(\bip=['"]([0-9.]+)['"])");
  std::set<std::string> present;
  for (std::sregex_iterator it(xml.begin(), xml.end(), kHost), end; it != end; ++it) {
    const std::string attrs = (*it)[1];
    std::smatch mac, ip;
    if (!std::regex_search(attrs, mac, kMac) || !std::regex_search(attrs, ip, kIp)) continue;
    if (mac[1].str().rfind(kReservedMacPrefix, 0) != 0) continue;
    present.insert(ip[1].str());
  }
  for (const auto& a : wanted) {
    if (!present.count(a)) out.add.push_back(reservation_host_xml(a));
  }
  for (const auto& a : present) {
    if (!wanted.count(a)) out.remove.push_back(reservation_host_xml(a));
  }
  return out;
}

}  // namespace gpucloud::agent

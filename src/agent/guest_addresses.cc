// Guest addresses through virDomainInterfaceAddresses: lease, guest agent, ARP (see the header).
#include "agent/guest_addresses.h"

#include <arpa/inet.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <regex>

namespace gpucloud::agent {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// An address a probe can use: IPv4, not 0.0.0.0, loopback (the agent reports `lo`) or
// link-local (169.254/16: a guest that found no DHCP server).
bool usable_ipv4(const std::string& ip) {
  in_addr a{};
  if (::inet_pton(AF_INET, ip.c_str(), &a) != 1) return false;
  const uint32_t v = ntohl(a.s_addr);
  if (v == 0) return false;
  if ((v >> 24) == 127) return false;
  if ((v >> 16) == 0xa9fe) return false;
  return true;
}

std::string attr(const std::string& element, const char* name) {
  const std::regex re(std::string(name) + R"(=['"]([^'"]*)['"])");
  std::smatch m;
  return std::regex_search(element, m, re) ? m[1].str() : "";
}

}  // namespace

const char* to_string(AddressSource s) {
  switch (s) {
    case AddressSource::kLease:
      return "lease";
    case AddressSource::kAgent:
      return "agent";
    case AddressSource::kArp:
      return "arp";
  }
  return "lease";
}

std::vector<DomainNic> domain_nics(const std::string& xml) {
  static const std::regex kInterface(R"(<interface\b([^>]*)>([\s\S]*?)</interface>)");
  static const std::regex kMac(R"(<mac\b[^>]*/>)");
  static const std::regex kSource(R"(<source\b[^>]*/?>)");
  std::vector<DomainNic> out;
  for (std::sregex_iterator it(xml.begin(), xml.end(), kInterface), end; it != end; ++it) {
    DomainNic nic;
    nic.type = attr((*it)[1].str(), "type");
    const std::string body = (*it)[2].str();
    std::smatch m;
    if (std::regex_search(body, m, kMac)) nic.mac = lower(attr(m[0].str(), "address"));
    if (std::regex_search(body, m, kSource)) nic.network = attr(m[0].str(), "network");
    out.push_back(std::move(nic));
  }
  return out;
}

bool has_guest_agent_channel(const std::string& xml) {
  return xml.find("org.qemu.guest_agent.0") != std::string::npos;
}

std::optional<GuestAddress> pick_address(const std::vector<InterfaceAddresses>& answer,
                                         const std::vector<DomainNic>& nics, AddressSource source) {
  for (const auto& iface : answer) {
    const DomainNic* nic = nullptr;
    const std::string mac = lower(iface.mac);
    for (const auto& n : nics) {
      if (!mac.empty() && n.mac == mac) nic = &n;
    }
    if (!nic && mac.empty() && nics.size() == 1) nic = &nics.front();
    if (!nic) continue;  // the guest's loopback, a bridge inside the guest, another domain's MAC
    for (const auto& ip : iface.ipv4) {
      if (usable_ipv4(ip)) return GuestAddress{ip, nic->mac, nic->network, source};
    }
  }
  return std::nullopt;
}

Result<GuestAddress> find_guest_address(const std::string& xml, const AddressQuery& query) {
  const auto nics = domain_nics(xml);
  if (nics.empty()) return Error::not_found("the domain has no network interface");
  std::vector<AddressSource> order = {AddressSource::kLease};
  if (has_guest_agent_channel(xml)) order.push_back(AddressSource::kAgent);
  order.push_back(AddressSource::kArp);
  std::string tried;
  for (AddressSource s : order) {
    auto answer = query(s);
    if (answer.ok()) {
      if (auto found = pick_address(*answer, nics, s)) return *found;
    }
    if (!tried.empty()) tried += "; ";
    tried += std::string(to_string(s)) + ": " + (answer.ok() ? "none" : answer.error().message);
  }
  return Error::not_found("no address yet (" + tried + ")");
}

AddressQuery libvirt_address_query(_virDomain* dom, int agent_timeout_s) {
  return [dom, agent_timeout_s](AddressSource s) -> Result<std::vector<InterfaceAddresses>> {
    unsigned int which = VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE;
    if (s == AddressSource::kAgent) {
      which = VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT;
      // Not every driver has it (the test driver does not); the default wait then applies.
      virDomainAgentSetResponseTimeout(dom, agent_timeout_s, 0);
    } else if (s == AddressSource::kArp) {
      which = VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP;
    }
    virDomainInterfacePtr* ifaces = nullptr;
    const int n = virDomainInterfaceAddresses(dom, &ifaces, which, 0);
    if (n < 0) {
      const char* m = virGetLastErrorMessage();
      return Error::unavailable(m ? m : "unknown libvirt error");
    }
    std::vector<InterfaceAddresses> out;
    for (int i = 0; i < n; ++i) {
      InterfaceAddresses a;
      if (ifaces[i]->name) a.name = ifaces[i]->name;
      if (ifaces[i]->hwaddr) a.mac = lower(ifaces[i]->hwaddr);
      for (unsigned int k = 0; k < ifaces[i]->naddrs; ++k) {
        const auto& addr = ifaces[i]->addrs[k];
        if (addr.type == VIR_IP_ADDR_TYPE_IPV4 && addr.addr) a.ipv4.push_back(addr.addr);
      }
      out.push_back(std::move(a));
      virDomainInterfaceFree(ifaces[i]);
    }
    free(ifaces);
    return out;
  };
}

}  // namespace gpucloud::agent

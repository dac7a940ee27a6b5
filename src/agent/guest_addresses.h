// A libvirt guest's IPv4 address, read as `virsh domifaddr` and nova read it
// (virDomainInterfaceAddresses), from three sources in turn: the DHCP lease libvirt's network
// handed out, then the QEMU guest agent (only for a domain that has its channel, which
// hw_qemu_guest_agent=yes gives), then the host's ARP table. The choice among the answers is a
// pure function, tested on recorded answers; the libvirt query is one small function.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/core.h"

struct _virDomain;  // libvirt's virDomainPtr, kept out of the agent's other headers

namespace gpucloud::agent {

enum class AddressSource { kLease, kAgent, kArp };
const char* to_string(AddressSource s);  // "lease", "agent", "arp"

// One interface of libvirt's answer (virDomainInterface).
struct InterfaceAddresses {
  std::string name;  // host tap device (lease, arp) or the guest's own name (agent)
  std::string mac;   // lower case; may be empty
  std::vector<std::string> ipv4;
};

// A NIC of the domain definition: its MAC and the libvirt network it is plugged into.
struct DomainNic {
  std::string mac;
  std::string network;  // <source network='...'/>; "" for other interface types
  std::string type;     // "network", "bridge", "user", ...
};
std::vector<DomainNic> domain_nics(const std::string& domain_xml);
// Whether the domain has the guest agent's virtio channel (org.qemu.guest_agent.0).
bool has_guest_agent_channel(const std::string& domain_xml);

struct GuestAddress {
  std::string ip;
  std::string mac;
  std::string network;
  AddressSource source = AddressSource::kLease;
};

// The first usable IPv4 address (not loopback, link-local or 0.0.0.0) of an interface whose MAC
// is one of the domain's NICs; an interface without a MAC counts when the domain has one NIC.
std::optional<GuestAddress> pick_address(const std::vector<InterfaceAddresses>& answer,
                                         const std::vector<DomainNic>& nics, AddressSource source);

// libvirt's answer for one source; errors are the source's own ("QEMU guest agent is not
// connected").
using AddressQuery = std::function<Result<std::vector<InterfaceAddresses>>(AddressSource)>;

// Asks lease, agent (only when the domain has its channel) and arp in turn; the first usable
// address wins. kNotFound saying what each source gave when none has one yet.
Result<GuestAddress> find_guest_address(const std::string& domain_xml, const AddressQuery& query);

// The query over a live domain. The guest agent's answer is awaited at most `agent_timeout_s`
// seconds (virDomainAgentSetResponseTimeout), so a hung agent cannot stall the caller.
AddressQuery libvirt_address_query(_virDomain* domain, int agent_timeout_s = 2);

}  // namespace gpucloud::agent

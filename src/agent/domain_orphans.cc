// find_orphans: set comparisons keyed by instance uuid and PCI address.
#include "agent/domain_orphans.h"

#include <map>
#include <set>

#include "agent/domain_spec.h"

namespace gpucloud::agent {
namespace {

bool ours(const compute::DomainInfo& d) { return d.name == domain_name(d.instance_uuid); }

}  // namespace

OrphanReport find_orphans(const std::vector<compute::DomainInfo>& domains,
                          const std::vector<store::Instance>& instances,
                          const std::vector<store::PciDeviceRecord>& devices) {
  OrphanReport r;
  std::map<std::string, const compute::DomainInfo*> by_uuid;
  for (const auto& d : domains) {
    if (ours(d)) by_uuid[d.instance_uuid] = &d;
  }
  std::map<std::string, const store::Instance*> live;
  std::set<std::string> building;
  for (const auto& i : instances) {
    if (i.status == store::ServerStatus::kDeleted || i.deleted_at) continue;
    // A shelved server on a host is being unshelved: its guest may not exist yet.
    if (i.status == store::ServerStatus::kBuild ||
        i.status == store::ServerStatus::kShelvedOffloaded) {
      building.insert(i.uuid);
    }
    live[i.uuid] = &i;
  }
  for (const auto& [uuid, d] : by_uuid) {
    if (!live.count(uuid)) r.orphan_domains.push_back(*d);
  }
  for (const auto& [uuid, i] : live) {
    if (!by_uuid.count(uuid) && !building.count(uuid)) r.missing_domains.push_back(uuid);
  }
  // Claimed or allocated rows, by address: which instance the server says holds each device.
  std::map<PciAddress, std::string> claimed_for;
  for (const auto& dev : devices) {
    bool held = dev.status == store::PciDeviceStatus::kClaimed ||
                dev.status == store::PciDeviceStatus::kAllocated;
    if (!held || !dev.instance_uuid || dev.deleted != 0) continue;
    claimed_for[dev.address] = *dev.instance_uuid;
    if (building.count(*dev.instance_uuid)) continue;
    auto it = by_uuid.find(*dev.instance_uuid);
    bool used = false;
    if (it != by_uuid.end()) {
      for (const auto& a : it->second->pci_devices) used = used || a == dev.address;
    }
    if (!used) r.leaked_claims.push_back({dev.address, *dev.instance_uuid});
  }
  for (const auto& d : domains) {
    for (const auto& a : d.pci_devices) {
      auto it = claimed_for.find(a);
      if (it == claimed_for.end() || it->second != d.instance_uuid) {
        r.unclaimed_uses.push_back({a, d.name});
      }
    }
  }
  return r;
}

}  // namespace gpucloud::agent

// The agent's reconciliation check: libvirt's domains and their hostdevs against the server's
// view of this host (its instances and PCI device claims). A pure function, so the agent can run
// it on start and periodically and decide separately whether to report or repair.
#pragma once

#include <string>
#include <vector>

#include "compute/compute.h"
#include "core/core.h"
#include "store/store.h"

namespace gpucloud::agent {

struct OrphanReport {
  // gpucloud domains (instance-<uuid>) for which the server has no live instance on this host.
  std::vector<compute::DomainInfo> orphan_domains;
  // Live instances (ACTIVE, SHUTOFF, ERROR with a host) on this host without a domain.
  std::vector<std::string> missing_domains;
  // Claims the server holds for an instance whose domain does not pass the device through (or
  // that has no domain): devices nobody uses but nobody else can get.
  struct LeakedClaim {
    PciAddress address;
    std::string instance_uuid;
  };
  std::vector<LeakedClaim> leaked_claims;
  // Devices a domain passes through that the server has not claimed for that instance.
  struct UnclaimedUse {
    PciAddress address;
    std::string domain;
  };
  std::vector<UnclaimedUse> unclaimed_uses;

  bool clean() const {
    return orphan_domains.empty() && missing_domains.empty() && leaked_claims.empty() &&
           unclaimed_uses.empty();
  }
};

// `instances`: the server's instances with host == this host; `devices`: this host's PCI rows.
// Domains not named instance-<uuid> are not gpucloud's: never orphans, but their hostdevs
// count as unclaimed uses (a device the server may hand out is taken). Instances still
// building (no domain yet) are neither missing nor leaking.
OrphanReport find_orphans(const std::vector<compute::DomainInfo>& domains,
                          const std::vector<store::Instance>& instances,
                          const std::vector<store::PciDeviceRecord>& devices);

}  // namespace gpucloud::agent

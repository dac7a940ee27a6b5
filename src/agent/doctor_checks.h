// The host doctor's per-device checks, private to the agent module (host_doctor.cc runs them).
#pragma once

#include <vector>

#include "agent/host_doctor.h"

namespace gpucloud::agent {

// Appends the findings for one allowed device: IOMMU group, driver, reset, large BARs.
void check_allowed_device(const DiscoveredDevice& device, const HostSnapshot& snapshot,
                          std::vector<Finding>& findings);

}  // namespace gpucloud::agent

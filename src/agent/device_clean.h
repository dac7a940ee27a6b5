// Cleaning a GPU between tenants on its host (docs/cleaning.md): reset it through sysfs, check
// that it came back sound, and run the operator's scrub command. The libvirt driver's clean()
// runs this for every device of a "clean" task.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "compute/compute.h"
#include "core/core.h"

namespace gpucloud::agent {

struct CleanOptions {
  std::string sysfs_root = "/sys";  // the agent's --sysfs-root
  // [gpucloud] scrub_command: run through /bin/sh after the reset and checks, with the device's
  // address and alias as $1 and $2 and in GPUCLOUD_PCI_ADDRESS / GPUCLOUD_PCI_ALIAS. Exit 0 is
  // clean. Empty: no scrub.
  std::string scrub_command;
  std::chrono::seconds scrub_timeout{600};  // [gpucloud] scrub_timeout
  AliasTable aliases;                       // names the device's alias for the scrub
  // A reset made by someone who may (the libvirt driver: libvirtd, root, virNodeDeviceReset),
  // for when this process may not write the device's `reset` file: the packaged agent runs as
  // its own user with a read-only /sys. Unset: such a refusal fails the cleaning.
  std::function<Status(const PciAddress&)> privileged_reset;
};

// Resets, scrubs and checks one device:
//  1. reads the IOMMU group and the AER counters (aer_dev_fatal, aer_dev_nonfatal);
//  2. writes 1 to `reset`; the kernel uses the methods `reset_method` lists (FLR, or a bus reset
//     when FLR is missing); no `reset` file means no reset method, and the device is not clean.
//     Refused for lack of privilege (EACCES, EPERM, EROFS): `privileged_reset` instead;
//  3. runs the scrub command, if any, within its timeout;
//  4. checks it is still bound to vfio-pci, its config space reads back with its vendor id, the
//     AER counters did not grow and the IOMMU group is the same: a scrub that upset the device
//     is caught as well as a reset that did.
// The outcome says which step failed and why.
compute::CleanOutcome clean_device(const CleanOptions& options, const compute::CleanDevice& device);

}  // namespace gpucloud::agent

// PCI discovery: reads every device under <sysfs root>/bus/pci/devices and applies the device
// specs (which devices may be passed through) and the aliases (which flavors may ask for them).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "agent/pci_ids.h"
#include "core/core.h"

namespace gpucloud::agent {

// One base address register, from a line of sysfs `resource` ("start end flags").
struct PciBar {
  int index = 0;  // 0..5
  uint64_t start = 0;
  uint64_t size = 0;  // bytes
  bool io = false;    // an I/O port BAR rather than memory
  bool is_64bit = false;
  bool prefetchable = false;
};

// What discovery knows about one device: core's PciDevice (what specs and aliases match) plus
// what the host doctor and operators need.
struct DiscoveredDevice {
  PciDevice device;
  uint32_t class_code = 0;  // 24 bits: base class, subclass, programming interface
  std::optional<VendorId> subsystem_vendor_id;
  std::optional<ProductId> subsystem_device_id;
  std::string vendor_name;         // from pci.ids; empty when unknown
  std::string product_name;        // from pci.ids; empty when unknown
  std::optional<int> iommu_group;  // nullopt: no IOMMU group (IOMMU off)
  std::string driver;              // bound driver; empty when none
  std::string pcie_switch;         // the upstream port of the PCIe switch it is behind, or ""
  // From `reset_method` (Linux >= 5.15), e.g. {"flr", "bus"}; empty when none or not reported.
  std::vector<std::string> reset_methods;
  bool reset_method_reported = false;  // the `reset_method` file exists
  bool has_reset_file = false;         // older kernels create `reset` only when some reset works
  bool has_flr = false;                // PCIe Device Capabilities says Function Level Reset
  std::optional<int> sriov_totalvfs;
  std::vector<PciAddress> virtfns;  // a PF's VFs, in virtfn index order
  std::vector<PciBar> bars;
  bool allowed = false;              // a device spec admits it
  std::vector<std::string> aliases;  // names of the aliases that match it

  std::string class_string() const;  // "0x030000", as sysfs shows it
  bool is_bridge() const { return (class_code >> 8) == 0x0604; }
  bool can_reset() const;
  uint64_t largest_bar() const;
};

// Reads every device. Fails (naming the file) when the devices folder or a device's ids cannot
// be read; optional attributes that are missing are left empty. Sorted by address.
Result<std::vector<DiscoveredDevice>> read_pci_devices(const std::filesystem::path& sysfs_root,
                                                       const PciIds& ids = PciIds::system());

// Sets `allowed` and `aliases` of every device, as nova does: a device is allowed when any spec
// matches it (a VF also through its PF's address), and carries every alias name that matches it.
// The PCIe switch a device (its /sys/bus/pci/devices/ folder) is behind: the address of the
// switch's upstream port, from the real sysfs path; "" when it sits directly under a root port.
std::string pcie_switch_of(const std::filesystem::path& device_dir);

void apply_device_specs(std::vector<DiscoveredDevice>& devices,
                        const std::vector<DeviceSpec>& specs, const AliasTable& aliases);

// JSON array for `gpucloud pci discover --format json` and for the agent's reports.
std::string devices_to_json(const std::vector<DiscoveredDevice>& devices, int indent = 2);

}  // namespace gpucloud::agent

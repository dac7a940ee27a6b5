// Why each check matters: VFIO hands a whole IOMMU group to one VM; libvirt (managed hostdev)
// moves the device to vfio-pci when the VM starts and resets it between VMs; a host GPU driver
// such as nvidia does not let go of a card cleanly; and a BAR beyond the default 64-bit MMIO
// window leaves the guest firmware unable to map the device.
#include "agent/doctor_checks.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace gpucloud::agent {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr uint64_t kLargeBar = 16 * kGiB;
constexpr std::array<std::string_view, 5> kHostGpuDrivers = {"nvidia", "nouveau", "amdgpu",
                                                             "radeon", "nvidiafb"};

bool is_host_gpu_driver(const std::string& driver) {
  return std::find(kHostGpuDrivers.begin(), kHostGpuDrivers.end(), driver) != kHostGpuDrivers.end();
}

// Drivers that leave a device free for a VM: vfio-pci takes it, pci-stub only reserves it.
bool is_passthrough_driver(const std::string& driver) {
  return driver == "vfio-pci" || driver == "pci-stub";
}

std::string label(const DiscoveredDevice& d) {
  std::string name = d.product_name.empty()
                         ? fmt::format("{}:{}", d.device.vendor_id.str(), d.device.product_id.str())
                         : d.product_name;
  return fmt::format("{} ({}, driver {})", d.device.address.to_string(), name,
                     d.driver.empty() ? "none" : d.driver);
}

uint64_t next_power_of_two(uint64_t v) {
  uint64_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

void check_group(const DiscoveredDevice& d, const HostSnapshot& s, std::vector<Finding>& out) {
  const std::string addr = d.device.address.to_string();
  if (!d.iommu_group) {
    out.push_back({Severity::kError, "iommu_group", addr, "the device has no IOMMU group",
                   "turn the IOMMU on (see the iommu finding)"});
    return;
  }
  std::vector<const DiscoveredDevice*> held_by_host, idle;
  std::string companions;
  for (const auto& other : s.devices) {
    if (&other == &d || other.iommu_group != d.iommu_group) continue;
    if (other.allowed || other.is_bridge()) {
      companions += (companions.empty() ? "" : ", ") + other.device.address.to_string();
      continue;
    }
    (other.driver.empty() || is_passthrough_driver(other.driver) ? idle : held_by_host)
        .push_back(&other);
  }
  auto list = [](const std::vector<const DiscoveredDevice*>& v) {
    std::string text;
    for (const auto* o : v) text += (text.empty() ? "" : ", ") + label(*o);
    return text;
  };
  const int group = *d.iommu_group;
  if (!held_by_host.empty()) {
    out.push_back({Severity::kError, "iommu_group", addr,
                   fmt::format("IOMMU group {} also holds {}, which no device spec allows and a "
                               "host driver uses; VFIO can only give a VM the whole group",
                               group, list(held_by_host)),
                   "allow those devices too ([pci] device_spec) so they go with it, or move "
                   "the card to a slot with its own IOMMU group"});
  } else if (!idle.empty()) {
    out.push_back({Severity::kWarning, "iommu_group", addr,
                   fmt::format("IOMMU group {} also holds {}, which no device spec allows; no "
                               "other VM can use them while this device is assigned",
                               group, list(idle)),
                   "allow those devices too ([pci] device_spec), or move the card to a slot "
                   "with its own IOMMU group"});
  } else {
    out.push_back({Severity::kOk, "iommu_group", addr,
                   companions.empty()
                       ? fmt::format("alone in IOMMU group {}", group)
                       : fmt::format("IOMMU group {} holds only allowed devices or bridges: {}",
                                     group, companions),
                   ""});
  }
}

void check_driver(const DiscoveredDevice& d, std::vector<Finding>& out) {
  const std::string addr = d.device.address.to_string();
  if (d.driver == "vfio-pci") {
    out.push_back({Severity::kOk, "driver", addr, "bound to vfio-pci", ""});
  } else if (d.driver.empty() || d.driver == "pci-stub") {
    out.push_back({Severity::kOk, "driver", addr,
                   fmt::format("{}; libvirt binds it to vfio-pci when the VM starts (managed "
                               "hostdev)",
                               d.driver.empty() ? "no driver is bound" : "bound to pci-stub"),
                   ""});
  } else if (is_host_gpu_driver(d.driver)) {
    out.push_back(
        {Severity::kError, "driver", addr, fmt::format("held by the host GPU driver {}", d.driver),
         fmt::format("bind it to vfio-pci at boot: `options vfio-pci ids={}:{}` and `softdep {} "
                     "pre: vfio-pci` in /etc/modprobe.d/vfio.conf (or blacklist {}), then "
                     "update-initramfs -u and reboot",
                     d.device.vendor_id.str(), d.device.product_id.str(), d.driver, d.driver)});
  } else {
    out.push_back({Severity::kWarning, "driver", addr,
                   fmt::format("bound to the host driver {}; libvirt unbinds it when the VM "
                               "starts, taking it from the host",
                               d.driver),
                   fmt::format("if the host does not need it, bind it to vfio-pci at boot "
                               "(driverctl set-override {} vfio-pci)",
                               addr)});
  }
}

void check_reset(const DiscoveredDevice& d, std::vector<Finding>& out) {
  const std::string addr = d.device.address.to_string();
  if (d.can_reset()) {
    std::string how;
    if (!d.reset_methods.empty()) {
      for (const auto& m : d.reset_methods) how += (how.empty() ? "" : ", ") + m;
    } else {
      how = d.has_flr ? "function level reset" : "the kernel offers a reset";
    }
    out.push_back({Severity::kOk, "reset", addr, "can be reset (" + how + ")", ""});
    return;
  }
  out.push_back({Severity::kError, "reset", addr,
                 d.reset_method_reported ? "cannot be reset: reset_method is empty"
                                         : "cannot be reset: no FLR and no reset attribute",
                 "libvirt resets a device before it gives it to a VM and fails when no reset "
                 "works; use a card or slot that supports FLR or a secondary bus reset"});
}

void check_bars(const DiscoveredDevice& d, std::vector<Finding>& out) {
  const uint64_t largest = d.largest_bar();
  if (largest < kLargeBar) return;
  uint64_t total64 = 0;
  for (const auto& bar : d.bars) {
    if (bar.is_64bit) total64 += bar.size;
  }
  const uint64_t window = std::max<uint64_t>(next_power_of_two(total64), largest) / kGiB;
  out.push_back(
      {Severity::kWarning, "bar", d.device.address.to_string(),
       fmt::format("a {} GiB BAR: the guest needs a q35 machine with UEFI firmware and a 64-bit "
                   "MMIO window of at least {} GiB",
                   largest / kGiB, window),
       fmt::format("give its images hw_machine_type=q35 and hw_firmware_type=uefi; the domain "
                   "needs <pcihole64 unit='GiB'>{}</pcihole64> (or OVMF's "
                   "X-PciMmio64Mb={})",
                   window, window * 1024)});
}

}  // namespace

void check_allowed_device(const DiscoveredDevice& device, const HostSnapshot& snapshot,
                          std::vector<Finding>& findings) {
  check_group(device, snapshot, findings);
  check_driver(device, findings);
  check_reset(device, findings);
  check_bars(device, findings);
}

}  // namespace gpucloud::agent

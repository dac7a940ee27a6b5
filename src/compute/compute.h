// Compute drivers: what gpucloud asks of a hypervisor host (spawn, destroy, power, inventory),
// behind one interface. The libvirt driver lives with the agent; the `fake` driver here simulates
// hosts in-process from a JSON file (docs/fake_driver.md), like nova's fake driver.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.h"
#include "store/store.h"

namespace gpucloud::compute {

// What a host offers: totals as the agent would report them, and its PCI inventory.
struct HostResources {
  std::string name;
  std::string hypervisor_type = "QEMU";
  int vcpus = 0;
  int64_t memory_mb = 0;
  int64_t disk_gb = 0;
  std::string cpu_arch = "x86_64";
  std::vector<PciDevice> pci_devices;
};

// One guest on a host as the hypervisor sees it.
struct DomainInfo {
  std::string instance_uuid;
  std::string name;  // hypervisor's domain name, e.g. "instance-0000002a"
  store::PowerState power = store::PowerState::kNoState;
  std::vector<PciAddress> pci_devices;
};

// Everything the driver calls take a host name: one driver object may serve several hosts (the
// fake driver simulates all of them; a libvirt driver serves the one it runs on).
class ComputeDriver {
 public:
  virtual ~ComputeDriver() = default;
  virtual std::string type() const = 0;  // "fake", "libvirt"

  // The hosts this driver manages and their resources and PCI devices.
  virtual Result<std::vector<HostResources>> hosts() = 0;

  // Creates and starts the guest on instance.host with exactly `devices` passed through (the
  // store's claimed rows). Errors: kNotFound (unknown host), kConflict (a device is already used
  // by another guest), kUnavailable (hypervisor unreachable).
  virtual Status spawn(const store::Instance& instance, const store::Flavor& flavor,
                       const store::Image& image,
                       const std::vector<store::PciDeviceRecord>& devices) = 0;
  // Removes the guest; a guest that does not exist is not an error (delete is idempotent).
  virtual Status destroy(const std::string& host, const std::string& instance_uuid) = 0;
  virtual Status power_on(const std::string& host, const std::string& instance_uuid) = 0;
  virtual Status power_off(const std::string& host, const std::string& instance_uuid) = 0;
  virtual Status reboot(const std::string& host, const std::string& instance_uuid, bool hard) = 0;
  virtual Result<std::vector<DomainInfo>> list_domains(const std::string& host) = 0;
};

// The fake driver from the JSON text of docs/fake_driver.md. Errors name the field:
// "hosts[2].pci_devices[0].address: '0000:zz:00.0' is not a PCI address".
Result<std::unique_ptr<ComputeDriver>> make_fake_driver(std::string_view json_text);
Result<std::unique_ptr<ComputeDriver>> load_fake_driver(const std::string& path);

// Writes the driver's hosts into the store as an agent's report would: compute host rows
// (totals, hypervisor type, capabilities; ratios from `ratios`) and the PCI inventory, plus a
// heartbeat. Idempotent.
struct HostRatios {
  double cpu = 4.0;
  double ram = 1.0;
  double disk = 1.0;
};
Status register_hosts(ComputeDriver& driver, store::Store& store, const HostRatios& ratios);

}  // namespace gpucloud::compute

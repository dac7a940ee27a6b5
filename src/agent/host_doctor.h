// Host doctor: does this host have what GPU passthrough needs (KVM, an IOMMU, devices that VFIO
// can take)? The checks are a pure function of a HostSnapshot, so the server can show the same
// findings to explain why a host is not schedulable.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "agent/pci_discovery.h"
#include "core/core.h"

namespace gpucloud::agent {

// Where the host's files are; tests point these at fake trees.
struct HostRoots {
  std::filesystem::path sysfs = "/sys";
  std::filesystem::path proc = "/proc";
  std::filesystem::path dev = "/dev";
};

// Everything the doctor looks at, read once. nullopt fields could not be read.
struct HostSnapshot {
  std::vector<DiscoveredDevice> devices;     // with allowed/aliases applied
  std::optional<std::string> devices_error;  // discovery failed: the devices are unknown
  bool dev_kvm = false;
  std::optional<std::vector<std::string>> cpu_flags;  // the first `flags` line of cpuinfo
  std::optional<std::string> kernel_cmdline;
  std::optional<int> iommu_group_count;  // entries in <sysfs>/kernel/iommu_groups
  size_t device_spec_count = 0;
};

// Reads the snapshot: discovery (read_pci_devices + apply_device_specs), /dev/kvm,
// /proc/cpuinfo, /proc/cmdline and /sys/kernel/iommu_groups.
HostSnapshot take_host_snapshot(const HostRoots& roots, const std::vector<DeviceSpec>& specs,
                                const AliasTable& aliases, const PciIds& ids = PciIds::system());

enum class Severity { kOk, kWarning, kError };
const char* to_string(Severity s);  // "ok", "warning", "error"

struct Finding {
  Severity severity = Severity::kOk;
  std::string check;    // "kvm", "cpu", "iommu", "devices", "iommu_group", "driver", "reset", "bar"
  std::string subject;  // "host" or a device address
  std::string what;     // what was found
  std::string todo;     // what to do about it; empty when nothing
  // False when the doctor could not find out (a file could not be read); an inconclusive
  // error makes the verdict "cannot tell" rather than "not ready".
  bool conclusive = true;
};

enum class Readiness { kReady, kNotReady, kUnknown };
const char* to_string(Readiness r);  // "ready", "not ready", "cannot tell"

struct DoctorReport {
  std::vector<Finding> findings;
  // Not ready when any conclusive error; else cannot tell when any inconclusive error; else ready.
  // Warnings never block.
  Readiness readiness() const;
  int exit_code() const;  // 0 ready, 1 not ready, 2 cannot tell
};

DoctorReport run_host_doctor(const HostSnapshot& snapshot);

// JSON object {"readiness": ..., "exit_code": ..., "findings": [...]}.
std::string doctor_report_to_json(const DoctorReport& report, int indent = 2);

}  // namespace gpucloud::agent

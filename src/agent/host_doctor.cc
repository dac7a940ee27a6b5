#include "agent/host_doctor.h"

#include <fmt/format.h>

#include <algorithm>
#include <sstream>

#include "agent/doctor_checks.h"

namespace gpucloud::agent {
namespace {

bool has_word(const std::vector<std::string>& words, std::string_view w) {
  return std::find(words.begin(), words.end(), w) != words.end();
}

std::vector<std::string> split_words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

void check_kvm(const HostSnapshot& s, std::vector<Finding>& out) {
  if (s.dev_kvm) {
    out.push_back({Severity::kOk, "kvm", "host", "/dev/kvm is present", ""});
  } else {
    out.push_back({Severity::kError, "kvm", "host", "/dev/kvm is missing",
                   "enable virtualisation (VT-x/AMD-V) in the firmware setup and load the KVM "
                   "module (modprobe kvm_intel or kvm_amd)"});
  }
  if (!s.cpu_flags) {
    out.push_back({Severity::kError, "cpu", "host", "cannot read cpuinfo",
                   "run the doctor where /proc is readable", false});
  } else if (has_word(*s.cpu_flags, "vmx")) {
    out.push_back({Severity::kOk, "cpu", "host", "the CPU has Intel VT-x (vmx)", ""});
  } else if (has_word(*s.cpu_flags, "svm")) {
    out.push_back({Severity::kOk, "cpu", "host", "the CPU has AMD-V (svm)", ""});
  } else {
    out.push_back({Severity::kError, "cpu", "host",
                   "the CPU flags show neither vmx (Intel VT-x) nor svm (AMD-V)",
                   "enable virtualisation in the firmware setup; inside a VM, enable nested "
                   "virtualisation on its host"});
  }
}

void check_iommu(const HostSnapshot& s, std::vector<Finding>& out) {
  const auto cmdline = split_words(s.kernel_cmdline.value_or(""));
  const bool turned_off = has_word(cmdline, "intel_iommu=off") ||
                          has_word(cmdline, "amd_iommu=off") || has_word(cmdline, "iommu=off");
  const bool turned_on = has_word(cmdline, "intel_iommu=on") || has_word(cmdline, "amd_iommu=on");
  std::string cmdline_note;
  if (!s.kernel_cmdline) {
    cmdline_note = "the kernel command line could not be read";
  } else if (turned_off) {
    cmdline_note = "the kernel command line turns it off";
  } else if (turned_on) {
    cmdline_note = "the kernel command line turns it on";
  } else {
    cmdline_note = "the kernel command line has neither intel_iommu=on nor amd_iommu=on";
  }
  if (!s.iommu_group_count) {
    out.push_back({Severity::kError, "iommu", "host",
                   "cannot read /sys/kernel/iommu_groups; " + cmdline_note,
                   "run the doctor where /sys is readable", false});
  } else if (*s.iommu_group_count > 0) {
    out.push_back(
        {Severity::kOk, "iommu", "host",
         fmt::format("the IOMMU is on: {} IOMMU group(s); {}", *s.iommu_group_count, cmdline_note),
         ""});
  } else {
    out.push_back({Severity::kError, "iommu", "host",
                   "the IOMMU is off: /sys/kernel/iommu_groups is empty; " + cmdline_note,
                   "enable VT-d (Intel) or AMD-Vi/IOMMU (AMD) in the firmware setup, add "
                   "intel_iommu=on iommu=pt (Intel) or amd_iommu=on iommu=pt (AMD) to "
                   "GRUB_CMDLINE_LINUX in /etc/default/grub, run update-grub and reboot"});
  }
}

void check_devices(const HostSnapshot& s, std::vector<Finding>& out) {
  if (s.devices_error) {
    out.push_back({Severity::kError, "devices", "host",
                   "cannot read the PCI devices: " + *s.devices_error,
                   "run the doctor where /sys is readable", false});
    return;
  }
  std::vector<const DiscoveredDevice*> allowed;
  for (const auto& d : s.devices) {
    if (d.allowed) allowed.push_back(&d);
  }
  if (s.device_spec_count == 0) {
    out.push_back({Severity::kWarning, "devices", "host",
                   "no device spec is configured, so no device can be passed through",
                   "add [pci] device_spec (or pci_passthrough_whitelist) with the GPU's "
                   "vendor_id and product_id"});
  } else if (allowed.empty()) {
    out.push_back({Severity::kWarning, "devices", "host",
                   fmt::format("none of the {} PCI devices matches the {} device spec(s)",
                               s.devices.size(), s.device_spec_count),
                   "compare the specs' vendor_id/product_id/address with `gpucloud pci "
                   "discover`"});
  } else {
    std::string list;
    for (const auto* d : allowed)
      list += (list.empty() ? "" : ", ") + d->device.address.to_string();
    out.push_back({Severity::kOk, "devices", "host",
                   fmt::format("{} device(s) allowed for passthrough: {}", allowed.size(), list),
                   ""});
  }
  for (const auto* d : allowed) check_allowed_device(*d, s, out);
}

}  // namespace

const char* to_string(Severity s) {
  switch (s) {
    case Severity::kOk:
      return "ok";
    case Severity::kWarning:
      return "warning";
    case Severity::kError:
      return "error";
  }
  return "error";
}

const char* to_string(Readiness r) {
  switch (r) {
    case Readiness::kReady:
      return "ready";
    case Readiness::kNotReady:
      return "not ready";
    case Readiness::kUnknown:
      return "cannot tell";
  }
  return "cannot tell";
}

Readiness DoctorReport::readiness() const {
  bool unknown = false;
  for (const auto& f : findings) {
    if (f.severity != Severity::kError) continue;
    if (f.conclusive) return Readiness::kNotReady;
    unknown = true;
  }
  return unknown ? Readiness::kUnknown : Readiness::kReady;
}

int DoctorReport::exit_code() const {
  switch (readiness()) {
    case Readiness::kReady:
      return 0;
    case Readiness::kNotReady:
      return 1;
    case Readiness::kUnknown:
      return 2;
  }
  return 2;
}

DoctorReport run_host_doctor(const HostSnapshot& snapshot) {
  DoctorReport report;
  check_kvm(snapshot, report.findings);
  check_iommu(snapshot, report.findings);
  check_devices(snapshot, report.findings);
  return report;
}

}  // namespace gpucloud::agent

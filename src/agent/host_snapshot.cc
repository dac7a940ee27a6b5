// Reads the files the host doctor looks at. Everything that can fail becomes an empty field of the
// snapshot, never an error: the doctor decides what a missing file means.
#include <sstream>
#include <system_error>

#include "agent/host_doctor.h"
#include "agent/sysfs_read.h"

namespace gpucloud::agent {
namespace fs = std::filesystem;
namespace {

std::optional<std::vector<std::string>> read_cpu_flags(const fs::path& cpuinfo) {
  auto text = read_sysfs_text(cpuinfo);
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  std::vector<std::string> flags;
  for (std::string line; std::getline(in, line);) {
    // x86 names the line "flags"; every CPU repeats it, the first one is enough.
    if (!line.starts_with("flags")) continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream words(line.substr(colon + 1));
    for (std::string w; words >> w;) flags.push_back(w);
    break;
  }
  return flags;
}

std::optional<int> count_iommu_groups(const fs::path& sysfs) {
  std::error_code ec;
  // Without <sysfs>/kernel we are not looking at a sysfs at all: cannot tell. With the IOMMU off
  // the groups folder is empty, or absent on kernels built without IOMMU support.
  if (!fs::is_directory(sysfs / "kernel", ec)) return std::nullopt;
  const fs::path dir = sysfs / "kernel" / "iommu_groups";
  if (!fs::exists(dir, ec)) return ec ? std::nullopt : std::optional<int>(0);
  auto names = list_dir(dir);
  if (!names) return std::nullopt;
  const int count = static_cast<int>(names->size());
  return count;
}

}  // namespace

HostSnapshot take_host_snapshot(const HostRoots& roots, const std::vector<DeviceSpec>& specs,
                                const AliasTable& aliases, const PciIds& ids) {
  HostSnapshot s;
  s.device_spec_count = specs.size();
  auto devices = read_pci_devices(roots.sysfs, ids);
  if (devices) {
    s.devices = std::move(*devices);
    apply_device_specs(s.devices, specs, aliases);
  } else {
    s.devices_error = devices.error().message;
  }
  std::error_code ec;
  s.dev_kvm = fs::exists(roots.dev / "kvm", ec);
  s.cpu_flags = read_cpu_flags(roots.proc / "cpuinfo");
  s.kernel_cmdline = read_sysfs_text(roots.proc / "cmdline");
  s.iommu_group_count = count_iommu_groups(roots.sysfs);
  return s;
}

}  // namespace gpucloud::agent

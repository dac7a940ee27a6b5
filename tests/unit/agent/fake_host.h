// A fake host for discovery and doctor tests: a temporary folder with sys/, proc/ and dev/ laid
// out like the real ones (files and symlinks), built device by device.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "agent/agent.h"

namespace gpucloud::agent::testing {

struct FakeBar {
  int index = 0;
  uint64_t size = 0;
  uint64_t flags = 0x40200;  // IORESOURCE_MEM | IORESOURCE_SIZEALIGN (a 32-bit memory BAR)
};
inline constexpr uint64_t kMem64Prefetch = 0x14220c;  // a 64-bit prefetchable memory BAR

struct FakeDevice {
  std::string address = {};
  std::string vendor = "0x10de";
  std::string device = "0x11bf";
  std::string cls = "0x030000";
  std::string subsystem_vendor = "0x10de";
  std::string subsystem_device = "0x100a";
  int numa_node = -1;
  std::optional<int> iommu_group = std::nullopt;
  std::string driver = {};                              // empty: no driver link
  std::optional<std::string> reset_method = "flr bus";  // nullopt: no file (kernel < 5.15)
  bool reset_file = false;
  std::vector<FakeBar> bars = {};
  std::optional<std::string> physfn = std::nullopt;  // the PF's address, for a VF
  std::vector<std::string> virtfns = {};             // a PF's VFs
  std::optional<int> sriov_totalvfs = std::nullopt;
  std::string config = {};  // raw config space bytes; empty: no file
  // Where the device really lives under sys/devices, e.g.
  // "pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:08.0" (behind a switch whose upstream port is
  // 0000:01:00.0); sys/bus/pci/devices/<address> then links there. Empty: a plain folder.
  std::string sysfs_parent = {};
};

class FakeHost {
 public:
  FakeHost();  // KVM present, vmx CPU, intel_iommu=on, an empty iommu_groups folder
  ~FakeHost();
  FakeHost(const FakeHost&) = delete;
  FakeHost& operator=(const FakeHost&) = delete;

  void add(const FakeDevice& d);
  void set_cmdline(const std::string& cmdline);
  void set_cpu_flags(const std::string& flags);
  void remove_kvm();

  HostRoots roots() const { return {root_ / "sys", root_ / "proc", root_ / "dev"}; }
  std::filesystem::path sysfs() const { return root_ / "sys"; }
  std::filesystem::path root() const { return root_; }

 private:
  std::filesystem::path root_;
};

// Parses device specs / aliases from JSON objects; the test fails on a bad one.
std::vector<DeviceSpec> specs(const std::vector<std::string>& json);
AliasTable alias_table(const std::vector<std::string>& json);

// A small pci.ids file from tests/data/agent.
const PciIds& test_ids();

}  // namespace gpucloud::agent::testing

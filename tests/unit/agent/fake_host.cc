#include "unit/agent/fake_host.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace gpucloud::agent::testing {
namespace fs = std::filesystem;
namespace {

void write(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary) << text;
}

}  // namespace

FakeHost::FakeHost() {
  std::string tmpl = (fs::path(::testing::TempDir()) / "fakehost-XXXXXX").string();
  root_ = ::mkdtemp(tmpl.data());
  fs::create_directories(root_ / "sys/bus/pci/devices");
  fs::create_directories(root_ / "sys/bus/pci/drivers");
  fs::create_directories(root_ / "sys/kernel/iommu_groups");
  write(root_ / "dev/kvm", "");
  set_cpu_flags("fpu vme de pse tsc msr pae mce cx8 apic vmx ssse3 sse4_1");
  set_cmdline("BOOT_IMAGE=/boot/vmlinuz-6.1.0-13-amd64 root=/dev/sda1 ro intel_iommu=on iommu=pt");
}

FakeHost::~FakeHost() {
  std::error_code ec;
  fs::remove_all(root_, ec);
}

void FakeHost::add(const FakeDevice& d) {
  const fs::path dir = root_ / "sys/bus/pci/devices" / d.address;
  if (!d.sysfs_parent.empty()) {
    const fs::path real = root_ / "sys/devices" / d.sysfs_parent / d.address;
    fs::create_directories(real);
    fs::create_symlink(real, dir);  // the links below are made inside the real folder
  }
  write(dir / "vendor", d.vendor + "\n");
  write(dir / "device", d.device + "\n");
  write(dir / "class", d.cls + "\n");
  write(dir / "subsystem_vendor", d.subsystem_vendor + "\n");
  write(dir / "subsystem_device", d.subsystem_device + "\n");
  write(dir / "numa_node", fmt::format("{}\n", d.numa_node));
  if (d.reset_method) write(dir / "reset_method", *d.reset_method + "\n");
  if (d.reset_file) write(dir / "reset", "");
  if (!d.config.empty()) write(dir / "config", d.config);
  if (d.sriov_totalvfs) write(dir / "sriov_totalvfs", fmt::format("{}\n", *d.sriov_totalvfs));
  // sysfs lists 13 resources: 6 BARs, the ROM, then bridge windows; unused ones are all zero.
  std::string resource;
  for (int i = 0; i < 13; ++i) {
    uint64_t start = 0, end = 0, flags = 0;
    for (const auto& bar : d.bars) {
      if (bar.index != i) continue;
      start = 0x38000000000ull + (uint64_t(i) << 36);
      end = start + bar.size - 1;
      flags = bar.flags;
    }
    resource += fmt::format("{:#018x} {:#018x} {:#018x}\n", start, end, flags);
  }
  write(dir / "resource", resource);
  if (!d.driver.empty()) {
    fs::create_directories(root_ / "sys/bus/pci/drivers" / d.driver);
    fs::create_symlink("../../../bus/pci/drivers/" + d.driver, dir / "driver");
  }
  if (d.iommu_group) {
    const fs::path group = root_ / "sys/kernel/iommu_groups" / std::to_string(*d.iommu_group);
    fs::create_directories(group / "devices");
    fs::create_symlink("../../../kernel/iommu_groups/" + std::to_string(*d.iommu_group),
                       dir / "iommu_group");
    fs::create_symlink("../../../../bus/pci/devices/" + d.address, group / "devices" / d.address);
  }
  if (d.physfn) fs::create_symlink("../" + *d.physfn, dir / "physfn");
  for (size_t i = 0; i < d.virtfns.size(); ++i) {
    fs::create_symlink("../" + d.virtfns[i], dir / fmt::format("virtfn{}", i));
  }
}

void FakeHost::set_cmdline(const std::string& cmdline) {
  write(root_ / "proc/cmdline", cmdline + "\n");
}

void FakeHost::set_cpu_flags(const std::string& flags) {
  std::string text;
  for (int cpu = 0; cpu < 2; ++cpu) {
    text +=
        fmt::format("processor\t: {}\nvendor_id\t: GenuineIntel\nflags\t\t: {}\n\n", cpu, flags);
  }
  write(root_ / "proc/cpuinfo", text);
}

void FakeHost::remove_kvm() { fs::remove(root_ / "dev/kvm"); }

std::vector<DeviceSpec> specs(const std::vector<std::string>& json) {
  std::vector<DeviceSpec> out;
  for (const auto& j : json) {
    auto spec = DeviceSpec::parse(j);
    EXPECT_TRUE(spec.ok()) << j << ": " << (spec.ok() ? "" : spec.error().message);
    if (spec) out.push_back(std::move(*spec));
  }
  return out;
}

AliasTable alias_table(const std::vector<std::string>& json) {
  AliasTable table;
  for (const auto& j : json) {
    auto alias = PciAlias::parse(j);
    EXPECT_TRUE(alias.ok()) << j << ": " << (alias.ok() ? "" : alias.error().message);
    if (!alias) continue;
    auto added = table.add(std::move(*alias));
    EXPECT_TRUE(added.ok()) << j;
  }
  return table;
}

const PciIds& test_ids() {
  static const PciIds ids = PciIds::load(GPUCLOUD_TEST_DATA + "/agent/pci.ids");
  return ids;
}

}  // namespace gpucloud::agent::testing

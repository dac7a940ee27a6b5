#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "agent/agent.h"
#include "unit/agent/fake_host.h"

namespace gpucloud::agent {
namespace {

using testing::FakeDevice;
using testing::FakeHost;

constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr char kK2Spec[] = R"({"vendor_id": "10de", "product_id": "11bf"})";
constexpr char kNvidiaSpec[] = R"({"vendor_id": "10de"})";

DoctorReport doctor(const FakeHost& host, const std::vector<std::string>& spec_json) {
  return run_host_doctor(take_host_snapshot(host.roots(), testing::specs(spec_json), AliasTable{},
                                            testing::test_ids()));
}

// The findings of one check for one subject ("host" or an address).
std::vector<Finding> findings(const DoctorReport& r, const std::string& check,
                              const std::string& subject) {
  std::vector<Finding> out;
  for (const auto& f : r.findings) {
    if (f.check == check && f.subject == subject) out.push_back(f);
  }
  return out;
}

Severity severity(const DoctorReport& r, const std::string& check, const std::string& subject) {
  auto f = findings(r, check, subject);
  EXPECT_EQ(f.size(), 1u) << check << " " << subject;
  return f.empty() ? Severity::kOk : f[0].severity;
}

std::string text(const DoctorReport& r, const std::string& check, const std::string& subject) {
  auto f = findings(r, check, subject);
  return f.empty() ? "" : f[0].what + " | " + f[0].todo;
}

void add_gpu(FakeHost& host, const std::string& driver = "vfio-pci") {
  host.add({.address = "0000:0a:00.0", .iommu_group = 20, .driver = driver});
}
void add_audio(FakeHost& host, const std::string& driver) {
  host.add({.address = "0000:0a:00.1",
            .device = "0x0e0a",
            .cls = "0x040300",
            .iommu_group = 20,
            .driver = driver});
}

TEST(HostDoctor, ReadyHostWithGpuAndItsAudioFunctionBothAllowed) {
  FakeHost host;
  add_gpu(host);
  add_audio(host, "vfio-pci");
  auto r = doctor(host, {kNvidiaSpec});
  EXPECT_EQ(r.readiness(), Readiness::kReady);
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_EQ(severity(r, "kvm", "host"), Severity::kOk);
  EXPECT_EQ(severity(r, "cpu", "host"), Severity::kOk);
  EXPECT_EQ(severity(r, "iommu", "host"), Severity::kOk);
  EXPECT_EQ(severity(r, "devices", "host"), Severity::kOk);
  EXPECT_EQ(severity(r, "iommu_group", "0000:0a:00.0"), Severity::kOk);
  EXPECT_NE(text(r, "iommu_group", "0000:0a:00.0").find("0000:0a:00.1"), std::string::npos);
  EXPECT_EQ(severity(r, "driver", "0000:0a:00.0"), Severity::kOk);
  EXPECT_EQ(severity(r, "reset", "0000:0a:00.0"), Severity::kOk);
  EXPECT_TRUE(findings(r, "bar", "0000:0a:00.0").empty());
  for (const auto& f : r.findings) EXPECT_EQ(f.severity, Severity::kOk) << f.what;
}

TEST(HostDoctor, AudioFunctionNotAllowedAndHeldByHostDriverBlocksTheGroup) {
  FakeHost host;
  add_gpu(host);
  add_audio(host, "snd_hda_intel");
  auto r = doctor(host, {kK2Spec});
  EXPECT_EQ(severity(r, "iommu_group", "0000:0a:00.0"), Severity::kError);
  EXPECT_NE(text(r, "iommu_group", "0000:0a:00.0").find("0000:0a:00.1"), std::string::npos);
  EXPECT_NE(text(r, "iommu_group", "0000:0a:00.0").find("snd_hda_intel"), std::string::npos);
  EXPECT_EQ(r.readiness(), Readiness::kNotReady);
  EXPECT_EQ(r.exit_code(), 1);
}

TEST(HostDoctor, AudioFunctionNotAllowedButUnboundIsOnlyAWarning) {
  FakeHost host;
  add_gpu(host);
  add_audio(host, "");
  auto r = doctor(host, {kK2Spec});
  EXPECT_EQ(severity(r, "iommu_group", "0000:0a:00.0"), Severity::kWarning);
  EXPECT_EQ(r.exit_code(), 0);
}

TEST(HostDoctor, SharedGroupWithUnrelatedDeviceIsAnErrorButBridgesAreFine) {
  FakeHost host;
  host.add({.address = "0000:00:01.0",
            .vendor = "0x8086",
            .device = "0x1901",
            .cls = "0x060400",
            .iommu_group = 2,
            .driver = "pcieport"});
  host.add({.address = "0000:01:00.0", .iommu_group = 2, .driver = "vfio-pci"});
  auto only_bridge = doctor(host, {kK2Spec});
  EXPECT_EQ(severity(only_bridge, "iommu_group", "0000:01:00.0"), Severity::kOk);
  EXPECT_EQ(only_bridge.exit_code(), 0);

  host.add({.address = "0000:00:14.0",
            .vendor = "0x8086",
            .device = "0x1e31",
            .cls = "0x0c0330",
            .iommu_group = 2,
            .driver = "xhci_hcd"});
  auto r = doctor(host, {kK2Spec});
  EXPECT_EQ(severity(r, "iommu_group", "0000:01:00.0"), Severity::kError);
  const std::string what = text(r, "iommu_group", "0000:01:00.0");
  EXPECT_NE(what.find("0000:00:14.0"), std::string::npos) << what;
  EXPECT_EQ(what.find("0000:00:01.0"), std::string::npos) << what;  // the bridge is no problem
  EXPECT_EQ(r.exit_code(), 1);
}

TEST(HostDoctor, SriovVfsAllowedThroughPfAddressEachInOwnGroup) {
  FakeHost host;
  host.add({.address = "0000:81:00.0",
            .vendor = "0x8086",
            .device = "0x10c9",
            .cls = "0x020000",
            .iommu_group = 40,
            .driver = "igb",
            .virtfns = {"0000:81:10.0", "0000:81:10.2"},
            .sriov_totalvfs = 7});
  host.add({.address = "0000:81:10.0",
            .vendor = "0x8086",
            .device = "0x10ca",
            .cls = "0x020000",
            .iommu_group = 41,
            .driver = "vfio-pci",
            .physfn = "0000:81:00.0"});
  host.add({.address = "0000:81:10.2",
            .vendor = "0x8086",
            .device = "0x10ca",
            .cls = "0x020000",
            .iommu_group = 42,
            .physfn = "0000:81:00.0"});
  auto r =
      doctor(host, {R"({"address": "0000:81:00.0", "vendor_id": "8086", "product_id": "10ca"})"});
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_NE(text(r, "devices", "host").find("2 device(s)"), std::string::npos);
  EXPECT_EQ(severity(r, "iommu_group", "0000:81:10.0"), Severity::kOk);
  EXPECT_EQ(severity(r, "driver", "0000:81:10.2"), Severity::kOk);  // unbound: libvirt binds it
  EXPECT_TRUE(findings(r, "driver", "0000:81:00.0").empty());       // the PF is not allowed
}

TEST(HostDoctor, DeviceHeldByNvidiaIsNotReadyAndSaysHowToBindVfio) {
  FakeHost host;
  add_gpu(host, "nvidia");
  auto r = doctor(host, {kK2Spec});
  EXPECT_EQ(severity(r, "driver", "0000:0a:00.0"), Severity::kError);
  const std::string what = text(r, "driver", "0000:0a:00.0");
  EXPECT_NE(what.find("nvidia"), std::string::npos);
  EXPECT_NE(what.find("vfio-pci ids=10de:11bf"), std::string::npos) << what;
  EXPECT_EQ(r.exit_code(), 1);
}

TEST(HostDoctor, OtherHostDriverIsAWarningBecauseLibvirtUnbindsIt) {
  FakeHost host;
  host.add({.address = "0000:05:00.0",
            .vendor = "0x8086",
            .device = "0x10c9",
            .cls = "0x020000",
            .iommu_group = 9,
            .driver = "igb"});
  auto r = doctor(host, {R"({"vendor_id": "8086"})"});
  EXPECT_EQ(severity(r, "driver", "0000:05:00.0"), Severity::kWarning);
  EXPECT_EQ(r.exit_code(), 0);
}

TEST(HostDoctor, IommuOffIsNotReady) {
  FakeHost host;
  host.set_cmdline("BOOT_IMAGE=/boot/vmlinuz-6.1.0-13-amd64 root=/dev/sda1 ro quiet");
  host.add({.address = "0000:0a:00.0", .driver = "vfio-pci"});  // no iommu_group link
  auto r = doctor(host, {kK2Spec});
  EXPECT_EQ(severity(r, "iommu", "host"), Severity::kError);
  const std::string what = text(r, "iommu", "host");
  EXPECT_NE(what.find("neither intel_iommu=on nor amd_iommu=on"), std::string::npos) << what;
  EXPECT_NE(what.find("update-grub"), std::string::npos) << what;
  EXPECT_EQ(severity(r, "iommu_group", "0000:0a:00.0"), Severity::kError);
  EXPECT_EQ(r.exit_code(), 1);
}

TEST(HostDoctor, IommuTurnedOffOnTheCommandLineIsNamed) {
  FakeHost host;
  host.set_cmdline("root=/dev/sda1 intel_iommu=off");
  auto r = doctor(host, {kK2Spec});
  EXPECT_NE(text(r, "iommu", "host").find("turns it off"), std::string::npos);
  EXPECT_EQ(r.exit_code(), 1);
}

TEST(HostDoctor, LargeBarWarnsAboutQ35UefiAndMmioWindow) {
  FakeHost host;
  FakeDevice a10{
      .address = "0000:41:00.0", .device = "0x2236", .iommu_group = 30, .driver = "vfio-pci"};
  a10.bars = {{0, 16 << 20},
              {1, 32 * kGiB, testing::kMem64Prefetch},
              {3, 32 << 20, testing::kMem64Prefetch}};
  host.add(a10);
  auto r = doctor(host, {kNvidiaSpec});
  EXPECT_EQ(severity(r, "bar", "0000:41:00.0"), Severity::kWarning);
  const std::string what = text(r, "bar", "0000:41:00.0");
  EXPECT_NE(what.find("32 GiB BAR"), std::string::npos) << what;
  EXPECT_NE(what.find("q35"), std::string::npos) << what;
  EXPECT_NE(what.find("uefi"), std::string::npos) << what;
  EXPECT_NE(what.find("64 GiB"), std::string::npos) << what;  // 32 GiB + 32 MiB rounds up
  EXPECT_EQ(r.exit_code(), 0);  // a warning: the VM needs the right machine type, the host is fine
}

TEST(HostDoctor, DeviceWithoutResetIsNotReady) {
  FakeHost host;
  host.add(
      {.address = "0000:0a:00.0", .iommu_group = 20, .driver = "vfio-pci", .reset_method = ""});
  auto r = doctor(host, {kK2Spec});
  EXPECT_EQ(severity(r, "reset", "0000:0a:00.0"), Severity::kError);
  EXPECT_EQ(r.exit_code(), 1);
}

TEST(HostDoctor, MissingKvmAndVirtualisationFlagsAreErrors) {
  FakeHost host;
  host.remove_kvm();
  host.set_cpu_flags("fpu vme de pse tsc msr");
  add_gpu(host);
  auto r = doctor(host, {kK2Spec});
  EXPECT_EQ(severity(r, "kvm", "host"), Severity::kError);
  EXPECT_EQ(severity(r, "cpu", "host"), Severity::kError);
  EXPECT_EQ(r.exit_code(), 1);
}

TEST(HostDoctor, AmdCpuWithSvmIsFine) {
  FakeHost host;
  host.set_cpu_flags("fpu vme svm");
  host.set_cmdline("root=/dev/sda1 amd_iommu=on");
  add_gpu(host);
  auto r = doctor(host, {kK2Spec});
  EXPECT_EQ(severity(r, "cpu", "host"), Severity::kOk);
  EXPECT_NE(text(r, "cpu", "host").find("svm"), std::string::npos);
  EXPECT_EQ(r.exit_code(), 0);
}

TEST(HostDoctor, NoMatchingDeviceIsAWarningNotABlocker) {
  FakeHost host;
  add_gpu(host);
  auto no_specs = doctor(host, {});
  EXPECT_EQ(severity(no_specs, "devices", "host"), Severity::kWarning);
  auto no_match = doctor(host, {R"({"vendor_id": "1002"})"});
  EXPECT_EQ(severity(no_match, "devices", "host"), Severity::kWarning);
  EXPECT_EQ(no_match.exit_code(), 0);
}

TEST(HostDoctor, UnreadableSysfsCannotTell) {
  FakeHost host;
  HostRoots roots = host.roots();
  roots.sysfs = host.root() / "no-such-sys";
  auto r = run_host_doctor(
      take_host_snapshot(roots, testing::specs({kK2Spec}), AliasTable{}, testing::test_ids()));
  EXPECT_EQ(severity(r, "devices", "host"), Severity::kError);
  EXPECT_FALSE(findings(r, "devices", "host")[0].conclusive);
  EXPECT_FALSE(findings(r, "iommu", "host")[0].conclusive);
  EXPECT_EQ(r.readiness(), Readiness::kUnknown);
  EXPECT_EQ(r.exit_code(), 2);
}

TEST(HostDoctor, ConclusiveErrorWinsOverCannotTell) {
  FakeHost host;
  host.remove_kvm();
  HostRoots roots = host.roots();
  roots.sysfs = host.root() / "no-such-sys";
  auto r = run_host_doctor(take_host_snapshot(roots, {}, AliasTable{}, testing::test_ids()));
  EXPECT_EQ(r.exit_code(), 1);
}

TEST(HostDoctor, IsAPureFunctionOfTheSnapshot) {
  // The server builds snapshots from what agents report; no file is read here.
  HostSnapshot s;
  s.dev_kvm = true;
  s.cpu_flags = std::vector<std::string>{"vmx"};
  s.kernel_cmdline = "intel_iommu=on";
  s.iommu_group_count = 1;
  s.device_spec_count = 1;
  DiscoveredDevice gpu;
  gpu.device.address = *PciAddress::parse("0000:0a:00.0");
  gpu.iommu_group = 1;
  gpu.driver = "amdgpu";
  gpu.allowed = true;
  gpu.reset_method_reported = true;
  gpu.reset_methods = {"bus"};
  s.devices = {gpu};
  auto r = run_host_doctor(s);
  EXPECT_EQ(severity(r, "driver", "0000:0a:00.0"), Severity::kError);
  EXPECT_EQ(r.exit_code(), 1);
}

TEST(HostDoctor, JsonListsReadinessAndFindings) {
  FakeHost host;
  add_gpu(host, "nouveau");
  auto json = nlohmann::json::parse(doctor_report_to_json(doctor(host, {kK2Spec})));
  EXPECT_EQ(json["readiness"], "not ready");
  EXPECT_EQ(json["exit_code"], 1);
  bool found = false;
  for (const auto& f : json["findings"]) {
    if (f["check"] == "driver" && f["subject"] == "0000:0a:00.0") {
      found = true;
      EXPECT_EQ(f["severity"], "error");
      EXPECT_NE(f["what"].get<std::string>().find("nouveau"), std::string::npos);
      EXPECT_FALSE(f["todo"].get<std::string>().empty());
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace gpucloud::agent

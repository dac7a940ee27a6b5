// clean_device against fake sysfs trees: each check, and the scrub command's exit, timeout and
// arguments. A scrub command stands in for whatever upsets a device between the two readings
// (an AER error, a new IOMMU group, a driver unbinding), since the checks run after it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "agent/agent.h"
#include "unit/agent/fake_host.h"

namespace gpucloud::agent {
namespace {

namespace fs = std::filesystem;
using testing::FakeDevice;
using testing::FakeHost;

constexpr char kAddr[] = "0000:0a:00.0";

std::string config_space(uint16_t vendor) {
  std::string bytes(256, '\0');
  bytes[0] = static_cast<char>(vendor & 0xff);
  bytes[1] = static_cast<char>(vendor >> 8);
  return bytes;
}

FakeDevice gpu() {
  FakeDevice d;
  d.address = kAddr;
  d.iommu_group = 17;
  d.driver = "vfio-pci";
  d.reset_file = true;
  d.config = config_space(0x10de);
  return d;
}

compute::CleanDevice device() {
  compute::CleanDevice d;
  d.id = 7;
  d.address = *PciAddress::parse(kAddr);
  d.vendor_id = *HexId::parse("10de");
  d.product_id = *HexId::parse("11bf");
  return d;
}

class DeviceCleanTest : public ::testing::Test {
 protected:
  fs::path dir() const { return host_.sysfs() / "bus/pci/devices" / kAddr; }
  void write(const fs::path& file, const std::string& text) { std::ofstream(file) << text; }
  std::string read(const fs::path& file) {
    std::ifstream in(file);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  CleanOptions options() {
    CleanOptions o;
    o.sysfs_root = host_.sysfs().string();
    o.aliases = testing::alias_table({R"({"name": "K2_Grid", "vendor_id": "10de",
                                          "product_id": "11bf"})"});
    return o;
  }
  FakeHost host_;
};

TEST_F(DeviceCleanTest, ResetsChecksAndReportsEachStep) {
  host_.add(gpu());
  write(dir() / "aer_dev_fatal", "Undefined 0\nTOTAL_ERR_FATAL 0\n");
  auto out = clean_device(options(), device());
  EXPECT_TRUE(out.clean) << out.reason;
  EXPECT_EQ(out.address.to_string(), kAddr);
  ASSERT_EQ(out.steps.size(), 2u);
  EXPECT_EQ(out.steps[0], "reset (flr)");  // the first method reset_method lists
  EXPECT_EQ(read(dir() / "reset"), "1\n");
}

TEST_F(DeviceCleanTest, NoResetMethodIsNotClean) {
  FakeDevice d = gpu();
  d.reset_method = "";  // the kernel found neither FLR nor a bus reset
  host_.add(d);
  auto out = clean_device(options(), device());
  EXPECT_FALSE(out.clean);
  EXPECT_NE(out.reason.find("no reset method"), std::string::npos) << out.reason;
  EXPECT_EQ(read(dir() / "reset"), "");  // nothing written
}

TEST_F(DeviceCleanTest, OldKernelWithoutResetFileIsNotClean) {
  FakeDevice d = gpu();
  d.reset_method.reset();
  d.reset_file = false;
  host_.add(d);
  auto out = clean_device(options(), device());
  EXPECT_FALSE(out.clean);
  EXPECT_NE(out.reason.find("no reset file"), std::string::npos) << out.reason;
}

TEST_F(DeviceCleanTest, BoundToAnotherDriverIsNotClean) {
  FakeDevice d = gpu();
  d.driver = "nvidia";
  host_.add(d);
  auto out = clean_device(options(), device());
  EXPECT_FALSE(out.clean);
  EXPECT_EQ(out.reason, "check: bound to nvidia, not vfio-pci");
}

TEST_F(DeviceCleanTest, ConfigSpaceOfAllOnesIsNotClean) {
  FakeDevice d = gpu();
  d.config = std::string(256, '\xff');  // what a device that fell off the bus reads as
  host_.add(d);
  auto out = clean_device(options(), device());
  EXPECT_FALSE(out.clean);
  EXPECT_NE(out.reason.find("all ones"), std::string::npos) << out.reason;
}

TEST_F(DeviceCleanTest, ShortConfigSpaceIsNotClean) {
  FakeDevice d = gpu();
  d.config = std::string(16, '\0');
  host_.add(d);
  auto out = clean_device(options(), device());
  EXPECT_FALSE(out.clean);
  EXPECT_NE(out.reason.find("reads 16 bytes"), std::string::npos) << out.reason;
}

TEST_F(DeviceCleanTest, AerErrorsDuringCleaningAreCaught) {
  host_.add(gpu());
  write(dir() / "aer_dev_fatal", "Undefined 0\nTOTAL_ERR_FATAL 0\n");
  write(dir() / "aer_dev_nonfatal", "Undefined 0\nTOTAL_ERR_NONFATAL 3\n");
  CleanOptions o = options();
  o.scrub_command = "printf 'Undefined 2\\nTOTAL_ERR_FATAL 2\\n' > \"" +
                    (dir() / "aer_dev_fatal").string() + "\"";
  auto out = clean_device(o, device());
  EXPECT_FALSE(out.clean);
  EXPECT_EQ(out.reason, "check: AER fatal errors 0 -> 2");

  // Non-fatal errors that were there before are not new ones.
  write(dir() / "aer_dev_fatal", "TOTAL_ERR_FATAL 0\n");
  o.scrub_command = "true";
  EXPECT_TRUE(clean_device(o, device()).clean);
  o.scrub_command =
      "echo 'TOTAL_ERR_NONFATAL 4' > \"" + (dir() / "aer_dev_nonfatal").string() + "\"";
  EXPECT_EQ(clean_device(o, device()).reason, "check: AER non-fatal errors 3 -> 4");
}

TEST_F(DeviceCleanTest, IommuGroupChangeIsCaught) {
  host_.add(gpu());
  fs::create_directories(host_.sysfs() / "kernel/iommu_groups/40");
  CleanOptions o = options();
  o.scrub_command =
      "ln -sfn ../../../kernel/iommu_groups/40 \"" + (dir() / "iommu_group").string() + "\"";
  auto out = clean_device(o, device());
  EXPECT_FALSE(out.clean);
  EXPECT_EQ(out.reason, "check: IOMMU group changed from 17 to 40");
}

TEST_F(DeviceCleanTest, ScrubGetsTheAddressAndAliasAndItsFailureIsTheReason) {
  host_.add(gpu());
  const fs::path seen = host_.root() / "scrub-args";
  ::setenv("GPUCLOUD_PCI_ALIAS", "stale", 1);  // the agent's own environment does not win
  CleanOptions o = options();
  o.scrub_command =
      "echo \"$1 $2 $GPUCLOUD_PCI_ADDRESS $GPUCLOUD_PCI_ALIAS\" > \"" + seen.string() + "\"";
  auto out = clean_device(o, device());
  EXPECT_TRUE(out.clean) << out.reason;
  EXPECT_EQ(read(seen), std::string(kAddr) + " K2_Grid " + kAddr + " K2_Grid\n");
  ::unsetenv("GPUCLOUD_PCI_ALIAS");
  ASSERT_EQ(out.steps.size(), 3u);
  EXPECT_EQ(out.steps[1].rfind("scrub ", 0), 0u) << out.steps[1];

  o.scrub_command = "echo zeroing; echo 'GPU memory test failed at 0x1000' >&2; exit 3";
  out = clean_device(o, device());
  EXPECT_FALSE(out.clean);
  EXPECT_EQ(out.reason,
            "scrub: the command exited with status 3: GPU memory test failed at 0x1000");
}

TEST_F(DeviceCleanTest, ScrubThatRunsTooLongIsKilled) {
  host_.add(gpu());
  CleanOptions o = options();
  o.scrub_timeout = std::chrono::seconds(1);
  const fs::path after = host_.root() / "after-sleep";
  // Had the command not been killed, clean_device would have waited for it and the file would
  // be there.
  o.scrub_command = "sleep 30; touch \"" + after.string() + "\"";
  auto out = clean_device(o, device());
  EXPECT_FALSE(out.clean);
  EXPECT_EQ(out.reason, "scrub: the command did not finish within 1 s (killed)");
  EXPECT_FALSE(fs::exists(after));
}

// A `reset` this process may not write, as the packaged agent (its own user, /sys read-only)
// meets it: a read-only sysfs attribute refuses a writer with EACCES even for root.
constexpr char kReadOnlySysfsFile[] = "/sys/devices/system/cpu/online";

TEST_F(DeviceCleanTest, ResetRefusedForPrivilegeGoesThroughThePrivilegedReset) {
  FakeDevice d = gpu();
  d.reset_file = false;
  host_.add(d);
  fs::create_symlink(kReadOnlySysfsFile, dir() / "reset");
  CleanOptions o = options();
  std::vector<std::string> reset;
  o.privileged_reset = [&](const PciAddress& a) {
    reset.push_back(a.to_string());
    return Status{};
  };
  auto out = clean_device(o, device());
  EXPECT_TRUE(out.clean) << out.reason;
  EXPECT_EQ(reset, std::vector<std::string>{kAddr});
  ASSERT_FALSE(out.steps.empty());
  EXPECT_EQ(out.steps[0], "reset (through libvirtd)");

  // Its failure is the reason; without one the refusal is.
  o.privileged_reset = [](const PciAddress&) { return Status(Error::unavailable("no such node")); };
  out = clean_device(o, device());
  EXPECT_FALSE(out.clean);
  EXPECT_EQ(out.reason, "reset through libvirtd: no such node");
  o.privileged_reset = nullptr;
  out = clean_device(o, device());
  EXPECT_FALSE(out.clean);
  EXPECT_NE(out.reason.find("may not write sysfs"), std::string::npos) << out.reason;
}

TEST_F(DeviceCleanTest, WritableResetIsWrittenEvenWithAPrivilegedReset) {
  host_.add(gpu());
  CleanOptions o = options();
  bool called = false;
  o.privileged_reset = [&](const PciAddress&) {
    called = true;
    return Status{};
  };
  auto out = clean_device(o, device());
  EXPECT_TRUE(out.clean) << out.reason;
  EXPECT_FALSE(called);
  EXPECT_EQ(read(dir() / "reset"), "1\n");
}

TEST_F(DeviceCleanTest, MissingDeviceIsNotClean) {
  auto out = clean_device(options(), device());
  EXPECT_FALSE(out.clean);
  EXPECT_NE(out.reason.find("not in sysfs"), std::string::npos) << out.reason;
}

}  // namespace
}  // namespace gpucloud::agent

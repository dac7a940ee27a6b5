#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "agent/agent.h"
#include "unit/agent/fake_host.h"

namespace gpucloud::agent {
namespace {

using testing::FakeDevice;
using testing::FakeHost;

constexpr uint64_t kGiBytes = uint64_t{1} << 30;
constexpr uint64_t kMiB = uint64_t{1} << 20;

const DiscoveredDevice& find(const std::vector<DiscoveredDevice>& devices,
                             const std::string& addr) {
  for (const auto& d : devices) {
    if (d.device.address.to_string() == addr) return d;
  }
  ADD_FAILURE() << "no device " << addr;
  static DiscoveredDevice none;
  return none;
}

// A GRID K2 and its HDMI audio function, in one IOMMU group, as on a typical GPU host.
void add_gpu_with_audio(FakeHost& host, const std::string& gpu_driver = "vfio-pci") {
  FakeDevice gpu{
      .address = "0000:0a:00.0", .numa_node = 1, .iommu_group = 20, .driver = gpu_driver};
  gpu.bars = {{0, 16 * kMiB}, {1, 256 * kMiB, testing::kMem64Prefetch}, {5, 128, 0x40101}};
  host.add(gpu);
  host.add({.address = "0000:0a:00.1",
            .device = "0x0e0a",
            .cls = "0x040300",
            .numa_node = 1,
            .iommu_group = 20,
            .driver = "snd_hda_intel"});
}

TEST(PciDiscovery, ReadsIdsClassNumaGroupDriverResetAndBars) {
  FakeHost host;
  add_gpu_with_audio(host);
  auto devices = read_pci_devices(host.sysfs(), testing::test_ids());
  ASSERT_TRUE(devices.ok()) << devices.error().message;
  ASSERT_EQ(devices->size(), 2u);
  const auto& gpu = (*devices)[0];
  EXPECT_EQ(gpu.device.address.to_string(), "0000:0a:00.0");
  EXPECT_EQ(gpu.device.vendor_id.str(), "10de");
  EXPECT_EQ(gpu.device.product_id.str(), "11bf");
  EXPECT_EQ(gpu.class_code, 0x030000u);
  EXPECT_EQ(gpu.class_string(), "0x030000");
  ASSERT_TRUE(gpu.subsystem_device_id.has_value());
  EXPECT_EQ(gpu.subsystem_device_id->str(), "100a");
  EXPECT_EQ(gpu.vendor_name, "NVIDIA Corporation");
  EXPECT_EQ(gpu.product_name, "GK104GL [GRID K2]");
  EXPECT_EQ(gpu.device.numa_node, 1);
  EXPECT_EQ(gpu.iommu_group, 20);
  EXPECT_EQ(gpu.driver, "vfio-pci");
  EXPECT_EQ(gpu.device.dev_type, PciDeviceType::kPci);
  EXPECT_EQ(gpu.reset_methods, (std::vector<std::string>{"flr", "bus"}));
  EXPECT_TRUE(gpu.can_reset());
  ASSERT_EQ(gpu.bars.size(), 3u);
  EXPECT_EQ(gpu.bars[0].size, 16 * kMiB);
  EXPECT_FALSE(gpu.bars[0].is_64bit);
  EXPECT_EQ(gpu.bars[1].index, 1);
  EXPECT_TRUE(gpu.bars[1].is_64bit);
  EXPECT_TRUE(gpu.bars[1].prefetchable);
  EXPECT_TRUE(gpu.bars[2].io);
  EXPECT_EQ(gpu.largest_bar(), 256 * kMiB);
  const auto& audio = (*devices)[1];
  EXPECT_EQ(audio.product_name, "GK104 HDMI Audio Controller");
  EXPECT_EQ(audio.driver, "snd_hda_intel");
  EXPECT_FALSE(audio.is_bridge());
}

TEST(PciDiscovery, NumaNodeMinusOneMeansNoneAndUnknownIdsHaveNoName) {
  FakeHost host;
  host.add({.address = "0000:00:02.0", .vendor = "0x1234", .device = "0x1111", .numa_node = -1});
  auto devices = read_pci_devices(host.sysfs(), testing::test_ids());
  ASSERT_TRUE(devices.ok());
  const auto& d = find(*devices, "0000:00:02.0");
  EXPECT_FALSE(d.device.numa_node.has_value());
  EXPECT_FALSE(d.iommu_group.has_value());
  EXPECT_EQ(d.driver, "");
  EXPECT_EQ(d.vendor_name, "");
  EXPECT_EQ(d.product_name, "");
}

TEST(PciDiscovery, SriovPfAndVfsGetNovaDeviceTypes) {
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
            .physfn = "0000:81:00.0"});
  host.add({.address = "0000:81:10.2",
            .vendor = "0x8086",
            .device = "0x10ca",
            .cls = "0x020000",
            .iommu_group = 42,
            .physfn = "0000:81:00.0"});
  // A PF with SR-IOV capability but no VFs enabled is still a PF (libvirt reports virt_functions).
  host.add({.address = "0000:82:00.0",
            .vendor = "0x8086",
            .device = "0x10c9",
            .cls = "0x020000",
            .iommu_group = 43,
            .sriov_totalvfs = 7});
  auto devices = read_pci_devices(host.sysfs(), testing::test_ids());
  ASSERT_TRUE(devices.ok());
  const auto& pf = find(*devices, "0000:81:00.0");
  EXPECT_EQ(pf.device.dev_type, PciDeviceType::kPf);
  EXPECT_EQ(pf.sriov_totalvfs, 7);
  ASSERT_EQ(pf.virtfns.size(), 2u);
  EXPECT_EQ(pf.virtfns[1].to_string(), "0000:81:10.2");
  const auto& vf = find(*devices, "0000:81:10.2");
  EXPECT_EQ(vf.device.dev_type, PciDeviceType::kVf);
  ASSERT_TRUE(vf.device.parent_addr.has_value());
  EXPECT_EQ(vf.device.parent_addr->to_string(), "0000:81:00.0");
  EXPECT_EQ(vf.product_name, "82576 Virtual Function");
  EXPECT_EQ(find(*devices, "0000:82:00.0").device.dev_type, PciDeviceType::kPf);
}

TEST(PciDiscovery, ResetFromResetMethodOrOlderKernelsResetFileOrFlrCapability) {
  FakeHost host;
  host.add({.address = "0000:01:00.0", .reset_method = ""});
  host.add({.address = "0000:02:00.0", .reset_method = std::nullopt, .reset_file = true});
  host.add({.address = "0000:03:00.0", .reset_method = std::nullopt});
  // Config space with a capability list whose PCI Express capability (at 0x60) has FLR.
  std::string cfg(256, '\0');
  cfg[0x06] = 0x10;
  cfg[0x34] = 0x60;
  cfg[0x60] = 0x10;
  cfg[0x61] = 0x00;
  cfg[0x67] = 0x10;  // Device Capabilities bit 28
  host.add({.address = "0000:04:00.0", .reset_method = std::nullopt, .config = cfg});
  auto devices = read_pci_devices(host.sysfs(), testing::test_ids());
  ASSERT_TRUE(devices.ok());
  EXPECT_FALSE(find(*devices, "0000:01:00.0").can_reset());
  EXPECT_TRUE(find(*devices, "0000:01:00.0").reset_method_reported);
  EXPECT_TRUE(find(*devices, "0000:02:00.0").can_reset());
  EXPECT_FALSE(find(*devices, "0000:03:00.0").can_reset());
  EXPECT_TRUE(find(*devices, "0000:04:00.0").has_flr);
  EXPECT_TRUE(find(*devices, "0000:04:00.0").can_reset());
}

TEST(PciDiscovery, MissingDevicesFolderIsAnErrorNamingIt) {
  auto devices = read_pci_devices("/nonexistent-sysfs", testing::test_ids());
  ASSERT_FALSE(devices.ok());
  EXPECT_NE(devices.error().message.find("/nonexistent-sysfs/bus/pci/devices"), std::string::npos);
}

TEST(PciDiscovery, UnreadableVendorIsAnErrorNamingTheFile) {
  FakeHost host;
  host.add({.address = "0000:05:00.0", .vendor = "nonsense"});
  auto devices = read_pci_devices(host.sysfs(), testing::test_ids());
  ASSERT_FALSE(devices.ok());
  EXPECT_NE(devices.error().message.find("0000:05:00.0/vendor"), std::string::npos)
      << devices.error().message;
}

TEST(PciDiscovery, SpecsAllowAndAliasesNameDevices) {
  FakeHost host;
  add_gpu_with_audio(host);
  auto devices = read_pci_devices(host.sysfs(), testing::test_ids());
  ASSERT_TRUE(devices.ok());
  apply_device_specs(*devices, testing::specs({R"({"vendor_id": "10de", "product_id": "11bf"})"}),
                     testing::alias_table({R"({"name": "K2_Grid", "vendor_id": "10de",
                                               "product_id": "11bf"})",
                                           R"({"name": "nvidia", "vendor_id": "10de"})"}));
  const auto& gpu = find(*devices, "0000:0a:00.0");
  EXPECT_TRUE(gpu.allowed);
  EXPECT_EQ(gpu.aliases, (std::vector<std::string>{"K2_Grid", "nvidia"}));
  const auto& audio = find(*devices, "0000:0a:00.1");
  EXPECT_FALSE(audio.allowed);
  EXPECT_EQ(audio.aliases, (std::vector<std::string>{"nvidia"}));
}

TEST(PciDiscovery, VfIsAllowedThroughItsPfAddress) {
  FakeHost host;
  host.add({.address = "0000:81:00.0",
            .vendor = "0x8086",
            .device = "0x10c9",
            .cls = "0x020000",
            .virtfns = {"0000:81:10.0"},
            .sriov_totalvfs = 7});
  host.add({.address = "0000:81:10.0",
            .vendor = "0x8086",
            .device = "0x10ca",
            .cls = "0x020000",
            .physfn = "0000:81:00.0"});
  host.add({.address = "0000:82:10.0",
            .vendor = "0x8086",
            .device = "0x10ca",
            .cls = "0x020000",
            .physfn = "0000:82:00.0"});
  auto devices = read_pci_devices(host.sysfs(), testing::test_ids());
  ASSERT_TRUE(devices.ok());
  apply_device_specs(*devices, testing::specs({R"({"address": "0000:81:00.0", "vendor_id": "8086",
                                         "product_id": "10ca"})"}),
                     AliasTable{});
  EXPECT_FALSE(find(*devices, "0000:81:00.0").allowed);  // its product is 10c9
  EXPECT_TRUE(find(*devices, "0000:81:10.0").allowed);   // VF of 0000:81:00.0
  EXPECT_FALSE(find(*devices, "0000:82:10.0").allowed);  // VF of another PF
}

TEST(PciDiscovery, JsonHasTheFieldsTheIssueAsksFor) {
  FakeHost host;
  add_gpu_with_audio(host);
  FakeDevice big{.address = "0000:41:00.0", .device = "0x2236", .iommu_group = 30};
  big.bars = {{0, 16 * kMiB}, {1, 32 * kGiBytes, testing::kMem64Prefetch}};
  host.add(big);
  auto devices = read_pci_devices(host.sysfs(), testing::test_ids());
  ASSERT_TRUE(devices.ok());
  apply_device_specs(*devices, testing::specs({R"({"vendor_id": "10de", "product_id": "11bf"})"}),
                     testing::alias_table({R"({"name": "K2_Grid", "vendor_id": "10de",
                                               "product_id": "11bf"})"}));
  auto json = nlohmann::json::parse(devices_to_json(*devices));
  ASSERT_TRUE(json.is_array());
  ASSERT_EQ(json.size(), 3u);
  const auto& gpu = json[0];
  EXPECT_EQ(gpu["address"], "0000:0a:00.0");
  EXPECT_EQ(gpu["vendor_id"], "10de");
  EXPECT_EQ(gpu["product_id"], "11bf");
  EXPECT_EQ(gpu["class"], "0x030000");
  EXPECT_EQ(gpu["vendor_name"], "NVIDIA Corporation");
  EXPECT_EQ(gpu["product_name"], "GK104GL [GRID K2]");
  EXPECT_EQ(gpu["numa_node"], 1);
  EXPECT_EQ(gpu["iommu_group"], 20);
  EXPECT_EQ(gpu["driver"], "vfio-pci");
  EXPECT_EQ(gpu["allowed"], true);
  EXPECT_EQ(gpu["aliases"], nlohmann::json::array({"K2_Grid"}));
  EXPECT_EQ(gpu["dev_type"], "type-PCI");
  EXPECT_TRUE(gpu["parent_addr"].is_null());
  EXPECT_EQ(gpu["reset_method"], nlohmann::json::array({"flr", "bus"}));
  EXPECT_EQ(json[1]["allowed"], false);
  EXPECT_EQ(json[1]["aliases"], nlohmann::json::array());
  const auto& a10 = json[2];
  EXPECT_EQ(a10["address"], "0000:41:00.0");
  EXPECT_TRUE(a10["numa_node"].is_null());
  ASSERT_EQ(a10["bars"].size(), 2u);
  EXPECT_EQ(a10["bars"][1]["size"], 32 * kGiBytes);
  EXPECT_EQ(a10["bars"][1]["64bit"], true);
}

TEST(PciIds, ReadsVendorAndDeviceLinesOnly) {
  const auto& ids = testing::test_ids();
  EXPECT_EQ(ids.vendor_name(*HexId::parse("8086")), "Intel Corporation");
  EXPECT_EQ(ids.device_name(*HexId::parse("8086"), *HexId::parse("10ca")),
            "82576 Virtual Function");
  // A device id under another vendor is a different device.
  EXPECT_EQ(ids.device_name(*HexId::parse("8086"), *HexId::parse("11bf")), "");
  // Subsystem lines are not devices, and nothing after the class section is a vendor.
  EXPECT_EQ(ids.device_name(*HexId::parse("10de"), *HexId::parse("10de")), "");
  EXPECT_EQ(ids.vendor_name(*HexId::parse("ffff")), "");
  EXPECT_EQ(ids.vendor_count(), 2u);
}

TEST(PciIds, SystemDatabaseKnowsTheSeedsGridK2) {
  const auto& ids = PciIds::system();
  EXPECT_EQ(ids.device_name(*HexId::parse("10de"), *HexId::parse("11bf")), "GK104GL [GRID K2]");
  EXPECT_EQ(&ids, &PciIds::system());  // parsed once
}

TEST(PciIds, MissingFileGivesAnEmptyDatabase) {
  auto ids = PciIds::load("/nonexistent/pci.ids");
  EXPECT_EQ(ids.vendor_count(), 0u);
  EXPECT_EQ(ids.vendor_name(*HexId::parse("10de")), "");
}

}  // namespace
}  // namespace gpucloud::agent

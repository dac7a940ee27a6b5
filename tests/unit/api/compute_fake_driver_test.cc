#include <gtest/gtest.h>

#include "compute/compute.h"

namespace gpucloud::compute {
namespace {

TEST(FakeDriver, ParseErrorsNameTheField) {
  auto expect = [](const std::string& text, const std::string& message) {
    auto d = make_fake_driver(text);
    ASSERT_FALSE(d.ok()) << text;
    EXPECT_EQ(d.error().message, message);
  };
  expect("[", "fake hosts: not valid JSON");
  expect(R"({"hosts": [{"name": "h", "vcpus": 1, "memory_mb": 1}]})", "hosts[0].disk_gb: required");
  expect(R"({"hosts": [{"name": "h", "vcpus": -1, "memory_mb": 1, "disk_gb": 1}]})",
         "hosts[0].vcpus: a non-negative integer is required");
  expect(R"({"hosts": [{"name": "h", "vcpus": 1, "memory_mb": 1, "disk_gb": 1, "gpus": 2}]})",
         "hosts[0]: unknown field 'gpus'");
  expect(R"({"hosts": [{"name": "h", "vcpus": 1, "memory_mb": 1, "disk_gb": 1,
             "pci_devices": [{"address": "0000:zz:00.0", "vendor_id": "10de", "product_id": "11bf"}]}]})",
         "hosts[0].pci_devices[0].address: '0000:zz:00.0' is not a PCI address");
  expect(R"({"hosts": [{"name": "h", "vcpus": 1, "memory_mb": 1, "disk_gb": 1},
                       {"name": "h", "vcpus": 1, "memory_mb": 1, "disk_gb": 1}]})",
         "hosts[1].name: 'h' is listed twice");
}

TEST(FakeDriver, SpawnPassesThroughOnlyFreeDevicesOfTheHost) {
  auto d = make_fake_driver(R"({"hosts": [{"name": "h", "vcpus": 4, "memory_mb": 4096,
      "disk_gb": 10, "pci_devices": [{"address": "0000:06:00.0", "vendor_id": "10de",
      "product_id": "11bf", "numa_node": 0}]}]})");
  ASSERT_TRUE(d.ok()) << d.error().message;
  ComputeDriver& driver = **d;
  auto hosts = driver.hosts();
  ASSERT_EQ(hosts->size(), 1u);
  EXPECT_EQ(hosts->front().pci_devices.front().numa_node, 0);
  store::Instance a;
  a.uuid = "a";
  a.host = "h";
  store::PciDeviceRecord dev;
  dev.address = *PciAddress::parse("0000:06:00.0");
  ASSERT_TRUE(driver.spawn(a, {}, {}, {dev}).ok());
  store::Instance b = a;
  b.uuid = "b";
  auto conflict = driver.spawn(b, {}, {}, {dev});
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code, ErrorCode::kConflict);
  dev.address = *PciAddress::parse("0000:07:00.0");
  EXPECT_EQ(driver.spawn(b, {}, {}, {dev}).error().code, ErrorCode::kNotFound);
  b.host = "elsewhere";
  EXPECT_EQ(driver.spawn(b, {}, {}, {}).error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(driver.power_off("h", "a").ok());
  EXPECT_EQ(driver.list_domains("h")->front().power, store::PowerState::kShutdown);
  ASSERT_TRUE(driver.destroy("h", "a").ok());
  ASSERT_TRUE(driver.destroy("h", "a").ok());  // idempotent
  EXPECT_TRUE(driver.list_domains("h")->empty());
}

}  // namespace
}  // namespace gpucloud::compute

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
  expect(R"({"hosts": [{"name": "h", "vcpus": 1, "memory_mb": 1, "disk_gb": 1,
             "guest_network": "127.0.1.0"}]})",
         "hosts[0].guest_network: '127.0.1.0' is not an IPv4 network like 127.0.1.0/24");
  expect(R"({"hosts": [{"name": "h", "vcpus": 1, "memory_mb": 1, "disk_gb": 1,
             "guest_network": "127.0.1.5/24"}]})",
         "hosts[0].guest_network: '127.0.1.5/24' has host bits set");
  expect(R"({"hosts": [{"name": "h", "vcpus": 1, "memory_mb": 1, "disk_gb": 1,
             "guest_network": "127.0.1.0/31"}]})",
         "hosts[0].guest_network: '127.0.1.0/31' needs a prefix length from 8 to 30");
}

// Guests get loopback addresses so that readiness probes have something to reach: distinct per
// host by default, lowest free first, reused after a guest is destroyed.
TEST(FakeDriver, GuestsGetAddressesOfTheirHostsNetwork) {
  auto d = make_fake_driver(R"({"hosts": [
      {"name": "h1", "vcpus": 4, "memory_mb": 4096, "disk_gb": 10},
      {"name": "h2", "vcpus": 4, "memory_mb": 4096, "disk_gb": 10},
      {"name": "h3", "vcpus": 4, "memory_mb": 4096, "disk_gb": 10,
       "guest_network": "127.9.0.0/30"}]})");
  ASSERT_TRUE(d.ok()) << d.error().message;
  ComputeDriver& driver = **d;
  auto boot = [&](const std::string& uuid, const std::string& host) {
    store::Instance i;
    i.uuid = uuid;
    i.host = host;
    EXPECT_TRUE(driver.spawn(i, {}, {}, {}).ok());
    auto ip = driver.guest_address(host, uuid);
    EXPECT_TRUE(ip.ok());
    return ip.ok() ? *ip : "?";
  };
  EXPECT_EQ(boot("a", "h1"), "127.0.1.2");
  EXPECT_EQ(boot("b", "h1"), "127.0.1.3");
  EXPECT_EQ(boot("c", "h2"), "127.0.2.2");
  ASSERT_TRUE(driver.destroy("h1", "a").ok());
  EXPECT_EQ(boot("d", "h1"), "127.0.1.2");
  EXPECT_EQ(driver.list_domains("h1")->size(), 2u);
  // A /30 has one guest address after the gateway; the next guest has none.
  EXPECT_EQ(boot("e", "h3"), "127.9.0.2");
  EXPECT_EQ(boot("f", "h3"), "");
  EXPECT_EQ(driver.guest_address("h1", "nobody").error().code, ErrorCode::kNotFound);
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

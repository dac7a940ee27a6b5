// Discovery reads which PCIe switch a device is behind from where its sysfs folder really is.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "agent/agent.h"
#include "unit/agent/fake_host.h"

namespace gpucloud::agent {
namespace {

using testing::FakeDevice;
using testing::FakeHost;

TEST(PciTopology, TheSwitchIsTheGrandparentBridgeOfTheDevice) {
  FakeHost host;
  FakeDevice a;
  a.address = "0000:06:00.0";  // behind switch 0000:04:00.0, downstream port 05:08.0
  a.sysfs_parent = "pci0000:00/0000:00:01.0/0000:04:00.0/0000:05:08.0";
  FakeDevice b = a;
  b.address = "0000:07:00.0";  // the same switch, another downstream port
  b.sysfs_parent = "pci0000:00/0000:00:01.0/0000:04:00.0/0000:05:10.0";
  FakeDevice c = a;
  c.address = "0000:41:00.0";  // directly under a root port: no switch
  c.sysfs_parent = "pci0000:40/0000:40:01.0";
  FakeDevice d = a;
  d.address = "0000:81:00.0";  // a plain folder (no link to sys/devices)
  d.sysfs_parent = "";
  for (const auto& dev : {a, b, c, d}) host.add(dev);
  auto devices = read_pci_devices(host.sysfs(), testing::test_ids());
  ASSERT_TRUE(devices.ok()) << devices.error().message;
  ASSERT_EQ(devices->size(), 4u);
  EXPECT_EQ((*devices)[0].pcie_switch, "0000:04:00.0");
  EXPECT_EQ((*devices)[1].pcie_switch, "0000:04:00.0");
  EXPECT_EQ((*devices)[2].pcie_switch, "");
  EXPECT_EQ((*devices)[3].pcie_switch, "");
  // `pci discover` shows it.
  auto json = nlohmann::json::parse(devices_to_json(*devices));
  EXPECT_EQ(json[0]["pcie_switch"], "0000:04:00.0");
  EXPECT_TRUE(json[2]["pcie_switch"].is_null());
}

}  // namespace
}  // namespace gpucloud::agent

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "compute/compute.h"
#include "probe/probe.h"

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

// The firewall is kept per guest: set before the guest exists (run_task applies it before
// spawn), replaced by the next apply, forgotten by destroy; an unknown host is kNotFound.
TEST(FakeDriver, KeepsEachGuestsFirewallUntilDestroy) {
  auto d = make_fake_driver(
      R"({"hosts": [{"name": "h", "vcpus": 4, "memory_mb": 4096, "disk_gb": 10}]})");
  ASSERT_TRUE(d.ok()) << d.error().message;
  ComputeDriver& driver = **d;
  auto none = driver.firewall("h", "a");
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_FALSE(none->has_value());

  const Firewall ssh{{FirewallRule{"tcp", 22, 22, "0.0.0.0/0"}}};
  ASSERT_TRUE(driver.apply_firewall("h", "a", ssh).ok());
  store::Instance a;
  a.uuid = "a";
  a.host = "h";
  ASSERT_TRUE(driver.spawn(a, {}, {}, {}).ok());
  EXPECT_EQ(driver.firewall("h", "a")->value(), ssh);

  const Firewall ping{{FirewallRule{"icmp", 8, -1, "10.0.0.0/8"}}};
  ASSERT_TRUE(driver.apply_firewall("h", "a", ping).ok());
  EXPECT_EQ(driver.firewall("h", "a")->value(), ping);
  EXPECT_FALSE(driver.firewall("h", "b")->has_value());

  ASSERT_TRUE(driver.destroy("h", "a").ok());
  EXPECT_FALSE(driver.firewall("h", "a")->has_value());

  EXPECT_EQ(driver.apply_firewall("elsewhere", "a", ssh).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(driver.firewall("elsewhere", "a").error().code, ErrorCode::kNotFound);
}

// `gpucloud up`'s probes need something to reach: each guest's stand-in answers on its loopback
// address, on ports of its own that the driver reports as forwarded guest ports 22 and
// service_url's, so a probe of port 22 can never reach the host's own sshd.
TEST(FakeDriver, GuestsHaveStandInServicesOnTheirAddress) {
  auto d = make_fake_driver(R"({"hosts": [{"name": "h1", "vcpus": 4, "memory_mb": 4096,
      "disk_gb": 10, "guest_network": "127.0.77.0/24"}]})");
  ASSERT_TRUE(d.ok()) << d.error().message;
  ComputeDriver& driver = **d;
  store::Instance up;
  up.uuid = "up";
  up.name = "web";
  up.host = "h1";
  store::Image image;
  image.properties["service_url"] = "http://{}:8080/health";
  ASSERT_TRUE(driver.spawn(up, {}, image, {}).ok());
  auto g = driver.guest("h1", "up");
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_EQ(g->ip_address, "127.0.77.2");
  EXPECT_EQ(g->address_source, "fake");
  ASSERT_EQ(g->forwarded_ports.size(), 2u);
  const probe::Endpoint at{g->ip_address, g->forwarded_ports};
  const auto timeout = std::chrono::seconds(3);
  EXPECT_NE(at.port_for(22), 22);
  EXPECT_TRUE(probe::probe_ssh(at.ip, at.port_for(22), timeout).ok());
  probe::Spec http;
  http.service_url = image.properties["service_url"];
  http.timeout = timeout;
  Status s = probe::probe_guest(at, http);
  EXPECT_TRUE(s.ok()) << s.error().message;

  // A guest whose service never started: the ports answer, the service does not.
  store::Instance down = up;
  down.uuid = "down";
  down.name = "broken";
  down.metadata["gpucloud_fake_service"] = "down";
  ASSERT_TRUE(driver.spawn(down, {}, image, {}).ok());
  auto dg = driver.guest("h1", "down");
  ASSERT_TRUE(dg.ok());
  const probe::Endpoint bad{dg->ip_address, dg->forwarded_ports};
  s = probe::probe_guest(bad, http);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("HTTP 503"), std::string::npos) << s.error().message;
  s = probe::probe_guest(bad, probe::Spec{"", 22, timeout, false});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("without an SSH-2.0 banner"), std::string::npos)
      << s.error().message;

  // Destroyed: nothing listens there any more.
  ASSERT_TRUE(driver.destroy("h1", "up").ok());
  s = probe::probe_ssh(at.ip, at.port_for(22), timeout);
  EXPECT_FALSE(s.ok());
}

}  // namespace
}  // namespace gpucloud::compute

namespace gpucloud::compute {
namespace {

// Cleaning on the fake driver: clean unless a guest still has the device, the device is not on
// the host, or the hosts file makes it fail; one_time_use comes back as the device's tag.
TEST(FakeDriver, CleaningFollowsTheHostsFile) {
  auto d = make_fake_driver(R"({"hosts": [{"name": "h", "vcpus": 4, "memory_mb": 4096,
      "disk_gb": 10, "pci_devices": [
        {"address": "0000:06:00.0", "vendor_id": "10de", "product_id": "11bf"},
        {"address": "0000:07:00.0", "vendor_id": "10de", "product_id": "11bf",
         "clean_fails": "scrub: the command exited with status 1", "one_time_use": true}]}]})");
  ASSERT_TRUE(d.ok()) << d.error().message;
  ComputeDriver& driver = **d;
  auto hosts = driver.hosts();
  ASSERT_EQ(hosts->size(), 1u);
  const auto second = *PciAddress::parse("0000:07:00.0");
  EXPECT_EQ(hosts->front().device_tags.at(second).at("one_time_use"), "true");
  EXPECT_EQ(hosts->front().device_tags.count(*PciAddress::parse("0000:06:00.0")), 0u);

  auto device = [](const std::string& addr) {
    CleanDevice c;
    c.address = *PciAddress::parse(addr);
    return c;
  };
  store::Instance i;
  i.uuid = "g1";
  i.host = "h";
  store::PciDeviceRecord rec;
  rec.address = *PciAddress::parse("0000:06:00.0");
  ASSERT_TRUE(driver.spawn(i, {}, {}, {rec}).ok());
  auto out =
      driver.clean("h", {device("0000:06:00.0"), device("0000:07:00.0"), device("0000:99:00.0")});
  ASSERT_TRUE(out.ok()) << out.error().message;
  ASSERT_EQ(out->size(), 3u);
  EXPECT_FALSE((*out)[0].clean);
  EXPECT_EQ((*out)[0].reason, "still passed through to guest g1");
  EXPECT_FALSE((*out)[1].clean);
  EXPECT_EQ((*out)[1].reason, "scrub: the command exited with status 1");
  EXPECT_FALSE((*out)[2].clean);
  EXPECT_EQ((*out)[2].reason, "the host has no PCI device 0000:99:00.0");
  ASSERT_TRUE(driver.destroy("h", "g1").ok());
  out = driver.clean("h", {device("0000:06:00.0")});
  EXPECT_TRUE((*out)[0].clean);
  EXPECT_EQ(driver.clean("nope", {}).error().code, ErrorCode::kNotFound);

  EXPECT_EQ(make_fake_driver(R"({"hosts": [{"name": "h", "vcpus": 1, "memory_mb": 1,
      "disk_gb": 1, "pci_devices": [{"address": "0000:06:00.0", "vendor_id": "10de",
      "product_id": "11bf", "one_time_use": "yes"}]}]})")
                .error()
                .message,
            "hosts[0].pci_devices[0].one_time_use: a boolean is required");
}

// The agent's report carries the device specs' tags to the server, and bad tags are named.
TEST(AgentProtocol, HostReportCarriesDeviceTags) {
  HostResources h;
  h.name = "h";
  PciDevice p;
  p.address = *PciAddress::parse("0000:06:00.0");
  p.vendor_id = *HexId::parse("10de");
  p.product_id = *HexId::parse("11bf");
  h.pci_devices.push_back(p);
  h.device_tags[p.address] = {{"one_time_use", "true"}};
  auto back = host_resources_from_json(host_resources_to_json(h));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->device_tags.at(p.address).at("one_time_use"), "true");
  auto bad = host_resources_from_json(R"({"name": "h", "vcpus": 1, "memory_mb": 1, "disk_gb": 1,
      "pci_devices": [{"address": "0000:06:00.0", "vendor_id": "10de", "product_id": "11bf",
                       "tags": {"one_time_use": true}}]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "pci_devices[0].tags.one_time_use: a string is required");
}

// A clean task's payload is checked field by field, and run_clean answers per device.
TEST(AgentProtocol, CleanTaskPayloadAndResult) {
  auto d = make_fake_driver(R"({"hosts": [{"name": "h", "vcpus": 4, "memory_mb": 4096,
      "disk_gb": 10, "pci_devices": [
        {"address": "0000:06:00.0", "vendor_id": "10de", "product_id": "11bf"}]}]})");
  ASSERT_TRUE(d.ok());
  store::AgentTask t;
  t.id = "t1";
  t.host = "h";
  t.kind = "clean";
  t.payload = R"({"devices": [{"id": 5, "address": "0000:06:00.0", "vendor_id": "10de",
                               "product_id": "11bf"}]})";
  auto r = run_clean(**d, t);
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto j = nlohmann::json::parse(*r);
  EXPECT_EQ(j["devices"][0]["id"], 5);
  EXPECT_EQ(j["devices"][0]["clean"], true);
  t.payload = R"({"devices": [{"id": 5, "address": "bad", "vendor_id": "10de",
                               "product_id": "11bf"}]})";
  EXPECT_EQ(run_clean(**d, t).error().message,
            "payload.devices[0].address: 'bad' is not a PCI address");
  t.payload = "{}";
  EXPECT_EQ(run_clean(**d, t).error().message, "clean task: payload.devices: a list is required");
}

}  // namespace
}  // namespace gpucloud::compute

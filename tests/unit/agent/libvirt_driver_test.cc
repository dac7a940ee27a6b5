// The libvirt driver through the ComputeDriver interface against libvirt's test:///default
// driver (in-process, no daemon, no QEMU): define, start, stop, undefine, and what it refuses.
#include <gtest/gtest.h>
#include <libvirt/libvirt.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>

#include "agent/agent.h"
#include "agent/libvirt_command.h"
#include "unit/agent/fake_host.h"

namespace gpucloud::agent {
namespace {

store::PciDeviceRecord gpu(const char* address) {
  store::PciDeviceRecord r;
  r.address = PciAddress::parse(address).value();
  r.vendor_id = VendorId::parse("10de").value();
  r.product_id = ProductId::parse("1eb8").value();
  return r;
}

class LibvirtTestDriver : public ::testing::Test {
 protected:
  void SetUp() override {
    LibvirtOptions o;
    o.uri = "test:///default";
    o.host_name = "gpu-host-1";
    o.instances_path = "/nonexistent/gpucloud-test";
    o.domain.domain_type = "test";
    o.domain.network = "default";  // the test driver has one
    o.prepare_storage = false;
    auto d = make_libvirt_driver(o);
    ASSERT_TRUE(d.ok()) << d.error().message;
    driver_ = std::move(*d);
  }

  store::Instance instance(const std::string& uuid) {
    store::Instance i;
    i.uuid = uuid;
    i.name = "vm";
    i.host = "gpu-host-1";
    return i;
  }

  std::optional<compute::DomainInfo> find(const std::string& uuid) {
    auto doms = driver_->list_domains("gpu-host-1");
    EXPECT_TRUE(doms.ok());
    for (const auto& d : *doms) {
      if (d.instance_uuid == uuid) return d;
    }
    return std::nullopt;
  }

  std::unique_ptr<compute::ComputeDriver> driver_;
  store::Flavor flavor_;
  store::Image image_;
};

TEST_F(LibvirtTestDriver, ReportsItsHost) {
  EXPECT_EQ(driver_->type(), "libvirt");
  auto hosts = driver_->hosts();
  ASSERT_TRUE(hosts.ok()) << hosts.error().message;
  ASSERT_EQ(hosts->size(), 1u);
  EXPECT_EQ((*hosts)[0].name, "gpu-host-1");
  EXPECT_GT((*hosts)[0].vcpus, 0);
  EXPECT_GT((*hosts)[0].memory_mb, 0);
  // Its guests' network, as os-networks lists it: the test driver's default is NAT on .122.
  EXPECT_EQ((*hosts)[0].guest_network, "default");
  EXPECT_EQ((*hosts)[0].guest_cidr, "192.168.122.0/24");
}

// Reserved fixed IPs become DHCP host entries of the network, changed as the set changes.
TEST_F(LibvirtTestDriver, ReservedAddressesAreKeptFromDhcp) {
  virConnectPtr conn = virConnectOpen("test:///default");
  ASSERT_NE(conn, nullptr);
  auto network_xml = [&] {
    virNetworkPtr net = virNetworkLookupByName(conn, "default");
    EXPECT_NE(net, nullptr);
    char* xml = net ? virNetworkGetXMLDesc(net, 0) : nullptr;
    std::string out = xml ? xml : "";
    free(xml);
    if (net) virNetworkFree(net);
    return out;
  };
  auto s = driver_->reserve_addresses("gpu-host-1", {"192.168.122.50", "192.168.122.51"});
  ASSERT_TRUE(s.ok()) << s.error().message;
  std::string xml = network_xml();
  EXPECT_NE(xml.find("ip='192.168.122.50'"), std::string::npos) << xml;
  EXPECT_NE(xml.find("ip='192.168.122.51'"), std::string::npos) << xml;
  s = driver_->reserve_addresses("gpu-host-1", {"192.168.122.51"});
  ASSERT_TRUE(s.ok()) << s.error().message;
  xml = network_xml();
  EXPECT_EQ(xml.find("ip='192.168.122.50'"), std::string::npos) << xml;
  EXPECT_NE(xml.find("ip='192.168.122.51'"), std::string::npos) << xml;
  ASSERT_TRUE(driver_->reserve_addresses("gpu-host-1", {}).ok());
  EXPECT_EQ(network_xml().find("02:67:63"), std::string::npos);
  EXPECT_FALSE(driver_->reserve_addresses("other-host", {}).ok());
  virConnectClose(conn);
}

TEST_F(LibvirtTestDriver, DefineStartStopUndefine) {
  const std::string uuid = "11111111-2222-4333-8444-000000000001";
  auto s =
      driver_->spawn(instance(uuid), flavor_, image_, {gpu("0000:0a:00.0"), gpu("0000:0a:00.1")});
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto d = find(uuid);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->name, "instance-" + uuid);
  EXPECT_EQ(d->power, store::PowerState::kRunning);
  std::vector<PciAddress> want = {gpu("0000:0a:00.0").address, gpu("0000:0a:00.1").address};
  EXPECT_EQ(d->pci_devices, want);

  ASSERT_TRUE(driver_->power_off("gpu-host-1", uuid).ok());
  EXPECT_EQ(find(uuid)->power, store::PowerState::kShutdown);
  ASSERT_TRUE(driver_->power_off("gpu-host-1", uuid).ok());  // already off: nothing to do
  ASSERT_TRUE(driver_->power_on("gpu-host-1", uuid).ok());
  EXPECT_EQ(find(uuid)->power, store::PowerState::kRunning);
  ASSERT_TRUE(driver_->reboot("gpu-host-1", uuid, true).ok());
  EXPECT_EQ(find(uuid)->power, store::PowerState::kRunning);

  ASSERT_TRUE(driver_->destroy("gpu-host-1", uuid).ok());
  EXPECT_FALSE(find(uuid).has_value());
  EXPECT_TRUE(driver_->destroy("gpu-host-1", uuid).ok());  // idempotent
  auto off = driver_->power_on("gpu-host-1", uuid);
  ASSERT_FALSE(off.ok());
  EXPECT_EQ(off.error().code, ErrorCode::kNotFound);
}

// test:///default has no nwfilter driver: a firewall cannot be set there (kNotImplemented, which
// the agent logs and goes on), and the guest spawns without a filter reference.
TEST_F(LibvirtTestDriver, WithoutNwfilterAFirewallIsNotImplementedAndTheSpawnGoesOn) {
  const std::string uuid = "11111111-2222-4333-8444-0000000000f1";
  compute::Firewall fw;
  fw.ingress = {{"tcp", 22, 22, "0.0.0.0/0"}};
  auto s = driver_->apply_firewall("gpu-host-1", uuid, fw);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kNotImplemented) << s.error().message;
  EXPECT_EQ(driver_->apply_firewall("other-host", uuid, fw).error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(driver_->spawn(instance(uuid), flavor_, image_, {}).ok());
  EXPECT_TRUE(find(uuid).has_value());
  // Nothing is enforced there, and firewall() says so (no filter) rather than failing.
  auto held = driver_->firewall("gpu-host-1", uuid);
  ASSERT_TRUE(held.ok()) << held.error().message;
  EXPECT_FALSE(held->has_value());
  EXPECT_EQ(driver_->firewall("other-host", uuid).error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(driver_->destroy("gpu-host-1", uuid).ok());
}

TEST_F(LibvirtTestDriver, RefusesADeviceAnotherGuestUses) {
  const std::string a = "11111111-2222-4333-8444-000000000002";
  const std::string b = "11111111-2222-4333-8444-000000000003";
  ASSERT_TRUE(driver_->spawn(instance(a), flavor_, image_, {gpu("0000:41:00.0")}).ok());
  auto s = driver_->spawn(instance(b), flavor_, image_, {gpu("0000:41:00.0")});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kConflict);
  EXPECT_NE(s.error().message.find("0000:41:00.0"), std::string::npos) << s.error().message;
  EXPECT_FALSE(find(b).has_value());
  auto again = driver_->spawn(instance(a), flavor_, image_, {});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  EXPECT_TRUE(driver_->destroy("gpu-host-1", a).ok());
}

TEST_F(LibvirtTestDriver, OtherHostsAndBadImagesAreRefused) {
  store::Instance i = instance("11111111-2222-4333-8444-000000000004");
  i.host = "elsewhere";
  auto s = driver_->spawn(i, flavor_, image_, {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(driver_->list_domains("elsewhere").ok());
  i.host = "gpu-host-1";
  store::Image bad;
  bad.properties["hw_video_ram"] = "64";  // no hw_video:ram_max_mb in the flavor
  s = driver_->spawn(i, flavor_, bad, {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(find(i.uuid).has_value());
}

// Storage on the test driver: the overlay and the config drive are made for real, the domain is
// not started by QEMU (test:///default never opens them).
TEST(LibvirtDriver, PreparesStorageAndCleansUp) {
  if (!run_command({"qemu-img", "--version"}).ok() ||
      !run_command({"genisoimage", "--version"}).ok()) {
    GTEST_SKIP() << "qemu-img or genisoimage not installed (scripts/packages.txt)";
  }
  char tmpl[] = "/tmp/gpucloud-lv-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string root = tmpl;
  LibvirtOptions o;
  o.uri = "test:///default";
  o.host_name = "gpu-host-1";
  o.instances_path = root + "/instances";
  o.domain.domain_type = "test";
  auto d = make_libvirt_driver(o);
  ASSERT_TRUE(d.ok());
  store::Instance i;
  i.uuid = "11111111-2222-4333-8444-000000000005";
  i.host = "gpu-host-1";
  store::Image image;
  image.id = "img";
  image.location = root + "/missing.raw";
  auto s = (*d)->spawn(i, store::Flavor{}, image, {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(o.instances_path + "/" + i.uuid));  // nothing left behind

  image.location = root + "/base.raw";
  ASSERT_TRUE(run_checked({"qemu-img", "create", "-q", "-f", "raw", image.location, "1M"}).ok());
  image.disk_format = "raw";
  s = (*d)->spawn(i, store::Flavor{}, image, {});
  ASSERT_TRUE(s.ok()) << s.error().message;
  std::string dir = o.instances_path + "/" + i.uuid;
  EXPECT_TRUE(std::filesystem::exists(o.instances_path + "/_base/img"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/disk.config"));
  auto info = run_command({"qemu-img", "info", dir + "/disk"});
  ASSERT_TRUE(info.ok());
  EXPECT_NE(info->output.find("file format: qcow2"), std::string::npos) << info->output;
  EXPECT_NE(info->output.find("backing file: " + o.instances_path + "/_base/img"),
            std::string::npos)
      << info->output;

  // A shelve's snapshot: the guest is powered off and its overlay flattened into one qcow2 file
  // that needs no backing file (it becomes an image of its own).
  const std::string snap = root + "/snapshot.qcow2";
  s = compute::snapshot_guest(**d, "gpu-host-1", i.uuid, snap);
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto snap_info = run_command({"qemu-img", "info", snap});
  ASSERT_TRUE(snap_info.ok());
  EXPECT_NE(snap_info->output.find("file format: qcow2"), std::string::npos) << snap_info->output;
  EXPECT_EQ(snap_info->output.find("backing file"), std::string::npos) << snap_info->output;
  EXPECT_EQ((*d)->guest("gpu-host-1", i.uuid)->power, store::PowerState::kShutdown);
  EXPECT_EQ(compute::snapshot_guest(**d, "gpu-host-1", "no-such-guest", snap).error().code,
            ErrorCode::kNotFound);

  ASSERT_TRUE((*d)->destroy("gpu-host-1", i.uuid).ok());
  EXPECT_FALSE(std::filesystem::exists(dir));
  std::filesystem::remove_all(root);
}

TEST(LibvirtDriver, UnreachableUriIsUnavailable) {
  LibvirtOptions o;
  o.uri = "test:///nonexistent/file.xml";
  auto d = make_libvirt_driver(o);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(d.error().message.find("test:///nonexistent/file.xml"), std::string::npos);
}

// A reset the agent may not write goes to libvirtd by the device's node name; libvirt's test
// driver has no such PCI node, and its answer is the reason.
TEST(LibvirtDriver, ResetRefusedForPrivilegeAsksLibvirtdForThePciNode) {
  testing::FakeHost host;
  testing::FakeDevice dev;
  dev.address = "0000:0a:00.0";
  dev.driver = "vfio-pci";
  dev.reset_file = false;
  host.add(dev);
  std::filesystem::create_symlink("/sys/devices/system/cpu/online",
                                  host.sysfs() / "bus/pci/devices/0000:0a:00.0/reset");
  LibvirtOptions o;
  o.uri = "test:///default";
  o.host_name = "gpu-host-1";
  o.prepare_storage = false;
  o.clean.sysfs_root = host.sysfs().string();
  auto d = make_libvirt_driver(o);
  ASSERT_TRUE(d.ok()) << d.error().message;
  compute::CleanDevice c;
  c.address = PciAddress::parse("0000:0a:00.0").value();
  c.vendor_id = VendorId::parse("10de").value();
  auto out = (*d)->clean("gpu-host-1", {c});
  ASSERT_TRUE(out.ok()) << out.error().message;
  ASSERT_EQ(out->size(), 1u);
  EXPECT_FALSE((*out)[0].clean);
  EXPECT_EQ((*out)[0].reason.rfind("reset through libvirtd: libvirt: ", 0), 0u) << (*out)[0].reason;
  EXPECT_NE((*out)[0].reason.find("pci_0000_0a_00_0"), std::string::npos) << (*out)[0].reason;
}

}  // namespace
}  // namespace gpucloud::agent

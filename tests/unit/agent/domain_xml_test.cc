// Domain definitions and XML: nova's image-property semantics, the fixed guest PCI layout, and
// golden files (tests/data/agent/domains/*.xml) that virt-xml-validate accepts.
// GPUCLOUD_UPDATE_GOLDEN=1 rewrites the golden files from the formatter.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/agent.h"
#include "agent/domain_graphics.h"
#include "agent/libvirt_command.h"

namespace gpucloud::agent {
namespace {

const std::string kDomains = std::string(GPUCLOUD_TEST_DATA) + "/agent/domains/";

PciAddress xml_addr(const char* text) { return PciAddress::parse(text).value(); }

store::PciDeviceRecord gpu(const char* address, const char* vendor = "10de") {
  store::PciDeviceRecord r;
  r.address = xml_addr(address);
  r.vendor_id = VendorId::parse(vendor).value();
  r.product_id = ProductId::parse("1eb8").value();
  return r;
}

struct Case {
  std::string name;
  std::map<std::string, std::string> image_props;
  std::map<std::string, std::string> flavor_specs;
  std::vector<store::PciDeviceRecord> devices;
  bool spice = false;
  std::string network = "default";
  int64_t mmio64_mb = 0;
  std::map<std::string, std::string> system_metadata = {};
};

Result<DomainSpec> spec_for(const Case& c) {
  store::Instance inst;
  inst.uuid = "6f0e2c3a-1b7d-4c1e-9a55-0123456789ab";
  inst.system_metadata = c.system_metadata;
  store::Flavor flavor;
  flavor.vcpus = 4;
  flavor.memory_mb = 8192;
  flavor.extra_specs = c.flavor_specs;
  store::Image image;
  image.id = "9b1f4a8e-0000-4000-8000-000000000001";
  image.properties = c.image_props;
  DomainOptions opts;
  opts.spice_enabled = c.spice;
  opts.network = c.network;
  opts.instance_dir = "/var/lib/gpucloud/instances/" + inst.uuid;
  opts.disk_path = opts.instance_dir + "/disk";
  opts.config_drive_path = opts.instance_dir + "/disk.config";
  opts.mmio64_mb = c.mmio64_mb;
  opts.kernel_path = opts.instance_dir + "/kernel";
  opts.ramdisk_path = opts.instance_dir + "/ramdisk";
  return make_domain_spec(inst, flavor, image, c.devices, opts);
}

std::vector<Case> golden_cases() {
  return {
      {"pc_bios_vnc", {}, {}, {}, false, "default", 0},
      {"q35_uefi_spice_qxl_gpu_audio",
       {{"hw_machine_type", "q35"}, {"hw_firmware_type", "uefi"}, {"hw_video_ram", "64"}},
       {{"hw_video:ram_max_mb", "128"}},
       {gpu("0000:0a:00.0"), gpu("0000:0a:00.1"), gpu("0000:0b:00.0", "1002")},
       true,
       "default",
       262144},
      {"pc_two_gpus_vga",
       {{"hw_video_model", "vga"}},
       {},
       {gpu("0000:41:00.0"), gpu("0000:81:00.0")},
       false,
       "",
       0},
      {"spice_video_none", {{"hw_video_model", "none"}}, {}, {gpu("0000:3b:00.0")}, true, "", 0},
      // The real-VM test's guest: the guest agent's channel and a kernel booted directly.
      {"guest_agent_kernel_boot",
       {{"hw_qemu_guest_agent", "yes"},
        {"kernel_id", "k"},
        {"ramdisk_id", "r"},
        {"os_command_line", "console=ttyS0 quiet"}},
       {},
       {},
       false,
       "default",
       0},
  };
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(DomainXml, GoldenFiles) {
  bool update = std::getenv("GPUCLOUD_UPDATE_GOLDEN") != nullptr;
  for (const auto& c : golden_cases()) {
    SCOPED_TRACE(c.name);
    auto spec = spec_for(c);
    ASSERT_TRUE(spec.ok()) << spec.error().message;
    std::string xml = to_domain_xml(*spec);
    std::string path = kDomains + c.name + ".xml";
    if (update) std::ofstream(path) << xml;
    EXPECT_EQ(read_file(path), xml) << "golden file " << path;
  }
}

TEST(DomainXml, GoldenFilesPassVirtXmlValidate) {
  auto probe = run_command({"virt-xml-validate", "--help"});
  if (!probe.ok()) GTEST_SKIP() << "virt-xml-validate not installed (Debian: libvirt-clients)";
  for (const auto& c : golden_cases()) {
    auto r = run_command({"virt-xml-validate", kDomains + c.name + ".xml", "domain"});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->exit_code, 0) << c.name << ": " << r->output;
  }
}

// A guest's NIC references its firewall when it has one.
TEST(DomainXml, NicReferencesTheGuestsFirewall) {
  DomainSpec s;
  s.name = "instance-u";
  s.uuid = "u";
  s.networks.push_back({"default", "virtio", "gpucloud-u"});
  std::string xml = to_domain_xml(s);
  EXPECT_NE(xml.find("      <model type='virtio'/>\n      <filterref filter='gpucloud-u'/>\n"
                     "    </interface>"),
            std::string::npos)
      << xml;
  s.networks[0].filter.clear();
  EXPECT_EQ(to_domain_xml(s).find("filterref"), std::string::npos);
}

TEST(DomainXml, EscapesNamesAndPaths) {
  DomainSpec s;
  s.name = "a<b>&'\"";
  s.uuid = "u";
  s.disks.push_back({"disk", "/x/it's & <y>", "qcow2", "vda", "virtio", false});
  std::string xml = to_domain_xml(s);
  EXPECT_NE(xml.find("<name>a&lt;b&gt;&amp;&apos;&quot;</name>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("file='/x/it&apos;s &amp; &lt;y&gt;'"), std::string::npos) << xml;
}

TEST(DomainSpec, NovaDefaults) {
  Case c{"defaults", {}, {}, {}, false, "", 0};
  auto s = spec_for(c);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->machine_type, "pc");  // nova's x86_64 default
  EXPECT_EQ(s->firmware, Firmware::kBios);
  EXPECT_EQ(s->graphics, GraphicsType::kVnc);
  EXPECT_EQ(s->video, VideoModel::kVirtio);  // nova without SPICE
  EXPECT_FALSE(s->video_ram_mb.has_value());
  c.spice = true;
  s = spec_for(c);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->graphics, GraphicsType::kSpice);
  EXPECT_EQ(s->video, VideoModel::kQxl);  // nova with SPICE
}

// A server booted with networks "none" gets no NIC, whatever network the host offers.
TEST(DomainSpec, NetworksNoneLeavesTheGuestWithoutANic) {
  Case c{"nic", {}, {}, {}, false, "default", 0};
  auto with = spec_for(c);
  ASSERT_TRUE(with.ok());
  ASSERT_EQ(with->networks.size(), 1u);
  EXPECT_EQ(with->networks[0].network, "default");
  c.system_metadata = {{"networks", "none"}};
  auto without = spec_for(c);
  ASSERT_TRUE(without.ok());
  EXPECT_TRUE(without->networks.empty());
  EXPECT_EQ(to_domain_xml(*without).find("<interface"), std::string::npos);
}

TEST(DomainSpec, VideoRamAboveFlavorMaximumIsRefused) {
  Case c{"vram",
         {{"hw_video_model", "qxl"}, {"hw_video_ram", "256"}},
         {{"hw_video:ram_max_mb", "128"}},
         {},
         true,
         "",
         0};
  auto s = spec_for(c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(s.error().message,
            "image property hw_video_ram: 256 MiB is above the flavor's hw_video:ram_max_mb (128)");
  // nova: no maximum in the flavor allows no video RAM at all.
  c.flavor_specs.clear();
  s = spec_for(c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("hw_video:ram_max_mb (0)"), std::string::npos);
  c.image_props["hw_video_ram"] = "128";
  c.flavor_specs["hw_video:ram_max_mb"] = "128";
  s = spec_for(c);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_NE(to_domain_xml(*s).find("<model type='qxl' vram='131072'"), std::string::npos);
}

TEST(DomainSpec, GuestAgentPropertyIsABoolean) {
  Case c{"x", {{"hw_qemu_guest_agent", "maybe"}}, {}, {}, false, "default", 0};
  auto spec = spec_for(c);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.error().message, "image property hw_qemu_guest_agent: 'maybe' is not yes or no");
  c.image_props["hw_qemu_guest_agent"] = "No";
  ASSERT_TRUE(spec_for(c).ok());
  EXPECT_FALSE(spec_for(c)->guest_agent);
  EXPECT_EQ(to_domain_xml(*spec_for(c)).find("guest_agent"), std::string::npos);
}

TEST(DomainSpec, BadPropertiesNameTheProperty) {
  Case c{"bad", {{"hw_video_model", "matrox"}}, {}, {}, false, "", 0};
  auto s = spec_for(c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "image property hw_video_model: 'matrox' is not one of none, vga, qxl, virtio, cirrus");
  c.image_props = {{"hw_firmware_type", "coreboot"}};
  s = spec_for(c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "image property hw_firmware_type: 'coreboot' is not one of bios, uefi");
  c.image_props = {{"hw_video_ram", "lots"}};
  s = spec_for(c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("hw_video_ram: 'lots'"), std::string::npos);
}

TEST(GuestLayout, FunctionsOfOneDeviceShareASlot) {
  auto pc = guest_layout(
      {xml_addr("0000:0b:00.0"), xml_addr("0000:0a:00.1"), xml_addr("0000:0a:00.0")}, false);
  ASSERT_EQ(pc.size(), 3u);
  EXPECT_EQ(pc[0].host, xml_addr("0000:0a:00.0"));
  EXPECT_EQ(pc[0].guest, xml_addr("0000:00:10.0"));
  EXPECT_TRUE(pc[0].multifunction);
  EXPECT_EQ(pc[1].guest, xml_addr("0000:00:10.1"));
  EXPECT_FALSE(pc[1].multifunction);
  EXPECT_EQ(pc[2].guest, xml_addr("0000:00:11.0"));
  EXPECT_FALSE(pc[2].multifunction);
  auto q35 = guest_layout(
      {xml_addr("0000:0a:00.0"), xml_addr("0000:0a:00.1"), xml_addr("0000:0b:00.0")}, true);
  EXPECT_EQ(q35[0].guest, xml_addr("0000:01:00.0"));
  EXPECT_EQ(q35[1].guest, xml_addr("0000:01:00.1"));
  EXPECT_EQ(q35[2].guest, xml_addr("0000:02:00.0"));
  EXPECT_TRUE(is_q35("pc-q35-7.2"));
  EXPECT_FALSE(is_q35("pc-i440fx-7.2"));
}

TEST(HostdevAddresses, ReadBackFromGeneratedXml) {
  Case c = golden_cases()[1];
  auto s = spec_for(c);
  ASSERT_TRUE(s.ok());
  auto got = hostdev_addresses(to_domain_xml(*s));
  std::vector<PciAddress> want = {xml_addr("0000:0a:00.0"), xml_addr("0000:0a:00.1"),
                                  xml_addr("0000:0b:00.0")};
  EXPECT_EQ(got, want);
  EXPECT_TRUE(hostdev_addresses("<domain><devices/></domain>").empty());
}

}  // namespace
}  // namespace gpucloud::agent

namespace gpucloud::agent {
namespace {

// A fixed console port is written as such (the relay's port stays the guest's); without one,
// libvirt picks (autoport), as for guests defined before consoles.
TEST(DomainXml, GraphicsPortIsFixedWhenChosen) {
  DomainSpec s;
  s.name = "g";
  s.uuid = "11111111-2222-4333-8444-000000000009";
  s.graphics = GraphicsType::kSpice;
  s.graphics_listen = "10.0.0.5";
  s.graphics_port = 5907;
  std::string xml = to_domain_xml(s);
  EXPECT_NE(xml.find("<graphics type='spice' port='5907' autoport='no'>"), std::string::npos)
      << xml;
  EXPECT_NE(xml.find("<listen type='address' address='10.0.0.5'/>"), std::string::npos) << xml;
  auto g = domain_graphics(xml);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->port, 5907);
  EXPECT_FALSE(g->autoport);
  EXPECT_EQ(g->listen, "10.0.0.5");
  s.graphics_port = 0;
  xml = to_domain_xml(s);
  EXPECT_NE(xml.find("<graphics type='spice' autoport='yes'>"), std::string::npos) << xml;
}

}  // namespace
}  // namespace gpucloud::agent

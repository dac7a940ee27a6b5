// A guest's console port: read from domain XML, and chosen at spawn so that it stays the guest's
// for the domain's life (domain_graphics.h); the libvirt driver end to end on test:///default.
#include "agent/domain_graphics.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent.h"

namespace gpucloud::agent {
namespace {

TEST(DomainGraphics, ReadsTypePortAutoportAndListen) {
  auto g = domain_graphics(
      "<domain><devices><graphics type='spice' port='5903' autoport='no' listen='0.0.0.0'>\n"
      "  <listen type='address' address='192.0.2.7'/>\n</graphics></devices></domain>");
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->type, "spice");
  EXPECT_EQ(g->port, 5903);
  EXPECT_FALSE(g->autoport);
  EXPECT_EQ(g->listen, "192.0.2.7");  // the <listen> element wins over the old attribute

  // A stopped autoport domain has no port yet; a running one has -1 replaced by libvirt's.
  g = domain_graphics("<graphics type=\"vnc\" port=\"-1\" autoport=\"yes\"/>");
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->type, "vnc");
  EXPECT_EQ(g->port, -1);
  EXPECT_TRUE(g->autoport);
  EXPECT_FALSE(domain_graphics("<domain><devices/></domain>").has_value());
}

TEST(DomainGraphics, UsedPortsIncludeTlsPortsAndIgnoreUnassigned) {
  std::set<int> used;
  add_graphics_ports("<graphics type='spice' port='5900' tlsPort='5901' autoport='no'/>", used);
  add_graphics_ports("<graphics type='vnc' port='-1' autoport='yes'/>", used);
  add_graphics_ports("<graphics type='vnc' port='5905' autoport='yes'/>", used);  // running
  EXPECT_EQ(used, (std::set<int>{5900, 5901, 5905}));
}

TEST(DomainGraphics, PicksTheLowestPortNeitherUsedNorTaken) {
  const std::set<int> used = {5900, 5902};
  auto any = [](int) { return true; };
  EXPECT_EQ(pick_graphics_port(used, any), 5901);
  // 5901 is held by another program (e.g. a VNC server outside libvirt).
  auto not_5901 = [](int p) { return p != 5901; };
  EXPECT_EQ(pick_graphics_port(used, not_5901), 5903);
  EXPECT_FALSE(pick_graphics_port({5900, 5901}, any, 5900, 5901).has_value());
}

TEST(DomainGraphics, ABoundPortIsNotBindable) {
  // Find a free port by binding, keep it bound, and check the probe sees it taken.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  EXPECT_FALSE(tcp_port_bindable("127.0.0.1", port));
  ::close(fd);
  EXPECT_TRUE(tcp_port_bindable("127.0.0.1", port));
}

class SpiceLibvirtDriver : public ::testing::Test {
 protected:
  void SetUp() override {
    LibvirtOptions o;
    o.uri = "test:///default";
    o.host_name = "gpu-host-1";
    o.instances_path = "/nonexistent/gpucloud-test";
    o.domain.domain_type = "test";
    o.domain.spice_enabled = true;
    o.console_address = "192.0.2.10";  // [spice] server_proxyclient_address
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
  std::unique_ptr<compute::ComputeDriver> driver_;
  store::Flavor flavor_;
  store::Image image_;
};

TEST_F(SpiceLibvirtDriver, EachGuestGetsItsOwnFixedPortReportedWithTheProxyClientAddress) {
  const std::string a = "11111111-2222-4333-8444-00000000c001";
  const std::string b = "11111111-2222-4333-8444-00000000c002";
  ASSERT_TRUE(driver_->spawn(instance(a), flavor_, image_, {}).ok());
  ASSERT_TRUE(driver_->spawn(instance(b), flavor_, image_, {}).ok());
  auto ga = driver_->guest("gpu-host-1", a);
  auto gb = driver_->guest("gpu-host-1", b);
  ASSERT_TRUE(ga.ok() && gb.ok());
  EXPECT_EQ(ga->console_type, "spice");
  EXPECT_EQ(ga->console_host, "192.0.2.10");
  EXPECT_GE(ga->console_port, 5900);
  EXPECT_GE(gb->console_port, 5900);
  EXPECT_NE(ga->console_port, gb->console_port);
  // A restart keeps the port: it is in the definition, not chosen by libvirt at start.
  ASSERT_TRUE(driver_->power_off("gpu-host-1", a).ok());
  EXPECT_EQ(driver_->guest("gpu-host-1", a)->console_port, 0);  // not running: none reported
  ASSERT_TRUE(driver_->power_on("gpu-host-1", a).ok());
  EXPECT_EQ(driver_->guest("gpu-host-1", a)->console_port, ga->console_port);
  // A guest that went away frees its port for the next one.
  const int freed = gb->console_port;
  ASSERT_TRUE(driver_->destroy("gpu-host-1", b).ok());
  const std::string c = "11111111-2222-4333-8444-00000000c003";
  ASSERT_TRUE(driver_->spawn(instance(c), flavor_, image_, {}).ok());
  EXPECT_EQ(driver_->guest("gpu-host-1", c)->console_port, freed);
  for (const auto& u : {a, c}) EXPECT_TRUE(driver_->destroy("gpu-host-1", u).ok());
}

}  // namespace
}  // namespace gpucloud::agent

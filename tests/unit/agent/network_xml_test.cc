// The guest network's IPv4 range and the DHCP host entries that keep reserved fixed IPs from
// guests, read from and written for libvirt network XML.
#include "agent/network_xml.h"

#include <gtest/gtest.h>

namespace gpucloud::agent {
namespace {

const char* kDefault = R"(<network>
  <name>default</name>
  <forward mode='nat'/>
  <ip address='192.168.122.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.122.2' end='192.168.122.254'/>
      <host mac='52:54:00:aa:bb:cc' name='printer' ip='192.168.122.9'/>
      <host mac='02:67:63:a8:7a:32' ip='192.168.122.50'/>
    </dhcp>
  </ip>
  <ip family='ipv6' address='fd00::1' prefix='64'/>
</network>)";

TEST(NetworkXml, TheFirstIpv4RangeWithItsHostBitsCleared) {
  EXPECT_EQ(network_ipv4_cidr(kDefault), "192.168.122.0/24");
  EXPECT_EQ(network_ipv4_cidr("<network><ip family='ipv6' address='fd00::1' prefix='64'/>"
                              "<ip address='10.20.30.1' prefix='20'/></network>"),
            "10.20.16.0/20");
  EXPECT_EQ(network_ipv4_cidr("<network><bridge name='br0'/></network>"), "");
  EXPECT_EQ(network_ipv4_cidr(""), "");
}

TEST(NetworkXml, ReservationsAreHostEntriesForAMacNoNicHas) {
  EXPECT_EQ(reservation_host_xml("192.168.122.50"),
            "<host mac='02:67:63:a8:7a:32' ip='192.168.122.50'/>");
}

TEST(NetworkXml, ChangesTouchOnlyGpucloudsEntriesInTheRange) {
  // .50 is there already, .60 is new, 10.0.0.1 is outside the range; the printer's entry stays.
  auto c = reservation_changes(kDefault, {"192.168.122.50", "192.168.122.60", "10.0.0.1", "bad"});
  EXPECT_EQ(c.add, (std::vector<std::string>{reservation_host_xml("192.168.122.60")}));
  EXPECT_TRUE(c.remove.empty());
  // None wanted: gpucloud's entry goes, the printer's does not.
  c = reservation_changes(kDefault, {});
  EXPECT_TRUE(c.add.empty());
  EXPECT_EQ(c.remove, (std::vector<std::string>{reservation_host_xml("192.168.122.50")}));
  // A network without an IPv4 range hands out no addresses: nothing to change.
  c = reservation_changes("<network><name>x</name></network>", {"192.168.122.60"});
  EXPECT_TRUE(c.add.empty() && c.remove.empty());
}

}  // namespace
}  // namespace gpucloud::agent

// A guest's firewall as nwfilter XML: a golden file that virt-xml-validate accepts, the element
// per protocol and address family, and the order of the rules (group rules before the drop).
#include "agent/nwfilter_xml.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "agent/libvirt_command.h"

namespace gpucloud::agent {
namespace {

const std::string kDir = std::string(GPUCLOUD_TEST_DATA) + "/agent/nwfilters/";
const std::string kUuid = "6f1c3b2a-1111-4222-8333-944455556666";

compute::Firewall every_kind() {
  compute::Firewall f;
  f.ingress = {{"tcp", 22, 22, "0.0.0.0/0"},       {"tcp", 8000, 8999, "10.2.3.124/24"},
               {"udp", 53, 53, "192.0.2.0/24"},    {"icmp", -1, -1, "0.0.0.0/0"},
               {"icmp", 8, 0, "198.51.100.7/32"},  {"", -1, -1, "10.9.8.7/32"},
               {"tcp", 443, 443, "2001:db8::/64"}, {"icmp", -1, -1, "::/0"},
               {"", -1, -1, "2001:db8::7/128"}};
  return f;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(NwfilterXml, GoldenFile) {
  const std::string xml = nwfilter_xml(kUuid, every_kind());
  const std::string path = kDir + "every_kind.xml";
  if (std::getenv("GPUCLOUD_UPDATE_GOLDEN")) std::ofstream(path) << xml;
  EXPECT_EQ(read_file(path), xml) << "golden file " << path;
}

TEST(NwfilterXml, GoldenFilePassesVirtXmlValidate) {
  auto probe = run_command({"virt-xml-validate", "--help"});
  if (!probe.ok()) GTEST_SKIP() << "virt-xml-validate not installed (Debian: libvirt-clients)";
  auto r = run_command({"virt-xml-validate", kDir + "every_kind.xml", "nwfilter"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->exit_code, 0) << r->output;
}

TEST(NwfilterXml, EachRuleIsAStatefulAcceptBeforeTheDrop) {
  const std::string xml = nwfilter_xml(kUuid, every_kind());
  EXPECT_NE(xml.find("<filter name='gpucloud-" + kUuid + "' chain='root'>"), std::string::npos);
  // Per protocol and family; ports for tcp/udp, type and code for icmp, the source network.
  for (const char* want :
       {"<tcp srcipaddr='0.0.0.0' srcipmask='0' dstportstart='22' dstportend='22'/>",
        "<tcp srcipaddr='10.2.3.124' srcipmask='24' dstportstart='8000' dstportend='8999'/>",
        "<udp srcipaddr='192.0.2.0' srcipmask='24' dstportstart='53' dstportend='53'/>",
        "<icmp srcipaddr='0.0.0.0' srcipmask='0'/>",
        "<icmp srcipaddr='198.51.100.7' srcipmask='32' type='8' code='0'/>",
        "<all srcipaddr='10.9.8.7' srcipmask='32'/>",
        "<tcp-ipv6 srcipaddr='2001:db8::' srcipmask='64' dstportstart='443' dstportend='443'/>",
        "<icmpv6 srcipaddr='::' srcipmask='0'/>",
        "<all-ipv6 srcipaddr='2001:db8::7' srcipmask='128'/>"}) {
    EXPECT_NE(xml.find(want), std::string::npos) << want << "\n" << xml;
  }
  // The group rules come before the guest's own traffic and the final drop, by priority.
  const size_t accept = xml.find("priority='200'");
  const size_t out = xml.find("direction='out' priority='500'");
  const size_t drop = xml.find("action='drop' direction='in' priority='1000'");
  ASSERT_NE(accept, std::string::npos);
  ASSERT_NE(out, std::string::npos);
  ASSERT_NE(drop, std::string::npos);
  EXPECT_LT(accept, out);
  EXPECT_LT(out, drop);
  // DHCP replies always come in, even with no rule at all.
  const std::string closed = nwfilter_xml(kUuid, {});
  EXPECT_NE(closed.find("<udp srcportstart='67' dstportstart='68'/>"), std::string::npos);
  EXPECT_EQ(closed.find("priority='200'"), std::string::npos);
}

// The host's own address on the network always reaches the guest (the agent's probes), before
// the group rules; no guest may send from it.
TEST(NwfilterXml, TheHostReachesItsGuestsAndNoGuestMayPoseAsIt) {
  const std::string xml = nwfilter_xml(kUuid, {}, "", {"192.168.122.1", "fd00::1", "junk"});
  EXPECT_NE(xml.find("<rule action='drop' direction='out' priority='50'>\n"
                     "    <all srcipaddr='192.168.122.1'/>"),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find("<rule action='accept' direction='in' priority='150'>\n"
                     "    <all srcipaddr='192.168.122.1'/>"),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find("<all-ipv6 srcipaddr='fd00::1'/>"), std::string::npos) << xml;
  EXPECT_EQ(xml.find("junk"), std::string::npos);
  // A redefinition names the filter's own UUID.
  EXPECT_NE(nwfilter_xml(kUuid, {}, "9ef8d25a-8d33-422b-af65-8d3fe2766d52")
                .find("  <uuid>9ef8d25a-8d33-422b-af65-8d3fe2766d52</uuid>\n"),
            std::string::npos);
}

TEST(NwfilterXml, EscapesTheName) {
  EXPECT_NE(nwfilter_xml("a'<b>", {}).find("name='gpucloud-a&apos;&lt;b&gt;'"), std::string::npos);
}

}  // namespace
}  // namespace gpucloud::agent

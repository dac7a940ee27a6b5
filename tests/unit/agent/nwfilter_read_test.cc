// A guest's firewall read back from its nwfilter (the libvirt driver's firewall()): what
// nwfilter_xml writes reads back as the same firewall, the rules every filter has are left out,
// and a filter gpucloud did not write is refused rather than guessed at.
#include "agent/nwfilter_read.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "agent/nwfilter_xml.h"

namespace gpucloud::agent {
namespace {

compute::Firewall every_kind_of_rule() {
  compute::Firewall f;
  f.ingress = {{"tcp", 22, 22, "0.0.0.0/0"},      {"tcp", 8000, 8999, "10.2.3.124/24"},
               {"udp", 53, 53, "192.0.2.0/24"},   {"icmp", -1, -1, "0.0.0.0/0"},
               {"icmp", 8, 0, "198.51.100.7/32"}, {"icmp", 3, -1, "10.0.0.0/8"},
               {"", -1, -1, "10.9.8.7/32"},       {"tcp", 443, 443, "2001:db8::/64"},
               {"icmp", -1, -1, "::/0"},          {"", -1, -1, "2001:db8::7/128"},
               {"udp", -1, -1, "172.16.0.0/12"}};
  return f;
}

TEST(NwfilterRead, WhatNwfilterXmlWritesReadsBackAsTheSameFirewall) {
  const compute::Firewall fw = every_kind_of_rule();
  auto back = firewall_from_nwfilter_xml(nwfilter_xml("6f1c3b2a-1111-4222-8333-944455556666", fw));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, fw);
  // The host's own addresses are let in by rules of their own, not part of the firewall.
  auto with_host = firewall_from_nwfilter_xml(
      nwfilter_xml("6f1c3b2a-1111-4222-8333-944455556666", fw, "", {"192.168.122.1", "fd00::1"}));
  ASSERT_TRUE(with_host.ok()) << with_host.error().message;
  EXPECT_EQ(*with_host, fw);
}

TEST(NwfilterRead, AFilterWithNoGroupRulesIsAnEmptyFirewall) {
  auto back = firewall_from_nwfilter_xml(nwfilter_xml("u", compute::Firewall{}));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(back->ingress.empty());
}

// libvirt gives the filter back with its UUID and may quote with either quote.
TEST(NwfilterRead, ReadsLibvirtsOwnDump) {
  std::ifstream f(std::string(GPUCLOUD_TEST_DATA) + "/agent/nwfilters/every_kind.xml");
  std::stringstream text;
  text << f.rdbuf();
  auto golden = firewall_from_nwfilter_xml(text.str());
  ASSERT_TRUE(golden.ok()) << golden.error().message;
  EXPECT_EQ(golden->ingress.size(), 9u);

  auto back = firewall_from_nwfilter_xml(R"(<filter name="gpucloud-u" chain="root">
  <uuid>30bcfa30-0672-4969-aa85-655f7e50f917</uuid>
  <rule action="accept" direction="in" priority="100">
    <udp srcportstart="67" dstportstart="68"/>
  </rule>
  <rule action="accept" direction="in" priority="200">
    <tcp srcipaddr="10.0.0.0" srcipmask="8" dstportstart="22" dstportend="23"/>
  </rule>
  <rule action='drop' direction='in' priority='1000'>
    <all/>
  </rule>
</filter>)");
  ASSERT_TRUE(back.ok()) << back.error().message;
  const compute::Firewall want{{{"tcp", 22, 23, "10.0.0.0/8"}}};
  EXPECT_EQ(*back, want);
}

TEST(NwfilterRead, AFilterGpucloudDidNotWriteIsRefused) {
  auto expect = [](const std::string& rule, const std::string& message) {
    auto r = firewall_from_nwfilter_xml(
        "<filter name='x' chain='root'>\n"
        "  <rule action='accept' direction='in' priority='200'>\n"
        "    " +
        rule + "\n  </rule>\n</filter>\n");
    ASSERT_FALSE(r.ok()) << rule;
    EXPECT_EQ(r.error().message, message);
  };
  expect("<mac srcmacaddr='52:54:00:00:00:01'/>",
         "nwfilter rule 0: <mac> is not an element gpucloud writes");
  expect("<tcp srcipaddr='10.0.0.0' srcipmask='8' srcportstart='1'/>",
         "nwfilter rule 0: attribute srcportstart is not one gpucloud writes");
  expect("<tcp dstportstart='22'/>", "nwfilter rule 0: srcipaddr and srcipmask are required");
  expect("<tcp srcipaddr='10.0.0.0' srcipmask='8' dstportstart='$PORT'/>",
         "nwfilter rule 0: dstportstart='$PORT' is not a number");
}

}  // namespace
}  // namespace gpucloud::agent

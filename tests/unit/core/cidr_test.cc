// IPv4 ranges from CIDRs: which addresses a guest network holds, its netmask, its canonical text.
#include "core/cidr.h"

#include <gtest/gtest.h>

namespace gpucloud {
namespace {

TEST(Ipv4Range, HostBitsAreClearedAndMembershipFollowsTheMask) {
  auto r = ipv4_range("10.2.3.4/20");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->text(), "10.2.0.0/20");
  EXPECT_EQ(r->netmask(), "255.255.240.0");
  EXPECT_TRUE(r->contains("10.2.15.255"));
  EXPECT_FALSE(r->contains("10.2.16.0"));
  EXPECT_FALSE(r->contains("my.invalid.ip"));
  EXPECT_FALSE(r->contains("fd00::1"));
  EXPECT_EQ(ipv4_range("0.0.0.0/0")->text(), "0.0.0.0/0");
  EXPECT_TRUE(ipv4_range("0.0.0.0/0")->contains("192.0.2.1"));
  EXPECT_EQ(ipv4_range("192.0.2.7")->text(), "192.0.2.7/32");  // a bare address is a /32
}

TEST(Ipv4Range, AnythingButAnIpv4CidrIsNone) {
  for (const char* bad :
       {"", "10.0.0.0/33", "10.0.0.0/99999999999", "10.0.0.0/abc", "fd00::/64", "10.0.0/24", "x"}) {
    EXPECT_FALSE(ipv4_range(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace gpucloud

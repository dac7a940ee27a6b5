#include "core/core.h"

#include <gtest/gtest.h>

namespace gpucloud {
namespace {

TEST(PciAddress, ParsesAndFormatsLowerCase) {
  auto a = PciAddress::parse("0000:0A:1f.7");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->bus, 0x0au);
  EXPECT_EQ(a->slot, 0x1fu);
  EXPECT_EQ(a->function, 7u);
  EXPECT_EQ(a->to_string(), "0000:0a:1f.7");
}

TEST(PciAddress, RejectsOutOfRangeParts) {
  EXPECT_EQ(PciAddress::parse("0000:100:00.0").error().message,
            "invalid PCI address '0000:100:00.0': bus 0x100 is out of range (max 0xff)");
  EXPECT_EQ(PciAddress::parse("0000:0a:20.0").error().message,
            "invalid PCI address '0000:0a:20.0': slot 0x20 is out of range (max 0x1f)");
  EXPECT_EQ(PciAddress::parse("0000:0a:00.8").error().message,
            "invalid PCI address '0000:0a:00.8': function 0x8 is out of range (max 0x7)");
  EXPECT_EQ(PciAddress::parse("10000:0a:00.0").error().message,
            "invalid PCI address '10000:0a:00.0': domain '10000' is not hexadecimal");
}

TEST(PciAddress, RejectsMalformedText) {
  EXPECT_EQ(PciAddress::parse("0000:0a").error().message,
            "invalid PCI address '0000:0a': expected dddd:bb:ss.f");
  EXPECT_EQ(PciAddress::parse("0000:zz:00.0").error().message,
            "invalid PCI address '0000:zz:00.0': bus 'zz' is not hexadecimal");
}

TEST(HexId, NormalisesCaseAndRejectsBadHex) {
  auto id = HexId::parse("10DE", "vendor_id");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->str(), "10de");
  EXPECT_EQ(id->value(), 0x10de);
  EXPECT_EQ(HexId::parse("10dg", "vendor_id").error().message,
            "vendor_id '10dg' is not 4 hex digits");
  EXPECT_EQ(HexId::parse("10d", "product_id").error().message,
            "product_id '10d' is not 4 hex digits");
}

}  // namespace
}  // namespace gpucloud

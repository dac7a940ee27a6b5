#include <gtest/gtest.h>

#include "core/core.h"

namespace gpucloud {
namespace {

PciDevice alias_device(const char* vendor, const char* product,
                       PciDeviceType type = PciDeviceType::kPci) {
  PciDevice d;
  d.address = PciAddress::parse("0000:0a:00.0").value();
  d.vendor_id = HexId::parse(vendor).value();
  d.product_id = HexId::parse(product).value();
  d.dev_type = type;
  return d;
}

PciAlias alias(const char* json) {
  auto a = PciAlias::parse(json);
  EXPECT_TRUE(a.ok()) << a.error().message;
  return a.ok() ? *a : PciAlias{};
}

std::string alias_error(const char* json) {
  auto a = PciAlias::parse(json);
  return a.ok() ? "(parsed)" : a.error().message;
}

TEST(PciAlias, ParsesTheSeedAlias) {
  const PciAlias a = alias(R"({"name": "K2_Grid", "vendor_id": "10DE", "product_id": "11bf"})");
  EXPECT_EQ(a.name, "K2_Grid");
  EXPECT_EQ(a.vendor_id->str(), "10de");
  EXPECT_EQ(a.product_id->str(), "11bf");
  EXPECT_FALSE(a.device_type.has_value());
  EXPECT_EQ(a.numa_policy, NumaPolicy::kLegacy);  // nova's default when numa_policy is absent
  EXPECT_EQ(a.describe(),
            "K2_Grid: vendor_id=10de product_id=11bf device_type=* numa_policy=legacy");
}

TEST(PciAlias, ParsesDeviceTypeAndEveryNumaPolicy) {
  for (const char* policy : {"required", "legacy", "preferred", "socket"}) {
    const std::string json =
        std::string(R"({"name": "a", "device_type": "type-VF", "numa_policy": ")") + policy + "\"}";
    auto a = PciAlias::parse(json);
    ASSERT_TRUE(a.ok()) << a.error().message;
    EXPECT_STREQ(to_string(a->numa_policy), policy);
    EXPECT_EQ(a->device_type, PciDeviceType::kVf);
  }
}

TEST(PciAlias, StripsTheName) { EXPECT_EQ(alias(R"({"name": "  K2_Grid "})").name, "K2_Grid"); }

TEST(PciAlias, RejectsUnknownField) {
  EXPECT_EQ(alias_error(R"({"name": "K2_Grid", "device_id": "11bf"})"),
            "alias: unknown field 'device_id' (allowed: name, vendor_id, product_id, device_type, "
            "numa_policy, capability_type)");
}

TEST(PciAlias, RejectsMissingOrEmptyName) {
  EXPECT_EQ(alias_error(R"({"vendor_id": "10de"})"), "alias: missing required field 'name'");
  EXPECT_EQ(alias_error(R"({"name": ""})"), "alias: name must not be empty");
  EXPECT_EQ(alias_error(R"({"name": "   "})"), "alias: name must not be only whitespace");
  EXPECT_EQ(alias_error(R"({"name": 7})"), "alias: name must be a string, got number");
  EXPECT_EQ(alias_error(("{\"name\": \"" + std::string(257, 'x') + "\"}").c_str()),
            "alias: name is longer than 256 characters");
}

TEST(PciAlias, RejectsBadIdsAndEnums) {
  // The alias schema wants exactly four hex digits: no "*", no "0x" as device specs allow.
  EXPECT_EQ(alias_error(R"({"name": "K2_Grid", "product_id": "11bg"})"),
            "alias: 'K2_Grid': product_id '11bg' is not 4 hex digits");
  EXPECT_EQ(alias_error(R"({"name": "K2_Grid", "vendor_id": "*"})"),
            "alias: 'K2_Grid': vendor_id '*' is not 4 hex digits");
  EXPECT_EQ(alias_error(R"({"name": "K2_Grid", "vendor_id": 4318})"),
            "alias: 'K2_Grid': vendor_id must be a string, got number");
  EXPECT_EQ(alias_error(R"({"name": "a", "device_type": "type-VDPA"})"),
            "alias: 'a': device_type 'type-VDPA' is not one of type-PCI, type-PF, type-VF");
  EXPECT_EQ(alias_error(R"({"name": "a", "numa_policy": "strict"})"),
            "alias: 'a': numa_policy 'strict' is not one of required, legacy, preferred, socket");
  EXPECT_EQ(alias_error(R"({"name": "a", "capability_type": "usb"})"),
            "alias: 'a': capability_type 'usb' is not one of pci");
}

TEST(PciAlias, RejectsNonObjectsAndBadJson) {
  EXPECT_EQ(alias_error(R"([{"name": "a"}])"), "alias: expected a JSON object, got array");
  EXPECT_EQ(alias_error(R"({"name": "a",})"),
            "alias: invalid JSON: parse error at line 1, column 14: syntax error while parsing "
            "object key - unexpected '}'; expected string literal");
}

TEST(PciAlias, MatchesVendorProductAndDeviceType) {
  const PciAlias k2 = alias(R"({"name": "K2_Grid", "vendor_id": "10de", "product_id": "11bf"})");
  EXPECT_TRUE(k2.matches(alias_device("10de", "11bf")));
  EXPECT_FALSE(k2.matches(alias_device("10de", "11b0")));
  EXPECT_FALSE(k2.matches(alias_device("8086", "11bf")));
  const PciAlias vf = alias(R"({"name": "vf", "vendor_id": "8086", "device_type": "type-VF"})");
  EXPECT_TRUE(vf.matches(alias_device("8086", "154c", PciDeviceType::kVf)));
  EXPECT_FALSE(vf.matches(alias_device("8086", "1572", PciDeviceType::kPf)));
}

TEST(PciAlias, CapabilityTypeNeedsTheDeviceSpecTag) {
  const PciAlias a = alias(R"({"name": "a", "capability_type": "pci"})");
  EXPECT_FALSE(a.matches(alias_device("10de", "11bf")));
  EXPECT_TRUE(a.matches(alias_device("10de", "11bf"), {{"capability_type", "PCI"}}));
  EXPECT_FALSE(a.matches(alias_device("10de", "11bf"), {{"capability_type", "usb"}}));
}

TEST(AliasTable, EntriesSharingANameAreOred) {
  AliasTable table;
  ASSERT_TRUE(table.add(alias(
      R"({"name": "QuickAssist", "vendor_id": "8086", "product_id": "0443", "device_type": "type-PCI"})")));
  ASSERT_TRUE(table.add(alias(
      R"({"name": "QuickAssist", "vendor_id": "8086", "product_id": "0442", "device_type": "type-PCI"})")));
  ASSERT_TRUE(
      table.add(alias(R"({"name": "K2_Grid", "vendor_id": "10de", "product_id": "11bf"})")));
  EXPECT_EQ(table.find("QuickAssist").size(), 2u);
  EXPECT_TRUE(table.matches("QuickAssist", alias_device("8086", "0442")));
  EXPECT_TRUE(table.matches("QuickAssist", alias_device("8086", "0443")));
  EXPECT_FALSE(table.matches("QuickAssist", alias_device("8086", "0444")));
  EXPECT_FALSE(table.matches("nope", alias_device("8086", "0443")));
  EXPECT_TRUE(table.contains("K2_Grid"));
  EXPECT_FALSE(table.contains("k2_grid"));
  EXPECT_EQ(table.names(), (std::vector<std::string>{"QuickAssist", "K2_Grid"}));
}

TEST(AliasTable, RefusesConflictingNumaPolicy) {
  AliasTable table;
  ASSERT_TRUE(table.add(alias(R"({"name": "a", "device_type": "type-PCI"})")));
  const Status s =
      table.add(alias(R"({"name": "a", "device_type": "type-PCI", "numa_policy": "required"})"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "alias 'a': numa_policy 'required' conflicts with numa_policy 'legacy' of an earlier "
            "entry with the same name");
  EXPECT_EQ(table.entries().size(), 1u);  // nothing added
}

TEST(AliasTable, RefusesConflictingDeviceType) {
  AliasTable table;
  ASSERT_TRUE(table.add(alias(R"({"name": "a", "device_type": "type-PCI"})")));
  const Status s = table.add(alias(R"({"name": "a", "device_type": "type-PF"})"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "alias 'a': device_type 'type-PF' conflicts with device_type 'type-PCI' of an "
            "earlier entry with the same name");
}

// nova compares first['dev_type'] != new['dev_type'] and fails with KeyError when either entry
// leaves device_type out.
TEST(AliasTable, EntriesSharingANameMustAllSetDeviceType) {
  AliasTable table;
  ASSERT_TRUE(table.add(alias(R"({"name": "a", "product_id": "0443"})")));
  const Status s = table.add(alias(R"({"name": "a", "product_id": "0442"})"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "alias 'a': several entries share this name, so each must set device_type (nova "
            "refuses them otherwise)");
}

}  // namespace
}  // namespace gpucloud

// DeviceSpec beyond the matching vectors in tests/data/device_specs.txt: accessors, tags, lists,
// describe(), copies.
#include <gtest/gtest.h>

#include "core/core.h"

namespace gpucloud {
namespace {

PciDevice device(const char* address, const char* devname = "") {
  PciDevice d;
  d.address = PciAddress::parse(address).value();
  d.vendor_id = HexId::parse("10de").value();
  d.product_id = HexId::parse("11bf").value();
  d.devname = devname;
  return d;
}

TEST(DeviceSpec, ExposesIdsAndTags) {
  auto spec = DeviceSpec::parse(
      R"({"vendor_id": "10DE", "product_id": "*", "physical_network": "physnet1", "trusted": true, "numa": 1})");
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  EXPECT_EQ(spec->vendor_id()->str(), "10de");
  EXPECT_FALSE(spec->product_id().has_value());
  EXPECT_FALSE(spec->devname().has_value());
  // Matching fields are not tags; other values are kept, non-strings as their JSON text.
  const std::map<std::string, std::string> tags = {
      {"numa", "1"}, {"physical_network", "physnet1"}, {"trusted", "true"}};
  EXPECT_EQ(spec->tags(), tags);
}

TEST(DeviceSpec, DescribesItselfOnOneLine) {
  EXPECT_EQ(
      DeviceSpec::parse(R"({"vendor_id": "10de", "address": ":0A:", "physical_network": "p1"})")
          ->describe(),
      "vendor_id=10de product_id=* address=*:0a:*.* physical_network=p1");
  EXPECT_EQ(DeviceSpec::parse(R"({"address": {"bus": "0[ab]"}})")->describe(),
            "vendor_id=* product_id=* address={domain: .*, bus: 0[ab], slot: .*, function: .*}");
  EXPECT_EQ(DeviceSpec::parse(R"({"devname": "eth0"})")->describe(),
            "vendor_id=* product_id=* devname=eth0");
}

TEST(DeviceSpec, ParseAllTakesAnObjectOrAList) {
  auto one = DeviceSpec::parse_all(R"({"vendor_id": "10de"})");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);
  auto two = DeviceSpec::parse_all(R"([{"vendor_id": "10de"}, {"address": "0000:0b:00.0"}])");
  ASSERT_TRUE(two.ok());
  ASSERT_EQ(two->size(), 2u);
  EXPECT_TRUE((*two)[1].matches(device("0000:0b:00.0")));
}

TEST(DeviceSpec, ParseAllNamesTheBadEntry) {
  EXPECT_EQ(DeviceSpec::parse_all(R"([{"vendor_id": "10de"}, 3])").error().message,
            "device_spec: list entry 2 is not a JSON object, got number");
  EXPECT_EQ(
      DeviceSpec::parse_all(R"([{"vendor_id": "10de"}, {"address": "0:0:0.9"}])").error().message,
      "device_spec: list entry 2: address: function '9' is out of range (max 0x7)");
  EXPECT_EQ(DeviceSpec::parse_all(R"("10de")").error().message,
            "device_spec: expected a JSON object or a list of objects, got string");
}

TEST(DeviceSpec, DevnameWithoutHostListMatchesTheNamedDeviceOnly) {
  auto spec = DeviceSpec::parse(R"({"devname": "ens1f0"})");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->devname(), "ens1f0");
  EXPECT_TRUE(spec->matches(device("0000:0a:00.0", "ens1f0")));
  PciDevice vf = device("0000:0a:10.1");
  vf.dev_type = PciDeviceType::kVf;
  vf.parent_addr = PciAddress::parse("0000:0a:00.0").value();
  EXPECT_FALSE(spec->matches(vf));  // its PF's name is unknown without the host's devices
  EXPECT_TRUE(spec->matches(vf, {vf, device("0000:0a:00.0", "ens1f0")}));
}

TEST(DeviceSpec, CopiesAndMovesKeepTheSpec) {
  auto parsed = DeviceSpec::parse(R"({"address": "*:0a:00.*", "physical_network": "p1"})");
  ASSERT_TRUE(parsed.ok());
  DeviceSpec copy = *parsed;
  DeviceSpec moved = std::move(*parsed);
  copy = moved;
  EXPECT_TRUE(copy.matches(device("0000:0a:00.3")));
  EXPECT_FALSE(moved.matches(device("0000:0b:00.3")));
  EXPECT_EQ(copy.tags().at("physical_network"), "p1");
}

TEST(DeviceSpec, BadHexAndBusOutOfRangeNameTheField) {
  EXPECT_EQ(DeviceSpec::parse(R"({"product_id": "11bx"})").error().message,
            "device_spec: product_id '11bx' is not a hex number");
  EXPECT_EQ(DeviceSpec::parse(R"({"address": "*:1ff:00.*"})").error().message,
            "device_spec: address: bus '1ff' is out of range (max 0xff)");
  EXPECT_EQ(DeviceSpec::parse(R"({"devname": 5})").error().message,
            "device_spec: devname must be a string, got number");
}

}  // namespace
}  // namespace gpucloud

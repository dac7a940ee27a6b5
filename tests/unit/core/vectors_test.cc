// Runs the data-driven vectors in tests/data/ (format described at the top of each file).
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "core/core.h"

namespace gpucloud {
namespace {

using nlohmann::json;

struct Row {
  int line = 0;
  json cells;
};

// Reads the rows of a vector file; every row must follow a comment naming its rule.
std::vector<Row> read_rows(const std::string& name) {
  const std::string path = std::string(GPUCLOUD_TEST_DATA) + "/" + name;
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot open " << path;
  std::vector<Row> rows;
  std::string text;
  bool after_comment = false;
  for (int line = 1; std::getline(in, text); ++line) {
    if (text.empty()) {
      after_comment = false;
      continue;
    }
    if (text[0] == '#') {
      after_comment = true;
      continue;
    }
    EXPECT_TRUE(after_comment) << path << ":" << line << ": row without a comment naming its rule";
    after_comment = false;
    json cells = json::parse(text, nullptr, false);
    if (!cells.is_array() || cells.size() != 3) {
      ADD_FAILURE() << path << ":" << line << ": not a JSON array of 3 cells: " << text;
      continue;
    }
    rows.push_back({line, std::move(cells)});
  }
  return rows;
}

// Checks `got` against the row's expectation: true, false or "error: <message>".
void expect_outcome(const std::string& where, const json& expected, const Result<bool>& got) {
  if (expected.is_boolean()) {
    ASSERT_TRUE(got.ok()) << where << ": unexpected error: " << got.error().message;
    EXPECT_EQ(*got, expected.get<bool>()) << where;
    return;
  }
  const std::string want = expected.get<std::string>();
  ASSERT_EQ(want.rfind("error: ", 0), 0u) << where << ": expected cell must be a bool or 'error: '";
  ASSERT_FALSE(got.ok()) << where << ": expected an error, got " << (*got ? "true" : "false");
  EXPECT_EQ(got.error().message, want.substr(7)) << where;
}

TEST(Vectors, ExtraSpecOperatorsFollowNova) {
  const auto rows = read_rows("extra_spec_ops.txt");
  EXPECT_GE(rows.size(), 40u);
  for (const Row& row : rows) {
    const std::string where = "extra_spec_ops.txt:" + std::to_string(row.line);
    const json& value = row.cells[0];
    const std::string requirement = row.cells[1].get<std::string>();
    std::optional<std::string> v;
    if (!value.is_null()) v = value.get<std::string>();
    const auto got = extra_spec_match_checked(
        v ? std::optional<std::string_view>(*v) : std::nullopt, requirement);
    expect_outcome(where, row.cells[2], got);
    if (v) {
      // The plain form agrees, with nova's failures counting as "no match".
      EXPECT_EQ(extra_spec_match(*v, requirement), got.ok() && *got) << where;
    }
  }
}

Result<PciDevice> device_from(const json& d) {
  PciDevice dev;
  auto address = PciAddress::parse(d.at("address").get<std::string>());
  if (!address.ok()) return address.error();
  dev.address = *address;
  auto vendor = HexId::parse(d.value("vendor_id", "10de"), "vendor_id");
  auto product = HexId::parse(d.value("product_id", "1db4"), "product_id");
  auto type = parse_device_type(d.value("dev_type", "type-PCI"));
  if (!vendor.ok()) return vendor.error();
  if (!product.ok()) return product.error();
  if (!type.ok()) return type.error();
  dev.vendor_id = *vendor;
  dev.product_id = *product;
  dev.dev_type = *type;
  if (d.contains("parent_addr")) {
    auto parent = PciAddress::parse(d["parent_addr"].get<std::string>());
    if (!parent.ok()) return parent.error();
    dev.parent_addr = *parent;
  }
  dev.devname = d.value("devname", "");
  return dev;
}

TEST(Vectors, DeviceSpecsFollowNova) {
  const auto rows = read_rows("device_specs.txt");
  EXPECT_GE(rows.size(), 30u);
  for (const Row& row : rows) {
    const std::string where = "device_specs.txt:" + std::to_string(row.line);
    const json& spec_cell = row.cells[0];
    const std::string spec_text =
        spec_cell.is_string() ? spec_cell.get<std::string>() : spec_cell.dump();
    auto device = device_from(row.cells[1]);
    ASSERT_TRUE(device.ok()) << where << ": bad device in the vector: " << device.error().message;
    std::vector<PciDevice> host = {*device};
    for (const json& other : row.cells[1].value("host_devices", json::array())) {
      auto d = device_from(other);
      ASSERT_TRUE(d.ok()) << where << ": bad host device: " << d.error().message;
      host.push_back(*d);
    }
    auto spec = DeviceSpec::parse(spec_text);
    const Result<bool> got =
        spec.ok() ? Result<bool>(spec->matches(*device, host)) : Result<bool>(spec.error());
    expect_outcome(where, row.cells[2], got);
  }
}

}  // namespace
}  // namespace gpucloud

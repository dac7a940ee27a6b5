// PCI value types: addresses, vendor/product ids and the device record that discovery, the
// device specs, the aliases and the store all share. Parse once at the edge, then carry these.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace gpucloud {

// A PCI address `dddd:bb:ss.f` (domain:bus:slot.function), as in sysfs and nova.
struct PciAddress {
  uint32_t domain = 0;  // <= 0xffff
  uint32_t bus = 0;     // <= 0xff
  uint32_t slot = 0;    // <= 0x1f
  uint32_t function = 0;  // <= 7

  // Accepts exactly `dddd:bb:ss.f` in hex, case-insensitive; range-checks every part.
  static Result<PciAddress> parse(std::string_view text);
  std::string to_string() const;  // lower case, zero padded: "0000:0a:00.1"

  auto operator<=>(const PciAddress&) const = default;
};

// A 16-bit PCI vendor or product id: 4 hex digits, case-insensitive, kept in lower case.
class HexId {
 public:
  HexId() = default;
  // `what` names the field in the error, e.g. "vendor_id".
  static Result<HexId> parse(std::string_view text, std::string_view what = "id");
  const std::string& str() const { return text_; }
  uint16_t value() const { return value_; }
  auto operator<=>(const HexId& o) const { return value_ <=> o.value_; }
  bool operator==(const HexId& o) const { return value_ == o.value_; }

 private:
  explicit HexId(uint16_t v);
  uint16_t value_ = 0;
  std::string text_ = "0000";
};
using VendorId = HexId;
using ProductId = HexId;

// nova's dev_type values.
enum class PciDeviceType { kPci, kPf, kVf };
const char* to_string(PciDeviceType t);  // "type-PCI", "type-PF", "type-VF"
Result<PciDeviceType> parse_device_type(std::string_view text);

// One PCI device as discovery sees it and as the device specs and aliases match it.
struct PciDevice {
  PciAddress address;
  VendorId vendor_id;
  ProductId product_id;
  PciDeviceType dev_type = PciDeviceType::kPci;
  std::optional<PciAddress> parent_addr;  // a VF's physical function
  std::optional<int> numa_node;
  std::string devname;  // network interface name, if any
};

}  // namespace gpucloud

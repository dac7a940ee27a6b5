// PCI aliases: nova's `[pci] alias` (formerly `[DEFAULT] pci_alias`). A flavor asks for devices by
// alias name (`pci_passthrough:alias=K2_Grid:1`); the alias says which devices qualify.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/pci.h"
#include "core/result.h"

namespace gpucloud {

// nova's PCINUMAAffinityPolicy values.
enum class NumaPolicy { kLegacy, kRequired, kPreferred, kSocket };
const char* to_string(NumaPolicy p);  // "legacy", "required", "preferred", "socket"

struct PciAlias {
  std::string name;
  std::optional<VendorId> vendor_id;    // nullopt: any
  std::optional<ProductId> product_id;  // nullopt: any
  std::optional<PciDeviceType> device_type;
  NumaPolicy numa_policy = NumaPolicy::kLegacy;
  // nova's schema allows "capability_type": "pci". nova then compares it with the device's pool,
  // which only has it when the device spec tags the device so: such an alias matches only devices
  // whose device spec carries the tag capability_type=pci.
  std::optional<std::string> capability_type;

  // Parses one JSON object: {"name": "K2_Grid", "vendor_id": "10de", "product_id": "11bf"}.
  // Unknown fields are errors, as in nova's alias schema.
  static Result<PciAlias> parse(std::string_view json_object);

  bool matches(const PciDevice& device) const;
  // The same, with the tags of the device spec that admitted the device (for capability_type).
  bool matches(const PciDevice& device, const std::map<std::string, std::string>& spec_tags) const;
  std::string describe() const;  // one line for `gpucloud config check`
};

// All configured aliases by name. Several entries may share a name (any of them matches, as in
// nova), but they must agree on numa_policy and device_type.
class AliasTable {
 public:
  // Fails (and adds nothing) when `alias` conflicts with an entry of the same name.
  Status add(PciAlias alias);

  // Every entry with this name; empty when the name is unknown.
  std::vector<const PciAlias*> find(std::string_view name) const;
  bool contains(std::string_view name) const { return !find(name).empty(); }
  // True when any entry named `name` matches the device.
  bool matches(std::string_view name, const PciDevice& device) const;
  // Distinct names, in the order first seen.
  std::vector<std::string> names() const;
  const std::vector<PciAlias>& entries() const { return entries_; }

 private:
  std::vector<PciAlias> entries_;
};

}  // namespace gpucloud

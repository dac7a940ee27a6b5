// A device spec: one entry of nova's `[pci] device_spec` (formerly `passthrough_whitelist`,
// `[DEFAULT] pci_passthrough_whitelist`). It says which host PCI devices may be passed through
// and which tags (physical_network, trusted, ...) they carry.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/pci.h"
#include "core/result.h"

namespace gpucloud {

class DeviceSpec {
 public:
  // Parses one JSON object, e.g. {"vendor_id": "10de", "product_id": "11bf"} or
  // {"address": {"domain": ".*", "bus": "0a", "slot": "00", "function": "[0-7]"}}.
  // (config/ turns the seed's single-quoted Python form into JSON before calling this.)
  // Errors name the field and why: "device_spec: address: function '8' is out of range (max 0x7)".
  static Result<DeviceSpec> parse(std::string_view json_object);
  // One config value as nova's Whitelist reads it: a JSON object or a list of objects.
  static Result<std::vector<DeviceSpec>> parse_all(std::string_view json);

  // nova's matching rules: vendor and product id (absent or "*" = any), the address glob or
  // regular expressions (a VF also matches through its parent PF's address), devname.
  // A `devname` spec is resolved among `device` alone here (it matches the device carrying that
  // interface name); use the overload below to let a PF's devname match its VFs too.
  bool matches(const PciDevice& device) const;
  // As nova does with sysfs: `devname` names one of `host_devices`; if that one is a PF, its VFs
  // (parent_addr == its address) match as well. No device with that name: no match.
  bool matches(const PciDevice& device, const std::vector<PciDevice>& host_devices) const;

  std::optional<VendorId> vendor_id() const;    // nullopt: any vendor
  std::optional<ProductId> product_id() const;  // nullopt: any product
  // Free-form tags: every key that is not a matching field, values as given (as strings).
  const std::map<std::string, std::string>& tags() const;
  const std::optional<std::string>& devname() const;  // nullopt: matched by address
  // A one-line description for `gpucloud config check`.
  std::string describe() const;

  DeviceSpec(const DeviceSpec&);
  DeviceSpec& operator=(const DeviceSpec&);
  DeviceSpec(DeviceSpec&&) noexcept;
  DeviceSpec& operator=(DeviceSpec&&) noexcept;
  ~DeviceSpec();

 private:
  struct Impl;  // keeps <regex> out of this header
  explicit DeviceSpec(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpucloud

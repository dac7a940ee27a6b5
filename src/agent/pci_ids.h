// Vendor and device names from the PCI ID database (Debian's `pci.ids` package), as lspci shows
// them. Only vendor and device lines are read; subsystems and classes are skipped.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>

#include "core/core.h"

namespace gpucloud::agent {

class PciIds {
 public:
  // The system database (the path in GPUCLOUD_PCI_IDS), parsed once on first use; thread-safe.
  // A missing file gives an empty database: names are a convenience, never a reason to fail.
  static const PciIds& system();
  // Parses the file at `path` (tests use small files); empty when it cannot be read.
  static PciIds load(const std::filesystem::path& path);

  // Empty string when the id is unknown.
  std::string vendor_name(VendorId vendor) const;
  std::string device_name(VendorId vendor, ProductId device) const;
  size_t vendor_count() const { return vendors_.size(); }

 private:
  std::unordered_map<uint16_t, std::string> vendors_;
  std::unordered_map<uint32_t, std::string> devices_;  // key: vendor << 16 | device
};

}  // namespace gpucloud::agent

#include "agent/pci_ids.h"

#include <charconv>
#include <fstream>
#include <string_view>

namespace gpucloud::agent {
namespace {

std::optional<uint16_t> parse_id(std::string_view text) {
  if (text.size() < 4) return std::nullopt;
  uint16_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + 4, v, 16);
  if (ec != std::errc() || ptr != text.data() + 4) return std::nullopt;
  return v;
}

// The name follows the id after two spaces: "10de  NVIDIA Corporation".
std::string name_after_id(std::string_view line) {
  size_t pos = line.find_first_not_of(' ', 4);
  return pos == std::string_view::npos ? std::string() : std::string(line.substr(pos));
}

}  // namespace

const PciIds& PciIds::system() {
  // A function-local static: parsed once, on first use, immutable afterwards.
  static const PciIds ids = load(GPUCLOUD_PCI_IDS);
  return ids;
}

PciIds PciIds::load(const std::filesystem::path& path) {
  PciIds ids;
  std::ifstream in(path);
  std::string line;
  std::optional<uint16_t> vendor;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    // The class section ("C 03  Display controller") follows all vendors; nothing after it is
    // a vendor or device.
    if (line.starts_with("C ")) break;
    if (line[0] != '\t') {
      vendor = parse_id(line);
      if (vendor) ids.vendors_.emplace(*vendor, name_after_id(line));
    } else if (vendor && line.size() > 1 && line[1] != '\t') {
      std::string_view rest(line);
      rest.remove_prefix(1);
      if (auto device = parse_id(rest)) {
        ids.devices_.emplace(uint32_t{*vendor} << 16 | *device, name_after_id(rest));
      }
    }
  }
  return ids;
}

std::string PciIds::vendor_name(VendorId vendor) const {
  auto it = vendors_.find(vendor.value());
  return it == vendors_.end() ? std::string() : it->second;
}

std::string PciIds::device_name(VendorId vendor, ProductId device) const {
  auto it = devices_.find(uint32_t{vendor.value()} << 16 | device.value());
  return it == devices_.end() ? std::string() : it->second;
}

}  // namespace gpucloud::agent

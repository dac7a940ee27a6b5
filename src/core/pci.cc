#include "core/pci.h"

#include <fmt/format.h>

#include <charconv>

namespace gpucloud {
namespace {

// Parses 1..max_digits hex digits that make up all of `text`.
std::optional<uint32_t> parse_hex(std::string_view text, size_t max_digits) {
  if (text.empty() || text.size() > max_digits) return std::nullopt;
  uint32_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v, 16);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

Result<PciAddress> PciAddress::parse(std::string_view text) {
  const std::string shown(text);
  auto bad = [&](const std::string& why) {
    return Error::invalid(fmt::format("invalid PCI address '{}': {}", shown, why));
  };
  const size_t c1 = text.find(':');
  const size_t c2 = c1 == std::string_view::npos ? c1 : text.find(':', c1 + 1);
  const size_t dot = c2 == std::string_view::npos ? c2 : text.find('.', c2 + 1);
  if (c1 == std::string_view::npos || c2 == std::string_view::npos ||
      dot == std::string_view::npos) {
    return bad("expected dddd:bb:ss.f");
  }
  struct Part {
    std::string_view text;
    const char* name;
    uint32_t max;
  };
  const Part parts[] = {{text.substr(0, c1), "domain", 0xffff},
                        {text.substr(c1 + 1, c2 - c1 - 1), "bus", 0xff},
                        {text.substr(c2 + 1, dot - c2 - 1), "slot", 0x1f},
                        {text.substr(dot + 1), "function", 0x7}};
  uint32_t values[4];
  for (int i = 0; i < 4; ++i) {
    auto v = parse_hex(parts[i].text, 4);
    if (!v) return bad(fmt::format("{} '{}' is not hexadecimal", parts[i].name, parts[i].text));
    if (*v > parts[i].max) {
      return bad(fmt::format("{} {:#x} is out of range (max {:#x})", parts[i].name, *v,
                             parts[i].max));
    }
    values[i] = *v;
  }
  return PciAddress{values[0], values[1], values[2], values[3]};
}

std::string PciAddress::to_string() const {
  return fmt::format("{:04x}:{:02x}:{:02x}.{:x}", domain, bus, slot, function);
}

HexId::HexId(uint16_t v) : value_(v), text_(fmt::format("{:04x}", v)) {}

Result<HexId> HexId::parse(std::string_view text, std::string_view what) {
  auto v = text.size() == 4 ? parse_hex(text, 4) : std::nullopt;
  if (!v) {
    return Error::invalid(fmt::format("{} '{}' is not 4 hex digits", what, text));
  }
  return HexId(static_cast<uint16_t>(*v));
}

const char* to_string(PciDeviceType t) {
  switch (t) {
    case PciDeviceType::kPci:
      return "type-PCI";
    case PciDeviceType::kPf:
      return "type-PF";
    case PciDeviceType::kVf:
      return "type-VF";
  }
  return "type-PCI";
}

Result<PciDeviceType> parse_device_type(std::string_view text) {
  if (text == "type-PCI") return PciDeviceType::kPci;
  if (text == "type-PF") return PciDeviceType::kPf;
  if (text == "type-VF") return PciDeviceType::kVf;
  return Error::invalid(
      fmt::format("device_type '{}' is not one of type-PCI, type-PF, type-VF", text));
}

}  // namespace gpucloud

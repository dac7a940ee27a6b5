// nova's PciDeviceSpec (nova/pci/devspec.py) and Whitelist (nova/pci/whitelist.py).
// GCC 12 reports false -Wmaybe-uninitialized warnings inside <regex> when optimising (GCC bug
// 105562); they would fail the -Werror release and sanitize builds.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "core/device_spec.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/address_matcher_impl.h"
#include "core/json_text_impl.h"
#include "core/python_compat_impl.h"

namespace gpucloud {
namespace {

struct SpecData {
  std::optional<VendorId> vendor;
  std::optional<ProductId> product;
  std::optional<std::string> devname;
  AddressMatcher address = AddressMatcher::any();  // unused when devname is set
  std::map<std::string, std::string> tags;
};

}  // namespace

struct DeviceSpec::Impl : SpecData {};

namespace {

using nlohmann::json;

Error spec_error(const std::string& why) { return Error::invalid("device_spec: " + why); }

// nova's _set_pci_dev_info for vendor_id/product_id: "*" is any, otherwise Python's int(x, 16)
// up to 0xffff, so "10DE", "0x10de" and even "de" (= 00de) are accepted.
Result<std::optional<HexId>> parse_id(const json& value, const char* field, bool strip_first) {
  if (!value.is_string()) {
    return spec_error(fmt::format("{} must be a string, got {}", field, value.type_name()));
  }
  const std::string& given = value.get_ref<const std::string&>();
  // Only vendor_id is stripped before the "*" test in nova: " * " is any vendor but an invalid
  // product.
  const std::string_view text = strip_first ? py::strip(given) : std::string_view(given);
  if (text == "*") return std::optional<HexId>();
  const auto v = py::parse_int(text, 16);
  if (!v) return spec_error(fmt::format("{} '{}' is not a hex number", field, text));
  if (*v < 0) return spec_error(fmt::format("{} '{}' is negative", field, text));
  if (*v > 0xffff) {
    return spec_error(fmt::format("{} '{}' is out of range (max 0xffff)", field, text));
  }
  auto id = HexId::parse(fmt::format("{:04x}", *v), field);
  if (!id.ok()) return id.error();
  return std::optional<HexId>(*id);
}

// Python truthiness, which nova uses to decide whether address/devname were given.
bool truthy(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return false;
    case json::value_t::boolean:
      return v.get<bool>();
    case json::value_t::string:
      return !v.get_ref<const std::string&>().empty();
    case json::value_t::object:
    case json::value_t::array:
      return !v.empty();
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return v.get<double>() != 0;
    default:
      return true;
  }
}

Result<AddressMatcher> parse_address(const json& address) {
  auto prefixed = [](const Error& e) { return e.with_context("device_spec: address"); };
  if (address.is_string()) {
    auto m = AddressMatcher::parse_glob(address.get_ref<const std::string&>());
    if (!m.ok()) return prefixed(m.error());
    return m;
  }
  if (!address.is_object()) {
    return spec_error(
        fmt::format("address must be a string or an object, got {}", address.type_name()));
  }
  // Other keys in the dict are ignored, as nova's PciAddressRegexSpec only reads these four.
  std::optional<std::string> parts[4];
  const char* names[4] = {"domain", "bus", "slot", "function"};
  for (int i = 0; i < 4; ++i) {
    auto it = address.find(names[i]);
    if (it == address.end()) continue;
    if (!it->is_string()) {
      return spec_error(fmt::format("address: {} must be a string (a regular expression), got {}",
                                    names[i], it->type_name()));
    }
    parts[i] = it->get<std::string>();
  }
  auto m = AddressMatcher::parse_regex(parts[0], parts[1], parts[2], parts[3]);
  if (!m.ok()) return prefixed(m.error());
  return m;
}

Result<SpecData> parse_object(json spec) {
  SpecData impl;
  auto take = [&](const char* key) -> std::optional<json> {
    auto it = spec.find(key);
    if (it == spec.end()) return std::nullopt;
    json v = std::move(*it);
    spec.erase(it);
    return v;
  };
  const auto vendor = take("vendor_id");
  const auto product = take("product_id");
  const auto devname = take("devname");
  const auto address = take("address");
  if (vendor) {
    auto id = parse_id(*vendor, "vendor_id", true);
    if (!id.ok()) return id.error();
    impl.vendor = *id;
  }
  if (product) {
    auto id = parse_id(*product, "product_id", false);
    if (!id.ok()) return id.error();
    impl.product = *id;
  }
  const bool has_devname = devname && truthy(*devname);
  if (has_devname && !devname->is_string()) {
    return spec_error(fmt::format("devname must be a string, got {}", devname->type_name()));
  }
  if (has_devname && address && truthy(*address)) {
    return spec_error("devname and address cannot both be given");
  }
  if (has_devname) {
    impl.devname = devname->get<std::string>();
  } else if (address && truthy(*address)) {
    // An empty or null address is nova's default, "*:*:*.*".
    auto m = parse_address(*address);
    if (!m.ok()) return m.error();
    impl.address = std::move(m).value();
  }
  // Every other key is a tag (physical_network, trusted, remote_managed, ...), kept as given.
  for (auto& [key, value] : spec.items()) {
    impl.tags[key] = value.is_string() ? value.get<std::string>() : value.dump();
  }
  return impl;
}

}  // namespace

DeviceSpec::DeviceSpec(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DeviceSpec::DeviceSpec(const DeviceSpec& o) : impl_(std::make_unique<Impl>(*o.impl_)) {}
DeviceSpec& DeviceSpec::operator=(const DeviceSpec& o) {
  if (this != &o) impl_ = std::make_unique<Impl>(*o.impl_);
  return *this;
}
DeviceSpec::DeviceSpec(DeviceSpec&&) noexcept = default;
DeviceSpec& DeviceSpec::operator=(DeviceSpec&&) noexcept = default;
DeviceSpec::~DeviceSpec() = default;

Result<DeviceSpec> DeviceSpec::parse(std::string_view json_object) {
  auto doc = parse_json_text(json_object);
  if (!doc.ok()) return doc.error().with_context("device_spec");
  if (!doc->is_object()) {
    return spec_error(fmt::format("expected a JSON object, got {}", doc->type_name()));
  }
  auto impl = parse_object(std::move(doc).value());
  if (!impl.ok()) return impl.error();
  return DeviceSpec(std::make_unique<Impl>(Impl{std::move(impl).value()}));
}

Result<std::vector<DeviceSpec>> DeviceSpec::parse_all(std::string_view json_text) {
  auto doc = parse_json_text(json_text);
  if (!doc.ok()) return doc.error().with_context("device_spec");
  json list = std::move(doc).value();
  if (list.is_object()) list = json::array({std::move(list)});
  if (!list.is_array()) {
    return spec_error(
        fmt::format("expected a JSON object or a list of objects, got {}", list.type_name()));
  }
  std::vector<DeviceSpec> specs;
  for (size_t i = 0; i < list.size(); ++i) {
    if (!list[i].is_object()) {
      return spec_error(
          fmt::format("list entry {} is not a JSON object, got {}", i + 1, list[i].type_name()));
    }
    auto impl = parse_object(std::move(list[i]));
    if (!impl.ok()) {
      // "device_spec: list entry 2: address: ..." rather than the entry's own "device_spec: ".
      std::string why = impl.error().message;
      constexpr std::string_view kPrefix = "device_spec: ";
      if (why.rfind(kPrefix, 0) == 0) why.erase(0, kPrefix.size());
      return spec_error(fmt::format("list entry {}: {}", i + 1, why));
    }
    specs.push_back(DeviceSpec(std::make_unique<Impl>(Impl{std::move(impl).value()})));
  }
  return specs;
}

bool DeviceSpec::matches(const PciDevice& device) const { return matches(device, {device}); }

bool DeviceSpec::matches(const PciDevice& device,
                         const std::vector<PciDevice>& host_devices) const {
  const Impl& s = *impl_;
  if (s.vendor && !(*s.vendor == device.vendor_id)) return false;
  if (s.product && !(*s.product == device.product_id)) return false;
  if (s.devname) {
    // nova resolves the interface name through sysfs to one PCI address; like a spec naming one
    // address, it then also matches the VFs whose parent that address is.
    const PciDevice* named = nullptr;
    for (const PciDevice& d : host_devices) {
      if (d.devname == *s.devname) {
        named = &d;
        break;
      }
    }
    if (named == nullptr) return false;
    if (device.parent_addr && *device.parent_addr == named->address) return true;
    return device.address == named->address;
  }
  // A spec naming one address that is a PF also matches that PF's VFs. A VF's parent_addr is a PF
  // by definition, which is what nova learns from sysfs (sriov_totalvfs > 0).
  if (s.address.names_single_address() && device.parent_addr &&
      s.address.matches(*device.parent_addr)) {
    return true;
  }
  return s.address.matches(device.address);
}

std::optional<VendorId> DeviceSpec::vendor_id() const { return impl_->vendor; }
std::optional<ProductId> DeviceSpec::product_id() const { return impl_->product; }
const std::map<std::string, std::string>& DeviceSpec::tags() const { return impl_->tags; }
const std::optional<std::string>& DeviceSpec::devname() const { return impl_->devname; }

std::string DeviceSpec::describe() const {
  const Impl& s = *impl_;
  std::string out = fmt::format("vendor_id={} product_id={}", s.vendor ? s.vendor->str() : "*",
                                s.product ? s.product->str() : "*");
  if (s.devname) {
    out += fmt::format(" devname={}", *s.devname);
  } else {
    out += fmt::format(" address={}", s.address.describe());
  }
  for (const auto& [k, v] : s.tags) out += fmt::format(" {}={}", k, v);
  return out;
}

}  // namespace gpucloud

// GCC 12 reports false -Wmaybe-uninitialized warnings inside <regex> when optimising (GCC bug
// 105562); they would fail the -Werror release and sanitize builds.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <fmt/format.h>

#include <algorithm>

#include "core/address_matcher_impl.h"
#include "core/python_compat_impl.h"

namespace gpucloud {
namespace {

constexpr std::string_view kAny = "*";

struct Field {
  const char* name;
  int64_t max;
  int width;  // nova's '%04x' / '%02x' / '%1x' formatting of the parsed value
};
constexpr Field kFields[4] = {
    {"domain", 0xffff, 4}, {"bus", 0xff, 2}, {"slot", 0x1f, 2}, {"function", 0x7, 1}};

// nova's _set_pci_dev_info: "*" stays, anything else must be a hex number (Python's int(x, 16),
// so "0x0a" and "a" are both bus 0a) no larger than the part's maximum, and is rewritten in
// canonical form so that it compares equal to the device's formatted address.
Result<std::string> canonical_part(std::string_view text, const Field& f) {
  if (text == kAny) return std::string(kAny);
  const auto v = py::parse_int(text, 16);
  if (!v) return Error::invalid(fmt::format("{} '{}' is not a hex number", f.name, text));
  // Python would take "-1" and format it as "-001", a spec that can never match; we refuse it.
  if (*v < 0) return Error::invalid(fmt::format("{} '{}' is negative", f.name, text));
  if (*v > f.max) {
    return Error::invalid(fmt::format("{} '{}' is out of range (max {:#x})", f.name, text, f.max));
  }
  return fmt::format("{:0{}x}", *v, f.width);
}

std::string device_part(const PciAddress& a, int i) {
  const uint32_t v[4] = {a.domain, a.bus, a.slot, a.function};
  return fmt::format("{:0{}x}", v[i], kFields[i].width);
}

bool is_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

}  // namespace

Result<AddressMatcher> AddressMatcher::parse_glob(std::string_view text) {
  AddressMatcher m;
  std::string_view raw[4] = {kAny, kAny, kAny, kAny};
  // nova partitions on the first '.', so "0a:00.1.2" has function "1.2" (not a hex number).
  const size_t dot = text.find('.');
  const std::string_view dbs = text.substr(0, dot);
  if (dot != std::string_view::npos && dot + 1 < text.size()) {
    raw[3] = py::strip(text.substr(dot + 1));  // " " strips to "", which is not hex: an error
  }
  std::vector<std::string_view> fields;
  if (!dbs.empty()) {
    size_t start = 0;
    while (true) {
      const size_t colon = dbs.find(':', start);
      fields.push_back(dbs.substr(start, colon - start));
      if (colon == std::string_view::npos) break;
      start = colon + 1;
    }
    if (fields.size() > 3) {
      return Error::invalid(fmt::format(
          "'{}' has more than three ':'-separated parts (expected [[domain:]bus:]slot[.function])",
          text));
    }
    // Parts are filled from the right: "0a" is a slot, "0a:00" bus and slot; empty means any.
    const size_t skip = 3 - fields.size();
    for (size_t i = 0; i < fields.size(); ++i) {
      const std::string_view f = py::strip(fields[i]);
      raw[skip + i] = f.empty() ? kAny : f;
    }
  }
  // nova checks the function first, then domain, bus and slot.
  for (int i : {3, 0, 1, 2}) {
    auto part = canonical_part(raw[i], kFields[i]);
    if (!part.ok()) return part.error();
    m.parts_[i].text = std::move(part).value();
  }
  m.single_ = std::none_of(std::begin(m.parts_), std::end(m.parts_),
                           [](const Part& p) { return p.text == kAny; });
  return m;
}

Result<AddressMatcher> AddressMatcher::parse_regex(std::optional<std::string> domain,
                                                   std::optional<std::string> bus,
                                                   std::optional<std::string> slot,
                                                   std::optional<std::string> function) {
  AddressMatcher m;
  m.regex_ = true;
  std::optional<std::string>* given[4] = {&domain, &bus, &slot, &function};
  for (int i = 0; i < 4; ++i) {
    Part& p = m.parts_[i];
    p.text = given[i]->value_or(".*");
    try {
      p.re = std::regex(p.text, std::regex::ECMAScript);
    } catch (const std::regex_error&) {
      return Error::invalid(
          fmt::format("{} '{}' is not a valid regular expression", kFields[i].name, p.text));
    }
  }
  bool single = true;
  for (int i = 0; i < 4; ++i) {
    const std::string& t = m.parts_[i].text;
    const bool lower =
        std::none_of(t.begin(), t.end(), [](char c) { return c >= 'A' && c <= 'F'; });
    single = single && is_hex(t) && lower && t.size() == static_cast<size_t>(kFields[i].width);
  }
  m.single_ = single;
  return m;
}

bool AddressMatcher::matches(const PciAddress& address) const {
  for (int i = 0; i < 4; ++i) {
    const std::string field = device_part(address, i);
    if (regex_) {
      if (!std::regex_search(field, parts_[i].re, std::regex_constants::match_continuous)) {
        return false;
      }
    } else if (parts_[i].text != kAny && parts_[i].text != field) {
      return false;
    }
  }
  return true;
}

std::string AddressMatcher::describe() const {
  if (regex_) {
    return fmt::format("{{domain: {}, bus: {}, slot: {}, function: {}}}", parts_[0].text,
                       parts_[1].text, parts_[2].text, parts_[3].text);
  }
  return fmt::format("{}:{}:{}.{}", parts_[0].text, parts_[1].text, parts_[2].text, parts_[3].text);
}

}  // namespace gpucloud

// Private to core/: the `address` of a device spec, nova's PciAddressGlobSpec (a string such as
// "*:0a:00.*", ":0a:", "0a:00.1") or PciAddressRegexSpec (a dict of regular expressions).
#pragma once

#include <optional>
#include <regex>
#include <string>
#include <string_view>

#include "core/pci.h"
#include "core/result.h"

namespace gpucloud {

class AddressMatcher {
 public:
  // Errors say which part and why, without a prefix: "function '8' is out of range (max 0x7)".
  static Result<AddressMatcher> parse_glob(std::string_view text);
  // A missing part is nova's default ".*". Each part is matched at the start of the address field
  // only, as Python's re.match does ("0" matches bus "0a").
  static Result<AddressMatcher> parse_regex(std::optional<std::string> domain,
                                            std::optional<std::string> bus,
                                            std::optional<std::string> slot,
                                            std::optional<std::string> function);
  static AddressMatcher any() { return parse_glob("*:*:*.*").value(); }
  static AddressMatcher exact(const PciAddress& address) {
    return parse_glob(address.to_string()).value();
  }

  bool matches(const PciAddress& address) const;
  // nova's "is this spec one PF?" test: only a spec naming one address can be a PF, and nova then
  // lets it match that PF's VFs through their parent_addr (WhitelistPciAddress.match). nova asks
  // sysfs at the spelled address, so a regex dict only qualifies when spelled exactly as sysfs
  // does (lower-case hex, 4:2:2.1 digits).
  bool names_single_address() const { return single_; }
  std::string describe() const;

 private:
  struct Part {
    std::string text;  // glob: "*" or the canonical hex; regex: the expression as given
    std::regex re;     // regex form only
  };
  bool regex_ = false;
  bool single_ = false;
  Part parts_[4];  // domain, bus, slot, function
};

}  // namespace gpucloud

// Flavor extra specs: the keys gpucloud understands (pci_passthrough:alias, hw_video:ram_max_mb)
// and nova's extra-spec matching language used by AggregateInstanceExtraSpecsFilter and
// ComputeCapabilitiesFilter (`<in>`, `<or>`, `s==`, `>=`, ...).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace gpucloud {

// One `name:count` item of `pci_passthrough:alias`.
struct AliasRequest {
  std::string alias;
  int count = 1;
  bool operator==(const AliasRequest&) const = default;
};

// Parses `K2_Grid:1` or `a:2,b:1` (nova: count >= 1, name non-empty).
Result<std::vector<AliasRequest>> parse_pci_passthrough_alias(std::string_view value);

// A flavor's extra specs: every key kept as given, the ones gpucloud uses parsed and validated.
struct FlavorExtraSpecs {
  std::map<std::string, std::string> all;
  std::vector<AliasRequest> pci_requests;  // from pci_passthrough:alias
  std::optional<int> video_ram_max_mb;     // from hw_video:ram_max_mb (>= 0)

  // Errors name the key: "hw_video:ram_max_mb: 'x' is not a non-negative integer".
  static Result<FlavorExtraSpecs> parse(std::map<std::string, std::string> specs);
};

// nova's extra_specs_ops.match(value, requirement): does the host/aggregate `value` satisfy the
// flavor's `requirement` (e.g. "true", ">= 4", "<in> avx", "<or> a <or> b", "s== x")?
// Returns false where nova raises (see extra_spec_match_checked).
bool extra_spec_match(std::string_view value, std::string_view requirement);

// The same, with nova's failures made visible for `scheduler explain` and `config check`:
// an Error where nova raises (a numeric operator on a word: "'abc' is not a number"; `<or>` with
// nothing after it). `value` nullopt is nova's None (a missing value): never matches.
Result<bool> extra_spec_match_checked(std::optional<std::string_view> value,
                                      std::string_view requirement);

// Key scoping. AggregateInstanceExtraSpecsFilter checks unscoped keys and the
// `aggregate_instance_extra_specs:` scope; ComputeCapabilitiesFilter unscoped keys and the
// `capabilities:` scope. Returns the key to look up, or nullopt when the filter ignores it.
std::optional<std::string> aggregate_extra_spec_key(std::string_view key);
// For `capabilities:a:b` the returned key is "a:b": nova looks it up as a nested path a -> b
// (see capabilities_extra_spec_path).
std::optional<std::string> capabilities_extra_spec_key(std::string_view key);

// ComputeCapabilitiesFilter's view of a key in full: the nested path to look up in the host's
// capabilities, and whether the key is unscoped. nova skips an unscoped key when the host has no
// such attribute, while a missing `capabilities:` key fails the host.
struct CapabilitiesPath {
  std::vector<std::string> path;
  bool unscoped = false;
  bool operator==(const CapabilitiesPath&) const = default;
};
std::optional<CapabilitiesPath> capabilities_extra_spec_path(std::string_view key);

}  // namespace gpucloud

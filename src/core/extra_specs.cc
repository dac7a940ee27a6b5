// Flavor extra specs gpucloud reads (nova/pci/request.py, nova/api/validation/extra_specs/) and
// the key scoping of nova's two extra-spec filters.
#include "core/extra_specs.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>

#include "core/python_compat_impl.h"

namespace gpucloud {
namespace {

constexpr std::string_view kAliasKey = "pci_passthrough:alias";
constexpr std::string_view kVideoRamKey = "hw_video:ram_max_mb";

std::vector<std::string_view> split_on(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t pos = text.find(sep, start);
    parts.push_back(text.substr(start, pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return parts;
}

bool all_ascii_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

// nova splits on ',' then on ':' and strips the name (request.py); the count must be digits as
// nova's API validator demands (`[^:]+:\d+(?:\s*,\s*[^:]+:\d+)*`), which rules out "+1" and "1_0"
// that Python's int() would take. Whitespace around names and counts is ignored, as int() does.
// nova would accept a count of 0 and ask for no device; gpucloud refuses it as a mistake.
Result<std::vector<AliasRequest>> parse_pci_passthrough_alias(std::string_view value) {
  auto bad = [](const std::string& why) {
    return Error::invalid(fmt::format("{}: {}", kAliasKey, why));
  };
  if (py::strip(value).empty()) {
    return bad("value is empty; expected name:count[,name:count...]");
  }
  std::vector<AliasRequest> requests;
  for (std::string_view item : split_on(value, ',')) {
    const std::vector<std::string_view> parts = split_on(item, ':');
    if (parts.size() != 2) {
      return bad(fmt::format("item '{}' is not of the form name:count", item));
    }
    const std::string_view name = py::strip(parts[0]);
    const std::string_view count_text = py::strip(parts[1]);
    if (name.empty()) return bad(fmt::format("item '{}' has an empty alias name", item));
    if (!all_ascii_digits(count_text)) {
      return bad(fmt::format("count '{}' for alias '{}' is not an integer", count_text, name));
    }
    const auto count = py::parse_int(count_text, 10);
    if (!count || *count > INT_MAX) {
      return bad(fmt::format("count '{}' for alias '{}' is too large", count_text, name));
    }
    if (*count < 1) {
      return bad(fmt::format("count {} for alias '{}' must be at least 1", *count, name));
    }
    requests.push_back({std::string(name), static_cast<int>(*count)});
  }
  return requests;
}

Result<FlavorExtraSpecs> FlavorExtraSpecs::parse(std::map<std::string, std::string> specs) {
  FlavorExtraSpecs out;
  if (auto it = specs.find(std::string(kAliasKey)); it != specs.end()) {
    auto requests = parse_pci_passthrough_alias(it->second);
    if (!requests.ok()) return requests.error();
    out.pci_requests = std::move(requests).value();
  }
  if (auto it = specs.find(std::string(kVideoRamKey)); it != specs.end()) {
    // nova validates with Python's int() and min 0 (api/validation/extra_specs/hw_video.py).
    const auto mb = py::parse_int(it->second, 10);
    if (!mb || *mb < 0) {
      return Error::invalid(
          fmt::format("{}: '{}' is not a non-negative integer", kVideoRamKey, it->second));
    }
    if (*mb > INT_MAX) {
      return Error::invalid(
          fmt::format("{}: '{}' is too large (max {})", kVideoRamKey, it->second, INT_MAX));
    }
    out.video_ram_max_mb = static_cast<int>(*mb);
  }
  out.all = std::move(specs);
  return out;
}

// AggregateInstanceExtraSpecsFilter splits once: "aggregate_instance_extra_specs:a:b" is key "a:b".
std::optional<std::string> aggregate_extra_spec_key(std::string_view key) {
  constexpr std::string_view kScope = "aggregate_instance_extra_specs";
  const size_t colon = key.find(':');
  if (colon == std::string_view::npos) return std::string(key);
  if (key.substr(0, colon) != kScope) return std::nullopt;
  return std::string(key.substr(colon + 1));
}

// ComputeCapabilitiesFilter splits on every ':' and walks the host's capabilities with the rest.
std::optional<CapabilitiesPath> capabilities_extra_spec_path(std::string_view key) {
  std::vector<std::string_view> scope = split_on(key, ':');
  CapabilitiesPath out;
  if (scope.size() == 1) {
    out.unscoped = true;
  } else if (scope[0] != "capabilities") {
    return std::nullopt;
  } else {
    scope.erase(scope.begin());
  }
  for (std::string_view s : scope) out.path.emplace_back(s);
  return out;
}

std::optional<std::string> capabilities_extra_spec_key(std::string_view key) {
  auto path = capabilities_extra_spec_path(key);
  if (!path) return std::nullopt;
  std::string joined;
  for (size_t i = 0; i < path->path.size(); ++i) {
    if (i > 0) joined += ':';
    joined += path->path[i];
  }
  return joined;
}

}  // namespace gpucloud

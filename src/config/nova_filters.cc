// nova's filter names, from nova/scheduler/filters/ (Zed) plus those removed since the seed
// was written. The scheduler implements a subset; config check only refuses names nova never had.
#include <algorithm>
#include <array>

#include "config/nova_config.h"

namespace gpucloud::config {
namespace {

// RetryFilter went in Train (its job moved to the scheduler's alternates), RamFilter, CoreFilter
// and DiskFilter (and their Aggregate* forms) in Stein (placement took over), the Exact* filters
// and TrustedFilter earlier still.
constexpr std::array<std::string_view, 11> kLegacy = {
    "RetryFilter",        "RamFilter",           "CoreFilter",          "DiskFilter",
    "AggregateRamFilter", "AggregateCoreFilter", "AggregateDiskFilter", "ExactRamFilter",
    "ExactCoreFilter",    "ExactDiskFilter",     "TrustedFilter"};

}  // namespace

const std::vector<std::string_view>& nova_filter_names() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> v = {
        "AggregateImagePropertiesIsolation",
        "AggregateInstanceExtraSpecsFilter",
        "AggregateIoOpsFilter",
        "AggregateMultiTenancyIsolation",
        "AggregateNumInstancesFilter",
        "AggregateTypeAffinityFilter",
        "AllHostsFilter",
        "AvailabilityZoneFilter",
        "ComputeCapabilitiesFilter",
        "ComputeFilter",
        "DifferentHostFilter",
        "ImagePropertiesFilter",
        "IoOpsFilter",
        "IsolatedHostsFilter",
        "JsonFilter",
        "MetricsFilter",
        "NUMATopologyFilter",
        "NumInstancesFilter",
        "PciPassthroughFilter",
        "SameHostFilter",
        "ServerGroupAffinityFilter",
        "ServerGroupAntiAffinityFilter",
        "SimpleCIDRAffinityFilter",
    };
    v.insert(v.end(), kLegacy.begin(), kLegacy.end());
    return v;
  }();
  return names;
}

bool is_nova_filter(std::string_view name) {
  const auto& names = nova_filter_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool is_legacy_nova_filter(std::string_view name) {
  return std::find(kLegacy.begin(), kLegacy.end(), name) != kLegacy.end();
}

}  // namespace gpucloud::config

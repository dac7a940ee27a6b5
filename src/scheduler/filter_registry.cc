// The filters gpucloud knows by name, and building the enabled list from the configuration.
#include "scheduler/scheduler_impl.h"

namespace gpucloud::scheduler {

FilterRegistry FilterRegistry::builtin() {
  FilterRegistry r;
  r.add("AvailabilityZoneFilter", make_availability_zone_filter);
  r.add("ComputeFilter", make_compute_filter);
  r.add("AggregateInstanceExtraSpecsFilter", make_aggregate_instance_extra_specs_filter);
  r.add("ComputeCapabilitiesFilter", make_compute_capabilities_filter);
  r.add("PciPassthroughFilter", make_pci_passthrough_filter);
  r.add("ImagePropertiesFilter", make_image_properties_filter);
  for (const char* n : {"ResourceFitFilter", "RamFilter", "CoreFilter", "DiskFilter"}) {
    std::string name = n;
    r.add(name, [name](const SchedulerOptions&) { return make_resource_fit_filter(name); });
  }
  r.add("ServerGroupAffinityFilter",
        [](const SchedulerOptions&) { return make_server_group_filter(false); });
  r.add("ServerGroupAntiAffinityFilter",
        [](const SchedulerOptions&) { return make_server_group_filter(true); });
  // RetryFilter: nova deprecated it in Train and has since removed it, once the scheduler returned
  // alternates; retrying on a lost claim is schedule_and_claim()'s job here. Accepted so that seed
  // configs still load.
  r.add("RetryFilter", [](const SchedulerOptions&) { return make_noop_filter("RetryFilter"); });
  return r;
}

void FilterRegistry::add(std::string name, FilterFactory factory) {
  factories_.emplace_back(std::move(name), std::move(factory));
}

std::vector<std::string> FilterRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& f : factories_) out.push_back(f.first);
  return out;
}

Result<std::vector<std::unique_ptr<Filter>>> FilterRegistry::create(
    const std::vector<std::string>& names, const SchedulerOptions& options) const {
  std::vector<std::unique_ptr<Filter>> filters;
  for (const auto& name : names) {
    const FilterFactory* factory = nullptr;
    for (const auto& f : factories_) {
      if (f.first == name) factory = &f.second;
    }
    if (factory == nullptr) {
      std::string known;
      for (const auto& f : factories_) known += (known.empty() ? "" : ", ") + f.first;
      return Error::invalid("enabled_filters: unknown filter '" + name + "' (known: " + known +
                            ")");
    }
    filters.push_back((*factory)(options));
  }
  return filters;
}

}  // namespace gpucloud::scheduler

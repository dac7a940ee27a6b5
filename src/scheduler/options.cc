// nova.conf's scheduler settings as SchedulerOptions, in one place so that `gpucloud scheduler
// explain` decides exactly as the server's boots do.
#include "config/config.h"
#include "scheduler/scheduler.h"

namespace gpucloud::scheduler {

SchedulerOptions options_from(const config::NovaConfig& nova) {
  SchedulerOptions o;
  o.enabled_filters.clear();
  for (const auto& f : nova.enabled_filters) o.enabled_filters.push_back(f.value);
  o.aliases = nova.aliases;
  o.cpu_allocation_ratio = nova.cpu_allocation_ratio;
  o.ram_allocation_ratio = nova.ram_allocation_ratio;
  o.disk_allocation_ratio = nova.disk_allocation_ratio;
  o.ram_weight_multiplier = nova.ram_weight_multiplier;
  o.pci_weight_multiplier = nova.pci_weight_multiplier;
  o.soft_affinity_weight_multiplier = nova.soft_affinity_weight_multiplier;
  o.soft_anti_affinity_weight_multiplier = nova.soft_anti_affinity_weight_multiplier;
  o.weighers = nova.weighers;
  o.default_availability_zone = nova.default_availability_zone.value;
  o.max_attempts = nova.max_attempts;
  return o;
}

}  // namespace gpucloud::scheduler

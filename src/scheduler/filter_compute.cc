// ComputeFilter: only hosts whose compute service is enabled and heard from recently. gpucloud
// adds one condition nova does not have: the agent's host doctor must have found passthrough
// ready (IOMMU on, devices bound to vfio-pci), or a GPU instance would fail at spawn.
#include "scheduler/host_index.h"
#include "scheduler/scheduler_impl.h"

namespace gpucloud::scheduler {
namespace {

class ComputeFilter : public CheckFilter {
 public:
  ComputeFilter() : CheckFilter("ComputeFilter") {}

  void narrow(const HostView& hosts, const RequestSpec&, HostBits& candidates) const override {
    candidates &= hosts.index().up;
  }

 private:
  bool check(const HostState& host, const RequestSpec&, std::string* why) const override {
    if (!why) return host.enabled && host.heartbeat_fresh && host.doctor_ok;
    if (!host.enabled) {
      *why = "compute service is disabled" +
             (host.disabled_reason.empty() ? std::string() : " (" + host.disabled_reason + ")");
    } else if (!host.heartbeat_fresh) {
      *why = "compute service is down (no recent heartbeat)";
    } else if (!host.doctor_ok) {
      *why = "host doctor reports passthrough is not ready";
    } else {
      return true;
    }
    return false;
  }
};

}  // namespace

std::unique_ptr<Filter> make_compute_filter(const SchedulerOptions&) {
  return std::make_unique<ComputeFilter>();
}

}  // namespace gpucloud::scheduler

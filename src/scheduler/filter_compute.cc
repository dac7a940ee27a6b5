// ComputeFilter: only hosts whose compute service is enabled and heard from recently. gpucloud
// adds one condition nova does not have: the agent's host doctor must have found passthrough
// ready (IOMMU on, devices bound to vfio-pci), or a GPU instance would fail at spawn.
#include "scheduler/scheduler_impl.h"

namespace gpucloud::scheduler {
namespace {

class ComputeFilter : public Filter {
 public:
  const std::string& name() const override { return name_; }

  bool passes(const HostState& host, const RequestSpec&) const override {
    return host.enabled && host.heartbeat_fresh && host.doctor_ok;
  }

  Verdict filter(const HostState& host, const RequestSpec&) const override {
    if (!host.enabled) {
      return Verdict::fail(
          "compute service is disabled" +
          (host.disabled_reason.empty() ? std::string() : " (" + host.disabled_reason + ")"));
    }
    if (!host.heartbeat_fresh)
      return Verdict::fail("compute service is down (no recent heartbeat)");
    if (!host.doctor_ok) return Verdict::fail("host doctor reports passthrough is not ready");
    return Verdict::pass();
  }

 private:
  std::string name_ = "ComputeFilter";
};

}  // namespace

std::unique_ptr<Filter> make_compute_filter(const SchedulerOptions&) {
  return std::make_unique<ComputeFilter>();
}

}  // namespace gpucloud::scheduler

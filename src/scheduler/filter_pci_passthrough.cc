// PciPassthroughFilter: the host must have free devices for every alias of
// pci_passthrough:alias, honouring each request's NUMA affinity policy (see pci_fit.cc).
#include "scheduler/scheduler_impl.h"

namespace gpucloud::scheduler {
namespace {

class PciPassthroughFilter : public Filter {
 public:
  const std::string& name() const override { return name_; }

  bool passes(const HostState& host, const RequestSpec& request) const override {
    if (request.pci_requests.empty()) return true;
    if (host.pci_pools.empty()) return false;
    return fit_pci_requests(host, request).has_value();
  }

  Verdict filter(const HostState& host, const RequestSpec& request) const override {
    if (request.pci_requests.empty()) return Verdict::pass();
    const PciRequest* missing = nullptr;
    if (fit_pci_requests(host, request, &missing)) return Verdict::pass();
    auto [free, total] = count_matching_devices(host, *missing);
    std::string why = "needs " + missing->describe() + ", host has " + std::to_string(free) +
                      " of " + std::to_string(total) + " free";
    if (free >= missing->count) {
      why += std::string(" but not on the guest's NUMA node(s) (numa_policy ") +
             to_string(missing->numa_policy) + ")";
    }
    return Verdict::fail(std::move(why));
  }

 private:
  std::string name_ = "PciPassthroughFilter";
};

}  // namespace

std::unique_ptr<Filter> make_pci_passthrough_filter(const SchedulerOptions&) {
  return std::make_unique<PciPassthroughFilter>();
}

}  // namespace gpucloud::scheduler

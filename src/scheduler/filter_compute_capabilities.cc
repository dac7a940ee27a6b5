// ComputeCapabilitiesFilter: flavor extra specs scoped `capabilities:` (or unscoped) against the
// host's capabilities (hypervisor_type, cpu_info:arch, ...).
//
// nova's quirk, kept: an unscoped key the host has no capability for is ignored (so `gpu=true`
// does not trip this filter), but a `capabilities:` key the host lacks fails the host.
#include "scheduler/host_index.h"
#include "scheduler/scheduler_impl.h"

namespace gpucloud::scheduler {
namespace {

class ComputeCapabilitiesFilter : public CheckFilter {
 public:
  ComputeCapabilitiesFilter() : CheckFilter("ComputeCapabilitiesFilter") {}

  // Decided from the request alone when every key it names is unscoped and no host has such a
  // capability: each spec is then ignored on every host (gpu=true on a cloud without a `gpu`
  // capability, the common case).
  void narrow(const HostView& hosts, const RequestSpec& request,
              HostBits& candidates) const override {
    for (const auto& [spec_key, requirement] : request.extra_specs.all) {
      auto key = capabilities_extra_spec_key(spec_key);
      if (!key) continue;
      if (spec_key.find(':') != std::string::npos || hosts.index().capability_keys.count(*key)) {
        Filter::narrow(hosts, request, candidates);
        return;
      }
    }
  }

 private:
  bool check(const HostState& host, const RequestSpec& request, std::string* why) const override {
    for (const auto& [spec_key, requirement] : request.extra_specs.all) {
      auto key = capabilities_extra_spec_key(spec_key);
      if (!key) continue;
      bool scoped = spec_key.find(':') != std::string::npos;
      auto it = host.capabilities.find(*key);
      if (it == host.capabilities.end()) {
        if (!scoped) continue;
        if (why) *why = spec_key + "=" + requirement + ", host has no capability " + *key;
        return false;
      }
      if (!extra_spec_match(it->second, requirement)) {
        if (why) *why = spec_key + "=" + requirement + ", host has " + *key + "=" + it->second;
        return false;
      }
    }
    return true;
  }
};

}  // namespace

std::unique_ptr<Filter> make_compute_capabilities_filter(const SchedulerOptions&) {
  return std::make_unique<ComputeCapabilitiesFilter>();
}

}  // namespace gpucloud::scheduler

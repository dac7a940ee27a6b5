// ComputeCapabilitiesFilter: flavor extra specs scoped `capabilities:` (or unscoped) against the
// host's capabilities (hypervisor_type, cpu_info:arch, ...).
//
// nova's quirk, kept: an unscoped key the host has no capability for is ignored (so `gpu=true`
// does not trip this filter), but a `capabilities:` key the host lacks fails the host.
#include "scheduler/scheduler_impl.h"

namespace gpucloud::scheduler {
namespace {

class ComputeCapabilitiesFilter : public Filter {
 public:
  const std::string& name() const override { return name_; }

  bool passes(const HostState& host, const RequestSpec& request) const override {
    return check(host, request, nullptr);
  }

  Verdict filter(const HostState& host, const RequestSpec& request) const override {
    std::string why;
    if (check(host, request, &why)) return Verdict::pass();
    return Verdict::fail(std::move(why));
  }

 private:
  static bool check(const HostState& host, const RequestSpec& request, std::string* why) {
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

  std::string name_ = "ComputeCapabilitiesFilter";
};

}  // namespace

std::unique_ptr<Filter> make_compute_capabilities_filter(const SchedulerOptions&) {
  return std::make_unique<ComputeCapabilitiesFilter>();
}

}  // namespace gpucloud::scheduler

// Resource fit: vCPU, RAM and disk against total * allocation ratio, as placement does for nova
// since Stein. nova removed RamFilter, CoreFilter and DiskFilter once placement did this; gpucloud
// accepts those names (seed configs list RamFilter) and checks the one resource each is named for.
// ResourceFitFilter checks all three.
#include <cstdio>

#include "scheduler/host_index.h"
#include "scheduler/scheduler_impl.h"

namespace gpucloud::scheduler {
namespace {

class ResourceFitFilter : public CheckFilter {
 public:
  ResourceFitFilter(std::string name, bool cpu, bool ram, bool disk)
      : CheckFilter(std::move(name)), cpu_(cpu), ram_(ram), disk_(disk) {}
  bool checks_fit() const override { return true; }

  void narrow(const HostView& hosts, const RequestSpec& request,
              HostBits& candidates) const override {
    const Resources want = masked(request.requested());
    const auto& numbers = hosts.index().numbers;
    candidates.keep_if([&](size_t i) { return fits(want, numbers[i].headroom, numbers[i].total); });
  }

 private:
  bool check(const HostState& host, const RequestSpec& request, std::string* why) const override {
    Resources want = masked(request.requested());
    if (host.fits(want)) return true;
    if (!why) return false;
    Resources free = host.headroom();
    auto add = [&](bool on, int64_t wanted, int64_t have, int64_t total, double ratio,
                   const char* unit) {
      if (!on || (wanted <= have && wanted <= total)) return;
      char buf[160];
      std::snprintf(buf, sizeof buf, "needs %lld %s, host has %lld free of %lld x %.1f",
                    static_cast<long long>(wanted), unit, static_cast<long long>(have),
                    static_cast<long long>(total), ratio);
      *why += (why->empty() ? "" : "; ") + std::string(buf);
    };
    add(cpu_, want.vcpus, free.vcpus, host.total.vcpus, host.cpu_allocation_ratio, "vCPU");
    add(ram_, want.memory_mb, free.memory_mb, host.total.memory_mb, host.ram_allocation_ratio,
        "MB RAM");
    add(disk_, want.disk_gb, free.disk_gb, host.total.disk_gb, host.disk_allocation_ratio,
        "GB disk");
    return false;
  }

  Resources masked(Resources r) const {
    if (!cpu_) r.vcpus = 0;
    if (!ram_) r.memory_mb = 0;
    if (!disk_) r.disk_gb = 0;
    return r;
  }
  bool cpu_, ram_, disk_;
};

// Decides nothing: every host passes, without looking at one.
class NoopFilter : public CheckFilter {
 public:
  using CheckFilter::CheckFilter;
  void narrow(const HostView&, const RequestSpec&, HostBits&) const override {}

 private:
  bool check(const HostState&, const RequestSpec&, std::string*) const override { return true; }
};

}  // namespace

std::unique_ptr<Filter> make_resource_fit_filter(const std::string& which) {
  if (which == "RamFilter") return std::make_unique<ResourceFitFilter>(which, false, true, false);
  if (which == "CoreFilter") return std::make_unique<ResourceFitFilter>(which, true, false, false);
  if (which == "DiskFilter") return std::make_unique<ResourceFitFilter>(which, false, false, true);
  return std::make_unique<ResourceFitFilter>(which, true, true, true);
}

std::unique_ptr<Filter> make_noop_filter(const std::string& name) {
  return std::make_unique<NoopFilter>(name);
}

}  // namespace gpucloud::scheduler

// Resource fit: vCPU, RAM and disk against total * allocation ratio, as placement does for nova
// since Stein. nova removed RamFilter, CoreFilter and DiskFilter once placement did this; gpucloud
// accepts those names (seed configs list RamFilter) and checks the one resource each is named for.
// ResourceFitFilter checks all three.
#include <cstdio>

#include "scheduler/scheduler_impl.h"

namespace gpucloud::scheduler {
namespace {

class ResourceFitFilter : public Filter {
 public:
  ResourceFitFilter(std::string name, bool cpu, bool ram, bool disk)
      : name_(std::move(name)), cpu_(cpu), ram_(ram), disk_(disk) {}
  const std::string& name() const override { return name_; }

  bool passes(const HostState& host, const RequestSpec& request) const override {
    return host.fits(masked(request.requested()));
  }

  Verdict filter(const HostState& host, const RequestSpec& request) const override {
    Resources want = masked(request.requested());
    if (host.fits(want)) return Verdict::pass();
    Resources free = host.headroom();
    std::string why;
    auto add = [&](bool on, int64_t wanted, int64_t have, int64_t total, double ratio,
                   const char* unit) {
      if (!on || (wanted <= have && wanted <= total)) return;
      char buf[160];
      std::snprintf(buf, sizeof buf, "needs %lld %s, host has %lld free of %lld x %.1f",
                    static_cast<long long>(wanted), unit, static_cast<long long>(have),
                    static_cast<long long>(total), ratio);
      why += (why.empty() ? "" : "; ") + std::string(buf);
    };
    add(cpu_, want.vcpus, free.vcpus, host.total.vcpus, host.cpu_allocation_ratio, "vCPU");
    add(ram_, want.memory_mb, free.memory_mb, host.total.memory_mb, host.ram_allocation_ratio,
        "MB RAM");
    add(disk_, want.disk_gb, free.disk_gb, host.total.disk_gb, host.disk_allocation_ratio,
        "GB disk");
    return Verdict::fail(why);
  }

 private:
  Resources masked(Resources r) const {
    if (!cpu_) r.vcpus = 0;
    if (!ram_) r.memory_mb = 0;
    if (!disk_) r.disk_gb = 0;
    return r;
  }
  std::string name_;
  bool cpu_, ram_, disk_;
};

class NoopFilter : public Filter {
 public:
  explicit NoopFilter(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  Verdict filter(const HostState&, const RequestSpec&) const override { return Verdict::pass(); }
  bool passes(const HostState&, const RequestSpec&) const override { return true; }

 private:
  std::string name_;
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

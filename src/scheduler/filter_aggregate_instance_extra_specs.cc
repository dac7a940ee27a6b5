// AggregateInstanceExtraSpecsFilter: every unscoped (or aggregate_instance_extra_specs:) flavor
// extra spec must be matched by a metadata value of one of the host's aggregates.
//
// nova's surprise, kept on purpose: a host whose aggregates lack the key FAILS, it is not "don't
// care". That is why the seed sets gpu=false on the non-GPU flavors *and* aggregates explicitly:
// a flavor with gpu=false would otherwise never land on a host outside every gpu aggregate, and a
// flavor with no gpu key at all lands anywhere, GPU hosts included.
#include "scheduler/host_index.h"
#include "scheduler/scheduler_impl.h"

namespace gpucloud::scheduler {
namespace {

class AggregateInstanceExtraSpecsFilter : public CheckFilter {
 public:
  AggregateInstanceExtraSpecsFilter() : CheckFilter("AggregateInstanceExtraSpecsFilter") {}

  // Per spec, the hosts holding a matching value: each distinct value is matched once, not once
  // per host.
  void narrow(const HostView& hosts, const RequestSpec& request,
              HostBits& candidates) const override {
    const auto& index = hosts.index();
    for (const auto& [spec_key, requirement] : request.extra_specs.all) {
      auto key = aggregate_extra_spec_key(spec_key);
      if (!key) continue;
      candidates &= index.hosts_matching(index.key_id(*key), [&](const std::string& value) {
        return extra_spec_match(value, requirement);
      });
    }
  }

 private:
  bool check(const HostState& host, const RequestSpec& request, std::string* why) const override {
    for (const auto& [spec_key, requirement] : request.extra_specs.all) {
      auto key = aggregate_extra_spec_key(spec_key);
      if (!key) continue;  // another scope (hw:, pci_passthrough:, capabilities:, ...)
      auto it = host.aggregate_metadata.find(*key);
      if (it == host.aggregate_metadata.end() || it->second.empty()) {
        if (why) *why = spec_key + "=" + requirement + ", host's aggregates have no " + *key;
        return false;
      }
      bool matched = false;
      for (const auto& value : it->second) {
        if (extra_spec_match(value, requirement)) {
          matched = true;
          break;
        }
      }
      if (!matched) {
        if (why) {
          std::string has;
          for (const auto& value : it->second)
            has += (has.empty() ? "" : ", ") + *key + "=" + value;
          *why = spec_key + "=" + requirement + ", host has " + has;
        }
        return false;
      }
    }
    return true;
  }
};

}  // namespace

std::unique_ptr<Filter> make_aggregate_instance_extra_specs_filter(const SchedulerOptions&) {
  return std::make_unique<AggregateInstanceExtraSpecsFilter>();
}

}  // namespace gpucloud::scheduler

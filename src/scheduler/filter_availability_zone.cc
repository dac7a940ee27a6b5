// AvailabilityZoneFilter: the host's availability zones are the `availability_zone` metadata of
// its aggregates; a host in no such aggregate is in [DEFAULT] default_availability_zone ("nova").
// (nova deprecated this filter in Xena in favour of placement aggregates; same outcome.)
#include "scheduler/host_index.h"
#include "scheduler/scheduler_impl.h"

namespace gpucloud::scheduler {
namespace {

const std::string kAzKey = "availability_zone";

class AvailabilityZoneFilter : public CheckFilter {
 public:
  explicit AvailabilityZoneFilter(std::string default_az)
      : CheckFilter("AvailabilityZoneFilter"), default_az_(std::move(default_az)) {}

  void narrow(const HostView& hosts, const RequestSpec& request,
              HostBits& candidates) const override {
    if (request.availability_zone.empty()) return;
    const auto& index = hosts.index();
    const uint32_t key = index.key_id(kAzKey);
    HostBits in_zone = index.hosts_matching(
        key, [&](const std::string& zone) { return zone == request.availability_zone; });
    if (request.availability_zone == default_az_) {
      // Plus every host that no aggregate puts in a zone.
      const HostBits* zoned = key == HostIndex::Data::kNone ? nullptr : &index.keys[key].holders;
      candidates.keep_if([&](size_t i) { return in_zone.test(i) || !zoned || !zoned->test(i); });
      return;
    }
    candidates &= in_zone;
  }

 private:
  bool check(const HostState& host, const RequestSpec& request, std::string* why) const override {
    if (request.availability_zone.empty()) return true;
    auto it = host.aggregate_metadata.find(kAzKey);
    bool in = it == host.aggregate_metadata.end() ? request.availability_zone == default_az_
                                                  : it->second.count(request.availability_zone) > 0;
    if (in || !why) return in;
    std::string zones;
    if (it == host.aggregate_metadata.end()) {
      zones = "'" + default_az_ + "' (the default zone: no aggregate gives it one)";
    } else {
      for (const auto& z : it->second) zones += (zones.empty() ? "'" : ", '") + z + "'";
    }
    *why = "availability zone '" + request.availability_zone + "' requested, host is in " + zones;
    return false;
  }

  std::string default_az_;
};

}  // namespace

std::unique_ptr<Filter> make_availability_zone_filter(const SchedulerOptions& options) {
  return std::make_unique<AvailabilityZoneFilter>(options.default_availability_zone);
}

}  // namespace gpucloud::scheduler

// AvailabilityZoneFilter: the host's availability zones are the `availability_zone` metadata of
// its aggregates; a host in no such aggregate is in [DEFAULT] default_availability_zone ("nova").
// (nova deprecated this filter in Xena in favour of placement aggregates; same outcome.)
#include "scheduler/scheduler_impl.h"

namespace gpucloud::scheduler {
namespace {

const std::string kAzKey = "availability_zone";

class AvailabilityZoneFilter : public Filter {
 public:
  explicit AvailabilityZoneFilter(std::string default_az) : default_az_(std::move(default_az)) {}
  const std::string& name() const override { return name_; }

  bool passes(const HostState& host, const RequestSpec& request) const override {
    if (request.availability_zone.empty()) return true;
    auto it = host.aggregate_metadata.find(kAzKey);
    if (it == host.aggregate_metadata.end()) return request.availability_zone == default_az_;
    return it->second.count(request.availability_zone) > 0;
  }

  Verdict filter(const HostState& host, const RequestSpec& request) const override {
    if (passes(host, request)) return Verdict::pass();
    std::string zones;
    auto it = host.aggregate_metadata.find(kAzKey);
    if (it == host.aggregate_metadata.end()) {
      zones = "'" + default_az_ + "' (the default zone: no aggregate gives it one)";
    } else {
      for (const auto& z : it->second) zones += (zones.empty() ? "'" : ", '") + z + "'";
    }
    return Verdict::fail("availability zone '" + request.availability_zone +
                         "' requested, host is in " + zones);
  }

 private:
  std::string name_ = "AvailabilityZoneFilter";
  std::string default_az_;
};

}  // namespace

std::unique_ptr<Filter> make_availability_zone_filter(const SchedulerOptions& options) {
  return std::make_unique<AvailabilityZoneFilter>(options.default_availability_zone);
}

}  // namespace gpucloud::scheduler

// Table-driven tests, one table per filter: each row a host, a request and the expected verdict
// (and a fragment of the reason), with the nova rule it comes from.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "scheduler_test_util.h"

namespace gpucloud::scheduler {
namespace {

using testing::host;
using testing::make_filter;
using testing::request;
using testing::set_metadata;

struct Row {
  const char* what;
  HostState host;
  RequestSpec request;
  bool passes;
  const char* reason_part;  // substring of the reason when it fails
};

void run_table(const std::string& filter_name, const std::vector<Row>& rows,
               const SchedulerOptions& options = {}) {
  auto filter = make_filter(filter_name, options);
  ASSERT_NE(filter, nullptr);
  for (const auto& row : rows) {
    SCOPED_TRACE(row.what);
    Verdict v = filter->filter(row.host, row.request);
    EXPECT_EQ(v.passed, row.passes) << v.reason;
    // The fast path must agree with the explaining one.
    EXPECT_EQ(filter->passes(row.host, row.request), row.passes);
    EXPECT_EQ(testing::narrow_passes(*filter, row.host, row.request), row.passes) << "narrow()";
    if (!row.passes) {
      EXPECT_NE(v.reason.find(row.reason_part), std::string::npos) << v.reason;
    } else {
      EXPECT_TRUE(v.reason.empty());
    }
  }
}

HostState in_az(const std::string& az) {
  HostState h = host("h");
  set_metadata(h, "availability_zone", az);
  return h;
}

TEST(AvailabilityZoneFilter, MatchesAggregateZonesOrTheDefaultZone) {
  HostState two_zones = in_az("Denver");
  set_metadata(two_zones, "availability_zone", "Boulder");
  run_table("AvailabilityZoneFilter",
            {
                {"no zone requested: any host", in_az("Denver"), request(), true, ""},
                {"zone of the host's aggregate", in_az("Denver"),
                 request({}, {}, 2, 4096, 40, {}, "Denver"), true, ""},
                {"another zone", in_az("Denver"), request({}, {}, 2, 4096, 40, {}, "Austin"), false,
                 "'Austin' requested, host is in 'Denver'"},
                {"host in two zones (nova allows it)", two_zones,
                 request({}, {}, 2, 4096, 40, {}, "Boulder"), true, ""},
                {"host in no zone is in default_availability_zone", host("h"),
                 request({}, {}, 2, 4096, 40, {}, "nova"), true, ""},
                {"host in no zone, other zone asked", host("h"),
                 request({}, {}, 2, 4096, 40, {}, "Denver"), false, "'nova' (the default zone"},
            });
}

TEST(ComputeFilter, RefusesDisabledDownAndUnhealthyHosts) {
  HostState disabled = host("h");
  disabled.enabled = false;
  disabled.disabled_reason = "maintenance";
  HostState down = host("h");
  down.heartbeat_fresh = false;
  HostState sick = host("h");
  sick.doctor_ok = false;
  run_table("ComputeFilter", {
                                 {"healthy", host("h"), request(), true, ""},
                                 {"disabled", disabled, request(), false, "disabled (maintenance)"},
                                 {"no heartbeat", down, request(), false, "down"},
                                 {"doctor failed", sick, request(), false, "host doctor"},
                             });
}

TEST(AggregateInstanceExtraSpecsFilter, FollowsNovaIncludingMissingKeysFailing) {
  HostState gpu = host("h");
  set_metadata(gpu, "gpu", "true");
  HostState nongpu = host("h");
  set_metadata(nongpu, "gpu", "false");
  HostState multi = host("h");
  set_metadata(multi, "gpu", "false");
  set_metadata(multi, "gpu", "true");
  HostState plain = host("h");
  HostState big = host("h");
  set_metadata(big, "ssd_count", "4");
  run_table(
      "AggregateInstanceExtraSpecsFilter",
      {
          {"no extra specs: every host", plain, request(), true, ""},
          {"gpu=true on a gpu=true host", gpu, request({{"gpu", "true"}}), true, ""},
          {"gpu=true on a gpu=false host (the seed's fault)", nongpu, request({{"gpu", "true"}}),
           false, "gpu=true, host has gpu=false"},
          {"nova: a host without the key fails, it is not 'don't care'", plain,
           request({{"gpu", "false"}}), false, "host's aggregates have no gpu"},
          {"any of the host's aggregate values may match", multi, request({{"gpu", "true"}}), true,
           ""},
          {"the aggregate_instance_extra_specs: scope is checked", nongpu,
           request({{"aggregate_instance_extra_specs:gpu", "true"}}), false, "host has gpu=false"},
          {"other scopes are ignored", plain,
           request({{"hw:cpu_policy", "shared"}, {"hw_video:ram_max_mb", "64"}}), true, ""},
          {"capabilities: scope is ComputeCapabilitiesFilter's, ignored here", plain,
           request({{"capabilities:hypervisor_type", "QEMU"}}), true, ""},
          {"nova's operators: >= compares numbers", big, request({{"ssd_count", ">= 2"}}), true,
           ""},
          {"nova's operators: <in> is a substring test", gpu, request({{"gpu", "<in> ru"}}), true,
           ""},
          {"nova's operators: <or>", nongpu, request({{"gpu", "<or> yes <or> false"}}), true, ""},
      });
}

// nova splits aggregate metadata values on ',' and strips each part before the filters read them
// (aggregate_metadata_get_by_host): "fast, slow" is `fast` and `slow`.
TEST(AggregateInstanceExtraSpecsFilter, CommaSeparatedAggregateValueIsSeveralValues) {
  HostState h = host("h");
  h.add_aggregate_metadata("speed", "fast, slow");
  EXPECT_THAT(h.aggregate_metadata["speed"], ::testing::ElementsAre("fast", "slow"));
  run_table("AggregateInstanceExtraSpecsFilter",
            {
                {"<or> fast matches the part", h, request({{"speed", "<or> fast"}}), true, ""},
                {"= slow matches the stripped part", h, request({{"speed", "slow"}}), true, ""},
                {"the whole string is not a value", h, request({{"speed", "fast, slow"}}), false,
                 "host has speed="},
            });
  HostState zones = host("h");
  zones.add_aggregate_metadata("availability_zone", " Denver ");
  run_table("AvailabilityZoneFilter", {{"a zone value is stripped too", zones,
                                        request({}, {}, 2, 4096, 40, {}, "Denver"), true, ""}});
}

TEST(ComputeCapabilitiesFilter, UnscopedKeysTheHostLacksAreIgnored) {
  HostState h = host("h");
  h.capabilities["hypervisor_type"] = "QEMU";
  h.capabilities["cpu_info:arch"] = "x86_64";
  h.capabilities["vcpus"] = "32";
  run_table("ComputeCapabilitiesFilter",
            {
                {"nova quirk: unscoped key without a capability is ignored", h,
                 request({{"gpu", "true"}}), true, ""},
                {"scoped capability matches", h,
                 request({{"capabilities:hypervisor_type", "QEMU"}}), true, ""},
                {"scoped capability differs", h, request({{"capabilities:hypervisor_type", "Xen"}}),
                 false, "host has hypervisor_type=QEMU"},
                {"nested capability via ':'", h,
                 request({{"capabilities:cpu_info:arch", "x86_64"}}), true, ""},
                {"scoped capability the host lacks fails", h,
                 request({{"capabilities:cpu_info:vendor", "Intel"}}), false,
                 "no capability cpu_info:vendor"},
                {"unscoped key that is a capability is checked", h, request({{"vcpus", ">= 64"}}),
                 false, "host has vcpus=32"},
                {"other scopes ignored", h, request({{"hw:numa_nodes", "1"}}), true, ""},
            });
}

TEST(ResourceFit, UsesAllocationRatiosAndNeverOvercommitsOneInstance) {
  HostState small = host("h", 4, 8192, 100);
  small.cpu_allocation_ratio = 4.0;
  small.ram_allocation_ratio = 1.0;
  HostState busy = small;
  busy.used = {14, 4096, 90};
  run_table(
      "ResourceFitFilter",
      {
          {"fits", small, request({}, {}, 2, 4096, 40), true, ""},
          {"8 vCPU on 4 cores: more than the host's total (placement max_unit)", small,
           request({}, {}, 8, 1024, 10), false, "needs 8 vCPU"},
          {"14 of 16 (4 x 4.0) used, 2 more fit", busy, request({}, {}, 2, 1024, 10), true, ""},
          {"14 of 16 used, 4 more do not", busy, request({}, {}, 4, 1024, 10), false,
           "needs 4 vCPU, host has 2 free of 4 x 4.0"},
          {"RAM without overcommit", busy, request({}, {}, 1, 8192, 10), false,
           "needs 8192 MB RAM"},
          {"disk", busy, request({}, {}, 1, 1024, 20), false, "needs 20 GB disk"},
      });
  // The legacy names check only their own resource.
  run_table("RamFilter",
            {{"RamFilter ignores vCPU", busy, request({}, {}, 4, 1024, 10), true, ""},
             {"RamFilter checks RAM", busy, request({}, {}, 1, 8192, 1), false, "MB RAM"}});
  run_table("CoreFilter",
            {{"CoreFilter checks vCPU", busy, request({}, {}, 4, 1, 1), false, "vCPU"}});
  run_table("DiskFilter",
            {{"DiskFilter checks disk", busy, request({}, {}, 1, 1, 20), false, "GB disk"}});
}

TEST(ImagePropertiesFilter, ComparesArchHypervisorAndMode) {
  auto image = [](std::map<std::string, std::string> props) {
    ImageMeta m;
    m.properties = std::move(props);
    return request({}, {}, 2, 4096, 40, m);
  };
  HostState h = host("h");
  h.hypervisor_version = 6000000;  // 6.0.0
  HostState bare = host("h");
  bare.supported_instances.clear();
  run_table(
      "ImagePropertiesFilter",
      {
          {"no properties: any host", h, image({{"hw_video_model", "qxl"}}), true, ""},
          {"matching arch", h, image({{"hw_architecture", "x86_64"}}), true, ""},
          {"amd64 is canonicalized to x86_64", h, image({{"architecture", "amd64"}}), true, ""},
          {"other arch", h, image({{"hw_architecture", "aarch64"}}), false,
           "image needs aarch64/*/*"},
          {"other hypervisor", h, image({{"img_hv_type", "xen"}}), false, "host supports"},
          {"hv is canonicalized to hvm", h, image({{"hw_vm_mode", "hv"}}), true, ""},
          {"host with no supported instances fails", bare, image({{"hw_architecture", "x86_64"}}),
           false, "no supported instances"},
          {"hypervisor version satisfied", h,
           image({{"img_hv_type", "kvm"}, {"img_hv_requested_version", ">= 5.2"}}), true, ""},
          {"hypervisor version too old", h,
           image({{"img_hv_type", "kvm"}, {"img_hv_requested_version", ">= 7.0"}}), false,
           "hypervisor version >= 7.0"},
      });
}

TEST(NoopFilters, RetryAndServerGroupFiltersAlwaysPass) {
  HostState down = host("h");
  down.heartbeat_fresh = false;
  for (const char* name :
       {"RetryFilter", "ServerGroupAffinityFilter", "ServerGroupAntiAffinityFilter"}) {
    run_table(name, {{name, down, request(), true, ""}});
  }
}

TEST(FilterRegistry, UnknownFilterNameIsAConfigErrorNamingIt) {
  SchedulerOptions o;
  o.enabled_filters = {"ComputeFilter", "NoSuchFilter"};
  auto s = Scheduler::create(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("unknown filter 'NoSuchFilter'"), std::string::npos);
  EXPECT_NE(s.error().message.find("AggregateInstanceExtraSpecsFilter"), std::string::npos);
}

TEST(FilterRegistry, NovaDefaultFiltersAreAllKnown) {
  auto s = Scheduler::create(SchedulerOptions{});
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->filter_names().size(), 5u);
}

}  // namespace
}  // namespace gpucloud::scheduler

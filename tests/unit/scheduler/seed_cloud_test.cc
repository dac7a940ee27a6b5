// The seed's cloud end to end (examples/seed/scenario.json with examples/seed/nova.conf's alias
// and filters): non-GPU flavors 1-3 land on vmhost1/2 only, GPU flavors 4-5 on vmhost3 only, and
// once vmhost3's GPUs are claimed a GPU flavor fails with a fault that says why.
#include <gtest/gtest.h>

#include "scheduler_test_util.h"

namespace gpucloud::scheduler {
namespace {

const std::string kScenario =
    std::string(GPUCLOUD_TEST_DATA) + "/../../examples/seed/scenario.json";

// The seed's nova.conf scheduler_default_filters, in its order.
SchedulerOptions seed_options() {
  SchedulerOptions o;
  o.enabled_filters = {
      "RetryFilter",          "AvailabilityZoneFilter",           "RamFilter",
      "ComputeFilter",        "ComputeCapabilitiesFilter",        "ImagePropertiesFilter",
      "PciPassthroughFilter", "AggregateInstanceExtraSpecsFilter"};
  o.aliases = testing::seed_aliases();
  return o;
}

// nova's default flavors 1-5 (m1.tiny .. m1.xlarge) with the seed's flavor keys.
RequestSpec seed_flavor(int id, const SchedulerOptions& o) {
  struct Size {
    const char* name;
    int64_t vcpus, ram, disk;
  };
  const Size sizes[] = {{"m1.tiny", 1, 512, 1},
                        {"m1.small", 1, 2048, 20},
                        {"m1.medium", 2, 4096, 40},
                        {"m1.large", 4, 8192, 80},
                        {"m1.xlarge", 8, 16384, 160}};
  const Size& s = sizes[id - 1];
  FlavorSpec f{s.name, s.vcpus, s.ram, s.disk, 0, 0, {{"gpu", id <= 3 ? "false" : "true"}}};
  ImageMeta image;
  if (id >= 4) {
    f.extra_specs["hw_video:ram_max_mb"] = "64";
    f.extra_specs["pci_passthrough:alias"] = "K2_Grid:1";
    image.min_disk_gb = 15;
    image.min_ram_mb = 512;
    image.properties = {{"hw_video_model", "qxl"}, {"hw_video_ram", "8"}, {"configure_x", "true"}};
  }
  auto r = make_request_spec(f, image, "Denver", 1, o.aliases);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? r.value() : RequestSpec{};
}

class SeedCloud : public ::testing::Test {
 protected:
  void SetUp() override {
    options_ = seed_options();
    auto sc = parse_scenario(testing::read_file(kScenario), options_);
    ASSERT_TRUE(sc.ok()) << sc.error().message;
    scenario_ = std::move(sc.value());
    auto s = Scheduler::create(options_);
    ASSERT_TRUE(s.ok()) << s.error().message;
    sched_.emplace(std::move(s.value()));
  }
  SchedulerOptions options_;
  Scenario scenario_;
  std::optional<Scheduler> sched_;
};

TEST_F(SeedCloud, NonGpuFlavorsLandOnVmhost1And2Only) {
  for (int id = 1; id <= 3; ++id) {
    SCOPED_TRACE("flavor " + std::to_string(id));
    auto sel = sched_->select(scenario_.hosts, seed_flavor(id, options_));
    ASSERT_TRUE(sel.ok()) << sel.fault;
    std::set<std::string> passed;
    for (const auto& h : sel.hosts) {
      if (h.passed) passed.insert(h.host);
    }
    EXPECT_EQ(passed, (std::set<std::string>{"vmhost1", "vmhost2"}));
    // RAMWeigher spreads: vmhost2 has more free RAM than vmhost1.
    EXPECT_EQ(sel.selected(), std::vector<std::string>{"vmhost2"});
  }
}

TEST_F(SeedCloud, GpuFlavorsLandOnVmhost3Only) {
  for (int id = 4; id <= 5; ++id) {
    SCOPED_TRACE("flavor " + std::to_string(id));
    auto sel = sched_->select(scenario_.hosts, seed_flavor(id, options_));
    ASSERT_TRUE(sel.ok()) << sel.fault;
    for (const auto& h : sel.hosts) EXPECT_EQ(h.passed, h.host == "vmhost3") << h.host;
    ASSERT_EQ(sel.candidates.size(), 1u);
    EXPECT_EQ(sel.candidates[0][0].host, "vmhost3");
    EXPECT_EQ(sel.candidates[0][0].pci_devices.size(), 1u);
  }
}

TEST_F(SeedCloud, GpuFlavorFailsWithAFaultOnceTheGpusAreClaimed) {
  InMemoryClaimer claimer(scenario_.hosts);
  for (int i = 0; i < 2; ++i) {
    auto out = sched_->schedule_and_claim(claimer.snapshot(), seed_flavor(4, options_), claimer);
    ASSERT_TRUE(out.ok()) << out.fault;
    EXPECT_EQ(out.claimed.at(0).host, "vmhost3");
  }
  auto out = sched_->schedule_and_claim(claimer.snapshot(), seed_flavor(5, options_), claimer);
  EXPECT_FALSE(out.ok());
  EXPECT_TRUE(out.claimed.empty());
  EXPECT_EQ(out.fault,
            "no host has 1 free K2_Grid (10de:11bf): vmhost3 has 0 of 2 free; vmhost1, vmhost2 "
            "excluded by AggregateInstanceExtraSpecsFilter (gpu=true, host has gpu=false)");
  // Non-GPU flavors still fit.
  EXPECT_TRUE(
      sched_->schedule_and_claim(claimer.snapshot(), seed_flavor(2, options_), claimer).ok());
}

TEST_F(SeedCloud, TwoGpuInstancesInOneRequestTakeBothGpusAndAThirdFails) {
  auto two = seed_flavor(4, options_);
  two.num_instances = 2;
  auto sel = sched_->select(scenario_.hosts, two);
  ASSERT_TRUE(sel.ok()) << sel.fault;
  ASSERT_EQ(sel.candidates.size(), 2u);
  EXPECT_NE(sel.candidates[0][0].pci_devices, sel.candidates[1][0].pci_devices);
  two.num_instances = 3;
  sel = sched_->select(scenario_.hosts, two);
  EXPECT_FALSE(sel.ok());
  EXPECT_EQ(sel.fault.rfind("instance 3 of 3: no host has 1 free K2_Grid", 0), 0u) << sel.fault;
}

TEST_F(SeedCloud, GpuFlavorInAnotherZoneNamesTheZone) {
  auto req = seed_flavor(4, options_);
  req.availability_zone = "Austin";
  auto sel = sched_->select(scenario_.hosts, req);
  EXPECT_FALSE(sel.ok());
  EXPECT_EQ(sel.fault,
            "no valid host for flavor 'm1.large': vmhost1, vmhost2, vmhost3 excluded by "
            "AvailabilityZoneFilter (availability zone 'Austin' requested, host is in 'Denver')");
}

TEST_F(SeedCloud, FlavorWithoutTheGpuKeyMayLandOnTheGpuHost) {
  // Why the seed sets gpu=false explicitly: without the key AggregateInstanceExtraSpecsFilter
  // has nothing to check, and only the PCIWeigher keeps the GPU host free.
  auto req = seed_flavor(2, options_);
  req.flavor.extra_specs.clear();
  req.extra_specs.all.clear();
  auto sel = sched_->select(scenario_.hosts, req);
  ASSERT_TRUE(sel.ok());
  for (const auto& h : sel.hosts) EXPECT_TRUE(h.passed) << h.host;
  EXPECT_NE(sel.selected().front(), "vmhost3");
}

}  // namespace
}  // namespace gpucloud::scheduler

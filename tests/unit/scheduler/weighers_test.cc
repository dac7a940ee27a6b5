// Weighing as nova does it: normalized per weigher over the hosts that passed, multiplied, summed.
#include <gtest/gtest.h>

#include "config/config.h"
#include "scheduler_test_util.h"

namespace gpucloud::scheduler {
namespace {

using testing::add_gpus;
using testing::host;
using testing::request;
using testing::seed_aliases;

Scheduler scheduler(SchedulerOptions o = {}) {
  o.enabled_filters = {"ResourceFitFilter", "PciPassthroughFilter"};
  return Scheduler::create(o).value();
}

TEST(Weighers, RamWeigherSpreadsToTheHostWithMostFreeRam) {
  std::vector<HostState> hosts = {host("a"), host("b"), host("c")};
  hosts[0].used.memory_mb = 65536;
  hosts[2].used.memory_mb = 1024;
  auto sel = scheduler().select(hosts, request());
  EXPECT_EQ(sel.selected(), std::vector<std::string>{"b"});
  ASSERT_EQ(sel.candidates[0].size(), 3u);  // max_attempts = 3: the best and two alternates
  EXPECT_EQ(sel.candidates[0][1].host, "c");
  EXPECT_EQ(sel.candidates[0][2].host, "a");
}

TEST(Weighers, NegativeRamMultiplierStacks) {
  std::vector<HostState> hosts = {host("a"), host("b")};
  hosts[0].used.memory_mb = 65536;
  SchedulerOptions o;
  o.ram_weight_multiplier = -1.0;
  EXPECT_EQ(scheduler(o).select(hosts, request()).selected(), std::vector<std::string>{"a"});
}

// nova.conf's multiplier reaches the weigher the server and `scheduler explain` use.
TEST(Weighers, NovaConfRamMultiplierStacks) {
  auto nova = config::load_nova_config(
      {config::IniFile::parse("[filter_scheduler]\nram_weight_multiplier = -1.0\n", "nova.conf")});
  ASSERT_TRUE(nova.problems.empty());
  SchedulerOptions o = options_from(nova);
  EXPECT_EQ(o.ram_weight_multiplier, -1.0);
  std::vector<HostState> hosts = {host("a"), host("b")};
  hosts[0].used.memory_mb = 65536;
  EXPECT_EQ(scheduler(o).select(hosts, request()).selected(), std::vector<std::string>{"a"});
  EXPECT_EQ(
      scheduler(options_from(config::load_nova_config({}))).select(hosts, request()).selected(),
      std::vector<std::string>{"b"});
}

// [filter_scheduler] weight_classes picks the weighers: without PCIWeigher, a GPU host is as good
// as a plain one, and the explanation shows only the weighers that ran.
TEST(Weighers, WeightClassesPickTheWeighers) {
  std::vector<HostState> hosts = {host("gpu8"), host("plain")};
  add_gpus(hosts[0], 8);
  auto both = scheduler(options_from(config::load_nova_config({}))).select(hosts, request());
  EXPECT_EQ(both.selected(), std::vector<std::string>{"plain"});
  auto nova = config::load_nova_config({config::IniFile::parse(
      "[filter_scheduler]\nweight_classes = nova.scheduler.weights.ram.RAMWeigher\n"
      "ram_weight_multiplier = -1.0\n",
      "nova.conf")});
  ASSERT_TRUE(nova.problems.empty());
  // Equal free RAM: no weigher tells the hosts apart, so the tie goes by name.
  auto ram_only = scheduler(options_from(nova)).select(hosts, request());
  EXPECT_EQ(ram_only.selected(), std::vector<std::string>{"gpu8"});
  for (const auto& h : ram_only.hosts) {
    for (const auto& [w, s] : h.weigher_scores) EXPECT_EQ(w, "RAMWeigher");
  }
}

// [DEFAULT] default_availability_zone is the zone of hosts in no zoned aggregate.
TEST(Weighers, DefaultAvailabilityZoneReachesTheFilter) {
  auto nova = config::load_nova_config(
      {config::IniFile::parse("[DEFAULT]\ndefault_availability_zone = Denver\n", "nova.conf")});
  ASSERT_TRUE(nova.problems.empty());
  SchedulerOptions o = options_from(nova);
  EXPECT_EQ(o.default_availability_zone, "Denver");
  o.enabled_filters = {"AvailabilityZoneFilter"};
  auto s = Scheduler::create(o).value();
  std::vector<HostState> hosts = {host("a")};
  EXPECT_EQ(s.select(hosts, request({}, {}, 2, 4096, 40, {}, "Denver")).selected(),
            std::vector<std::string>{"a"});
  EXPECT_TRUE(s.select(hosts, request({}, {}, 2, 4096, 40, {}, "nova")).selected().empty());
}

TEST(Weighers, AggregateMetadataOverridesTheMultiplier) {
  std::vector<HostState> hosts = {host("a"), host("b")};
  hosts[0].used.memory_mb = 65536;
  for (auto& h : hosts) testing::set_metadata(h, "ram_weight_multiplier", "-2.0");
  EXPECT_EQ(scheduler().select(hosts, request()).selected(), std::vector<std::string>{"a"});
}

TEST(Weighers, PciWeigherKeepsGpuHostsFreeForGpuRequests) {
  // Same free RAM everywhere: only PCIWeigher decides.
  std::vector<HostState> hosts = {host("gpu8"), host("plain"), host("gpu1")};
  add_gpus(hosts[0], 8);
  add_gpus(hosts[2], 1);
  auto sel = scheduler().select(hosts, request());
  EXPECT_EQ(sel.selected(), std::vector<std::string>{"plain"});
  // A GPU request stacks onto the GPU host with the fewest free devices.
  auto gpu = request({{"pci_passthrough:alias", "K2_Grid:1"}}, seed_aliases());
  SchedulerOptions o;
  o.aliases = seed_aliases();
  EXPECT_EQ(scheduler(o).select(hosts, gpu).selected(), std::vector<std::string>{"gpu1"});
}

TEST(Weighers, ExplainShowsEachWeighersScore) {
  std::vector<HostState> hosts = {host("a"), host("b")};
  hosts[0].used.memory_mb = 131072 / 2;
  auto sel = scheduler().select(hosts, request());
  ASSERT_EQ(sel.hosts.size(), 2u);
  ASSERT_TRUE(sel.hosts[1].weight.has_value());
  EXPECT_DOUBLE_EQ(*sel.hosts[1].weight, 1.0);  // b: RAM normalized 1.0, PCI equal -> 0
  EXPECT_DOUBLE_EQ(*sel.hosts[0].weight, 0.5);  // a: half of b's free RAM (RAMWeigher minval 0)
  ASSERT_EQ(sel.hosts[0].weigher_scores.size(), 2u);
  EXPECT_EQ(sel.hosts[0].weigher_scores[0].first, "RAMWeigher");
}

}  // namespace
}  // namespace gpucloud::scheduler

// HostIndex, select()'s fast path: a kept index, updated after every change, must choose exactly
// what the explained path (which reads only host states) chooses, request after request.
#include <gtest/gtest.h>

#include "scheduler_test_util.h"

namespace gpucloud::scheduler {
namespace {

using testing::add_gpus;
using testing::host;
using testing::request;
using testing::seed_aliases;
using testing::set_metadata;

// A small cloud with a bit of everything the filters read: zones (and hosts in none), gpu
// aggregates, racks, disabled and down hosts, GPUs on two NUMA nodes or none known, M60s beside
// K2s, a weight multiplier from an aggregate, capabilities on some hosts.
std::vector<HostState> cloud(int n) {
  std::vector<HostState> hosts;
  for (int i = 0; i < n; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "h%03d", (i * 37) % n);  // names not in position order
    HostState h = host(name, 16 + i % 3 * 8, 65536 + (i % 5) * 16384, 500);
    h.used = {i % 7, (i % 4) * 4096, (i * 13) % 300};
    if (i % 6 != 5) set_metadata(h, "availability_zone", "az" + std::to_string(i % 2));
    const bool gpu = i % 3 == 0;
    set_metadata(h, "gpu", gpu ? "true" : "false");
    set_metadata(h, "rack", std::to_string(i / 8));
    if (i % 10 == 0) set_metadata(h, "ram_weight_multiplier", "3.0");
    h.enabled = i % 11 != 4;
    h.heartbeat_fresh = i % 13 != 6;
    if (i % 4 == 1) h.capabilities["hypervisor_type"] = "QEMU";
    if (gpu) {
      add_gpus(h, 1 + i % 3, 0, "10de", "11bf", 0x80);
      add_gpus(h, 2, i % 2 ? std::optional<int>(1) : std::nullopt, "10de", "11bf", 0x90);
      if (i % 9 == 0) add_gpus(h, 2, 1, "10de", "13f2", 0xa0);
    }
    hosts.push_back(std::move(h));
  }
  return hosts;
}

std::vector<RequestSpec> requests(const AliasTable& aliases) {
  std::vector<RequestSpec> out;
  for (int r = 0; r < 60; ++r) {
    std::map<std::string, std::string> specs;
    std::string az = r % 3 == 0 ? "" : r % 3 == 1 ? "az0" : "nova";
    switch (r % 6) {
      case 0:
        specs = {{"gpu", "true"}, {"pci_passthrough:alias", "K2_Grid:1"}};
        break;
      case 1:
        specs = {{"gpu", "false"}};
        break;
      case 2:
        specs = {{"gpu", "true"},
                 {"pci_passthrough:alias", "K2_Grid:2"},
                 {"hw:numa_nodes", "1"},
                 {"hw:pci_numa_affinity_policy", r % 4 ? "required" : "preferred"}};
        break;
      case 3:
        specs = {{"rack", "<in> 1"}, {"capabilities:hypervisor_type", "QEMU"}};
        break;
      case 4:
        specs = {{"pci_passthrough:alias", "K2_Grid:1,M60:1"}};
        break;
      default:
        specs = {};
    }
    int instances = r % 5 == 0 ? 3 : 1;
    out.push_back(request(specs, aliases, 2 + r % 4, 4096 * (1 + r % 3), 20, {}, az, instances));
  }
  return out;
}

AliasTable aliases() {
  AliasTable t = seed_aliases();
  auto m60 = PciAlias::parse(R"({"name": "M60", "vendor_id": "10de", "product_id": "13f2"})");
  EXPECT_TRUE(m60.ok());
  EXPECT_TRUE(t.add(m60.value()).ok());
  return t;
}

std::vector<std::vector<std::string>> chosen(const Selection& s) {
  std::vector<std::vector<std::string>> out;
  for (const auto& c : s.candidates) {
    out.emplace_back();
    for (const auto& p : c)
      out.back().push_back(p.host + ":" + std::to_string(p.pci_devices.size()));
  }
  return out;
}

TEST(HostIndex, KeptIndexChoosesWhatTheExplainedPathChoosesRequestAfterRequest) {
  SchedulerOptions o;
  o.aliases = aliases();
  o.enabled_filters = {
      "AvailabilityZoneFilter",           "ComputeFilter",        "RamFilter",
      "ComputeCapabilitiesFilter",        "PciPassthroughFilter", "ResourceFitFilter",
      "AggregateInstanceExtraSpecsFilter"};
  auto sched = Scheduler::create(o).value();
  std::vector<HostState> hosts = cloud(90);
  HostIndex index(hosts);
  int placed = 0;
  for (const auto& req : requests(o.aliases)) {
    Selection fast = sched.select(hosts, index, req, /*explain=*/false);
    Selection slow = sched.select(hosts, req, /*explain=*/true);
    ASSERT_EQ(chosen(fast), chosen(slow)) << req.flavor.extra_specs.size();
    ASSERT_EQ(fast.fault, slow.fault);
    for (const auto& c : fast.candidates) {
      for (size_t i = 0; i < hosts.size(); ++i) {
        if (hosts[i].name != c.front().host) continue;
        ASSERT_TRUE(consume(hosts[i], c.front()));
        index.update(i, hosts[i]);
        ++placed;
      }
    }
  }
  EXPECT_GT(placed, 40);  // the comparison covered real placements, not only faults
}

TEST(HostIndex, UpdateFollowsMetadataAndDeviceChanges) {
  SchedulerOptions o;
  o.aliases = aliases();
  o.enabled_filters = {"AvailabilityZoneFilter", "AggregateInstanceExtraSpecsFilter",
                       "PciPassthroughFilter"};
  auto sched = Scheduler::create(o).value();
  std::vector<HostState> hosts = {host("a"), host("b")};
  set_metadata(hosts[0], "gpu", "false");
  set_metadata(hosts[1], "gpu", "false");
  HostIndex index(hosts);
  auto gpu = request({{"gpu", "true"}, {"pci_passthrough:alias", "K2_Grid:1"}}, o.aliases, 2, 4096,
                     20, {}, "east");
  EXPECT_FALSE(sched.select(hosts, index, gpu, false).ok());

  // b moves into a GPU aggregate in zone east and gets a GPU (a new pool).
  hosts[1].aggregate_metadata.clear();
  set_metadata(hosts[1], "gpu", "true");
  set_metadata(hosts[1], "availability_zone", "east");
  add_gpus(hosts[1], 1);
  index.update(1, hosts[1]);
  EXPECT_EQ(sched.select(hosts, index, gpu, false).selected(), std::vector<std::string>{"b"});

  // ... and loses it again: the index must not remember the old device or zone.
  hosts[1].pci_pools.clear();
  index.update(1, hosts[1]);
  EXPECT_FALSE(sched.select(hosts, index, gpu, false).ok());
  hosts[1].aggregate_metadata.erase("availability_zone");
  add_gpus(hosts[1], 1);
  index.update(1, hosts[1]);
  EXPECT_FALSE(sched.select(hosts, index, gpu, false).ok());  // zone nova now, not east
}

TEST(HostIndex, AnIndexOfOtherHostsIsNotUsed) {
  SchedulerOptions o;
  o.enabled_filters = {"ResourceFitFilter"};
  auto sched = Scheduler::create(o).value();
  std::vector<HostState> big = {host("big", 64)};
  HostIndex stale(std::vector<HostState>{host("x", 64), host("y", 64)});
  std::vector<HostState> small = {host("small", 1)};
  EXPECT_EQ(sched.select(big, HostIndex(big), request({}, {}, 8), false).selected(),
            std::vector<std::string>{"big"});
  EXPECT_FALSE(sched.select(small, stale, request({}, {}, 8), false).ok());
}

}  // namespace
}  // namespace gpucloud::scheduler

// Multi-GPU placement keeps a request's devices together: an NVLink partition first, then a PCIe
// switch, then a NUMA node, the smallest group that holds them; gpucloud:topology=strict refuses
// a host that could only spread them, and says so.
#include <gtest/gtest.h>

#include "scheduler_test_util.h"

namespace gpucloud::scheduler {
namespace {

using testing::host;
using testing::make_filter;
using testing::request;
using testing::seed_aliases;

// One K2 at 0000:<bus>:00.0 with its NUMA node, switch and partition.
void add(HostState& h, int bus, int numa, const std::string& sw, const std::string& part = "",
         PciDeviceStatus status = PciDeviceStatus::kAvailable) {
  PciDevice d;
  char addr[16];
  std::snprintf(addr, sizeof addr, "0000:%02x:00.0", bus);
  d.address = PciAddress::parse(addr).value();
  d.vendor_id = VendorId::parse("10de").value();
  d.product_id = ProductId::parse("11bf").value();
  d.numa_node = numa;
  h.add_pci_device(d, status, {part, sw});
}

RequestSpec gpus(int count, const std::string& topology = "") {
  std::map<std::string, std::string> specs = {
      {"pci_passthrough:alias", "K2_Grid:" + std::to_string(count)}};
  if (!topology.empty()) specs["gpucloud:topology"] = topology;
  return request(specs, seed_aliases());
}

// nova's default filters leave PciPassthroughFilter out; the seed's list has it.
SchedulerOptions with_pci_filter() {
  SchedulerOptions o;
  o.enabled_filters.push_back("PciPassthroughFilter");
  return o;
}

std::vector<std::string> chosen(const HostState& h, const RequestSpec& r) {
  auto sched = Scheduler::create(with_pci_filter());
  EXPECT_TRUE(sched.ok());
  auto sel = sched->select({h}, r);
  EXPECT_TRUE(sel.ok()) << sel.fault;
  std::vector<std::string> out;
  if (!sel.ok()) return out;
  for (const auto& a : sel.candidates.at(0).at(0).pci_devices) out.push_back(a.to_string());
  std::sort(out.begin(), out.end());
  return out;
}

// An 8-GPU host as they come: two NUMA nodes, two switches per node, two GPUs per switch.
HostState eight_gpu_host() {
  HostState h = host("h8");
  add(h, 0x10, 0, "0000:0f:00.0");
  add(h, 0x11, 0, "0000:0f:00.0");
  add(h, 0x20, 0, "0000:1f:00.0");
  add(h, 0x21, 0, "0000:1f:00.0");
  add(h, 0x80, 1, "0000:7f:00.0");
  add(h, 0x81, 1, "0000:7f:00.0");
  add(h, 0x90, 1, "0000:8f:00.0");
  add(h, 0x91, 1, "0000:8f:00.0");
  return h;
}

TEST(Topology, TwoGpusShareASwitchAndFourShareANumaNode) {
  HostState h = eight_gpu_host();
  // The first free pair by address would be 10, 11 anyway; take one of them away.
  h.pci_pools[0].devices[0].status = PciDeviceStatus::kAllocated;
  --h.pci_pools[0].free;
  EXPECT_EQ(chosen(h, gpus(2)), (std::vector<std::string>{"0000:20:00.0", "0000:21:00.0"}));
  // Four: no switch has four; NUMA node 1 has all four free (node 0 only three).
  EXPECT_EQ(chosen(h, gpus(4)), (std::vector<std::string>{"0000:80:00.0", "0000:81:00.0",
                                                          "0000:90:00.0", "0000:91:00.0"}));
}

TEST(Topology, ThePartitionWinsOverTheSwitchAndTheSmallestGroupThatFitsIsTaken) {
  HostState h = host("h");
  // Partition p0 spans two switches; switch s1 alone has three free.
  add(h, 0x10, 0, "s0", "p0");
  add(h, 0x20, 0, "s1", "p0");
  add(h, 0x21, 0, "s1");
  add(h, 0x22, 0, "s1");
  EXPECT_EQ(chosen(h, gpus(2)), (std::vector<std::string>{"0000:10:00.0", "0000:20:00.0"}));
  // Three: no partition holds them; switch s1 does.
  EXPECT_EQ(chosen(h, gpus(3)),
            (std::vector<std::string>{"0000:20:00.0", "0000:21:00.0", "0000:22:00.0"}));

  // Best fit: a switch with exactly two free is taken before one with four.
  HostState g = host("g");
  for (int bus : {0x10, 0x11, 0x12, 0x13}) add(g, bus, 0, "big");
  for (int bus : {0x80, 0x81}) add(g, bus, 1, "small");
  EXPECT_EQ(chosen(g, gpus(2)), (std::vector<std::string>{"0000:80:00.0", "0000:81:00.0"}));
}

TEST(Topology, StrictRefusesAHostThatCanOnlySpreadTheDevicesAndSaysWhy) {
  HostState spread = host("spread");
  add(spread, 0x10, 0, "s0");
  add(spread, 0x11, 0, "s0");
  add(spread, 0x80, 1, "s1");
  add(spread, 0x81, 1, "s1");
  auto filter = make_filter("PciPassthroughFilter");
  // Preferred (the default): four across both nodes are fine.
  EXPECT_TRUE(filter->filter(spread, gpus(4)).passed);
  EXPECT_EQ(chosen(spread, gpus(4)).size(), 4u);
  Verdict v = filter->filter(spread, gpus(4, "strict"));
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.reason,
            "needs 4 K2_Grid (10de:11bf), host has 4 of 4 free but at most 2 in one NVLink "
            "partition, PCIe switch or NUMA node (gpucloud:topology=strict)");
  EXPECT_FALSE(filter->passes(spread, gpus(4, "strict")));
  EXPECT_FALSE(testing::narrow_passes(*filter, spread, gpus(4, "strict")));
  // Two fit in one switch: strict passes, and one GPU is never a topology question.
  EXPECT_TRUE(testing::narrow_passes(*filter, spread, gpus(2, "strict")));
  EXPECT_TRUE(filter->filter(spread, gpus(1, "strict")).passed);
  // Among hosts, strict lands where the group is.
  HostState together = host("together");
  for (int bus : {0x10, 0x11, 0x12, 0x13}) add(together, bus, 0, "s0");
  auto sched = Scheduler::create(with_pci_filter());
  auto sel = sched->select({spread, together}, gpus(4, "strict"));
  ASSERT_TRUE(sel.ok()) << sel.fault;
  EXPECT_EQ(sel.selected(), std::vector<std::string>{"together"});
}

TEST(Topology, BadTopologyValueIsRefusedNamingTheExtraSpec) {
  FlavorSpec f;
  f.name = "gpu";
  f.extra_specs = {{"pci_passthrough:alias", "K2_Grid:2"}, {"gpucloud:topology", "tight"}};
  auto r = make_request_spec(f, {}, "", 1, seed_aliases());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "gpucloud:topology: 'tight' is not 'strict' or 'preferred'");
}

}  // namespace
}  // namespace gpucloud::scheduler

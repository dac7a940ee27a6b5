// PciPassthroughFilter: alias matching, counts, device status, PFs and nova's NUMA affinity
// policies (pci/stats.py _filter_pools_for_numa_cells), one row per rule.
#include <gtest/gtest.h>

#include "scheduler_test_util.h"

namespace gpucloud::scheduler {
namespace {

using testing::add_gpus;
using testing::host;
using testing::make_filter;
using testing::request;
using testing::seed_aliases;

RequestSpec gpu_request(int count, NumaPolicy policy = NumaPolicy::kLegacy,
                        std::optional<int> numa_nodes = std::nullopt) {
  std::map<std::string, std::string> specs = {
      {"pci_passthrough:alias", "K2_Grid:" + std::to_string(count)}};
  if (numa_nodes) specs["hw:numa_nodes"] = std::to_string(*numa_nodes);
  return request(specs, seed_aliases(policy));
}

struct PciRow {
  const char* what;
  HostState host;
  RequestSpec request;
  bool passes;
  const char* reason_part;
};

TEST(PciPassthroughFilter, Table) {
  HostState two = host("h");
  add_gpus(two, 2, 0);
  HostState one_claimed = host("h");
  add_gpus(one_claimed, 1, 0, "10de", "11bf", 0x80, PciDeviceStatus::kAllocated);
  add_gpus(one_claimed, 1, 0, "10de", "11bf", 0x81);
  HostState other_model = host("h");
  add_gpus(other_model, 4, 0, "10de", "13f2");
  HostState split = host("h");  // one GPU on each NUMA node
  add_gpus(split, 1, 0, "10de", "11bf", 0x10);
  add_gpus(split, 1, 1, "10de", "11bf", 0x80);
  HostState unknown_numa = host("h");  // firmware did not report NUMA nodes
  add_gpus(unknown_numa, 2, std::nullopt);
  HostState pf = host("h");
  {
    PciDevice d;
    d.address = PciAddress::parse("0000:81:00.0").value();
    d.vendor_id = VendorId::parse("10de").value();
    d.product_id = ProductId::parse("11bf").value();
    d.dev_type = PciDeviceType::kPf;
    d.numa_node = 0;
    pf.add_pci_device(d, PciDeviceStatus::kAvailable);
  }

  std::vector<PciRow> rows = {
      {"no PCI request: any host", host("h"), request(), true, ""},
      {"host without devices", host("h"), gpu_request(1), false, "host has 0 of 0 free"},
      {"one of two free", two, gpu_request(1), true, ""},
      {"both", two, gpu_request(2), true, ""},
      {"three of two", two, gpu_request(3), false, "needs 3 K2_Grid (10de:11bf), host has 2 of 2"},
      {"allocated devices do not count", one_claimed, gpu_request(2), false,
       "host has 1 of 2 free"},
      {"another product id does not match the alias", other_model, gpu_request(1), false,
       "host has 0 of 0 free"},
      {"PFs are kept for requests that ask for PFs", pf, gpu_request(1), false, "0 of 0 free"},
      // Without a guest NUMA topology nova ignores the policy altogether.
      {"required, guest without NUMA topology", split, gpu_request(2, NumaPolicy::kRequired), true,
       ""},
      {"required, 1-node guest, 1 GPU per node", split, gpu_request(1, NumaPolicy::kRequired, 1),
       true, ""},
      {"required, 1-node guest, needs 2 on one node", split,
       gpu_request(2, NumaPolicy::kRequired, 1), false, "not on the guest's NUMA node"},
      {"required, 2-node guest spans both", split, gpu_request(2, NumaPolicy::kRequired, 2), true,
       ""},
      {"legacy, 1-node guest, needs 2 on one node", split, gpu_request(2, NumaPolicy::kLegacy, 1),
       false, "numa_policy legacy"},
      {"legacy accepts devices with unknown NUMA node", unknown_numa,
       gpu_request(2, NumaPolicy::kLegacy, 1), true, ""},
      {"required refuses devices with unknown NUMA node", unknown_numa,
       gpu_request(1, NumaPolicy::kRequired, 1), false, "numa_policy required"},
      {"preferred takes remote devices when local ones are short", split,
       gpu_request(2, NumaPolicy::kPreferred, 1), true, ""},
      {"socket without socket information fits nothing beyond required", split,
       gpu_request(2, NumaPolicy::kSocket, 1), false, "numa_policy socket"},
  };
  auto filter = make_filter("PciPassthroughFilter");
  ASSERT_NE(filter, nullptr);
  for (const auto& row : rows) {
    SCOPED_TRACE(row.what);
    Verdict v = filter->filter(row.host, row.request);
    EXPECT_EQ(v.passed, row.passes) << v.reason;
    EXPECT_EQ(filter->passes(row.host, row.request), row.passes);
    EXPECT_EQ(testing::narrow_passes(*filter, row.host, row.request), row.passes) << "narrow()";
    if (!row.passes) {
      EXPECT_NE(v.reason.find(row.reason_part), std::string::npos) << v.reason;
    }
  }
}

TEST(PciPassthroughFilter, FlavorPolicyOverridesTheAliasPolicy) {
  HostState split = host("h");
  add_gpus(split, 1, 0, "10de", "11bf", 0x10);
  add_gpus(split, 1, 1, "10de", "11bf", 0x80);
  auto req = request({{"pci_passthrough:alias", "K2_Grid:2"},
                      {"hw:numa_nodes", "1"},
                      {"hw:pci_numa_affinity_policy", "preferred"}},
                     seed_aliases(NumaPolicy::kRequired));
  ASSERT_EQ(req.pci_requests.size(), 1u);
  EXPECT_EQ(req.pci_requests[0].numa_policy, NumaPolicy::kPreferred);
  EXPECT_TRUE(make_filter("PciPassthroughFilter")->filter(split, req).passed);
}

TEST(PciPassthroughFilter, PinnedCpusGiveTheGuestOneNumaNode) {
  auto req = request({{"pci_passthrough:alias", "K2_Grid:1"}, {"hw:cpu_policy", "dedicated"}},
                     seed_aliases());
  EXPECT_EQ(req.numa_nodes, 1);
}

TEST(MakeRequestSpec, UnknownAliasIsAnErrorNamingIt) {
  FlavorSpec f;
  f.name = "gpu";
  f.extra_specs = {{"pci_passthrough:alias", "V100:1"}};
  auto r = make_request_spec(f, {}, "", 1, seed_aliases());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("PCI alias 'V100' is not defined"), std::string::npos);
}

}  // namespace
}  // namespace gpucloud::scheduler

// Scenario JSON: defaults for missing optional fields, and errors that name the field
// (tests/data/scheduler/bad_scenarios.json, one case per row).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "scheduler_test_util.h"

namespace gpucloud::scheduler {
namespace {

SchedulerOptions options() {
  SchedulerOptions o;
  o.aliases = testing::seed_aliases();
  return o;
}

TEST(ParseScenario, BadScenariosNameTheField) {
  auto cases = nlohmann::json::parse(
      testing::read_file(std::string(GPUCLOUD_TEST_DATA) + "/scheduler/bad_scenarios.json"));
  ASSERT_GT(cases.size(), 10u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c["why"].get<std::string>());
    std::string text =
        c["scenario"].is_string() ? c["scenario"].get<std::string>() : c["scenario"].dump();
    auto s = parse_scenario(text, options());
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().message.rfind(c["error"].get<std::string>(), 0), 0u) << s.error().message;
  }
}

TEST(ParseScenario, MissingOptionalFieldsTakeDefaults) {
  SchedulerOptions o = options();
  o.cpu_allocation_ratio = 16.0;
  auto s = parse_scenario(R"({
    "hosts": [{"name": "a", "vcpus": 8, "memory_mb": 16384, "disk_gb": 100, "extra": "ignored",
               "pci_devices": [{"address": "0000:83:00.0", "vendor_id": "10DE",
                                "product_id": "11bf"}]}],
    "aggregates": [{"name": "GPU", "availability_zone": "Denver", "hosts": ["a"],
                    "metadata": {"gpu": true, "ssd": 2}}],
    "request": {"flavor": {"vcpus": 1, "ram": 512, "disk": 1}}})",
                          o);
  ASSERT_TRUE(s.ok()) << s.error().message;
  const HostState& h = s->hosts.at(0);
  EXPECT_EQ(h.used.vcpus, 0);
  EXPECT_DOUBLE_EQ(h.cpu_allocation_ratio, 16.0);  // from the options (nova.conf)
  EXPECT_TRUE(h.enabled && h.heartbeat_fresh && h.doctor_ok);
  ASSERT_EQ(h.pci_pools.size(), 1u);
  EXPECT_EQ(h.pci_pools[0].free, 1);  // status defaults to available
  EXPECT_FALSE(h.pci_pools[0].sample.numa_node.has_value());
  EXPECT_EQ(h.aggregate_metadata.at("availability_zone"), std::set<std::string>{"Denver"});
  EXPECT_EQ(h.aggregate_metadata.at("gpu"), std::set<std::string>{"true"});
  EXPECT_EQ(h.aggregate_metadata.at("ssd"), std::set<std::string>{"2"});
  EXPECT_EQ(s->request.num_instances, 1);
  EXPECT_TRUE(s->request.availability_zone.empty());
}

TEST(ParseScenario, TheSeedScenarioLoads) {
  auto s = parse_scenario(
      testing::read_file(std::string(GPUCLOUD_TEST_DATA) + "/../../examples/seed/scenario.json"),
      options());
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_EQ(s->hosts.size(), 3u);
  EXPECT_EQ(s->hosts[2].free_pci_devices(), 2);
  EXPECT_EQ(s->request.pci_requests.at(0).describe("free"), "1 free K2_Grid (10de:11bf)");
}

}  // namespace
}  // namespace gpucloud::scheduler

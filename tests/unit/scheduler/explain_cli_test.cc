// `gpucloud scheduler explain` run as a user runs it, on the seed's files.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "scheduler_test_util.h"

namespace gpucloud::scheduler {
namespace {

struct Run {
  int status;
  std::string out;
};

Run explain(const std::string& config, const std::string& scenario, const std::string& extra = "") {
  std::string cmd = std::string(GPUCLOUD_BINARY) + " scheduler explain --config " + config +
                    " --scenario " + scenario + " " + extra + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  EXPECT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(ExplainCli, SeedScenarioAsTextPicksVmhost3AndSaysWhyNotTheOthers) {
  auto r = explain(GPUCLOUD_SOURCE_ROOT + "/examples/seed/nova.conf",
                   GPUCLOUD_SOURCE_ROOT + "/examples/seed/scenario.json");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("selected: vmhost3\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("vmhost1: excluded"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("FAIL  gpu=true, host has gpu=false"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PCI: 1 K2_Grid (10de:11bf), numa_policy legacy"), std::string::npos);
}

TEST(ExplainCli, SeedScenarioAsJson) {
  auto r = explain(GPUCLOUD_SOURCE_ROOT + "/examples/seed/nova.conf",
                   GPUCLOUD_SOURCE_ROOT + "/examples/seed/scenario.json", "--format json");
  ASSERT_EQ(r.status, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["selected"], nlohmann::json::array({"vmhost3"}));
  ASSERT_EQ(j["hosts"].size(), 3u);
  const auto& vmhost1 = j["hosts"][0];
  EXPECT_EQ(vmhost1["name"], "vmhost1");
  EXPECT_EQ(vmhost1["passed"], false);
  EXPECT_TRUE(vmhost1["weight"].is_null());
  // Every filter of the seed's scheduler_default_filters, in its order.
  ASSERT_EQ(vmhost1["filters"].size(), 8u);
  EXPECT_EQ(vmhost1["filters"][0]["name"], "RetryFilter");
  const auto& last = vmhost1["filters"][7];
  EXPECT_EQ(last["name"], "AggregateInstanceExtraSpecsFilter");
  EXPECT_EQ(last["passed"], false);
  EXPECT_EQ(last["reason"], "gpu=true, host has gpu=false");
  EXPECT_EQ(j["hosts"][2]["passed"], true);
  EXPECT_TRUE(j["hosts"][2]["weight"].is_number());
  EXPECT_TRUE(j["fault"].is_null());
}

TEST(ExplainCli, NoFreeGpuExitsTwoWithTheFault) {
  auto r = explain(GPUCLOUD_SOURCE_ROOT + "/examples/seed/nova.conf",
                   std::string(GPUCLOUD_TEST_DATA) + "/scheduler/seed_gpus_allocated.json");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("no valid host: no host has 1 free K2_Grid (10de:11bf): vmhost3 has 0 of 2 "
                       "free; vmhost1, vmhost2 excluded by AggregateInstanceExtraSpecsFilter "
                       "(gpu=true, host has gpu=false)"),
            std::string::npos)
      << r.out;
}

TEST(ExplainCli, UnknownFilterInConfigIsAnError) {
  auto r = explain(std::string(GPUCLOUD_TEST_DATA) + "/scheduler/unknown_filter.conf",
                   GPUCLOUD_SOURCE_ROOT + "/examples/seed/scenario.json");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("GpuMagicFilter"), std::string::npos) << r.out;
}

TEST(ExplainCli, BadScenarioNamesTheField) {
  auto r = explain(GPUCLOUD_SOURCE_ROOT + "/examples/seed/nova.conf",
                   std::string(GPUCLOUD_TEST_DATA) + "/scheduler/unknown_filter.conf");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("scenario: not valid JSON"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace gpucloud::scheduler

// `gpucloud scheduler explain` output, byte for byte, against files written before the fast path
// (compact host index) existed: the index must change speed, never a verdict, a weight or a word.
// Also checks select() without explanations (the fast path) against select() with them on the
// same scenarios: same candidates per instance, same fault.
//
// To rewrite a golden file after an intended change of the output: run the command shown in the
// failure message and review the diff.
#include <gtest/gtest.h>

#include "config/config.h"
#include "scheduler_test_util.h"

namespace gpucloud::scheduler {
namespace {

const std::string kData = std::string(GPUCLOUD_TEST_DATA) + "/scheduler";

struct Case {
  std::string config;
  std::string scenario;
  std::string golden;  // text output; "<scenario>.out.json" holds the JSON output where given
  bool json;
};

std::vector<Case> cases() {
  const std::string all = kData + "/explain/all_filters.conf";
  const std::string seed = GPUCLOUD_SOURCE_ROOT + "/examples/seed/nova.conf";
  std::vector<Case> out = {
      {seed, GPUCLOUD_SOURCE_ROOT + "/examples/seed/scenario.json", kData + "/explain/seed.txt",
       false},
      {seed, kData + "/seed_gpus_allocated.json", kData + "/explain/seed_gpus_allocated.txt",
       false},
  };
  for (const char* name : {"any_tier", "gpu_nine_instances", "gpu_two_instances", "image_checks",
                           "nongpu_three_instances", "numa_preferred_four", "numa_required",
                           "too_big", "wrong_zone"}) {
    std::string base = kData + "/explain/" + name;
    out.push_back({all, base + ".json", base + ".txt", true});
  }
  return out;
}

std::string run(const std::string& args) {
  std::string cmd = std::string(GPUCLOUD_BINARY) + " scheduler explain " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  EXPECT_NE(p, nullptr);
  if (p == nullptr) return {};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

TEST(ExplainGolden, TextAndJsonOutputsAreUnchanged) {
  for (const auto& c : cases()) {
    std::string args = "--config " + c.config + " --scenario " + c.scenario;
    EXPECT_EQ(run(args), testing::read_file(c.golden))
        << "gpucloud scheduler explain " << args << " > " << c.golden;
    if (c.json) {
      std::string golden = c.scenario.substr(0, c.scenario.size() - 5) + ".out.json";
      EXPECT_EQ(run(args + " --format json"), testing::read_file(golden))
          << "gpucloud scheduler explain " << args << " --format json > " << golden;
    }
  }
}

SchedulerOptions options_from(const std::string& path) {
  auto ini = config::IniFile::load(path);
  EXPECT_TRUE(ini.ok()) << path;
  if (!ini.ok()) return {};
  return scheduler::options_from(config::load_nova_config({ini.value()}));
}

std::vector<std::vector<std::string>> hosts_of(const Selection& s) {
  std::vector<std::vector<std::string>> out;
  for (const auto& c : s.candidates) {
    out.emplace_back();
    for (const auto& p : c) out.back().push_back(p.host);
  }
  return out;
}

TEST(ExplainGolden, FastPathChoosesWhatTheExplainedPathChooses) {
  for (const auto& c : cases()) {
    SchedulerOptions o = options_from(c.config);
    auto scenario = parse_scenario(testing::read_file(c.scenario), o);
    ASSERT_TRUE(scenario.ok()) << c.scenario << ": " << scenario.error().message;
    auto sched = Scheduler::create(o);
    ASSERT_TRUE(sched.ok()) << sched.error().message;
    Selection slow = sched->select(scenario->hosts, scenario->request, /*explain=*/true);
    Selection fast = sched->select(scenario->hosts, scenario->request, /*explain=*/false);
    EXPECT_EQ(hosts_of(fast), hosts_of(slow)) << c.scenario;
    EXPECT_EQ(fast.fault, slow.fault) << c.scenario;
    ASSERT_EQ(fast.candidates.size(), slow.candidates.size());
    for (size_t i = 0; i < fast.candidates.size(); ++i) {
      for (size_t k = 0; k < fast.candidates[i].size(); ++k) {
        EXPECT_EQ(fast.candidates[i][k].pci_devices, slow.candidates[i][k].pci_devices)
            << c.scenario << " instance " << i;
      }
    }
  }
}

}  // namespace
}  // namespace gpucloud::scheduler

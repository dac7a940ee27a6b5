// Schedule-and-claim: a lost race moves on to the next host, at most max_attempts claims; many
// concurrent requests against one in-memory claimer never over-commit devices or resources.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "scheduler_test_util.h"

namespace gpucloud::scheduler {
namespace {

using testing::add_gpus;
using testing::host;
using testing::request;
using testing::seed_aliases;

// Loses the first `losses` claims, as if another replica had been faster, then claims.
class RacingClaimer : public Claimer {
 public:
  explicit RacingClaimer(int losses) : losses_(losses) {}
  Result<ClaimResult> claim(const Placement& p) override {
    tried.push_back(p.host);
    if (losses_-- > 0) return ClaimResult::kLostRace;
    return ClaimResult::kClaimed;
  }
  std::vector<std::string> tried;

 private:
  int losses_;
};

std::vector<HostState> three_hosts() {
  std::vector<HostState> hosts = {host("a"), host("b"), host("c"), host("d")};
  hosts[1].used.memory_mb = 1000;  // weight order: a, b, c, d
  hosts[2].used.memory_mb = 2000;
  hosts[3].used.memory_mb = 3000;
  return hosts;
}

TEST(ScheduleAndClaim, LostRaceMovesOnToTheNextHost) {
  auto sched = Scheduler::create(SchedulerOptions{}).value();
  RacingClaimer claimer(2);
  auto out = sched.schedule_and_claim(three_hosts(), request(), claimer);
  ASSERT_TRUE(out.ok()) << out.fault;
  EXPECT_EQ(claimer.tried, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(out.claimed.at(0).host, "c");
  EXPECT_EQ(out.attempts, 3);
}

TEST(ScheduleAndClaim, GivesUpAfterMaxAttempts) {
  SchedulerOptions o;
  o.max_attempts = 2;
  auto sched = Scheduler::create(o).value();
  RacingClaimer claimer(100);
  auto out = sched.schedule_and_claim(three_hosts(), request(), claimer);
  EXPECT_FALSE(out.ok());
  EXPECT_EQ(claimer.tried.size(), 2u);
  EXPECT_EQ(out.fault,
            "lost the race for every candidate host (a, b) after 2 attempt(s) (max_attempts=2)");
}

TEST(ScheduleAndClaim, ClaimErrorEndsScheduling) {
  auto sched = Scheduler::create(SchedulerOptions{}).value();
  InMemoryClaimer claimer({});  // knows no host: every claim is an error
  auto out = sched.schedule_and_claim(three_hosts(), request(), claimer);
  EXPECT_FALSE(out.ok());
  EXPECT_NE(out.fault.find("claiming a failed: claim: no host named 'a'"), std::string::npos);
}

TEST(ScheduleAndClaim, ConcurrentRequestsNeverOvercommit) {
  // 4 hosts x 8 vCPU (ratio 1.0) x 2 GPUs; 16 GPU and 48 plain requests of 1 vCPU each from
  // 8 threads, each retrying on a lost race with a fresh snapshot until the cloud is full.
  std::vector<HostState> hosts;
  for (int i = 0; i < 4; ++i) {
    HostState h = host("h" + std::to_string(i), 8, 65536, 1000);
    h.cpu_allocation_ratio = 1.0;
    add_gpus(h, 2, 0);
    hosts.push_back(h);
  }
  SchedulerOptions o;
  o.aliases = seed_aliases();
  o.enabled_filters = {"ComputeFilter", "ResourceFitFilter", "PciPassthroughFilter"};
  auto sched = Scheduler::create(o).value();
  InMemoryClaimer claimer(hosts);
  auto gpu = request({{"pci_passthrough:alias", "K2_Grid:1"}}, o.aliases, 1, 1024, 10);
  auto plain = request({}, {}, 1, 1024, 10);

  std::mutex mu;
  std::vector<Placement> placed;
  std::atomic<int> next{0};
  auto worker = [&] {
    for (int i = next++; i < 64; i = next++) {
      const RequestSpec& req = i % 4 == 0 ? gpu : plain;
      for (int tries = 0; tries < 100; ++tries) {
        auto out = sched.schedule_and_claim(claimer.snapshot(), req, claimer);
        if (out.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          placed.push_back(out.claimed.at(0));
          break;
        }
        if (out.fault.rfind("lost the race", 0) != 0) break;  // the cloud is full for it
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();

  // Exactly the capacity was handed out: 32 vCPUs, each GPU at most once.
  EXPECT_EQ(placed.size(), 32u);
  std::set<std::pair<std::string, PciAddress>> devices;
  size_t gpu_claims = 0;
  for (const auto& p : placed) {
    for (const auto& d : p.pci_devices) {
      EXPECT_TRUE(devices.insert({p.host, d}).second) << p.host << " " << d.to_string();
      ++gpu_claims;
    }
  }
  EXPECT_LE(gpu_claims, 8u);
  for (const auto& h : claimer.snapshot()) {
    EXPECT_EQ(h.used.vcpus, 8) << h.name;  // full, never more
    int claimed = 0;
    for (const auto& pool : h.pci_pools) claimed += pool.total() - pool.free;
    int handed_out = 0;
    for (const auto& p : placed) {
      if (p.host == h.name) handed_out += static_cast<int>(p.pci_devices.size());
    }
    EXPECT_EQ(claimed, handed_out) << h.name;
  }
}

}  // namespace
}  // namespace gpucloud::scheduler

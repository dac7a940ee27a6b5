// A boot that asks for a guest network (networks: [{uuid}]) goes only to hosts whose guests get
// it, on the fast path and the explained one alike, and a refusal says which network was asked.
#include <gtest/gtest.h>

#include "scheduler_test_util.h"

namespace gpucloud::scheduler {
namespace {

using testing::host;
using testing::request;

HostState on(const std::string& name, const std::string& network) {
  HostState h = host(name);
  if (!network.empty()) h.capabilities["guest_network:name"] = network;
  return h;
}

TEST(RequestedNetwork, OnlyHostsWithTheNetworkAreConsidered) {
  SchedulerOptions o;
  o.enabled_filters = {"ResourceFitFilter"};
  auto sched = Scheduler::create(o).value();
  // Without the network the roomiest host (a, after RAM weighing) would win.
  std::vector<HostState> hosts = {host("a", 64, 262144), on("b", "blue"), on("c", "red"),
                                  on("d", "blue")};
  RequestSpec req = request();
  req.network = "red";
  for (bool explain : {false, true}) {
    Selection s = sched.select(hosts, req, explain);
    ASSERT_TRUE(s.ok()) << s.fault;
    EXPECT_EQ(s.selected(), std::vector<std::string>{"c"});
  }
  Selection explained = sched.select(hosts, req, true);
  ASSERT_EQ(explained.hosts.size(), 4u);
  EXPECT_FALSE(explained.hosts[0].passed);
  EXPECT_EQ(explained.hosts[0].filters.at(0).filter, "RequestedNetwork");
  EXPECT_NE(explained.hosts[0].filters.at(0).verdict.reason.find("no known network"),
            std::string::npos);
  EXPECT_NE(explained.hosts[1].filters.at(0).verdict.reason.find("'blue'"), std::string::npos);

  // A network no host has: no valid host, and the fault names the network.
  req.network = "green";
  for (bool explain : {false, true}) {
    Selection s = sched.select(hosts, req, explain);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.fault.find("green"), std::string::npos) << s.fault;
  }
  // A requested host must have the network too.
  req.network = "blue";
  req.requested_host = "c";
  EXPECT_FALSE(sched.select(hosts, req, false).ok());
  req.requested_host = "d";
  EXPECT_EQ(sched.select(hosts, req, false).selected(), std::vector<std::string>{"d"});

  // A kept index follows a host whose network changed (an agent that re-registered).
  req.requested_host.clear();
  req.network = "red";
  HostIndex index(hosts);
  hosts[3].capabilities["guest_network:name"] = "red";
  hosts[3].total.memory_mb *= 4;  // the roomier of the two red hosts now
  index.update(3, hosts[3]);
  EXPECT_EQ(sched.select(hosts, index, req, false).selected(), std::vector<std::string>{"d"});
  req.network = "blue";
  EXPECT_EQ(sched.select(hosts, index, req, false).selected(), std::vector<std::string>{"b"});
}

}  // namespace
}  // namespace gpucloud::scheduler

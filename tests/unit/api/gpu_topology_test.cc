// Multi-GPU placement end to end on the in-process fake driver: the devices the scheduler keeps
// together (here an NVLink partition across both NUMA nodes of vmhost3) are exactly the ones the
// claim takes and the guest gets, and gpucloud:topology=strict refuses what can only be spread.

#include "compute_fixture.h"

namespace gpucloud::api::testing {
namespace {

// The seed's vmhost3 (06, 07 on NUMA node 0; 84, 85 on node 1), with 06 and 84 in one NVLink
// partition and 07 and 85 behind one PCIe switch: groups that cut across the NUMA nodes, so that
// taking devices in address order (06, 07) would be wrong.
class GpuTopologyTest : public ComputeTest {
 protected:
  void customize(ServerDeps& deps, ServerOptions& options) override {
    ComputeTest::customize(deps, options);
    if (HasFatalFailure()) return;
    use_edited_vmhost3(deps, [](json& h) {
      h["pci_devices"][0]["nvlink_partition"] = "nvl0";
      h["pci_devices"][2]["nvlink_partition"] = "nvl0";
      h["pci_devices"][1]["pcie_switch"] = "0000:7f:00.0";
      h["pci_devices"][3]["pcie_switch"] = "0000:7f:00.0";
    });
  }

  void gpu_flavor(const std::string& id, int gpus, const std::string& topology) {
    post_ok(kV + "/flavors", admin_,
            {{"flavor",
              {{"name", "gpu" + id}, {"id", id}, {"ram", 4096}, {"vcpus", 2}, {"disk", 20}}}});
    json specs = {{"gpu", "true"},
                  {"hw_video:ram_max_mb", "64"},
                  {"pci_passthrough:alias", "K2_Grid:" + std::to_string(gpus)}};
    if (!topology.empty()) specs["gpucloud:topology"] = topology;
    post_ok(kV + "/flavors/" + id + "/os-extra_specs", admin_, {{"extra_specs", specs}});
  }

  std::set<std::string> held_by(const std::string& id) {
    std::set<std::string> out;
    auto rows1 = store_->list_pci_devices({});
    for (const auto& d : *rows1) {
      if (d.instance_uuid == id) out.insert(d.address.to_string());
    }
    return out;
  }

  std::string boot_flavor(const std::string& name, const std::string& flavor) {
    json s = {{"name", name},
              {"flavorRef", flavor},
              {"imageRef", image_id_},
              {"availability_zone", "Denver"}};
    auto r = post(kV + "/servers", alice_, json{{"server", s}}.dump());
    EXPECT_TRUE(r && r->status == 202) << (r ? r->body : "no response");
    return r && r->status == 202 ? json::parse(r->body)["server"]["id"].get<std::string>() : "";
  }
};

TEST_F(GpuTopologyTest, TwoGpusShareTheirPartitionAndTheGuestGetsThoseTwo) {
  seed_aggregates();
  gpu_flavor("g2", 2, "");
  const std::string a = boot_flavor("pair-a", "g2");
  ASSERT_EQ(wait_built(a, alice_)["status"], "ACTIVE");
  EXPECT_EQ(held_by(a), (std::set<std::string>{"0000:06:00.0", "0000:84:00.0"}));
  auto domains = driver_->list_domains("vmhost3");
  ASSERT_EQ(domains->size(), 1u);
  std::set<std::string> passed;
  for (const auto& p : domains->front().pci_devices) passed.insert(p.to_string());
  EXPECT_EQ(passed, held_by(a));
  // The next pair: the switch's two.
  const std::string b = boot_flavor("pair-b", "g2");
  ASSERT_EQ(wait_built(b, alice_)["status"], "ACTIVE");
  EXPECT_EQ(held_by(b), (std::set<std::string>{"0000:07:00.0", "0000:85:00.0"}));
}

TEST_F(GpuTopologyTest, StrictRefusesToSpreadAndTheFaultSaysWhy) {
  seed_aggregates();
  gpu_flavor("g4s", 4, "strict");
  gpu_flavor("g4", 4, "preferred");
  const std::string strict = boot_flavor("strict", "g4s");
  json s = wait_built(strict, admin_);
  ASSERT_EQ(s["status"], "ERROR");
  const std::string why = s["fault"]["message"];
  EXPECT_NE(why.find("at most 2 in one NVLink partition, PCIe switch or NUMA node "
                     "(gpucloud:topology=strict)"),
            std::string::npos)
      << why;
  EXPECT_EQ(devices("available"), 4);  // nothing was claimed
  const std::string spread = boot_flavor("spread", "g4");
  ASSERT_EQ(wait_built(spread, alice_)["status"], "ACTIVE");
  EXPECT_EQ(held_by(spread).size(), 4u);
  // A bad value is refused when the flavor is used, naming the extra spec.
  post_ok(kV + "/flavors/g4s/os-extra_specs", admin_,
          {{"extra_specs", {{"gpucloud:topology", "tight"}}}});
  auto r = post(
      kV + "/servers", alice_,
      json{{"server", {{"name", "bad"}, {"flavorRef", "g4s"}, {"imageRef", image_id_}}}}.dump());
  ASSERT_TRUE(r);
  if (r->status == 202) {  // refused when it is scheduled: the fault names it
    json bad = wait_built(json::parse(r->body)["server"]["id"], admin_);
    EXPECT_EQ(bad["status"], "ERROR");
    EXPECT_NE(bad["fault"]["message"].get<std::string>().find("gpucloud:topology"),
              std::string::npos)
        << bad.dump();
  } else {
    EXPECT_EQ(r->status, 400) << r->body;
    EXPECT_NE(r->body.find("gpucloud:topology"), std::string::npos) << r->body;
  }
}

}  // namespace
}  // namespace gpucloud::api::testing

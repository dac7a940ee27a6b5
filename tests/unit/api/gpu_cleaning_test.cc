// The GPU lifecycle through the compute API on the in-process fake driver: a deleted server's
// GPU is cleaned before it is free again, a failed cleaning or a used one_time_use GPU is out of
// service with its reason until an admin returns it, and stop/start/reboot keep the same GPU.

#include "compute_fixture.h"

namespace gpucloud::api::testing {
namespace {

// vmhost3 of the seed, with 0000:06:00.0 failing its cleaning and 0000:07:00.0 one_time_use.
class GpuCleaningTest : public ComputeTest {
 protected:
  virtual int clean_ms() const { return 0; }

  void customize(ServerDeps& deps, ServerOptions& options) override {
    ComputeTest::customize(deps, options);
    if (HasFatalFailure()) return;
    use_edited_vmhost3(deps, [this](json& h) {
      h["clean_ms"] = clean_ms();
      h["pci_devices"][0]["clean_fails"] = "check: AER fatal errors 0 -> 1";
      h["pci_devices"][1]["one_time_use"] = true;
    });
  }

  void delete_and_wait(const std::string& id) {
    ASSERT_EQ(del(kV + "/servers/" + id, admin_)->status, 204);
    for (int i = 0; i < 1000 && get(kV + "/servers/" + id, admin_)->status != 404; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(get(kV + "/servers/" + id, admin_)->status, 404);
  }

  json vmhost3_device(const std::string& address) {
    json gpus = get_json(kV + "/gpucloud-gpus", admin_);
    for (const auto& h : gpus["hosts"]) {
      for (const auto& d : h["devices"]) {
        if (d["address"] == address) return d;
      }
    }
    ADD_FAILURE() << "no device " << address;
    return json();
  }

  json k2_counts(const std::string& token) {
    const json gpus = get_json(kV + "/gpucloud-gpus", token);
    for (const auto& m : gpus["gpus"]) {
      if (m["alias"] == "K2_Grid") return m;
    }
    return json();
  }
};

TEST_F(GpuCleaningTest, DeletedServersGpusAreCleanedAndFailuresAreOutOfServiceWithTheReason) {
  seed_aggregates();
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    ids.push_back(boot(alice_, "gpu" + std::to_string(i), "4"));
    ASSERT_EQ(wait_built(ids.back(), alice_)["status"], "ACTIVE");
  }
  for (const auto& id : ids) delete_and_wait(id);
  // A delete is done when the GPU is in cleaning; the cleaning itself follows on a worker.
  for (int i = 0; i < 1000 && devices("cleaning") != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  // Every device went through cleaning (the event log), and where it ended.
  int cleaned = 0;
  auto rows1 = store_->list_pci_device_events("");
  for (const auto& e : *rows1) {
    cleaned += e.to_status == store::PciDeviceStatus::kCleaning;
  }
  EXPECT_EQ(cleaned, 4);
  json m = k2_counts(alice_);  // a member sees the counts, not the hosts
  EXPECT_EQ(m["free"], 2);
  EXPECT_EQ(m["unavailable"], 2);
  EXPECT_EQ(m["cleaning"], 0);
  EXPECT_EQ(m["total"], 4);
  EXPECT_FALSE(get_json(kV + "/gpucloud-gpus", alice_).contains("hosts"));

  json failed = vmhost3_device("0000:06:00.0");
  EXPECT_EQ(failed["state"], "unavailable");
  EXPECT_EQ(failed["reason"], "cleaning failed: check: AER fatal errors 0 -> 1");
  json once = vmhost3_device("0000:07:00.0");
  EXPECT_EQ(once["state"], "unavailable");
  EXPECT_EQ(once["reason"].get<std::string>().rfind("one_time_use: used once", 0), 0u) << once;
  EXPECT_TRUE(vmhost3_device("0000:84:00.0")["reason"].is_null());

  auto metrics = get("/metrics", admin_);
  ASSERT_TRUE(metrics && metrics->status == 200);
  EXPECT_NE(metrics->body.find("gpucloud_gpus{alias=\"K2_Grid\",state=\"unavailable\"} 2"),
            std::string::npos)
      << metrics->body;

  // Only an admin returns a device to service, and only a known one, with a valid status.
  const std::string path =
      kV + "/gpucloud-gpus/devices/" + std::to_string(failed["id"].get<int64_t>());
  EXPECT_EQ(put(path, alice_, R"({"status": "available"})")->status, 403);
  EXPECT_EQ(put(path, admin_, R"({"status": "clean"})")->status, 400);
  EXPECT_EQ(put(path, admin_, R"({"status": "available", "x": 1})")->status, 400);
  EXPECT_EQ(put(kV + "/gpucloud-gpus/devices/999999", admin_, R"({"status": "available"})")->status,
            404);
  EXPECT_EQ(put(kV + "/gpucloud-gpus/devices/abc", admin_, R"({"status": "available"})")->status,
            404);
  auto r = put(path, admin_, R"({"status": "available"})");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(vmhost3_device("0000:06:00.0")["state"], "free");
  EXPECT_TRUE(vmhost3_device("0000:06:00.0")["reason"].is_null());
  EXPECT_EQ(k2_counts(admin_)["free"], 3);

  // A device in use is the conductor's: 409.
  const std::string id = boot(alice_, "again", "4");
  ASSERT_EQ(wait_built(id, alice_)["status"], "ACTIVE");
  auto rows2 = store_->list_pci_devices({});
  for (const auto& d : *rows2) {
    if (d.instance_uuid != id) continue;
    EXPECT_EQ(put(kV + "/gpucloud-gpus/devices/" + std::to_string(d.id), admin_,
                  R"({"status": "unavailable"})")
                  ->status,
              409);
  }
}

TEST_F(GpuCleaningTest, StopStartAndRebootKeepTheSameGpu) {
  seed_aggregates();
  const std::string id = boot(alice_, "keeper", "4");
  ASSERT_EQ(wait_built(id, alice_)["status"], "ACTIVE");
  auto held = [&] {
    std::vector<std::string> out;
    auto rows3 = store_->list_pci_devices({});
    for (const auto& d : *rows3) {
      if (d.instance_uuid == id) out.push_back(d.address.to_string() + " " + to_string(d.status));
    }
    return out;
  };
  const auto before = held();
  ASSERT_EQ(before.size(), 1u);
  const std::string action = kV + "/servers/" + id + "/action";
  ASSERT_EQ(post(action, alice_, R"({"os-stop": null})")->status, 202);
  EXPECT_EQ(wait_idle(id, alice_)["status"], "SHUTOFF");
  EXPECT_EQ(held(), before);  // the stopped server keeps its claim, as nova's does
  ASSERT_EQ(post(action, alice_, R"({"os-start": null})")->status, 202);
  EXPECT_EQ(wait_idle(id, alice_)["status"], "ACTIVE");
  EXPECT_EQ(held(), before);
  ASSERT_EQ(post(action, alice_, R"({"reboot": {"type": "HARD"}})")->status, 202);
  EXPECT_EQ(wait_idle(id, alice_)["status"], "ACTIVE");
  EXPECT_EQ(held(), before);
  auto domains = driver_->list_domains("vmhost3");
  ASSERT_EQ(domains->size(), 1u);
  ASSERT_EQ(domains->front().pci_devices.size(), 1u);
  EXPECT_EQ(domains->front().pci_devices[0].to_string() + " allocated", before[0]);
  EXPECT_EQ(devices("cleaning"), 0);  // nothing was given back
}

// Cleaning takes a while here: the GPU is not free, and not handed out, until it is done.
class SlowCleaningTest : public GpuCleaningTest {
 protected:
  int clean_ms() const override { return 1500; }
};

TEST_F(SlowCleaningTest, AGpuBeingCleanedIsNeverHandedOut) {
  seed_aggregates();
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    ids.push_back(boot(alice_, "gpu" + std::to_string(i), "4"));
    ASSERT_EQ(wait_built(ids.back(), alice_)["status"], "ACTIVE");
  }
  // The 0000:84:00.0 device cleans fine, slowly.
  std::string holder;
  auto rows4 = store_->list_pci_devices({});
  for (const auto& d : *rows4) {
    if (d.address.to_string() == "0000:84:00.0") holder = d.instance_uuid.value_or("");
  }
  ASSERT_FALSE(holder.empty());
  ASSERT_EQ(del(kV + "/servers/" + holder, admin_)->status, 204);
  bool seen_cleaning = false;
  for (int i = 0; i < 1000 && !seen_cleaning; ++i) {
    seen_cleaning = devices("cleaning") == 1;
    if (!seen_cleaning) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_TRUE(seen_cleaning);
  EXPECT_EQ(k2_counts(alice_)["cleaning"], 1);
  EXPECT_EQ(k2_counts(alice_)["free"], 0);
  // A boot now finds no free K2: the one being cleaned does not count.
  const std::string early = boot(alice_, "early", "4");
  json s = wait_built(early, alice_);
  EXPECT_EQ(s["status"], "ERROR");
  EXPECT_EQ(devices("cleaning") + devices("available"), 1);  // the device was never claimed
  // Once cleaned it is free, and the next boot gets it.
  for (int i = 0; i < 1000 && devices("available") != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(devices("available"), 1);
  const std::string later = boot(alice_, "later", "4");
  EXPECT_EQ(wait_built(later, alice_)["status"], "ACTIVE");
}

}  // namespace
}  // namespace gpucloud::api::testing

namespace gpucloud::api::testing {
namespace {

// Governance: per project and model, GPUs in use and reserved, and the quota; members see their
// own project only, admins every project; the same figures are on /metrics.
TEST_F(GpuCleaningTest, GpuUsagePerProjectWithItsQuota) {
  seed_aggregates();
  const std::string demo = store_->find_project_by_name("demo", "default")->id;
  auto q = put(kV + "/gpucloud-gpu-quotas/" + demo, admin_, R"({"gpu_quotas": {"K2_Grid": 3}})");
  ASSERT_EQ(q->status, 200) << q->body;
  const std::string id = boot(alice_, "mine", "4");
  ASSERT_EQ(wait_built(id, alice_)["status"], "ACTIVE");

  json mine = get_json(kV + "/gpucloud-gpu-usage", alice_)["gpu_usage"];
  ASSERT_EQ(mine.size(), 1u) << mine.dump();
  EXPECT_EQ(mine[0]["project_id"], demo);
  EXPECT_EQ(mine[0]["alias"], "K2_Grid");
  EXPECT_EQ(mine[0]["in_use"], 1);
  EXPECT_EQ(mine[0]["reserved"], 0);
  EXPECT_EQ(mine[0]["quota"], 3);
  // Another project's member sees nothing of demo's, and may not ask for it.
  EXPECT_TRUE(get_json(kV + "/gpucloud-gpu-usage", bob_)["gpu_usage"].empty());
  EXPECT_EQ(get(kV + "/gpucloud-gpu-usage?project_id=" + demo, bob_)->status, 403);
  // An admin sees every project, or one.
  json all = get_json(kV + "/gpucloud-gpu-usage", admin_)["gpu_usage"];
  EXPECT_EQ(all, mine);
  EXPECT_EQ(get_json(kV + "/gpucloud-gpu-usage?project_id=" + demo, admin_)["gpu_usage"], mine);

  auto metrics = get("/metrics", admin_);
  ASSERT_TRUE(metrics && metrics->status == 200);
  EXPECT_NE(metrics->body.find("gpucloud_project_gpus{project=\"" + demo +
                               "\",alias=\"K2_Grid\",state=\"in_use\"} 1"),
            std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("gpucloud_project_gpu_quota{project=\"" + demo +
                               "\",alias=\"K2_Grid\"} 3"),
            std::string::npos);
}

}  // namespace
}  // namespace gpucloud::api::testing

// Shelve and unshelve through the compute API: the server's disk becomes a snapshot image, the
// guest goes and its GPU is released into cleaning; unshelve boots the snapshot on whatever host
// fits now and deletes it; a failed unshelve keeps the server shelved with the fault.
// On the in-process fake driver, and with a test-driven agent for the agent's path.

#include <thread>

#include "compute_fixture.h"

namespace gpucloud::api::testing {
namespace {

class ShelveTest : public ComputeTest {
 protected:
  std::string action(const std::string& id) { return kV + "/servers/" + id + "/action"; }

  // The devices the instance holds, as "address status".
  std::vector<std::string> held(const std::string& id) {
    std::vector<std::string> out;
    auto rows = store_->list_pci_devices({});
    for (const auto& d : *rows) {
      if (d.instance_uuid == id) out.push_back(d.address.to_string() + " " + to_string(d.status));
    }
    return out;
  }

  std::optional<std::string> shelved_image(const std::string& id) {
    auto m = store_->system_metadata(id, "shelved_image_id");
    EXPECT_TRUE(m.ok());
    return m.ok() ? *m : std::nullopt;
  }

  void wait_no_cleaning() {
    for (int i = 0; i < 1000 && devices("cleaning") != 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(devices("cleaning"), 0);
  }
};

TEST_F(ShelveTest, ShelveReleasesTheGpuAndUnshelveBootsTheSnapshot) {
  seed_aggregates();
  const std::string id = boot(alice_, "shelver", "4");
  ASSERT_EQ(wait_built(id, alice_)["status"], "ACTIVE");
  const auto before = held(id);
  ASSERT_EQ(before.size(), 1u);

  ASSERT_EQ(post(action(id), alice_, R"({"shelve": null})")->status, 202);
  json s = wait_idle(id, admin_);
  EXPECT_EQ(s["status"], "SHELVED_OFFLOADED");
  EXPECT_EQ(s["OS-EXT-STS:vm_state"], "shelved_offloaded");
  EXPECT_EQ(s["OS-EXT-STS:power_state"], 4);
  EXPECT_TRUE(s["OS-EXT-SRV-ATTR:host"].is_null()) << s.dump();
  // The guest is gone and its GPU was given back through cleaning, as a delete gives it back.
  EXPECT_TRUE(held(id).empty());
  EXPECT_TRUE(driver_->list_domains("vmhost3")->empty());
  int cleaned = 0;
  auto events = store_->list_pci_device_events("");
  for (const auto& e : *events) {
    cleaned += e.to_status == store::PciDeviceStatus::kCleaning && e.instance_uuid == id;
  }
  EXPECT_EQ(cleaned, 1);
  EXPECT_EQ(store_->get_compute_host("vmhost3")->vcpus_used, 0);

  // The snapshot: a private image of the project with the guest's disk, and the base image's
  // properties (the seed image's hw_video_ram) so that unshelve schedules alike.
  auto snap_id = shelved_image(id);
  ASSERT_TRUE(snap_id);
  json img = get_json("/image/v2/images/" + *snap_id, alice_);
  EXPECT_EQ(img["name"], "shelver-shelved");
  EXPECT_EQ(img["status"], "active");
  EXPECT_EQ(img["visibility"], "private");
  EXPECT_EQ(img["image_type"], "snapshot");
  EXPECT_EQ(img["instance_uuid"], id);
  EXPECT_EQ(img["base_image_ref"], image_id_);
  EXPECT_EQ(img["hw_video_ram"], "8");
  EXPECT_GT(img["size"].get<int64_t>(), 0);
  auto data = get("/image/v2/images/" + *snap_id + "/file", alice_);
  ASSERT_TRUE(data && data->status == 200);
  EXPECT_NE(data->body.find(id), std::string::npos) << data->body;    // the fake guest's "disk"
  EXPECT_EQ(get("/image/v2/images/" + *snap_id, bob_)->status, 404);  // another project's

  // Nothing else to do on a shelved server but unshelve (or delete) it.
  EXPECT_EQ(post(action(id), alice_, R"({"shelve": null})")->status, 409);
  EXPECT_EQ(post(action(id), alice_, R"({"os-start": null})")->status, 409);
  EXPECT_EQ(post(action(id), alice_, R"({"shelveOffload": null})")->status, 409);
  auto bad = post(action(id), alice_, R"({"unshelve": {"availability_zone": "Denver"}})");
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("availability_zone"), std::string::npos) << bad->body;
  EXPECT_EQ(post(action(id), bob_, R"({"unshelve": null})")->status, 404);

  wait_no_cleaning();
  ASSERT_EQ(post(action(id), alice_, R"({"unshelve": null})")->status, 202);
  s = wait_idle(id, admin_);
  EXPECT_EQ(s["status"], "ACTIVE") << s.dump();
  EXPECT_EQ(s["OS-EXT-SRV-ATTR:host"], "vmhost3");
  EXPECT_EQ(s["image"]["id"], image_id_);  // the server's image stays its base image, as nova's
  const auto after = held(id);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_NE(after[0].find("allocated"), std::string::npos);
  auto domains = driver_->list_domains("vmhost3");
  ASSERT_EQ(domains->size(), 1u);
  EXPECT_EQ(domains->front().instance_uuid, id);
  // Unshelved: the snapshot is deleted, as nova deletes it (the conductor does it just after the
  // server went ACTIVE, so the test waits a little for it).
  for (int i = 0; i < 500 && shelved_image(id); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(shelved_image(id));
  EXPECT_EQ(get("/image/v2/images/" + *snap_id, alice_)->status, 404);

  // A stopped server shelves too.
  ASSERT_EQ(post(action(id), alice_, R"({"os-stop": null})")->status, 202);
  EXPECT_EQ(wait_idle(id, alice_)["status"], "SHUTOFF");
  ASSERT_EQ(post(action(id), alice_, R"({"shelve": null})")->status, 202);
  EXPECT_EQ(wait_idle(id, alice_)["status"], "SHELVED_OFFLOADED");
  EXPECT_TRUE(held(id).empty());
}

TEST_F(ShelveTest, UnshelveWithoutAFreeGpuStaysShelvedAndDeleteTakesTheSnapshot) {
  seed_aggregates();
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {  // every K2 of vmhost3
    ids.push_back(boot(alice_, "gpu" + std::to_string(i), "4"));
    ASSERT_EQ(wait_built(ids.back(), alice_)["status"], "ACTIVE");
  }
  ASSERT_EQ(post(action(ids[0]), alice_, R"({"shelve": null})")->status, 202);
  ASSERT_EQ(wait_idle(ids[0], alice_)["status"], "SHELVED_OFFLOADED");
  wait_no_cleaning();
  // Another server takes the GPU the shelved one gave back.
  const std::string taker = boot(alice_, "taker", "4");
  ASSERT_EQ(wait_built(taker, alice_)["status"], "ACTIVE");

  ASSERT_EQ(post(action(ids[0]), alice_, R"({"unshelve": null})")->status, 202);
  json s = wait_idle(ids[0], alice_);
  EXPECT_EQ(s["status"], "SHELVED_OFFLOADED") << s.dump();
  // The fault is recorded; nova's view shows faults of ERROR servers only.
  EXPECT_FALSE(s.contains("fault")) << s.dump();
  auto inst = store_->get_instance(ids[0]);
  ASSERT_TRUE(inst.ok() && inst->fault);
  EXPECT_NE(inst->fault->message.find("No valid host"), std::string::npos) << inst->fault->message;
  EXPECT_TRUE(held(ids[0]).empty());
  auto snap_id = shelved_image(ids[0]);
  ASSERT_TRUE(snap_id);
  EXPECT_EQ(get_json("/image/v2/images/" + *snap_id, alice_)["status"], "active");

  // Deleting the shelved server deletes its snapshot.
  ASSERT_EQ(del(kV + "/servers/" + ids[0], alice_)->status, 204);
  EXPECT_EQ(get(kV + "/servers/" + ids[0], alice_)->status, 404);
  EXPECT_EQ(get("/image/v2/images/" + *snap_id, admin_)->status, 404);
  std::error_code ec;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "images" / *snap_id, ec));
  EXPECT_TRUE(store_->list_lifecycle_tasks()->empty());
}

}  // namespace
}  // namespace gpucloud::api::testing

namespace gpucloud::api::testing {
namespace {

// 2.74 boot and 2.91 unshelve onto a host an admin names: only that host is considered, it must
// still pass the filters, and only admins may ask.
class RequestedHostTest : public ShelveTest {
 protected:
  httplib::Result vpost(const std::string& path, const std::string& token, const std::string& v,
                        const json& body) {
    return client_->Post(path.c_str(),
                         {{"X-Auth-Token", token}, {"OpenStack-API-Version", "compute " + v}},
                         body.dump(), "application/json");
  }
  json server(const std::string& flavor, const json& extra) {
    json s = {{"name", "placed"},
              {"flavorRef", flavor},
              {"imageRef", flavor == "4" ? image_id_ : plain_image_id_},
              {"networks", "auto"}};
    for (auto it = extra.begin(); it != extra.end(); ++it) s[it.key()] = *it;
    return {{"server", s}};
  }
};

TEST_F(RequestedHostTest, AdminBootsOntoTheHostItNamesAndFiltersStillApply) {
  seed_aggregates();
  // Plain flavor 1: vmhost1 and vmhost2 pass; the RAM weigher alone would pick by free RAM.
  for (const char* host : {"vmhost2", "vmhost1"}) {
    auto r = vpost(kV + "/servers", admin_, "2.74", server("1", {{"host", host}}));
    ASSERT_TRUE(r && r->status == 202) << (r ? r->body : "");
    const std::string id = json::parse(r->body)["server"]["id"];
    json s = wait_built(id, admin_);
    ASSERT_EQ(s["status"], "ACTIVE") << s.dump();
    EXPECT_EQ(s["OS-EXT-SRV-ATTR:host"], host);
  }
  // vmhost3 has the GPUs, and the plain flavor's gpu=false does not match its aggregate.
  auto r =
      vpost(kV + "/servers", admin_, "2.74", server("1", {{"hypervisor_hostname", "vmhost3"}}));
  ASSERT_TRUE(r && r->status == 202) << (r ? r->body : "");
  json s = wait_built(json::parse(r->body)["server"]["id"], admin_);
  EXPECT_EQ(s["status"], "ERROR");
  EXPECT_NE(s["fault"]["message"].get<std::string>().find("AggregateInstanceExtraSpecsFilter"),
            std::string::npos)
      << s["fault"]["message"];

  // Refused: a member, an unknown host, two names that differ, before 2.74.
  EXPECT_EQ(vpost(kV + "/servers", alice_, "2.74", server("1", {{"host", "vmhost1"}}))->status,
            403);
  EXPECT_EQ(vpost(kV + "/servers", admin_, "2.74", server("1", {{"host", "nowhere"}}))->status,
            400);
  EXPECT_EQ(vpost(kV + "/servers", admin_, "2.74",
                  server("1", {{"host", "vmhost1"}, {"hypervisor_hostname", "vmhost2"}}))
                ->status,
            400);
  EXPECT_EQ(vpost(kV + "/servers", admin_, "2.73", server("1", {{"host", "vmhost1"}}))->status,
            400);
}

// The legacy forced host, availability_zone "zone:host": the host's aggregate rules are skipped
// (nova's force_hosts), what it physically has is not; admins only; the zone part is the
// server's zone. An unshelve afterwards is scheduled with every filter again.
TEST_F(RequestedHostTest, ForcedHostSkipsThePolicyFiltersButNotTheFit) {
  seed_aggregates();
  // Plain flavor 1 onto the GPU host, which its gpu=false refuses with the filters.
  auto r = vpost(kV + "/servers", admin_, "2.37",
                 server("1", {{"availability_zone", "Denver:vmhost3"}}));
  ASSERT_TRUE(r && r->status == 202) << (r ? r->body : "");
  const std::string forced = json::parse(r->body)["server"]["id"];
  json s = wait_built(forced, admin_);
  ASSERT_EQ(s["status"], "ACTIVE") << s.dump();
  EXPECT_EQ(s["OS-EXT-SRV-ATTR:host"], "vmhost3");
  EXPECT_EQ(s["OS-EXT-AZ:availability_zone"], "Denver");
  // "zone::node" names the same host.
  r = vpost(kV + "/servers", admin_, "2.37",
            server("1", {{"availability_zone", "Denver::vmhost3"}}));
  ASSERT_TRUE(r && r->status == 202) << (r ? r->body : "");
  s = wait_built(json::parse(r->body)["server"]["id"], admin_);
  EXPECT_EQ(s["OS-EXT-SRV-ATTR:host"], "vmhost3");

  // The GPU flavor onto a host without GPUs: the fit still decides.
  r = vpost(kV + "/servers", admin_, "2.37", server("4", {{"availability_zone", ":vmhost1"}}));
  ASSERT_TRUE(r && r->status == 202) << (r ? r->body : "");
  s = wait_built(json::parse(r->body)["server"]["id"], admin_);
  EXPECT_EQ(s["status"], "ERROR");
  EXPECT_NE(s["fault"]["message"].get<std::string>().find("vmhost1 has 0 of 0 free"),
            std::string::npos)
      << s["fault"]["message"];

  // Refused before anything is stored.
  const std::string before = snapshot();
  auto status = [&](const std::string& token, const std::string& az, const std::string& v = "2.37",
                    const json& extra = json::object()) {
    json e = extra;
    e["availability_zone"] = az;
    auto res = vpost(kV + "/servers", token, v, server("1", e));
    return res ? res->status : -1;
  };
  EXPECT_EQ(status(alice_, "Denver:vmhost1"), 403);
  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(status(admin_, "Denver:nowhere"), 400);
  EXPECT_EQ(status(admin_, "Denver:vmhost1:vmhost2"), 400);
  EXPECT_EQ(status(admin_, "a:b:c:d"), 400);
  EXPECT_EQ(status(admin_, "Denver:"), 400);
  EXPECT_EQ(status(admin_, "Atlantis:vmhost1"), 400);  // the zone must exist
  store::ComputeHost silent;  // a host whose agent stopped reporting an hour ago
  silent.name = "silent";
  silent.vcpus = 8;
  silent.memory_mb = 16384;
  silent.disk_gb = 100;
  ASSERT_TRUE(store_->upsert_compute_host(silent).ok());
  ASSERT_TRUE(
      store_->record_heartbeat("silent", std::chrono::system_clock::now() - std::chrono::hours(1))
          .ok());
  const std::string with_silent = snapshot();
  EXPECT_EQ(status(admin_, "Denver:silent"), 400);
  EXPECT_EQ(snapshot(), with_silent);
  EXPECT_EQ(status(admin_, "Denver:vmhost1", "2.74", {{"host", "vmhost2"}}), 400);

  // Shelved and unshelved without a host: the filters apply again, so it leaves vmhost3.
  ASSERT_EQ(post(action(forced), admin_, R"({"shelve": null})")->status, 202);
  ASSERT_EQ(wait_idle(forced, admin_)["status"], "SHELVED_OFFLOADED");
  ASSERT_EQ(post(action(forced), admin_, R"({"unshelve": null})")->status, 202);
  s = wait_idle(forced, admin_);
  EXPECT_EQ(s["status"], "ACTIVE") << s.dump();
  EXPECT_NE(s["OS-EXT-SRV-ATTR:host"], "vmhost3");
}

TEST_F(RequestedHostTest, AdminUnshelvesOntoTheHostItNames) {
  seed_aggregates();
  const std::string id = boot(alice_, "moving", "1");
  json s = wait_built(id, admin_);
  ASSERT_EQ(s["status"], "ACTIVE");
  const std::string other = s["OS-EXT-SRV-ATTR:host"] == "vmhost1" ? "vmhost2" : "vmhost1";
  ASSERT_EQ(post(action(id), alice_, R"({"shelve": null})")->status, 202);
  ASSERT_EQ(wait_idle(id, admin_)["status"], "SHELVED_OFFLOADED");
  EXPECT_EQ(vpost(action(id), alice_, "2.91", {{"unshelve", {{"host", other}}}})->status, 403);
  EXPECT_EQ(vpost(action(id), admin_, "2.90", {{"unshelve", {{"host", other}}}})->status, 400);
  auto r = vpost(action(id), admin_, "2.91", {{"unshelve", {{"host", other}}}});
  ASSERT_TRUE(r && r->status == 202) << (r ? r->body : "");
  s = wait_idle(id, admin_);
  EXPECT_EQ(s["status"], "ACTIVE") << s.dump();
  EXPECT_EQ(s["OS-EXT-SRV-ATTR:host"], other);
}

}  // namespace
}  // namespace gpucloud::api::testing

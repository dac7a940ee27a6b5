#include <set>
#include <thread>

#include "compute_fixture.h"

namespace gpucloud::api::testing {
namespace {

TEST_F(ComputeTest, GpuFlavorLandsOnVmhost3WithAK2Allocated) {
  seed_aggregates();
  const std::string id = boot(alice_, "vm1", "4");
  ASSERT_FALSE(id.empty());
  json s = wait_built(id, admin_);
  ASSERT_EQ(s["status"], "ACTIVE") << s.dump();
  EXPECT_EQ(s["OS-EXT-SRV-ATTR:host"], "vmhost3");
  EXPECT_EQ(s["OS-EXT-AZ:availability_zone"], "Denver");
  EXPECT_EQ(s["OS-EXT-STS:power_state"], 1);
  EXPECT_EQ(devices("allocated", id), 1);
  EXPECT_EQ(devices("claimed"), 0);
  auto domains = driver_->list_domains("vmhost3");
  ASSERT_TRUE(domains.ok());
  ASSERT_EQ(domains->size(), 1u);
  EXPECT_EQ(domains->front().pci_devices.size(), 1u);
  // A member sees the server without the admin-only host attributes.
  json mine = get_json(kV + "/servers/" + id, alice_)["server"];
  EXPECT_FALSE(mine.contains("OS-EXT-SRV-ATTR:host"));
  EXPECT_EQ(mine["status"], "ACTIVE");
  // The address the driver gave the guest, as nova shows a fixed IP.
  ASSERT_FALSE(domains->front().ip_address.empty());
  EXPECT_EQ(mine["addresses"]["private"][0]["addr"], domains->front().ip_address);
  EXPECT_EQ(mine["addresses"]["private"][0]["version"], 4);
  // No Cloud Controller here: nothing sets readiness, and nova's schema has no such field.
  EXPECT_FALSE(mine.contains("gpucloud:readiness"));
  // nova's ips view: version and addr by network, one network, or 404 naming it.
  json ips = get_json(kV + "/servers/" + id + "/ips", alice_)["addresses"];
  EXPECT_EQ(ips, json({{"private", {{{"version", 4}, {"addr", domains->front().ip_address}}}}}));
  EXPECT_EQ(get_json(kV + "/servers/" + id + "/ips/private", alice_)["private"], ips["private"]);
  EXPECT_EQ(get(kV + "/servers/" + id + "/ips/public", alice_)->status, 404);
  EXPECT_EQ(get(kV + "/servers/" + id + "/ips", bob_)->status, 404);  // another project's
  EXPECT_EQ(get_json(kV + "/servers/" + id + "/os-server-password", alice_)["password"], "");
  EXPECT_EQ(del(kV + "/servers/" + id + "/os-server-password", alice_)->status, 204);
}

TEST_F(ComputeTest, NonGpuFlavorLandsOnVmhost1Or2WithoutDevices) {
  seed_aggregates();
  for (int i = 0; i < 3; ++i) {
    const std::string id = boot(alice_, "plain" + std::to_string(i), "2");
    json s = wait_built(id, admin_);
    ASSERT_EQ(s["status"], "ACTIVE") << s.dump();
    const std::string host = s["OS-EXT-SRV-ATTR:host"];
    EXPECT_TRUE(host == "vmhost1" || host == "vmhost2") << host;
  }
  EXPECT_EQ(devices("available"), 4);
}

TEST_F(ComputeTest, GpuBootAfterAllK2InUseEndsInErrorNamingTheAlias) {
  seed_aggregates();
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    ids.push_back(boot(alice_, "gpu" + std::to_string(i), "4"));
    ASSERT_EQ(wait_built(ids.back(), alice_)["status"], "ACTIVE");
  }
  EXPECT_EQ(devices("allocated"), 4);
  const std::string fifth = boot(alice_, "gpu5", "4");
  json s = wait_built(fifth, alice_);
  ASSERT_EQ(s["status"], "ERROR");
  const std::string message = s["fault"]["message"];
  EXPECT_EQ(message.rfind("No valid host was found.", 0), 0u) << message;
  EXPECT_NE(message.find("K2_Grid"), std::string::npos) << message;
  EXPECT_NE(message.find("vmhost3 has 0 of 4 free"), std::string::npos) << message;
  EXPECT_EQ(s["fault"]["code"], 500);
  EXPECT_FALSE(s["fault"].contains("details"));  // a 500's details are for admins
  EXPECT_EQ(devices("allocated"), 4);
  EXPECT_EQ(devices("claimed"), 0);

  // Deleting a GPU server frees its device, and the next GPU boot gets it.
  auto r = del(kV + "/servers/" + ids[0], alice_);
  ASSERT_EQ(r->status, 204);
  // As nova: the server shows (DELETED, task_state deleting) until its GPU is released, then 404.
  for (int i = 0; i < 500 && get(kV + "/servers/" + ids[0], alice_)->status != 404; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(get(kV + "/servers/" + ids[0], alice_)->status, 404);
  EXPECT_EQ(devices("allocated"), 3);
  // The released GPU is cleaned by its host before it is free again (docs/cleaning.md); on a
  // loaded machine that may take a moment after the 404.
  for (int i = 0; i < 1000 && devices("available") != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(devices("available"), 1);
  EXPECT_EQ(devices("cleaning"), 0);
  EXPECT_EQ(wait_built(boot(alice_, "gpu6", "4"), alice_)["status"], "ACTIVE");
  EXPECT_EQ(devices("available"), 0);
}

TEST_F(ComputeTest, ConcurrentGpuCreatesNeverOverCommit) {
  seed_aggregates();
  // Ten m1.large (4 vCPUs, 8 GB each) are beyond nova's default quotas; this test is about GPUs.
  const std::string demo = store_->find_project_by_name("demo", "default")->id;
  ASSERT_TRUE(
      store_->set_project_quotas(demo, "", {{"instances", -1}, {"cores", -1}, {"ram", -1}}).ok());
  std::vector<std::string> ids(10);
  std::vector<std::thread> threads;
  const int port = server_->port();
  for (size_t t = 0; t < ids.size(); ++t) {
    threads.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", port);
      json body = {
          {"server",
           {{"name", "c" + std::to_string(t)}, {"flavorRef", "4"}, {"imageRef", image_id_}}}};
      auto r = c.Post((kV + "/servers").c_str(), {{"X-Auth-Token", alice_}}, body.dump(),
                      "application/json");
      if (r && r->status == 202) ids[t] = json::parse(r->body)["server"]["id"];
    });
  }
  for (auto& t : threads) t.join();
  int active = 0, error = 0;
  for (const auto& id : ids) {
    ASSERT_FALSE(id.empty());
    const std::string status = wait_built(id, alice_)["status"];
    active += status == "ACTIVE";
    error += status == "ERROR";
  }
  EXPECT_EQ(active, 4);
  EXPECT_EQ(error, 6);
  // Every allocated device belongs to a distinct ACTIVE server.
  std::set<std::string> owners;
  auto rows1 = store_->list_pci_devices({});
  for (const auto& d : *rows1) {
    ASSERT_EQ(store::to_string(d.status), std::string("allocated"));
    ASSERT_TRUE(d.instance_uuid.has_value());
    EXPECT_TRUE(owners.insert(*d.instance_uuid).second);
    EXPECT_EQ(store::to_string(store_->get_instance(*d.instance_uuid)->status),
              std::string("ACTIVE"));
  }
  EXPECT_EQ(owners.size(), 4u);
}

TEST_F(ComputeTest, StopStartRebootChangeStatusAndPower) {
  seed_aggregates();
  const std::string id = boot(alice_, "vm", "2");
  ASSERT_EQ(wait_built(id, alice_)["status"], "ACTIVE");
  const std::string action = kV + "/servers/" + id + "/action";
  EXPECT_EQ(post(action, alice_, R"({"os-start": null})")->status, 409);  // already running
  EXPECT_EQ(post(action, alice_, R"({"os-stop": null})")->status, 202);
  json s = wait_idle(id, alice_);
  EXPECT_EQ(s["status"], "SHUTOFF");
  EXPECT_EQ(s["OS-EXT-STS:power_state"], 4);
  EXPECT_EQ(post(action, alice_, R"({"reboot": {"type": "SOFT"}})")->status, 409);
  EXPECT_EQ(post(action, alice_, R"({"os-start": null})")->status, 202);
  EXPECT_EQ(wait_idle(id, alice_)["status"], "ACTIVE");
  EXPECT_EQ(post(action, alice_, R"({"reboot": {"type": "HARD"}})")->status, 202);
  EXPECT_EQ(wait_idle(id, alice_)["status"], "ACTIVE");
  EXPECT_EQ(post(action, alice_, R"({"reboot": {"type": "GENTLE"}})")->status, 400);
  EXPECT_EQ(post(action, alice_, R"({"explode": {}})")->status, 400);
}

// nova's os-resetState: admins set ERROR or ACTIVE by hand; the server can then be deleted,
// which releases what it held.
TEST_F(ComputeTest, AdminResetsStateToErrorAndBack) {
  seed_aggregates();
  const std::string id = boot(alice_, "vm", "2");
  ASSERT_EQ(wait_built(id, alice_)["status"], "ACTIVE");
  const std::string action = kV + "/servers/" + id + "/action";
  EXPECT_EQ(post(action, alice_, R"({"os-resetState": {"state": "error"}})")->status, 403);
  EXPECT_EQ(post(action, admin_, R"({"os-resetState": {"state": "paused"}})")->status, 400);
  EXPECT_EQ(post(action, admin_, R"({"os-resetState": {}})")->status, 400);
  EXPECT_EQ(post(action, admin_, R"({"os-resetState": {"state": "error", "x": 1}})")->status, 400);
  EXPECT_EQ(get_json(kV + "/servers/" + id, alice_)["server"]["status"], "ACTIVE");
  EXPECT_EQ(post(action, admin_, R"({"os-resetState": {"state": "error"}})")->status, 202);
  json s = get_json(kV + "/servers/" + id, alice_)["server"];
  EXPECT_EQ(s["status"], "ERROR");
  EXPECT_EQ(s["OS-EXT-STS:vm_state"], "error");
  EXPECT_EQ(post(action, admin_, R"({"os-resetState": {"state": "active"}})")->status, 202);
  EXPECT_EQ(get_json(kV + "/servers/" + id, alice_)["server"]["status"], "ACTIVE");
  // While a task runs the conductor owns the server: 409.
  ASSERT_EQ(post(action, alice_, R"({"os-stop": null})")->status, 202);
  auto during = post(action, admin_, R"({"os-resetState": {"state": "error"}})");
  EXPECT_TRUE(during->status == 409 || during->status == 202) << during->body;
  wait_idle(id, alice_);
  ASSERT_EQ(post(action, admin_, R"({"os-resetState": {"state": "error"}})")->status, 202);
  ASSERT_EQ(del(kV + "/servers/" + id, alice_)->status, 204);
}

// POST /servers answers with the caller's adminPass when it gave one (nova), else a new one.
TEST_F(ComputeTest, CreateAnswersWithTheCallersAdminPass) {
  seed_aggregates();
  auto r = post(kV + "/servers", alice_,
                json{{"server",
                      {{"name", "p"},
                       {"flavorRef", "2"},
                       {"imageRef", plain_image_id_},
                       {"availability_zone", "Denver"},
                       {"adminPass", "testpassword"}}}}
                    .dump());
  ASSERT_EQ(r->status, 202) << r->body;
  EXPECT_EQ(json::parse(r->body)["server"]["adminPass"], "testpassword");
  const std::string other = boot(alice_, "q", "2");
  ASSERT_FALSE(other.empty());
  auto bad = post(
      kV + "/servers", alice_,
      json{{"server",
            {{"name", "p"}, {"flavorRef", "2"}, {"imageRef", plain_image_id_}, {"adminPass", 7}}}}
          .dump());
  EXPECT_EQ(bad->status, 400) << bad->body;
  EXPECT_NE(bad->body.find("adminPass"), std::string::npos) << bad->body;
}

// Fields gpucloud does not use are still checked as nova checks them: 400 naming the field.
TEST_F(ComputeTest, UnusedServerFieldsAreValidatedAsNovaDoes) {
  seed_aggregates();
  auto create = [&](const json& extra) {
    json s = {{"name", "v"}, {"flavorRef", "2"}, {"imageRef", plain_image_id_}};
    s.update(extra);
    return post(kV + "/servers", alice_, json{{"server", s}}.dump());
  };
  const std::string before = snapshot();
  for (const json& bad :
       {json{{"accessIPv4", "1.1.1.1.1.1"}}, json{{"accessIPv6", "notv6"}}, json{{"accessIPv4", 5}},
        json{{"networks", "auto"}}, json{{"networks", {{{"uuid", "a-b-c-d-e-f-g-h-i-j"}}}}},
        json{{"networks", {{{"fixed_ip", "1.2.3"}}}}}, json{{"networks", {{{"tag", "x"}}}}},
        json{{"networks", {{{"uuid", "11111111-2222-4333-8444-555555555555"}}}}},
        json{{"security_groups", {{{"name", "nonexistent"}}}}},
        json{{"security_groups", {{{"id", 1}}}}}}) {
    auto r = create(bad);
    EXPECT_EQ(r->status, 400) << bad.dump() << " " << r->body;
    const std::string field = bad.begin().key();
    EXPECT_NE(r->body.find(field == "networks" ? "etwork" : field.substr(0, 8)), std::string::npos)
        << r->body;
  }
  // No server groups: a group hint names one that cannot exist.
  auto hinted =
      post(kV + "/servers", alice_,
           json{{"server", {{"name", "vm"}, {"flavorRef", "1"}, {"imageRef", plain_image_id_}}},
                {"os:scheduler_hints", {{"group", new_uuid()}}}}
               .dump());
  EXPECT_EQ(hinted->status, 400);
  EXPECT_NE(hinted->body.find("group"), std::string::npos) << hinted->body;
  EXPECT_EQ(snapshot(), before);  // nothing created
  auto ok = create({{"accessIPv4", "1.1.1.1"},
                    {"accessIPv6", "2001:2001:0::3"},
                    {"networks", json::array()},
                    {"security_groups", {{{"name", "default"}}}}});
  EXPECT_EQ(ok->status, 202) << ok->body;
  // No soft delete: restore and forceDelete find no SOFT_DELETED server.
  const std::string id = json::parse(ok->body)["server"]["id"];
  // Addresses read back in canonical form, as nova stores them.
  EXPECT_EQ(wait_built(id, alice_)["accessIPv6"], "2001:2001::3");
  auto r =
      put(kV + "/servers/" + id, alice_, R"({"server": {"accessIPv6": "::babe:220.12.22.2"}})");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["server"]["accessIPv6"], "::babe:dc0c:1602");
  EXPECT_EQ(post(kV + "/servers/" + id + "/action", alice_, R"({"restore": null})")->status, 409);
  EXPECT_EQ(post(kV + "/servers/" + id + "/action", alice_, R"({"forceDelete": null})")->status,
            409);
}

// nova's lock: the owner's actions and delete are 409 until it unlocks; admins act regardless,
// and an admin's lock is lifted only by an admin.
TEST_F(ComputeTest, LockedServerRefusesItsOwnersActionsAndDelete) {
  seed_aggregates();
  const std::string id = boot(alice_, "vm", "2");
  ASSERT_EQ(wait_built(id, alice_)["status"], "ACTIVE");
  const std::string action = kV + "/servers/" + id + "/action";
  ASSERT_EQ(post(action, alice_, R"({"lock": null})")->status, 202);
  EXPECT_EQ(post(action, alice_, R"({"os-stop": null})")->status, 409);
  EXPECT_EQ(post(action, alice_, R"({"reboot": {"type": "HARD"}})")->status, 409);
  EXPECT_EQ(del(kV + "/servers/" + id, alice_)->status, 409);
  EXPECT_EQ(get_json(kV + "/servers/" + id, alice_)["server"]["status"], "ACTIVE");
  ASSERT_EQ(post(action, alice_, R"({"unlock": null})")->status, 202);
  ASSERT_EQ(post(action, alice_, R"({"os-stop": null})")->status, 202);
  EXPECT_EQ(wait_idle(id, alice_)["status"], "SHUTOFF");

  ASSERT_EQ(post(action, admin_, R"({"lock": null})")->status, 202);
  EXPECT_EQ(post(action, alice_, R"({"unlock": null})")->status, 403);
  EXPECT_EQ(post(action, alice_, R"({"os-start": null})")->status, 409);
  ASSERT_EQ(post(action, admin_, R"({"os-start": null})")->status, 202);  // admins act anyway
  EXPECT_EQ(wait_idle(id, alice_)["status"], "ACTIVE");
  ASSERT_EQ(post(action, admin_, R"({"unlock": null})")->status, 202);
  EXPECT_EQ(del(kV + "/servers/" + id, alice_)->status, 204);
}

TEST_F(ComputeTest, ListShowsOwnProjectOnlyAndAdminAllTenants) {
  seed_aggregates();
  const std::string a = boot(alice_, "alices", "2");
  const std::string b = boot(bob_, "bobs", "2");
  wait_built(a, alice_);
  wait_built(b, bob_);
  json list = get_json(kV + "/servers", alice_)["servers"];
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["id"], a);
  EXPECT_EQ(get_json(kV + "/servers/detail", rita_)["servers"].size(), 1u);  // reader reads
  EXPECT_EQ(get_json(kV + "/servers/detail?all_tenants=1", admin_)["servers"].size(), 2u);
  EXPECT_EQ(get_json(kV + "/servers/detail", admin_)["servers"].size(), 0u);
}

TEST_F(ComputeTest, OtherProjectsServerIsNotFoundAndUntouched) {
  seed_aggregates();
  const std::string id = boot(alice_, "vm", "2");
  ASSERT_EQ(wait_built(id, alice_)["status"], "ACTIVE");
  const std::string before = snapshot();
  auto r = get(kV + "/servers/" + id, bob_);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(json::parse(r->body)["itemNotFound"]["code"], 404);
  EXPECT_EQ(del(kV + "/servers/" + id, bob_)->status, 404);
  EXPECT_EQ(post(kV + "/servers/" + id + "/action", bob_, R"({"os-stop": null})")->status, 404);
  EXPECT_EQ(del(kV + "/servers/" + id, rita_)->status, 403);  // reader of the right project
  EXPECT_EQ(del(kV + "/servers/" + id, "")->status, 401);
  EXPECT_EQ(del(kV + "/servers/00000000-0000-0000-0000-000000000000", alice_)->status, 404);
  EXPECT_EQ(snapshot(), before);
}

TEST_F(ComputeTest, InvalidCreatesAre400AndCreateNothing) {
  seed_aggregates();
  const std::string before = snapshot();
  const std::string path = kV + "/servers";
  auto bad = [&](const std::string& body, const std::string& needle, int status = 400) {
    auto r = post(path, alice_, body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << body << " -> " << r->body;
    EXPECT_NE(r->body.find(needle), std::string::npos) << body << " -> " << r->body;
  };
  const std::string img = image_id_;
  bad("{not json", "Malformed request body");
  bad(R"({"server": {"name": "x", "flavorRef": "2", "imageRef": ")" + img +
          R"(", "colour": "red"}})",
      "'colour' was unexpected");
  bad(R"({"server": {"flavorRef": "2", "imageRef": ")" + img + R"("}})", "'name' is a required");
  bad(R"({"server": {"name": "x", "flavorRef": "99", "imageRef": ")" + img + R"("}})",
      "Flavor 99 could not be found.");
  bad(R"({"server": {"name": "x", "flavorRef": "2", "imageRef": "nope"}})",
      "Image nope could not be found.");
  bad(R"({"server": {"name": "x", "flavorRef": "1", "imageRef": ")" + img + R"("}})",
      "smaller than the image's min_disk");  // m1.tiny: 1 GB disk < the image's 15
  bad(R"({"server": {"name": "x", "flavorRef": "2", "imageRef": ")" + img +
          R"(", "availability_zone": "Atlantis"}})",
      "availability zone is not available");
  bad(R"({"server": {"name": "x", "flavorRef": "2", "imageRef": ")" + img +
          R"(", "user_data": "***"}})",
      "valid base 64");
  bad(R"({"server": {"name": "x", "flavorRef": "2", "imageRef": ")" + img +
          R"(", "key_name": "nokey"}})",
      "Invalid key_name");
  bad(R"({"server": {"name": "x", "flavorRef": "2", "imageRef": ")" + img +
          R"(", "min_count": 3, "max_count": 2}})",
      "min_count");
  auto r = post(path, rita_,
                R"({"server": {"name": "x", "flavorRef": "2", "imageRef": ")" + img + R"("}})");
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(post(path, "", "{}")->status, 401);
  EXPECT_EQ(snapshot(), before);
}

TEST_F(ComputeTest, VideoRamOverFlavorMaximumIsRefusedBeforeScheduling) {
  seed_aggregates();
  post_ok(kV + "/flavors/5/os-extra_specs", admin_,
          {{"extra_specs", {{"hw_video:ram_max_mb", "4"}}}});
  const std::string before = snapshot();
  auto r =
      post(kV + "/servers", alice_,
           json{{"server", {{"name", "x"}, {"flavorRef", "5"}, {"imageRef", image_id_}}}}.dump());
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("video"), std::string::npos) << r->body;
  EXPECT_EQ(snapshot(), before);
}

TEST_F(ComputeTest, MultiCreateMetadataUserDataAndConfigDrive) {
  seed_aggregates();
  json body = {{"server",
                {{"name", "multi"},
                 {"flavorRef", "2"},
                 {"imageRef", plain_image_id_},
                 {"min_count", 2},
                 {"max_count", 2},
                 {"metadata", {{"role", "test"}}},
                 {"user_data", "IyFjbG91ZC1jb25maWc="},
                 {"config_drive", true},
                 {"availability_zone", "Denver"}}}};
  post_ok(kV + "/servers", alice_, body, 202);
  json list = get_json(kV + "/servers/detail", alice_)["servers"];
  ASSERT_EQ(list.size(), 2u);
  for (const auto& s : list) {
    EXPECT_EQ(s["metadata"]["role"], "test");
    EXPECT_EQ(s["config_drive"], "True");
    EXPECT_EQ(wait_built(s["id"], alice_)["status"], "ACTIVE");
  }
  auto inst = store_->get_instance(list[0]["id"]);
  EXPECT_EQ(inst->user_data, "IyFjbG91ZC1jb25maWc=");
}

TEST_F(ComputeTest, SpawnFailureReleasesClaimsAndRecordsFault) {
  // A driver whose only GPU host fails every spawn.
  seed_aggregates();
  auto failing = compute::make_fake_driver(R"({"hosts": [{"name": "vmhost3", "vcpus": 8,
      "memory_mb": 65536, "disk_gb": 500, "fail_spawn": true,
      "pci_devices": [{"address": "0000:06:00.0", "vendor_id": "10de", "product_id": "11bf"}]}]})");
  ASSERT_TRUE(failing.ok());
  server_.reset();
  ServerDeps deps;
  deps.store = store_.get();
  auto ini = config::IniFile::load(kSeedDir + "/nova.conf");
  deps.nova_config = std::make_shared<config::NovaConfig>(config::load_nova_config({*ini}));
  deps.driver = failing->get();
  auto server = ApiServer::create(deps, {});
  ASSERT_TRUE(server.ok());
  server_ = std::move(*server);
  ASSERT_TRUE(server_->start().ok());
  client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  const std::string id = boot(alice_, "doomed", "4");
  json s = wait_built(id, admin_);
  ASSERT_EQ(s["status"], "ERROR");
  EXPECT_NE(s["fault"]["message"].get<std::string>().find("configured to fail"), std::string::npos);
  EXPECT_EQ(devices("claimed"), 0);
  EXPECT_EQ(devices("allocated"), 0);
  EXPECT_EQ(store_->get_compute_host("vmhost3")->vcpus_used, 0);
  server_.reset();
}

TEST_F(ComputeTest, MetricsCountGpusPerAliasAndHostAndSchedulingFailures) {
  seed_aggregates();
  ASSERT_EQ(wait_built(boot(alice_, "g", "4"), alice_)["status"], "ACTIVE");
  EXPECT_EQ(wait_built(boot(alice_, "x", "4", "nova"), alice_)["status"], "ERROR");
  auto r = get("/metrics", admin_);
  ASSERT_EQ(r->status, 200);
  const std::string& m = r->body;
  EXPECT_NE(m.find("gpucloud_gpus{alias=\"K2_Grid\",state=\"allocated\"} 1\n"), std::string::npos)
      << m;
  EXPECT_NE(m.find("gpucloud_gpus{alias=\"K2_Grid\",state=\"free\"} 3\n"), std::string::npos);
  EXPECT_NE(
      m.find("gpucloud_host_gpus{alias=\"K2_Grid\",host=\"vmhost3\",state=\"allocated\"} 1\n"),
      std::string::npos);
  EXPECT_NE(m.find("gpucloud_scheduling_attempts_total 2\n"), std::string::npos);
  EXPECT_NE(m.find("gpucloud_scheduling_failures_total 1\n"), std::string::npos);
  EXPECT_NE(m.find("# TYPE gpucloud_claims_retried_total counter"), std::string::npos);
}

}  // namespace
}  // namespace gpucloud::api::testing

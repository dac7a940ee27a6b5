// The rebuild action: the guest made again from an image on the same host, with the same GPUs
// and address; a stopped server stays stopped; what a rebuild may not do is refused.
#include <gmock/gmock.h>

#include "compute_fixture.h"

namespace gpucloud::api::testing {
namespace {

class RebuildTest : public ComputeTest {
 protected:
  httplib::Result action(const std::string& id, const std::string& token, const json& body,
                         const std::string& v = "2.1") {
    return client_->Post((kV + "/servers/" + id + "/action").c_str(),
                         {{"X-Auth-Token", token}, {"OpenStack-API-Version", "compute " + v}},
                         body.dump(), "application/json");
  }
  // A second active image, as the plain one.
  std::string other_image(const std::map<std::string, std::string>& properties = {}) {
    store::Image img;
    img.properties = properties;
    img.id = new_uuid();
    img.name = "other";
    img.owner = admin_project_;
    img.status = store::ImageStatus::kActive;
    img.visibility = store::ImageVisibility::kPublic;
    img.disk_format = "raw";
    img.container_format = "bare";
    img.size = 1 << 20;
    img.created_at = img.updated_at = std::chrono::system_clock::now();
    EXPECT_TRUE(store_->create_image(img).ok());
    return img.id;
  }
  // Polls until the rebuild's task_state is gone; the server as then shown.
  json wait_rebuilt(const std::string& id) {
    for (int i = 0; i < 2000; ++i) {
      json s = get_json(kV + "/servers/" + id, admin_)["server"];
      if (s["OS-EXT-STS:task_state"].is_null()) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "server " << id << " kept rebuilding";
    return json();
  }
};

TEST_F(RebuildTest, GpuServerIsRebuiltOnItsHostWithItsDevicesAndAddress) {
  seed_aggregates();
  const std::string id = boot(alice_, "gpu", "4");
  json before = wait_built(id, admin_);
  ASSERT_EQ(before["status"], "ACTIVE") << before.dump();
  auto devices_before = store_->list_pci_devices({std::nullopt, id, std::nullopt});
  ASSERT_TRUE(devices_before.ok());
  ASSERT_EQ(devices_before->size(), 1u);
  const std::string image = image_id_;  // GPU flavors boot the seed's image; rebuild onto it again

  auto r = action(id, alice_,
                  {{"rebuild",
                    {{"imageRef", image},
                     {"name", "gpu-rebuilt"},
                     {"metadata", {{"rebuild", "server"}}},
                     {"adminPass", "rebuildPassw0rd"}}}});
  ASSERT_TRUE(r && r->status == 202) << (r ? r->body : "");
  json answer = json::parse(r->body)["server"];
  EXPECT_EQ(answer["id"], id);
  EXPECT_EQ(answer["adminPass"], "rebuildPassw0rd");
  EXPECT_EQ(answer["image"]["id"], image);

  json after = wait_rebuilt(id);
  EXPECT_EQ(after["status"], "ACTIVE");
  EXPECT_EQ(after["name"], "gpu-rebuilt");
  EXPECT_EQ(after["metadata"], json({{"rebuild", "server"}}));
  EXPECT_EQ(after["OS-EXT-SRV-ATTR:host"], before["OS-EXT-SRV-ATTR:host"]);
  EXPECT_EQ(after["addresses"], before["addresses"]);
  auto devices_after = store_->list_pci_devices({std::nullopt, id, std::nullopt});
  ASSERT_TRUE(devices_after.ok());
  ASSERT_EQ(devices_after->size(), 1u);
  EXPECT_EQ(devices_after->front().address, devices_before->front().address);
  EXPECT_EQ(store::to_string(devices_after->front().status), std::string("allocated"));
  EXPECT_EQ(devices("cleaning"), 0);  // the GPU never went back to the pool
  auto domains = driver_->list_domains(after["OS-EXT-SRV-ATTR:host"]);
  ASSERT_TRUE(domains.ok());
  EXPECT_EQ(domains->size(), 1u);
  // Recorded as nova's "rebuild" instance action.
  json actions =
      get_json(kV + "/servers/" + id + "/os-instance-actions", alice_)["instanceActions"];
  ASSERT_FALSE(actions.empty());
  EXPECT_EQ(actions[0]["action"], "rebuild");
}

TEST_F(RebuildTest, NewImageIsTakenAndAStoppedServerStaysStopped) {
  seed_aggregates();
  const std::string id = boot(alice_, "plain", "1");
  ASSERT_EQ(wait_built(id, admin_)["status"], "ACTIVE");
  ASSERT_EQ(action(id, alice_, {{"os-stop", nullptr}})->status, 202);
  ASSERT_EQ(wait_idle(id, alice_)["status"], "SHUTOFF");
  const std::string image = other_image();
  auto r = action(id, alice_, {{"rebuild", {{"imageRef", kV + "/images/" + image}}}});
  ASSERT_TRUE(r && r->status == 202) << (r ? r->body : "");
  EXPECT_EQ(json::parse(r->body)["server"]["adminPass"].get<std::string>().size(), 12u);
  json after = wait_rebuilt(id);
  EXPECT_EQ(after["status"], "SHUTOFF");
  EXPECT_EQ(after["image"]["id"], image);
  EXPECT_EQ(store_->get_instance(id)->image_id, image);
  auto domains = driver_->list_domains(after["OS-EXT-SRV-ATTR:host"]);
  ASSERT_TRUE(domains.ok());
  ASSERT_EQ(domains->size(), 1u);
  EXPECT_EQ(domains->front().power, store::PowerState::kShutdown);
}

TEST_F(RebuildTest, WhatARebuildMayNotDoIsRefusedAndChangesNothing) {
  seed_aggregates();
  const std::string id = boot(alice_, "plain", "1");
  ASSERT_EQ(wait_built(id, admin_)["status"], "ACTIVE");
  const std::string before = snapshot();
  auto status = [&](const std::string& token, const json& args, const std::string& v = "2.1") {
    auto r = action(id, token, {{"rebuild", args}}, v);
    return r ? r->status : -1;
  };
  EXPECT_EQ(status(alice_, json::object()), 400);                             // no imageRef
  EXPECT_EQ(status(alice_, {{"imageRef", new_uuid()}}), 400);                 // no such image
  EXPECT_EQ(status(alice_, {{"imageRef", plain_image_id_}, {"x", 1}}), 400);  // unknown field
  EXPECT_EQ(status(alice_, {{"imageRef", plain_image_id_}, {"key_name", "k"}}, "2.53"), 400);
  EXPECT_EQ(status(alice_, {{"imageRef", plain_image_id_}, {"key_name", "nokey"}}, "2.54"), 400);
  EXPECT_EQ(status(alice_, {{"imageRef", plain_image_id_}, {"user_data", "!!"}}, "2.57"), 400);
  EXPECT_EQ(status(alice_, {{"imageRef", plain_image_id_}, {"accessIPv4", "1.2.3"}}), 400);
  // The seed's image wants 15 GB of disk: flavor 1 (1 GB) cannot take it.
  EXPECT_EQ(status(alice_, {{"imageRef", image_id_}}), 400);
  EXPECT_EQ(status(bob_, {{"imageRef", plain_image_id_}}), 404);   // another project's server
  EXPECT_EQ(status(rita_, {{"imageRef", plain_image_id_}}), 403);  // a reader
  // Locked by its owner: 409 for the owner's rebuild too (nova).
  ASSERT_EQ(action(id, alice_, {{"lock", nullptr}})->status, 202);
  EXPECT_EQ(status(alice_, {{"imageRef", plain_image_id_}}), 409);
  EXPECT_EQ(snapshot(), before);
}

// An agent host that stopped reporting cannot destroy the old guest: 409, nothing changes.
// A new image is judged on the server's host by the filters nova runs on a rebuild
// (ImagePropertiesFilter, enabled by the seed): an arm64 image on an x86_64 host is refused at
// once, and nothing changes; so is more metadata than the quota allows.
TEST_F(RebuildTest, NewImageThatDoesNotSuitTheHostIsRefused) {
  seed_aggregates();
  const std::string id = boot(alice_, "plain", "1");
  ASSERT_EQ(wait_built(id, admin_)["status"], "ACTIVE");
  const std::string arm = other_image({{"hw_architecture", "aarch64"}});
  const std::string before = snapshot();
  auto r = action(id, alice_, {{"rebuild", {{"imageRef", arm}}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("ImagePropertiesFilter"), std::string::npos) << r->body;
  EXPECT_EQ(snapshot(), before);
  // More metadata than the project's metadata_items quota: 403, as at create.
  const std::string demo = store_->find_project_by_name("demo", "default")->id;
  auto q = put(kV + "/os-quota-sets/" + demo, admin_,
               json{{"quota_set", {{"metadata_items", 1}}}}.dump());
  ASSERT_TRUE(q && q->status == 200) << (q ? q->body : "");
  r = action(
      id, alice_,
      {{"rebuild", {{"imageRef", plain_image_id_}, {"metadata", {{"a", "1"}, {"b", "2"}}}}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403) << r->body;
  EXPECT_EQ(snapshot(), before);
  // An image that names x86_64 is fine.
  r = action(id, alice_,
             {{"rebuild", {{"imageRef", other_image({{"hw_architecture", "x86_64"}})}}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202) << r->body;
  EXPECT_EQ(wait_rebuilt(id)["status"], "ACTIVE");
}

TEST_F(RebuildTest, ServerOnAHostThatIsDownIsNotRebuilt) {
  store::ComputeHost host;
  host.name = "silent";
  host.vcpus = 8;
  host.memory_mb = 16384;
  host.disk_gb = 100;
  ASSERT_TRUE(store_->upsert_compute_host(host).ok());
  ASSERT_TRUE(
      store_->record_heartbeat("silent", std::chrono::system_clock::now() - std::chrono::hours(1))
          .ok());
  store::Instance i;
  i.uuid = new_uuid();
  i.name = "stranded";
  i.project_id = store_->find_project_by_name("demo", "default")->id;
  i.user_id = "u";
  i.flavor_id = "1";
  i.image_id = plain_image_id_;
  i.host = "silent";
  i.status = store::ServerStatus::kActive;
  i.vm_state = "active";
  i.task_state.reset();
  ASSERT_TRUE(store_->create_instance(i).ok());
  const std::string before = snapshot();
  auto r = action(i.uuid, alice_, {{"rebuild", {{"imageRef", plain_image_id_}}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409) << r->body;
  EXPECT_NE(r->body.find("is down"), std::string::npos) << r->body;
  EXPECT_EQ(snapshot(), before);
  EXPECT_FALSE(store_->get_instance(i.uuid)->task_state.has_value());
}

// The guest gets the key pair as it was at boot (nova's key_data): deleting the pair later changes
// nothing; a 2.54 rebuild with another key gives the guest that one, and with null none.
TEST_F(RebuildTest, GuestKeyIsTakenAtBootAndChangedOnlyByARebuild) {
  seed_aggregates();
  const std::string lab =
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb3x1NhvGJfK1QyHk2zWfE3R0sXyYq1m1cQyQw2bY3t alice@lab";
  const std::string home =
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL8r0bY7dWq9yW3xkF2nH6sJ1aP4vT5cE8mQ0gZ7uR2h alice@home";
  post_ok(kV + "/os-keypairs", alice_, {{"keypair", {{"name", "lab"}, {"public_key", lab}}}});
  post_ok(kV + "/os-keypairs", alice_, {{"keypair", {{"name", "home"}, {"public_key", home}}}});
  json s = post_ok(kV + "/servers", alice_,
                   {{"server",
                     {{"name", "keyed"},
                      {"flavorRef", "1"},
                      {"imageRef", plain_image_id_},
                      {"key_name", "lab"}}}},
                   202);
  const std::string id = s["server"]["id"];
  auto key_data = [&] {
    auto v = store_->system_metadata(id, "key_data");
    return v.ok() && *v ? **v : std::string("<none>");
  };
  ASSERT_EQ(wait_built(id, admin_)["status"], "ACTIVE");
  EXPECT_EQ(key_data(), lab);

  ASSERT_EQ(del(kV + "/os-keypairs/lab", alice_)->status, 202);
  EXPECT_EQ(key_data(), lab);
  EXPECT_EQ(get_json(kV + "/servers/" + id, alice_)["server"]["key_name"], "lab");

  auto r = action(id, alice_, {{"rebuild", {{"imageRef", plain_image_id_}, {"key_name", "home"}}}},
                  "2.54");
  ASSERT_TRUE(r && r->status == 202) << (r ? r->body : "");
  json after = wait_rebuilt(id);
  EXPECT_EQ(after["status"], "ACTIVE");
  EXPECT_EQ(key_data(), home);

  r = action(id, alice_, {{"rebuild", {{"imageRef", plain_image_id_}, {"key_name", nullptr}}}},
             "2.54");
  ASSERT_TRUE(r && r->status == 202) << (r ? r->body : "");
  after = wait_rebuilt(id);
  EXPECT_EQ(key_data(), "");
  EXPECT_TRUE(after["key_name"].is_null()) << after.dump();
}

}  // namespace
}  // namespace gpucloud::api::testing

// The seed's cloud for the Compute API tests: the seed's nova.conf (alias K2_Grid, its filters),
// the fake driver with examples/seed/fake_hosts.json (vmhost1-2 without GPUs, vmhost3 with four
// K2 GPUs), flavors 1-5 and an active image with the seed's properties. Aggregates are created
// through the API by seed_aggregates(), as the seed's `nova` commands do.
#pragma once

#include <chrono>
#include <fstream>
#include <functional>
#include <thread>

#include "api/router_impl.h"  // new_uuid, kMaxComputeMinor
#include "api_fixture.h"
#include "compute/compute.h"

namespace gpucloud::api::testing {

inline const std::string kSeedDir = std::string(GPUCLOUD_TEST_DATA) + "/../../examples/seed";
inline const std::string kV = "/compute/v2.1";
inline const std::string kAgentHosts = "/gpucloud/v1/agent/hosts/";

class ComputeTest : public ApiTest {
 protected:
  void customize(ServerDeps& deps, ServerOptions&) override {
    auto ini = config::IniFile::load(kSeedDir + "/nova.conf");
    ASSERT_TRUE(ini.ok()) << ini.error().message;
    auto cfg = config::load_nova_config({*ini});
    ASSERT_FALSE(cfg.has_errors());
    deps.nova_config = std::make_shared<config::NovaConfig>(cfg);
    auto driver = compute::load_fake_driver(kSeedDir + "/fake_hosts.json");
    ASSERT_TRUE(driver.ok()) << driver.error().message;
    driver_ = std::move(*driver);
    ASSERT_TRUE(compute::register_hosts(*driver_, *store_, {}).ok());
    deps.driver = driver_.get();
    const std::vector<std::tuple<const char*, const char*, int, int, int>> flavors = {
        {"1", "m1.tiny", 512, 1, 1},
        {"2", "m1.small", 2048, 1, 20},
        {"3", "m1.medium", 4096, 2, 40},
        {"4", "m1.large", 8192, 4, 80},
        {"5", "m1.xlarge", 16384, 8, 160}};
    for (const auto& [id, name, ram, vcpus, disk] : flavors) {
      store::Flavor f;
      f.id = id;
      f.name = name;
      f.memory_mb = ram;
      f.vcpus = vcpus;
      f.root_gb = disk;
      ASSERT_TRUE(store_->create_flavor(f).ok());
    }
    store::Image img;
    img.id = new_uuid();
    img.name = "my_new_image";
    img.owner = admin_project_;
    img.status = store::ImageStatus::kActive;
    img.visibility = store::ImageVisibility::kPublic;
    img.disk_format = "raw";
    img.container_format = "bare";
    img.size = 1 << 20;
    img.min_disk = 15;
    img.min_ram = 512;
    img.properties = {{"image_type", "loginnode"},
                      {"hw_video_model", "qxl"},
                      {"hw_video_ram", "8"},
                      {"configure_x", "true"}};
    img.created_at = img.updated_at = std::chrono::system_clock::now();
    ASSERT_TRUE(store_->create_image(img).ok());
    image_id_ = img.id;
    // The seed image asks for 8 MB of video RAM, which only flavors with hw_video:ram_max_mb
    // allow (nova's libvirt driver); non-GPU flavors boot this plain one.
    img.id = new_uuid();
    img.name = "plain";
    img.properties.clear();
    img.min_disk = 0;
    img.min_ram = 0;
    ASSERT_TRUE(store_->create_image(img).ok());
    plain_image_id_ = img.id;
  }

  // Replaces the seed's fake hosts by a copy whose vmhost3 `edit` changed (cleaning failures,
  // topology tags...), registered as an agent's report would be. Call from customize().
  void use_edited_vmhost3(ServerDeps& deps, const std::function<void(json&)>& edit) {
    std::ifstream in(kSeedDir + "/fake_hosts.json");
    json hosts = json::parse(in);
    for (auto& h : hosts["hosts"]) {
      if (h["name"] == "vmhost3") edit(h);
    }
    auto driver = compute::make_fake_driver(hosts.dump());
    ASSERT_TRUE(driver.ok()) << driver.error().message;
    driver_ = std::move(*driver);
    ASSERT_TRUE(compute::register_hosts(*driver_, *store_, {}).ok());
    deps.driver = driver_.get();
  }

  void SetUp() override {
    ApiTest::SetUp();
    if (HasFatalFailure()) return;
    admin_ = login("admin", "admin-secret", "admin");
    alice_ = login("alice", "alice-secret", "demo");
    rita_ = login("rita", "rita-secret", "demo");
    bob_ = login("bob", "bob-secret", "other");
    ASSERT_FALSE(admin_.empty() || alice_.empty() || rita_.empty() || bob_.empty());
  }

  httplib::Result put(const std::string& path, const std::string& token, const std::string& body) {
    return client_->Put(path.c_str(), {{"X-Auth-Token", token}}, body, "application/json");
  }
  httplib::Result del(const std::string& path, const std::string& token) {
    return client_->Delete(path.c_str(), {{"X-Auth-Token", token}});
  }
  // GET / PUT at a compute microversion ("2.53", "latest").
  httplib::Result vget(const std::string& path, const std::string& token, const std::string& v) {
    return client_->Get(path.c_str(),
                        {{"X-Auth-Token", token}, {"OpenStack-API-Version", "compute " + v}});
  }
  httplib::Result vput(const std::string& path, const std::string& token, const std::string& v,
                       const json& body) {
    return client_->Put(path.c_str(),
                        {{"X-Auth-Token", token}, {"OpenStack-API-Version", "compute " + v}},
                        body.dump(), "application/json");
  }
  json get_json(const std::string& path, const std::string& token) {
    auto r = get(path, token);
    EXPECT_TRUE(r && r->status == 200) << path << ": " << (r ? r->body : "no response");
    return r && r->status == 200 ? json::parse(r->body) : json();
  }
  // POST with a JSON body; asserts the status and returns the parsed body (null when empty).
  json post_ok(const std::string& path, const std::string& token, const json& body,
               int status = 200) {
    auto r = post(path, token, body.dump());
    EXPECT_TRUE(r && r->status == status) << path << " " << body.dump() << ": "
                                          << (r ? std::to_string(r->status) + " " + r->body : "");
    return r && !r->body.empty() ? json::parse(r->body, nullptr, false) : json();
  }

  // The seed's aggregates: aggregate_Denver, GPU (gpu=true, vmhost3), nonGPU (gpu=false,
  // vmhost1-2), all in Denver; flavors 1-3 gpu=false, 4-5 gpu=true + one K2_Grid.
  void seed_aggregates() {
    post_ok(kV + "/os-aggregates", admin_,
            {{"aggregate", {{"name", "aggregate_Denver"}, {"availability_zone", "Denver"}}}});
    auto gpu = post_ok(kV + "/os-aggregates", admin_,
                       {{"aggregate", {{"name", "GPU"}, {"availability_zone", "Denver"}}}});
    auto non = post_ok(kV + "/os-aggregates", admin_,
                       {{"aggregate", {{"name", "nonGPU"}, {"availability_zone", "Denver"}}}});
    const std::string g = std::to_string(gpu["aggregate"]["id"].get<int64_t>());
    const std::string n = std::to_string(non["aggregate"]["id"].get<int64_t>());
    post_ok(kV + "/os-aggregates/" + g + "/action", admin_,
            {{"set_metadata", {{"metadata", {{"gpu", "true"}}}}}});
    post_ok(kV + "/os-aggregates/" + n + "/action", admin_,
            {{"set_metadata", {{"metadata", {{"gpu", "false"}}}}}});
    post_ok(kV + "/os-aggregates/" + n + "/action", admin_, {{"add_host", {{"host", "vmhost1"}}}});
    post_ok(kV + "/os-aggregates/" + n + "/action", admin_, {{"add_host", {{"host", "vmhost2"}}}});
    post_ok(kV + "/os-aggregates/" + g + "/action", admin_, {{"add_host", {{"host", "vmhost3"}}}});
    for (const char* id : {"1", "2", "3"}) {
      post_ok(kV + "/flavors/" + id + "/os-extra_specs", admin_,
              {{"extra_specs", {{"gpu", "false"}}}});
    }
    for (const char* id : {"4", "5"}) {
      post_ok(kV + "/flavors/" + id + "/os-extra_specs", admin_,
              {{"extra_specs",
                {{"gpu", "true"},
                 {"hw_video:ram_max_mb", "64"},
                 {"pci_passthrough:alias", "K2_Grid:1"}}}});
    }
  }

  // POST /servers; returns the id ("" on failure).
  std::string boot(const std::string& token, const std::string& name, const std::string& flavor,
                   const std::string& az = "Denver") {
    const bool gpu = flavor == "4" || flavor == "5";
    json s = {
        {"name", name}, {"flavorRef", flavor}, {"imageRef", gpu ? image_id_ : plain_image_id_}};
    if (!az.empty()) s["availability_zone"] = az;
    auto r = post(kV + "/servers", token, json{{"server", s}}.dump());
    EXPECT_TRUE(r && r->status == 202) << (r ? r->body : "no response");
    return r && r->status == 202 ? json::parse(r->body)["server"]["id"].get<std::string>() : "";
  }

  // Polls until the server leaves BUILD (the boot worker runs in the background).
  json wait_built(const std::string& id, const std::string& token) {
    for (int i = 0; i < 2000; ++i) {
      auto r = get(kV + "/servers/" + id, token);
      if (r && r->status == 200) {
        json s = json::parse(r->body)["server"];
        if (s["status"] != "BUILD") return s;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "server " << id << " stayed in BUILD";
    return json();
  }

  // A server of `owner` ACTIVE on the agent's host kvm1 (registered here with `agent`'s token;
  // the seed's hosts disabled), its spawn task taken and answered as the agent would, without
  // an address.
  std::string active_on_agent_host(const std::string& agent, const std::string& owner,
                                   const std::string& name) {
    for (const char* h : {"vmhost1", "vmhost2", "vmhost3"}) {
      put(kV + "/os-services/disable", admin_,
          json{{"host", h}, {"binary", "nova-compute"}}.dump());
    }
    json host = {{"host", {{"vcpus", 16}, {"memory_mb", 65536}, {"disk_gb", 500}}}};
    EXPECT_EQ(put(kAgentHosts + "kvm1", agent, host.dump())->status, 200);
    const std::string id = boot(owner, name, "2", "");
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(std::chrono::seconds(30));
    auto r = c.Get((kAgentHosts + "kvm1/tasks?wait=10").c_str(), {{"X-Auth-Token", agent}});
    EXPECT_TRUE(r && r->status == 200);
    if (!r || r->status != 200) return id;
    json task = json::parse(r->body)["tasks"][0];
    EXPECT_EQ(post(kAgentHosts + "kvm1/tasks/" + task["id"].get<std::string>(), agent,
                   R"({"result": {"succeeded": true}})")
                  ->status,
              204);
    EXPECT_EQ(wait_built(id, owner)["status"], "ACTIVE");
    return id;
  }

  // Waits until the server has no task in flight (a stop, start or reboot finished: the
  // conductor carries them out after the 202).
  json wait_idle(const std::string& id, const std::string& token) {
    for (int i = 0; i < 2000; ++i) {
      auto r = get(kV + "/servers/" + id, token);
      if (r && r->status == 200) {
        json s = json::parse(r->body)["server"];
        if (s["OS-EXT-STS:task_state"].is_null()) return s;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "server " << id << " kept a task_state";
    return json();
  }

  // Every row the compute API may change, for "nothing changed" assertions.
  std::string snapshot() {
    json all;
    auto flavors = store_->list_flavors();
    for (const auto& f : *flavors) {
      all["flavors"].push_back(
          {f.id, f.name, f.memory_mb, f.vcpus, f.root_gb, f.is_public, f.extra_specs});
      all["access"][f.id] = *store_->list_flavor_access(f.id);
    }
    auto rows1 = store_->list_aggregates();
    for (const auto& a : *rows1) {
      all["aggregates"].push_back(
          {a.id, a.name, a.availability_zone.value_or("-"), a.metadata, a.hosts});
    }
    auto rows2 = store_->list_instances("", true);
    for (const auto& i : *rows2) {
      all["instances"].push_back(
          {i.uuid, i.name, store::to_string(i.status), i.host.value_or("-")});
    }
    auto rows3 = store_->list_pci_devices({});
    for (const auto& d : *rows3) {
      all["devices"].push_back(
          {d.address.to_string(), store::to_string(d.status), d.instance_uuid.value_or("-")});
    }
    auto rows4 = store_->list_compute_hosts();
    for (const auto& h : *rows4) {
      all["hosts"].push_back({h.name, h.enabled, h.vcpus_used, h.memory_mb_used});
    }
    return all.dump();
  }

  // Devices of a host by status.
  int devices(const std::string& status, const std::string& instance = "") {
    int n = 0;
    auto rows5 = store_->list_pci_devices({});
    for (const auto& d : *rows5) {
      if (store::to_string(d.status) == status && (instance.empty() || d.instance_uuid == instance))
        ++n;
    }
    return n;
  }

  std::unique_ptr<compute::ComputeDriver> driver_;
  std::string image_id_;        // the seed's image (hw_video_ram=8, min_disk 15)
  std::string plain_image_id_;  // no properties
  std::string admin_, alice_, rita_, bob_;
};

}  // namespace gpucloud::api::testing

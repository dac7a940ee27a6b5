// The agents' API (/gpucloud/v1/agent/...): who may call it, how bad reports are refused, and a
// boot whose spawn travels through the task queue to a (test-driven) agent and back.
#include "compute_fixture.h"

namespace gpucloud::api::testing {
namespace {

const std::string kHosts = "/gpucloud/v1/agent/hosts/";

class AgentApiTest : public ComputeTest {
 protected:
  void customize(ServerDeps& deps, ServerOptions& options) override {
    ComputeTest::customize(deps, options);
    if (::testing::Test::HasFatalFailure()) return;
    // The seed's fake hosts stay in-process (deps.driver); any other host is an agent's.
    ASSERT_TRUE(ensure_user(*store_, "service", "nova-agent", "agent-secret", "service").ok());
  }
  void SetUp() override {
    ComputeTest::SetUp();
    if (HasFatalFailure()) return;
    agent_ = login("nova-agent", "agent-secret", "service");
    ASSERT_FALSE(agent_.empty());
  }

  json host_body(const std::string& doctor = "ok: ready") {
    return {{"host",
             {{"vcpus", 16},
              {"memory_mb", 65536},
              {"disk_gb", 500},
              {"doctor_status", doctor},
              {"pci_devices",
               {{{"address", "0000:81:00.0"}, {"vendor_id", "10de"}, {"product_id", "11bf"}}}}}}};
  }

  // The agent's side: long-polls for one task, on a client of its own (httplib clients are not
  // shared between threads).
  json take_one(const std::string& host) {
    httplib::Client c("127.0.0.1", server_->port());
    // Longer than the poll's own wait: httplib's default (5 s) gave up on a slow conductor
    // (seen under ASan on a loaded machine) before the server answered.
    c.set_read_timeout(std::chrono::seconds(20));
    auto r = c.Get((kHosts + host + "/tasks?wait=10").c_str(), {{"X-Auth-Token", agent_}});
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no response");
    json tasks = r && r->status == 200 ? json::parse(r->body)["tasks"] : json::array();
    EXPECT_EQ(tasks.size(), 1u) << tasks.dump();
    return tasks.empty() ? json() : tasks[0];
  }
  void disable_seed_hosts() {
    for (const char* h : {"vmhost1", "vmhost2", "vmhost3"}) {
      auto r = put(kV + "/os-services/disable", admin_,
                   json{{"host", h}, {"binary", "nova-compute"}}.dump());
      ASSERT_TRUE(r && r->status == 200);
    }
  }

  std::string agent_;
};

TEST_F(AgentApiTest, OnlyAdminAndServiceRolesMayActAsAgents) {
  auto r = client_->Put((kHosts + "kvm1").c_str(), {{"X-Auth-Token", alice_}}, host_body().dump(),
                        "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403) << r->body;
  r = client_->Put((kHosts + "kvm1").c_str(), {{"X-Auth-Token", agent_}}, host_body().dump(),
                   "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  r = client_->Put((kHosts + "kvm2").c_str(), {{"X-Auth-Token", admin_}}, host_body().dump(),
                   "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  // The service role reaches nothing of the projects' API, and only admins read the reports.
  EXPECT_EQ(get(kV + "/servers", agent_)->status, 403);
  EXPECT_EQ(get("/gpucloud/v1/agent/reports", agent_)->status, 403);
  EXPECT_EQ(get("/gpucloud/v1/agent/reports", alice_)->status, 403);
  EXPECT_EQ(get("/gpucloud/v1/agent/reports", admin_)->status, 200);
}

TEST_F(AgentApiTest, BadReportsNameTheField) {
  const std::vector<std::pair<json, std::string>> cases = {
      {json{{"hots", json::object()}}, "host"},
      {json{{"host", {{"vcpus", "many"}, {"memory_mb", 1}, {"disk_gb", 1}}}}, "host.vcpus"},
      {json{{"host", {{"vcpus", 1}, {"disk_gb", 1}}}}, "host.memory_mb"},
      {json{{"host",
             {{"vcpus", 1},
              {"memory_mb", 1},
              {"disk_gb", 1},
              {"pci_devices",
               {{{"address", "0000:zz:00.0"}, {"vendor_id", "10de"}, {"product_id", "11bf"}}}}}}},
       "host.pci_devices[0].address"},
      {json{{"host", {{"vcpus", 1}, {"memory_mb", 1}, {"disk_gb", 1}, {"doctor_status", 3}}}},
       "host.doctor_status"},
      {json{{"host", {{"name", "other"}, {"vcpus", 1}, {"memory_mb", 1}, {"disk_gb", 1}}}},
       "host.name"},
  };
  for (const auto& [body, field] : cases) {
    auto r = client_->Put((kHosts + "kvm1").c_str(), {{"X-Auth-Token", agent_}}, body.dump(),
                          "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << body.dump();
    EXPECT_NE(r->body.find(field), std::string::npos) << r->body;
  }
  auto r = client_->Put((kHosts + "kvm1").c_str(), {{"X-Auth-Token", agent_}}, "{not json",
                        "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_FALSE(store_->get_compute_host("kvm1").ok());
}

TEST_F(AgentApiTest, RegisteredHostIsUpWithItsDevicesAndDoctor) {
  ASSERT_EQ(put(kHosts + "kvm1", agent_, host_body("fail: no IOMMU").dump())->status, 200);
  auto host = store_->get_compute_host("kvm1");
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(host->vcpus, 16);
  EXPECT_EQ(host->doctor_status, "fail: no IOMMU");
  store::PciDeviceFilter f;
  f.compute_node_id = host->id;
  EXPECT_EQ(store_->list_pci_devices(f)->size(), 1u);
  json hv = get_json(kV + "/os-services?host=kvm1", admin_);
  ASSERT_EQ(hv["services"].size(), 1u);
  EXPECT_EQ(hv["services"][0]["state"], "up");
  EXPECT_EQ(post(kHosts + "kvm1/heartbeat", agent_, "{}")->status, 200);
  // An unknown host's heartbeat tells the agent to register again.
  EXPECT_EQ(post(kHosts + "nohost/heartbeat", agent_, "{}")->status, 404);
  // A host whose heartbeat is older than service_down_time (60 s by default) is down.
  ASSERT_TRUE(
      store_->record_heartbeat("kvm1", std::chrono::system_clock::now() - std::chrono::seconds(61))
          .ok());
  hv = get_json(kV + "/os-services?host=kvm1", admin_);
  EXPECT_EQ(hv["services"][0]["state"], "down");
}

TEST_F(AgentApiTest, BootAndDeleteTravelThroughTheAgentsTasks) {
  disable_seed_hosts();
  ASSERT_EQ(put(kHosts + "kvm1", agent_, host_body().dump())->status, 200);
  const std::string id = boot(admin_, "vm1", "2", "");
  ASSERT_FALSE(id.empty());
  json task = take_one("kvm1");
  EXPECT_EQ(task["kind"], "spawn");
  EXPECT_EQ(task["instance_uuid"], id);
  EXPECT_EQ(task["payload"]["instance"]["host"], "kvm1");
  EXPECT_EQ(task["payload"]["flavor"]["id"], "2");
  // The agent may ask for a task's state (before a spawn that waited in its batch); only its
  // own host's.
  json shown = get_json(kHosts + "kvm1/tasks/" + task["id"].get<std::string>(), agent_);
  EXPECT_EQ(shown["task"]["state"], "running");
  EXPECT_EQ(shown["task"]["kind"], "spawn");
  EXPECT_FALSE(shown["task"].contains("payload"));
  EXPECT_EQ(get(kHosts + "kvm2/tasks/" + task["id"].get<std::string>(), agent_)->status, 404);
  EXPECT_EQ(get(kHosts + "kvm1/tasks/no-such-task", agent_)->status, 404);
  EXPECT_EQ(get(kHosts + "kvm1/tasks/" + task["id"].get<std::string>(), alice_)->status, 403);
  // A poll while the task is unanswered means the agent lost it (e.g. it restarted): the same
  // task comes again.
  json again = take_one("kvm1");
  EXPECT_EQ(again["id"], task["id"]);
  const std::string path = kHosts + "kvm1/tasks/" + task["id"].get<std::string>();
  EXPECT_EQ(post(path, agent_, R"({"result": {"succeeded": "yes"}})")->status, 400);
  EXPECT_EQ(post(path, agent_,
                 R"({"result": {"succeeded": true, "details": {"ip_address": "127.0.7.2"}}})")
                ->status,
            204);
  EXPECT_EQ(post(path, agent_, R"({"result": {"succeeded": true}})")->status, 409);
  json s = wait_built(id, admin_);
  EXPECT_EQ(s["status"], "ACTIVE");
  EXPECT_EQ(s["OS-EXT-SRV-ATTR:host"], "kvm1");
  // The address the agent reported with the spawn is the server's fixed IP.
  EXPECT_EQ(s["addresses"]["private"][0]["addr"], "127.0.7.2");

  // Delete waits for the agent's destroy; answer it from another thread.
  std::thread agent([&] {
    json t = take_one("kvm1");
    EXPECT_EQ(t["kind"], "destroy");
    ASSERT_TRUE(t.is_object());
    httplib::Client c("127.0.0.1", server_->port());
    auto r = c.Post((kHosts + "kvm1/tasks/" + t["id"].get<std::string>()).c_str(),
                    {{"X-Auth-Token", agent_}}, R"({"result": {"succeeded": true}})",
                    "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 204);
  });
  EXPECT_EQ(del(kV + "/servers/" + id, admin_)->status, 204);
  agent.join();
  // The claim goes once the agent destroyed the guest.
  for (int i = 0; i < 200 && store_->get_compute_host("kvm1")->vcpus_used != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(store_->get_compute_host("kvm1")->vcpus_used, 0);
}

// A DELETE that lands while the agent spawns wins: the spawn's success must not bring the server
// back; the boot destroys the guest it made and releases its claim.
TEST_F(AgentApiTest, DeleteDuringBootNeverResurrectsServer) {
  disable_seed_hosts();
  ASSERT_EQ(put(kHosts + "kvm1", agent_, host_body().dump())->status, 200);
  const std::string id = boot(admin_, "vm1", "2", "");
  ASSERT_FALSE(id.empty());
  json spawn = take_one("kvm1");
  ASSERT_EQ(spawn["kind"], "spawn");
  EXPECT_EQ(del(kV + "/servers/" + id, admin_)->status, 204);
  EXPECT_EQ(get(kV + "/servers/" + id, admin_)->status, 404);
  // The delete failed the spawn the agent holds: its late answer is refused (a real agent then
  // destroys the guest it made), and the boot destroys the guest as well.
  auto late = post(kHosts + "kvm1/tasks/" + spawn["id"].get<std::string>(), agent_,
                   R"({"result": {"succeeded": true}})");
  EXPECT_EQ(late->status, 409);
  EXPECT_NE(late->body.find("already finished (failed: cancelled"), std::string::npos)
      << late->body;
  json destroy = take_one("kvm1");
  EXPECT_EQ(destroy["kind"], "destroy");
  EXPECT_EQ(destroy["instance_uuid"], id);
  ASSERT_EQ(post(kHosts + "kvm1/tasks/" + destroy["id"].get<std::string>(), agent_,
                 R"({"result": {"succeeded": true}})")
                ->status,
            204);
  for (int i = 0; i < 200 && store_->get_compute_host("kvm1")->vcpus_used != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(store_->get_compute_host("kvm1")->vcpus_used, 0);
  auto inst = store_->get_instance(id);
  ASSERT_TRUE(inst.ok());
  EXPECT_EQ(inst->status, store::ServerStatus::kDeleted);
  for (int i = 0; i < 200 && !store_->list_lifecycle_tasks()->empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(store_->list_lifecycle_tasks()->empty());
}

// A server deleted while its host's agent is away (down, e.g. killed before it took the spawn):
// the boot cancels the spawn it no longer waits for, so the agent that comes back never makes a
// guest for a deleted server on a GPU that went to cleaning; it gets the clean, and the GPU is
// free again.
TEST_F(AgentApiTest, DeleteWhileTheAgentIsAwayCancelsItsSpawn) {
  disable_seed_hosts();
  ASSERT_EQ(put(kHosts + "kvm1", agent_, host_body().dump())->status, 200);
  post_ok(
      kV + "/flavors/4/os-extra_specs", admin_,
      {{"extra_specs", {{"hw_video:ram_max_mb", "64"}, {"pci_passthrough:alias", "K2_Grid:1"}}}});
  const std::string id = boot(admin_, "vm1", "4", "");
  ASSERT_FALSE(id.empty());
  std::optional<store::AgentTask> spawn;
  for (int i = 0; i < 250 && !spawn; ++i) {
    auto tasks = store_->list_agent_tasks("kvm1");
    ASSERT_TRUE(tasks.ok());
    for (const auto& t : *tasks) {
      if (t.kind == "spawn") spawn = t;
    }
    if (!spawn) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(spawn.has_value());
  ASSERT_TRUE(
      store_->record_heartbeat("kvm1", std::chrono::system_clock::now() - std::chrono::seconds(61))
          .ok());
  EXPECT_EQ(del(kV + "/servers/" + id, admin_)->status, 204);
  for (int i = 0; i < 250 && !store_->list_lifecycle_tasks()->empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(store_->list_lifecycle_tasks()->empty());
  auto cancelled = store_->get_agent_task(spawn->id);
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->state, store::AgentTaskState::kFailed);
  EXPECT_NE(cancelled->message.find("cancelled"), std::string::npos) << cancelled->message;

  // The agent comes back: its poll hands out the clean only.
  ASSERT_EQ(post(kHosts + "kvm1/heartbeat", agent_, "{}")->status, 200);
  json clean = take_one("kvm1");
  ASSERT_EQ(clean["kind"], "clean") << clean.dump();
  json devices = json::array();
  for (const auto& d : clean["payload"]["devices"])
    devices.push_back({{"id", d["id"]}, {"clean", true}});
  ASSERT_EQ(
      post(kHosts + "kvm1/tasks/" + clean["id"].get<std::string>(), agent_,
           json{{"result", {{"succeeded", true}, {"details", {{"devices", devices}}}}}}.dump())
          ->status,
      204);
  store::PciDeviceFilter f;
  f.compute_node_id = store_->get_compute_host("kvm1")->id;
  auto gpus = store_->list_pci_devices(f);
  ASSERT_EQ(gpus->size(), 1u);
  EXPECT_EQ(gpus->front().status, store::PciDeviceStatus::kAvailable);
}

// Shelve on an agent's host: the agent gets a snapshot task and uploads the guest's disk (only
// that host's agent, only to that image), then destroys the guest; unshelve's spawn carries the
// snapshot, which is deleted once the server runs again.
TEST_F(AgentApiTest, ShelveSnapshotTravelsThroughTheHostsAgent) {
  disable_seed_hosts();
  ASSERT_EQ(put(kHosts + "kvm1", agent_, host_body().dump())->status, 200);
  const std::string id = boot(admin_, "vm1", "2", "");
  json spawn = take_one("kvm1");
  ASSERT_EQ(post(kHosts + "kvm1/tasks/" + spawn["id"].get<std::string>(), agent_,
                 R"({"result": {"succeeded": true}})")
                ->status,
            204);
  ASSERT_EQ(wait_built(id, admin_)["status"], "ACTIVE");

  const std::string action = kV + "/servers/" + id + "/action";
  ASSERT_EQ(post(action, admin_, R"({"shelve": null})")->status, 202);
  json snap = take_one("kvm1");
  ASSERT_EQ(snap["kind"], "snapshot");
  EXPECT_EQ(snap["instance_uuid"], id);
  const std::string image = snap["payload"]["image_id"].get<std::string>();
  auto upload = [&](const std::string& host, const std::string& token, const std::string& target,
                    const std::string& body) {
    auto r = client_->Put((kHosts + host + "/snapshots/" + target).c_str(),
                          {{"X-Auth-Token", token}}, body, "application/octet-stream");
    return r ? r->status : 0;
  };
  EXPECT_EQ(upload("kvm2", agent_, image, "x"), 409);            // not that host's server
  EXPECT_EQ(upload("kvm1", alice_, image, "x"), 403);            // not an agent
  EXPECT_EQ(upload("kvm1", agent_, plain_image_id_, "x"), 409);  // not a shelve's snapshot
  EXPECT_EQ(upload("kvm1", agent_, image, "the guest's disk"), 204);
  EXPECT_EQ(upload("kvm1", agent_, image, "again"), 409);  // it has its data
  ASSERT_EQ(post(kHosts + "kvm1/tasks/" + snap["id"].get<std::string>(), agent_,
                 R"({"result": {"succeeded": true}})")
                ->status,
            204);
  json destroy = take_one("kvm1");
  ASSERT_EQ(destroy["kind"], "destroy");
  ASSERT_EQ(post(kHosts + "kvm1/tasks/" + destroy["id"].get<std::string>(), agent_,
                 R"({"result": {"succeeded": true}})")
                ->status,
            204);
  json s = wait_idle(id, admin_);
  EXPECT_EQ(s["status"], "SHELVED_OFFLOADED");
  EXPECT_TRUE(s["OS-EXT-SRV-ATTR:host"].is_null());
  EXPECT_EQ(store_->get_compute_host("kvm1")->vcpus_used, 0);
  json img = get_json("/image/v2/images/" + image, admin_);
  EXPECT_EQ(img["status"], "active");
  EXPECT_EQ(img["size"], 16);
  // The agent may write it no more: the server is no longer being shelved.
  EXPECT_EQ(upload("kvm1", agent_, image, "x"), 409);

  ASSERT_EQ(post(action, admin_, R"({"unshelve": null})")->status, 202);
  json again = take_one("kvm1");
  ASSERT_EQ(again["kind"], "spawn");
  EXPECT_EQ(again["payload"]["image"]["id"], image);
  EXPECT_EQ(again["payload"]["image"]["disk_format"], "qcow2");
  ASSERT_EQ(post(kHosts + "kvm1/tasks/" + again["id"].get<std::string>(), agent_,
                 R"({"result": {"succeeded": true}})")
                ->status,
            204);
  s = wait_idle(id, admin_);
  EXPECT_EQ(s["status"], "ACTIVE");
  EXPECT_EQ(s["OS-EXT-SRV-ATTR:host"], "kvm1");
  for (int i = 0; i < 200 && get("/image/v2/images/" + image, admin_)->status != 404; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(get("/image/v2/images/" + image, admin_)->status, 404);
}

TEST_F(AgentApiTest, AnAgentsFailureBecomesTheServersFault) {
  disable_seed_hosts();
  ASSERT_EQ(put(kHosts + "kvm1", agent_, host_body().dump())->status, 200);
  const std::string id = boot(admin_, "vm1", "2", "");
  json task = take_one("kvm1");
  ASSERT_EQ(post(kHosts + "kvm1/tasks/" + task["id"].get<std::string>(), agent_,
                 R"({"result": {"succeeded": false, "message": "qemu: cannot allocate memory"}})")
                ->status,
            204);
  json s = wait_built(id, admin_);
  EXPECT_EQ(s["status"], "ERROR");
  EXPECT_NE(s["fault"]["message"].get<std::string>().find("qemu: cannot allocate memory"),
            std::string::npos)
      << s.dump();
  // The claim was released: the host's resources are free again.
  EXPECT_EQ(store_->get_compute_host("kvm1")->vcpus_used, 0);
}

TEST_F(AgentApiTest, OrphanReportsAndTheServersView) {
  ASSERT_EQ(put(kHosts + "kvm1", agent_, host_body().dump())->status, 200);
  json view = get_json(kHosts + "kvm1/view", agent_);
  EXPECT_EQ(view["instances"].size(), 0u);
  ASSERT_EQ(view["pci_devices"].size(), 1u);
  EXPECT_EQ(view["pci_devices"][0]["status"], "available");
  auto r = put(kHosts + "kvm1/reports/orphans", agent_,
               json{{"report", {{"summary", "1 orphan domain(s)"}}}}.dump());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204) << r->body;
  EXPECT_EQ(put(kHosts + "kvm1/reports/bogus", agent_, R"({"report": {}})")->status, 404);
  EXPECT_EQ(put(kHosts + "kvm1/reports/orphans", agent_, R"({"report": 3})")->status, 400);
  json reports = get_json("/gpucloud/v1/agent/reports", admin_);
  ASSERT_EQ(reports["reports"].size(), 1u);
  EXPECT_EQ(reports["reports"][0]["host"], "kvm1");
  EXPECT_EQ(reports["reports"][0]["report"]["summary"], "1 orphan domain(s)");
}

}  // namespace
}  // namespace gpucloud::api::testing

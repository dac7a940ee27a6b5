// An agent's report of its guests (PUT /gpucloud/v1/agent/hosts/{host}/guests): the address
// libvirt gave a guest becomes the server's address under its network's name, as nova shows it;
// the agent's probe outcome becomes the readiness state (waiting with the error, READY, timed
// out), shown in server show and /metrics. The agent probes; the server decides the state.
#include <fstream>

#include "compute_fixture.h"
#include "controller/controller.h"

namespace gpucloud::api::testing {
namespace {

class AgentGuestsTest : public ComputeTest {
 protected:
  void customize(ServerDeps& deps, ServerOptions& options) override {
    ComputeTest::customize(deps, options);
    if (::testing::Test::HasFatalFailure()) return;
    // The seed's fake hosts stay in-process (deps.driver); kvm1 and kvm2 are agents' hosts.
    ASSERT_TRUE(ensure_user(*store_, "service", "nova-agent", "agent-secret", "service").ok());
    if (!with_controller_) return;
    const std::string ini = (dir_ / "cloudcontroller.ini").string();
    std::ofstream(ini) << "[app:main]\ngpucloud.readiness_interval = 0.5\n"
                          "gpucloud.readiness_ssh_port = 2222\n";
    auto c = controller::Controller::create({ini, {}, ""});
    ASSERT_TRUE(c.ok()) << c.error().message;
    controller_ = std::move(*c);
    deps.controller = controller_.get();
  }
  void SetUp() override {
    ComputeTest::SetUp();
    if (HasFatalFailure()) return;
    agent_ = login("nova-agent", "agent-secret", "service");
    ASSERT_FALSE(agent_.empty());
  }
  void TearDown() override {
    ComputeTest::TearDown();
    controller_.reset();
  }

  // A server of admin's ACTIVE on the agent's host kvm1, its spawn answered without an address.
  std::string active_on_kvm1(const std::string& name) {
    return active_on_agent_host(agent_, admin_, name);
  }
  httplib::Result report(const json& guests) {
    return put(kAgentHosts + "kvm1/guests", agent_, json{{"guests", guests}}.dump());
  }
  std::string metrics() { return get("/metrics", admin_)->body; }

  bool with_controller_ = true;
  std::unique_ptr<controller::Controller> controller_;
  std::string agent_;
};

TEST_F(AgentGuestsTest, ViewTellsTheAgentWhatAndHowToProbe) {
  const std::string id = active_on_kvm1("vm1");
  json view = get_json(kAgentHosts + "kvm1/view", agent_);
  ASSERT_EQ(view["instances"].size(), 1u) << view.dump();
  EXPECT_EQ(view["instances"][0]["uuid"], id);
  EXPECT_EQ(view["instances"][0]["readiness"], "waiting");
  EXPECT_TRUE(view["instances"][0]["service_url"].is_null());  // the ssh banner, then
  EXPECT_EQ(view["probe"]["ssh_port"], 2222);
  EXPECT_EQ(view["probe"]["interval_ms"], 500);
}

TEST_F(AgentGuestsTest, ReportedAddressIsShownUnderItsNetworkAsNovaDoes) {
  const std::string id = active_on_kvm1("vm1");
  auto r = report({{{"instance_uuid", id},
                    {"ip_address", "192.168.122.45"},
                    {"network", "default"},
                    {"mac_address", "52:54:00:12:34:56"},
                    {"address_source", "lease"}}});
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["addresses_changed"], 1);
  json s = get_json(kV + "/servers/" + id, admin_)["server"];
  ASSERT_TRUE(s["addresses"].contains("default")) << s["addresses"].dump();
  const json a = s["addresses"]["default"][0];
  EXPECT_EQ(a["addr"], "192.168.122.45");
  EXPECT_EQ(a["version"], 4);
  EXPECT_EQ(a["OS-EXT-IPS:type"], "fixed");
  EXPECT_EQ(a["OS-EXT-IPS-MAC:mac_addr"], "52:54:00:12:34:56");
  // server list --long (detail) shows the same; the same report again changes nothing.
  json list = get_json(kV + "/servers/detail", admin_)["servers"];
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["addresses"], s["addresses"]);
  r = report({{{"instance_uuid", id},
               {"ip_address", "192.168.122.45"},
               {"network", "default"},
               {"mac_address", "52:54:00:12:34:56"},
               {"address_source", "lease"}}});
  EXPECT_EQ(json::parse(r->body)["addresses_changed"], 0);
}

TEST_F(AgentGuestsTest, ProbeOutcomesBecomeWaitingWithTheErrorThenReady) {
  const std::string id = active_on_kvm1("vm1");
  auto r = report(
      {{{"instance_uuid", id},
        {"ip_address", "192.168.122.45"},
        {"probe", {{"ok", false}, {"error", "GET http://192.168.122.45/: Connection refused"}}}}});
  ASSERT_EQ(r->status, 200) << r->body;
  json s = get_json(kV + "/servers/" + id, admin_)["server"];
  EXPECT_EQ(s["gpucloud:readiness"]["state"], "waiting");
  EXPECT_EQ(s["gpucloud:readiness"]["error"], "GET http://192.168.122.45/: Connection refused");
  EXPECT_FALSE(s["gpucloud:readiness"]["checked_at"].is_null());
  EXPECT_NE(metrics().find("gpucloud_server_readiness{state=\"waiting\"} 1"), std::string::npos);

  r = report({{{"instance_uuid", id}, {"probe", {{"ok", true}}}}});
  ASSERT_EQ(r->status, 200) << r->body;
  s = get_json(kV + "/servers/" + id, admin_)["server"];
  EXPECT_EQ(s["gpucloud:readiness"]["state"], "ready");
  EXPECT_TRUE(s["gpucloud:readiness"]["error"].is_null());
  const std::string m = metrics();
  EXPECT_NE(m.find("gpucloud_server_readiness{state=\"ready\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("gpucloud_server_readiness{state=\"waiting\"} 0"), std::string::npos) << m;
}

TEST_F(AgentGuestsTest, FailingProbesPastTheTimeoutAreTimedOut) {
  const std::string id = active_on_kvm1("vm1");
  // Launched longer ago than readiness_timeout (900 s by default).
  auto inst = store_->get_instance(id);
  ASSERT_TRUE(inst.ok());
  inst->launched_at = std::chrono::system_clock::now() - std::chrono::seconds(901);
  ASSERT_TRUE(store_->update_instance(*inst).ok());
  report({{{"instance_uuid", id},
           {"probe", {{"ok", false}, {"error", "ssh 10.0.0.5:22: no banner"}}}}});
  json s = get_json(kV + "/servers/" + id, admin_)["server"];
  EXPECT_EQ(s["gpucloud:readiness"]["state"], "timed_out");
  EXPECT_EQ(s["gpucloud:readiness"]["error"], "ssh 10.0.0.5:22: no banner");
  EXPECT_NE(metrics().find("gpucloud_server_readiness{state=\"timed_out\"} 1"), std::string::npos);
}

TEST_F(AgentGuestsTest, GuestsOfOtherHostsAreSkippedAndBadReportsNameTheField) {
  const std::string id = active_on_kvm1("vm1");
  json host = {{"host", {{"vcpus", 4}, {"memory_mb", 4096}, {"disk_gb", 50}}}};
  ASSERT_EQ(put(kAgentHosts + "kvm2", agent_, host.dump())->status, 200);
  auto r = put(kAgentHosts + "kvm2/guests", agent_,
               json{{"guests", {{{"instance_uuid", id}, {"ip_address", "10.0.0.9"}}}}}.dump());
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["skipped"][0]["instance_uuid"], id);
  EXPECT_TRUE(get_json(kV + "/servers/" + id, admin_)["server"]["addresses"].empty());

  EXPECT_EQ(report(json::object())->status, 400);
  r = put(kAgentHosts + "kvm1/guests", agent_,
          R"({"guests": [{"instance_uuid": "x", "probe": {}}]})");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("guests[0].probe.ok: a boolean is required"), std::string::npos)
      << r->body;
  r = put(kAgentHosts + "kvm1/guests", agent_,
          R"({"guests": [{"instance_uuid": "x", "ip": "1"}]})");
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(put(kAgentHosts + "nohost/guests", agent_, R"({"guests": []})")->status, 404);
  EXPECT_EQ(put(kAgentHosts + "kvm1/guests", alice_, R"({"guests": []})")->status, 403);
}

class AgentGuestsWithoutControllerTest : public AgentGuestsTest {
 protected:
  AgentGuestsWithoutControllerTest() { with_controller_ = false; }
};

// Readiness probes are the Cloud Controller's: without one nobody probes, addresses still count.
TEST_F(AgentGuestsWithoutControllerTest, NoProbeSettingsAndProbeOutcomesAreIgnored) {
  const std::string id = active_on_kvm1("vm1");
  EXPECT_TRUE(get_json(kAgentHosts + "kvm1/view", agent_)["probe"].is_null());
  report({{{"instance_uuid", id}, {"ip_address", "10.1.2.3"}, {"probe", {{"ok", true}}}}});
  json s = get_json(kV + "/servers/" + id, admin_)["server"];
  EXPECT_FALSE(s.contains("gpucloud:readiness"));  // only a Cloud Controller sets it
  EXPECT_EQ(s["addresses"]["private"][0]["addr"], "10.1.2.3");
}

}  // namespace
}  // namespace gpucloud::api::testing

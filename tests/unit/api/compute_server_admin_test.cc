// nova's admin documents about servers and hosts that gpucloud answers from what it keeps: server
// diagnostics, external events, the instance usage audit log, the extensions list and os-hosts'
// update and power actions.
#include "compute_fixture.h"

namespace gpucloud::api::testing {
namespace {

class ServerAdminTest : public ComputeTest {
 protected:
  std::string active_server() {
    seed_aggregates();
    const std::string id = boot(alice_, "vm", "3");
    wait_built(id, alice_);
    return id;
  }
};

TEST_F(ServerAdminTest, DiagnosticsAreForAdminsInTheShapeOfTheirVersion) {
  const std::string id = active_server();
  const std::string path = kV + "/servers/" + id + "/diagnostics";
  auto r = vget(path, alice_, "2.48");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403) << "the owner is not an admin";

  r = vget(path, admin_, "2.48");
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  json d = json::parse(r->body);
  EXPECT_EQ(d["state"], "running");
  EXPECT_EQ(d["driver"], "libvirt");
  EXPECT_EQ(d["num_cpus"], 2) << "flavor 3 has two vCPUs";
  EXPECT_EQ(d["cpu_details"].size(), 2u);
  EXPECT_EQ(d["memory_details"]["maximum"], 4096);
  EXPECT_TRUE(d["uptime"].is_number_integer());
  EXPECT_EQ(d["config_drive"], false);

  // Before 2.48: libvirt's own keys, memory in KiB.
  r = vget(path, admin_, "2.47");
  ASSERT_TRUE(r && r->status == 200);
  d = json::parse(r->body);
  EXPECT_EQ(d["memory"], 4096 * 1024);
  EXPECT_EQ(d["vcpus"], 2);
  EXPECT_FALSE(d.contains("cpu_details"));

  EXPECT_EQ(vget(kV + "/servers/" + new_uuid() + "/diagnostics", admin_, "2.48")->status, 404);
}

TEST_F(ServerAdminTest, ExternalEventsAnswerPerServer) {
  const std::string id = active_server();
  const std::string before = snapshot();
  const std::string path = kV + "/os-server-external-events";
  json ev = {{"name", "network-changed"}, {"server_uuid", id}, {"tag", "port-1"}};
  EXPECT_EQ(post(path, alice_, json{{"events", {ev}}}.dump())->status, 403);

  json out = post_ok(path, admin_, {{"events", {ev}}});
  ASSERT_EQ(out["events"].size(), 1u);
  EXPECT_EQ(out["events"][0]["code"], 200);
  EXPECT_EQ(out["events"][0]["status"], "completed");
  EXPECT_EQ(out["events"][0]["tag"], "port-1");

  // One known and one unknown server: 207 with a code per event.
  json unknown = {{"name", "network-vif-plugged"}, {"server_uuid", new_uuid()}};
  out = post_ok(path, admin_, {{"events", {ev, unknown}}}, 207);
  EXPECT_EQ(out["events"][1]["code"], 404);
  EXPECT_EQ(out["events"][1]["status"], "failed");
  // None known: 404.
  EXPECT_EQ(post(path, admin_, json{{"events", {unknown}}}.dump())->status, 404);

  // Validation names the field.
  auto r = post(path, admin_, json{{"events", json::array()}}.dump());
  EXPECT_EQ(r->status, 400);
  json bad = ev;
  bad["name"] = "reboot-now";
  r = post(path, admin_, json{{"events", {bad}}}.dump());
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("name"), std::string::npos) << r->body;
  bad = ev;
  bad["status"] = "done";
  EXPECT_EQ(post(path, admin_, json{{"events", {bad}}}.dump())->status, 400);
  bad = ev;
  bad["colour"] = "red";
  r = post(path, admin_, json{{"events", {bad}}}.dump());
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("colour"), std::string::npos) << r->body;
  EXPECT_EQ(snapshot(), before) << "an event changes nothing";
}

TEST_F(ServerAdminTest, AuditLogReportsEveryHostAsNotRun) {
  auto r = get(kV + "/os-instance_usage_audit_log", alice_);
  EXPECT_EQ(r->status, 403);
  json all = get_json(kV + "/os-instance_usage_audit_log", admin_)["instance_usage_audit_logs"];
  const size_t hosts = store_->list_compute_hosts()->size();
  EXPECT_EQ(all["num_hosts"], hosts);
  EXPECT_EQ(all["hosts_not_run"].size(), hosts);
  EXPECT_EQ(all["num_hosts_done"], 0);

  json one = get_json(kV + "/os-instance_usage_audit_log/2026-03-15%2010:00:00",
                      admin_)["instance_usage_audit_log"];
  EXPECT_EQ(one["period_beginning"], "2026-02-01 00:00:00");
  EXPECT_EQ(one["period_ending"], "2026-03-01 00:00:00");
  // Across a year boundary.
  one = get_json(kV + "/os-instance_usage_audit_log/2026-01-05%2000:00:00.123",
                 admin_)["instance_usage_audit_log"];
  EXPECT_EQ(one["period_beginning"], "2025-12-01 00:00:00");
  r = get(kV + "/os-instance_usage_audit_log/yesterday", admin_);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("yesterday"), std::string::npos) << r->body;
}

TEST_F(ServerAdminTest, ExtensionsListOnlyServedApis) {
  json list = get_json(kV + "/extensions", alice_)["extensions"];
  bool hosts = false, consoles = false;
  for (const auto& e : list) {
    EXPECT_NE(e["alias"], "os-rescue") << "not served";
    EXPECT_NE(e["alias"], "os-floating-ips") << "not served";
    hosts = hosts || e["alias"] == "os-hosts";
    consoles = consoles || e["alias"] == "os-consoles";  // SPICE consoles (docs/consoles.md)
  }
  EXPECT_TRUE(hosts);
  EXPECT_TRUE(consoles);
  EXPECT_EQ(get_json(kV + "/extensions/os-keypairs", alice_)["extension"]["name"], "Keypairs");
  EXPECT_EQ(get(kV + "/extensions/os-rescue", alice_)->status, 404);
}

TEST_F(ServerAdminTest, HostsUpdateEnablesAndPowerActionsAreNotImplemented) {
  const std::string path = kV + "/os-hosts/vmhost1";
  EXPECT_EQ(vput(path, alice_, "2.42", {{"status", "disable"}})->status, 403);
  auto r = vput(path, admin_, "2.42", {{"status", "disable"}});
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  EXPECT_EQ(json::parse(r->body)["status"], "disabled");
  EXPECT_FALSE(store_->get_compute_host("vmhost1")->enabled);
  r = vput(path, admin_, "2.42", {{"status", "Enable"}});
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_TRUE(store_->get_compute_host("vmhost1")->enabled);

  const std::string before = snapshot();
  EXPECT_EQ(vput(path, admin_, "2.42", json::object())->status, 400);
  r = vput(path, admin_, "2.42", {{"status", "off"}});
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("status"), std::string::npos) << r->body;
  EXPECT_EQ(vput(path, admin_, "2.42", {{"status", "enable"}, {"colour", "red"}})->status, 400);
  EXPECT_EQ(vput(path, admin_, "2.42", {{"maintenance_mode", "enable"}})->status, 501);
  EXPECT_EQ(vput(kV + "/os-hosts/nohost", admin_, "2.42", {{"status", "enable"}})->status, 404);
  EXPECT_EQ(vput(path, admin_, "2.43", {{"status", "enable"}})->status, 404) << "removed in 2.43";

  EXPECT_EQ(vget(path + "/reboot", admin_, "2.42")->status, 501);
  EXPECT_EQ(vget(kV + "/os-hosts/nohost/startup", admin_, "2.42")->status, 404);
  EXPECT_EQ(vget(path + "/explode", admin_, "2.42")->status, 404);
  EXPECT_EQ(snapshot(), before);

  // A blank zone is no filter.
  json all = get_json(kV + "/os-hosts", admin_)["hosts"];
  EXPECT_EQ(get_json(kV + "/os-hosts?zone=", admin_)["hosts"], all);
  EXPECT_TRUE(get_json(kV + "/os-hosts?zone=Nowhere", admin_)["hosts"].empty());
}

}  // namespace
}  // namespace gpucloud::api::testing

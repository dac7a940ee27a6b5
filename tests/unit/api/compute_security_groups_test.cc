// os-security-groups, os-security-group-rules, a server's groups and the add/remove actions:
// nova-network's semantics at 2.1-2.35, who sees what, quotas, and what reaches the guests'
// firewalls (the agents' view and the spawn payload).
#include <gmock/gmock.h>

#include <thread>

#include "compute_fixture.h"

namespace gpucloud::api::testing {
namespace {

const std::string kSG = kV + "/os-security-groups";
const std::string kRule = kV + "/os-security-group-rules";

class SecurityGroupsTest : public ComputeTest {
 protected:
  void customize(ServerDeps& deps, ServerOptions& options) override {
    ComputeTest::customize(deps, options);
    if (::testing::Test::HasFatalFailure()) return;
    ASSERT_TRUE(ensure_user(*store_, "service", "nova-agent", "agent-secret", "service").ok());
  }

  // POST at 2.1; the status and body.
  std::pair<int, json> create(const std::string& token, const json& group) {
    auto r = post(kSG, token, json{{"security_group", group}}.dump());
    if (!r) return {-1, json()};
    return {r->status, json::parse(r->body, nullptr, false)};
  }
  std::string group(const std::string& token, const std::string& name) {
    auto [status, body] = create(token, {{"name", name}, {"description", name + " servers"}});
    EXPECT_EQ(status, 200) << body.dump();
    return status == 200 ? body["security_group"]["id"].get<std::string>() : "";
  }
  std::pair<int, json> rule(const std::string& token, const json& r) {
    auto res = post(kRule, token, json{{"security_group_rule", r}}.dump());
    if (!res) return {-1, json()};
    return {res->status, json::parse(res->body, nullptr, false)};
  }
  int action(const std::string& server, const std::string& token, const std::string& what,
             const std::string& name) {
    auto r =
        post(kV + "/servers/" + server + "/action", token, json{{what, {{"name", name}}}}.dump());
    return r ? r->status : -1;
  }
  json server_groups(const std::string& server, const std::string& token) {
    return get_json(kV + "/servers/" + server + "/os-security-groups", token)["security_groups"];
  }
  // POST /servers of flavor 2 with `groups` (names); the status and the id or body.
  std::pair<int, std::string> boot_in(const std::string& token, const json& groups) {
    json s = {{"name", "sg"}, {"flavorRef", "2"}, {"imageRef", plain_image_id_}};
    if (!groups.is_null()) s["security_groups"] = groups;
    auto r = post(kV + "/servers", token, json{{"server", s}}.dump());
    if (!r) return {-1, ""};
    if (r->status != 202) return {r->status, r->body};
    return {202, json::parse(r->body)["server"]["id"].get<std::string>()};
  }
  // kvm1's view as its agent reads it: instance uuid -> firewall (null when unmanaged).
  std::map<std::string, json> view_firewalls() {
    std::map<std::string, json> out;
    auto r = get(kAgentHosts + "kvm1/view", agent_);
    EXPECT_TRUE(r && r->status == 200);
    if (!r || r->status != 200) return out;
    const json view = json::parse(r->body);
    for (const auto& i : view["instances"]) out[i["uuid"].get<std::string>()] = i["firewall"];
    return out;
  }

  std::string agent_;
};

TEST_F(SecurityGroupsTest, GroupsAsNovaNetworkKeepsThem) {
  // The project's default group appears on the first list.
  json list = get_json(kSG, alice_)["security_groups"];
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["name"], "default");
  const std::string def = list[0]["id"];

  auto [status, body] = create(alice_, {{"name", " web tier "}, {"description", ""}});
  ASSERT_EQ(status, 200) << body.dump();
  json g = body["security_group"];
  EXPECT_EQ(g["name"], " web tier ");  // kept as given, edge spaces included
  EXPECT_EQ(g["description"], "");
  EXPECT_EQ(g["rules"], json::array());
  EXPECT_EQ(g["tenant_id"], store_->find_project_by_name("demo", "default")->id);
  const std::string id = g["id"];
  EXPECT_EQ(get_json(kSG + "/" + id, alice_)["security_group"], g);

  // nova-network's refusals: duplicate, blank or long names, long descriptions.
  EXPECT_EQ(create(alice_, {{"name", " web tier "}}).first, 400);
  EXPECT_EQ(create(alice_, {{"name", ""}}).first, 400);
  EXPECT_EQ(create(alice_, {{"name", "  "}}).first, 400);
  EXPECT_EQ(create(alice_, {{"name", std::string(256, 'n')}}).first, 400);
  EXPECT_EQ(create(alice_, {{"name", "x"}, {"description", std::string(256, 'd')}}).first, 400);
  EXPECT_EQ(create(alice_, {{"name", 7}}).first, 400);
  // Another project may use the same name.
  EXPECT_EQ(create(bob_, {{"name", " web tier "}}).first, 200);

  // Ids: ours are UUIDs; an integer (nova-network's) is simply not found; anything else is 400.
  EXPECT_EQ(get(kSG + "/1234", alice_)->status, 404);
  EXPECT_EQ(get(kSG + "/not-an-id", alice_)->status, 400);
  EXPECT_EQ(get(kSG + "/00000000-0000-4000-8000-000000000000", alice_)->status, 404);
  // Another project's group is absent; an admin sees it.
  EXPECT_EQ(get(kSG + "/" + id, bob_)->status, 404);
  EXPECT_EQ(del(kSG + "/" + id, bob_)->status, 404);
  EXPECT_EQ(get(kSG + "/" + id, admin_)->status, 200);

  // Update: name and description; a taken name is 400; the default group is fixed.
  auto u = put(kSG + "/" + id, alice_,
               json{{"security_group", {{"name", "web"}, {"description", "front"}}}}.dump());
  ASSERT_EQ(u->status, 200) << u->body;
  EXPECT_EQ(json::parse(u->body)["security_group"]["name"], "web");
  EXPECT_EQ(
      put(kSG + "/" + id, alice_, json{{"security_group", {{"name", "default"}}}}.dump())->status,
      400);
  EXPECT_EQ(
      put(kSG + "/" + def, alice_, json{{"security_group", {{"name", "mine"}}}}.dump())->status,
      400);
  EXPECT_EQ(put(kSG + "/" + id, alice_,
                json{{"security_group", {{"name", std::string(300, 'x')}}}}.dump())
                ->status,
            400);
  EXPECT_EQ(del(kSG + "/" + def, alice_)->status, 400);

  // all_tenants: an admin's lists every project's groups; anyone else's is ignored.
  auto ids = [](const json& groups) {
    std::set<std::string> out;
    for (const auto& x : groups) out.insert(x["tenant_id"].get<std::string>());
    return out;
  };
  EXPECT_EQ(ids(get_json(kSG + "?all_tenants=1", alice_)["security_groups"]).size(), 1u);
  EXPECT_GE(ids(get_json(kSG + "?all_tenants=1", admin_)["security_groups"]).size(), 2u);

  // Deleted: 202, then 404.
  EXPECT_EQ(del(kSG + "/" + id, alice_)->status, 202);
  EXPECT_EQ(get(kSG + "/" + id, alice_)->status, 404);
  EXPECT_EQ(del(kSG + "/" + id, alice_)->status, 404);

  // nova's proxy APIs end at 2.35.
  EXPECT_EQ(vget(kSG, alice_, "2.35")->status, 200);
  EXPECT_EQ(vget(kSG, alice_, "2.36")->status, 404);
}

TEST_F(SecurityGroupsTest, RulesValidatedAndShownAsNovaDoes) {
  const std::string web = group(alice_, "web");
  const std::string db = group(alice_, "db");
  auto [s1, r1] = rule(
      alice_,
      {{"parent_group_id", web}, {"ip_protocol", "TCP"}, {"from_port", 22}, {"to_port", "22"}});
  ASSERT_EQ(s1, 200) << r1.dump();
  json r = r1["security_group_rule"];
  EXPECT_EQ(r["parent_group_id"], web);
  EXPECT_EQ(r["ip_protocol"], "tcp");
  EXPECT_EQ(r["from_port"], 22);
  EXPECT_EQ(r["to_port"], 22);
  EXPECT_EQ(r["ip_range"], json({{"cidr", "0.0.0.0/0"}}));
  EXPECT_EQ(r["group"], json::object());
  // The cidr is kept as written, host bits and all (nova keeps it so).
  auto [s2, r2] = rule(alice_, {{"parent_group_id", web},
                                {"ip_protocol", "tcp"},
                                {"from_port", 80},
                                {"to_port", 443},
                                {"cidr", "10.2.3.124/24"}});
  ASSERT_EQ(s2, 200) << r2.dump();
  EXPECT_EQ(r2["security_group_rule"]["ip_range"]["cidr"], "10.2.3.124/24");
  // From another group: its name and project instead of a cidr; no protocol: all traffic.
  auto [s3, r3] = rule(alice_, {{"parent_group_id", db}, {"group_id", web}});
  ASSERT_EQ(s3, 200) << r3.dump();
  EXPECT_EQ(r3["security_group_rule"]["group"]["name"], "web");
  EXPECT_EQ(r3["security_group_rule"]["ip_protocol"], nullptr);
  EXPECT_EQ(r3["security_group_rule"]["ip_range"], json::object());
  // ICMP: type and code, -1 for any.
  EXPECT_EQ(
      rule(alice_,
           {{"parent_group_id", web}, {"ip_protocol", "icmp"}, {"from_port", -1}, {"to_port", -1}})
          .first,
      200);

  json bad[] = {
      {{"parent_group_id", web}, {"ip_protocol", "999x"}, {"from_port", 1}, {"to_port", 2}},
      {{"parent_group_id", web}, {"ip_protocol", "tcp"}, {"from_port", 65536}, {"to_port", 22}},
      {{"parent_group_id", web}, {"ip_protocol", "tcp"}, {"from_port", 22}, {"to_port", 70000}},
      {{"parent_group_id", web}, {"ip_protocol", "tcp"}, {"from_port", 22}, {"to_port", 21}},
      {{"parent_group_id", web}, {"ip_protocol", "tcp"}, {"from_port", 0}, {"to_port", 21}},
      {{"parent_group_id", web}, {"ip_protocol", "icmp"}, {"from_port", 256}, {"to_port", 0}},
      {{"parent_group_id", web}, {"ip_protocol", "tcp"}, {"from_port", "x"}, {"to_port", 1}},
      {{"parent_group_id", web}, {"ip_protocol", "tcp"}, {"from_port", 1}},
      {{"parent_group_id", web}},
      {{"parent_group_id", web},
       {"ip_protocol", "tcp"},
       {"from_port", 1},
       {"to_port", 1},
       {"cidr", "10.0.0.0/33"}},
      {{"parent_group_id", web},
       {"ip_protocol", "tcp"},
       {"from_port", 1},
       {"to_port", 1},
       {"cidr", "10.0.0.0/8"},
       {"group_id", db}},
      {{"parent_group_id", "non_int_id"}, {"ip_protocol", "tcp"}, {"from_port", 1}, {"to_port", 1}},
      // The same rule again.
      {{"parent_group_id", web}, {"ip_protocol", "tcp"}, {"from_port", 22}, {"to_port", 22}},
  };
  for (const auto& b : bad) EXPECT_EQ(rule(alice_, b).first, 400) << b.dump();
  EXPECT_EQ(
      rule(alice_,
           {{"parent_group_id", 999999}, {"ip_protocol", "tcp"}, {"from_port", 1}, {"to_port", 1}})
          .first,
      404);
  // Not in another project's group, nor from it.
  EXPECT_EQ(
      rule(bob_,
           {{"parent_group_id", web}, {"ip_protocol", "tcp"}, {"from_port", 1}, {"to_port", 1}})
          .first,
      404);
  const std::string bobs = group(bob_, "bobs");
  EXPECT_EQ(rule(alice_, {{"parent_group_id", web}, {"group_id", bobs}}).first, 404);

  json rules = get_json(kSG + "/" + web, alice_)["security_group"]["rules"];
  EXPECT_EQ(rules.size(), 3u);
  // Deleting a rule; an integer id is not found, another string is 400.
  const std::string rid = r1["security_group_rule"]["id"];
  EXPECT_EQ(del(kRule + "/" + rid, bob_)->status, 404);
  EXPECT_EQ(del(kRule + "/" + rid, alice_)->status, 202);
  EXPECT_EQ(del(kRule + "/" + rid, alice_)->status, 404);
  EXPECT_EQ(del(kRule + "/12345", alice_)->status, 404);
  EXPECT_EQ(del(kRule + "/abc", alice_)->status, 400);
  // A group's deletion takes the rules naming it in other groups (nova does too).
  EXPECT_EQ(del(kSG + "/" + web, alice_)->status, 202);
  EXPECT_EQ(get_json(kSG + "/" + db, alice_)["security_group"]["rules"], json::array());
}

TEST_F(SecurityGroupsTest, QuotasCountGroupsAndRulesPerGroup) {
  const std::string project = store_->find_project_by_name("demo", "default")->id;
  group(alice_, "one");
  json limits = get_json(kV + "/limits", alice_)["limits"]["absolute"];
  EXPECT_EQ(limits["totalSecurityGroupsUsed"], 2);  // default and one
  EXPECT_EQ(limits["maxSecurityGroups"], 10);
  auto q = put(kV + "/os-quota-sets/" + project, admin_,
               json{{"quota_set", {{"security_groups", 2}, {"security_group_rules", 1}}}}.dump());
  ASSERT_EQ(q->status, 200) << q->body;
  EXPECT_EQ(create(alice_, {{"name", "two"}}).first, 403);
  json usage = get_json(kV + "/os-quota-sets/" + project + "/detail", admin_)["quota_set"];
  EXPECT_EQ(usage["security_groups"]["in_use"], 2);
  const std::string one = get_json(kSG, alice_)["security_groups"][1]["id"];
  auto ok =
      rule(alice_,
           {{"parent_group_id", one}, {"ip_protocol", "udp"}, {"from_port", 53}, {"to_port", 53}});
  EXPECT_EQ(ok.first, 200);
  auto over =
      rule(alice_,
           {{"parent_group_id", one}, {"ip_protocol", "udp"}, {"from_port", 54}, {"to_port", 54}});
  EXPECT_EQ(over.first, 403) << over.second.dump();
}

TEST_F(SecurityGroupsTest, ServersJoinAndLeaveGroups) {
  const std::string web = group(alice_, "web");
  // Unknown names are 400; names and ids are both accepted.
  EXPECT_EQ(boot_in(alice_, json::array({{{"name", "nope"}}})).first, 400);
  auto [status, id] = boot_in(alice_, json::array({{{"name", "web"}}, {{"name", "default"}}}));
  ASSERT_EQ(status, 202) << id;
  ASSERT_EQ(wait_built(id, alice_)["status"], "ACTIVE");
  json shown = get_json(kV + "/servers/" + id, alice_)["server"]["security_groups"];
  EXPECT_THAT(
      shown, ::testing::UnorderedElementsAre(json({{"name", "web"}}), json({{"name", "default"}})));
  json listed = server_groups(id, alice_);
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_TRUE(listed[0]["id"] == web || listed[1]["id"] == web);
  // A group named twice, by name and by id, is joined once.
  auto [s3, twice] = boot_in(alice_, json::array({{{"name", "web"}}, {{"name", web}}}));
  ASSERT_EQ(s3, 202) << twice;
  EXPECT_EQ(server_groups(twice, alice_).size(), 1u);
  EXPECT_EQ(del(kV + "/servers/" + twice, alice_)->status, 204);
  // Booted without security_groups: the default group.
  auto [s2, plain] = boot_in(alice_, nullptr);
  ASSERT_EQ(s2, 202);
  EXPECT_EQ(get_json(kV + "/servers/" + plain, alice_)["server"]["security_groups"],
            json::parse(R"([{"name": "default"}])"));

  // A group in use is not deleted.
  EXPECT_EQ(del(kSG + "/" + web, alice_)->status, 400);
  // The actions: adding twice or removing what is not there is 400; unknown groups 404.
  const std::string extra = group(alice_, "extra");
  EXPECT_EQ(action(id, alice_, "addSecurityGroup", "extra"), 202);
  EXPECT_EQ(action(id, alice_, "addSecurityGroup", "extra"), 400);
  EXPECT_EQ(action(id, alice_, "addSecurityGroup", "nope"), 404);
  EXPECT_EQ(action(id, bob_, "addSecurityGroup", "extra"), 404);  // not bob's server
  EXPECT_EQ(action(id, alice_, "removeSecurityGroup", "extra"), 202);
  EXPECT_EQ(action(id, alice_, "removeSecurityGroup", "extra"), 400);
  EXPECT_EQ(del(kSG + "/" + extra, alice_)->status, 202);
  // Removing every group: nova then leaves the field out.
  EXPECT_EQ(action(id, alice_, "removeSecurityGroup", "web"), 202);
  EXPECT_EQ(action(id, alice_, "removeSecurityGroup", "default"), 202);
  EXPECT_FALSE(get_json(kV + "/servers/" + id, alice_)["server"].contains("security_groups"));
  EXPECT_EQ(server_groups(id, alice_), json::array());
  // The actions stay at 2.36+; the server's os-security-groups route does not.
  EXPECT_EQ(vget(kV + "/servers/" + id + "/os-security-groups", alice_, "2.36")->status, 404);
  // A deleted server leaves its groups.
  EXPECT_EQ(action(id, alice_, "addSecurityGroup", "web"), 202);
  EXPECT_EQ(del(kV + "/servers/" + id, alice_)->status, 204);
  for (int k = 0; k < 500 && del(kSG + "/" + web, alice_)->status != 202; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(get(kSG + "/" + web, alice_)->status, 404);
}

TEST_F(SecurityGroupsTest, AgentsGetEachGuestsFirewall) {
  agent_ = login("nova-agent", "agent-secret", "service");
  const std::string web = group(alice_, "web");
  ASSERT_EQ(rule(alice_, {{"parent_group_id", web},
                          {"ip_protocol", "tcp"},
                          {"from_port", 22},
                          {"to_port", 22},
                          {"cidr", "192.0.2.0/24"}})
                .first,
            200);
  for (const char* h : {"vmhost1", "vmhost2", "vmhost3"}) {
    put(kV + "/os-services/disable", admin_, json{{"host", h}, {"binary", "nova-compute"}}.dump());
  }
  json host = {{"host", {{"vcpus", 16}, {"memory_mb", 65536}, {"disk_gb", 500}}}};
  ASSERT_EQ(put(kAgentHosts + "kvm1", agent_, host.dump())->status, 200);
  auto [status, id] = boot_in(alice_, json::array({{{"name", "web"}}}));
  ASSERT_EQ(status, 202) << id;
  // The spawn task carries the firewall: the guest never runs without it.
  httplib::Client c("127.0.0.1", server_->port());
  c.set_read_timeout(std::chrono::seconds(30));
  auto t = c.Get((kAgentHosts + "kvm1/tasks?wait=10").c_str(), {{"X-Auth-Token", agent_}});
  ASSERT_TRUE(t && t->status == 200);
  json task = json::parse(t->body)["tasks"][0];
  auto args = compute::parse_spawn_payload(task["payload"].dump());
  ASSERT_TRUE(args.ok()) << args.error().message;
  ASSERT_TRUE(args->firewall.has_value());
  ASSERT_EQ(args->firewall->ingress.size(), 1u);
  EXPECT_EQ(args->firewall->ingress[0], (compute::FirewallRule{"tcp", 22, 22, "192.0.2.0/24"}));
  ASSERT_EQ(post(kAgentHosts + "kvm1/tasks/" + task["id"].get<std::string>(), agent_,
                 R"({"result": {"succeeded": true}})")
                ->status,
            204);
  ASSERT_EQ(wait_built(id, alice_)["status"], "ACTIVE");

  // The view gives the same; a new rule shows at the next read.
  auto fw = view_firewalls();
  ASSERT_TRUE(fw.count(id));
  EXPECT_EQ(fw[id]["ingress"].size(), 1u);
  const std::string peers = group(alice_, "peers");
  ASSERT_EQ(rule(alice_, {{"parent_group_id", web}, {"group_id", peers}}).first, 200);
  // A remote group without members with known addresses lets nothing in yet.
  EXPECT_EQ(view_firewalls()[id]["ingress"].size(), 1u);
  // The server joins peers itself and reports its address: the rule then admits that address.
  EXPECT_EQ(action(id, alice_, "addSecurityGroup", "peers"), 202);
  json report = {{"guests", {{{"instance_uuid", id}, {"ip_address", "10.9.8.7"}}}}};
  ASSERT_EQ(put(kAgentHosts + "kvm1/guests", agent_, report.dump())->status, 200);
  json rules = view_firewalls()[id]["ingress"];
  ASSERT_EQ(rules.size(), 2u) << rules.dump();
  EXPECT_EQ(rules[1], json::parse(R"({"protocol": "", "from_port": -1, "to_port": -1,
                                      "cidr": "10.9.8.7/32"})"));
  // Out of every group: nothing may come in.
  EXPECT_EQ(action(id, alice_, "removeSecurityGroup", "web"), 202);
  EXPECT_EQ(action(id, alice_, "removeSecurityGroup", "peers"), 202);
  EXPECT_EQ(view_firewalls()[id], json::parse(R"({"ingress": []})"));
}

TEST_F(SecurityGroupsTest, ServersFromBeforeSecurityGroupsStayOpen) {
  agent_ = login("nova-agent", "agent-secret", "service");
  const std::string id = active_on_agent_host(agent_, alice_, "old");
  // What a server created before schema 20 looks like: no marker, no membership.
  ASSERT_TRUE(store_->remove_instance_security_group(id, server_groups(id, alice_)[0]["id"]).ok());
  ASSERT_TRUE(store_->set_system_metadata(id, store::kSecurityGroupsManaged, std::nullopt).ok());
  EXPECT_EQ(view_firewalls()[id], nullptr);
  EXPECT_EQ(get_json(kV + "/servers/" + id, alice_)["server"]["security_groups"],
            json::parse(R"([{"name": "default"}])"));
  // Its first group makes it managed.
  group(alice_, "web");
  EXPECT_EQ(action(id, alice_, "addSecurityGroup", "web"), 202);
  EXPECT_EQ(view_firewalls()[id], json::parse(R"({"ingress": []})"));
}

// A group deleted while servers are booted into it: each boot either fails (400) or its server
// is in the group, which then cannot be deleted. Never a server left in a group that is gone.
TEST_F(SecurityGroupsTest, DeleteRacingBootsLeavesNoServerInAMissingGroup) {
  for (int round = 0; round < 6; ++round) {
    const std::string name = "race" + std::to_string(round);
    const std::string id = group(alice_, name);
    std::pair<int, std::string> booted;
    int deleted = 0;
    std::thread boot([&] { booted = boot_in(alice_, json::array({{{"name", name}}})); });
    std::thread remove([&] { deleted = del(kSG + "/" + id, alice_)->status; });
    boot.join();
    remove.join();
    if (booted.first == 202) {
      json shown = server_groups(booted.second, alice_);
      if (deleted == 202) {
        // The delete went first: the boot must not have joined a group that was gone. That
        // can only happen when the boot resolved the name before the delete and then lost.
        ADD_FAILURE() << "server " << booted.second << " booted into deleted group " << id;
      } else {
        EXPECT_EQ(deleted, 400);
        ASSERT_EQ(shown.size(), 1u);
        EXPECT_EQ(shown[0]["id"], id);
      }
      EXPECT_EQ(del(kV + "/servers/" + booted.second, alice_)->status, 204);
    } else {
      EXPECT_EQ(booted.first, 400) << booted.second;
      EXPECT_EQ(deleted, 202);
    }
  }
}

}  // namespace
}  // namespace gpucloud::api::testing

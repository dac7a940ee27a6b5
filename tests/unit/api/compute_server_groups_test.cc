// os-server-groups: the API at each microversion, who sees which group, quotas, and what the
// policies do to boots on the seed's cloud (vmhost1-2 plain, vmhost3 with GPUs).
#include <gmock/gmock.h>

#include "compute_fixture.h"

namespace gpucloud::api::testing {
namespace {

const std::string kG = kV + "/os-server-groups";

class ServerGroupsTest : public ComputeTest {
 protected:
  // The seed's nova.conf plus nova's server group filters, which the seed's filter list lacks.
  void customize(ServerDeps& deps, ServerOptions& options) override {
    ComputeTest::customize(deps, options);
    if (!with_filters_) return;
    auto cfg = std::make_shared<config::NovaConfig>(*deps.nova_config);
    for (const char* f : {"ServerGroupAffinityFilter", "ServerGroupAntiAffinityFilter"}) {
      cfg->enabled_filters.push_back({f, {}});
    }
    deps.nova_config = cfg;
  }

  httplib::Result vpost(const std::string& path, const std::string& token, const std::string& v,
                        const json& body) {
    return client_->Post(path.c_str(),
                         {{"X-Auth-Token", token}, {"OpenStack-API-Version", "compute " + v}},
                         body.dump(), "application/json");
  }
  // Creates a group at 2.1; returns its id.
  std::string group(const std::string& token, const std::string& policy,
                    const std::string& name = "g") {
    auto r = vpost(kG, token, "2.15", {{"server_group", {{"name", name}, {"policies", {policy}}}}});
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no response");
    return r && r->status == 200 ? json::parse(r->body)["server_group"]["id"].get<std::string>()
                                 : "";
  }
  // POST /servers of flavor 1 (gpu=false: vmhost1 or vmhost2) into `group_id`; the status and
  // the server's id.
  std::pair<int, std::string> boot_into(const std::string& group_id, const std::string& token,
                                        const std::string& flavor = "1") {
    json body = {{"server",
                  {{"name", "member"},
                   {"flavorRef", flavor},
                   {"imageRef", plain_image_id_},
                   {"availability_zone", "Denver"}}},
                 {"os:scheduler_hints", {{"group", group_id}}}};
    auto r = post(kV + "/servers", token, body.dump());
    if (!r) return {-1, ""};
    if (r->status != 202) return {r->status, r->body};
    return {202, json::parse(r->body)["server"]["id"].get<std::string>()};
  }
  std::string demo() { return store_->find_project_by_name("demo", "default")->id; }

  bool with_filters_ = true;
};

TEST_F(ServerGroupsTest, CreateShowListAndDeleteAtEachMicroversion) {
  // 2.1: a one-item policies list and an empty metadata; no owner fields.
  auto r = vpost(kG, alice_, "2.1",
                 {{"server_group", {{"name", "web"}, {"policies", {"anti-affinity"}}}}});
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  json g = json::parse(r->body)["server_group"];
  const std::string id = g["id"];
  EXPECT_EQ(g["name"], "web");
  EXPECT_EQ(g["policies"], json::array({"anti-affinity"}));
  EXPECT_EQ(g["metadata"], json::object());
  EXPECT_EQ(g["members"], json::array());
  EXPECT_FALSE(g.contains("project_id"));
  EXPECT_FALSE(g.contains("policy"));
  // 2.13 adds the owner; 2.64 replaces policies and metadata by policy and rules.
  json at213 = json::parse(vget(kG + "/" + id, alice_, "2.13")->body)["server_group"];
  EXPECT_EQ(at213["project_id"], demo());
  EXPECT_FALSE(at213["user_id"].get<std::string>().empty());
  json at264 = json::parse(vget(kG + "/" + id, alice_, "2.64")->body)["server_group"];
  EXPECT_EQ(at264["policy"], "anti-affinity");
  EXPECT_EQ(at264["rules"], json::object());
  EXPECT_FALSE(at264.contains("policies"));
  EXPECT_FALSE(at264.contains("metadata"));

  r = vpost(
      kG, alice_, "2.64",
      {{"server_group",
        {{"name", "db"}, {"policy", "anti-affinity"}, {"rules", {{"max_server_per_host", 2}}}}}});
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  json db = json::parse(r->body)["server_group"];
  EXPECT_EQ(db["rules"], json({{"max_server_per_host", 2}}));

  // The project's groups, oldest first; limit and offset page through them.
  json list = get_json(kG, rita_)["server_groups"];
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["id"], id);
  json page = get_json(kG + "?limit=1&offset=1", alice_)["server_groups"];
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0]["id"], db["id"]);

  auto d = del(kG + "/" + id, alice_);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, 204);
  EXPECT_EQ(get(kG + "/" + id, alice_)->status, 404);
  EXPECT_EQ(del(kG + "/" + id, alice_)->status, 404);
  EXPECT_EQ(get_json(kG, alice_)["server_groups"].size(), 1u);
}

TEST_F(ServerGroupsTest, BadRequestsNameTheFieldAndStoreNothing) {
  auto status = [&](const std::string& v, const json& body) {
    auto r = vpost(kG, alice_, v, body);
    return r ? r->status : -1;
  };
  auto sg = [](json fields) { return json{{"server_group", std::move(fields)}}; };
  EXPECT_EQ(status("2.1", sg({{"policies", {"affinity"}}})), 400);  // no name
  EXPECT_EQ(status("2.1", sg({{"name", " padded "}, {"policies", {"affinity"}}})), 400);
  EXPECT_EQ(status("2.1", sg({{"name", "x"}, {"policies", json::array()}})), 400);
  EXPECT_EQ(status("2.1", sg({{"name", "x"}, {"policies", {"affinity", "anti-affinity"}}})), 400);
  EXPECT_EQ(status("2.1", sg({{"name", "x"}, {"policies", {"spread"}}})), 400);
  // The soft policies came with 2.15; 2.64 takes `policy`, not `policies`.
  EXPECT_EQ(status("2.14", sg({{"name", "x"}, {"policies", {"soft-affinity"}}})), 400);
  EXPECT_EQ(status("2.64", sg({{"name", "x"}, {"policies", {"affinity"}}})), 400);
  EXPECT_EQ(status("2.1", sg({{"name", "x"}, {"policy", "affinity"}})), 400);
  // Rules belong to anti-affinity, and max_server_per_host is a positive integer.
  auto r =
      vpost(kG, alice_, "2.64",
            sg({{"name", "x"}, {"policy", "affinity"}, {"rules", {{"max_server_per_host", 2}}}}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, ::testing::HasSubstr("Only anti-affinity policy supports rules."));
  EXPECT_EQ(status("2.64", sg({{"name", "x"},
                               {"policy", "anti-affinity"},
                               {"rules", {{"max_server_per_host", 0}}}})),
            400);
  EXPECT_EQ(
      status("2.64", sg({{"name", "x"}, {"policy", "anti-affinity"}, {"rules", {{"other", 1}}}})),
      400);
  EXPECT_EQ(get_json(kG, alice_)["server_groups"].size(), 0u);
  // A malformed group hint on a boot is a 400 that names it.
  json boot = {{"server", {{"name", "s"}, {"flavorRef", "1"}, {"imageRef", plain_image_id_}}},
               {"os:scheduler_hints", {{"group", "not-a-uuid"}}}};
  auto b = post(kV + "/servers", alice_, boot.dump());
  ASSERT_TRUE(b);
  EXPECT_EQ(b->status, 400);
  EXPECT_THAT(b->body, ::testing::HasSubstr("group"));
}

TEST_F(ServerGroupsTest, AnotherProjectsGroupIsInvisibleAndCannotBeBootedInto) {
  seed_aggregates();
  const std::string mine = group(alice_, "anti-affinity");
  EXPECT_EQ(get(kG + "/" + mine, bob_)->status, 404);
  EXPECT_EQ(del(kG + "/" + mine, bob_)->status, 404);
  EXPECT_EQ(get_json(kG, bob_)["server_groups"].size(), 0u);
  auto [status, body] = boot_into(mine, bob_);
  EXPECT_EQ(status, 400) << body;
  EXPECT_THAT(body, ::testing::HasSubstr("could not be found"));
  EXPECT_EQ(boot_into(new_uuid(), alice_).first, 400);
  // A reader cannot create one; an admin lists every project's with all_projects only.
  EXPECT_EQ(vpost(kG, rita_, "2.1", {{"server_group", {{"name", "r"}, {"policies", {"affinity"}}}}})
                ->status,
            403);
  group(bob_, "affinity", "bobs");
  EXPECT_EQ(get_json(kG, admin_)["server_groups"].size(), 0u);
  EXPECT_EQ(get_json(kG + "?all_projects=True", admin_)["server_groups"].size(), 2u);
  EXPECT_EQ(get_json(kG + "?all_projects=True", alice_)["server_groups"].size(), 1u);
  EXPECT_EQ(get(kG + "/" + mine, admin_)->status, 200);
}

TEST_F(ServerGroupsTest, GroupAndMemberQuotasAreForbiddenWhenFull) {
  seed_aggregates();
  auto q = put(kV + "/os-quota-sets/" + demo(), admin_,
               json{{"quota_set", {{"server_groups", 1}, {"server_group_members", 1}}}}.dump());
  ASSERT_TRUE(q && q->status == 200) << (q ? q->body : "");
  const std::string g = group(alice_, "anti-affinity");
  auto r = vpost(kG, alice_, "2.1",
                 {{"server_group", {{"name", "second"}, {"policies", {"affinity"}}}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_THAT(r->body, ::testing::HasSubstr("too many server groups"));
  EXPECT_EQ(get_json(kV + "/os-quota-sets/" + demo() + "/detail",
                     alice_)["quota_set"]["server_groups"]["in_use"],
            1);
  EXPECT_EQ(get_json(kV + "/limits", alice_)["limits"]["absolute"]["totalServerGroupsUsed"], 1);
  auto [first, id] = boot_into(g, alice_);
  ASSERT_EQ(first, 202) << id;
  auto [second, body] = boot_into(g, alice_);
  EXPECT_EQ(second, 403) << body;
  EXPECT_THAT(body, ::testing::HasSubstr("too many servers in group"));
  // Once the member is deleted, its place in the group is free again.
  wait_built(id, alice_);
  ASSERT_EQ(del(kV + "/servers/" + id, alice_)->status, 204);
  for (int i = 0; i < 500 && !get_json(kG + "/" + g, alice_)["server_group"]["members"].empty();
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(get_json(kG + "/" + g, alice_)["server_group"]["members"], json::array());
  EXPECT_EQ(boot_into(g, alice_).first, 202);
}

TEST_F(ServerGroupsTest, AntiAffinitySpreadsMembersAndFailsWhenNoHostIsLeft) {
  seed_aggregates();
  const std::string g = group(alice_, "anti-affinity");
  std::set<std::string> hosts;
  std::vector<std::string> members;
  for (int k = 0; k < 2; ++k) {
    auto [status, id] = boot_into(g, alice_);
    ASSERT_EQ(status, 202) << id;
    json s = wait_built(id, admin_);
    ASSERT_EQ(s["status"], "ACTIVE") << s.dump();
    hosts.insert(s["OS-EXT-SRV-ATTR:host"].get<std::string>());
    members.push_back(id);
  }
  // vmhost1 and vmhost2 are the only plain hosts: one each, and a third has nowhere to go.
  EXPECT_EQ(hosts, (std::set<std::string>{"vmhost1", "vmhost2"}));
  auto [status, third] = boot_into(g, alice_);
  ASSERT_EQ(status, 202) << third;
  json s = wait_built(third, admin_);
  EXPECT_EQ(s["status"], "ERROR");
  EXPECT_THAT(s["fault"]["message"].get<std::string>(),
              ::testing::HasSubstr("ServerGroupAntiAffinityFilter"));
  // Show lists the live members; 2.71's server show names the group.
  json shown = get_json(kG + "/" + g, alice_)["server_group"];
  EXPECT_THAT(shown["members"].get<std::vector<std::string>>(),
              ::testing::UnorderedElementsAre(members[0], members[1], third));
  json server = json::parse(vget(kV + "/servers/" + members[0], alice_, "2.71")->body)["server"];
  EXPECT_EQ(server["server_groups"], json::array({g}));
  json plain = json::parse(vget(kV + "/servers/" + members[0], alice_, "2.70")->body)["server"];
  EXPECT_FALSE(plain.contains("server_groups"));
}

TEST_F(ServerGroupsTest, MaxServerPerHostLetsThatManyShareAHost) {
  seed_aggregates();
  auto r = vpost(
      kG, alice_, "2.64",
      {{"server_group",
        {{"name", "two"}, {"policy", "anti-affinity"}, {"rules", {{"max_server_per_host", 2}}}}}});
  ASSERT_TRUE(r && r->status == 200);
  const std::string g = json::parse(r->body)["server_group"]["id"];
  std::map<std::string, int> per_host;
  for (int k = 0; k < 5; ++k) {
    auto [status, id] = boot_into(g, alice_);
    ASSERT_EQ(status, 202) << id;
    json s = wait_built(id, admin_);
    if (s["status"] == "ACTIVE") ++per_host[s["OS-EXT-SRV-ATTR:host"].get<std::string>()];
  }
  EXPECT_EQ(per_host, (std::map<std::string, int>{{"vmhost1", 2}, {"vmhost2", 2}}));
}

TEST_F(ServerGroupsTest, AffinityKeepsMembersOnTheFirstMembersHost) {
  seed_aggregates();
  const std::string g = group(alice_, "affinity");
  std::set<std::string> hosts;
  for (int k = 0; k < 3; ++k) {
    auto [status, id] = boot_into(g, alice_);
    ASSERT_EQ(status, 202) << id;
    json s = wait_built(id, admin_);
    ASSERT_EQ(s["status"], "ACTIVE") << s.dump();
    hosts.insert(s["OS-EXT-SRV-ATTR:host"].get<std::string>());
  }
  EXPECT_EQ(hosts.size(), 1u);
}

TEST_F(ServerGroupsTest, SoftAffinityStacksMembersWhereRamWouldSpreadThem) {
  seed_aggregates();
  const std::string g = group(alice_, "soft-affinity");
  std::set<std::string> hosts;
  for (int k = 0; k < 3; ++k) {
    auto [status, id] = boot_into(g, alice_);
    ASSERT_EQ(status, 202) << id;
    json s = wait_built(id, admin_);
    ASSERT_EQ(s["status"], "ACTIVE") << s.dump();
    hosts.insert(s["OS-EXT-SRV-ATTR:host"].get<std::string>());
  }
  // RAMWeigher alone would put the second server on the other, emptier host.
  EXPECT_EQ(hosts.size(), 1u);
}

TEST_F(ServerGroupsTest, SoftAntiAffinityStillBootsWhenEveryHostHasAMember) {
  seed_aggregates();
  const std::string g = group(alice_, "soft-anti-affinity");
  std::map<std::string, int> per_host;
  for (int k = 0; k < 3; ++k) {
    auto [status, id] = boot_into(g, alice_);
    ASSERT_EQ(status, 202) << id;
    json s = wait_built(id, admin_);
    ASSERT_EQ(s["status"], "ACTIVE") << s.dump();
    ++per_host[s["OS-EXT-SRV-ATTR:host"].get<std::string>()];
  }
  ASSERT_EQ(per_host.size(), 2u);
  EXPECT_EQ(per_host.begin()->second + per_host.rbegin()->second, 3);
}

// Members booted by one request are scheduled side by side by the conductor; each claim
// re-checks the policy against the others', so they still end up on different hosts. The
// request's servers are listed by its reservation id (what Tempest's multi-node test reads).
TEST_F(ServerGroupsTest, MembersOfOneMultiCreateRequestStillSpread) {
  seed_aggregates();
  const std::string outsider = boot(alice_, "outsider", "1");
  const std::string g = group(alice_, "anti-affinity");
  json body = {{"server",
                {{"name", "pair"},
                 {"flavorRef", "1"},
                 {"imageRef", plain_image_id_},
                 {"availability_zone", "Denver"},
                 {"min_count", 2},
                 {"max_count", 2},
                 {"return_reservation_id", true}}},
               {"os:scheduler_hints", {{"group", g}}}};
  auto r = post(kV + "/servers", alice_, body.dump());
  ASSERT_TRUE(r && r->status == 202) << (r ? r->body : "");
  const std::string reservation = json::parse(r->body)["reservation_id"];
  json members = get_json(kG + "/" + g, alice_)["server_group"]["members"];
  ASSERT_EQ(members.size(), 2u);
  json listed = get_json(kV + "/servers?reservation_id=" + reservation, alice_)["servers"];
  std::set<std::string> ids;
  for (const auto& s : listed) ids.insert(s["id"].get<std::string>());
  EXPECT_EQ(ids, (std::set<std::string>{members[0], members[1]}));
  EXPECT_FALSE(ids.count(outsider));
  std::set<std::string> hosts;
  for (const auto& id : members) {
    json s = wait_built(id.get<std::string>(), admin_);
    ASSERT_EQ(s["status"], "ACTIVE") << s.dump();
    hosts.insert(s["OS-EXT-SRV-ATTR:host"].get<std::string>());
  }
  EXPECT_EQ(hosts.size(), 2u);
}

// The seed's filter list has no server group filters: as nova, a boot into an affinity or
// anti-affinity group then fails instead of ignoring the policy.
class ServerGroupsWithoutFiltersTest : public ServerGroupsTest {
 protected:
  ServerGroupsWithoutFiltersTest() { with_filters_ = false; }
};

TEST_F(ServerGroupsWithoutFiltersTest, BootIntoAGroupWhosePolicyIsNotEnforcedFails) {
  seed_aggregates();
  const std::string g = group(alice_, "anti-affinity");
  auto [status, id] = boot_into(g, alice_);
  ASSERT_EQ(status, 202) << id;
  json s = wait_built(id, admin_);
  EXPECT_EQ(s["status"], "ERROR");
  EXPECT_THAT(s["fault"]["message"].get<std::string>(),
              ::testing::HasSubstr("ServerGroupAntiAffinityFilter not configured"));
  EXPECT_EQ(devices("claimed"), 0);
}

}  // namespace
}  // namespace gpucloud::api::testing

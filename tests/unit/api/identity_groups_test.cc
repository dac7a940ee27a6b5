// Keystone v3 groups and their members, as keystone answers them (Tempest's test_groups).
#include "api_fixture.h"

namespace gpucloud::api::testing {
namespace {

class IdentityGroupsTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    admin_ = login("admin", "admin-secret", "admin");
    ASSERT_FALSE(admin_.empty());
    alice_id_ = store_->find_user_by_name("alice", "default")->id;
  }
  httplib::Result send(const std::string& method, const std::string& path,
                       const std::string& body = "") {
    httplib::Headers h = {{"X-Auth-Token", admin_}};
    if (method == "PUT") return client_->Put(path.c_str(), h, body, "application/json");
    if (method == "PATCH") return client_->Patch(path.c_str(), h, body, "application/json");
    if (method == "HEAD") return client_->Head(path.c_str(), h);
    return client_->Delete(path.c_str(), h);
  }
  json create_group(const std::string& name, const std::string& extra = "") {
    auto r =
        post("/identity/v3/groups", admin_, R"({"group": {"name": ")" + name + "\"" + extra + "}}");
    EXPECT_EQ(r->status, 201) << r->body;
    return r->status == 201 ? json::parse(r->body)["group"] : json();
  }
  std::string admin_, alice_id_;
};

TEST_F(IdentityGroupsTest, AdminCreatesUpdatesShowsListsAndDeletesAGroup) {
  const json g = create_group("ops", R"(, "description": "operators")");
  EXPECT_EQ(g["domain_id"], "default");
  EXPECT_EQ(g["description"], "operators");
  const std::string id = g["id"];

  auto r = send("PATCH", "/identity/v3/groups/" + id, R"({"group": {"name": "ops2"}})");
  ASSERT_EQ(r->status, 200) << r->body;
  // A PATCH without a description keeps it.
  EXPECT_EQ(json::parse(r->body)["group"]["description"], "operators");
  r = get("/identity/v3/groups/" + id, admin_);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["group"]["name"], "ops2");

  create_group("devs");
  r = get("/identity/v3/groups?name=ops2", admin_);
  const json named = json::parse(r->body);
  ASSERT_EQ(named["groups"].size(), 1u);
  EXPECT_EQ(named["groups"][0],
            json::parse(get("/identity/v3/groups/" + id, admin_)->body)["group"]);
  r = get("/identity/v3/groups?domain_id=elsewhere", admin_);
  EXPECT_TRUE(json::parse(r->body)["groups"].empty());

  EXPECT_EQ(send("DELETE", "/identity/v3/groups/" + id)->status, 204);
  r = get("/identity/v3/groups/" + id, admin_);
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(r->body.find("Could not find group: " + id + "."), std::string::npos) << r->body;
  EXPECT_EQ(send("DELETE", "/identity/v3/groups/" + id)->status, 404);
}

TEST_F(IdentityGroupsTest, GroupNamesAreUniqueInTheirDomainAndBadInputIsNamed) {
  create_group("ops");
  auto r = post("/identity/v3/groups", admin_, R"({"group": {"name": "ops"}})");
  EXPECT_EQ(r->status, 409) << r->body;
  r = post("/identity/v3/groups", admin_, R"({"group": {}})");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("group.name"), std::string::npos) << r->body;
  r = post("/identity/v3/groups", admin_, R"({"group": {"name": 7}})");
  EXPECT_EQ(r->status, 400);
  r = post("/identity/v3/groups", admin_, R"({"group": {"name": "x", "domain_id": "nowhere"}})");
  EXPECT_EQ(r->status, 404);
  const json g = create_group("devs");
  r = send("PATCH", "/identity/v3/groups/" + g["id"].get<std::string>(),
           R"({"group": {"domain_id": "other"}})");
  EXPECT_EQ(r->status, 400);
  r = send("PATCH", "/identity/v3/groups/" + g["id"].get<std::string>(),
           R"({"group": {"name": "ops"}})");
  EXPECT_EQ(r->status, 409);
}

TEST_F(IdentityGroupsTest, MembersAreAddedCheckedListedAndRemoved) {
  const std::string gid = create_group("ops")["id"];
  const std::string users = "/identity/v3/groups/" + gid + "/users/";
  EXPECT_EQ(send("HEAD", users + alice_id_)->status, 404);
  EXPECT_EQ(send("PUT", users + alice_id_)->status, 204);
  EXPECT_EQ(send("PUT", users + alice_id_)->status, 204);  // idempotent
  EXPECT_EQ(send("HEAD", users + alice_id_)->status, 204);
  EXPECT_EQ(send("PUT", users + "nobody")->status, 404);
  EXPECT_EQ(send("PUT", "/identity/v3/groups/nogroup/users/" + alice_id_)->status, 404);

  // The listed user is the user as GET /users/{id} shows it.
  auto r = get("/identity/v3/groups/" + gid + "/users", admin_);
  ASSERT_EQ(r->status, 200) << r->body;
  const json listed = json::parse(r->body)["users"];
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0], json::parse(get("/identity/v3/users/" + alice_id_, admin_)->body)["user"]);

  EXPECT_EQ(send("DELETE", users + alice_id_)->status, 204);
  r = send("DELETE", users + alice_id_);
  EXPECT_EQ(r->status, 404);
  EXPECT_TRUE(
      json::parse(get("/identity/v3/groups/" + gid + "/users", admin_)->body)["users"].empty());
}

TEST_F(IdentityGroupsTest, AUserListsTheirOwnGroupsButNotAnothersAndGainsNoRoleFromThem) {
  const json g1 = create_group("ops");
  const json g2 = create_group("devs");
  for (const json* g : {&g1, &g2}) {
    ASSERT_EQ(
        send("PUT", "/identity/v3/groups/" + (*g)["id"].get<std::string>() + "/users/" + alice_id_)
            ->status,
        204);
  }
  const std::string alice = login("alice", "alice-secret", "demo");
  auto r = get("/identity/v3/users/" + alice_id_ + "/groups", alice);
  ASSERT_EQ(r->status, 200) << r->body;
  const json groups = json::parse(r->body)["groups"];
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0], g2);  // by name: devs, ops
  EXPECT_EQ(groups[1], g1);
  const std::string bob = login("bob", "bob-secret", "other");
  EXPECT_EQ(get("/identity/v3/users/" + alice_id_ + "/groups", bob)->status, 403);
  EXPECT_EQ(get("/identity/v3/users/nobody/groups", admin_)->status, 404);
  // Groups carry no roles: alice's token is still only a member's.
  EXPECT_EQ(get("/identity/v3/groups", alice)->status, 403);
}

TEST_F(IdentityGroupsTest, DeletingAUserRemovesTheirMemberships) {
  json user = {{"user", {{"name", "carol"}, {"password", "carol-secret"}}}};
  auto r = post("/identity/v3/users", admin_, user.dump());
  ASSERT_EQ(r->status, 201) << r->body;
  const std::string uid = json::parse(r->body)["user"]["id"];
  const std::string gid = create_group("ops")["id"];
  ASSERT_EQ(send("PUT", "/identity/v3/groups/" + gid + "/users/" + uid)->status, 204);
  ASSERT_EQ(send("DELETE", "/identity/v3/users/" + uid)->status, 204);
  r = get("/identity/v3/groups/" + gid + "/users", admin_);
  EXPECT_TRUE(json::parse(r->body)["users"].empty()) << r->body;
}

TEST_F(IdentityGroupsTest, GroupKeepsPropertiesOfTheClientsOwn) {
  // Tempest's test_roles gives its group a project_id; keystone keeps it in `extra`.
  const json g = create_group("x", R"(, "project_id": "p1", "color": {"r": 1})");
  EXPECT_EQ(g["project_id"], "p1");
  EXPECT_EQ(g["color"], json({{"r", 1}}));
  const std::string id = g["id"];
  auto r = send("PATCH", "/identity/v3/groups/" + id, R"({"group": {"color": "red"}})");
  ASSERT_EQ(r->status, 200) << r->body;
  const json shown = json::parse(get("/identity/v3/groups/" + id, admin_)->body)["group"];
  EXPECT_EQ(shown["color"], "red");
  EXPECT_EQ(shown["project_id"], "p1");
  EXPECT_EQ(shown["name"], "x");
  EXPECT_EQ(shown["links"]["self"].get<std::string>().find("/identity/v3/groups/" + id) !=
                std::string::npos,
            true);
  const std::string big(70000, 'a');
  r = post("/identity/v3/groups", admin_, json{{"group", {{"name", "big"}, {"blob", big}}}}.dump());
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("'group'"), std::string::npos) << r->body;
}

}  // namespace
}  // namespace gpucloud::api::testing

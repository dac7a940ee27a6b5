// Roles on projects held by groups: what their members get, and that they lose it at the next
// request with the same token when the membership, the grant, the group or the role goes.
#include <set>

#include "api_fixture.h"

namespace gpucloud::api::testing {
namespace {

class IdentityGroupRolesTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    admin_ = login("admin", "admin-secret", "admin");
    ASSERT_FALSE(admin_.empty());
    alice_ = user_id("alice");
    lab_ = create("project", {{"name", "lab"}});
    group_ = create("group", {{"name", "researchers"}});
  }
  httplib::Result put(const std::string& path, const std::string& token) {
    return client_->Put(path.c_str(), {{"X-Auth-Token", token}}, "", "application/json");
  }
  httplib::Result del(const std::string& path, const std::string& token) {
    return client_->Delete(path.c_str(), {{"X-Auth-Token", token}});
  }
  httplib::Result head(const std::string& path, const std::string& token) {
    return client_->Head(path.c_str(), {{"X-Auth-Token", token}});
  }
  std::string create(const std::string& kind, const json& fields) {
    auto r = post("/identity/v3/" + kind + "s", admin_, json{{kind, fields}}.dump());
    EXPECT_EQ(r->status, 201) << r->body;
    return r->status == 201 ? json::parse(r->body)[kind]["id"].get<std::string>() : "";
  }
  std::string user_id(const std::string& name) {
    auto r = get("/identity/v3/users?name=" + name, admin_);
    return json::parse(r->body)["users"][0]["id"];
  }
  std::string group_role(const std::string& project, const std::string& group,
                         const std::string& role) {
    return "/identity/v3/projects/" + project + "/groups/" + group + "/roles/" + role;
  }
  std::string membership(const std::string& group, const std::string& user) {
    return "/identity/v3/groups/" + group + "/users/" + user;
  }
  // The roles of a token, as GET /auth/tokens shows them; empty when the token is refused.
  std::set<std::string> token_roles(const std::string& token) {
    auto r = client_->Get("/identity/v3/auth/tokens",
                          {{"X-Auth-Token", admin_}, {"X-Subject-Token", token}});
    std::set<std::string> out;
    EXPECT_EQ(r->status, 200) << r->body;
    if (r->status != 200) return out;
    const json body = json::parse(r->body);
    for (const auto& role : body["token"]["roles"]) {
      out.insert(role["name"].get<std::string>());
    }
    return out;
  }
  // alice's project-scoped token on `project`, by id; "" when refused.
  std::string alice_on(const std::string& project, int* status = nullptr) {
    json body = {{"auth",
                  {{"identity",
                    {{"methods", {"password"}},
                     {"password",
                      {{"user",
                        {{"name", "alice"},
                         {"domain", {{"id", "default"}}},
                         {"password", "alice-secret"}}}}}}},
                   {"scope", {{"project", {{"id", project}}}}}}}};
    auto r = client_->Post("/identity/v3/auth/tokens", body.dump(), "application/json");
    if (status) *status = r->status;
    return r->status == 201 ? r->get_header_value("X-Subject-Token") : "";
  }
  std::string admin_, alice_, lab_, group_;
};

TEST_F(IdentityGroupRolesTest, MemberOfAGroupWithARoleGetsATokenOnTheProject) {
  int status = 0;
  EXPECT_EQ(alice_on(lab_, &status), "");
  EXPECT_EQ(status, 401);
  ASSERT_EQ(put(group_role(lab_, group_, "member"), admin_)->status, 204);
  // The grant alone gives alice nothing: she is no member yet.
  EXPECT_EQ(alice_on(lab_, &status), "");
  EXPECT_EQ(status, 401);
  ASSERT_EQ(put(membership(group_, alice_), admin_)->status, 204);
  const std::string token = alice_on(lab_);
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(token_roles(token), (std::set<std::string>{"member", "reader"}));
  EXPECT_EQ(get("/compute/v2.1/flavors", token)->status, 200);
  // Re-scoping from her demo token reaches the group's project too.
  const std::string demo = login("alice", "alice-secret", "demo");
  json rescope = {{"auth",
                   {{"identity", {{"methods", {"token"}}, {"token", {{"id", demo}}}}},
                    {"scope", {{"project", {{"id", lab_}}}}}}}};
  auto r = client_->Post("/identity/v3/auth/tokens", rescope.dump(), "application/json");
  EXPECT_EQ(r->status, 201) << r->body;
  // And the project is one of hers.
  r = get("/identity/v3/auth/projects", demo);
  ASSERT_EQ(r->status, 200);
  bool listed = false;
  const json projects = json::parse(r->body)["projects"];
  for (const auto& p : projects) listed |= p["id"] == lab_;
  EXPECT_TRUE(listed) << r->body;
}

TEST_F(IdentityGroupRolesTest, JoiningAGroupAddsItsRolesToAnExistingToken) {
  ASSERT_EQ(
      put("/identity/v3/projects/" + lab_ + "/users/" + alice_ + "/roles/reader", admin_)->status,
      204);
  const std::string token = alice_on(lab_);
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(token_roles(token), (std::set<std::string>{"reader"}));
  ASSERT_EQ(put(group_role(lab_, group_, "member"), admin_)->status, 204);
  ASSERT_EQ(put(membership(group_, alice_), admin_)->status, 204);
  EXPECT_EQ(token_roles(token), (std::set<std::string>{"member", "reader"}));
}

TEST_F(IdentityGroupRolesTest, RemovedMemberLosesTheProjectOnTheNextRequest) {
  ASSERT_EQ(put(group_role(lab_, group_, "member"), admin_)->status, 204);
  ASSERT_EQ(put(membership(group_, alice_), admin_)->status, 204);
  const std::string token = alice_on(lab_);
  ASSERT_EQ(get("/compute/v2.1/flavors", token)->status, 200);
  ASSERT_EQ(del(membership(group_, alice_), admin_)->status, 204);
  EXPECT_EQ(get("/compute/v2.1/flavors", token)->status, 401);
  int status = 0;
  EXPECT_EQ(alice_on(lab_, &status), "");
  EXPECT_EQ(status, 401);
}

TEST_F(IdentityGroupRolesTest, RemovedMemberLosesAnAdminRoleEvenWhileHoldingAnotherRole) {
  // alice is a member of demo herself; a group makes her admin there.
  const std::string demo =
      json::parse(get("/identity/v3/projects?name=demo", admin_)->body)["projects"][0]["id"];
  ASSERT_EQ(put(group_role(demo, group_, "admin"), admin_)->status, 204);
  ASSERT_EQ(put(membership(group_, alice_), admin_)->status, 204);
  const std::string token = login("alice", "alice-secret", "demo");
  ASSERT_EQ(get("/identity/v3/users", token)->status, 200);
  ASSERT_EQ(del(membership(group_, alice_), admin_)->status, 204);
  // Her token on demo is revoked (keystone's rule), and a new one is no admin's.
  EXPECT_EQ(get("/identity/v3/users", token)->status, 401);
  const std::string again = login("alice", "alice-secret", "demo");
  ASSERT_FALSE(again.empty());
  EXPECT_EQ(get("/identity/v3/users", again)->status, 403);
  EXPECT_EQ(token_roles(again), (std::set<std::string>{"member", "reader"}));
}

TEST_F(IdentityGroupRolesTest, RevokedGroupRoleEndsTheMembersTokens) {
  ASSERT_EQ(put(group_role(lab_, group_, "member"), admin_)->status, 204);
  ASSERT_EQ(put(membership(group_, alice_), admin_)->status, 204);
  const std::string token = alice_on(lab_);
  ASSERT_EQ(get("/compute/v2.1/flavors", token)->status, 200);
  ASSERT_EQ(del(group_role(lab_, group_, "member"), admin_)->status, 204);
  EXPECT_EQ(get("/compute/v2.1/flavors", token)->status, 401);
  EXPECT_EQ(del(group_role(lab_, group_, "member"), admin_)->status, 404);
}

TEST_F(IdentityGroupRolesTest, DeletedGroupOrRoleEndsTheMembersTokens) {
  const std::string role = create("role", {{"name", "operator"}});
  ASSERT_EQ(put(group_role(lab_, group_, role), admin_)->status, 204);
  ASSERT_EQ(put(membership(group_, alice_), admin_)->status, 204);
  std::string token = alice_on(lab_);
  EXPECT_EQ(token_roles(token), (std::set<std::string>{"operator"}));
  // A renamed role stays the group's.
  ASSERT_EQ(client_
                ->Patch(("/identity/v3/roles/" + role).c_str(), {{"X-Auth-Token", admin_}},
                        R"({"role": {"name": "operator2"}})", "application/json")
                ->status,
            200);
  EXPECT_EQ(token_roles(token), (std::set<std::string>{"operator2"}));
  ASSERT_EQ(del("/identity/v3/roles/" + role, admin_)->status, 204);
  EXPECT_EQ(get("/compute/v2.1/flavors", token)->status, 401);

  ASSERT_EQ(put(group_role(lab_, group_, "member"), admin_)->status, 204);
  token = alice_on(lab_);
  ASSERT_EQ(get("/compute/v2.1/flavors", token)->status, 200);
  ASSERT_EQ(del("/identity/v3/groups/" + group_, admin_)->status, 204);
  EXPECT_EQ(get("/compute/v2.1/flavors", token)->status, 401);
}

TEST_F(IdentityGroupRolesTest, GroupOfAnotherDomainGrantsItsRolesToItsMembers) {
  const std::string domain = create("domain", {{"name", "partners"}});
  const std::string group = create("group", {{"name", "researchers"}, {"domain_id", domain}});
  ASSERT_EQ(put(group_role(lab_, group, "member"), admin_)->status, 204);
  ASSERT_EQ(put(membership(group, alice_), admin_)->status, 204);
  const std::string token = alice_on(lab_);
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(get("/compute/v2.1/flavors", token)->status, 200);
  // Disabling and deleting the group's domain takes its groups and their roles with it.
  ASSERT_EQ(client_
                ->Patch(("/identity/v3/domains/" + domain).c_str(), {{"X-Auth-Token", admin_}},
                        R"({"domain": {"enabled": false}})", "application/json")
                ->status,
            200);
  ASSERT_EQ(del("/identity/v3/domains/" + domain, admin_)->status, 204);
  EXPECT_EQ(get("/compute/v2.1/flavors", token)->status, 401);
  int status = 0;
  EXPECT_EQ(alice_on(lab_, &status), "");
  EXPECT_EQ(status, 401);
}

TEST_F(IdentityGroupRolesTest, NonAdminCannotAssignARoleToAGroup) {
  ASSERT_EQ(put(membership(group_, alice_), admin_)->status, 204);
  const std::string alice = login("alice", "alice-secret", "demo");
  ASSERT_FALSE(alice.empty());
  EXPECT_EQ(put(group_role(lab_, group_, "admin"), alice)->status, 403);
  EXPECT_EQ(get("/identity/v3/projects/" + lab_ + "/groups/" + group_ + "/roles", alice)->status,
            403);
  EXPECT_EQ(head(group_role(lab_, group_, "admin"), alice)->status, 403);
  EXPECT_EQ(alice_on(lab_), "");
}

TEST_F(IdentityGroupRolesTest, GroupRolesAreCheckedListedAndNamedWhenMissing) {
  const std::string one = group_role(lab_, group_, "member");
  EXPECT_EQ(head(one, admin_)->status, 404);
  ASSERT_EQ(put(one, admin_)->status, 204);
  ASSERT_EQ(put(one, admin_)->status, 204);  // idempotent
  EXPECT_EQ(head(one, admin_)->status, 204);
  auto r = get("/identity/v3/projects/" + lab_ + "/groups/" + group_ + "/roles", admin_);
  ASSERT_EQ(r->status, 200);
  const json roles = json::parse(r->body)["roles"];
  ASSERT_EQ(roles.size(), 1u);
  EXPECT_EQ(roles[0]["id"], "member");
  r = put(group_role("nosuch", group_, "member"), admin_);
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(r->body.find("project: nosuch"), std::string::npos) << r->body;
  r = put(group_role(lab_, "nosuch", "member"), admin_);
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(r->body.find("group: nosuch"), std::string::npos) << r->body;
  r = put(group_role(lab_, group_, "nosuch"), admin_);
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(r->body.find("role: nosuch"), std::string::npos) << r->body;
  // The user's own roles on a project are listed apart from the group's.
  r = get("/identity/v3/projects/" + lab_ + "/users/" + alice_ + "/roles", admin_);
  ASSERT_EQ(r->status, 200);
  EXPECT_TRUE(json::parse(r->body)["roles"].empty());
}

TEST_F(IdentityGroupRolesTest, RoleAssignmentsListGroupRowsAndTheirEffectiveMembers) {
  ASSERT_EQ(put(group_role(lab_, group_, "member"), admin_)->status, 204);
  ASSERT_EQ(put(membership(group_, alice_), admin_)->status, 204);
  auto rows = [&](const std::string& query) {
    auto r = get("/identity/v3/role_assignments?" + query, admin_);
    EXPECT_EQ(r->status, 200) << r->body;
    return json::parse(r->body)["role_assignments"];
  };
  const json by_group = rows("group.id=" + group_ + "&include_names=true");
  ASSERT_EQ(by_group.size(), 1u);
  EXPECT_EQ(by_group[0]["group"]["name"], "researchers");
  EXPECT_EQ(by_group[0]["scope"]["project"]["id"], lab_);
  EXPECT_EQ(by_group[0]["scope"]["project"]["name"], "lab");
  // Not effective: alice's rows are her own only.
  const json own = rows("user.id=" + alice_);
  for (const auto& a : own) EXPECT_NE(a["scope"]["project"]["id"], lab_);
  // Effective: the group's row shows as hers, with the membership that carries it, and so does
  // the reader that member implies (keystone's rule).
  const json effective = rows("effective&user.id=" + alice_ + "&scope.project.id=" + lab_);
  ASSERT_EQ(effective.size(), 2u) << effective;
  EXPECT_EQ(effective[0]["role"]["id"], "member");
  EXPECT_EQ(effective[1]["role"]["id"], "reader");
  for (const auto& row : effective) {
    EXPECT_EQ(row["user"]["id"], alice_);
    EXPECT_FALSE(row.contains("group"));
    EXPECT_NE(row["links"]["membership"].get<std::string>().find(membership(group_, alice_)),
              std::string::npos);
  }
  EXPECT_EQ(get("/identity/v3/role_assignments?effective&group.id=" + group_, admin_)->status, 400);
  EXPECT_TRUE(rows("role.id=admin&scope.project.id=" + lab_).empty());
}

}  // namespace
}  // namespace gpucloud::api::testing

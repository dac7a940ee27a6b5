// Token scopes: re-scoping with a token, the default project, roles on domains and
// GET /auth/domains, including what an attacker must not get.
#include <set>

#include "api_fixture.h"

namespace gpucloud::api::testing {
namespace {

class IdentityScopesTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    admin_ = login("admin", "admin-secret", "admin");
    ASSERT_FALSE(admin_.empty());
  }
  httplib::Result put(const std::string& path, const std::string& token) {
    return client_->Put(path.c_str(), {{"X-Auth-Token", token}}, "", "application/json");
  }
  httplib::Result del(const std::string& path, const std::string& token) {
    return client_->Delete(path.c_str(), {{"X-Auth-Token", token}});
  }
  std::string create(const std::string& kind, const json& fields) {
    auto r = post("/identity/v3/" + kind + "s", admin_, json{{kind, fields}}.dump());
    EXPECT_EQ(r->status, 201) << r->body;
    return r->status == 201 ? json::parse(r->body)[kind]["id"].get<std::string>() : "";
  }
  std::string project_id(const std::string& name) {
    auto r = get("/identity/v3/projects?name=" + name, admin_);
    return json::parse(r->body)["projects"][0]["id"];
  }
  std::string user_id(const std::string& name) {
    auto r = get("/identity/v3/users?name=" + name, admin_);
    return json::parse(r->body)["users"][0]["id"];
  }
  // POST /auth/tokens with `auth`; the reply.
  httplib::Result auth(const json& a) {
    return client_->Post("/identity/v3/auth/tokens", json{{"auth", a}}.dump(), "application/json");
  }
  static json password(const std::string& user, const std::string& secret,
                       const std::string& domain_name = "Default") {
    return {
        {"methods", {"password"}},
        {"password",
         {{"user", {{"name", user}, {"domain", {{"name", domain_name}}}, {"password", secret}}}}}};
  }
  static json by_token(const std::string& token) {
    return {{"methods", {"token"}}, {"token", {{"id", token}}}};
  }
  static json project_scope(const std::string& id) { return {{"project", {{"id", id}}}}; }
  std::set<std::string> auth_domains(const std::string& token) {
    auto r = get("/identity/v3/auth/domains", token);
    EXPECT_EQ(r->status, 200) << r->body;
    std::set<std::string> out;
    const json body = json::parse(r->body);
    for (const auto& d : body["domains"]) out.insert(d["id"].get<std::string>());
    return out;
  }
  std::string admin_;
};

TEST_F(IdentityScopesTest, RescopedTokenKeepsTheUserAndExpiresWithTheOriginal) {
  auto r = auth({{"identity", password("alice", "alice-secret")}});
  ASSERT_EQ(r->status, 201) << r->body;
  const std::string original = r->get_header_value("X-Subject-Token");
  const json first = json::parse(r->body)["token"];

  r = auth({{"identity", by_token(original)}, {"scope", project_scope(project_id("demo"))}});
  ASSERT_EQ(r->status, 201) << r->body;
  const json second = json::parse(r->body)["token"];
  EXPECT_EQ(second["expires_at"], first["expires_at"]);
  EXPECT_EQ(second["user"], first["user"]);
  EXPECT_EQ(std::set<std::string>(second["methods"].begin(), second["methods"].end()),
            (std::set<std::string>{"password", "token"}));
  EXPECT_EQ(second["project"]["domain"]["id"], "default");
  EXPECT_EQ(second["project"]["domain"]["name"], "Default");
}

TEST_F(IdentityScopesTest, RescopingToAProjectWithoutARoleIsUnauthorized) {
  auto r = auth({{"identity", password("alice", "alice-secret")}});
  ASSERT_EQ(r->status, 201) << r->body;
  const std::string token = r->get_header_value("X-Subject-Token");
  // bob's project: alice holds no role there.
  r = auth({{"identity", by_token(token)}, {"scope", project_scope(project_id("other"))}});
  EXPECT_EQ(r->status, 401) << r->body;
  EXPECT_TRUE(r->get_header_value("X-Subject-Token").empty());
}

TEST_F(IdentityScopesTest, RevokedTokenCannotBeRescoped) {
  auto r = auth({{"identity", password("alice", "alice-secret")}});
  const std::string token = r->get_header_value("X-Subject-Token");
  ASSERT_EQ(client_
                ->Delete("/identity/v3/auth/tokens",
                         {{"X-Auth-Token", admin_}, {"X-Subject-Token", token}})
                ->status,
            204);
  r = auth({{"identity", by_token(token)}, {"scope", project_scope(project_id("demo"))}});
  EXPECT_EQ(r->status, 401) << r->body;
}

TEST_F(IdentityScopesTest, TokenShowsTheRolesIdAndTheProjectsOwnDomain) {
  const std::string domain = create("domain", {{"name", "lab"}});
  const std::string project = create("project", {{"name", "p"}, {"domain_id", domain}});
  const std::string role = create("role", {{"name", "observer"}});
  const std::string user = create("user", {{"name", "carol"},
                                           {"password", "carol-secret"},
                                           {"domain_id", domain},
                                           {"default_project_id", project}});
  ASSERT_EQ(
      put("/identity/v3/projects/" + project + "/users/" + user + "/roles/" + role, admin_)->status,
      204);
  // No scope: the default project; the user's domain named by its name.
  auto r = auth({{"identity", password("carol", "carol-secret", "lab")}});
  ASSERT_EQ(r->status, 201) << r->body;
  const json t = json::parse(r->body)["token"];
  EXPECT_EQ(t["project"]["id"], project);
  EXPECT_EQ(t["project"]["domain"]["id"], domain);
  EXPECT_EQ(t["project"]["domain"]["name"], "lab");
  EXPECT_EQ(t["user"]["domain"]["name"], "lab");
  ASSERT_EQ(t["roles"].size(), 1u);
  EXPECT_EQ(t["roles"][0]["id"], role);
  EXPECT_EQ(t["roles"][0]["name"], "observer");

  // GET /auth/tokens shows the same scope.
  const std::string token = r->get_header_value("X-Subject-Token");
  r = client_->Get("/identity/v3/auth/tokens",
                   {{"X-Auth-Token", admin_}, {"X-Subject-Token", token}});
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["token"]["project"]["domain"]["id"], domain);
}

TEST_F(IdentityScopesTest, DefaultProjectWithoutARoleGivesAnUnscopedToken) {
  const std::string project = create("project", {{"name", "p"}});
  create("user", {{"name", "erin"}, {"password", "erin-secret"}, {"default_project_id", project}});
  auto r = auth({{"identity", password("erin", "erin-secret")}});
  ASSERT_EQ(r->status, 201) << r->body;
  const json t = json::parse(r->body)["token"];
  EXPECT_FALSE(t.contains("project"));
  EXPECT_FALSE(t.contains("roles"));
  // Naming the project explicitly stays a refusal.
  r = auth({{"identity", password("erin", "erin-secret")}, {"scope", project_scope(project)}});
  EXPECT_EQ(r->status, 401) << r->body;
}

TEST_F(IdentityScopesTest, UserOfADisabledDomainCannotLogIn) {
  const std::string domain = create("domain", {{"name", "lab"}});
  create("user", {{"name", "dave"}, {"password", "dave-secret"}, {"domain_id", domain}});
  ASSERT_EQ(auth({{"identity", password("dave", "dave-secret", "lab")}})->status, 201);
  ASSERT_EQ(client_
                ->Patch(("/identity/v3/domains/" + domain).c_str(), {{"X-Auth-Token", admin_}},
                        R"({"domain": {"enabled": false}})", "application/json")
                ->status,
            200);
  EXPECT_EQ(auth({{"identity", password("dave", "dave-secret", "lab")}})->status, 401);
}

TEST_F(IdentityScopesTest, AuthDomainsListsDomainsOfTheUserAndOfItsGroupsOnly) {
  const std::string mine = create("domain", {{"name", "mine"}});
  const std::string via_group = create("domain", {{"name", "via-group"}});
  const std::string not_mine = create("domain", {{"name", "not-mine"}});
  const std::string alice = user_id("alice");
  const std::string group = create("group", {{"name", "g"}, {"domain_id", via_group}});
  ASSERT_EQ(put("/identity/v3/groups/" + group + "/users/" + alice, admin_)->status, 204);
  ASSERT_EQ(
      put("/identity/v3/domains/" + mine + "/users/" + alice + "/roles/member", admin_)->status,
      204);
  ASSERT_EQ(put("/identity/v3/domains/" + via_group + "/groups/" + group + "/roles/reader", admin_)
                ->status,
            204);
  // An assignment to someone else grants alice nothing.
  ASSERT_EQ(
      put("/identity/v3/domains/" + not_mine + "/users/" + user_id("bob") + "/roles/admin", admin_)
          ->status,
      204);

  const std::string token = login("alice", "alice-secret", "demo");
  EXPECT_EQ(auth_domains(token), (std::set<std::string>{mine, via_group}));

  // Leaving the group, and losing the direct role, take the domains away.
  ASSERT_EQ(del("/identity/v3/groups/" + group + "/users/" + alice, admin_)->status, 204);
  ASSERT_EQ(
      del("/identity/v3/domains/" + mine + "/users/" + alice + "/roles/member", admin_)->status,
      204);
  EXPECT_TRUE(auth_domains(token).empty());
}

TEST_F(IdentityScopesTest, DomainRoleAssignmentsAreCheckedListedAndRemoved) {
  const std::string domain = create("domain", {{"name", "lab"}});
  const std::string alice = user_id("alice");
  const std::string one = "/identity/v3/domains/" + domain + "/users/" + alice + "/roles/member";
  EXPECT_EQ(client_->Head(one.c_str(), {{"X-Auth-Token", admin_}})->status, 404);
  ASSERT_EQ(put(one, admin_)->status, 204);
  ASSERT_EQ(put(one, admin_)->status, 204);  // idempotent
  EXPECT_EQ(client_->Head(one.c_str(), {{"X-Auth-Token", admin_}})->status, 204);
  auto r = get("/identity/v3/domains/" + domain + "/users/" + alice + "/roles", admin_);
  ASSERT_EQ(r->status, 200) << r->body;
  const json roles = json::parse(r->body)["roles"];
  ASSERT_EQ(roles.size(), 1u);
  EXPECT_EQ(roles[0]["name"], "member");
  EXPECT_EQ(del(one, admin_)->status, 204);
  EXPECT_EQ(del(one, admin_)->status, 404);
  EXPECT_EQ(put("/identity/v3/domains/nosuch/users/" + alice + "/roles/member", admin_)->status,
            404);
  EXPECT_EQ(put("/identity/v3/domains/" + domain + "/users/nosuch/roles/member", admin_)->status,
            404);
  EXPECT_EQ(
      put("/identity/v3/domains/" + domain + "/users/" + alice + "/roles/nosuch", admin_)->status,
      404);
}

TEST_F(IdentityScopesTest, RoleAssignmentListShowsDomainRowsOfUsersAndGroups) {
  const std::string domain = create("domain", {{"name", "lab"}});
  const std::string group = create("group", {{"name", "g"}, {"domain_id", domain}});
  const std::string alice = user_id("alice");
  ASSERT_EQ(
      put("/identity/v3/domains/" + domain + "/users/" + alice + "/roles/member", admin_)->status,
      204);
  ASSERT_EQ(
      put("/identity/v3/domains/" + domain + "/groups/" + group + "/roles/reader", admin_)->status,
      204);
  auto rows = [&](const std::string& query) {
    auto r = get("/identity/v3/role_assignments?" + query, admin_);
    EXPECT_EQ(r->status, 200) << r->body;
    return json::parse(r->body)["role_assignments"];
  };
  const json by_domain = rows("scope.domain.id=" + domain + "&include_names=true");
  ASSERT_EQ(by_domain.size(), 2u);
  for (const auto& a : by_domain) {
    EXPECT_EQ(a["scope"]["domain"]["id"], domain);
    EXPECT_EQ(a["scope"]["domain"]["name"], "lab");
  }
  const json by_group = rows("group.id=" + group);
  ASSERT_EQ(by_group.size(), 1u);
  EXPECT_EQ(by_group[0]["group"]["id"], group);
  EXPECT_EQ(by_group[0]["role"]["id"], "reader");
  // alice's rows: her project role on demo and her domain role, not the group's.
  const json by_user = rows("user.id=" + alice);
  int domain_rows = 0;
  for (const auto& a : by_user) {
    EXPECT_EQ(a["user"]["id"], alice);
    domain_rows += a["scope"].contains("domain") ? 1 : 0;
  }
  EXPECT_EQ(domain_rows, 1);
  // A project filter leaves the domain rows out.
  for (const auto& a : rows("scope.project.id=" + project_id("demo"))) {
    EXPECT_TRUE(a["scope"].contains("project"));
  }
}

TEST_F(IdentityScopesTest, MemberCannotAssignItselfARoleOnADomain) {
  const std::string domain = create("domain", {{"name", "lab"}});
  const std::string alice_token = login("alice", "alice-secret", "demo");
  auto r = put("/identity/v3/domains/" + domain + "/users/" + user_id("alice") + "/roles/admin",
               alice_token);
  EXPECT_EQ(r->status, 403) << r->body;
  EXPECT_TRUE(auth_domains(alice_token).empty());
}

TEST_F(IdentityScopesTest, NoDomainScopedTokenWithOrWithoutADomainRole) {
  const std::string domain = create("domain", {{"name", "lab"}});
  const json scope = {{"domain", {{"id", domain}}}};
  auto r = auth({{"identity", password("alice", "alice-secret")}, {"scope", scope}});
  EXPECT_NE(r->status, 201) << r->body;
  EXPECT_TRUE(r->get_header_value("X-Subject-Token").empty());
  // Even an admin role on the domain gets no domain-scoped token: gpucloud's policy has no
  // rules for one, so it would grant either nothing or too much.
  ASSERT_EQ(
      put("/identity/v3/domains/" + domain + "/users/" + user_id("alice") + "/roles/admin", admin_)
          ->status,
      204);
  r = auth({{"identity", password("alice", "alice-secret")}, {"scope", scope}});
  EXPECT_NE(r->status, 201) << r->body;
  EXPECT_TRUE(r->get_header_value("X-Subject-Token").empty());
}

}  // namespace
}  // namespace gpucloud::api::testing

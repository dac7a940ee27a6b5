// Role inference rules (implied roles) and domain-specific roles: the rules' routes, what keystone
// refuses, and what a token holds through them, read again at the next request with the same
// token. A domain-specific role grants nothing by its own name, not even one called "admin".
#include <set>

#include "api_fixture.h"

namespace gpucloud::api::testing {
namespace {

using Names = std::set<std::string>;

class IdentityImpliedRolesTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    admin_ = login("admin", "admin-secret", "admin");
    ASSERT_FALSE(admin_.empty());
    alice_ = json::parse(get("/identity/v3/users?name=alice", admin_)->body)["users"][0]["id"];
    lab_ = create("project", {{"name", "lab"}});
    operator_ = create("role", {{"name", "operator"}});
    observer_ = create("role", {{"name", "observer"}});
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
  static std::string rule(const std::string& prior, const std::string& implied) {
    return "/identity/v3/roles/" + prior + "/implies/" + implied;
  }
  std::string grant(const std::string& project, const std::string& role) {
    return "/identity/v3/projects/" + project + "/users/" + alice_ + "/roles/" + role;
  }
  // alice's token on `project`, by id; "" when refused.
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
  // The roles of a token as GET /auth/tokens shows them, read again now.
  Names token_roles(const std::string& token) {
    auto r = client_->Get("/identity/v3/auth/tokens",
                          {{"X-Auth-Token", admin_}, {"X-Subject-Token", token}});
    Names out;
    EXPECT_EQ(r->status, 200) << r->body;
    if (r->status != 200) return out;
    const json listed = json::parse(r->body)["token"]["roles"];
    for (const auto& role : listed) out.insert(role["name"]);
    return out;
  }
  // The role ids GET /role_assignments lists for alice on `project`.
  std::multiset<std::string> assigned(const std::string& project, bool effective) {
    auto r = get("/identity/v3/role_assignments?user.id=" + alice_ +
                     "&scope.project.id=" + project + (effective ? "&effective" : ""),
                 admin_);
    EXPECT_EQ(r->status, 200) << r->body;
    std::multiset<std::string> out;
    const json listed = json::parse(r->body)["role_assignments"];
    for (const auto& a : listed) out.insert(a["role"]["id"]);
    return out;
  }
  std::string admin_, alice_, lab_, operator_, observer_;
};

TEST_F(IdentityImpliedRolesTest, RulesAreCreatedShownCheckedListedAndDeleted) {
  auto r = put(rule(operator_, observer_), admin_);
  ASSERT_EQ(r->status, 201) << r->body;
  json body = json::parse(r->body);
  EXPECT_EQ(body["role_inference"]["prior_role"]["id"], operator_);
  EXPECT_EQ(body["role_inference"]["prior_role"]["name"], "operator");
  EXPECT_EQ(body["role_inference"]["implies"]["id"], observer_);
  EXPECT_TRUE(body["role_inference"]["implies"]["links"].contains("self"));
  EXPECT_EQ(put(rule(operator_, observer_), admin_)->status, 409);

  r = get(rule(operator_, observer_), admin_);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["role_inference"], body["role_inference"]);
  EXPECT_EQ(head(rule(operator_, observer_), admin_)->status, 204);
  EXPECT_EQ(head(rule(observer_, operator_), admin_)->status, 404);

  r = get("/identity/v3/roles/" + operator_ + "/implies", admin_);
  ASSERT_EQ(r->status, 200);
  body = json::parse(r->body)["role_inference"];
  EXPECT_EQ(body["prior_role"]["id"], operator_);
  ASSERT_EQ(body["implies"].size(), 1u);
  EXPECT_EQ(body["implies"][0]["id"], observer_);
  r = get("/identity/v3/roles/" + observer_ + "/implies", admin_);
  EXPECT_TRUE(json::parse(r->body)["role_inference"]["implies"].empty());

  // All rules by prior role, keystone's built-in two among them.
  r = get("/identity/v3/role_inferences", admin_);
  ASSERT_EQ(r->status, 200);
  std::set<std::pair<std::string, std::string>> all;
  const json listed = json::parse(r->body)["role_inferences"];
  for (const auto& x : listed) {
    for (const auto& i : x["implies"])
      all.insert({x["prior_role"]["id"].get<std::string>(), i["id"].get<std::string>()});
  }
  EXPECT_EQ(all, (std::set<std::pair<std::string, std::string>>{
                     {"admin", "member"}, {"member", "reader"}, {operator_, observer_}}));

  ASSERT_EQ(del(rule(operator_, observer_), admin_)->status, 204);
  EXPECT_EQ(get(rule(operator_, observer_), admin_)->status, 404);
  EXPECT_EQ(del(rule(operator_, observer_), admin_)->status, 404);
  EXPECT_EQ(del(rule("member", "reader"), admin_)->status, 403);
  EXPECT_EQ(put(rule(operator_, "nosuchrole"), admin_)->status, 404);
  EXPECT_EQ(put(rule("nosuchrole", operator_), admin_)->status, 404);
  EXPECT_EQ(get("/identity/v3/roles/nosuchrole/implies", admin_)->status, 404);
}

TEST_F(IdentityImpliedRolesTest, OnlyAnAdminManagesRules) {
  const std::string alice = login("alice", "alice-secret", "demo");
  EXPECT_EQ(put(rule(operator_, "member"), alice)->status, 403);
  EXPECT_EQ(get("/identity/v3/role_inferences", alice)->status, 403);
  EXPECT_EQ(get("/identity/v3/roles/member/implies", alice)->status, 403);
  EXPECT_EQ(del(rule("admin", "member"), alice)->status, 403);
}

TEST_F(IdentityImpliedRolesTest, CyclesAndImplyingAdminAreRefused) {
  const std::string auditor = create("role", {{"name", "auditor"}});
  ASSERT_EQ(put(rule(operator_, observer_), admin_)->status, 201);
  ASSERT_EQ(put(rule(observer_, auditor), admin_)->status, 201);
  EXPECT_EQ(put(rule(auditor, operator_), admin_)->status, 403);
  EXPECT_EQ(put(rule(operator_, operator_), admin_)->status, 403);
  // keystone's prohibited_implied_role: nothing implies admin, so no rule makes an admin.
  EXPECT_EQ(put(rule(operator_, "admin"), admin_)->status, 403);
  EXPECT_EQ(put(rule("reader", "admin"), admin_)->status, 403);
  auto r = get("/identity/v3/roles/" + auditor + "/implies", admin_);
  EXPECT_TRUE(json::parse(r->body)["role_inference"]["implies"].empty());
}

TEST_F(IdentityImpliedRolesTest,
       TokenHoldsImpliedRolesAndLosesThemAtTheNextRequestWhenTheRuleGoes) {
  ASSERT_EQ(put(grant(lab_, operator_), admin_)->status, 204);
  const std::string token = alice_on(lab_);
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(token_roles(token), (Names{"operator"}));
  // Reading the roles is for readers: operator alone is no reader.
  EXPECT_EQ(get("/identity/v3/roles", token)->status, 403);

  ASSERT_EQ(put(rule(operator_, "member"), admin_)->status, 201);
  EXPECT_EQ(token_roles(token), (Names{"operator", "member", "reader"}));
  EXPECT_EQ(get("/identity/v3/roles", token)->status, 200);
  EXPECT_EQ(get("/compute/v2.1/flavors", token)->status, 200);
  // A new token shows them too, each with its id.
  const std::string fresh = alice_on(lab_);
  auto r = client_->Get("/identity/v3/auth/tokens",
                        {{"X-Auth-Token", admin_}, {"X-Subject-Token", fresh}});
  ASSERT_EQ(r->status, 200);
  Names ids;
  const json listed = json::parse(r->body)["token"]["roles"];
  for (const auto& role : listed) ids.insert(role["id"]);
  EXPECT_EQ(ids, (Names{operator_, "member", "reader"}));

  ASSERT_EQ(del(rule(operator_, "member"), admin_)->status, 204);
  EXPECT_EQ(token_roles(token), (Names{"operator"}));
  EXPECT_EQ(get("/identity/v3/roles", token)->status, 403);
}

TEST_F(IdentityImpliedRolesTest, EffectiveAssignmentsListTheImpliedRoles) {
  ASSERT_EQ(put(grant(lab_, operator_), admin_)->status, 204);
  ASSERT_EQ(put(rule(operator_, observer_), admin_)->status, 201);
  EXPECT_EQ(assigned(lab_, false), (std::multiset<std::string>{operator_}));
  EXPECT_EQ(assigned(lab_, true), (std::multiset<std::string>{operator_, observer_}));
  // The implied row names its prior role, and the assignment it comes from.
  auto r = get("/identity/v3/role_assignments?effective&role.id=" + observer_, admin_);
  const json rows = json::parse(r->body)["role_assignments"];
  ASSERT_EQ(rows.size(), 1u) << r->body;
  EXPECT_EQ(rows[0]["user"]["id"], alice_);
  const std::string links = rows[0]["links"].dump();
  EXPECT_NE(links.find("/roles/" + operator_), std::string::npos) << links;
  EXPECT_TRUE(rows[0]["links"].contains("prior_role")) << links;

  ASSERT_EQ(del(rule(operator_, observer_), admin_)->status, 204);
  EXPECT_EQ(assigned(lab_, true), (std::multiset<std::string>{operator_}));
  // keystone's own rules are expanded too.
  ASSERT_EQ(put(grant(lab_, "member"), admin_)->status, 204);
  EXPECT_EQ(assigned(lab_, true), (std::multiset<std::string>{operator_, "member", "reader"}));
}

TEST_F(IdentityImpliedRolesTest, DomainRolesAreListedApartFromGlobalRoles) {
  const std::string domain = create("domain", {{"name", "partners"}});
  auto r = post("/identity/v3/roles", admin_,
                R"({"role": {"name": "operator", "domain_id": ")" + domain + R"("}})");
  ASSERT_EQ(r->status, 201) << r->body;
  const json role = json::parse(r->body)["role"];
  EXPECT_EQ(role["domain_id"], domain);
  EXPECT_EQ(role["name"], "operator");
  EXPECT_EQ(post("/identity/v3/roles", admin_,
                 R"({"role": {"name": "operator", "domain_id": ")" + domain + R"("}})")
                ->status,
            409);
  EXPECT_EQ(post("/identity/v3/roles", admin_, R"({"role": {"name": "x", "domain_id": "nosuch"}})")
                ->status,
            404);

  r = get("/identity/v3/roles?domain_id=" + domain, admin_);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["roles"], json::array({role}));
  r = get("/identity/v3/roles", admin_);
  const json listed = json::parse(r->body)["roles"];
  for (const auto& g : listed) {
    EXPECT_NE(g["id"], role["id"]);
    EXPECT_TRUE(g["domain_id"].is_null());
  }
  EXPECT_EQ(json::parse(get("/identity/v3/roles/" + role["id"].get<std::string>(), admin_)
                            ->body)["role"]["domain_id"],
            domain);
  EXPECT_TRUE(json::parse(get("/identity/v3/roles/" + operator_, admin_)->body)["role"]["domain_id"]
                  .is_null());
}

// Security: policy grants by the names admin, member and reader. A domain role of that name must
// grant nothing, however it is assigned; it conveys only the global roles it implies.
TEST_F(IdentityImpliedRolesTest, DomainRoleNamedAdminGrantsNothing) {
  const std::string domain = create("domain", {{"name", "partners"}});
  const std::string project = create("project", {{"name", "outpost"}, {"domain_id", domain}});
  const std::string fake_admin = create("role", {{"name", "admin"}, {"domain_id", domain}});
  const std::string fake_member = create("role", {{"name", "member"}, {"domain_id", domain}});
  ASSERT_EQ(put(grant(project, fake_admin), admin_)->status, 204);
  ASSERT_EQ(put(grant(project, fake_member), admin_)->status, 204);
  const std::string group = create("group", {{"name", "ops"}, {"domain_id", domain}});
  ASSERT_EQ(put("/identity/v3/groups/" + group + "/users/" + alice_, admin_)->status, 204);
  ASSERT_EQ(
      put("/identity/v3/projects/" + project + "/groups/" + group + "/roles/" + fake_admin, admin_)
          ->status,
      204);
  // Held, listed by id, and yet no token: the roles alone convey nothing.
  EXPECT_EQ(assigned(project, false), (std::multiset<std::string>{fake_admin, fake_member}));
  EXPECT_TRUE(assigned(project, true).empty());
  int status = 0;
  EXPECT_EQ(alice_on(project, &status), "");
  EXPECT_EQ(status, 401);

  // With reader of her own, her token there holds reader only and is refused an admin's work.
  ASSERT_EQ(put(grant(project, "reader"), admin_)->status, 204);
  const std::string token = alice_on(project);
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(token_roles(token), (Names{"reader"}));
  EXPECT_EQ(get("/identity/v3/users", token)->status, 403);
  EXPECT_EQ(post("/identity/v3/roles", token, R"({"role": {"name": "mine"}})")->status, 403);
  EXPECT_EQ(get("/compute/v2.1/os-hypervisors", token)->status, 403);

  // Once it implies member, it conveys member (and reader): never admin.
  ASSERT_EQ(put(rule(fake_admin, "member"), admin_)->status, 201);
  EXPECT_EQ(token_roles(token), (Names{"member", "reader"}));
  EXPECT_EQ(get("/identity/v3/users", token)->status, 403);
  // Nor can a rule make it admin, nor make a global role imply it.
  EXPECT_EQ(put(rule(fake_admin, "admin"), admin_)->status, 403);
  EXPECT_EQ(put(rule("member", fake_admin), admin_)->status, 403);
  EXPECT_EQ(put(rule(operator_, fake_member), admin_)->status, 403);
}

TEST_F(IdentityImpliedRolesTest, DomainRoleIsGrantedOnItsOwnDomainsProjectsOnly) {
  const std::string domain = create("domain", {{"name", "partners"}});
  const std::string local = create("role", {{"name", "local"}, {"domain_id", domain}});
  // lab is in the default domain.
  EXPECT_EQ(put(grant(lab_, local), admin_)->status, 403);
  const std::string group = create("group", {{"name", "ops"}});
  EXPECT_EQ(
      put("/identity/v3/projects/" + lab_ + "/groups/" + group + "/roles/" + local, admin_)->status,
      403);
  EXPECT_TRUE(assigned(lab_, false).empty());
}

TEST_F(IdentityImpliedRolesTest, DeletingARoleDeletesItsRules) {
  ASSERT_EQ(put(grant(lab_, operator_), admin_)->status, 204);
  ASSERT_EQ(put(rule(operator_, observer_), admin_)->status, 201);
  const std::string token = alice_on(lab_);
  EXPECT_EQ(token_roles(token), (Names{"operator", "observer"}));
  ASSERT_EQ(del("/identity/v3/roles/" + observer_, admin_)->status, 204);
  EXPECT_EQ(token_roles(token), (Names{"operator"}));
  auto r = get("/identity/v3/roles/" + operator_ + "/implies", admin_);
  EXPECT_TRUE(json::parse(r->body)["role_inference"]["implies"].empty());
}

}  // namespace
}  // namespace gpucloud::api::testing

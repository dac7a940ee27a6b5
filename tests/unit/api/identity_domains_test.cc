// Keystone v3 domains and roles: create, update, delete, as keystone answers them.
#include <set>

#include "api_fixture.h"

namespace gpucloud::api::testing {
namespace {

class IdentityDomainsTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    admin_ = login("admin", "admin-secret", "admin");
    ASSERT_FALSE(admin_.empty());
  }
  httplib::Result patch(const std::string& path, const std::string& body) {
    return client_->Patch(path.c_str(), {{"X-Auth-Token", admin_}}, body, "application/json");
  }
  httplib::Result del(const std::string& path) {
    return client_->Delete(path.c_str(), {{"X-Auth-Token", admin_}});
  }
  // Creates a domain and returns its id ("" on failure).
  std::string create_domain(const std::string& name, bool enabled = true) {
    json body = {{"domain", {{"name", name}, {"enabled", enabled}}}};
    auto r = post("/identity/v3/domains", admin_, body.dump());
    EXPECT_EQ(r->status, 201) << r->body;
    return r->status == 201 ? json::parse(r->body)["domain"]["id"].get<std::string>() : "";
  }
  std::string admin_;
};

TEST_F(IdentityDomainsTest, AdminCreatesUpdatesShowsListsAndDeletesADomain) {
  auto r = post("/identity/v3/domains", admin_,
                R"({"domain": {"name": "research", "description": "lab"}})");
  ASSERT_EQ(r->status, 201) << r->body;
  auto d = json::parse(r->body)["domain"];
  EXPECT_EQ(d["name"], "research");
  EXPECT_EQ(d["description"], "lab");
  EXPECT_EQ(d["enabled"], true);
  const std::string id = d["id"];

  r = patch("/identity/v3/domains/" + id,
            R"({"domain": {"name": "research2", "description": "d2", "enabled": false}})");
  ASSERT_EQ(r->status, 200) << r->body;
  r = get("/identity/v3/domains/" + id, admin_);
  ASSERT_EQ(r->status, 200) << r->body;
  d = json::parse(r->body)["domain"];
  EXPECT_EQ(d["name"], "research2");
  EXPECT_EQ(d["description"], "d2");
  EXPECT_EQ(d["enabled"], false);

  r = get("/identity/v3/domains?enabled=true", admin_);
  // Held in a variable: a range-for over a member of a temporary reads freed memory.
  const json enabled = json::parse(r->body);
  for (const auto& x : enabled["domains"]) EXPECT_TRUE(x["enabled"].get<bool>());
  r = get("/identity/v3/domains?name=research2", admin_);
  ASSERT_EQ(json::parse(r->body)["domains"].size(), 1u);

  EXPECT_EQ(del("/identity/v3/domains/" + id)->status, 204);
  EXPECT_EQ(get("/identity/v3/domains/" + id, admin_)->status, 404);
  EXPECT_EQ(del("/identity/v3/domains/" + id)->status, 404);
}

TEST_F(IdentityDomainsTest, DomainWithoutDescriptionHasAnEmptyOne) {
  auto r = post("/identity/v3/domains", admin_, R"({"domain": {"name": "plain"}})");
  ASSERT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(json::parse(r->body)["domain"]["description"], "");
}

TEST_F(IdentityDomainsTest, DomainNameMustBeOneTo64CharactersAndUnique) {
  EXPECT_EQ(post("/identity/v3/domains", admin_, R"({"domain": {}})")->status, 400);
  EXPECT_EQ(post("/identity/v3/domains", admin_, R"({"domain": {"name": ""}})")->status, 400);
  json too_long = {{"domain", {{"name", std::string(65, 'd')}}}};
  EXPECT_EQ(post("/identity/v3/domains", admin_, too_long.dump())->status, 400);
  json just_right = {{"domain", {{"name", std::string(64, 'd')}}}};
  EXPECT_EQ(post("/identity/v3/domains", admin_, just_right.dump())->status, 201);
  EXPECT_EQ(post("/identity/v3/domains", admin_, R"({"domain": {"name": "Default"}})")->status,
            409);
  const std::string id = create_domain("second");
  EXPECT_EQ(patch("/identity/v3/domains/" + id, R"({"domain": {"name": "Default"}})")->status, 409);
}

TEST_F(IdentityDomainsTest, EnabledDomainCannotBeDeletedUntilDisabled) {
  const std::string id = create_domain("busy");
  auto r = del("/identity/v3/domains/" + id);
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find("Cannot delete a domain that is enabled, please disable it first."),
            std::string::npos)
      << r->body;
  EXPECT_EQ(get("/identity/v3/domains/" + id, admin_)->status, 200);
  ASSERT_EQ(patch("/identity/v3/domains/" + id, R"({"domain": {"enabled": false}})")->status, 200);
  EXPECT_EQ(del("/identity/v3/domains/" + id)->status, 204);
}

TEST_F(IdentityDomainsTest, DefaultDomainCannotBeDeletedOrDisabled) {
  EXPECT_EQ(patch("/identity/v3/domains/default", R"({"domain": {"enabled": false}})")->status,
            403);
  EXPECT_EQ(del("/identity/v3/domains/default")->status, 403);
  EXPECT_EQ(get("/identity/v3/domains/default", admin_)->status, 200);
}

TEST_F(IdentityDomainsTest, DeletingADomainDeletesItsProjectsAndUsers) {
  const std::string id = create_domain("doomed");
  json project = {{"project", {{"name", "p1"}, {"domain_id", id}}}};
  auto r = post("/identity/v3/projects", admin_, project.dump());
  ASSERT_EQ(r->status, 201) << r->body;
  const std::string project_id = json::parse(r->body)["project"]["id"];
  EXPECT_EQ(json::parse(r->body)["project"]["domain_id"], id);
  json user = {{"user", {{"name", "u1"}, {"domain_id", id}, {"password", "u1-secret"}}}};
  r = post("/identity/v3/users", admin_, user.dump());
  ASSERT_EQ(r->status, 201) << r->body;
  const std::string user_id = json::parse(r->body)["user"]["id"];
  auto put = client_->Put(
      ("/identity/v3/projects/" + project_id + "/users/" + user_id + "/roles/member").c_str(),
      {{"X-Auth-Token", admin_}}, "", "application/json");
  ASSERT_EQ(put->status, 204);

  ASSERT_EQ(patch("/identity/v3/domains/" + id, R"({"domain": {"enabled": false}})")->status, 200);
  ASSERT_EQ(del("/identity/v3/domains/" + id)->status, 204);
  EXPECT_EQ(get("/identity/v3/projects/" + project_id, admin_)->status, 404);
  EXPECT_EQ(get("/identity/v3/users/" + user_id, admin_)->status, 404);
  auto as = store_->list_role_assignments(user_id, "");
  ASSERT_TRUE(as.ok());
  EXPECT_TRUE(as->empty());
  // What lives in the default domain stays.
  EXPECT_TRUE(store_->find_project_by_name("demo", "default").ok());
}

// keystone's list filters: enabled (false, False, 0 are false) and domain_id.
TEST_F(IdentityDomainsTest, UsersAndProjectsAreFilteredByEnabledAndDomain) {
  const std::string dom = create_domain("elsewhere");
  ASSERT_EQ(
      post("/identity/v3/users", admin_,
           json{{"user", {{"name", "off"}, {"enabled", false}, {"password", "x-secret"}}}}.dump())
          ->status,
      201);
  ASSERT_EQ(
      post("/identity/v3/users", admin_,
           json{{"user", {{"name", "away"}, {"domain_id", dom}, {"password", "x-secret"}}}}.dump())
          ->status,
      201);
  ASSERT_EQ(post("/identity/v3/projects", admin_,
                 json{{"project", {{"name", "idle"}, {"enabled", false}}}}.dump())
                ->status,
            201);
  auto names = [&](const std::string& path, const char* key) {
    std::set<std::string> out;
    auto r = get(path, admin_);
    EXPECT_TRUE(r && r->status == 200) << path;
    const json body = json::parse(r->body);
    for (const auto& e : body[key]) out.insert(e["name"].get<std::string>());
    return out;
  };
  EXPECT_EQ(names("/identity/v3/users?enabled=false", "users"), std::set<std::string>{"off"});
  EXPECT_FALSE(names("/identity/v3/users?enabled=True", "users").count("off"));
  EXPECT_EQ(names("/identity/v3/users?domain_id=" + dom, "users"), std::set<std::string>{"away"});
  EXPECT_FALSE(names("/identity/v3/users?domain_id=default", "users").count("away"));
  EXPECT_EQ(names("/identity/v3/projects?enabled=0", "projects"), std::set<std::string>{"idle"});
  EXPECT_FALSE(names("/identity/v3/projects?enabled=true", "projects").count("idle"));
  EXPECT_TRUE(names("/identity/v3/projects?domain_id=" + dom, "projects").empty());
}

// keystone: a user in a missing domain is 404 (DomainNotFound), a project 400.
TEST_F(IdentityDomainsTest, UsersAndProjectsInAMissingDomainAreRefused) {
  auto r = post("/identity/v3/users", admin_, R"({"user": {"name": "x", "domain_id": "nope"}})");
  EXPECT_EQ(r->status, 404) << r->body;
  EXPECT_FALSE(store_->find_user_by_name("x", "nope").ok());
  r = post("/identity/v3/projects", admin_, R"({"project": {"name": "x", "domain_id": "nope"}})");
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_FALSE(store_->find_project_by_name("x", "nope").ok());
}

TEST_F(IdentityDomainsTest, OnlyAdminsManageDomainsAndRoles) {
  auto alice = login("alice", "alice-secret", "demo");
  EXPECT_EQ(post("/identity/v3/domains", alice, R"({"domain": {"name": "mine"}})")->status, 403);
  EXPECT_EQ(post("/identity/v3/roles", alice, R"({"role": {"name": "mine"}})")->status, 403);
  EXPECT_EQ(get("/identity/v3/roles", alice)->status, 200);
}

TEST_F(IdentityDomainsTest, AdminCreatesUpdatesShowsAndDeletesARole) {
  auto r = post("/identity/v3/roles", admin_, R"({"role": {"name": "observer"}})");
  ASSERT_EQ(r->status, 201) << r->body;
  const std::string id = json::parse(r->body)["role"]["id"];
  EXPECT_NE(id, "observer");
  r = patch("/identity/v3/roles/" + id, R"({"role": {"name": "watcher"}})");
  ASSERT_EQ(r->status, 200) << r->body;
  r = get("/identity/v3/roles/" + id, admin_);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["role"]["name"], "watcher");
  r = get("/identity/v3/roles?name=watcher", admin_);
  ASSERT_EQ(json::parse(r->body)["roles"].size(), 1u);
  EXPECT_EQ(del("/identity/v3/roles/" + id)->status, 204);
  EXPECT_EQ(get("/identity/v3/roles/" + id, admin_)->status, 404);
  EXPECT_EQ(del("/identity/v3/roles/" + id)->status, 404);
}

TEST_F(IdentityDomainsTest, DuplicateOrMissingRoleNameIsRefused) {
  EXPECT_EQ(post("/identity/v3/roles", admin_, R"({"role": {"name": "member"}})")->status, 409);
  EXPECT_EQ(post("/identity/v3/roles", admin_, R"({"role": {}})")->status, 400);
  auto r = post("/identity/v3/roles", admin_, R"({"role": {"name": "other"}})");
  ASSERT_EQ(r->status, 201);
  const std::string id = json::parse(r->body)["role"]["id"];
  EXPECT_EQ(patch("/identity/v3/roles/" + id, R"({"role": {"name": "reader"}})")->status, 409);
}

TEST_F(IdentityDomainsTest, BuiltinRolesCannotBeRenamedOrDeleted) {
  EXPECT_EQ(patch("/identity/v3/roles/member", R"({"role": {"name": "m"}})")->status, 403);
  EXPECT_EQ(del("/identity/v3/roles/admin")->status, 403);
  // And they still grant what policy says: alice, a member of demo, may list servers.
  EXPECT_FALSE(login("alice", "alice-secret", "demo").empty());
}

TEST_F(IdentityDomainsTest, DeletingARoleRemovesItsAssignmentsAndRenameKeepsThem) {
  auto r = post("/identity/v3/roles", admin_, R"({"role": {"name": "observer"}})");
  ASSERT_EQ(r->status, 201);
  const std::string id = json::parse(r->body)["role"]["id"];
  const std::string alice = store_->find_user_by_name("alice", "default")->id;
  const std::string demo = store_->find_project_by_name("demo", "default")->id;
  const std::string grant = "/identity/v3/projects/" + demo + "/users/" + alice + "/roles/" + id;
  ASSERT_EQ(client_->Put(grant.c_str(), {{"X-Auth-Token", admin_}}, "", "application/json")->status,
            204);
  r = get("/identity/v3/role_assignments?user.id=" + alice, admin_);
  EXPECT_NE(r->body.find("\"" + id + "\""), std::string::npos) << r->body;

  ASSERT_EQ(patch("/identity/v3/roles/" + id, R"({"role": {"name": "watcher"}})")->status, 200);
  EXPECT_EQ(client_->Head(grant.c_str(), {{"X-Auth-Token", admin_}})->status, 204);

  ASSERT_EQ(del("/identity/v3/roles/" + id)->status, 204);
  auto as = store_->list_role_assignments(alice, demo);
  ASSERT_TRUE(as.ok());
  ASSERT_EQ(as->size(), 1u);
  EXPECT_EQ(as->front().role, "member");
}

}  // namespace
}  // namespace gpucloud::api::testing

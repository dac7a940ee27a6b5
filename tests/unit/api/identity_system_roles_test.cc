// Roles on the system, to users and groups: stored, checked and listed as keystone keeps them,
// granting nothing (no system-scoped token is issued).
#include "api_fixture.h"

namespace gpucloud::api::testing {
namespace {

class IdentitySystemRolesTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    admin_ = login("admin", "admin-secret", "admin");
    ASSERT_FALSE(admin_.empty());
    auto r = get("/identity/v3/users?name=alice", admin_);
    alice_ = json::parse(r->body)["users"][0]["id"];
    r = post("/identity/v3/groups", admin_, R"({"group": {"name": "ops"}})");
    group_ = json::parse(r->body)["group"]["id"];
  }
  int call(const std::string& method, const std::string& path, const std::string& token) {
    httplib::Headers h = {{"X-Auth-Token", token}};
    if (method == "PUT") return client_->Put(path.c_str(), h, "", "application/json")->status;
    if (method == "HEAD") return client_->Head(path.c_str(), h)->status;
    return client_->Delete(path.c_str(), h)->status;
  }
  std::string admin_, alice_, group_;
};

TEST_F(IdentitySystemRolesTest, SystemRolesOfUsersAndGroupsAreKeptCheckedAndListed) {
  const std::string user_role = "/identity/v3/system/users/" + alice_ + "/roles/reader";
  const std::string group_role = "/identity/v3/system/groups/" + group_ + "/roles/member";
  EXPECT_EQ(call("HEAD", user_role, admin_), 404);
  ASSERT_EQ(call("PUT", user_role, admin_), 204);
  ASSERT_EQ(call("PUT", user_role, admin_), 204);  // idempotent
  ASSERT_EQ(call("PUT", group_role, admin_), 204);
  EXPECT_EQ(call("HEAD", user_role, admin_), 204);
  EXPECT_EQ(call("HEAD", group_role, admin_), 204);
  auto r = get("/identity/v3/system/users/" + alice_ + "/roles", admin_);
  ASSERT_EQ(r->status, 200);
  json roles = json::parse(r->body)["roles"];
  ASSERT_EQ(roles.size(), 1u);
  EXPECT_EQ(roles[0]["id"], "reader");
  r = get("/identity/v3/role_assignments?scope.system=all", admin_);
  ASSERT_EQ(r->status, 200);
  const json rows = json::parse(r->body)["role_assignments"];
  ASSERT_EQ(rows.size(), 2u) << rows;
  for (const auto& a : rows) EXPECT_EQ(a["scope"]["system"]["all"], true);
  // An effective listing shows the group's system role as its member's... once alice joins (with
  // the reader that member implies, keystone's rule: her own reader, the group's member and it).
  ASSERT_EQ(call("PUT", "/identity/v3/groups/" + group_ + "/users/" + alice_, admin_), 204);
  r = get("/identity/v3/role_assignments?effective&scope.system=all&user.id=" + alice_, admin_);
  EXPECT_EQ(json::parse(r->body)["role_assignments"].size(), 3u) << r->body;

  // It grants nothing: alice's token is what it was, and no system scope is issued.
  const std::string alice = login("alice", "alice-secret", "demo");
  ASSERT_FALSE(alice.empty());
  EXPECT_EQ(get("/identity/v3/users", alice)->status, 403);
  EXPECT_EQ(call("PUT", "/identity/v3/system/users/" + alice_ + "/roles/admin", alice), 403);

  EXPECT_EQ(call("DELETE", user_role, admin_), 204);
  EXPECT_EQ(call("DELETE", user_role, admin_), 404);
  EXPECT_EQ(call("PUT", "/identity/v3/system/users/nosuch/roles/reader", admin_), 404);
  EXPECT_EQ(call("PUT", "/identity/v3/system/groups/" + group_ + "/roles/nosuch", admin_), 404);
  // Deleting the group takes its system roles.
  ASSERT_EQ(call("DELETE", "/identity/v3/groups/" + group_, admin_), 204);
  r = get("/identity/v3/role_assignments?scope.system=all", admin_);
  EXPECT_TRUE(json::parse(r->body)["role_assignments"].empty()) << r->body;
}

}  // namespace
}  // namespace gpucloud::api::testing

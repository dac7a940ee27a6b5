// keystone's groups and catalog (schema version 13) on both backends: uniqueness, memberships
// and what deleting a group, a user, a domain, a service or a region takes with it; groups' roles
// on projects and extra properties (17).
#include "test_db.h"

namespace gpucloud::store::testing {
namespace {

User user(const std::string& id, const std::string& name, const std::string& domain = "default") {
  User u;
  u.id = id;
  u.name = name;
  u.domain_id = domain;
  return u;
}

TEST_P(StoreTest, GroupNamesAreUniquePerDomainAndMembershipsFollowGroupsAndUsers) {
  ASSERT_TRUE(store().create_domain({"d1", "research", "", true}).ok());
  ASSERT_TRUE(store().create_group({"g1", "default", "ops", "the operators"}).ok());
  EXPECT_EQ(store().create_group({"g2", "default", "ops", std::nullopt}).error().code,
            ErrorCode::kConflict);
  ASSERT_TRUE(store().create_group({"g2", "d1", "ops", std::nullopt}).ok());
  EXPECT_EQ(store().create_group({"g3", "nowhere", "x", std::nullopt}).error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(store().get_group("g1")->description, "the operators");
  EXPECT_FALSE(store().get_group("g2")->description.has_value());

  ASSERT_TRUE(store().create_user(user("u1", "carol")).ok());
  ASSERT_TRUE(store().create_user(user("u2", "dave", "d1")).ok());
  ASSERT_TRUE(store().add_group_member("g1", "u1").ok());
  ASSERT_TRUE(store().add_group_member("g1", "u1").ok());  // idempotent
  ASSERT_TRUE(store().add_group_member("g1", "u2").ok());  // another domain's user
  ASSERT_TRUE(store().add_group_member("g2", "u1").ok());
  EXPECT_EQ(store().add_group_member("g9", "u1").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store().add_group_member("g1", "u9").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store().list_group_users("g1")->size(), 2u);
  EXPECT_EQ(store().list_user_groups("u1")->size(), 2u);
  EXPECT_TRUE(*store().is_group_member("g1", "u2"));

  // A rename keeps the domain's names unique; an unchanged update is no error (MariaDB).
  ASSERT_TRUE(store().create_group({"g4", "d1", "lab", std::nullopt}).ok());
  EXPECT_EQ(store().update_group({"g4", "d1", "ops", std::nullopt}).error().code,
            ErrorCode::kConflict);
  ASSERT_TRUE(store().update_group({"g1", "default", "ops", "the operators"}).ok());
  EXPECT_EQ(store().update_group({"g9", "default", "x", std::nullopt}).error().code,
            ErrorCode::kNotFound);

  ASSERT_TRUE(store().remove_group_member("g1", "u1").ok());
  EXPECT_EQ(store().remove_group_member("g1", "u1").error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(*store().is_group_member("g1", "u1"));

  // Deleting a user removes their memberships; deleting a group removes its own.
  ASSERT_TRUE(store().delete_user("u2").ok());
  EXPECT_TRUE(store().list_group_users("g1")->empty());
  ASSERT_TRUE(store().delete_group("g2").ok());
  EXPECT_TRUE(store().list_user_groups("u1")->empty());
  EXPECT_EQ(store().delete_group("g2").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store().list_group_users("g2").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store().list_user_groups("u9").error().code, ErrorCode::kNotFound);
}

TEST_P(StoreTest, DeletingADomainDeletesItsGroups) {
  ASSERT_TRUE(store().create_domain({"d1", "research", "", false}).ok());
  ASSERT_TRUE(store().create_group({"g1", "d1", "lab", std::nullopt}).ok());
  ASSERT_TRUE(store().create_user(user("u1", "carol")).ok());
  ASSERT_TRUE(store().add_group_member("g1", "u1").ok());
  ASSERT_TRUE(store().delete_domain("d1").ok());
  EXPECT_EQ(store().get_group("g1").error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(store().list_user_groups("u1")->empty());
}

TEST_P(StoreTest, ServicesCarryTheirEndpointsAway) {
  ASSERT_TRUE(store().create_service({"s1", "compute", "nova", std::nullopt, true}).ok());
  auto s = store().get_service("s1");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->name, "nova");
  EXPECT_FALSE(s->description.has_value());
  ASSERT_TRUE(store().update_service({"s1", "compute", "nova", "VMs", false}).ok());
  EXPECT_EQ(store().get_service("s1")->description, "VMs");
  EXPECT_FALSE(store().get_service("s1")->enabled);
  EXPECT_EQ(store().update_service({"s9", "x", {}, {}, true}).error().code, ErrorCode::kNotFound);

  // An endpoint wants its service and region, unless told to create the region.
  Endpoint e{"e1", "s1", "public", "http://a/", "r1", true};
  EXPECT_EQ(store().create_endpoint(e).error().code, ErrorCode::kInvalidArgument);
  ASSERT_TRUE(store().create_endpoint(e, true).ok());
  EXPECT_TRUE(store().get_region("r1").ok());
  Endpoint orphan{"e2", "s9", "public", "http://b/", std::nullopt, true};
  EXPECT_EQ(store().create_endpoint(orphan).error().code, ErrorCode::kInvalidArgument);
  e.interface = "internal";
  e.enabled = false;
  e.region_id = "r2";
  EXPECT_EQ(store().update_endpoint(e).error().code, ErrorCode::kInvalidArgument);
  ASSERT_TRUE(store().update_endpoint(e, true).ok());
  auto got = store().get_endpoint("e1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->interface, "internal");
  EXPECT_EQ(got->region_id, "r2");
  EXPECT_FALSE(got->enabled);
  EXPECT_EQ(store().list_endpoints()->size(), 1u);

  ASSERT_TRUE(store().delete_service("s1").ok());
  EXPECT_EQ(store().get_endpoint("e1").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store().delete_service("s1").error().code, ErrorCode::kNotFound);
}

TEST_P(StoreTest, RegionsFormATreeDeletedFromItsTopUnlessEndpointsUseIt) {
  ASSERT_TRUE(store().create_region({"top", "", std::nullopt}).ok());
  ASSERT_TRUE(store().create_region({"mid", "m", "top"}).ok());
  ASSERT_TRUE(store().create_region({"leaf", "l", "mid"}).ok());
  EXPECT_EQ(store().create_region({"top", "", std::nullopt}).error().code, ErrorCode::kConflict);
  EXPECT_EQ(store().create_region({"x", "", "nowhere"}).error().code, ErrorCode::kNotFound);
  // No cycles: a region cannot move below itself.
  EXPECT_EQ(store().update_region({"top", "", "leaf"}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store().update_region({"top", "", "top"}).error().code, ErrorCode::kInvalidArgument);
  ASSERT_TRUE(store().update_region({"leaf", "moved", "top"}).ok());
  EXPECT_EQ(store().get_region("leaf")->parent_region_id, "top");

  ASSERT_TRUE(store().create_service({"s1", "compute", std::nullopt, std::nullopt, true}).ok());
  ASSERT_TRUE(store().create_endpoint({"e1", "s1", "public", "http://a/", "mid", true}).ok());
  EXPECT_EQ(store().delete_region("top").error().code, ErrorCode::kForbidden);
  EXPECT_EQ(store().list_regions()->size(), 3u);
  ASSERT_TRUE(store().delete_endpoint("e1").ok());
  ASSERT_TRUE(store().delete_region("top").ok());
  EXPECT_TRUE(store().list_regions()->empty());
  EXPECT_EQ(store().delete_region("top").error().code, ErrorCode::kNotFound);
}

Token project_token(const std::string& hash, const std::string& user, const std::string& project) {
  Token t;
  t.token_hash = hash;
  t.user_id = user;
  t.project_id = project;
  t.roles = {"member"};
  t.issued_at = std::chrono::system_clock::now();
  t.expires_at = t.issued_at + std::chrono::hours(1);
  return t;
}

// Endpoint groups (schema version 21): the associations go with the group, the endpoint and
// the project they name, and are refused for ones that do not exist.
TEST_P(StoreTest, EndpointGroupAssociationsGoWithWhatTheyName) {
  Project p;
  p.id = "p1";
  p.name = "lab";
  ASSERT_TRUE(store().create_project(p).ok());
  ASSERT_TRUE(store().create_service({"s1", "compute", std::nullopt, std::nullopt, true}).ok());
  ASSERT_TRUE(
      store().create_endpoint({"e1", "s1", "public", "http://a/", std::nullopt, true}).ok());
  const EndpointGroup g{"eg1", "publics", std::nullopt, std::nullopt, std::nullopt, "public"};
  ASSERT_TRUE(store().create_endpoint_group(g).ok());
  EXPECT_EQ(store().create_endpoint_group(g).error().code, ErrorCode::kConflict);
  auto read = store().get_endpoint_group("eg1");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->interface, "public");
  EXPECT_FALSE(read->service_id.has_value());
  EXPECT_FALSE(read->description.has_value());
  EXPECT_TRUE(read->matches(*store().get_endpoint("e1")));

  EndpointGroup changed = *read;
  changed.description = "d";
  changed.interface.reset();
  changed.service_id = "s2";
  ASSERT_TRUE(store().update_endpoint_group(changed).ok());
  EXPECT_EQ(store().get_endpoint_group("eg1")->service_id, "s2");
  EXPECT_FALSE(store().get_endpoint_group("eg1")->interface.has_value());
  EXPECT_EQ(store().get_endpoint_group("eg1")->description, "d");
  EXPECT_EQ(store()
                .update_endpoint_group(
                    {"eg9", "x", std::nullopt, std::nullopt, std::nullopt, std::nullopt})
                .error()
                .code,
            ErrorCode::kNotFound);

  ASSERT_TRUE(store().add_endpoint_group_to_project("eg1", "p1").ok());
  ASSERT_TRUE(store().add_endpoint_group_to_project("eg1", "p1").ok());  // idempotent
  EXPECT_EQ(store().add_endpoint_group_to_project("eg9", "p1").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store().add_endpoint_group_to_project("eg1", "p9").error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(store().add_endpoint_to_project("e1", "p1").ok());
  EXPECT_EQ(store().add_endpoint_to_project("e9", "p1").error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(*store().endpoint_group_in_project("eg1", "p1"));
  EXPECT_TRUE(*store().endpoint_in_project("e1", "p1"));
  EXPECT_EQ(*store().endpoint_group_project_ids("eg1"), std::vector<std::string>{"p1"});
  EXPECT_EQ(*store().endpoint_project_ids("e1"), std::vector<std::string>{"p1"});
  EXPECT_EQ(*store().project_endpoint_ids("p1"), std::vector<std::string>{"e1"});
  ASSERT_EQ(store().project_endpoint_groups("p1")->size(), 1u);

  // Deleting the endpoint, the group or the project takes their associations.
  ASSERT_TRUE(store().delete_endpoint("e1").ok());
  EXPECT_TRUE(store().project_endpoint_ids("p1")->empty());
  ASSERT_TRUE(store()
                  .create_endpoint_group(
                      {"eg2", "other", std::nullopt, std::nullopt, std::nullopt, std::nullopt})
                  .ok());
  ASSERT_TRUE(store().add_endpoint_group_to_project("eg2", "p1").ok());
  ASSERT_TRUE(store().delete_endpoint_group("eg1").ok());
  EXPECT_EQ(store().delete_endpoint_group("eg1").error().code, ErrorCode::kNotFound);
  ASSERT_EQ(store().project_endpoint_groups("p1")->size(), 1u);
  EXPECT_EQ(store().remove_endpoint_group_from_project("eg1", "p1").error().code,
            ErrorCode::kNotFound);
  ASSERT_TRUE(store().delete_project("p1").ok());
  EXPECT_TRUE(store().endpoint_group_project_ids("eg2")->empty());
  EXPECT_EQ(store().list_endpoint_groups()->size(), 1u);
}

TEST_P(StoreTest, GroupRolesOnProjectsAreTheMembersAndGoWithTheirMembership) {
  Project p;
  p.id = "p1";
  p.name = "lab";
  ASSERT_TRUE(store().create_project(p).ok());
  ASSERT_TRUE(store().create_domain({"d1", "partners", "", true}).ok());
  ASSERT_TRUE(store().create_user(user("u1", "carol")).ok());
  ASSERT_TRUE(store().create_group({"g1", "d1", "ops", std::nullopt, ""}).ok());
  ASSERT_TRUE(store().assign_role({"u1", "p1", "reader"}).ok());
  ASSERT_TRUE(store().assign_group_role({"g1", "p1", "member"}).ok());
  ASSERT_TRUE(store().assign_group_role({"g1", "p1", "member"}).ok());  // idempotent
  ASSERT_TRUE(store().assign_group_role({"g1", "p1", "reader"}).ok());
  EXPECT_EQ(store().assign_group_role({"g9", "p1", "member"}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store().assign_group_role({"g1", "p9", "member"}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(*store().user_project_roles("u1", "p1"), (std::vector<std::string>{"reader"}));

  ASSERT_TRUE(store().add_group_member("g1", "u1").ok());
  // Own and group roles, each once.
  EXPECT_EQ(*store().user_project_roles("u1", "p1"),
            (std::vector<std::string>{"member", "reader"}));
  EXPECT_EQ(*store().list_user_project_ids("u1"), (std::vector<std::string>{"p1"}));
  ASSERT_TRUE(store().store_token(project_token("t1", "u1", "p1")).ok());
  EXPECT_EQ(store().get_token_grant("t1")->roles, (std::vector<std::string>{"member", "reader"}));

  // Leaving the group revokes the token and takes the group's roles from the grant.
  ASSERT_TRUE(store().remove_group_member("g1", "u1").ok());
  auto grant = store().get_token_grant("t1");
  ASSERT_TRUE(grant.ok());
  EXPECT_TRUE(grant->token.revoked);
  EXPECT_EQ(grant->roles, (std::vector<std::string>{"reader"}));

  // Removing the grant revokes the members' tokens there.
  ASSERT_TRUE(store().add_group_member("g1", "u1").ok());
  ASSERT_TRUE(store().store_token(project_token("t2", "u1", "p1")).ok());
  ASSERT_TRUE(store().unassign_group_role({"g1", "p1", "member"}).ok());
  EXPECT_EQ(store().unassign_group_role({"g1", "p1", "member"}).error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(store().get_token("t2")->revoked);
  EXPECT_EQ(store().list_group_role_assignments("p1", "")->size(), 1u);

  // Deleting the group revokes and takes its roles.
  ASSERT_TRUE(store().store_token(project_token("t3", "u1", "p1")).ok());
  ASSERT_TRUE(store().delete_group("g1").ok());
  EXPECT_TRUE(store().get_token("t3")->revoked);
  EXPECT_TRUE(store().list_group_role_assignments("", "")->empty());
}

TEST_P(StoreTest, GroupRolesFollowRoleRenamesAndDeletes) {
  Project p;
  p.id = "p1";
  p.name = "lab";
  ASSERT_TRUE(store().create_project(p).ok());
  ASSERT_TRUE(store().create_user(user("u1", "carol")).ok());
  ASSERT_TRUE(
      store().create_group({"g1", "default", "ops", std::nullopt, R"({"project_id":"x"})"}).ok());
  EXPECT_EQ(store().get_group("g1")->extra, R"({"project_id":"x"})");
  ASSERT_TRUE(store().update_group({"g1", "default", "ops", std::nullopt, ""}).ok());
  EXPECT_EQ(store().get_group("g1")->extra, "");
  ASSERT_TRUE(store().create_role({"r1", "operator", ""}).ok());
  ASSERT_TRUE(store().add_group_member("g1", "u1").ok());
  ASSERT_TRUE(store().assign_group_role({"g1", "p1", "operator"}).ok());
  ASSERT_TRUE(store().update_role({"r1", "operator2", ""}).ok());
  EXPECT_EQ(*store().user_project_roles("u1", "p1"), (std::vector<std::string>{"operator2"}));
  ASSERT_TRUE(store().store_token(project_token("t1", "u1", "p1")).ok());
  ASSERT_TRUE(store().delete_role("r1").ok());
  EXPECT_TRUE(store().get_token("t1")->revoked);
  EXPECT_TRUE(store().user_project_roles("u1", "p1")->empty());
}

TEST_P(StoreTest, SystemRolesAreKeptPerHolderAndGoWithTheirUserGroupOrRole) {
  ASSERT_TRUE(store().create_user(user("u1", "carol")).ok());
  ASSERT_TRUE(store().create_group({"g1", "default", "ops", std::nullopt, ""}).ok());
  ASSERT_TRUE(store().create_role({"r1", "auditor", ""}).ok());
  ASSERT_TRUE(store().assign_system_role({"u1", "", "auditor"}).ok());
  ASSERT_TRUE(store().assign_system_role({"u1", "", "auditor"}).ok());  // idempotent
  ASSERT_TRUE(store().assign_system_role({"", "g1", "reader"}).ok());
  EXPECT_EQ(store().assign_system_role({"u9", "", "reader"}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store().list_system_role_assignments("", "")->size(), 2u);
  EXPECT_EQ(store().list_system_role_assignments("u1", "")->size(), 1u);
  ASSERT_TRUE(store().update_role({"r1", "auditor2", ""}).ok());
  EXPECT_EQ(store().list_system_role_assignments("u1", "")->front().role, "auditor2");
  ASSERT_TRUE(store().delete_role("r1").ok());
  EXPECT_TRUE(store().list_system_role_assignments("u1", "")->empty());
  ASSERT_TRUE(store().delete_group("g1").ok());
  EXPECT_TRUE(store().list_system_role_assignments("", "")->empty());
  EXPECT_EQ(store().unassign_system_role({"u1", "", "auditor2"}).error().code,
            ErrorCode::kNotFound);
}

}  // namespace
}  // namespace gpucloud::store::testing

// keystone's project hierarchy and tags, and roles on domains (schema version 15) on both
// backends: what a parent link allows, what deleting a project or a domain takes with it.
#include "test_db.h"

namespace gpucloud::store::testing {
namespace {

Project project(const std::string& id, const std::string& domain = "default",
                std::optional<std::string> parent = std::nullopt) {
  Project p;
  p.id = id;
  p.name = "name-" + id;
  p.domain_id = domain;
  p.parent_id = std::move(parent);
  return p;
}

TEST_P(StoreTest, ParentsStayInTheirDomainAndOutliveNoChild) {
  ASSERT_TRUE(store().create_domain({"d1", "research", "", true}).ok());
  ASSERT_TRUE(store().create_project(project("root")).ok());
  ASSERT_TRUE(store().create_project(project("child", "default", "root")).ok());
  EXPECT_EQ(store().get_project("child")->parent_id, "root");
  EXPECT_FALSE(store().get_project("root")->parent_id.has_value());
  EXPECT_EQ(store().create_project(project("x", "d1", "root")).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(store().create_project(project("y", "default", "nosuch")).error().code,
            ErrorCode::kNotFound);
  EXPECT_FALSE(store().get_project("x").ok());  // nothing half-written
  EXPECT_EQ(*store().list_child_projects("root"), std::vector<std::string>{"child"});

  EXPECT_EQ(store().delete_project("root").error().code, ErrorCode::kForbidden);
  EXPECT_TRUE(store().get_project("root").ok());
  ASSERT_TRUE(store().delete_project("child").ok());
  ASSERT_TRUE(store().delete_project("root").ok());
}

TEST_P(StoreTest, TagsKeepTheirOrderAndAreReplacedByAnUpdate) {
  Project p = project("tagged");
  p.tags = {"a", "c", "b"};
  ASSERT_TRUE(store().create_project(p).ok());
  ASSERT_TRUE(store().create_project(project("plain")).ok());
  EXPECT_EQ(store().get_project("tagged")->tags, (std::vector<std::string>{"a", "c", "b"}));
  // Held in a variable: a range-for over what a temporary Result holds reads freed memory.
  const auto projects = store().list_projects();
  ASSERT_TRUE(projects.ok());
  for (const auto& x : *projects) {
    if (x.id == "tagged") {
      EXPECT_EQ(x.tags, (std::vector<std::string>{"a", "c", "b"}));
    }
    if (x.id == "plain") {
      EXPECT_TRUE(x.tags.empty());
    }
  }
  p.tags = {"z"};
  ASSERT_TRUE(store().update_project(p).ok());
  EXPECT_EQ(store().get_project("tagged")->tags, std::vector<std::string>{"z"});
  ASSERT_TRUE(store().delete_project("tagged").ok());
}

TEST_P(StoreTest, DeletingADomainTakesItsProjectTreeAndItsRoles) {
  ASSERT_TRUE(store().create_domain({"d1", "research", "", true}).ok());
  // A tree three deep: MariaDB checks the parent links row by row, so the delete must not
  // depend on the order it visits the projects in.
  ASSERT_TRUE(store().create_project(project("p1", "d1")).ok());
  ASSERT_TRUE(store().create_project(project("p2", "d1", "p1")).ok());
  ASSERT_TRUE(store().create_project(project("p3", "d1", "p2")).ok());
  User u;
  u.id = "u1";
  u.name = "carol";
  ASSERT_TRUE(store().create_user(u).ok());
  ASSERT_TRUE(store().assign_domain_role({"d1", "u1", "", "member"}).ok());
  Domain d{"d1", "research", "", false};
  ASSERT_TRUE(store().update_domain(d).ok());
  ASSERT_TRUE(store().delete_domain("d1").ok());
  EXPECT_FALSE(store().get_project("p3").ok());
  EXPECT_TRUE(store().list_domain_role_assignments("", "u1", "")->empty());
}

TEST_P(StoreTest, DomainRolesOfUsersAndGroupsNameTheUsersDomains) {
  ASSERT_TRUE(store().create_domain({"d1", "one", "", true}).ok());
  ASSERT_TRUE(store().create_domain({"d2", "two", "", true}).ok());
  ASSERT_TRUE(store().create_domain({"d3", "three", "", true}).ok());
  User u;
  u.id = "u1";
  u.name = "carol";
  ASSERT_TRUE(store().create_user(u).ok());
  u.id = "u2";
  u.name = "dave";
  ASSERT_TRUE(store().create_user(u).ok());
  ASSERT_TRUE(store().create_group({"g1", "d2", "ops", std::nullopt}).ok());
  ASSERT_TRUE(store().add_group_member("g1", "u1").ok());

  ASSERT_TRUE(store().assign_domain_role({"d1", "u1", "", "member"}).ok());
  ASSERT_TRUE(store().assign_domain_role({"d1", "u1", "", "member"}).ok());  // idempotent
  ASSERT_TRUE(store().assign_domain_role({"d2", "", "g1", "reader"}).ok());
  ASSERT_TRUE(store().assign_domain_role({"d3", "u2", "", "admin"}).ok());
  EXPECT_EQ(store().assign_domain_role({"d9", "u1", "", "member"}).error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(store().assign_domain_role({"d1", "u9", "", "member"}).error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(store().assign_domain_role({"d1", "", "g9", "member"}).error().code,
            ErrorCode::kNotFound);

  auto names = [&](const std::string& user) {
    std::vector<std::string> out;
    const auto domains = store().list_user_domains(user);
    if (domains.ok()) {
      for (const auto& d : *domains) out.push_back(d.id);
    }
    return out;
  };
  EXPECT_EQ(names("u1"), (std::vector<std::string>{"d1", "d2"}));  // by name: one, two
  EXPECT_EQ(names("u2"), std::vector<std::string>{"d3"});

  // A disabled domain is no domain to offer.
  ASSERT_TRUE(store().update_domain({"d1", "one", "", false}).ok());
  EXPECT_EQ(names("u1"), std::vector<std::string>{"d2"});
  // Leaving the group, or the group's role going with a renamed and deleted role.
  ASSERT_TRUE(store().create_role({"r1", "custom", ""}).ok());
  ASSERT_TRUE(store().assign_domain_role({"d3", "", "g1", "custom"}).ok());
  ASSERT_TRUE(store().update_role({"r1", "renamed", ""}).ok());
  EXPECT_EQ(store().list_domain_role_assignments("d3", "", "g1")->front().role, "renamed");
  ASSERT_TRUE(store().delete_role("r1").ok());
  EXPECT_TRUE(store().list_domain_role_assignments("d3", "", "g1")->empty());
  ASSERT_TRUE(store().remove_group_member("g1", "u1").ok());
  EXPECT_TRUE(names("u1").empty());

  ASSERT_TRUE(store().unassign_domain_role({"d3", "u2", "", "admin"}).ok());
  EXPECT_EQ(store().unassign_domain_role({"d3", "u2", "", "admin"}).error().code,
            ErrorCode::kNotFound);
  // A group's roles go with it.
  ASSERT_TRUE(store().delete_group("g1").ok());
  EXPECT_TRUE(store().list_domain_role_assignments("", "", "g1")->empty());
}

}  // namespace
}  // namespace gpucloud::store::testing

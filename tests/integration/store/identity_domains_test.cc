// Domains and roles (schema version 7) on both backends: seeds, uniqueness, the cascades.
#include <cstdio>
#include <thread>

#include "test_db.h"

namespace gpucloud::store::testing {
namespace {

TEST_P(StoreTest, DomainsAndRolesAreSeededUniqueAndCascade) {
  EXPECT_EQ(store().get_domain("default")->name, "Default");
  EXPECT_EQ(store().list_roles()->size(), 4u);
  ASSERT_TRUE(store().create_domain({"d1", "research", "", true}).ok());
  auto dup = store().create_domain({"d2", "research", "", true});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kConflict);
  ASSERT_TRUE(store().create_project({"p1", "lab", "d1", "", true, {}, std::nullopt, {}}).ok());
  User u;
  u.id = "u1";
  u.name = "carol";
  u.domain_id = "d1";
  ASSERT_TRUE(store().create_user(u).ok());
  ASSERT_TRUE(store().create_role({"r1", "observer", ""}).ok());
  ASSERT_TRUE(store().assign_role({"u1", "p1", "observer"}).ok());

  // Renaming a role renames its assignments; an unchanged update is no error (MariaDB).
  ASSERT_TRUE(store().update_role({"r1", "watcher", ""}).ok());
  EXPECT_EQ(store().list_role_assignments("u1", "p1")->front().role, "watcher");
  ASSERT_TRUE(store().update_domain({"d1", "research", "", true}).ok());

  auto enabled = store().delete_domain("d1");
  ASSERT_FALSE(enabled.ok());
  EXPECT_EQ(enabled.error().code, ErrorCode::kForbidden);
  EXPECT_EQ(store().delete_domain("default").error().code, ErrorCode::kForbidden);
  ASSERT_TRUE(store().update_domain({"d1", "research", "", false}).ok());
  ASSERT_TRUE(store().delete_domain("d1").ok());
  EXPECT_FALSE(store().get_project("p1").ok());
  EXPECT_FALSE(store().get_user("u1").ok());
  EXPECT_TRUE(store().list_role_assignments("u1", "")->empty());

  ASSERT_TRUE(store().delete_role("r1").ok());
  EXPECT_EQ(store().get_role("r1").error().code, ErrorCode::kNotFound);
}

// Version 9: a user's other properties are kept with it, replaced by an update and go with it.
TEST_P(StoreTest, UserExtraPropertiesRoundTripAndGoWithTheUser) {
  User u;
  u.id = "u2";
  u.name = "dave";
  u.extra = R"({"description":"lab lead","project_id":"p9"})";
  ASSERT_TRUE(store().create_user(u).ok());
  EXPECT_EQ(store().get_user("u2")->extra, u.extra);
  EXPECT_EQ(store().find_user_by_name("dave", "default")->extra, u.extra);
  u.extra = R"({"description":"retired"})";
  ASSERT_TRUE(store().update_user(u).ok());
  EXPECT_EQ(store().get_user("u2")->extra, u.extra);
  bool listed = false;
  auto users = store().list_users();
  ASSERT_TRUE(users.ok());
  for (const auto& v : *users) listed = listed || (v.id == "u2" && v.extra == u.extra);
  EXPECT_TRUE(listed);
  u.extra.clear();
  ASSERT_TRUE(store().update_user(u).ok());
  EXPECT_EQ(store().get_user("u2")->extra, "");
  u.extra = R"({"k":1})";
  ASSERT_TRUE(store().update_user(u).ok());
  ASSERT_TRUE(store().delete_user("u2").ok());
  // Its row went with it: a new user of the same id starts without properties.
  u.extra.clear();
  ASSERT_TRUE(store().create_user(u).ok());
  EXPECT_EQ(store().get_user("u2")->extra, "");
}

// An assignment names a role that exists, its row locked while the assignment is made: a role
// deleted at the same moment (another replica) leaves no assignment that a later role of the same
// name would silently grant.
TEST_P(StoreTest, RolesAreAssignedOnlyWhileTheyExistEvenRacingTheirDelete) {
  ASSERT_TRUE(
      store().create_project({"p1", "lab", "default", "", true, {}, std::nullopt, {}}).ok());
  User u;
  u.id = "u1";
  u.name = "carol";
  ASSERT_TRUE(store().create_user(u).ok());
  ASSERT_TRUE(store().create_group({"g1", "default", "ops", std::nullopt, ""}).ok());
  EXPECT_EQ(store().assign_role({"u1", "p1", "ghost"}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store().assign_group_role({"g1", "p1", "ghost"}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store().assign_system_role({"u1", "", "ghost"}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store().assign_domain_role({"default", "u1", "", "ghost"}).error().code,
            ErrorCode::kNotFound);
  EXPECT_TRUE(store().list_role_assignments("u1", "")->empty());

  int assigned_first = 0, deleted_first = 0;
  for (int n = 0; n < 60; ++n) {
    const std::string id = "r" + std::to_string(n), name = "temp" + std::to_string(n);
    ASSERT_TRUE(store().create_role({id, name, ""}).ok());
    Status assigned = Status(), deleted = Status();
    std::thread d([&] { deleted = store().delete_role(id); });
    std::thread a([&] { assigned = store().assign_role({"u1", "p1", name}); });
    d.join();
    a.join();
    ASSERT_TRUE(deleted.ok()) << deleted.error().message;
    (assigned.ok() ? assigned_first : deleted_first)++;
    if (!assigned.ok()) {
      EXPECT_EQ(assigned.error().code, ErrorCode::kNotFound);
    }
    ASSERT_TRUE(store().list_role_assignments("u1", "p1")->empty())
        << name << " is still held after its role was deleted";
  }
  std::printf("assignment first %d, delete first %d\n", assigned_first, deleted_first);
}
}  // namespace
}  // namespace gpucloud::store::testing

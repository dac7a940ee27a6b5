// Domains and roles (schema version 7) on both backends: seeds, uniqueness, the cascades.
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
  ASSERT_TRUE(store().create_project({"p1", "lab", "d1", "", true, {}}).ok());
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

}  // namespace
}  // namespace gpucloud::store::testing

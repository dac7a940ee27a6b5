// keystone's credentials and policies (schema version 15) on both backends: stored as given,
// filtered, and gone with their user or project.
#include "test_db.h"

namespace gpucloud::store::testing {
namespace {

TEST_P(StoreTest, CredentialsNeedTheirOwnersAndGoWithThem) {
  User u;
  u.id = "u1";
  u.name = "carol";
  ASSERT_TRUE(store().create_user(u).ok());
  Project p;
  p.id = "p1";
  p.name = "lab";
  ASSERT_TRUE(store().create_project(p).ok());
  ASSERT_TRUE(store().create_credential({"c1", "u1", "p1", "ec2", R"({"access": "a"})"}).ok());
  ASSERT_TRUE(store().create_credential({"c2", "u1", std::nullopt, "totp", "seed"}).ok());
  EXPECT_EQ(store().create_credential({"c3", "u9", std::nullopt, "totp", "x"}).error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(store().create_credential({"c3", "u1", "p9", "totp", "x"}).error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(store().get_credential("c1")->blob, R"({"access": "a"})");
  EXPECT_FALSE(store().get_credential("c2")->project_id.has_value());
  EXPECT_EQ(store().list_credentials("u1", "")->size(), 2u);
  EXPECT_EQ(store().list_credentials("", "totp")->size(), 1u);
  EXPECT_TRUE(store().list_credentials("u2", "")->empty());

  ASSERT_TRUE(store().update_credential({"c2", "u1", "p1", "totp", "seed2"}).ok());
  EXPECT_EQ(store().get_credential("c2")->blob, "seed2");
  EXPECT_EQ(store().update_credential({"c9", "u1", std::nullopt, "t", "b"}).error().code,
            ErrorCode::kNotFound);

  // A project's credentials go with it, a user's with the user.
  ASSERT_TRUE(store().delete_credential("c2").ok());
  EXPECT_EQ(store().delete_credential("c2").error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(store().delete_project("p1").ok());
  EXPECT_FALSE(store().get_credential("c1").ok());
  ASSERT_TRUE(store().create_credential({"c4", "u1", std::nullopt, "totp", "x"}).ok());
  ASSERT_TRUE(store().delete_user("u1").ok());
  EXPECT_FALSE(store().get_credential("c4").ok());
}

TEST_P(StoreTest, PoliciesAreStoredUpdatedAndDeleted) {
  ASSERT_TRUE(store().create_identity_policy({"pol1", "application/json", "{}"}).ok());
  ASSERT_TRUE(store().update_identity_policy({"pol1", "text/plain", "x"}).ok());
  EXPECT_EQ(store().get_identity_policy("pol1")->type, "text/plain");
  EXPECT_EQ(store().list_identity_policies()->size(), 1u);
  EXPECT_EQ(store().update_identity_policy({"pol9", "t", "b"}).error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(store().delete_identity_policy("pol1").ok());
  EXPECT_EQ(store().get_identity_policy("pol1").error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace gpucloud::store::testing

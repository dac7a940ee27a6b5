// keystone's role inference rules and domain-specific roles (schema version 18) on both backends:
// the roles read for every request's token follow the rules at once, what keystone refuses is
// refused, and a domain-specific role never reaches a token itself, whatever its name.
#include "test_db.h"

namespace gpucloud::store::testing {
namespace {

using Roles = std::vector<std::string>;

class ImpliedRolesTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(store().create_domain({"d1", "partners", "", true}).ok());
    Project p;
    p.id = "p1";
    p.name = "lab";
    p.domain_id = "d1";
    ASSERT_TRUE(store().create_project(p).ok());
    User u;
    u.id = "u1";
    u.name = "carol";
    ASSERT_TRUE(store().create_user(u).ok());
    ASSERT_TRUE(store().create_role({"r1", "operator", ""}).ok());
    ASSERT_TRUE(store().create_role({"r2", "observer", ""}).ok());
    ASSERT_TRUE(store().create_role({"r3", "auditor", ""}).ok());
  }
  Roles roles() { return *store().user_project_roles("u1", "p1"); }
  // The store's refusal of a rule; nullopt when it was stored.
  std::optional<ErrorCode> refusal(const std::string& prior, const std::string& implied) {
    auto s = store().create_implied_role({prior, implied});
    if (s.ok()) return std::nullopt;
    return s.error().code;
  }
};

TEST_P(ImpliedRolesTest, KeystonesBuiltInRulesAreSeededAndKept) {
  EXPECT_EQ(*store().list_implied_roles(""),
            (std::vector<RoleInference>{{"admin", "member"}, {"member", "reader"}}));
  ASSERT_TRUE(store().assign_role({"u1", "p1", "admin"}).ok());
  EXPECT_EQ(roles(), (Roles{"admin", "member", "reader"}));
  EXPECT_EQ(store().delete_implied_role({"member", "reader"}).error().code, ErrorCode::kForbidden);
}

TEST_P(ImpliedRolesTest, AHolderOfThePriorRoleHoldsEveryRoleItImpliesUntilTheRuleGoes) {
  ASSERT_TRUE(store().assign_role({"u1", "p1", "operator"}).ok());
  ASSERT_TRUE(store().create_implied_role({"r1", "r2"}).ok());
  ASSERT_TRUE(store().create_implied_role({"r2", "r3"}).ok());
  EXPECT_EQ(roles(), (Roles{"auditor", "observer", "operator"}));
  EXPECT_EQ(*store().list_implied_roles("r1"), (std::vector<RoleInference>{{"r1", "r2"}}));
  EXPECT_EQ(store().list_implied_roles("r9").error().code, ErrorCode::kNotFound);

  // Through a group too, and read again for a token at every request.
  ASSERT_TRUE(store().unassign_role({"u1", "p1", "operator"}).ok());
  ASSERT_TRUE(store().create_group({"g1", "default", "ops", std::nullopt, ""}).ok());
  ASSERT_TRUE(store().add_group_member("g1", "u1").ok());
  ASSERT_TRUE(store().assign_group_role({"g1", "p1", "observer"}).ok());
  Token t;
  t.token_hash = "t1";
  t.user_id = "u1";
  t.project_id = "p1";
  t.issued_at = std::chrono::system_clock::now();
  t.expires_at = t.issued_at + std::chrono::hours(1);
  ASSERT_TRUE(store().store_token(t).ok());
  EXPECT_EQ(store().get_token_grant("t1")->roles, (Roles{"auditor", "observer"}));

  ASSERT_TRUE(store().delete_implied_role({"r2", "r3"}).ok());
  EXPECT_EQ(store().delete_implied_role({"r2", "r3"}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store().get_token_grant("t1")->roles, (Roles{"observer"}));
  // A rule on member reaches an admin through keystone's admin -> member.
  ASSERT_TRUE(store().create_implied_role({"member", "r3"}).ok());
  ASSERT_TRUE(store().assign_role({"u1", "p1", "admin"}).ok());
  EXPECT_EQ(roles(), (Roles{"admin", "auditor", "member", "observer", "reader"}));
}

TEST_P(ImpliedRolesTest, DeletingARoleDeletesItsRules) {
  ASSERT_TRUE(store().assign_role({"u1", "p1", "operator"}).ok());
  ASSERT_TRUE(store().create_implied_role({"r1", "r2"}).ok());
  ASSERT_TRUE(store().create_implied_role({"r2", "r3"}).ok());
  ASSERT_TRUE(store().delete_role("r2").ok());
  EXPECT_EQ(roles(), (Roles{"operator"}));
  EXPECT_EQ(store().list_implied_roles("").value().size(), 2u);  // the built-in two
}

TEST_P(ImpliedRolesTest, WhatKeystoneRefusesIsRefused) {
  ASSERT_TRUE(store().create_implied_role({"r1", "r2"}).ok());
  ASSERT_TRUE(store().create_implied_role({"r2", "r3"}).ok());
  EXPECT_EQ(refusal("r1", "r2"), ErrorCode::kConflict);
  EXPECT_EQ(refusal("r3", "r1"), ErrorCode::kForbidden);  // a cycle
  EXPECT_EQ(refusal("r1", "r1"), ErrorCode::kForbidden);
  EXPECT_EQ(refusal("reader", "admin"), ErrorCode::kForbidden);  // prohibited_implied_role
  EXPECT_EQ(refusal("r1", "admin"), ErrorCode::kForbidden);
  EXPECT_EQ(refusal("r9", "r1"), ErrorCode::kNotFound);
  EXPECT_EQ(refusal("r1", "r9"), ErrorCode::kNotFound);
  ASSERT_TRUE(store().create_role({"dr", "local", "", "d1"}).ok());
  EXPECT_EQ(refusal("r1", "dr"), ErrorCode::kForbidden);  // global -> domain-specific
  EXPECT_FALSE(refusal("dr", "r1").has_value());
  // Nothing refused was stored.
  EXPECT_EQ(store().list_implied_roles("").value().size(), 5u);
}

TEST_P(ImpliedRolesTest, ADomainRoleNamedAdminGrantsNothingItselfAndConveysWhatItImplies) {
  ASSERT_TRUE(store().create_role({"dadmin", "admin", "", "d1"}).ok());
  Role dup{"dadmin2", "admin", "", "d1"};
  EXPECT_EQ(store().create_role(dup).error().code, ErrorCode::kConflict);
  ASSERT_TRUE(store().create_role({"dadmin3", "admin", "", "default"}).ok());
  EXPECT_EQ(store().create_role({"dx", "x", "", "d9"}).error().code, ErrorCode::kNotFound);
  auto r = store().get_role("dadmin");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->name, "admin");
  EXPECT_EQ(r->domain_id, "d1");
  EXPECT_EQ(r->held_as(), "dadmin");
  EXPECT_FALSE(store().get_role("admin")->domain_id);

  ASSERT_TRUE(store().assign_role({"u1", "p1", r->held_as()}).ok());
  EXPECT_TRUE(roles().empty());
  ASSERT_TRUE(store().create_implied_role({"dadmin", "r2"}).ok());
  EXPECT_EQ(roles(), (Roles{"observer"}));

  // Renamed, it is still held by its id; its name stays unique in its domain.
  ASSERT_TRUE(store().update_role({"dadmin", "lab-admin", "", "d1"}).ok());
  EXPECT_EQ(store().get_role("dadmin")->name, "lab-admin");
  EXPECT_EQ(roles(), (Roles{"observer"}));
  ASSERT_TRUE(store().create_role({"dother", "other", "", "d1"}).ok());
  EXPECT_EQ(store().update_role({"dother", "lab-admin", "", "d1"}).error().code,
            ErrorCode::kConflict);

  // It goes with its domain, with its assignments and rules.
  ASSERT_TRUE(store().update_domain({"d1", "partners", "", false}).ok());
  ASSERT_TRUE(store().delete_domain("d1").ok());
  EXPECT_EQ(store().get_role("dadmin").error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(store().get_role("dadmin3").ok());
  EXPECT_EQ(store().list_implied_roles("").value().size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(Sqlite, ImpliedRolesTest, ::testing::Values(Kind::kSqlite), kind_name);
INSTANTIATE_TEST_SUITE_P(Mariadb, ImpliedRolesTest, ::testing::Values(Kind::kMariadb), kind_name);

}  // namespace
}  // namespace gpucloud::store::testing

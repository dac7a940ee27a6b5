// keystone's domain configurations (schema version 22) on both backends: replacing, merging,
// listing and deleting options, the existence checks an update makes in its transaction, and the
// rows going with their domain.
#include "test_db.h"

namespace gpucloud::store::testing {
namespace {

DomainConfigOption opt(const std::string& group, const std::string& option,
                       const std::string& value, bool sensitive = false) {
  return {group, option, value, sensitive};
}

TEST_P(StoreTest, DomainConfigIsReplacedMergedListedAndDeleted) {
  ASSERT_TRUE(store().create_domain({"d1", "research", "", true}).ok());
  ASSERT_TRUE(store()
                  .replace_domain_config("d1", {opt("identity", "driver", R"("ldap")"),
                                                opt("ldap", "url", R"("ldap://a")"),
                                                opt("ldap", "password", R"("pw")", true)})
                  .ok());
  auto all = store().list_domain_config("d1");
  ASSERT_TRUE(all.ok()) << all.error().message;
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].group, "identity");
  EXPECT_EQ((*all)[1].option, "password");
  EXPECT_TRUE((*all)[1].sensitive);
  EXPECT_EQ((*all)[2].value, R"("ldap://a")");

  // Merging sets the options given and keeps the others.
  ASSERT_TRUE(store()
                  .update_domain_config(
                      "d1", {opt("ldap", "url", R"("ldap://b")"), opt("ldap", "page_size", "5")})
                  .ok());
  auto ldap = store().list_domain_config("d1", "ldap");
  ASSERT_TRUE(ldap.ok());
  ASSERT_EQ(ldap->size(), 3u);
  EXPECT_EQ((*ldap)[0].option, "page_size");
  EXPECT_EQ((*ldap)[2].value, R"("ldap://b")");

  // Replacing drops what is not given.
  ASSERT_TRUE(store().replace_domain_config("d1", {opt("identity", "list_limit", "10")}).ok());
  EXPECT_EQ(store().list_domain_config("d1")->size(), 1u);
  EXPECT_EQ(store().list_domain_config("d1", "identity", "list_limit")->at(0).value, "10");

  EXPECT_EQ(*store().delete_domain_config("d1", "identity", "driver"), 0);
  EXPECT_EQ(*store().delete_domain_config("d1", "identity"), 1);
  EXPECT_EQ(*store().delete_domain_config("d1"), 0);
}

TEST_P(StoreTest, DomainConfigUpdateWantsTheGroupOrOptionAlreadySet) {
  ASSERT_TRUE(store().create_domain({"d1", "research", "", true}).ok());
  ASSERT_TRUE(store().replace_domain_config("d1", {opt("ldap", "url", R"("ldap://a")")}).ok());
  EXPECT_EQ(store()
                .update_domain_config("d1", {opt("identity", "driver", R"("x")")}, "identity")
                .error()
                .code,
            ErrorCode::kNotFound);
  EXPECT_EQ(store()
                .update_domain_config("d1", {opt("ldap", "user", R"("x")")}, "ldap", "user")
                .error()
                .code,
            ErrorCode::kNotFound);
  EXPECT_TRUE(store().list_domain_config("d1", "identity")->empty());  // nothing written
  EXPECT_TRUE(store().update_domain_config("d1", {opt("ldap", "user", R"("x")")}, "ldap").ok());
  EXPECT_EQ(store().list_domain_config("d1", "ldap")->size(), 2u);
}

TEST_P(StoreTest, DomainConfigWantsItsDomainAndGoesWithIt) {
  EXPECT_EQ(store().replace_domain_config("nowhere", {opt("ldap", "url", "1")}).error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(store().list_domain_config("nowhere").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store().delete_domain_config("nowhere").error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(store().create_domain({"d1", "research", "", false}).ok());
  ASSERT_TRUE(store().replace_domain_config("d1", {opt("ldap", "url", R"("ldap://a")")}).ok());
  ASSERT_TRUE(store().delete_domain("d1").ok());
  EXPECT_EQ(db().count("SELECT COUNT(*) FROM domain_configs"), 0);
}

}  // namespace
}  // namespace gpucloud::store::testing

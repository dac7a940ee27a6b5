// Keystone v3 domain configurations, as keystone answers them (Tempest's
// test_domain_configuration): the config, a group and an option created, read, updated and
// deleted; groups and options keystone does not allow refused with 403; ldap.password stored but
// never answered; admins only; a domain that does not exist is a 404.
#include "api_fixture.h"

namespace gpucloud::api::testing {
namespace {

class IdentityDomainConfigsTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    admin_ = login("admin", "admin-secret", "admin");
    ASSERT_FALSE(admin_.empty());
    ASSERT_TRUE(store_->create_domain({"d1", "research", "", true}).ok());
  }
  httplib::Result send(const std::string& method, const std::string& path,
                       const std::string& body = "") {
    httplib::Headers h = {{"X-Auth-Token", admin_}};
    if (method == "PUT") return client_->Put(path.c_str(), h, body, "application/json");
    if (method == "PATCH") return client_->Patch(path.c_str(), h, body, "application/json");
    return client_->Delete(path.c_str(), h);
  }
  json config_of(const httplib::Result& r) { return json::parse(r->body)["config"]; }
  std::string admin_;
  const std::string base_ = "/identity/v3/domains/d1/config";
  const json config_ = {
      {"identity", {{"driver", "ldap"}}},
      {"ldap", {{"url", "ldap://myldap.com:389/"}, {"user_tree_dn", "ou=Users"}}}};
};

TEST_F(IdentityDomainConfigsTest, ConfigIsCreatedShownReplacedAndDeleted) {
  auto r = send("PUT", base_, json{{"config", config_}}.dump());
  ASSERT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(config_of(r), config_);
  r = get(base_, admin_);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(config_of(r), config_);

  // A second PUT replaces the whole configuration: 200, the ldap group is gone.
  const json identity_only = {{"identity", {{"driver", "sql"}, {"list_limit", 7}}}};
  r = send("PUT", base_, json{{"config", identity_only}}.dump());
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(config_of(r), identity_only);
  EXPECT_EQ(config_of(get(base_, admin_)), identity_only);
  EXPECT_EQ(get(base_ + "/ldap", admin_)->status, 404);

  EXPECT_EQ(send("DELETE", base_)->status, 204);
  r = get(base_, admin_);
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(r->body.find("Could not find any options in domain configuration for domain d1."),
            std::string::npos)
      << r->body;
  EXPECT_EQ(send("DELETE", base_)->status, 204);  // keystone: nothing to delete is no error
}

TEST_F(IdentityDomainConfigsTest, GroupsAndOptionsAreShownUpdatedAndDeleted) {
  ASSERT_EQ(send("PUT", base_, json{{"config", config_}}.dump())->status, 201);

  auto r = get(base_ + "/ldap", admin_);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(config_of(r), json({{"ldap", config_["ldap"]}}));
  r = get(base_ + "/ldap/url", admin_);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(config_of(r), json({{"url", "ldap://myldap.com:389/"}}));

  // A group's PATCH merges its options and answers the whole configuration; values keep their
  // JSON type.
  r = send("PATCH", base_ + "/identity",
           R"({"config": {"identity": {"driver": "d2", "list_limit": 42}}})");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(config_of(r)["identity"], json({{"driver", "d2"}, {"list_limit", 42}}));
  EXPECT_EQ(config_of(r)["ldap"], config_["ldap"]);

  r = send("PATCH", base_ + "/identity/driver", R"({"config": {"driver": "d3"}})");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(config_of(r)["identity"]["driver"], "d3");

  // The whole config's PATCH merges too, adding options not set yet.
  r = send("PATCH", base_, R"({"config": {"ldap": {"page_size": 5}}})");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(config_of(r)["ldap"]["page_size"], 5);
  EXPECT_EQ(config_of(r)["ldap"]["url"], "ldap://myldap.com:389/");

  EXPECT_EQ(send("DELETE", base_ + "/identity/driver")->status, 204);
  r = get(base_ + "/identity/driver", admin_);
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(r->body.find("option driver in group identity"), std::string::npos) << r->body;
  EXPECT_EQ(send("DELETE", base_ + "/identity/driver")->status, 404);
  EXPECT_EQ(config_of(get(base_ + "/identity", admin_)),
            json({{"identity", {{"list_limit", 42}}}}));

  EXPECT_EQ(send("DELETE", base_ + "/identity")->status, 204);
  EXPECT_EQ(get(base_ + "/identity", admin_)->status, 404);
  EXPECT_EQ(send("DELETE", base_ + "/identity")->status, 404);
  EXPECT_EQ(config_of(get(base_, admin_)).size(), 1u);  // ldap stays
}

TEST_F(IdentityDomainConfigsTest, PatchOfAGroupOrOptionNotSetIsNotFound) {
  ASSERT_EQ(send("PUT", base_, R"({"config": {"ldap": {"url": "ldap://a"}}})")->status, 201);
  auto r = send("PATCH", base_ + "/identity", R"({"config": {"identity": {"driver": "x"}}})");
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(r->body.find("group identity"), std::string::npos) << r->body;
  EXPECT_EQ(send("PATCH", base_ + "/ldap/user", R"({"config": {"user": "cn=x"}})")->status, 404);
  // The body must hold that group (option) and nothing else: keystone's 403.
  EXPECT_EQ(send("PATCH", base_ + "/ldap", R"({"config": {"identity": {"driver": "x"}}})")->status,
            403);
  EXPECT_EQ(send("PATCH", base_ + "/ldap/url", R"({"config": {"url": "a", "user": "b"}})")->status,
            403);
  EXPECT_EQ(config_of(get(base_, admin_)), json({{"ldap", {{"url", "ldap://a"}}}}));
}

TEST_F(IdentityDomainConfigsTest, UnknownGroupsAndOptionsAreForbidden) {
  auto r = send("PUT", base_, R"({"config": {"assignment": {"driver": "sql"}}})");
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find("Group assignment is not supported"), std::string::npos) << r->body;
  r = send("PUT", base_, R"({"config": {"identity": {"caching": false}}})");
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find("Option caching in group identity is not supported"), std::string::npos)
      << r->body;
  EXPECT_EQ(send("PUT", base_, R"({"config": {}})")->status, 403);  // no options specified
  EXPECT_EQ(send("PUT", base_, R"({"config": {"ldap": {}}})")->status, 403);
  EXPECT_EQ(send("PUT", base_, R"({"config": {"ldap": "url"}})")->status, 403);
  r = send("PUT", base_, R"({"config": ["ldap"]})");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("'config'"), std::string::npos) << r->body;
  EXPECT_EQ(get(base_, admin_)->status, 404);  // nothing was written

  EXPECT_EQ(get(base_ + "/assignment", admin_)->status, 403);
  EXPECT_EQ(get(base_ + "/ldap/nonsense", admin_)->status, 403);
  EXPECT_EQ(send("DELETE", base_ + "/ldap/nonsense")->status, 403);
  EXPECT_EQ(get("/identity/v3/domains/config/assignment/default", admin_)->status, 403);
  EXPECT_EQ(get("/identity/v3/domains/config/ldap/nonsense/default", admin_)->status, 403);
}

TEST_F(IdentityDomainConfigsTest, SensitiveOptionIsStoredButNeverAnswered) {
  auto r =
      send("PUT", base_, R"({"config": {"ldap": {"url": "ldap://a", "password": "s3cret-pw"}}})");
  ASSERT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(r->body.find("s3cret-pw"), std::string::npos) << r->body;
  EXPECT_EQ(config_of(r), json({{"ldap", {{"url", "ldap://a"}}}}));
  auto stored = store_->list_domain_config("d1", "ldap", "password");
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 1u);  // kept, for a driver that would use it
  EXPECT_TRUE((*stored)[0].sensitive);

  for (const std::string& path : {base_, base_ + "/ldap"}) {
    r = get(path, admin_);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->body.find("s3cret-pw"), std::string::npos) << r->body;
    EXPECT_EQ(r->body.find("password"), std::string::npos) << r->body;
  }
  EXPECT_EQ(get(base_ + "/ldap/password", admin_)->status, 404);  // as keystone
  r = send("PATCH", base_ + "/ldap/password", R"({"config": {"password": "n3w-pw"}})");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->body.find("n3w-pw"), std::string::npos) << r->body;
  EXPECT_EQ(get("/identity/v3/domains/config/ldap/password/default", admin_)->status, 403);
  EXPECT_EQ(send("DELETE", base_ + "/ldap/password")->status, 204);
  EXPECT_TRUE(store_->list_domain_config("d1", "ldap", "password")->empty());
}

TEST_F(IdentityDomainConfigsTest, DefaultsAreKeystonesDocumentedOnes) {
  auto r = get("/identity/v3/domains/config/default", admin_);
  ASSERT_EQ(r->status, 200) << r->body;
  const json all = config_of(r);
  EXPECT_EQ(all["identity"], json({{"driver", "sql"}, {"list_limit", nullptr}}));
  EXPECT_EQ(all["ldap"]["url"], "ldap://localhost");
  EXPECT_EQ(all["ldap"]["pool_size"], 10);
  EXPECT_FALSE(all["ldap"].contains("password"));
  EXPECT_EQ(all.size(), 2u);

  r = get("/identity/v3/domains/config/ldap/default", admin_);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(config_of(r), json({{"ldap", all["ldap"]}}));
  r = get("/identity/v3/domains/config/identity/driver/default", admin_);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(config_of(r), json({{"driver", "sql"}}));
}

TEST_F(IdentityDomainConfigsTest, OnlyAdminsAndOnlyExistingDomains) {
  const std::string alice = login("alice", "alice-secret", "demo");
  ASSERT_FALSE(alice.empty());
  EXPECT_EQ(get(base_, alice)->status, 403);
  EXPECT_EQ(get("/identity/v3/domains/config/default", alice)->status, 403);
  httplib::Headers h = {{"X-Auth-Token", alice}};
  EXPECT_EQ(
      client_->Put(base_.c_str(), h, json{{"config", config_}}.dump(), "application/json")->status,
      403);

  auto r = send("PUT", "/identity/v3/domains/nowhere/config", json{{"config", config_}}.dump());
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(r->body.find("Could not find domain: nowhere."), std::string::npos) << r->body;
  EXPECT_EQ(get("/identity/v3/domains/nowhere/config/ldap", admin_)->status, 404);
  EXPECT_EQ(
      send("PATCH", "/identity/v3/domains/nowhere/config/ldap/url", R"({"config": {"url": "x"}})")
          ->status,
      404);
  EXPECT_EQ(send("DELETE", "/identity/v3/domains/nowhere/config")->status, 404);
}

TEST_F(IdentityDomainConfigsTest, DeletingTheDomainDeletesItsConfig) {
  ASSERT_EQ(send("PUT", base_, json{{"config", config_}}.dump())->status, 201);
  ASSERT_EQ(send("PATCH", "/identity/v3/domains/d1", R"({"domain": {"enabled": false}})")->status,
            200);
  ASSERT_EQ(send("DELETE", "/identity/v3/domains/d1")->status, 204);
  ASSERT_TRUE(store_->create_domain({"d1", "research", "", true}).ok());
  EXPECT_EQ(get(base_, admin_)->status, 404);  // the new d1 starts without one
}

}  // namespace
}  // namespace gpucloud::api::testing

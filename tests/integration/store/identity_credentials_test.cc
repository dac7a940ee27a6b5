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

namespace gpucloud::store::testing {
namespace {

// OAuth1 delegation (schema version 23): a request token is authorized once and exchanged once;
// a nonce is used once; a token made from an access token grants its roles only while the
// access token lives, and goes when its consumer does.
TEST_P(StoreTest, OAuthTokensAreOneTimeAndDelegatedTokensDieWithTheirAccessToken) {
  User u;
  u.id = "u1";
  u.name = "carol";
  ASSERT_TRUE(store().create_user(u).ok());
  Project p;
  p.id = "p1";
  p.name = "lab";
  ASSERT_TRUE(store().create_project(p).ok());
  ASSERT_TRUE(store().assign_role({"u1", "p1", "member"}).ok());
  ASSERT_TRUE(store().create_oauth_consumer({"c1", "consumer-secret", "ci"}).ok());
  const TimePoint now = std::chrono::system_clock::now();

  OAuthRequestToken rt;
  rt.id = "rt1";
  rt.secret = "rs";
  rt.consumer_id = "c1";
  rt.project_id = "p1";
  rt.expires_at = now + std::chrono::hours(1);
  ASSERT_TRUE(store().create_request_token(rt).ok());
  OAuthAccessToken at{"at1", "as", "c1", "u1", "p1", {"reader"}, now + std::chrono::hours(1)};
  // Not authorized yet: no exchange.
  EXPECT_EQ(store().exchange_request_token("rt1", at).error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(store().authorize_request_token("rt1", "u1", {"reader"}, "v", now).ok());
  EXPECT_EQ(store().authorize_request_token("rt1", "u1", {"member"}, "w", now).error().code,
            ErrorCode::kConflict);
  auto read = store().get_request_token("rt1");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->roles, std::vector<std::string>{"reader"});
  EXPECT_EQ(read->verifier, "v");
  ASSERT_TRUE(store().exchange_request_token("rt1", at).ok());
  EXPECT_EQ(store().exchange_request_token("rt1", at).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store().get_access_token("at1")->roles, std::vector<std::string>{"reader"});
  EXPECT_EQ(store().list_user_access_tokens("u1")->size(), 1u);

  ASSERT_TRUE(store().use_oauth_nonce("c1", "n1", now).ok());
  EXPECT_EQ(store().use_oauth_nonce("c1", "n1", now).error().code, ErrorCode::kConflict);

  Token t;
  t.token_hash = "h1";
  t.user_id = "u1";
  t.project_id = "p1";
  t.roles = {"member"};
  t.issued_at = now;
  t.expires_at = now + std::chrono::hours(1);
  t.oauth_access_token_id = "at1";
  ASSERT_TRUE(store().store_token(t).ok());
  auto g = store().get_token_grant("h1");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->token.oauth_access_token_id, "at1");
  EXPECT_EQ(g->delegated_roles, std::vector<std::string>{"reader"});
  EXPECT_EQ(g->oauth_consumer_id, "c1");

  ASSERT_TRUE(store().delete_access_token("at1").ok());
  g = store().get_token_grant("h1");
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(g->token.revoked);
  ASSERT_TRUE(g->delegated_roles.has_value());
  EXPECT_TRUE(g->delegated_roles->empty());

  // Deleting the consumer takes its access tokens and revokes their tokens.
  OAuthRequestToken rt2 = rt;
  rt2.id = "rt2";
  ASSERT_TRUE(store().create_request_token(rt2).ok());
  ASSERT_TRUE(store().authorize_request_token("rt2", "u1", {"member"}, "v2", now).ok());
  ASSERT_TRUE(
      store()
          .exchange_request_token(
              "rt2", {"at2", "as2", "c1", "u1", "p1", {"member"}, now + std::chrono::hours(1)})
          .ok());
  t.token_hash = "h2";
  t.oauth_access_token_id = "at2";
  ASSERT_TRUE(store().store_token(t).ok());
  ASSERT_TRUE(store().delete_oauth_consumer("c1").ok());
  EXPECT_TRUE(store().get_token_grant("h2")->token.revoked);
  EXPECT_EQ(store().get_access_token("at2").error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(store().list_oauth_consumers()->empty());
}

}  // namespace
}  // namespace gpucloud::store::testing

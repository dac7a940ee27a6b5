// /healthz and /readyz: answered without a token, saying nothing secret. And `gpucloud server
// init`'s identity step (ensure_identity) on the fixture's store.
#include "api/bootstrap.h"
#include "api_fixture.h"
#include "conductor/conductor.h"

namespace gpucloud::api::testing {
namespace {

using HealthTest = ApiTest;

TEST_F(HealthTest, HealthzAnswersWithoutAToken) {
  auto r = client_->Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["status"], "ok");
}

TEST_F(HealthTest, ReadyzChecksDatabaseSchemaAndConductor) {
  auto r = client_->Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  const json body = json::parse(r->body);
  EXPECT_EQ(body["status"], "ok");
  EXPECT_EQ(body["checks"]["database"], "ok");
  EXPECT_EQ(body["checks"]["schema"], "ok");
  EXPECT_EQ(body["checks"]["conductor"], "ok");
}

// A replica whose conductor stopped takes no new requests: 503, and the check says which.
TEST_F(HealthTest, ReadyzIs503WhenTheConductorStopped) {
  ASSERT_NE(server_->conductor(), nullptr);
  server_->conductor()->stop();
  auto r = client_->Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503) << r->body;
  const json body = json::parse(r->body);
  EXPECT_EQ(body["status"], "unavailable");
  EXPECT_EQ(body["checks"]["conductor"], "stopped");
  EXPECT_EQ(body["checks"]["database"], "ok");
  // /healthz is about the process only.
  auto h = client_->Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
}

TEST_F(HealthTest, ReadyzSaysNothingSecret) {
  auto r = client_->Get("/readyz");
  ASSERT_TRUE(r);
  // No database path or URL, no version, no password: only which check passed.
  EXPECT_EQ(r->body.find(dir_.string()), std::string::npos) << r->body;
  EXPECT_EQ(r->body.find("sqlite"), std::string::npos) << r->body;
  EXPECT_EQ(r->body.find("secret"), std::string::npos) << r->body;
}

// `gpucloud server init`'s identity step (ensure_identity), on the fixture's store.
TEST_F(HealthTest, EnsureIdentityIsIdempotentAndNeverChangesAPasswordUnasked) {
  IdentitySpec spec{"service", "gpucloud-agent", "service", std::string("first-secret")};
  auto first = ensure_identity(*store_, spec, false);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_TRUE(first->changed);
  auto again = ensure_identity(*store_, spec, false);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->changed);
  EXPECT_TRUE(again->password_matches);

  spec.password = "second-secret";
  auto other = ensure_identity(*store_, spec, false);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->changed);
  EXPECT_FALSE(other->password_matches);
  EXPECT_NE(login("gpucloud-agent", "first-secret", "service"), "");
  EXPECT_EQ(login("gpucloud-agent", "second-secret", "service"), "");

  auto reset = ensure_identity(*store_, spec, true);
  ASSERT_TRUE(reset.ok());
  EXPECT_TRUE(reset->changed);
  EXPECT_NE(login("gpucloud-agent", "second-secret", "service"), "");
  for (const auto& line : reset->steps) {
    EXPECT_EQ(line.find("secret"), std::string::npos) << line;
  }
}

TEST_F(HealthTest, EnsureIdentityNeedsAPasswordToCreateAUser) {
  auto r = ensure_identity(*store_, {"service", "nobody-yet", "service", std::nullopt}, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("no password"), std::string::npos);
}

}  // namespace
}  // namespace gpucloud::api::testing

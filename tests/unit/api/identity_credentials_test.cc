// Keystone v3 credentials and policies: stored blobs, an admin's or (credentials) their owner's.
#include "api_fixture.h"

namespace gpucloud::api::testing {
namespace {

class IdentityCredentialsTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    admin_ = login("admin", "admin-secret", "admin");
    alice_ = login("alice", "alice-secret", "demo");
    bob_ = login("bob", "bob-secret", "other");
    ASSERT_FALSE(admin_.empty() || alice_.empty() || bob_.empty());
    alice_id_ = json::parse(get("/identity/v3/users?name=alice", admin_)->body)["users"][0]["id"];
    demo_ = json::parse(get("/identity/v3/projects?name=demo", admin_)->body)["projects"][0]["id"];
    other_ =
        json::parse(get("/identity/v3/projects?name=other", admin_)->body)["projects"][0]["id"];
  }
  httplib::Result patch(const std::string& path, const std::string& token, const json& body) {
    return client_->Patch(path.c_str(), {{"X-Auth-Token", token}}, body.dump(), "application/json");
  }
  httplib::Result del(const std::string& path, const std::string& token) {
    return client_->Delete(path.c_str(), {{"X-Auth-Token", token}});
  }
  static json ec2(const std::string& user, const std::string& project, const std::string& secret) {
    return {{"credential",
             {{"user_id", user},
              {"project_id", project},
              {"type", "ec2"},
              {"blob", json{{"access", "AK"}, {"secret", secret}}.dump()}}}};
  }
  std::string admin_, alice_, bob_, alice_id_, demo_, other_;
};

TEST_F(IdentityCredentialsTest, OwnerCreatesShowsUpdatesListsAndDeletesItsCredential) {
  auto r = post("/identity/v3/credentials", alice_, ec2(alice_id_, demo_, "s1").dump());
  ASSERT_EQ(r->status, 201) << r->body;
  const json c = json::parse(r->body)["credential"];
  const std::string path = "/identity/v3/credentials/" + c["id"].get<std::string>();
  EXPECT_EQ(c["user_id"], alice_id_);
  EXPECT_EQ(c["project_id"], demo_);
  EXPECT_EQ(json::parse(c["blob"].get<std::string>())["secret"], "s1");

  r = patch(path, alice_, {{"credential", {{"blob", R"({"access": "AK", "secret": "s2"})"}}}});
  ASSERT_EQ(r->status, 200) << r->body;
  r = get(path, alice_);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(json::parse(r->body)["credential"]["blob"].get<std::string>())["secret"],
            "s2");
  r = get("/identity/v3/credentials", alice_);
  EXPECT_EQ(json::parse(r->body)["credentials"].size(), 1u);
  EXPECT_EQ(del(path, alice_)->status, 204);
  EXPECT_EQ(get(path, alice_)->status, 404);
}

TEST_F(IdentityCredentialsTest, OthersCredentialsAreInvisibleToAUserWhoIsNoAdmin) {
  auto r = post("/identity/v3/credentials", alice_, ec2(alice_id_, demo_, "s1").dump());
  ASSERT_EQ(r->status, 201) << r->body;
  const std::string path =
      "/identity/v3/credentials/" + json::parse(r->body)["credential"]["id"].get<std::string>();
  EXPECT_EQ(get(path, bob_)->status, 404);
  EXPECT_EQ(patch(path, bob_, {{"credential", {{"type", "totp"}}}})->status, 404);
  EXPECT_EQ(del(path, bob_)->status, 404);
  r = get("/identity/v3/credentials?user_id=" + alice_id_, bob_);
  ASSERT_EQ(r->status, 200);
  EXPECT_TRUE(json::parse(r->body)["credentials"].empty());
  EXPECT_EQ(r->body.find("s1"), std::string::npos);
  // The admin sees and manages it.
  EXPECT_EQ(get(path, admin_)->status, 200);
  EXPECT_EQ(get(path, alice_)->status, 200);  // bob's tries changed nothing
}

TEST_F(IdentityCredentialsTest, UserWhoIsNoAdminCannotMakeOneForAnotherUserOrProject) {
  const std::string bob_id =
      json::parse(get("/identity/v3/users?name=bob", admin_)->body)["users"][0]["id"];
  EXPECT_EQ(post("/identity/v3/credentials", alice_, ec2(bob_id, other_, "x").dump())->status, 403);
  // A project where alice holds no role.
  EXPECT_EQ(post("/identity/v3/credentials", alice_, ec2(alice_id_, other_, "x").dump())->status,
            403);
  // Nor move its own to another user.
  auto r = post("/identity/v3/credentials", alice_, ec2(alice_id_, demo_, "x").dump());
  ASSERT_EQ(r->status, 201);
  const std::string path =
      "/identity/v3/credentials/" + json::parse(r->body)["credential"]["id"].get<std::string>();
  EXPECT_EQ(patch(path, alice_, {{"credential", {{"user_id", bob_id}}}})->status, 403);
  EXPECT_EQ(post("/identity/v3/credentials", admin_, ec2(bob_id, other_, "x").dump())->status, 201);
}

TEST_F(IdentityCredentialsTest, BadCredentialsAreRefusedWithoutRepeatingTheBlob) {
  json bad = ec2(alice_id_, demo_, "x");
  bad["credential"]["blob"] = "not-json-TOPSECRET";
  auto r = post("/identity/v3/credentials", alice_, bad.dump());
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_EQ(r->body.find("TOPSECRET"), std::string::npos) << r->body;
  json no_project = ec2(alice_id_, demo_, "x");
  no_project["credential"].erase("project_id");
  EXPECT_EQ(post("/identity/v3/credentials", alice_, no_project.dump())->status, 400);
  EXPECT_EQ(post("/identity/v3/credentials", alice_,
                 R"({"credential": {"user_id": "x", "type": "totp"}})")
                ->status,
            400);
  EXPECT_EQ(
      post("/identity/v3/credentials", alice_,
           json{{"credential", {{"user_id", alice_id_}, {"type", "totp"}, {"blob", 7}}}}.dump())
          ->status,
      400);
}

TEST_F(IdentityCredentialsTest, AdminManagesPoliciesAndOthersCannot) {
  auto r = post("/identity/v3/policies", admin_,
                R"({"policy": {"type": "application/json", "blob": "{\"a\": 1}"}})");
  ASSERT_EQ(r->status, 201) << r->body;
  const json p = json::parse(r->body)["policy"];
  const std::string path = "/identity/v3/policies/" + p["id"].get<std::string>();
  EXPECT_EQ(p["blob"], R"({"a": 1})");
  ASSERT_EQ(patch(path, admin_, {{"policy", {{"type", "text/plain"}}}})->status, 200);
  r = get(path, admin_);
  EXPECT_EQ(json::parse(r->body)["policy"]["type"], "text/plain");
  EXPECT_EQ(json::parse(r->body)["policy"]["blob"], R"({"a": 1})");
  EXPECT_EQ(json::parse(get("/identity/v3/policies", admin_)->body)["policies"].size(), 1u);

  EXPECT_EQ(get(path, alice_)->status, 403);
  EXPECT_EQ(
      post("/identity/v3/policies", alice_, R"({"policy": {"type": "t", "blob": "b"}})")->status,
      403);
  EXPECT_EQ(post("/identity/v3/policies", admin_, R"({"policy": {"type": "t"}})")->status, 400);
  EXPECT_EQ(del(path, admin_)->status, 204);
  EXPECT_EQ(get(path, admin_)->status, 404);
}

}  // namespace
}  // namespace gpucloud::api::testing

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api_fixture.h"

namespace gpucloud::api::testing {
namespace {

TEST_F(ApiTest, PasswordLoginReturnsScopedTokenWithCatalog) {
  auto token = login("admin", "admin-secret", "admin");
  ASSERT_FALSE(token.empty());
  auto r = client_->Get("/identity/v3/auth/tokens",
                        {{"X-Auth-Token", token}, {"X-Subject-Token", token}});
  ASSERT_EQ(r->status, 200);
  json body = json::parse(r->body);
  EXPECT_EQ(body["token"]["project"]["name"], "admin");
  EXPECT_EQ(body["token"]["roles"].size(), 3u);  // admin implies member and reader
  std::vector<std::string> types;
  for (const auto& s : body["token"]["catalog"]) types.push_back(s["type"]);
  EXPECT_EQ(types, (std::vector<std::string>{"identity", "compute", "image"}));
}

TEST_F(ApiTest, WrongPasswordAndUnknownUserLookTheSame) {
  int s1 = 0, s2 = 0;
  EXPECT_TRUE(login("admin", "wrong", "admin", &s1).empty());
  EXPECT_TRUE(login("nobody", "wrong", "admin", &s2).empty());
  EXPECT_EQ(s1, 401);
  EXPECT_EQ(s2, 401);
}

TEST_F(ApiTest, UserWithoutRoleOnProjectCannotScopeToIt) {
  int status = 0;
  EXPECT_TRUE(login("bob", "bob-secret", "demo", &status).empty());
  EXPECT_EQ(status, 401);
}

TEST_F(ApiTest, MissingOrBogusTokenIsUnauthorizedInKeystoneShape) {
  auto r = client_->Get("/identity/v3/projects");
  ASSERT_EQ(r->status, 401);
  json body = json::parse(r->body);
  EXPECT_EQ(body["error"]["code"], 401);
  EXPECT_EQ(body["error"]["title"], "Unauthorized");
  r = get("/identity/v3/projects", "not-a-token");
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->body.find("not-a-token"), std::string::npos);  // never echo a token
}

TEST_F(ApiTest, RevokedTokenStopsWorking) {
  auto token = login("alice", "alice-secret", "demo");
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(get("/identity/v3/auth/projects", token)->status, 200);
  auto r = client_->Delete("/identity/v3/auth/tokens",
                           {{"X-Auth-Token", token}, {"X-Subject-Token", token}});
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(get("/identity/v3/auth/projects", token)->status, 401);
}

TEST_F(ApiTest, MemberAndReaderCannotManageProjects) {
  auto alice = login("alice", "alice-secret", "demo");
  auto rita = login("rita", "rita-secret", "demo");
  const std::string body = R"({"project": {"name": "x"}})";
  EXPECT_EQ(post("/identity/v3/projects", alice, body)->status, 403);
  EXPECT_EQ(post("/identity/v3/projects", rita, body)->status, 403);
  auto before = store_->list_projects();
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->size(), 3u);  // admin, demo, other: nothing was created
}

TEST_F(ApiTest, AdminCreatesProjectUserAndAssignsRole) {
  auto admin = login("admin", "admin-secret", "admin");
  auto r = post("/identity/v3/projects", admin, R"({"project": {"name": "research"}})");
  ASSERT_EQ(r->status, 201) << r->body;
  const std::string project_id = json::parse(r->body)["project"]["id"];
  r = post("/identity/v3/users", admin,
           R"({"user": {"name": "carol", "password": "carol-secret"}})");
  ASSERT_EQ(r->status, 201) << r->body;
  const std::string user_id = json::parse(r->body)["user"]["id"];
  EXPECT_EQ(r->body.find("carol-secret"), std::string::npos);
  auto put = client_->Put(
      ("/identity/v3/projects/" + project_id + "/users/" + user_id + "/roles/member").c_str(),
      {{"X-Auth-Token", admin}}, "", "application/json");
  EXPECT_EQ(put->status, 204);
  EXPECT_FALSE(login("carol", "carol-secret", "research").empty());
  // The stored password is an Argon2id hash, never the password.
  auto user = store_->get_user(user_id);
  ASSERT_TRUE(user.ok());
  EXPECT_EQ(user->password_hash.rfind("$argon2id$", 0), 0u);
}

// keystone keeps properties of the client's own with the user (Tempest creates users with a
// project_id) and returns them; an update merges them and may repeat, not change, id and domain.
TEST_F(ApiTest, UserPropertiesOfTheClientsOwnAreKeptAndReturned) {
  auto admin = login("admin", "admin-secret", "admin");
  auto r = post("/identity/v3/users", admin,
                R"({"user": {"name": "erin", "description": "lab lead", "project_id": "p1",
                             "id": "chosen-by-client"}})");
  ASSERT_EQ(r->status, 201) << r->body;
  json u = json::parse(r->body)["user"];
  const std::string id = u["id"];
  EXPECT_NE(id, "chosen-by-client");
  EXPECT_EQ(u["description"], "lab lead");
  EXPECT_EQ(u["project_id"], "p1");
  const std::string path = "/identity/v3/users/" + id;
  auto patch = [&](const std::string& body) {
    return client_->Patch(path.c_str(), {{"X-Auth-Token", admin}}, body, "application/json");
  };
  r = patch(R"({"user": {"id": ")" + id +
            R"(", "description": "retired", "team": "gpu", "email": "erin@example.org"}})");
  ASSERT_EQ(r->status, 200) << r->body;
  r = client_->Get(path.c_str(), {{"X-Auth-Token", admin}});
  u = json::parse(r->body)["user"];
  EXPECT_EQ(u["description"], "retired");
  EXPECT_EQ(u["team"], "gpu");
  EXPECT_EQ(u["project_id"], "p1") << "kept by a PATCH that does not name it";
  EXPECT_EQ(u["email"], "erin@example.org");

  const std::string before = r->body;
  r = patch(R"({"user": {"id": "other"}})");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("user.id"), std::string::npos) << r->body;
  EXPECT_EQ(patch(R"({"user": {"domain_id": "elsewhere"}})")->status, 400);
  EXPECT_EQ(patch(R"({"user": {"description": 7}})")->status, 400);
  EXPECT_EQ(patch(R"({"user": {"default_project_id": "nope"}})")->status, 400);
  EXPECT_EQ(patch(R"({"user": {"blob": ")" + std::string(70000, 'x') + R"("}})")->status, 400);
  EXPECT_EQ(client_->Get(path.c_str(), {{"X-Auth-Token", admin}})->body, before)
      << "a refused update changes nothing";
}

TEST_F(ApiTest, DuplicateProjectNameIsConflict) {
  auto admin = login("admin", "admin-secret", "admin");
  EXPECT_EQ(post("/identity/v3/projects", admin, R"({"project": {"name": "demo"}})")->status, 409);
}

TEST_F(ApiTest, MalformedAndUnknownFieldsAreBadRequests) {
  auto admin = login("admin", "admin-secret", "admin");
  auto r = post("/identity/v3/projects", admin, "{not json");
  EXPECT_EQ(r->status, 400);
  r = post("/identity/v3/projects", admin, R"({"project": {"name": "x", "colour": "red"}})");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("colour"), std::string::npos);
  EXPECT_FALSE(store_->find_project_by_name("x", "default").ok());
}

// Only the headers are sent: the server must answer 413 from Content-Length alone, before it
// reads a byte of the body (a client that pushed the whole body could see the connection close
// under it, which is what the server wants, but makes a flaky test).
TEST_F(ApiTest, OversizedBodyIsRejectedBeforeItIsRead) {
  auto admin = login("admin", "admin-secret", "admin");
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server_->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string head =
      "POST /identity/v3/projects HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "X-Auth-Token: " +
      admin +
      "\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(2 << 20) + "\r\n\r\n";
  ASSERT_EQ(::send(fd, head.data(), head.size(), 0), static_cast<ssize_t>(head.size()));
  char buf[512] = {};
  const ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
  ::close(fd);
  ASSERT_GT(n, 0) << "no answer before the body was sent";
  EXPECT_EQ(std::string(buf).rfind("HTTP/1.1 413", 0), 0u) << buf;
  EXPECT_FALSE(store_->find_project_by_name("x", "default").ok());
}

TEST_F(ApiTest, MetricsNeedAdminAndCountRequests) {
  auto alice = login("alice", "alice-secret", "demo");
  EXPECT_EQ(get("/metrics", alice)->status, 403);
  auto admin = login("admin", "admin-secret", "admin");
  auto r = get("/metrics", admin);
  ASSERT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("gpucloud_api_requests_total{method=\"POST\",route=\"/identity/v3/auth/"
                         "tokens\",status=\"201\"}"),
            std::string::npos)
      << r->body;
}

class ExpiredTokenTest : public ApiTest {
 protected:
  void SetUp() override {
    token_ttl_ = std::chrono::seconds(0);
    ApiTest::SetUp();
  }
};

TEST_F(ExpiredTokenTest, ExpiredTokenIsUnauthorized) {
  auto token = login("admin", "admin-secret", "admin");
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(get("/identity/v3/projects", token)->status, 401);
}

}  // namespace
}  // namespace gpucloud::api::testing

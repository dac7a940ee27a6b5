// keystone's OAuth1 delegation (OS-OAUTH1): the signature against the published example, the
// consumers as Tempest's test_oauth_consumers uses them, and the refusals of unsigned, badly
// signed and stale requests. The whole flow, signed by oauthlib through keystoneclient, is
// tests/integration/identity/oauth1_delegation.py.
#include <chrono>

#include "api/oauth1_impl.h"
#include "api_fixture.h"

namespace gpucloud::api::testing {
namespace {

// The example of the OAuth Core 1.0 specification (Appendix A.5), which RFC 5849 keeps.
TEST(OAuth1Signature, MatchesThePublishedExample) {
  const std::vector<std::pair<std::string, std::string>> params = {
      {"oauth_consumer_key", "dpf43f3p2l4k3l03"},
      {"oauth_token", "nnch734d00sl2jdk"},
      {"oauth_signature_method", "HMAC-SHA1"},
      {"oauth_timestamp", "1191242096"},
      {"oauth_nonce", "kllo9940pd9333jh"},
      {"oauth_version", "1.0"},
      {"file", "vacation.jpg"},
      {"size", "original"},
      {"oauth_signature", "left out"}};
  const std::string base = oauth_base_string("GET", "http://photos.example.net/photos", params);
  EXPECT_EQ(base,
            "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_"
            "key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3Dkllo9940pd9333jh%26oauth_signature_method%"
            "3DHMAC-SHA1%26oauth_timestamp%3D1191242096%26oauth_token%3Dnnch734d00sl2jdk%26oauth_"
            "version%3D1.0%26size%3Doriginal");
  EXPECT_EQ(oauth_hmac_sha1("kd94hf93k423kf44", "pfkkdhi9sl3r4s00", base),
            "tR3+Ty81lMeYAr/Fid0kMTYa/WM=");
}

TEST(OAuth1Signature, PercentEncodingAndHeaderParsing) {
  EXPECT_EQ(oauth_percent_encode("a b+c~d/é"), "a%20b%2Bc~d%2F%C3%A9");
  auto p = parse_oauth_header(
      R"(OAuth realm="x", oauth_consumer_key="c%20k",oauth_nonce="n", oauth_callback="oob")");
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->at("oauth_consumer_key"), "c k");
  EXPECT_EQ(p->count("realm"), 0u);
  EXPECT_EQ(p->size(), 3u);
  EXPECT_FALSE(parse_oauth_header("Bearer abc").ok());
  EXPECT_FALSE(parse_oauth_header(R"(OAuth oauth_nonce=unquoted)").ok());
  EXPECT_FALSE(parse_oauth_header(R"(OAuth oauth_nonce="a", oauth_nonce="b")").ok());
  EXPECT_FALSE(parse_oauth_header(R"(OAuth oauth_nonce="open)").ok());
}

class OAuth1Test : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    admin_ = login("admin", "admin-secret", "admin");
    ASSERT_FALSE(admin_.empty());
  }
  // An Authorization header signed with our own signer (the integration test uses oauthlib's).
  std::string signed_header(const std::string& consumer, const std::string& secret,
                            long long timestamp, const std::string& nonce) {
    const std::vector<std::pair<std::string, std::string>> params = {
        {"oauth_consumer_key", consumer},
        {"oauth_signature_method", "HMAC-SHA1"},
        {"oauth_timestamp", std::to_string(timestamp)},
        {"oauth_nonce", nonce},
        {"oauth_version", "1.0"}};
    const std::string url = "http://127.0.0.1:" + std::to_string(server_->port()) +
                            "/identity/v3/OS-OAUTH1/request_token";
    const std::string sig = oauth_hmac_sha1(secret, "", oauth_base_string("POST", url, params));
    std::string h = "OAuth ";
    for (const auto& [k, v] : params) h += k + "=\"" + oauth_percent_encode(v) + "\", ";
    return h + "oauth_signature=\"" + oauth_percent_encode(sig) + "\"";
  }
  httplib::Result request_token(const std::string& authorization, const std::string& project) {
    httplib::Headers h = {{"Authorization", authorization}};
    if (!project.empty()) h.emplace("Requested-Project-Id", project);
    return client_->Post("/identity/v3/OS-OAUTH1/request_token", h, "", "application/json");
  }
  std::string admin_;
};

TEST_F(OAuth1Test, ConsumersAreCreatedShownUpdatedListedAndDeleted) {
  auto r =
      post("/identity/v3/OS-OAUTH1/consumers", admin_, R"({"consumer": {"description": "d"}})");
  ASSERT_EQ(r->status, 201) << r->body;
  const json c = json::parse(r->body)["consumer"];
  const std::string id = c["id"];
  EXPECT_EQ(c["description"], "d");
  EXPECT_GE(c["secret"].get<std::string>().size(), 32u);
  r = get("/identity/v3/OS-OAUTH1/consumers/" + id, admin_);
  ASSERT_EQ(r->status, 200);
  json shown = json::parse(r->body)["consumer"];
  EXPECT_FALSE(shown.contains("secret"));
  EXPECT_EQ(shown["links"], c["links"]);

  httplib::Headers h = {{"X-Auth-Token", admin_}};
  r = client_->Patch(("/identity/v3/OS-OAUTH1/consumers/" + id).c_str(), h,
                     R"({"consumer": {"description": "d2"}})", "application/json");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(
      json::parse(
          get("/identity/v3/OS-OAUTH1/consumers/" + id, admin_)->body)["consumer"]["description"],
      "d2");
  r = client_->Patch(("/identity/v3/OS-OAUTH1/consumers/" + id).c_str(), h,
                     R"({"consumer": {"secret": "mine"}})", "application/json");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("secret"), std::string::npos) << r->body;

  ASSERT_EQ(post("/identity/v3/OS-OAUTH1/consumers", admin_, "{}")->status, 201);
  r = get("/identity/v3/OS-OAUTH1/consumers", admin_);
  ASSERT_EQ(r->status, 200);
  const json all = json::parse(r->body)["consumers"];
  EXPECT_EQ(all.size(), 2u);
  for (const auto& x : all) EXPECT_FALSE(x.contains("secret"));

  EXPECT_EQ(client_->Delete(("/identity/v3/OS-OAUTH1/consumers/" + id).c_str(), h)->status, 204);
  EXPECT_EQ(get("/identity/v3/OS-OAUTH1/consumers/" + id, admin_)->status, 404);
  EXPECT_EQ(client_->Delete(("/identity/v3/OS-OAUTH1/consumers/" + id).c_str(), h)->status, 404);

  const std::string alice = login("alice", "alice-secret", "demo");
  EXPECT_EQ(get("/identity/v3/OS-OAUTH1/consumers", alice)->status, 403);
  EXPECT_EQ(post("/identity/v3/OS-OAUTH1/consumers", alice, "{}")->status, 403);
}

TEST_F(OAuth1Test, UnsignedBadlySignedStaleAndReplayedRequestsAreRefused) {
  auto r = post("/identity/v3/OS-OAUTH1/consumers", admin_, "{}");
  ASSERT_EQ(r->status, 201);
  const json c = json::parse(r->body)["consumer"];
  const std::string id = c["id"], secret = c["secret"];
  auto p = get("/identity/v3/projects?name=demo", admin_);
  const std::string demo = json::parse(p->body)["projects"][0]["id"];
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();

  EXPECT_EQ(request_token("", demo)->status, 401);
  EXPECT_EQ(request_token(signed_header(id, secret, now, "n0"), "")->status,
            400);  // signed, no project
  r = request_token(signed_header(id, "wrong", now, "n1"), demo);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->body.find(secret), std::string::npos);
  EXPECT_EQ(request_token(signed_header("nobody", secret, now, "n2"), demo)->status, 401);
  EXPECT_EQ(request_token(signed_header(id, secret, now - 3600, "n3"), demo)->status, 401);
  r = request_token(signed_header(id, secret, now, "n4"), "no-such-project");
  EXPECT_EQ(r->status, 404);

  const std::string good = signed_header(id, secret, now, "n5");
  r = request_token(good, demo);
  ASSERT_EQ(r->status, 201) << r->body;
  EXPECT_NE(r->get_header_value("Content-Type").find("application/x-www-form-urlencoded"),
            std::string::npos);
  EXPECT_EQ(r->body.rfind("oauth_token=", 0), 0u) << r->body;
  EXPECT_NE(r->body.find("&oauth_token_secret="), std::string::npos);
  EXPECT_EQ(request_token(good, demo)->status, 401);  // the same nonce again: a replay

  // A request token is authorized only by a user who holds the roles, and only once.
  const std::string token_id = r->body.substr(12, r->body.find('&') - 12);
  const std::string alice = login("alice", "alice-secret", "demo");
  httplib::Headers h = {{"X-Auth-Token", alice}};
  const std::string path = "/identity/v3/OS-OAUTH1/authorize/" + token_id;
  EXPECT_EQ(client_->Put(path.c_str(), h, R"({"roles": [{"name": "admin"}]})", "application/json")
                ->status,
            401);
  EXPECT_EQ(client_->Put(path.c_str(), h, R"({"roles": []})", "application/json")->status, 400);
  r = client_->Put(path.c_str(), h, R"({"roles": [{"name": "member"}]})", "application/json");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_FALSE(json::parse(r->body)["token"]["oauth_verifier"].get<std::string>().empty());
  EXPECT_EQ(client_->Put(path.c_str(), h, R"({"roles": [{"name": "member"}]})", "application/json")
                ->status,
            409);
  EXPECT_EQ(client_
                ->Put("/identity/v3/OS-OAUTH1/authorize/none", h,
                      R"({"roles": [{"name": "member"}]})", "application/json")
                ->status,
            404);
}

}  // namespace
}  // namespace gpucloud::api::testing

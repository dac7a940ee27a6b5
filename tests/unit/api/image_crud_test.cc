// Image v2: discovery, schemas, create, show, delete, tags and the access rules, against a real
// server on a real SQLite store.
#include "image_fixture.h"

namespace gpucloud::api::testing {
namespace {

// What `glance image-create` sends for the seed's login-node image (minus the file).
json seed_image() {
  return {{"name", "my_new_image"},
          {"visibility", "private"},
          {"disk_format", "raw"},
          {"container_format", "bare"},
          {"min_disk", 15},
          {"min_ram", 512},
          {"image_type", "loginnode"},
          {"service_type", "loginNode"},
          {"hw_video_model", "qxl"},
          {"hw_video_ram", "8"},
          {"configure_x", "true"},
          {"service_url", "https://{}/"}};
}

std::string message(const std::string& body) {
  return json::parse(body)["error"]["message"].get<std::string>();
}

TEST_F(ImageTest, VersionDiscoveryAnswersLikeGlance) {
  auto r = client_->Get("/image/versions");
  ASSERT_EQ(r->status, 200);
  json v = json::parse(r->body)["versions"];
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v[0]["status"], "CURRENT");
  EXPECT_EQ(v[0]["id"].get<std::string>().rfind("v2.", 0), 0u);
  EXPECT_EQ(v[0]["links"][0]["href"], server_->base_url() + "/image/v2/");
  EXPECT_EQ(client_->Get("/image/")->status, 300);
}

TEST_F(ImageTest, SchemaDescribesCoreFieldsAndStringCustomProperties) {
  EXPECT_EQ(client_->Get("/image/v2/schemas/image")->status, 401);
  auto r = get("/image/v2/schemas/image", rita_);
  ASSERT_EQ(r->status, 200);
  json s = json::parse(r->body);
  EXPECT_EQ(s["name"], "image");
  EXPECT_EQ(s["additionalProperties"]["type"], "string");
  for (const char* p : {"id", "name", "visibility", "min_disk", "min_ram", "disk_format",
                        "container_format", "checksum", "os_hash_algo", "os_hash_value", "tags"}) {
    EXPECT_TRUE(s["properties"].contains(p)) << p;
  }
  EXPECT_TRUE(s["properties"]["size"]["readOnly"].get<bool>());
  r = get("/image/v2/schemas/images", rita_);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["properties"]["images"]["items"]["name"], "image");
}

TEST_F(ImageTest, CreateStoresSeedPropertiesAndShowsThem) {
  auto c = try_create(alice_, seed_image());
  const std::string id = c.id;
  ASSERT_FALSE(id.empty()) << c.body;
  json img = json::parse(c.body);
  EXPECT_EQ(img["status"], "queued");
  EXPECT_EQ(img["min_disk"], 15);
  EXPECT_EQ(img["min_ram"], 512);
  EXPECT_EQ(img["service_url"], "https://{}/");
  EXPECT_TRUE(img["checksum"].is_null());
  EXPECT_TRUE(img["size"].is_null());
  EXPECT_EQ(img["self"], "/v2/images/" + id);
  auto stored = store_->get_image(id);
  ASSERT_TRUE(stored.ok());
  auto projects = store_->list_projects();
  ASSERT_TRUE(projects.ok());
  for (const auto& p : *projects) {
    if (p.name == "demo") {
      EXPECT_EQ(stored->owner, p.id);
    }
  }
  EXPECT_EQ(stored->visibility, store::ImageVisibility::kPrivate);
  EXPECT_EQ(stored->properties.at("image_type"), "loginnode");
  EXPECT_EQ(stored->properties.at("hw_video_ram"), "8");
  EXPECT_EQ(stored->properties.count("name"), 0u);
  EXPECT_EQ(show(id, rita_)["configure_x"], "true");  // a reader of the project may read
}

TEST_F(ImageTest, CreateDefaultsToSharedAndAcceptsClientId) {
  const std::string given = "1b0d2a4e-5c6f-4a7b-8c9d-0e1f2a3b4c5d";
  const std::string id = create(alice_, {{"id", given}, {"name", "x"}});
  EXPECT_EQ(id, given);
  EXPECT_EQ(show(id, alice_)["visibility"], "shared");
  EXPECT_EQ(try_create(alice_, {{"id", given}}).status, 409);
}

TEST_F(ImageTest, InvalidFieldsAreRefusedNamingTheFieldAndStoreNothing) {
  const std::string before = snapshot();
  struct Case {
    json body;
    int status;
    std::string names;
  };
  const std::vector<Case> cases = {
      {{{"name", std::string(256, 'n')}}, 400, "'name'"},
      {{{"min_disk", "15"}}, 400, "'min_disk'"},
      {{{"min_ram", -1}}, 400, "'min_ram'"},
      {{{"disk_format", "floppy"}}, 400, "'disk_format'"},
      {{{"container_format", 3}}, 400, "'container_format'"},
      {{{"visibility", "everyone"}}, 400, "'visibility'"},
      {{{"protected", "yes"}}, 400, "'protected'"},
      {{{"hw_video_ram", 8}}, 400, "'hw_video_ram'"},
      {{{"tags", "a"}}, 400, "'tags'"},
      {{{"id", "not-a-uuid"}}, 400, "'id'"},
      {{{"status", "active"}}, 403, "'status'"},
      {{{"checksum", "abc"}}, 403, "'checksum'"},
      {{{"location", "file:///etc/passwd"}}, 403, "'location'"},
  };
  for (const auto& c : cases) {
    auto r = try_create(alice_, c.body);
    EXPECT_EQ(r.status, c.status) << c.body << " " << r.body;
    EXPECT_NE(message(r.body).find(c.names), std::string::npos) << r.body;
  }
  EXPECT_EQ(snapshot(), before);
}

TEST_F(ImageTest, BadRequestsGetTheirStatusAndChangeNothing) {
  const std::string id = create_raw(alice_, "keep");
  const std::string before = snapshot();
  EXPECT_EQ(client_->Get("/image/v2/images")->status, 401);
  EXPECT_EQ(client_->Post("/image/v2/images", R"({"name": "x"})", "application/json")->status, 401);
  EXPECT_EQ(get("/image/v2/images/" + id, "bogus-token")->status, 401);
  auto r = post("/image/v2/images", alice_, "{\"name\": ");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(message(r->body).find("JSON"), std::string::npos);
  EXPECT_EQ(post("/image/v2/images", alice_, "[1, 2]")->status, 400);
  // A JSON body over the limit is refused before it is read (only its length is announced).
  EXPECT_EQ(raw_head_only("POST /image/v2/images HTTP/1.1\r\nHost: x\r\nX-Auth-Token: " + alice_ +
                          "\r\nContent-Type: application/json\r\nContent-Length: 2097152\r\n\r\n"),
            "HTTP/1.1 413 Payload Too Large");
  const std::string missing = "00000000-0000-4000-8000-000000000000";
  EXPECT_EQ(get("/image/v2/images/" + missing, alice_)->status, 404);
  EXPECT_EQ(del("/image/v2/images/" + missing, alice_)->status, 404);
  EXPECT_EQ(patch(missing, alice_, json::array())->status, 404);
  EXPECT_EQ(upload(missing, alice_, "data")->status, 404);
  EXPECT_EQ(get("/image/v2/images/" + missing + "/file", alice_)->status, 404);
  r = get("/image/v2/images/" + missing, alice_);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], 404);  // the shape glanceclient reads
  EXPECT_EQ(snapshot(), before);
}

TEST_F(ImageTest, OnlyAdminsMakeImagesPublic) {
  const std::string before = snapshot();
  EXPECT_EQ(try_create(alice_, {{"name", "pub"}, {"visibility", "public"}}).status, 403);
  EXPECT_EQ(snapshot(), before);
  const std::string mine = create_raw(alice_, "mine");
  EXPECT_EQ(patch(mine, alice_, {{{"op", "replace"}, {"path", "/visibility"}, {"value", "public"}}})
                ->status,
            403);
  EXPECT_EQ(show(mine, alice_)["visibility"], "shared");
  const std::string pub = create(admin_, {{"name", "pub"}, {"visibility", "public"}});
  ASSERT_FALSE(pub.empty());
  EXPECT_EQ(show(pub, bob_)["name"], "pub");  // every project sees a public image
  EXPECT_EQ(del("/image/v2/images/" + pub, bob_)->status, 403);  // but cannot change it
  EXPECT_EQ(patch(pub, bob_, {{{"op", "replace"}, {"path", "/name"}, {"value", "x"}}})->status,
            403);
  EXPECT_EQ(show(pub, bob_)["name"], "pub");
}

TEST_F(ImageTest, OtherProjectsPrivateImageIsNotFoundAndReaderCannotWrite) {
  const std::string id = create(alice_, {{"name", "secret"}, {"visibility", "private"}});
  ASSERT_FALSE(id.empty());
  const std::string before = snapshot();
  EXPECT_EQ(get("/image/v2/images/" + id, bob_)->status, 404);
  EXPECT_EQ(del("/image/v2/images/" + id, bob_)->status, 404);
  EXPECT_EQ(patch(id, bob_, {{{"op", "replace"}, {"path", "/name"}, {"value", "x"}}})->status, 404);
  auto list = json::parse(get("/image/v2/images", bob_)->body)["images"];
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(show(id, admin_)["name"], "secret");  // admins see every project's images

  EXPECT_EQ(show(id, rita_)["name"], "secret");
  EXPECT_EQ(create(rita_, {{"name", "r"}}).empty(), true);
  EXPECT_EQ(post("/image/v2/images", rita_, R"({"name": "r"})")->status, 403);
  EXPECT_EQ(patch(id, rita_, {{{"op", "replace"}, {"path", "/name"}, {"value", "x"}}})->status,
            403);
  EXPECT_EQ(del("/image/v2/images/" + id, rita_)->status, 403);
  EXPECT_EQ(client_
                ->Put(("/image/v2/images/" + id + "/tags/t").c_str(), {{"X-Auth-Token", rita_}}, "",
                      "text/plain")
                ->status,
            403);
  EXPECT_EQ(snapshot(), before);
}

TEST_F(ImageTest, ProtectedImageRefusesDeletionUntilUnprotected) {
  const std::string id = create(alice_, {{"name", "p"}, {"protected", true}});
  ASSERT_FALSE(id.empty());
  const std::string before = snapshot();
  auto r = del("/image/v2/images/" + id, alice_);
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(message(r->body).find("protected"), std::string::npos);
  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(
      patch(id, alice_, {{{"op", "replace"}, {"path", "/protected"}, {"value", false}}})->status,
      200);
  EXPECT_EQ(del("/image/v2/images/" + id, alice_)->status, 204);
  EXPECT_FALSE(store_->get_image(id).ok());
}

TEST_F(ImageTest, TagsAreAddedOnceAndRemoved) {
  const std::string id = create_raw(alice_, "t");
  const std::string path = "/image/v2/images/" + id + "/tags/";
  auto put = [&](const std::string& tag) {
    return client_->Put((path + tag).c_str(), {{"X-Auth-Token", alice_}}, "", "text/plain");
  };
  EXPECT_EQ(put("gpu")->status, 204);
  EXPECT_EQ(put("gpu")->status, 204);
  EXPECT_EQ(put("k2")->status, 204);
  EXPECT_EQ(store_->get_image(id)->tags, (std::vector<std::string>{"gpu", "k2"}));
  EXPECT_EQ(del(path + "gpu", alice_)->status, 204);
  EXPECT_EQ(del(path + "gpu", alice_)->status, 404);
  EXPECT_EQ(show(id, alice_)["tags"], json::array({"k2"}));
}

}  // namespace
}  // namespace gpucloud::api::testing

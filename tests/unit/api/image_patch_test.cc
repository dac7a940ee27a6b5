// Image v2 JSON patch (application/openstack-images-v2.1-json-patch), as `glance image-update`
// and `openstack image set` send it.
#include "image_fixture.h"

namespace gpucloud::api::testing {
namespace {

json op(const std::string& kind, const std::string& path, json value = nullptr) {
  json o = {{"op", kind}, {"path", path}};
  if (kind != "remove") o["value"] = std::move(value);
  return o;
}

TEST_F(ImageTest, PatchAddsReplacesAndRemovesPropertiesAndCoreFields) {
  const std::string id = create(alice_, {{"name", "n"}, {"image_type", "loginnode"}});
  ASSERT_FALSE(id.empty());
  // What `glance image-update --property hw_video_model=qxl --property hw_video_ram=8
  // --property configure_x=true` sends: adds for new properties.
  auto r = patch(
      id, alice_,
      {op("add", "/hw_video_model", "qxl"), op("add", "/hw_video_ram", "8"),
       op("add", "/configure_x", "true"), op("replace", "/name", "renamed"),
       op("replace", "/min_ram", 1024), op("remove", "/image_type"), op("add", "/a~1b", "slash")});
  ASSERT_EQ(r->status, 200) << r->body;
  json body = json::parse(r->body);
  EXPECT_EQ(body["hw_video_model"], "qxl");
  EXPECT_EQ(body["name"], "renamed");
  EXPECT_FALSE(body.contains("image_type"));
  auto stored = store_->get_image(id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->properties, (std::map<std::string, std::string>{{"a/b", "slash"},
                                                                    {"configure_x", "true"},
                                                                    {"hw_video_model", "qxl"},
                                                                    {"hw_video_ram", "8"}}));
  EXPECT_EQ(stored->min_ram, 1024);
  EXPECT_EQ(stored->name, "renamed");
  // add on an existing property replaces it, as in JSON patch.
  ASSERT_EQ(patch(id, alice_, json::array({op("add", "/hw_video_ram", "16")}))->status, 200);
  EXPECT_EQ(store_->get_image(id)->properties.at("hw_video_ram"), "16");
}

// The older media type spells an operation {"replace": "/name", "value": ...} (Tempest and
// older clients send it).
TEST_F(ImageTest, PatchOfTheOlderMediaTypeUsesItsSpelling) {
  const std::string id = create(alice_, {{"name", "n"}, {"image_type", "loginnode"}});
  ASSERT_FALSE(id.empty());
  auto r = patch(id, alice_,
                 json::array({{{"replace", "/name"}, {"value", "new-name"}},
                              {{"add", "/os_distro"}, {"value", "debian"}},
                              {{"remove", "/image_type"}}}),
                 "application/openstack-images-v2.0-json-patch");
  ASSERT_EQ(r->status, 200) << r->body;
  auto stored = store_->get_image(id);
  EXPECT_EQ(stored->name, "new-name");
  EXPECT_EQ(stored->properties, (std::map<std::string, std::string>{{"os_distro", "debian"}}));
  // The newer spelling under the older type still works; an operation with neither is 400.
  EXPECT_EQ(patch(id, alice_, json::array({op("replace", "/name", "x")}),
                  "application/openstack-images-v2.0-json-patch")
                ->status,
            200);
  EXPECT_EQ(patch(id, alice_, json::array({{{"move", "/name"}}}),
                  "application/openstack-images-v2.0-json-patch")
                ->status,
            400);
  EXPECT_EQ(store_->get_image(id)->name, "x");
}

TEST_F(ImageTest, RefusedPatchesChangeNothing) {
  const std::string id = create(alice_, {{"name", "n"}, {"image_type", "loginnode"}});
  ASSERT_FALSE(id.empty());
  const std::string before = snapshot();
  struct Case {
    json ops;
    int status;
    std::string names;
  };
  const std::vector<Case> cases = {
      {{op("replace", "/size", 10)}, 403, "'size'"},
      {{op("replace", "/status", "active")}, 403, "'status'"},
      {{op("add", "/checksum", "x")}, 403, "'checksum'"},
      {{op("replace", "/os_hash_value", "x")}, 403, "'os_hash_value'"},
      {{op("replace", "/id", "x")}, 403, "'id'"},
      {{op("add", "/location", "x")}, 403, "'location'"},
      {{op("replace", "/missing", "x")}, 409, "missing"},
      {{op("remove", "/missing")}, 409, "missing"},
      {{op("remove", "/name")}, 403, "'name'"},
      {{op("replace", "/min_disk", "15")}, 400, "'min_disk'"},
      {{op("add", "/hw_video_ram", 8)}, 400, "'hw_video_ram'"},
      {{op("move", "/name", "x")}, 400, "move"},
      {{op("replace", "/name/x", "x")}, 400, "/name/x"},
      {json::array({{{"path", "/name"}}}), 400, "'op'"},
      {json::array({{{"op", "add"}, {"path", "/x"}}}), 400, "'value'"},
      // A valid operation followed by a refused one: neither is applied.
      {{op("replace", "/name", "changed"), op("replace", "/virtual_size", 1)},
       403,
       "'virtual_size'"},
  };
  for (const auto& c : cases) {
    auto r = patch(id, alice_, c.ops);
    EXPECT_EQ(r->status, c.status) << c.ops << " " << r->body;
    EXPECT_NE(r->body.find(c.names), std::string::npos) << r->body;
  }
  auto r = patch(id, alice_, {op("replace", "/name", "x")}, "application/json");
  EXPECT_EQ(r->status, 415);
  r = client_->Patch(("/image/v2/images/" + id).c_str(), {{"X-Auth-Token", alice_}}, "{nope",
                     "application/openstack-images-v2.1-json-patch");
  EXPECT_EQ(r->status, 400);
  r = client_->Patch(("/image/v2/images/" + id).c_str(), {{"X-Auth-Token", alice_}},
                     R"({"op": "add"})", "application/openstack-images-v2.1-json-patch");
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(snapshot(), before);
}

TEST_F(ImageTest, FormatsCanChangeOnlyWhileQueued) {
  const std::string id = create_raw(alice_, "f");
  ASSERT_EQ(patch(id, alice_, json::array({op("replace", "/disk_format", "qcow2")}))->status, 200);
  ASSERT_EQ(upload(id, alice_, "data")->status, 204);
  const std::string before = snapshot();
  EXPECT_EQ(patch(id, alice_, json::array({op("replace", "/disk_format", "raw")}))->status, 403);
  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(patch(id, alice_, json::array({op("replace", "/min_disk", 2)}))->status, 200);
}

}  // namespace
}  // namespace gpucloud::api::testing

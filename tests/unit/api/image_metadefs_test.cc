// glance's metadata definitions (metadefs): the admin defines namespaces with objects,
// properties, tags and resource type associations; alice (project demo) and bob (project other)
// read them. Who sees which namespace, what a protected namespace refuses, and that a refused
// request leaves what was stored as it was.
#include "image_fixture.h"

namespace gpucloud::api::testing {
namespace {

const std::string kNs = "/image/v2/metadefs/namespaces";

// {"tags": [{"name": ...}, ...]}, glance's create-tags body.
std::string tags_body(const std::vector<std::string>& names) {
  json tags = json::array();
  for (const auto& n : names) tags.push_back({{"name", n}});
  return json{{"tags", tags}}.dump();
}

class ImageMetadefsTest : public ImageTest {
 protected:
  void SetUp() override {
    ImageTest::SetUp();
    if (HasFatalFailure()) return;
    demo_ = store_->find_project_by_name("demo", "default")->id;
  }

  httplib::Result put(const std::string& path, const std::string& token, const json& body) {
    return client_->Put(path.c_str(), {{"X-Auth-Token", token}}, body.dump(), "application/json");
  }
  // Creates a namespace as the admin; its status.
  int create_ns(const json& body) {
    auto r = post(kNs, admin_, body.dump());
    EXPECT_TRUE(r);
    return r ? r->status : -1;
  }
  // The namespace names GET /metadefs/namespaces lists for `token` with `query`.
  std::vector<std::string> listed(const std::string& token, const std::string& query = "") {
    auto r = get(kNs + query, token);
    EXPECT_EQ(r->status, 200) << r->body;
    std::vector<std::string> names;
    const json body = json::parse(r->body);
    for (const auto& n : body["namespaces"]) names.push_back(n["namespace"]);
    return names;
  }
  bool lists(const std::string& token, const std::string& name, const std::string& query = "") {
    auto names = listed(token, query);
    return std::find(names.begin(), names.end(), name) != names.end();
  }

  std::string demo_;
};

TEST_F(ImageMetadefsTest, AdminCreatesShowsUpdatesAndDeletesANamespace) {
  auto r = post(kNs, admin_,
                json{{"namespace", "OS::Compute::Demo"},
                     {"display_name", "Demo"},
                     {"description", "for the tests"},
                     {"visibility", "public"},
                     {"resource_type_associations",
                      json::array({{{"name", "OS::Glance::Image"}, {"prefix", "hw_"}}})}}
                    .dump());
  ASSERT_EQ(r->status, 201) << r->body;
  json ns = json::parse(r->body);
  EXPECT_EQ(ns["namespace"], "OS::Compute::Demo");
  EXPECT_EQ(ns["display_name"], "Demo");
  EXPECT_EQ(ns["visibility"], "public");
  EXPECT_EQ(ns["protected"], false);
  EXPECT_EQ(ns["owner"], admin_project_);
  EXPECT_EQ(ns["self"], "/v2/metadefs/namespaces/OS::Compute::Demo");
  EXPECT_EQ(ns["schema"], "/v2/schemas/metadefs/namespace");
  EXPECT_TRUE(ns.contains("created_at") && ns.contains("updated_at"));
  ASSERT_EQ(ns["resource_type_associations"].size(), 1u);
  EXPECT_EQ(ns["resource_type_associations"][0]["prefix"], "hw_");

  r = put(kNs + "/OS::Compute::Demo", admin_,
          {{"namespace", "OS::Compute::Renamed"}, {"visibility", "private"}});
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["visibility"], "private");
  EXPECT_EQ(json::parse(r->body)["display_name"], "Demo");  // what the PUT left out stays
  EXPECT_EQ(get(kNs + "/OS::Compute::Demo", admin_)->status, 404);
  EXPECT_EQ(get(kNs + "/OS::Compute::Renamed", admin_)->status, 200);

  EXPECT_EQ(del(kNs + "/OS::Compute::Renamed", admin_)->status, 204);
  EXPECT_EQ(get(kNs + "/OS::Compute::Renamed", admin_)->status, 404);
  EXPECT_EQ(del(kNs + "/OS::Compute::Renamed", admin_)->status, 404);
}

TEST_F(ImageMetadefsTest, OtherProjectsSeePublicNamespacesAndNotPrivateOnes) {
  ASSERT_EQ(create_ns({{"namespace", "pub"}, {"visibility", "public"}}), 201);
  ASSERT_EQ(create_ns({{"namespace", "admins-own"}}), 201);  // private by default
  ASSERT_EQ(create_ns({{"namespace", "demos"}, {"owner", demo_}}), 201);

  EXPECT_TRUE(lists(bob_, "pub"));
  EXPECT_FALSE(lists(bob_, "admins-own"));
  EXPECT_FALSE(lists(bob_, "demos"));
  EXPECT_TRUE(lists(alice_, "demos"));  // her project's own private namespace
  EXPECT_TRUE(lists(rita_, "demos"));   // a reader of the project too
  EXPECT_TRUE(lists(admin_, "admins-own"));
  EXPECT_FALSE(lists(alice_, "pub", "?visibility=private"));
  EXPECT_TRUE(lists(alice_, "demos", "?visibility=private"));

  EXPECT_EQ(get(kNs + "/demos", bob_)->status, 404);  // absent, not forbidden
  EXPECT_EQ(get(kNs + "/demos/objects", bob_)->status, 404);
  EXPECT_EQ(get(kNs + "/demos", alice_)->status, 200);
  EXPECT_EQ(get(kNs + "/pub", bob_)->status, 200);
}

TEST_F(ImageMetadefsTest, OnlyAdminsChangeNamespaces) {
  ASSERT_EQ(create_ns({{"namespace", "demos"}, {"owner", demo_}}), 201);
  EXPECT_EQ(post(kNs, alice_, json{{"namespace", "mine"}}.dump())->status, 403);
  EXPECT_EQ(put(kNs + "/demos", alice_, {{"visibility", "public"}})->status, 403);
  EXPECT_EQ(del(kNs + "/demos", alice_)->status, 403);
  EXPECT_EQ(post(kNs + "/demos/tags/t1", alice_, "")->status, 403);
  EXPECT_EQ(get(kNs + "/demos", alice_)->status, 200);
  EXPECT_EQ(get(kNs + "/mine", admin_)->status, 404);
}

TEST_F(ImageMetadefsTest, ProtectedNamespaceRefusesDeleteUntilUnprotected) {
  ASSERT_EQ(create_ns({{"namespace", "keep"}, {"protected", true}}), 201);
  ASSERT_EQ(post(kNs + "/keep/tags/t1", admin_, "")->status, 201);
  EXPECT_EQ(del(kNs + "/keep", admin_)->status, 403);
  EXPECT_EQ(del(kNs + "/keep/tags", admin_)->status, 403);
  EXPECT_EQ(get(kNs + "/keep/tags/t1", admin_)->status, 200);

  ASSERT_EQ(put(kNs + "/keep", admin_, {{"protected", false}})->status, 200);
  EXPECT_EQ(del(kNs + "/keep", admin_)->status, 204);
  // What it held went with it: a namespace of the same name starts empty.
  ASSERT_EQ(create_ns({{"namespace", "keep"}}), 201);
  EXPECT_EQ(json::parse(get(kNs + "/keep/tags", admin_)->body)["tags"].size(), 0u);
}

TEST_F(ImageMetadefsTest, DuplicateNamesAreConflicts) {
  ASSERT_EQ(create_ns({{"namespace", "dup"}}), 201);
  EXPECT_EQ(create_ns({{"namespace", "dup"}}), 409);
  ASSERT_EQ(create_ns({{"namespace", "other"}}), 201);
  EXPECT_EQ(put(kNs + "/other", admin_, {{"namespace", "dup"}})->status, 409);

  ASSERT_EQ(post(kNs + "/dup/objects", admin_, json{{"name", "o"}}.dump())->status, 201);
  EXPECT_EQ(post(kNs + "/dup/objects", admin_, json{{"name", "o"}}.dump())->status, 409);
  const json prop = {{"name", "p"}, {"title", "P"}, {"type", "string"}};
  ASSERT_EQ(post(kNs + "/dup/properties", admin_, prop.dump())->status, 201);
  EXPECT_EQ(post(kNs + "/dup/properties", admin_, prop.dump())->status, 409);
  ASSERT_EQ(post(kNs + "/dup/tags/t", admin_, "")->status, 201);
  EXPECT_EQ(post(kNs + "/dup/tags/t", admin_, "")->status, 409);
  auto r = post(kNs + "/dup/tags", admin_, tags_body({"a", "a"}));
  EXPECT_EQ(r->status, 409) << r->body;
  EXPECT_EQ(json::parse(get(kNs + "/dup/tags", admin_)->body)["tags"].size(), 1u);  // still t
  const json assoc = {{"name", "OS::Nova::Flavor"}};
  ASSERT_EQ(post(kNs + "/dup/resource_types", admin_, assoc.dump())->status, 201);
  EXPECT_EQ(post(kNs + "/dup/resource_types", admin_, assoc.dump())->status, 409);
}

TEST_F(ImageMetadefsTest, BadInputIsA400NamingTheFieldAndStoresNothing) {
  auto expect_400 = [&](const std::string& path, const json& body, const std::string& field) {
    auto r = post(path, admin_, body.dump());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << path << " " << body.dump();
    EXPECT_NE(r->body.find(field), std::string::npos) << r->body;
  };
  expect_400(kNs, {{"display_name", "x"}}, "namespace");
  expect_400(kNs, {{"namespace", std::string(81, 'n')}}, "namespace");
  expect_400(kNs, {{"namespace", "v"}, {"visibility", "shared"}}, "visibility");
  expect_400(kNs, {{"namespace", "p"}, {"protected", "yes"}}, "protected");
  expect_400(kNs, {{"namespace", "u"}, {"colour", "red"}}, "colour");
  // A bad object in a create leaves no namespace behind.
  expect_400(kNs, {{"namespace", "half"}, {"objects", json::array({json{{"name", 7}}})}}, "name");
  EXPECT_EQ(get(kNs + "/half", admin_)->status, 404);

  ASSERT_EQ(create_ns({{"namespace", "ns"}}), 201);
  expect_400(kNs + "/ns/properties", {{"name", "p"}, {"title", "P"}, {"type", "text"}}, "type");
  expect_400(kNs + "/ns/properties", {{"name", "p"}, {"type", "string"}}, "title");
  expect_400(kNs + "/ns/properties",
             {{"name", "p"}, {"title", "P"}, {"type", "string"}, {"maxLength", -1}}, "maxLength");
  expect_400(kNs + "/ns/objects", {{"description", "no name"}}, "name");
  expect_400(kNs + "/ns/objects", {{"name", "o"}, {"required", "cpu"}}, "required");
  expect_400(kNs + "/ns/objects",
             {{"name", "o"}, {"properties", {{"cpu", {{"title", "CPU"}, {"type", "int"}}}}}},
             "properties.cpu.type");
  expect_400(kNs + "/ns/objects", {{"name", "o"}, {"properties", {{"cpu", {{"type", "string"}}}}}},
             "properties.cpu.title");
  expect_400(kNs + "/ns/tags", json::parse(tags_body({""})), "name");
  expect_400(kNs + "/ns/resource_types", {{"prefix", "hw_"}}, "name");

  const json ns = json::parse(get(kNs + "/ns", admin_)->body);
  EXPECT_FALSE(ns.contains("objects") || ns.contains("properties") || ns.contains("tags") ||
               ns.contains("resource_type_associations"))
      << ns.dump();
  // An update carrying the namespace's contents (the glance client sends back what it showed)
  // changes the namespace's own fields only.
  ASSERT_EQ(post(kNs + "/ns/tags/keep", admin_, "")->status, 201);
  auto r = put(kNs + "/ns", admin_,
               {{"description", "d"}, {"tags", json::array()}, {"objects", json::array()}});
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["description"], "d");
  EXPECT_EQ(json::parse(get(kNs + "/ns/tags", admin_)->body)["tags"].size(), 1u);
  // A bad update changes nothing either.
  r = put(kNs + "/ns", admin_, {{"visibility", "public"}, {"protected", 1}});
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(json::parse(get(kNs + "/ns", admin_)->body)["visibility"], "private");
}

TEST_F(ImageMetadefsTest, ObjectsPropertiesAndTagsLiveInTheirNamespace) {
  ASSERT_EQ(create_ns({{"namespace", "hw"}, {"visibility", "public"}}), 201);
  auto r = post(
      kNs + "/hw/objects", admin_,
      json{
          {"name", "CPU"},
          {"description", "cpu pinning"},
          {"required", json::array({"cpu_policy"})},
          {"properties",
           {{"cpu_policy",
             {{"title", "CPU policy"}, {"type", "string"}, {"enum", json::array({"dedicated"})}}}}}}
          .dump());
  ASSERT_EQ(r->status, 201) << r->body;
  json obj = json::parse(r->body);
  EXPECT_EQ(obj["self"], "/v2/metadefs/namespaces/hw/objects/CPU");
  EXPECT_EQ(obj["schema"], "/v2/schemas/metadefs/object");
  EXPECT_EQ(obj["properties"]["cpu_policy"]["enum"][0], "dedicated");

  r = put(kNs + "/hw/objects/CPU", admin_, {{"name", "Processor"}});
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["name"], "Processor");
  EXPECT_EQ(get(kNs + "/hw/objects/CPU", bob_)->status, 404);
  EXPECT_EQ(get(kNs + "/hw/objects/Processor", bob_)->status, 200);

  r = post(
      kNs + "/hw/properties", admin_,
      json{{"name", "hw_rng"}, {"title", "RNG"}, {"type", "boolean"}, {"default", false}}.dump());
  ASSERT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(json::parse(r->body)["title"], "RNG");
  json props = json::parse(get(kNs + "/hw/properties", bob_)->body);
  EXPECT_EQ(props["properties"]["hw_rng"]["type"], "boolean");  // keyed by name, as glance

  r = post(kNs + "/hw/tags", admin_, tags_body({"a", "b"}));
  ASSERT_EQ(r->status, 201) << r->body;
  // Without X-Openstack-Append the new list replaces the old one; with it, it adds.
  ASSERT_EQ(post(kNs + "/hw/tags", admin_, tags_body({"c"}))->status, 201);
  EXPECT_EQ(json::parse(get(kNs + "/hw/tags", admin_)->body)["tags"].size(), 1u);
  r = client_->Post((kNs + "/hw/tags").c_str(),
                    {{"X-Auth-Token", admin_}, {"X-Openstack-Append", "true"}}, tags_body({"d"}),
                    "application/json");
  ASSERT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(json::parse(get(kNs + "/hw/tags", admin_)->body)["tags"].size(), 2u);
  r = put(kNs + "/hw/tags/c", admin_, {{"name", "e"}});
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["name"], "e");

  json shown = json::parse(get(kNs + "/hw", bob_)->body);
  EXPECT_EQ(shown["objects"].size(), 1u);
  EXPECT_TRUE(shown["properties"].contains("hw_rng"));
  EXPECT_EQ(shown["tags"].size(), 2u);

  EXPECT_EQ(del(kNs + "/hw/objects/Processor", admin_)->status, 204);
  EXPECT_EQ(del(kNs + "/hw/properties/hw_rng", admin_)->status, 204);
  EXPECT_EQ(del(kNs + "/hw/tags/e", admin_)->status, 204);
  EXPECT_EQ(del(kNs + "/hw/tags/e", admin_)->status, 404);
  EXPECT_EQ(del(kNs + "/hw/tags", admin_)->status, 204);
  EXPECT_EQ(json::parse(get(kNs + "/hw/tags", admin_)->body)["tags"].size(), 0u);
}

TEST_F(ImageMetadefsTest, ResourceTypesAreSeededAndAssociationsComeAndGo) {
  json types = json::parse(get("/image/v2/metadefs/resource_types", alice_)->body);
  std::vector<std::string> names;
  for (const auto& t : types["resource_types"]) names.push_back(t["name"]);
  EXPECT_NE(std::find(names.begin(), names.end(), "OS::Glance::Image"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "OS::Nova::Flavor"), names.end());

  ASSERT_EQ(create_ns({{"namespace", "rt"}, {"visibility", "public"}}), 201);
  auto r = post(kNs + "/rt/resource_types", admin_,
                json{{"name", "OS::Nova::Flavor"}, {"prefix", "hw:"}}.dump());
  ASSERT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(json::parse(r->body)["name"], "OS::Nova::Flavor");
  EXPECT_TRUE(lists(bob_, "rt", "?resource_types=OS::Nova::Flavor,OS::Cinder::Volume"));
  EXPECT_FALSE(lists(bob_, "rt", "?resource_types=OS::Cinder::Volume"));

  json assocs = json::parse(get(kNs + "/rt/resource_types", bob_)->body);
  ASSERT_EQ(assocs["resource_type_associations"].size(), 1u);
  EXPECT_EQ(assocs["resource_type_associations"][0]["prefix"], "hw:");
  EXPECT_EQ(del(kNs + "/rt/resource_types/OS::Nova::Flavor", admin_)->status, 204);
  EXPECT_EQ(del(kNs + "/rt/resource_types/OS::Nova::Flavor", admin_)->status, 404);
  assocs = json::parse(get(kNs + "/rt/resource_types", bob_)->body);
  EXPECT_EQ(assocs["resource_type_associations"].size(), 0u);
}

TEST_F(ImageMetadefsTest, ListPagesWithLimitAndMarker) {
  for (const char* n : {"a", "b", "c"}) ASSERT_EQ(create_ns({{"namespace", n}}), 201);
  EXPECT_EQ(listed(admin_, "?sort_key=namespace&sort_dir=asc&limit=2"),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(listed(admin_, "?sort_key=namespace&sort_dir=asc&limit=2&marker=b"),
            (std::vector<std::string>{"c"}));
  EXPECT_EQ(get(kNs + "?limit=x", admin_)->status, 400);
  EXPECT_EQ(get(kNs + "?marker=zz", admin_)->status, 400);
  EXPECT_EQ(get(kNs + "?sort_key=owner", admin_)->status, 400);
}

TEST_F(ImageMetadefsTest, SchemasNameWhatTheyDescribe) {
  const std::vector<std::pair<std::string, std::string>> want = {
      {"namespace", "namespace"},
      {"namespaces", "namespaces"},
      {"object", "object"},
      {"objects", "objects"},
      {"property", "property"},
      {"properties", "properties"},
      {"resource_type", "resource_type_association"},
      {"resource_types", "resource_type_associations"},
      {"tag", "tag"},
      {"tags", "tags"}};
  for (const auto& [path, name] : want) {
    auto r = get("/image/v2/schemas/metadefs/" + path, alice_);
    ASSERT_EQ(r->status, 200) << path;
    EXPECT_EQ(json::parse(r->body)["name"], name) << path;
  }
}

}  // namespace
}  // namespace gpucloud::api::testing

// keystone's OS-EP-FILTER: endpoint groups, their projects and projects' single endpoints, as
// keystone answers them (Tempest's test_endpoint_groups, and the routes the openstack client's
// `endpoint group` and `endpoint add project` commands call).
#include "api_fixture.h"

namespace gpucloud::api::testing {
namespace {

const std::string kEp = "/identity/v3/OS-EP-FILTER";

class EndpointGroupsTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    admin_ = login("admin", "admin-secret", "admin");
    ASSERT_FALSE(admin_.empty());
    auto r = get("/identity/v3/projects?name=demo", admin_);
    ASSERT_EQ(r->status, 200) << r->body;
    demo_ = json::parse(r->body)["projects"][0]["id"];
  }
  httplib::Result send(const std::string& method, const std::string& path,
                       const std::string& body = "") {
    httplib::Headers h = {{"X-Auth-Token", admin_}};
    if (method == "PUT") return client_->Put(path.c_str(), h, body, "application/json");
    if (method == "PATCH") return client_->Patch(path.c_str(), h, body, "application/json");
    if (method == "HEAD") return client_->Head(path.c_str(), h);
    return client_->Delete(path.c_str(), h);
  }
  json created(const std::string& path, const json& body, const char* key) {
    auto r = post(path, admin_, body.dump());
    EXPECT_EQ(r->status, 201) << r->body;
    return r->status == 201 ? json::parse(r->body)[key] : json();
  }
  std::string service(const std::string& type) {
    return created("/identity/v3/services", {{"service", {{"type", type}}}}, "service")["id"];
  }
  std::string endpoint(const std::string& service_id, const std::string& interface) {
    return created("/identity/v3/endpoints",
                   {{"endpoint",
                     {{"service_id", service_id},
                      {"interface", interface},
                      {"url", "https://" + interface + ".example/"}}}},
                   "endpoint")["id"];
  }
  json group(const json& fields) {
    return created(kEp + "/endpoint_groups", {{"endpoint_group", fields}}, "endpoint_group");
  }
  std::vector<std::string> ids(const std::string& path, const char* key) {
    auto r = get(path, admin_);
    EXPECT_EQ(r->status, 200) << r->body;
    std::vector<std::string> out;
    if (r->status != 200) return out;
    const json body = json::parse(r->body);  // (a temporary would not outlive the loop)
    for (const auto& x : body[key]) out.push_back(x["id"]);
    std::sort(out.begin(), out.end());
    return out;
  }
  std::string admin_, demo_;
};

TEST_F(EndpointGroupsTest, AGroupIsCreatedListedShownCheckedUpdatedAndDeleted) {
  const std::string compute = service("compute"), image = service("image");
  const json g = group({{"name", "computes"}, {"filters", {{"service_id", compute}}}});
  EXPECT_EQ(g["name"], "computes");
  EXPECT_EQ(g["description"], nullptr);
  EXPECT_EQ(g["filters"], json({{"service_id", compute}}));
  const std::string id = g["id"];
  const json other = group({{"name", "images"},
                            {"description", "d"},
                            {"filters", {{"service_id", image}, {"interface", "public"}}}});

  // The list holds what create answered, field for field (Tempest compares them).
  auto r = get(kEp + "/endpoint_groups", admin_);
  ASSERT_EQ(r->status, 200) << r->body;
  const json listed = json::parse(r->body)["endpoint_groups"];
  EXPECT_EQ(listed, json::array({g, other}));
  EXPECT_EQ(ids(kEp + "/endpoint_groups?name=images", "endpoint_groups"),
            std::vector<std::string>{other["id"]});
  r = get(kEp + "/endpoint_groups/" + id, admin_);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["endpoint_group"], g);
  EXPECT_EQ(send("HEAD", kEp + "/endpoint_groups/" + id)->status, 200);

  r = send("PATCH", kEp + "/endpoint_groups/" + id,
           json{{"endpoint_group",
                 {{"name", "renamed"}, {"description", "x"}, {"filters", {{"service_id", image}}}}}}
               .dump());
  ASSERT_EQ(r->status, 200) << r->body;
  const json updated = json::parse(r->body)["endpoint_group"];
  EXPECT_EQ(updated["name"], "renamed");
  EXPECT_EQ(updated["description"], "x");
  EXPECT_EQ(updated["filters"], json({{"service_id", image}}));
  EXPECT_EQ(json::parse(get(kEp + "/endpoint_groups/" + id, admin_)->body)["endpoint_group"],
            updated);

  EXPECT_EQ(send("DELETE", kEp + "/endpoint_groups/" + id)->status, 204);
  r = get(kEp + "/endpoint_groups/" + id, admin_);
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(r->body.find("Could not find endpoint group: " + id + "."), std::string::npos);
  EXPECT_EQ(send("HEAD", kEp + "/endpoint_groups/" + id)->status, 404);
  EXPECT_EQ(send("DELETE", kEp + "/endpoint_groups/" + id)->status, 404);
  EXPECT_EQ(ids(kEp + "/endpoint_groups", "endpoint_groups"),
            std::vector<std::string>{other["id"]});
}

TEST_F(EndpointGroupsTest, BadGroupsAreRefusedNamingTheField) {
  auto bad = [&](const json& fields, const std::string& names) {
    auto r = post(kEp + "/endpoint_groups", admin_, json{{"endpoint_group", fields}}.dump());
    EXPECT_EQ(r->status, 400) << fields.dump();
    EXPECT_NE(r->body.find(names), std::string::npos) << r->body;
  };
  bad({{"filters", {{"interface", "public"}}}}, "endpoint_group.name");
  bad({{"name", "g"}}, "endpoint_group.filters");
  bad({{"name", "g"}, {"filters", json::object()}}, "cannot be empty");
  bad({{"name", "g"}, {"filters", {{"url", "x"}}}}, "endpoint_group.filters.url");
  bad({{"name", "g"}, {"filters", {{"interface", 3}}}}, "endpoint_group.filters.interface");
  bad({{"name", "g"}, {"filters", "public"}}, "endpoint_group.filters");
  bad({{"name", "g"}, {"filters", {{"interface", "public"}}}, {"colour", "red"}}, "colour");
  bad({{"name", ""}, {"filters", {{"interface", "public"}}}}, "endpoint_group.name");
  EXPECT_TRUE(ids(kEp + "/endpoint_groups", "endpoint_groups").empty());

  const json g = group({{"name", "g"}, {"filters", {{"interface", "public"}}}});
  const std::string path = kEp + "/endpoint_groups/" + g["id"].get<std::string>();
  EXPECT_EQ(send("PATCH", path, R"({"endpoint_group": {}})")->status, 400);
  EXPECT_EQ(send("PATCH", path, R"({"endpoint_group": {"filters": {"host": "a"}}})")->status, 400);
  EXPECT_EQ(send("PATCH", path, R"({"endpoint_group": {"name": null}})")->status, 400);
  // Nothing stored changed.
  EXPECT_EQ(json::parse(get(path, admin_)->body)["endpoint_group"], g);
}

TEST_F(EndpointGroupsTest, AProjectSeesItsEndpointsAndThoseOfItsGroups) {
  const std::string compute = service("compute"), image = service("image");
  const std::string c_public = endpoint(compute, "public"), c_admin = endpoint(compute, "admin");
  const std::string i_public = endpoint(image, "public"), i_internal = endpoint(image, "internal");
  const json publics = group({{"name", "public"}, {"filters", {{"interface", "public"}}}});
  const std::string gid = publics["id"];

  // The group's endpoints are those its filter lets through.
  std::vector<std::string> want = {c_public, i_public};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(ids(kEp + "/endpoint_groups/" + gid + "/endpoints", "endpoints"), want);

  const std::string assoc = kEp + "/endpoint_groups/" + gid + "/projects/" + demo_;
  EXPECT_EQ(get(assoc, admin_)->status, 404);
  EXPECT_EQ(send("PUT", assoc)->status, 204);
  EXPECT_EQ(send("PUT", assoc)->status, 204);  // idempotent
  auto r = get(assoc, admin_);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["project_endpoint_group"]["project_id"], demo_);
  EXPECT_EQ(ids(kEp + "/endpoint_groups/" + gid + "/projects", "projects"),
            std::vector<std::string>{demo_});
  EXPECT_EQ(ids(kEp + "/projects/" + demo_ + "/endpoint_groups", "endpoint_groups"),
            std::vector<std::string>{gid});

  // A single endpoint joins what the group gives.
  const std::string single = kEp + "/projects/" + demo_ + "/endpoints/" + i_internal;
  EXPECT_EQ(get(single, admin_)->status, 404);
  EXPECT_EQ(send("PUT", single)->status, 204);
  EXPECT_EQ(get(single, admin_)->status, 204);
  EXPECT_EQ(ids(kEp + "/endpoints/" + i_internal + "/projects", "projects"),
            std::vector<std::string>{demo_});
  want = {c_public, i_public, i_internal};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(ids(kEp + "/projects/" + demo_ + "/endpoints", "endpoints"), want);
  EXPECT_EQ(std::find(want.begin(), want.end(), c_admin), want.end());

  // Missing pieces are 404s that name them; nothing is associated with them.
  r = send("PUT", kEp + "/projects/nowhere/endpoints/" + i_internal);
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(r->body.find("Could not find project: nowhere."), std::string::npos) << r->body;
  r = send("PUT", kEp + "/projects/" + demo_ + "/endpoints/none");
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(r->body.find("Could not find endpoint: none."), std::string::npos) << r->body;
  r = send("PUT", kEp + "/endpoint_groups/none/projects/" + demo_);
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(r->body.find("Could not find endpoint group: none."), std::string::npos) << r->body;

  // Associations go with the endpoint and the group they name.
  EXPECT_EQ(send("DELETE", "/identity/v3/endpoints/" + i_internal)->status, 204);
  want = {c_public, i_public};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(ids(kEp + "/projects/" + demo_ + "/endpoints", "endpoints"), want);
  EXPECT_EQ(send("DELETE", assoc)->status, 204);
  EXPECT_EQ(send("DELETE", assoc)->status, 404);
  EXPECT_TRUE(ids(kEp + "/projects/" + demo_ + "/endpoints", "endpoints").empty());
  EXPECT_EQ(send("PUT", assoc)->status, 204);
  EXPECT_EQ(send("DELETE", kEp + "/endpoint_groups/" + gid)->status, 204);
  EXPECT_TRUE(ids(kEp + "/projects/" + demo_ + "/endpoint_groups", "endpoint_groups").empty());
}

TEST_F(EndpointGroupsTest, OnlyAdminsManageOrReadThem) {
  const json g = group({{"name", "g"}, {"filters", {{"interface", "public"}}}});
  const std::string alice = login("alice", "alice-secret", "demo");
  ASSERT_FALSE(alice.empty());
  EXPECT_EQ(get(kEp + "/endpoint_groups", alice)->status, 403);
  EXPECT_EQ(get(kEp + "/projects/" + demo_ + "/endpoints", alice)->status, 403);
  EXPECT_EQ(post(kEp + "/endpoint_groups", alice,
                 R"({"endpoint_group": {"name": "x", "filters": {"interface": "admin"}}})")
                ->status,
            403);
  httplib::Headers h = {{"X-Auth-Token", alice}};
  const std::string path = kEp + "/endpoint_groups/" + g["id"].get<std::string>();
  EXPECT_EQ(client_->Delete(path.c_str(), h)->status, 403);
  EXPECT_EQ(client_->Put((path + "/projects/" + demo_).c_str(), h, "", "application/json")->status,
            403);
  EXPECT_EQ(get(path + "/projects", admin_)->status, 200);
  EXPECT_TRUE(ids(path + "/projects", "projects").empty());
  EXPECT_EQ(get(kEp + "/endpoint_groups", "")->status, 401);
}

}  // namespace
}  // namespace gpucloud::api::testing

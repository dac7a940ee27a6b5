// Keystone v3 services, regions and endpoints, as keystone answers them (Tempest's
// test_services, test_regions, test_endpoints and test_endpoints_negative).
#include "api_fixture.h"

namespace gpucloud::api::testing {
namespace {

class IdentityCatalogTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    admin_ = login("admin", "admin-secret", "admin");
    ASSERT_FALSE(admin_.empty());
  }
  httplib::Result send(const std::string& method, const std::string& path,
                       const std::string& body = "") {
    httplib::Headers h = {{"X-Auth-Token", admin_}};
    if (method == "PUT") return client_->Put(path.c_str(), h, body, "application/json");
    if (method == "PATCH") return client_->Patch(path.c_str(), h, body, "application/json");
    return client_->Delete(path.c_str(), h);
  }
  // POSTs `body` to the collection and returns the created object (null on failure).
  json create(const std::string& what, const json& body) {
    auto r = post("/identity/v3/" + what + "s", admin_, json{{what, body}}.dump());
    EXPECT_EQ(r->status, 201) << r->body;
    return r->status == 201 ? json::parse(r->body)[what] : json();
  }
  json list(const std::string& query) {
    auto r = get("/identity/v3/" + query, admin_);
    EXPECT_EQ(r->status, 200) << r->body;
    return json::parse(r->body);
  }
  std::string admin_;
};

TEST_F(IdentityCatalogTest, ServicesAreCreatedUpdatedListedByTypeAndDeleted) {
  const json s = create("service", {{"type", "volume"}, {"name", "cinder"}});
  EXPECT_EQ(s["type"], "volume");
  EXPECT_EQ(s["name"], "cinder");
  EXPECT_EQ(s["enabled"], true);
  EXPECT_FALSE(s.contains("description"));  // keystone keeps only what was given
  const std::string id = s["id"];
  create("service", {{"type", "share"}});

  auto r = send("PATCH", "/identity/v3/services/" + id, R"({"service": {"description": "d2"}})");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["service"]["description"], "d2");
  EXPECT_EQ(json::parse(get("/identity/v3/services/" + id, admin_)->body)["service"],
            json::parse(r->body)["service"]);

  const json volumes = list("services?type=volume");
  ASSERT_EQ(volumes["services"].size(), 1u);
  EXPECT_EQ(volumes["services"][0]["id"], id);
  EXPECT_EQ(list("services")["services"].size(), 2u);

  EXPECT_EQ(post("/identity/v3/services", admin_, R"({"service": {"name": "x"}})")->status, 400);
  EXPECT_EQ(post("/identity/v3/services", admin_, R"({"service": {"type": "x", "enabled": "yes"}})")
                ->status,
            400);
  EXPECT_EQ(send("DELETE", "/identity/v3/services/" + id)->status, 204);
  r = get("/identity/v3/services/" + id, admin_);
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(r->body.find("Could not find service: " + id + "."), std::string::npos) << r->body;
}

TEST_F(IdentityCatalogTest, RegionsTakeAnIdAParentAndGoWithTheirChildren) {
  const json top = create("region", {{"description", "top"}});
  EXPECT_EQ(top["parent_region_id"], nullptr);
  const std::string top_id = top["id"];
  auto r = send("PUT", "/identity/v3/regions/RegionTwo", R"({"region": {"description": "two"}})");
  ASSERT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(json::parse(r->body)["region"]["id"], "RegionTwo");
  EXPECT_EQ(send("PUT", "/identity/v3/regions/RegionTwo", R"({"region": {}})")->status, 409);
  EXPECT_EQ(send("PUT", "/identity/v3/regions/RegionTwo", R"({"region": {"id": "Other"}})")->status,
            400);
  const json child = create("region", {{"id", "child"}, {"parent_region_id", top_id}});
  EXPECT_EQ(child["parent_region_id"], top_id);
  r = post("/identity/v3/regions", admin_, R"({"region": {"parent_region_id": "nowhere"}})");
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(r->body.find("Could not find region: nowhere."), std::string::npos) << r->body;

  // A region cannot move below itself.
  r = send("PATCH", "/identity/v3/regions/" + top_id,
           R"({"region": {"parent_region_id": "child"}})");
  EXPECT_EQ(r->status, 400) << r->body;
  r = send("PATCH", "/identity/v3/regions/child",
           R"({"region": {"parent_region_id": "RegionTwo"}})");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["region"]["parent_region_id"], "RegionTwo");
  const json children = list("regions?parent_region_id=RegionTwo");
  ASSERT_EQ(children["regions"].size(), 1u);
  EXPECT_EQ(children["regions"][0], json::parse(r->body)["region"]);

  // Anyone with a token reads regions (keystone's policy); only admins write them.
  const std::string rita = login("rita", "rita-secret", "demo");
  EXPECT_EQ(get("/identity/v3/regions/child", rita)->status, 200);
  EXPECT_EQ(post("/identity/v3/regions", rita, R"({"region": {}})")->status, 403);

  // As keystone: deleting a region deletes the regions below it.
  EXPECT_EQ(send("DELETE", "/identity/v3/regions/RegionTwo")->status, 204);
  EXPECT_EQ(get("/identity/v3/regions/child", admin_)->status, 404);
  EXPECT_EQ(list("regions")["regions"].size(), 1u);
}

TEST_F(IdentityCatalogTest, EndpointsWantTheirServiceAndCreateALegacyRegion) {
  const std::string sid = create("service", {{"type", "volume"}})["id"];
  // keystone's legacy `region`: a region that does not exist is created with the endpoint.
  const json e = create("endpoint", {{"service_id", sid},
                                     {"interface", "public"},
                                     {"url", "http://volume.example/v3"},
                                     {"region", "RegionThree"},
                                     {"enabled", true}});
  EXPECT_EQ(e["region"], "RegionThree");
  EXPECT_EQ(e["region_id"], "RegionThree");
  EXPECT_EQ(get("/identity/v3/regions/RegionThree", admin_)->status, 200);
  const std::string eid = e["id"];

  // region_id must exist already; the service too; enabled must be a boolean.
  json body = {{"service_id", sid}, {"interface", "admin"}, {"url", "http://a/"}};
  body["region_id"] = "RegionFour";
  auto r = post("/identity/v3/endpoints", admin_, json{{"endpoint", body}}.dump());
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("region_id"), std::string::npos) << r->body;
  body.erase("region_id");
  body["service_id"] = "noservice";
  r = post("/identity/v3/endpoints", admin_, json{{"endpoint", body}}.dump());
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("service_id"), std::string::npos) << r->body;
  body["service_id"] = sid;
  body["interface"] = "sideways";
  EXPECT_EQ(post("/identity/v3/endpoints", admin_, json{{"endpoint", body}}.dump())->status, 400);
  body["interface"] = "admin";
  body["enabled"] = "False";
  r = post("/identity/v3/endpoints", admin_, json{{"endpoint", body}}.dump());
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("endpoint.enabled"), std::string::npos) << r->body;
  EXPECT_EQ(send("PATCH", "/identity/v3/endpoints/" + eid, R"({"endpoint": {"enabled": "True"}})")
                ->status,
            400);

  // An update may move it to another service, interface and (legacy) region.
  const std::string sid2 = create("service", {{"type", "share"}})["id"];
  r = send("PATCH", "/identity/v3/endpoints/" + eid,
           json{{"endpoint",
                 {{"service_id", sid2},
                  {"interface", "internal"},
                  {"region", "RegionFive"},
                  {"enabled", false}}}}
               .dump());
  ASSERT_EQ(r->status, 200) << r->body;
  const json moved = json::parse(r->body)["endpoint"];
  EXPECT_EQ(moved["service_id"], sid2);
  EXPECT_EQ(moved["region"], "RegionFive");
  EXPECT_EQ(moved["enabled"], false);
  EXPECT_EQ(json::parse(get("/identity/v3/endpoints/" + eid, admin_)->body)["endpoint"], moved);

  EXPECT_EQ(list("endpoints?service_id=" + sid2)["endpoints"].size(), 1u);
  EXPECT_EQ(list("endpoints?service_id=" + sid)["endpoints"].size(), 0u);
  EXPECT_EQ(list("endpoints?interface=internal")["endpoints"].size(), 1u);
  EXPECT_EQ(list("endpoints?region_id=RegionFive")["endpoints"].size(), 1u);

  // A region in use is not deleted; a service takes its endpoints with it.
  EXPECT_EQ(send("DELETE", "/identity/v3/regions/RegionFive")->status, 403);
  EXPECT_EQ(send("DELETE", "/identity/v3/services/" + sid2)->status, 204);
  EXPECT_EQ(get("/identity/v3/endpoints/" + eid, admin_)->status, 404);
  EXPECT_EQ(send("DELETE", "/identity/v3/regions/RegionFive")->status, 204);
  EXPECT_EQ(send("DELETE", "/identity/v3/endpoints/" + eid)->status, 404);
}

TEST_F(IdentityCatalogTest, TheTokenCatalogStaysTheBuiltInOne) {
  const std::string sid = create("service", {{"type", "compute"}, {"name", "elsewhere"}})["id"];
  create("endpoint",
         {{"service_id", sid}, {"interface", "public"}, {"url", "http://elsewhere.example/"}});
  auto r = get("/identity/v3/auth/catalog", admin_);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->body.find("elsewhere.example"), std::string::npos) << r->body;
}

}  // namespace
}  // namespace gpucloud::api::testing

// Keystone v3 project hierarchy, tags and projects acting as domains, as keystone answers them.
#include <set>

#include "api_fixture.h"

namespace gpucloud::api::testing {
namespace {

class IdentityHierarchyTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    admin_ = login("admin", "admin-secret", "admin");
    ASSERT_FALSE(admin_.empty());
  }
  httplib::Result patch(const std::string& path, const std::string& body) {
    return client_->Patch(path.c_str(), {{"X-Auth-Token", admin_}}, body, "application/json");
  }
  httplib::Result del(const std::string& path) {
    return client_->Delete(path.c_str(), {{"X-Auth-Token", admin_}});
  }
  std::string create(const std::string& kind, const json& fields) {
    auto r = post("/identity/v3/" + kind + "s", admin_, json{{kind, fields}}.dump());
    EXPECT_EQ(r->status, 201) << r->body;
    return r->status == 201 ? json::parse(r->body)[kind]["id"].get<std::string>() : "";
  }
  json show_project(const std::string& id) {
    auto r = get("/identity/v3/projects/" + id, admin_);
    EXPECT_EQ(r->status, 200) << r->body;
    return json::parse(r->body)["project"];
  }
  std::string admin_;
};

TEST_F(IdentityHierarchyTest, TopProjectHasItsDomainAsParentAndAChildItsParent) {
  const std::string domain = create("domain", {{"name", "lab"}});
  auto r = post("/identity/v3/projects", admin_,
                json{{"project", {{"name", "root"}, {"domain_id", domain}}}}.dump());
  ASSERT_EQ(r->status, 201) << r->body;
  const json root = json::parse(r->body)["project"];
  EXPECT_EQ(root["parent_id"], domain);
  EXPECT_EQ(root["is_domain"], false);

  r = post("/identity/v3/projects", admin_,
           json{{"project", {{"name", "child"}, {"domain_id", domain}, {"parent_id", root["id"]}}}}
               .dump());
  ASSERT_EQ(r->status, 201) << r->body;
  const json child = json::parse(r->body)["project"];
  EXPECT_EQ(child["parent_id"], root["id"]);
  EXPECT_EQ(show_project(child["id"])["parent_id"], root["id"]);

  r = get("/identity/v3/projects?parent_id=" + root["id"].get<std::string>(), admin_);
  const json children = json::parse(r->body)["projects"];
  ASSERT_EQ(children.size(), 1u);
  EXPECT_EQ(children[0]["id"], child["id"]);
}

TEST_F(IdentityHierarchyTest, ChildTakesItsParentsDomainWhenNoneIsGiven) {
  const std::string domain = create("domain", {{"name", "lab"}});
  const std::string root = create("project", {{"name", "root"}, {"domain_id", domain}});
  const std::string child = create("project", {{"name", "child"}, {"parent_id", root}});
  EXPECT_EQ(show_project(child)["domain_id"], domain);
}

TEST_F(IdentityHierarchyTest, ParentInAnotherDomainIsRefused) {
  const std::string domain = create("domain", {{"name", "lab"}});
  const std::string elsewhere = create("project", {{"name", "elsewhere"}});  // default domain
  auto r = post(
      "/identity/v3/projects", admin_,
      json{{"project", {{"name", "x"}, {"domain_id", domain}, {"parent_id", elsewhere}}}}.dump());
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("parent_id"), std::string::npos);
}

TEST_F(IdentityHierarchyTest, MissingParentIsNotFound) {
  auto r = post("/identity/v3/projects", admin_,
                R"({"project": {"name": "orphan", "parent_id": "nosuchproject"}})");
  EXPECT_EQ(r->status, 404) << r->body;
}

TEST_F(IdentityHierarchyTest, ProjectWithChildrenCannotBeDeleted) {
  const std::string root = create("project", {{"name", "root"}});
  const std::string child = create("project", {{"name", "child"}, {"parent_id", root}});
  EXPECT_EQ(del("/identity/v3/projects/" + root)->status, 403);
  EXPECT_EQ(show_project(root)["id"], root);  // nothing was lost
  EXPECT_EQ(del("/identity/v3/projects/" + child)->status, 204);
  EXPECT_EQ(del("/identity/v3/projects/" + root)->status, 204);
}

TEST_F(IdentityHierarchyTest, ParentIsDisabledOnlyAfterItsChildren) {
  const std::string root = create("project", {{"name", "root"}});
  const std::string child = create("project", {{"name", "child"}, {"parent_id", root}});
  EXPECT_EQ(patch("/identity/v3/projects/" + root, R"({"project": {"enabled": false}})")->status,
            403);
  EXPECT_EQ(patch("/identity/v3/projects/" + child, R"({"project": {"enabled": false}})")->status,
            200);
  EXPECT_EQ(patch("/identity/v3/projects/" + root, R"({"project": {"enabled": false}})")->status,
            200);
  EXPECT_EQ(patch("/identity/v3/projects/" + child, R"({"project": {"enabled": true}})")->status,
            403);
}

TEST_F(IdentityHierarchyTest, HierarchyDeeperThanFiveIsRefused) {
  std::string parent = create("project", {{"name", "level1"}});
  for (int level = 2; level <= 5; ++level) {
    parent = create("project", {{"name", "level" + std::to_string(level)}, {"parent_id", parent}});
  }
  auto r = post("/identity/v3/projects", admin_,
                json{{"project", {{"name", "level6"}, {"parent_id", parent}}}}.dump());
  EXPECT_EQ(r->status, 403) << r->body;
}

TEST_F(IdentityHierarchyTest, ShowEqualsTheListEntryTagsIncluded) {
  const std::string id =
      create("project", {{"name", "tagged"}, {"tags", {"a", "c", "b", "d"}}, {"description", "x"}});
  const json shown = show_project(id);
  EXPECT_EQ(shown["tags"], json({"a", "c", "b", "d"}));
  auto r = get("/identity/v3/projects", admin_);
  const json list = json::parse(r->body)["projects"];
  bool found = false;
  for (const auto& p : list) {
    if (p["id"] == id) {
      EXPECT_EQ(p, shown);
      found = true;
    }
  }
  EXPECT_TRUE(found);

  ASSERT_EQ(patch("/identity/v3/projects/" + id, R"({"project": {"tags": ["z"]}})")->status, 200);
  EXPECT_EQ(show_project(id)["tags"], json({"z"}));
  // A PATCH without tags keeps them.
  ASSERT_EQ(patch("/identity/v3/projects/" + id, R"({"project": {"description": "y"}})")->status,
            200);
  EXPECT_EQ(show_project(id)["tags"], json({"z"}));
}

TEST_F(IdentityHierarchyTest, BadTagsAreRefusedNamingTheField) {
  for (const char* tags :
       {R"(["a", "a"])", R"(["a/b"])", R"(["a,b"])", R"([""])", R"("a")", R"([1])"}) {
    auto r = post("/identity/v3/projects", admin_,
                  std::string(R"({"project": {"name": "t", "tags": )") + tags + "}}");
    EXPECT_EQ(r->status, 400) << tags << " " << r->body;
    EXPECT_NE(r->body.find("project.tags"), std::string::npos) << r->body;
  }
}

TEST_F(IdentityHierarchyTest, ProjectActingAsDomainIsADomain) {
  auto r = post("/identity/v3/projects", admin_,
                R"({"project": {"name": "dom", "is_domain": true, "domain_id": null}})");
  ASSERT_EQ(r->status, 201) << r->body;
  const json p = json::parse(r->body)["project"];
  const std::string id = p["id"];
  EXPECT_EQ(p["is_domain"], true);
  EXPECT_TRUE(p["domain_id"].is_null());

  r = get("/identity/v3/domains/" + id, admin_);
  EXPECT_EQ(r->status, 200) << r->body;
  auto ids = [&](const std::string& path) {
    std::set<std::string> out;
    const json body = json::parse(get(path, admin_)->body);
    for (const auto& x : body.begin().value()) out.insert(x["id"].get<std::string>());
    return out;
  };
  EXPECT_TRUE(ids("/identity/v3/projects?is_domain=true").count(id));
  EXPECT_FALSE(ids("/identity/v3/projects").count(id));
  EXPECT_EQ(show_project(id)["is_domain"], true);

  // As a domain: deleted only once disabled, and with it gone as a domain too.
  EXPECT_EQ(del("/identity/v3/projects/" + id)->status, 403);
  EXPECT_EQ(patch("/identity/v3/projects/" + id, R"({"project": {"enabled": false}})")->status,
            200);
  EXPECT_EQ(del("/identity/v3/projects/" + id)->status, 204);
  EXPECT_EQ(get("/identity/v3/domains/" + id, admin_)->status, 404);
}

TEST_F(IdentityHierarchyTest, ProjectActingAsDomainTakesNoParent) {
  const std::string root = create("project", {{"name", "root"}});
  auto r =
      post("/identity/v3/projects", admin_,
           json{{"project", {{"name", "d"}, {"is_domain", true}, {"parent_id", root}}}}.dump());
  EXPECT_EQ(r->status, 400) << r->body;
}

TEST_F(IdentityHierarchyTest, MemberCannotCreateAProjectActingAsDomain) {
  const std::string alice = login("alice", "alice-secret", "demo");
  auto r = post("/identity/v3/projects", alice, R"({"project": {"name": "d", "is_domain": true}})");
  EXPECT_EQ(r->status, 403) << r->body;
}

}  // namespace
}  // namespace gpucloud::api::testing

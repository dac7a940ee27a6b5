// Regression tests for issue 13's list and validation rows: nova's limit / marker / sort_key /
// sort_dir / changes-since / name regex / flavor / image filters with next links and 400s for
// bad values (servers, flavors, aggregates); names with NUL or control characters refused for
// every kind of object; extra specs as strings; number ranges; long values cut in errors;
// include_names for role assignments; database files 0600. Each test is named after what it
// guards.
#include <sys/stat.h>

#include "compute_fixture.h"

namespace gpucloud::api::testing {
namespace {

class ListTest : public ComputeTest {
 protected:
  // Three servers of demo, made directly in the store one second apart (list order is by
  // created_at): s0 oldest, on flavor 1, the plain image and vmhost1; s1, s2 on flavor 2 and
  // vmhost2.
  void add_servers() {
    const std::string alice = store_->find_user_by_name("alice", "default")->id;
    const std::string demo = store_->find_project_by_name("demo", "default")->id;
    const auto t0 = std::chrono::system_clock::now() - std::chrono::hours(1);
    for (int i = 0; i < 3; ++i) {
      store::Instance s;
      s.uuid = new_uuid();
      s.name = "web-" + std::to_string(i);
      s.project_id = demo;
      s.user_id = alice;
      s.flavor_id = i == 0 ? "1" : "2";
      s.image_id = i == 0 ? plain_image_id_ : image_id_;
      s.host = i == 0 ? "vmhost1" : "vmhost2";
      s.status = store::ServerStatus::kActive;
      s.vm_state = "active";
      s.task_state.reset();
      s.created_at = s.updated_at = t0 + std::chrono::seconds(i);
      ASSERT_TRUE(store_->create_instance(s).ok());
      ids_.push_back(s.uuid);
    }
  }
  std::vector<std::string> names(const json& list, const char* key = "servers") {
    std::vector<std::string> out;
    for (const auto& s : list[key]) out.push_back(s["name"]);
    return out;
  }
  int status(const std::string& path, const std::string& token) {
    auto r = get(path, token);
    return r ? r->status : -1;
  }
  std::vector<std::string> ids_;
};

using V = std::vector<std::string>;

TEST_F(ListTest, ServersLimitAndMarkerPageWithNextLink) {
  add_servers();
  json page = get_json(kV + "/servers?limit=2", alice_);
  EXPECT_EQ(names(page), (V{"web-2", "web-1"}));  // newest first, as nova
  ASSERT_TRUE(page.contains("servers_links"));
  const std::string next = page["servers_links"][0]["href"];
  EXPECT_EQ(page["servers_links"][0]["rel"], "next");
  EXPECT_NE(next.find("marker=" + ids_[1]), std::string::npos) << next;
  const std::string path = next.substr(next.find("/compute/"));
  json rest = get_json(path, alice_);
  EXPECT_EQ(names(rest), (V{"web-0"}));
  EXPECT_FALSE(rest.contains("servers_links"));
}

TEST_F(ListTest, ServersSortKeyAndSortDirApply) {
  add_servers();
  EXPECT_EQ(names(get_json(kV + "/servers?sort_key=display_name&sort_dir=asc", alice_)),
            (V{"web-0", "web-1", "web-2"}));
  EXPECT_EQ(
      names(get_json(kV + "/servers/detail?sort_key=created_at&sort_dir=asc&limit=1", alice_)),
      (V{"web-0"}));
}

TEST_F(ListTest, ServersBadListParametersAre400NotIgnored) {
  add_servers();
  for (const char* q : {"?limit=-1", "?limit=abc", "?sort_key=bogus", "?sort_dir=sideways",
                        "?marker=no-such-server", "?changes-since=yesterday", "?name=(unclosed"}) {
    EXPECT_EQ(status(kV + "/servers" + std::string(q), alice_), 400) << q;
  }
}

TEST_F(ListTest, ServersFilterByFlavorImageStatusAndNameRegex) {
  add_servers();
  EXPECT_EQ(names(get_json(kV + "/servers?flavor=1", alice_)), (V{"web-0"}));
  EXPECT_EQ(names(get_json(kV + "/servers?image=" + image_id_, alice_)), (V{"web-2", "web-1"}));
  EXPECT_EQ(names(get_json(kV + "/servers?status=SHUTOFF", alice_)), V{});
  // nova takes the status in any case (Tempest filters by "active").
  EXPECT_EQ(names(get_json(kV + "/servers?status=active", alice_)), (V{"web-2", "web-1", "web-0"}));
  EXPECT_EQ(names(get_json(kV + "/servers?status=Active", alice_)), (V{"web-2", "web-1", "web-0"}));
  // limit=0 is an empty page, without a next link.
  const json none = get_json(kV + "/servers?limit=0", alice_);
  EXPECT_EQ(none["servers"], json::array());
  EXPECT_FALSE(none.contains("servers_links"));
  EXPECT_EQ(names(get_json(kV + "/servers?name=^web-[01]$", alice_)), (V{"web-1", "web-0"}));
  EXPECT_EQ(names(get_json(kV + "/servers?name=eb-2", alice_)), (V{"web-2"}));  // a search
}

// nova: `host` is an admin's filter; a member's `host` is dropped, not applied.
TEST_F(ListTest, ServersHostFilterAppliesForAdminsOnly) {
  add_servers();
  EXPECT_EQ(names(get_json(kV + "/servers?all_tenants=1&host=vmhost1", admin_)), (V{"web-0"}));
  EXPECT_EQ(names(get_json(kV + "/servers/detail?all_tenants=1&host=vmhost2", admin_)),
            (V{"web-2", "web-1"}));
  EXPECT_EQ(names(get_json(kV + "/servers?all_tenants=1&host=nowhere", admin_)), V{});
  EXPECT_EQ(names(get_json(kV + "/servers?host=vmhost1", alice_)), (V{"web-2", "web-1", "web-0"}));
}

TEST_F(ListTest, ServersChangesSinceListsRecentChangesWithDeletedOnes) {
  add_servers();
  // The store stamps updated_at itself: only what changes after this instant is recent.
  const std::string since = iso8601(std::chrono::system_clock::now());
  ASSERT_TRUE(store_->delete_instance(ids_[2]).ok());
  json recent = get_json(kV + "/servers?changes-since=" + since, alice_);
  ASSERT_EQ(recent["servers"].size(), 1u);
  EXPECT_EQ(recent["servers"][0]["id"], ids_[2]);
  EXPECT_EQ(names(get_json(kV + "/servers", alice_)), (V{"web-1", "web-0"}));
}

TEST_F(ListTest, FlavorsMinRamAbcIs400AndLimitMarkerPage) {
  EXPECT_EQ(status(kV + "/flavors?minRam=abc", alice_), 400);
  EXPECT_EQ(status(kV + "/flavors?minDisk=-1", alice_), 400);
  EXPECT_EQ(status(kV + "/flavors?sort_key=bogus", alice_), 400);
  json page = get_json(kV + "/flavors?limit=2", alice_);
  EXPECT_EQ(names(page, "flavors"), (V{"m1.tiny", "m1.small"}));
  ASSERT_TRUE(page.contains("flavors_links"));
  json rest = get_json(kV + "/flavors?marker=2&limit=10", alice_);
  EXPECT_EQ(names(rest, "flavors"), (V{"m1.medium", "m1.large", "m1.xlarge"}));
  EXPECT_EQ(names(get_json(kV + "/flavors?minRam=8192", alice_), "flavors"),
            (V{"m1.large", "m1.xlarge"}));
  EXPECT_EQ(
      names(get_json(kV + "/flavors?sort_key=memory_mb&sort_dir=desc&limit=1", alice_), "flavors"),
      (V{"m1.xlarge"}));
}

TEST_F(ListTest, AggregatesLimitMarkerAndNameRegex) {
  seed_aggregates();
  json page = get_json(kV + "/os-aggregates?limit=1", admin_);
  EXPECT_EQ(names(page, "aggregates"), (V{"aggregate_Denver"}));
  ASSERT_TRUE(page.contains("aggregates_links"));
  EXPECT_EQ(names(get_json(kV + "/os-aggregates?name=GPU$", admin_), "aggregates"),
            (V{"GPU", "nonGPU"}));
  EXPECT_EQ(status(kV + "/os-aggregates?limit=x", admin_), 400);
}

// ---- validation ----

TEST_F(ListTest, NamesWithNulOrControlCharsAre400ForEveryObject) {
  const std::string nul = std::string("bad") + '\0' + "name";
  for (const std::string& bad : {nul, std::string("tab\there"), std::string("bell\x07"),
                                 std::string("c1\xc2\x85"), std::string("del\x7f")}) {
    const json name = bad;
    auto check = [&](const std::string& path, const json& body, const std::string& token) {
      auto r = post(path, token, body.dump());
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 400) << path << " " << body.dump() << ": " << r->body;
    };
    check(kV + "/flavors", {{"flavor", {{"name", name}, {"ram", 1}, {"vcpus", 1}, {"disk", 0}}}},
          admin_);
    check(kV + "/servers",
          {{"server", {{"name", name}, {"flavorRef", "1"}, {"imageRef", plain_image_id_}}}},
          alice_);
    check(kV + "/os-aggregates", {{"aggregate", {{"name", name}}}}, admin_);
    check("/image/v2/images", {{"name", name}, {"disk_format", "raw"}}, alice_);
    check("/identity/v3/users", {{"user", {{"name", name}}}}, admin_);
    check("/identity/v3/projects", {{"project", {{"name", name}}}}, admin_);
  }
  EXPECT_EQ(get_json(kV + "/flavors", admin_)["flavors"].size(), 5u);  // nothing was stored
}

TEST_F(ListTest, PrintableUnicodeNamesAreAccepted) {
  post_ok(kV + "/os-aggregates", admin_, {{"aggregate", {{"name", "Zürich GPU 東京"}}}});
  post_ok("/identity/v3/projects", admin_, {{"project", {{"name", "forschung-ä"}}}}, 201);
}

// nova's schema takes strings and numbers (stored as their text, 255 at most); booleans, nulls,
// objects and control characters are 400s.
TEST_F(ListTest, ExtraSpecValuesAreStringsOrNumbersAsNovaTakesThem) {
  auto r = post(kV + "/flavors/1/os-extra_specs", admin_, R"({"extra_specs": {"k": 123}})");
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(store_->get_flavor("1")->extra_specs.at("k"), "123");
  r = post(kV + "/flavors/1/os-extra_specs", admin_, R"({"extra_specs": {"k": {"a": 1}}})");
  EXPECT_EQ(r->status, 400) << r->body;
  r = post(kV + "/flavors/1/os-extra_specs", admin_, R"({"extra_specs": {"k": true}})");
  EXPECT_EQ(r->status, 400) << r->body;
  r = post(kV + "/flavors/1/os-extra_specs", admin_, R"({"extra_specs": {"k": "bell\u0007"}})");
  EXPECT_EQ(r->status, 400) << r->body;
  r = post(kV + "/flavors/1/os-extra_specs", admin_, R"({"extra_specs": {"k": "123"}})");
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(ListTest, RxtxFactorOutOfRangeIs400) {
  for (const char* v : {"1e308", "0", "-1", "\"fast\""}) {
    auto r = post(kV + "/flavors", admin_,
                  std::string(R"({"flavor": {"name": "r", "ram": 1, "vcpus": 1, "disk": 0, )"
                              R"("rxtx_factor": )") +
                      v + "}}");
    EXPECT_EQ(r->status, 400) << v << ": " << r->body;
  }
}

TEST_F(ListTest, HugeNameErrorNamesFieldAndCutsValue) {
  const std::string huge(900 * 1024, 'x');
  for (const auto& [path, body, token] : std::vector<std::tuple<std::string, json, std::string>>{
           {kV + "/flavors",
            {{"flavor", {{"name", huge}, {"ram", 1}, {"vcpus", 1}, {"disk", 0}}}},
            admin_},
           {kV + "/os-aggregates", {{"aggregate", {{"name", huge}}}}, admin_},
           {"/identity/v3/users", {{"user", {{"name", huge}}}}, admin_}}) {
    auto r = post(path, token, body.dump());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_LT(r->body.size(), 1024u) << path;
    EXPECT_NE(r->body.find("name"), std::string::npos) << r->body;
  }
}

TEST_F(ListTest, RoleAssignmentListIncludeNames) {
  json list = get_json("/identity/v3/role_assignments?include_names=True", admin_);
  ASSERT_FALSE(list["role_assignments"].empty());
  bool alice_seen = false;
  for (const auto& a : list["role_assignments"]) {
    EXPECT_TRUE(a["role"].contains("name"));
    EXPECT_TRUE(a["scope"]["project"].contains("name"));
    if (a["user"]["name"] == "alice") {
      alice_seen = true;
      EXPECT_EQ(a["scope"]["project"]["name"], "demo");
      EXPECT_EQ(a["user"]["domain"]["id"], "default");
    }
  }
  EXPECT_TRUE(alice_seen);
  json plain = get_json("/identity/v3/role_assignments", admin_);
  EXPECT_FALSE(plain["role_assignments"][0]["user"].contains("name"));
}

TEST_F(ListTest, DatabaseFileIsCreatedOwnerOnly) {
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "db.sqlite").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

}  // namespace
}  // namespace gpucloud::api::testing

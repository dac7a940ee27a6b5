// nova's quotas at 2.1: os-quota-sets and os-quota-class-sets, and the instances/cores/ram
// quotas enforced at server create (nova's 403 "Quota exceeded for ...").
#include <thread>

#include "compute_fixture.h"

namespace gpucloud::api::testing {
namespace {

const std::string kQ = kV + "/os-quota-sets/";

class QuotaTest : public ComputeTest {
 protected:
  std::string demo() { return store_->find_project_by_name("demo", "default")->id; }
  std::string other() { return store_->find_project_by_name("other", "default")->id; }
  int put_quota(const std::string& project, const json& set, const std::string& query = "") {
    auto r = put(kQ + project + query, admin_, json{{"quota_set", set}}.dump());
    return r ? r->status : -1;
  }
  // POST /servers of a plain (non-GPU) flavor; the status and the body.
  std::pair<int, json> create(const std::string& flavor, int max_count = 1, int min_count = 1) {
    json s = {{"name", "q"},
              {"flavorRef", flavor},
              {"imageRef", plain_image_id_},
              {"min_count", min_count},
              {"max_count", max_count}};
    auto r = post(kV + "/servers", alice_, json{{"server", s}}.dump());
    if (!r) return {-1, json()};
    return {r->status, json::parse(r->body, nullptr, false)};
  }
  int live_servers() {
    auto list = store_->list_instances(demo(), false);
    int n = 0;
    for (const auto& i : *list) n += i.status != store::ServerStatus::kDeleted;
    return n;
  }
};

TEST_F(QuotaTest, ProjectShowsNovasDefaultsAndItsId) {
  json q = get_json(kQ + demo(), alice_)["quota_set"];
  const json want = {{"id", demo()},
                     {"instances", 10},
                     {"cores", 20},
                     {"ram", 51200},
                     {"metadata_items", 128},
                     {"key_pairs", 100},
                     {"server_groups", 10},
                     {"server_group_members", 10},
                     {"injected_files", 5},
                     {"injected_file_content_bytes", 10240},
                     {"injected_file_path_bytes", 255},
                     {"fixed_ips", -1},
                     {"floating_ips", 10},
                     {"security_groups", 10},
                     {"security_group_rules", 20}};
  EXPECT_EQ(q, want);
  EXPECT_EQ(get_json(kQ + demo() + "/defaults", alice_)["quota_set"], want);
  // A reader of the project may look too; another project's member may not; an admin may.
  EXPECT_EQ(get(kQ + demo(), rita_)->status, 200);
  EXPECT_EQ(get(kQ + demo(), bob_)->status, 403);
  EXPECT_EQ(get(kQ + demo() + "/detail", bob_)->status, 403);
  EXPECT_EQ(get(kQ + demo(), admin_)->status, 200);
}

TEST_F(QuotaTest, AdminUpdatesOnlyTheGivenLimitsAndDeleteRestoresDefaults) {
  // Strings of digits are integers too (nova's schema; Tempest sends ram='5120').
  auto r = put(kQ + demo(), admin_,
               json{{"quota_set", {{"ram", "5120"}, {"instances", 3}, {"force", true}}}}.dump());
  ASSERT_EQ(r->status, 200) << r->body;
  json q = json::parse(r->body)["quota_set"];
  EXPECT_FALSE(q.contains("id"));  // nova's update answers without it
  EXPECT_EQ(q["ram"], 5120);
  EXPECT_EQ(q["instances"], 3);
  EXPECT_EQ(q["cores"], 20);
  EXPECT_EQ(get_json(kQ + demo(), alice_)["quota_set"]["ram"], 5120);
  // The other project keeps the defaults.
  EXPECT_EQ(get_json(kQ + other(), bob_)["quota_set"]["ram"], 51200);
  // Detail: limit, in_use, reserved per resource.
  json d = get_json(kQ + demo() + "/detail", alice_)["quota_set"];
  EXPECT_EQ(d["id"], demo());
  EXPECT_EQ(d["ram"], json({{"limit", 5120}, {"in_use", 0}, {"reserved", 0}}));
  EXPECT_EQ(d["fixed_ips"]["limit"], -1);

  auto gone = del(kQ + demo(), admin_);
  EXPECT_EQ(gone->status, 202);
  EXPECT_EQ(get_json(kQ + demo(), alice_)["quota_set"]["ram"], 51200);
  EXPECT_EQ(get_json(kQ + demo(), alice_)["quota_set"]["instances"], 10);
}

TEST_F(QuotaTest, MembersMayNotUpdateOrDelete) {
  EXPECT_EQ(put(kQ + demo(), alice_, R"({"quota_set": {"ram": 0}})")->status, 403);
  EXPECT_EQ(del(kQ + demo(), alice_)->status, 403);
  EXPECT_EQ(put(kV + "/os-quota-class-sets/default", alice_, R"({"quota_class_set": {"ram": 0}})")
                ->status,
            403);
  EXPECT_EQ(get(kV + "/os-quota-class-sets/default", alice_)->status, 403);
  EXPECT_EQ(get_json(kQ + demo(), alice_)["quota_set"]["ram"], 51200);
}

TEST_F(QuotaTest, InvalidUpdatesAre400AndChangeNothing) {
  auto check = [&](const std::string& body, const std::string& needle) {
    auto r = put(kQ + demo(), admin_, body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << body << ": " << r->body;
    EXPECT_NE(r->body.find(needle), std::string::npos) << body << ": " << r->body;
  };
  check(R"({"quota_set": {"bananas": 3}})", "('bananas' was unexpected)");
  check(R"({"quota_set": {"ram": -2}})", "less than the minimum of -1");
  check(R"({"quota_set": {"ram": "lots"}})", "is not of type 'integer', 'string'");
  check(R"({"quota_set": {"ram": 1.5}})", "is not of type 'integer', 'string'");
  check(R"({"quota_set": {"ram": null}})", "is not of type 'integer', 'string'");
  check(R"({"quota_set": {"ram": 2147483648}})", "greater than the maximum");
  check(R"({"quota_set": {"ram": 5}, "extra": 1})", "('extra' was unexpected)");
  check(R"({})", "'quota_set' is a required property");
  auto r = put(kQ + "no-such-project", admin_, R"({"quota_set": {"ram": 5}})");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("is not a valid project"), std::string::npos) << r->body;
  EXPECT_EQ(get_json(kQ + demo(), alice_)["quota_set"]["ram"], 51200);
}

TEST_F(QuotaTest, LimitBelowUsageNeedsForce) {
  ASSERT_EQ(create("2").first, 202);
  auto r = put(kQ + demo(), admin_, R"({"quota_set": {"instances": 0}})");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("Quota limit 0 for instances must be greater than or equal to already "
                         "used and reserved 1."),
            std::string::npos)
      << r->body;
  EXPECT_EQ(put_quota(demo(), {{"instances", 0}, {"force", "True"}}), 200);
  EXPECT_EQ(get_json(kQ + demo(), alice_)["quota_set"]["instances"], 0);
}

TEST_F(QuotaTest, UserQuotaIsShownForThatUserAndMayNotExceedTheProjects) {
  const std::string alice = store_->find_user_by_name("alice", "default")->id;
  EXPECT_EQ(put_quota(demo(), {{"ram", 2048}}, "?user_id=" + alice), 200);
  EXPECT_EQ(get_json(kQ + demo() + "?user_id=" + alice, admin_)["quota_set"]["ram"], 2048);
  EXPECT_EQ(get_json(kQ + demo(), admin_)["quota_set"]["ram"], 51200);
  EXPECT_EQ(put_quota(demo(), {{"ram", 60000}}, "?user_id=" + alice), 400);
  // Deleting the project's quotas removes its users' too.
  EXPECT_EQ(del(kQ + demo(), admin_)->status, 202);
  EXPECT_EQ(get_json(kQ + demo() + "?user_id=" + alice, admin_)["quota_set"]["ram"], 51200);
}

TEST_F(QuotaTest, DefaultClassChangesEveryProjectsDefaults) {
  json c = get_json(kV + "/os-quota-class-sets/default", admin_)["quota_class_set"];
  EXPECT_EQ(c["id"], "default");
  EXPECT_EQ(c["instances"], 10);
  EXPECT_EQ(c["fixed_ips"], -1);
  // Below 2.50 a quota class does not show the server group keys.
  EXPECT_FALSE(c.contains("server_groups"));
  EXPECT_FALSE(c.contains("server_group_members"));
  auto r = put(kV + "/os-quota-class-sets/default", admin_,
               R"({"quota_class_set": {"instances": 110, "ram": 1000}})");
  ASSERT_EQ(r->status, 200) << r->body;
  json u = json::parse(r->body)["quota_class_set"];
  EXPECT_EQ(u["instances"], 110);
  EXPECT_FALSE(u.contains("id"));
  EXPECT_EQ(get_json(kQ + demo() + "/defaults", alice_)["quota_set"]["instances"], 110);
  EXPECT_EQ(get_json(kQ + other(), bob_)["quota_set"]["ram"], 1000);
  // A project's own limit wins over the class.
  EXPECT_EQ(put_quota(demo(), {{"ram", 7}}), 200);
  EXPECT_EQ(get_json(kQ + demo(), alice_)["quota_set"]["ram"], 7);
  EXPECT_EQ(
      put(kV + "/os-quota-class-sets/default", admin_, R"({"quota_class_set": {"widgets": 1}})")
          ->status,
      400);
}

TEST_F(QuotaTest, CreateOverTheInstancesQuotaIs403AsNova) {
  EXPECT_EQ(put_quota(demo(), {{"instances", 1}}), 200);
  ASSERT_EQ(create("1").first, 202);
  auto [status, body] = create("1");
  EXPECT_EQ(status, 403);
  EXPECT_EQ(body["forbidden"]["message"],
            "Quota exceeded for instances: Requested 1, but already used 1 of 1 instances");
  EXPECT_EQ(live_servers(), 1);
  // The limits view reports the quota and usage.
  json abs = get_json(kV + "/limits", alice_)["limits"]["absolute"];
  EXPECT_EQ(abs["maxTotalInstances"], 1);
  EXPECT_EQ(abs["totalInstancesUsed"], 1);
  EXPECT_EQ(abs["maxTotalCores"], 20);
  EXPECT_EQ(abs["totalCoresUsed"], 1);
  EXPECT_EQ(abs["maxTotalRAMSize"], 51200);
  EXPECT_EQ(abs["totalRAMUsed"], 512);
  EXPECT_EQ(abs["maxTotalKeypairs"], 100);
  // Another project is not affected.
  json s = {{"name", "b"}, {"flavorRef", "1"}, {"imageRef", plain_image_id_}};
  EXPECT_EQ(post(kV + "/servers", bob_, json{{"server", s}}.dump())->status, 202);
}

TEST_F(QuotaTest, CreateOverCoresOrRamIs403NamingTheResource) {
  EXPECT_EQ(put_quota(demo(), {{"cores", 0}, {"force", true}}), 200);
  auto [status, body] = create("1");
  EXPECT_EQ(status, 403);
  EXPECT_EQ(body["forbidden"]["message"],
            "Quota exceeded for cores: Requested 1, but already used 0 of 0 cores");
  EXPECT_EQ(put_quota(demo(), {{"cores", -1}, {"ram", 1024}}), 200);
  ASSERT_EQ(create("1").first, 202);  // 512 MB
  auto [again, why] = create("1");    // 512 + 512 fits exactly
  EXPECT_EQ(again, 202) << why.dump();
  auto [third, over] = create("1");
  EXPECT_EQ(third, 403);
  EXPECT_EQ(over["forbidden"]["message"],
            "Quota exceeded for ram: Requested 512, but already used 1024 of 1024 ram");
  // Deleting a server gives its share back.
  auto list = store_->list_instances(demo(), false);
  ASSERT_EQ(del(kV + "/servers/" + list->front().uuid, alice_)->status, 204);
  EXPECT_EQ(create("1").first, 202);
}

TEST_F(QuotaTest, MultiCreateGetsWhatTheQuotaAllowsOr403BelowMinCount) {
  EXPECT_EQ(put_quota(demo(), {{"instances", 3}}), 200);
  auto [status, body] = create("1", 5, 2);
  EXPECT_EQ(status, 202) << body.dump();
  EXPECT_EQ(live_servers(), 3);
  auto [refused, why] = create("1", 2, 1);
  EXPECT_EQ(refused, 403) << why.dump();
  EXPECT_EQ(live_servers(), 3);
  EXPECT_EQ(put_quota(demo(), {{"instances", 4}}), 200);
  auto [short_of_min, msg] = create("1", 3, 2);  // one fits, two are needed
  EXPECT_EQ(short_of_min, 403) << msg.dump();
  EXPECT_EQ(live_servers(), 3);
}

TEST_F(QuotaTest, KeyPairsOverTheUsersQuotaAre403) {
  EXPECT_EQ(put_quota(demo(), {{"key_pairs", 1}}), 200);
  auto first = post(kV + "/os-keypairs", alice_, R"({"keypair": {"name": "k1"}})");
  ASSERT_EQ(first->status, 200) << first->body;
  auto second = post(kV + "/os-keypairs", alice_, R"({"keypair": {"name": "k2"}})");
  EXPECT_EQ(second->status, 403);
  EXPECT_NE(second->body.find("Quota exceeded, too many key pairs."), std::string::npos)
      << second->body;
  EXPECT_EQ(get_json(kV + "/os-keypairs", alice_)["keypairs"].size(), 1u);
  EXPECT_EQ(get_json(kQ + demo() + "/detail", alice_)["quota_set"]["key_pairs"]["in_use"], 1);
  EXPECT_EQ(get_json(kV + "/limits", alice_)["limits"]["absolute"]["maxTotalKeypairs"], 1);
}

TEST_F(QuotaTest, ServerMetadataOverTheMetadataItemsQuotaIs403) {
  EXPECT_EQ(put_quota(demo(), {{"metadata_items", 2}}), 200);
  json s = {{"name", "m"},
            {"flavorRef", "1"},
            {"imageRef", plain_image_id_},
            {"metadata", {{"a", "1"}, {"b", "2"}, {"c", "3"}}}};
  auto r = post(kV + "/servers", alice_, json{{"server", s}}.dump());
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find("Maximum number of metadata items exceeds 2"), std::string::npos)
      << r->body;
  EXPECT_EQ(live_servers(), 0);
  s["metadata"].erase("c");
  EXPECT_EQ(post(kV + "/servers", alice_, json{{"server", s}}.dump())->status, 202);
}

// Regression guard for the check-then-create race: the count and the insert are one
// transaction, so concurrent creates never pass on the same old count.
TEST_F(QuotaTest, ConcurrentCreatesNeverExceedTheInstancesQuota) {
  EXPECT_EQ(put_quota(demo(), {{"instances", 3}}), 200);
  std::vector<int> statuses(8, 0);
  std::vector<std::thread> threads;
  const int port = server_->port();
  for (size_t t = 0; t < statuses.size(); ++t) {
    threads.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", port);
      json body = {
          {"server",
           {{"name", "c" + std::to_string(t)}, {"flavorRef", "1"}, {"imageRef", plain_image_id_}}}};
      auto r = c.Post((kV + "/servers").c_str(), {{"X-Auth-Token", alice_}}, body.dump(),
                      "application/json");
      statuses[t] = r ? r->status : -1;
    });
  }
  for (auto& t : threads) t.join();
  int ok = 0, refused = 0;
  for (int s : statuses) {
    ok += s == 202;
    refused += s == 403;
  }
  EXPECT_EQ(ok, 3);
  EXPECT_EQ(refused, 5);
  EXPECT_EQ(live_servers(), 3);
}

}  // namespace
}  // namespace gpucloud::api::testing

#include "compute_fixture.h"

namespace gpucloud::api::testing {
namespace {

TEST_F(ComputeTest, AggregateLifecycleAsTheSeedDoesIt) {
  json a =
      post_ok(kV + "/os-aggregates", admin_,
              {{"aggregate", {{"name", "GPU"}, {"availability_zone", "Denver"}}}})["aggregate"];
  EXPECT_EQ(a["name"], "GPU");
  EXPECT_EQ(a["availability_zone"], "Denver");
  EXPECT_FALSE(a.contains("hosts"));
  const std::string id = std::to_string(a["id"].get<int64_t>());
  const std::string action = kV + "/os-aggregates/" + id + "/action";
  json md =
      post_ok(action, admin_, {{"set_metadata", {{"metadata", {{"gpu", "true"}}}}}})["aggregate"];
  EXPECT_EQ(md["metadata"], (json{{"gpu", "true"}, {"availability_zone", "Denver"}}));
  json h = post_ok(action, admin_, {{"add_host", {{"host", "vmhost3"}}}})["aggregate"];
  EXPECT_EQ(h["hosts"], json::array({"vmhost3"}));
  auto stored = store_->get_aggregate(a["id"].get<int64_t>());
  EXPECT_EQ(stored->metadata.at("gpu"), "true");
  EXPECT_EQ(stored->hosts, std::vector<std::string>{"vmhost3"});
  EXPECT_EQ(get_json(kV + "/os-aggregates/" + id, admin_)["aggregate"]["hosts"].size(), 1u);
  EXPECT_EQ(get_json(kV + "/os-aggregates", admin_)["aggregates"].size(), 1u);
  // The AZ shows up in os-availability-zone once a host is in it.
  json zones = get_json(kV + "/os-availability-zone", alice_)["availabilityZoneInfo"];
  std::vector<std::string> names;
  for (const auto& z : zones) names.push_back(z["zoneName"]);
  EXPECT_EQ(names, (std::vector<std::string>{"nova", "Denver"}));
  // Deleting a non-empty aggregate is refused; remove the host first.
  auto r = del(kV + "/os-aggregates/" + id, admin_);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("Host aggregate is not empty"), std::string::npos);
  post_ok(action, admin_, {{"remove_host", {{"host", "vmhost3"}}}});
  post_ok(action, admin_, {{"set_metadata", {{"metadata", {{"gpu", nullptr}}}}}});
  EXPECT_EQ(store_->get_aggregate(a["id"].get<int64_t>())->metadata.count("gpu"), 0u);
  json up = get_json(kV + "/os-aggregates/" + id, admin_);
  auto pr = put(kV + "/os-aggregates/" + id, admin_,
                R"({"aggregate": {"name": "GPU2", "availability_zone": "Boulder"}})");
  ASSERT_EQ(pr->status, 200) << pr->body;
  EXPECT_EQ(json::parse(pr->body)["aggregate"]["availability_zone"], "Boulder");
  EXPECT_EQ(del(kV + "/os-aggregates/" + id, admin_)->status, 200);
  EXPECT_EQ(store_->list_aggregates()->size(), 0u);
}

TEST_F(ComputeTest, AggregateErrorsChangeNothing) {
  seed_aggregates();
  const std::string before = snapshot();
  const int64_t gpu_id = store_->list_aggregates()->at(1).id;
  const std::string id = std::to_string(gpu_id);
  const std::string action = kV + "/os-aggregates/" + id + "/action";
  auto expect = [&](httplib::Result r, int status, const std::string& needle) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    EXPECT_NE(r->body.find(needle), std::string::npos) << r->body;
  };
  expect(post(kV + "/os-aggregates", admin_, R"({"aggregate": {"name": "GPU"}})"), 409,
         "Aggregate GPU already exists.");
  expect(post(kV + "/os-aggregates", admin_, R"({"aggregate": {"name": "x", "zone": "y"}})"), 400,
         "'zone' was unexpected");
  expect(post(kV + "/os-aggregates", admin_, "[1, 2"), 400, "Malformed request body");
  expect(post(kV + "/os-aggregates", alice_, R"({"aggregate": {"name": "x"}})"), 403, "forbidden");
  expect(post(kV + "/os-aggregates", "", R"({"aggregate": {"name": "x"}})"), 401, "");
  expect(post(action, admin_, R"({"add_host": {"host": "vmhost9"}})"), 404,
         "Compute host vmhost9 could not be found.");
  expect(post(action, admin_, R"({"add_host": {"host": "vmhost3"}})"), 409, "already has host");
  expect(post(action, admin_, R"({"remove_host": {"host": "vmhost1"}})"), 404,
         "has no host vmhost1");
  expect(post(action, admin_, R"({"set_metadata": {"metadata": {"gpu": 1}}})"), 400, "not of type");
  expect(post(action, admin_, R"({"paint": {}})"), 400, "'paint' was unexpected");
  expect(post(action, rita_, R"({"add_host": {"host": "vmhost1"}})"), 403, "");
  expect(post(kV + "/os-aggregates/999/action", admin_, R"({"add_host": {"host": "vmhost1"}})"),
         404, "Aggregate 999 could not be found.");
  expect(get(kV + "/os-aggregates/GPU", admin_), 404, "Aggregate GPU could not be found.");
  expect(del(kV + "/os-aggregates/999", admin_), 404, "");
  // A host in zone Denver cannot join an aggregate of another zone.
  auto other = post_ok(kV + "/os-aggregates", admin_,
                       {{"aggregate", {{"name", "west"}, {"availability_zone", "Boulder"}}}});
  const std::string west = std::to_string(other["aggregate"]["id"].get<int64_t>());
  expect(post(kV + "/os-aggregates/" + west + "/action", admin_,
              R"({"add_host": {"host": "vmhost3"}})"),
         400, "already in availability zone(s) ['Denver']");
  ASSERT_EQ(del(kV + "/os-aggregates/" + west, admin_)->status, 200);
  EXPECT_EQ(snapshot(), before);
}

}  // namespace
}  // namespace gpucloud::api::testing

// os-instance-actions: each accepted request on a server is recorded with its request id, user
// and project, newest first, and stays readable after the server is deleted (2.21).
#include "compute_fixture.h"

namespace gpucloud::api::testing {
namespace {

class InstanceActionsTest : public ComputeTest {
 protected:
  json actions(const std::string& id, const std::string& token, const std::string& v = "2.1",
               const std::string& query = "") {
    auto r = vget(kV + "/servers/" + id + "/os-instance-actions" + query, token, v);
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "");
    return r && r->status == 200 ? json::parse(r->body)["instanceActions"] : json();
  }
};

TEST_F(InstanceActionsTest, AcceptedRequestsAreRecordedNewestFirst) {
  seed_aggregates();
  auto created = post(kV + "/servers", alice_,
                      json{{"server",
                            {{"name", "vm"},
                             {"flavorRef", "1"},
                             {"imageRef", plain_image_id_},
                             {"availability_zone", "Denver"}}}}
                          .dump());
  ASSERT_EQ(created->status, 202) << created->body;
  const std::string id = json::parse(created->body)["server"]["id"];
  const std::string create_request = created->get_header_value("x-openstack-request-id");
  ASSERT_EQ(wait_built(id, alice_)["status"], "ACTIVE");
  const std::string action = kV + "/servers/" + id + "/action";
  auto stop = post(action, alice_, R"({"os-stop": null})");
  ASSERT_EQ(stop->status, 202);
  wait_idle(id, alice_);
  // A refused action is not recorded.
  EXPECT_EQ(post(action, alice_, R"({"os-stop": null})")->status, 409);
  ASSERT_EQ(post(action, alice_, R"({"lock": null})")->status, 202);

  json list = actions(id, alice_);
  ASSERT_EQ(list.size(), 3u) << list.dump();
  EXPECT_EQ(list[0]["action"], "lock");
  EXPECT_EQ(list[1]["action"], "stop");
  EXPECT_EQ(list[1]["request_id"], stop->get_header_value("x-openstack-request-id"));
  EXPECT_EQ(list[2]["action"], "create");
  EXPECT_EQ(list[2]["request_id"], create_request);
  EXPECT_EQ(list[2]["project_id"], store_->get_instance(id)->project_id);
  EXPECT_FALSE(list[2].contains("updated_at")) << "2.58";
  EXPECT_TRUE(actions(id, alice_, "2.58")[0].contains("updated_at"));

  // One action; events for admins before 2.51, for everyone from it.
  auto r = vget(kV + "/servers/" + id + "/os-instance-actions/" + create_request, alice_, "2.1");
  ASSERT_EQ(r->status, 200) << r->body;
  json one = json::parse(r->body)["instanceAction"];
  EXPECT_EQ(one["action"], "create");
  EXPECT_FALSE(one.contains("events"));
  r = vget(kV + "/servers/" + id + "/os-instance-actions/" + create_request, alice_, "2.51");
  EXPECT_TRUE(json::parse(r->body)["instanceAction"].contains("events"));
  EXPECT_EQ(vget(kV + "/servers/" + id + "/os-instance-actions/req-nothing", alice_, "2.1")->status,
            404);

  // 2.58 paging: limit and a request id as marker.
  json page = actions(id, alice_, "2.58", "?limit=1");
  ASSERT_EQ(page.size(), 1u);
  page = actions(id, alice_, "2.58", "?limit=1&marker=" + page[0]["request_id"].get<std::string>());
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0]["action"], "stop");
  EXPECT_EQ(
      vget(kV + "/servers/" + id + "/os-instance-actions?marker=req-x", alice_, "2.58")->status,
      400);

  // Another project sees nothing of it.
  EXPECT_EQ(vget(kV + "/servers/" + id + "/os-instance-actions", bob_, "2.1")->status, 404);

  // Deleted: the actions stay readable from 2.21, with the delete first.
  ASSERT_EQ(post(action, alice_, R"({"unlock": null})")->status, 202);
  ASSERT_EQ(del(kV + "/servers/" + id, alice_)->status, 204);
  EXPECT_EQ(vget(kV + "/servers/" + id + "/os-instance-actions", alice_, "2.20")->status, 404);
  list = actions(id, alice_, "2.21");
  ASSERT_EQ(list.size(), 5u);
  EXPECT_EQ(list[0]["action"], "delete");
  EXPECT_EQ(list[1]["action"], "unlock");
}

}  // namespace
}  // namespace gpucloud::api::testing

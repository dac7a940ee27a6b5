// A server's metadata API (`openstack server set/unset --property`): merge, replace, one item at a
// time; the project's metadata_items quota; refused on locked servers and in the wrong state;
// another project's server is absent.
#include "compute_fixture.h"

namespace gpucloud::api::testing {
namespace {

class ServerMetadataTest : public ComputeTest {
 protected:
  std::string meta(const std::string& id) { return kV + "/servers/" + id + "/metadata"; }
  int status(const httplib::Result& r) { return r ? r->status : -1; }
  std::string boot_with(const json& metadata) {
    json s = post_ok(kV + "/servers", alice_,
                     {{"server",
                       {{"name", "tagged"},
                        {"flavorRef", "1"},
                        {"imageRef", plain_image_id_},
                        {"metadata", metadata}}}},
                     202);
    const std::string id = s["server"]["id"];
    EXPECT_EQ(wait_built(id, alice_)["status"], "ACTIVE");
    return id;
  }
};

TEST_F(ServerMetadataTest, MergeReplaceAndOneItemAtATime) {
  seed_aggregates();
  const std::string id = boot_with({{"team", "vision"}});
  EXPECT_EQ(get_json(meta(id), alice_)["metadata"], json({{"team", "vision"}}));

  json merged = post_ok(meta(id), alice_, {{"metadata", {{"owner", "ana"}}}});
  EXPECT_EQ(merged["metadata"], json({{"team", "vision"}, {"owner", "ana"}}));
  auto r = put(meta(id), alice_, json{{"metadata", {{"stage", "train"}}}}.dump());
  ASSERT_EQ(status(r), 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["metadata"], json({{"stage", "train"}}));
  EXPECT_EQ(get_json(kV + "/servers/" + id, alice_)["server"]["metadata"],
            json({{"stage", "train"}}));

  r = put(meta(id) + "/gpu", alice_, R"({"meta": {"gpu": "k2"}})");
  ASSERT_EQ(status(r), 200) << r->body;
  EXPECT_EQ(json::parse(r->body), json({{"meta", {{"gpu", "k2"}}}}));
  EXPECT_EQ(get_json(meta(id) + "/gpu", alice_), json({{"meta", {{"gpu", "k2"}}}}));
  EXPECT_EQ(status(get(meta(id) + "/nothing", alice_)), 404);

  const std::string before = snapshot();
  EXPECT_EQ(status(put(meta(id) + "/gpu", alice_, R"({"meta": {"cpu": "x"}})")), 400);
  EXPECT_EQ(status(put(meta(id) + "/gpu", alice_, R"({"meta": {"gpu": "a", "b": "c"}})")), 400);
  EXPECT_EQ(status(put(meta(id) + "/gpu", alice_, R"({"meta": {}})")), 400);
  EXPECT_EQ(status(post(meta(id), alice_, R"({"metadata": {"k": 1}})")), 400);
  EXPECT_EQ(status(post(meta(id), alice_, R"({"metadata": "x"})")), 400);
  EXPECT_EQ(status(post(meta(id), alice_, R"({"meta": {"k": "v"}})")), 400);
  EXPECT_EQ(
      status(post(meta(id), alice_, json{{"metadata", {{std::string(256, 'k'), "v"}}}}.dump())),
      400);
  EXPECT_EQ(snapshot(), before);

  EXPECT_EQ(status(del(meta(id) + "/gpu", alice_)), 204);
  EXPECT_EQ(status(del(meta(id) + "/gpu", alice_)), 404);
  EXPECT_EQ(get_json(meta(id), alice_)["metadata"], json({{"stage", "train"}}));
}

TEST_F(ServerMetadataTest, WhoMayAndWhenItIsRefused) {
  seed_aggregates();
  const std::string id = boot_with({{"a", "1"}});
  // Another project's server does not exist for bob; a reader reads but does not write.
  EXPECT_EQ(status(get(meta(id), bob_)), 404);
  EXPECT_EQ(status(post(meta(id), bob_, R"({"metadata": {"b": "2"}})")), 404);
  EXPECT_EQ(status(get(meta(id), rita_)), 200);
  EXPECT_EQ(status(post(meta(id), rita_, R"({"metadata": {"b": "2"}})")), 403);

  // The project's metadata_items quota counts the keys after the change.
  const std::string demo = store_->find_project_by_name("demo", "default")->id;
  auto q = put(kV + "/os-quota-sets/" + demo, admin_,
               json{{"quota_set", {{"metadata_items", 2}}}}.dump());
  ASSERT_EQ(status(q), 200) << q->body;
  EXPECT_EQ(status(post(meta(id), alice_, R"({"metadata": {"b": "2"}})")), 200);
  auto over = post(meta(id), alice_, R"({"metadata": {"c": "3"}})");
  EXPECT_EQ(status(over), 403);
  EXPECT_NE(over->body.find("Maximum number of metadata items exceeds 2"), std::string::npos);
  EXPECT_EQ(status(put(meta(id), alice_, R"({"metadata": {"x": "1", "y": "2"}})")), 200);
  EXPECT_EQ(get_json(meta(id), alice_)["metadata"], json({{"x", "1"}, {"y", "2"}}));

  // Locked by an admin: the owner may not change it, the admin may.
  ASSERT_EQ(status(post(kV + "/servers/" + id + "/action", admin_, R"({"lock": null})")), 202);
  EXPECT_EQ(status(post(meta(id), alice_, R"({"metadata": {"x": "9"}})")), 409);
  EXPECT_EQ(status(del(meta(id) + "/x", alice_)), 409);
  EXPECT_EQ(status(post(meta(id), admin_, R"({"metadata": {"x": "9"}})")), 200);
  ASSERT_EQ(status(post(kV + "/servers/" + id + "/action", admin_, R"({"unlock": null})")), 202);

  // In ERROR (vm_state error) nothing changes, as in nova.
  ASSERT_EQ(status(post(kV + "/servers/" + id + "/action", admin_,
                        R"({"os-resetState": {"state": "error"}})")),
            202);
  EXPECT_EQ(status(post(meta(id), alice_, R"({"metadata": {"x": "1"}})")), 409);
  EXPECT_EQ(get_json(meta(id), alice_)["metadata"], json({{"x", "9"}, {"y", "2"}}));
}

}  // namespace
}  // namespace gpucloud::api::testing

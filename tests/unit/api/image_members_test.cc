// Image v2 sharing (glance's image members) and deactivate/reactivate: alice's project owns the
// images, bob's project is offered them, carol's project is a stranger. Who sees a shared image in
// lists and by id, who may answer, and what compute's image proxy and server create see.
#include "api/api.h"
#include "compute_fixture.h"
#include "image_fixture.h"

namespace gpucloud::api::testing {
namespace {

class ImageMembersTest : public ImageTest {
 protected:
  void SetUp() override {
    ImageTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(ensure_user(*store_, "third", "carol", "carol-secret", "member").ok());
    carol_ = login("carol", "carol-secret", "third");
    ASSERT_FALSE(carol_.empty());
    demo_ = store_->find_project_by_name("demo", "default")->id;
    other_ = store_->find_project_by_name("other", "default")->id;
    third_ = store_->find_project_by_name("third", "default")->id;
    shared_ = create(alice_, {{"name", "shared"},
                              {"disk_format", "raw"},
                              {"container_format", "bare"},
                              {"visibility", "shared"}});
    ASSERT_FALSE(shared_.empty());
  }

  std::string members(const std::string& id) { return "/image/v2/images/" + id + "/members"; }
  httplib::Result add(const std::string& id, const std::string& token, const std::string& member) {
    return post(members(id), token, json{{"member", member}}.dump());
  }
  httplib::Result answer(const std::string& id, const std::string& member, const std::string& token,
                         const std::string& status) {
    return client_->Put((members(id) + "/" + member).c_str(), {{"X-Auth-Token", token}},
                        json{{"status", status}}.dump(), "application/json");
  }
  httplib::Result action(const std::string& id, const std::string& token, const std::string& what) {
    return client_->Post(("/image/v2/images/" + id + "/actions/" + what).c_str(),
                         {{"X-Auth-Token", token}}, "", "application/json");
  }
  // The ids GET /v2/images lists for `token` with `query`.
  std::vector<std::string> listed(const std::string& token, const std::string& query = "") {
    auto r = get("/image/v2/images" + query, token);
    EXPECT_EQ(r->status, 200) << query << " " << r->body;
    std::vector<std::string> ids;
    if (r->status != 200) return ids;
    const json body = json::parse(r->body);  // not a temporary: the loop would dangle
    for (const auto& i : body["images"]) ids.push_back(i["id"]);
    return ids;
  }
  // Whether that list holds `id`; the ids listed in the message either way.
  ::testing::AssertionResult lists(const std::string& token, const std::string& id,
                                   const std::string& query = "") {
    auto ids = listed(token, query);
    std::string all;
    for (const auto& i : ids) all += " " + i;
    if (std::find(ids.begin(), ids.end(), id) != ids.end()) {
      return ::testing::AssertionSuccess() << query << " lists" << all;
    }
    return ::testing::AssertionFailure() << query << " lists only" << all;
  }

  std::string carol_, demo_, other_, third_, shared_;
};

TEST_F(ImageMembersTest, OfferedImageIsListedForTheMemberOnlyOnceAccepted) {
  auto r = add(shared_, alice_, other_);
  ASSERT_EQ(r->status, 200) << r->body;  // glance answers 200, not 201
  json m = json::parse(r->body);
  EXPECT_EQ(m["image_id"], shared_);
  EXPECT_EQ(m["member_id"], other_);
  EXPECT_EQ(m["status"], "pending");
  EXPECT_EQ(m["schema"], "/v2/schemas/member");
  EXPECT_TRUE(m.contains("created_at") && m.contains("updated_at"));

  // Pending: bob may look at it by id, but his default list (accepted) leaves it out.
  EXPECT_EQ(show(shared_, bob_)["id"], shared_);
  EXPECT_FALSE(lists(bob_, shared_));
  EXPECT_TRUE(lists(bob_, shared_, "?member_status=pending&visibility=shared"));
  EXPECT_TRUE(lists(bob_, shared_, "?member_status=all"));
  EXPECT_FALSE(lists(bob_, shared_, "?member_status=rejected"));
  EXPECT_TRUE(lists(alice_, shared_));  // the owner always sees its own
  EXPECT_TRUE(lists(alice_, shared_, "?member_status=rejected"));

  r = answer(shared_, other_, bob_, "accepted");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["status"], "accepted");
  EXPECT_TRUE(lists(bob_, shared_));
  EXPECT_TRUE(lists(bob_, shared_, "?visibility=shared"));
  EXPECT_FALSE(lists(bob_, shared_, "?member_status=pending"));
  EXPECT_FALSE(lists(carol_, shared_, "?member_status=all"));
  EXPECT_EQ(get("/image/v2/images/" + shared_, carol_)->status, 404);

  json list = json::parse(get(members(shared_), alice_)->body);
  ASSERT_EQ(list["members"].size(), 1u);
  EXPECT_EQ(list["members"][0]["member_id"], other_);
  EXPECT_EQ(list["members"][0]["status"], "accepted");
  EXPECT_EQ(list["schema"], "/v2/schemas/members");
  EXPECT_EQ(json::parse(get(members(shared_) + "/" + other_, alice_)->body)["status"], "accepted");
}

TEST_F(ImageMembersTest, RejectedImageLeavesTheListButStaysReadableById) {
  ASSERT_EQ(add(shared_, alice_, other_)->status, 200);
  ASSERT_EQ(answer(shared_, other_, bob_, "rejected")->status, 200);
  EXPECT_FALSE(lists(bob_, shared_));
  EXPECT_TRUE(lists(bob_, shared_, "?member_status=rejected"));
  EXPECT_EQ(show(shared_, bob_)["id"], shared_);
  // A member may change its mind.
  ASSERT_EQ(answer(shared_, other_, bob_, "pending")->status, 200);
  EXPECT_TRUE(lists(bob_, shared_, "?member_status=pending"));
}

TEST_F(ImageMembersTest, AMemberSeesOnlyItsOwnRow) {
  ASSERT_EQ(add(shared_, alice_, other_)->status, 200);
  ASSERT_EQ(add(shared_, alice_, third_)->status, 200);
  json mine = json::parse(get(members(shared_), bob_)->body);
  ASSERT_EQ(mine["members"].size(), 1u);
  EXPECT_EQ(mine["members"][0]["member_id"], other_);
  EXPECT_EQ(json::parse(get(members(shared_), alice_)->body)["members"].size(), 2u);
  EXPECT_EQ(json::parse(get(members(shared_), admin_)->body)["members"].size(), 2u);
  // Another member's row is "not found" for bob (glance turns the refusal into 404 here).
  EXPECT_EQ(get(members(shared_) + "/" + third_, bob_)->status, 404);
  EXPECT_EQ(get(members(shared_) + "/" + other_, bob_)->status, 200);
}

TEST_F(ImageMembersTest, OnlyTheMemberAnswersAndOnlyTheOwnerManagesMembers) {
  ASSERT_EQ(add(shared_, alice_, other_)->status, 200);
  // The owner cannot accept for the member; another member cannot either.
  auto r = answer(shared_, other_, alice_, "accepted");
  EXPECT_EQ(r->status, 403) << r->body;
  ASSERT_EQ(add(shared_, alice_, third_)->status, 200);
  EXPECT_EQ(answer(shared_, other_, carol_, "accepted")->status, 403);
  EXPECT_EQ(store_->get_image_member(shared_, other_)->status, store::ImageMemberStatus::kPending);
  // An admin may (glance's authorization layer lets admins save any member).
  EXPECT_EQ(answer(shared_, other_, admin_, "accepted")->status, 200);

  // Members neither add nor remove members; a reader has no image:write.
  EXPECT_EQ(add(shared_, bob_, third_)->status, 403);
  EXPECT_EQ(del(members(shared_) + "/" + third_, bob_)->status, 403);
  EXPECT_EQ(del(members(shared_) + "/" + other_, bob_)->status, 403);
  EXPECT_EQ(add(shared_, rita_, third_)->status, 403);
  EXPECT_EQ(json::parse(get(members(shared_), rita_)->body)["members"].size(), 2u);

  // Strangers: the image is not there.
  const std::string stranger_image = create(carol_, {{"name", "carols"}, {"visibility", "shared"}});
  EXPECT_EQ(add(stranger_image, alice_, demo_)->status, 404);
  EXPECT_EQ(get(members(stranger_image), alice_)->status, 404);
  EXPECT_EQ(answer(stranger_image, demo_, alice_, "accepted")->status, 404);
}

TEST_F(ImageMembersTest, BadRequestsNameTheField) {
  ASSERT_EQ(add(shared_, alice_, other_)->status, 200);
  auto r = add(shared_, alice_, other_);
  EXPECT_EQ(r->status, 409);
  EXPECT_NE(r->body.find("duplicated"), std::string::npos) << r->body;
  r = post(members(shared_), alice_, "{}");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("Member to be added not specified"), std::string::npos) << r->body;
  r = add(shared_, alice_, "");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("'member'"), std::string::npos) << r->body;
  r = answer(shared_, other_, bob_, "notavalidstatus");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("'status'"), std::string::npos) << r->body;
  r = client_->Put((members(shared_) + "/" + other_).c_str(), {{"X-Auth-Token", bob_}}, "{}",
                   "application/json");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("Status not specified"), std::string::npos) << r->body;
  EXPECT_EQ(get(members(shared_) + "/" + third_, alice_)->status, 404);
  EXPECT_EQ(del(members(shared_) + "/" + third_, alice_)->status, 404);
}

TEST_F(ImageMembersTest, OnlySharedImagesHaveMembers) {
  const std::string priv = create(alice_, {{"name", "p"}, {"visibility", "private"}});
  const std::string community = create(alice_, {{"name", "c"}, {"visibility", "community"}});
  for (const auto& id : {priv, community}) {
    auto r = add(id, alice_, other_);
    EXPECT_EQ(r->status, 403) << r->body;
    EXPECT_NE(r->body.find("Only shared images have members."), std::string::npos) << r->body;
    EXPECT_EQ(get(members(id), alice_)->status, 403);
  }
  // Members of an image made private again keep their row but see nothing until it is shared.
  ASSERT_EQ(add(shared_, alice_, other_)->status, 200);
  ASSERT_EQ(answer(shared_, other_, bob_, "accepted")->status, 200);
  ASSERT_EQ(patch(shared_, alice_,
                  json::array({{{"op", "replace"}, {"path", "/visibility"}, {"value", "private"}}}))
                ->status,
            200);
  EXPECT_EQ(get("/image/v2/images/" + shared_, bob_)->status, 404);
  EXPECT_FALSE(lists(bob_, shared_, "?member_status=all"));
  ASSERT_EQ(patch(shared_, alice_,
                  json::array({{{"op", "replace"}, {"path", "/visibility"}, {"value", "shared"}}}))
                ->status,
            200);
  EXPECT_TRUE(lists(bob_, shared_));
}

TEST_F(ImageMembersTest, MembersBeyond128AreRefusedWith413) {
  for (int i = 0; i < 128; ++i) {
    ASSERT_EQ(add(shared_, alice_, "project-" + std::to_string(i))->status, 200) << i;
  }
  auto r = add(shared_, alice_, other_);
  EXPECT_EQ(r->status, 413) << r->body;
  EXPECT_NE(r->body.find("Maximum: 128"), std::string::npos) << r->body;
  EXPECT_FALSE(store_->get_image_member(shared_, other_).ok());
}

TEST_F(ImageMembersTest, RemovedMemberAndDeletedImageLeaveNoMembership) {
  ASSERT_EQ(add(shared_, alice_, other_)->status, 200);
  ASSERT_EQ(answer(shared_, other_, bob_, "accepted")->status, 200);
  EXPECT_EQ(del(members(shared_) + "/" + other_, alice_)->status, 204);
  EXPECT_EQ(get("/image/v2/images/" + shared_, bob_)->status, 404);
  EXPECT_FALSE(lists(bob_, shared_, "?member_status=all"));

  ASSERT_EQ(add(shared_, alice_, other_)->status, 200);
  ASSERT_EQ(add(shared_, alice_, third_)->status, 200);
  EXPECT_EQ(del("/image/v2/images/" + shared_, alice_)->status, 204);
  EXPECT_TRUE(store_->list_memberships(other_)->empty());
  EXPECT_TRUE(store_->list_memberships(third_)->empty());
}

TEST_F(ImageMembersTest, SchemasForMemberAndMembers) {
  json member = json::parse(get("/image/v2/schemas/member", bob_)->body);
  EXPECT_EQ(member["name"], "member");
  EXPECT_EQ(member["properties"]["status"]["enum"],
            json::array({"pending", "accepted", "rejected"}));
  json list = json::parse(get("/image/v2/schemas/members", bob_)->body);
  EXPECT_EQ(list["name"], "members");
  EXPECT_EQ(list["properties"]["members"]["items"], member);
}

TEST_F(ImageMembersTest, DeactivatedImageRefusesDownloadsToAllButAdmins) {
  ASSERT_EQ(upload(shared_, alice_, "the data")->status, 204);
  ASSERT_EQ(add(shared_, alice_, other_)->status, 200);
  ASSERT_EQ(answer(shared_, other_, bob_, "accepted")->status, 200);
  // Members may download (any status), strangers cannot see it.
  EXPECT_EQ(get("/image/v2/images/" + shared_ + "/file", bob_)->body, "the data");
  EXPECT_EQ(get("/image/v2/images/" + shared_ + "/file", carol_)->status, 404);

  // Only the owner (or an admin) deactivates: a member is refused, a reader has no image:write.
  EXPECT_EQ(action(shared_, bob_, "deactivate")->status, 403);
  EXPECT_EQ(action(shared_, rita_, "deactivate")->status, 403);
  EXPECT_EQ(action(shared_, carol_, "deactivate")->status, 404);
  EXPECT_EQ(action(shared_, alice_, "deactivate")->status, 204);
  EXPECT_EQ(show(shared_, alice_)["status"], "deactivated");
  EXPECT_EQ(action(shared_, alice_, "deactivate")->status, 204);  // idempotent
  auto r = get("/image/v2/images/" + shared_ + "/file", alice_);
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find("deactivated"), std::string::npos) << r->body;
  EXPECT_EQ(get("/image/v2/images/" + shared_ + "/file", bob_)->status, 403);
  EXPECT_EQ(get("/image/v2/images/" + shared_ + "/file", admin_)->body, "the data");
  EXPECT_TRUE(lists(bob_, shared_));  // still listed

  EXPECT_EQ(action(shared_, alice_, "reactivate")->status, 204);
  EXPECT_EQ(show(shared_, alice_)["status"], "active");
  EXPECT_EQ(action(shared_, alice_, "reactivate")->status, 204);  // idempotent
  EXPECT_EQ(get("/image/v2/images/" + shared_ + "/file", bob_)->body, "the data");
}

TEST_F(ImageMembersTest, DeactivateAndReactivateRefuseOtherStatuses) {
  const std::string queued = create_raw(alice_, "queued");
  const std::string before = snapshot();
  auto r = action(queued, alice_, "deactivate");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("Not allowed to deactivate image in status 'queued'"), std::string::npos)
      << r->body;
  r = action(queued, admin_, "reactivate");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("Not allowed to reactivate image in status 'queued'"), std::string::npos)
      << r->body;
  EXPECT_EQ(snapshot(), before);
}

// Compute's image proxy and server create follow the image API's visibility.
class SharedImageComputeTest : public ComputeTest {};

TEST_F(SharedImageComputeTest, MembersSeeAndBootSharedImagesOthersDoNot) {
  const std::string demo = store_->find_project_by_name("demo", "default")->id;
  const std::string other = store_->find_project_by_name("other", "default")->id;
  store::Image img = *store_->get_image(plain_image_id_);
  img.id = new_uuid();
  img.name = "bobs-shared";
  img.owner = other;
  img.visibility = store::ImageVisibility::kShared;
  ASSERT_TRUE(store_->create_image(img).ok());
  const json server = {{"server", {{"name", "s"}, {"flavorRef", "2"}, {"imageRef", img.id}}}};
  auto names = [&](const std::string& token) {
    std::vector<std::string> out;
    const json body = get_json(kV + "/images", token);
    for (const auto& i : body["images"]) out.push_back(i["name"]);
    return out;
  };
  auto listed = [&](const std::string& token) {
    auto n = names(token);
    return std::find(n.begin(), n.end(), "bobs-shared") != n.end();
  };

  EXPECT_EQ(get(kV + "/images/" + img.id, alice_)->status, 404);
  EXPECT_FALSE(listed(alice_));
  auto r = post(kV + "/servers", alice_, server.dump());
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("could not be found"), std::string::npos) << r->body;

  ASSERT_TRUE(
      store_->add_image_member({img.id, demo, store::ImageMemberStatus::kPending, {}, {}}, 128)
          .ok());
  EXPECT_EQ(get(kV + "/images/" + img.id, alice_)->status, 200);
  EXPECT_FALSE(listed(alice_));  // nova lists glance's default: accepted members only
  ASSERT_TRUE(
      store_->set_image_member_status(img.id, demo, store::ImageMemberStatus::kAccepted).ok());
  EXPECT_TRUE(listed(alice_));
  r = post(kV + "/servers", alice_, server.dump());
  EXPECT_EQ(r->status, 202) << r->body;

  // A deactivated image boots for nobody.
  ASSERT_TRUE(
      store_
          ->set_image_status(img.id, store::ImageStatus::kActive, store::ImageStatus::kDeactivated)
          .ok());
  r = post(kV + "/servers", alice_, server.dump());
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("is not active"), std::string::npos) << r->body;
}

}  // namespace
}  // namespace gpucloud::api::testing

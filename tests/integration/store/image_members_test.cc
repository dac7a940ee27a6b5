// glance's image members in the store (schema version 11), on both backends: one row per image
// and project, the limit counted in the same transaction, statuses changed in place, and the
// rows gone with their image. The status compare-and-set that deactivate and reactivate use.
#include "test_db.h"

namespace gpucloud::store::testing {
namespace {

Image shared_image(const std::string& id) {
  Image img;
  img.id = id;
  img.name = "shared";
  img.owner = "p-owner";
  img.status = ImageStatus::kActive;
  img.visibility = ImageVisibility::kShared;
  return img;
}

ImageMember member(const std::string& image_id, const std::string& project) {
  return {image_id, project, ImageMemberStatus::kPending, {}, {}};
}

TEST_P(StoreTest, ImageMembersRoundTripAndChangeStatusInPlace) {
  const std::string id = "11111111-2222-3333-4444-555555555555";
  ASSERT_TRUE(store().create_image(shared_image(id)).ok());
  ASSERT_TRUE(store().add_image_member(member(id, "p-bob"), 128).ok());
  ASSERT_TRUE(store().add_image_member(member(id, "p-carol"), 128).ok());

  auto bob = store().get_image_member(id, "p-bob");
  ASSERT_TRUE(bob.ok()) << bob.error().message;
  EXPECT_EQ(bob->status, ImageMemberStatus::kPending);
  EXPECT_NE(bob->created_at, TimePoint{});
  auto all = store().list_image_members(id);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);

  auto accepted = store().set_image_member_status(id, "p-bob", ImageMemberStatus::kAccepted);
  ASSERT_TRUE(accepted.ok()) << accepted.error().message;
  EXPECT_EQ(accepted->status, ImageMemberStatus::kAccepted);
  // Setting the status it already has is no error (MariaDB reports no changed row).
  EXPECT_TRUE(store().set_image_member_status(id, "p-bob", ImageMemberStatus::kAccepted).ok());
  auto mine = store().list_memberships("p-bob");
  ASSERT_TRUE(mine.ok());
  ASSERT_EQ(mine->size(), 1u);
  EXPECT_EQ((*mine)[0].image_id, id);
  EXPECT_EQ((*mine)[0].status, ImageMemberStatus::kAccepted);

  auto missing = store().set_image_member_status(id, "p-nobody", ImageMemberStatus::kAccepted);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(store().delete_image_member(id, "p-carol").ok());
  auto again = store().delete_image_member(id, "p-carol");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store().list_image_members(id)->size(), 1u);
}

TEST_P(StoreTest, ImageMemberDuplicatesLimitAndMissingImageAreRefused) {
  const std::string id = "21111111-2222-3333-4444-555555555555";
  ASSERT_TRUE(store().create_image(shared_image(id)).ok());
  ASSERT_TRUE(store().add_image_member(member(id, "p1"), 2).ok());
  auto dup = store().add_image_member(member(id, "p1"), 2);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kConflict);
  ASSERT_TRUE(store().add_image_member(member(id, "p2"), 2).ok());
  auto over = store().add_image_member(member(id, "p3"), 2);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, ErrorCode::kPayloadTooLarge);
  EXPECT_EQ(store().list_image_members(id)->size(), 2u);
  auto orphan = store().add_image_member(member("31111111-2222-3333-4444-555555555555", "p1"), 2);
  ASSERT_FALSE(orphan.ok());
  EXPECT_EQ(orphan.error().code, ErrorCode::kNotFound);
}

TEST_P(StoreTest, DeletingAnImageDeletesItsMembers) {
  const std::string id = "41111111-2222-3333-4444-555555555555";
  ASSERT_TRUE(store().create_image(shared_image(id)).ok());
  ASSERT_TRUE(store().add_image_member(member(id, "p1"), 128).ok());
  ASSERT_TRUE(store().add_image_member(member(id, "p2"), 128).ok());
  ASSERT_TRUE(store().delete_image(id).ok());
  EXPECT_EQ(db().count("SELECT COUNT(*) FROM image_members"), 0);
  EXPECT_TRUE(store().list_memberships("p1")->empty());
}

TEST_P(StoreTest, ImageStatusCompareAndSet) {
  const std::string id = "51111111-2222-3333-4444-555555555555";
  ASSERT_TRUE(store().create_image(shared_image(id)).ok());
  ASSERT_TRUE(store().set_image_status(id, ImageStatus::kActive, ImageStatus::kDeactivated).ok());
  EXPECT_EQ(store().get_image(id)->status, ImageStatus::kDeactivated);
  auto stale = store().set_image_status(id, ImageStatus::kActive, ImageStatus::kDeactivated);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, ErrorCode::kConflict);
  auto gone = store().set_image_status("61111111-2222-3333-4444-555555555555", ImageStatus::kActive,
                                       ImageStatus::kDeactivated);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(store().set_image_status(id, ImageStatus::kDeactivated, ImageStatus::kActive).ok());
  EXPECT_EQ(store().get_image(id)->status, ImageStatus::kActive);
}

}  // namespace
}  // namespace gpucloud::store::testing

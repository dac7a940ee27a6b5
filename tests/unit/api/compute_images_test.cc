// Compute v2.1's image API (nova's proxy to glance): the same images and visibility as glance,
// in nova's shapes, and metadata as the image's custom properties.
#include "compute_fixture.h"

namespace gpucloud::api::testing {
namespace {

TEST_F(ComputeTest, ImagesListDetailAndShowInNovasShape) {
  json list = get_json(kV + "/images", alice_)["images"];
  ASSERT_EQ(list.size(), 2u);
  for (const auto& i : list) {
    EXPECT_EQ(i.size(), 3u) << i.dump();  // id, name, links
    EXPECT_EQ(i["links"][2]["rel"], "alternate");
  }
  json d = get_json(kV + "/images/" + image_id_, alice_)["image"];
  EXPECT_EQ(d["name"], "my_new_image");
  EXPECT_EQ(d["status"], "ACTIVE");
  EXPECT_EQ(d["progress"], 100);
  EXPECT_EQ(d["minDisk"], 15);
  EXPECT_EQ(d["minRam"], 512);
  EXPECT_EQ(d["OS-EXT-IMG-SIZE:size"], 1 << 20);
  EXPECT_EQ(d["metadata"]["hw_video_ram"], "8");
  EXPECT_FALSE(d.contains("server"));
  json detail = get_json(kV + "/images/detail?minDisk=10", alice_)["images"];
  ASSERT_EQ(detail.size(), 1u);
  EXPECT_EQ(detail[0]["id"], image_id_);
  EXPECT_EQ(get_json(kV + "/images/detail?name=plain", alice_)["images"][0]["id"], plain_image_id_);
  EXPECT_EQ(get_json(kV + "/images?limit=1", alice_)["images"].size(), 1u);
  EXPECT_EQ(get(kV + "/images?minRam=abc", alice_)->status, 400);
  EXPECT_EQ(get(kV + "/images/00000000-0000-0000-0000-000000000000", alice_)->status, 404);
}

TEST_F(ComputeTest, ImageMetadataIsTheImagesPropertiesForItsOwner) {
  const std::string meta = kV + "/images/" + plain_image_id_ + "/metadata";
  auto r = post(meta, admin_, R"({"metadata": {"os_distro": "debian", "os_version": "12"}})");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["metadata"]["os_distro"], "debian");
  EXPECT_EQ(store_->get_image(plain_image_id_)->properties.at("os_version"), "12");
  EXPECT_EQ(get_json(meta + "/os_distro", alice_)["meta"]["os_distro"], "debian");
  r = put(meta + "/os_distro", admin_, R"({"meta": {"os_distro": "ubuntu"}})");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(store_->get_image(plain_image_id_)->properties.at("os_distro"), "ubuntu");
  EXPECT_EQ(put(meta + "/os_distro", admin_, R"({"meta": {"other": "x"}})")->status, 400);
  EXPECT_EQ(post(meta, admin_, R"({"metadata": {"os_distro": 5}})")->status, 400);
  EXPECT_EQ(post(meta, admin_, R"({"metadata": {"min_disk": "3"}})")->status, 403);
  // A member sees the public image but may not change it.
  EXPECT_EQ(post(meta, alice_, R"({"metadata": {"x": "y"}})")->status, 403);
  EXPECT_EQ(del(meta + "/os_distro", alice_)->status, 403);
  EXPECT_EQ(del(meta + "/os_distro", admin_)->status, 204);
  EXPECT_EQ(del(meta + "/os_distro", admin_)->status, 404);
  r = put(meta, admin_, R"({"metadata": {"only": "this"}})");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(store_->get_image(plain_image_id_)->properties,
            (std::map<std::string, std::string>{{"only", "this"}}));
}

TEST_F(ComputeTest, ImagesOfOtherProjectsAreNotFoundAndOwnersDelete) {
  auto r = post("/image/v2/images", bob_,
                R"({"name": "bobs", "disk_format": "raw", "container_format": "bare",
                    "visibility": "private"})");
  ASSERT_EQ(r->status, 201) << r->body;
  const std::string id = json::parse(r->body)["id"];
  EXPECT_EQ(get(kV + "/images/" + id, alice_)->status, 404);
  EXPECT_EQ(del(kV + "/images/" + id, alice_)->status, 404);
  json bobs = get_json(kV + "/images/" + id, bob_)["image"];
  EXPECT_EQ(bobs["status"], "SAVING");  // queued: no data yet
  EXPECT_EQ(bobs["progress"], 25);
  EXPECT_EQ(del(kV + "/images/" + id, bob_)->status, 204);
  EXPECT_FALSE(store_->get_image(id).ok());
}

}  // namespace
}  // namespace gpucloud::api::testing

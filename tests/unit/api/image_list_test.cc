// Image v2 listing: filters and pagination with the `next` links the glance client follows.
#include "image_fixture.h"

namespace gpucloud::api::testing {
namespace {

std::vector<std::string> names(const json& list) {
  std::vector<std::string> out;
  for (const auto& i : list["images"]) out.push_back(i["name"]);
  return out;
}

class ImageListTest : public ImageTest {
 protected:
  void SetUp() override {
    ImageTest::SetUp();
    if (HasFatalFailure()) return;
    // Seven images of alice's project, one of bob's, one public of admin's.
    for (int i = 0; i < 7; ++i) {
      json body = {{"name", "img" + std::to_string(i)},
                   {"disk_format", "raw"},
                   {"container_format", "bare"},
                   {"visibility", i % 2 ? "private" : "shared"},
                   {"image_type", i < 3 ? "loginnode" : "compute"}};
      if (i == 4) body["tags"] = {"gpu", "k2"};
      if (i == 5) body["tags"] = {"gpu"};
      const std::string id = create(alice_, body);
      ASSERT_FALSE(id.empty());
      ids_.push_back(id);
    }
    ASSERT_EQ(upload(ids_[1], alice_, std::string(100, 'a'))->status, 204);
    ASSERT_EQ(upload(ids_[2], alice_, std::string(1000, 'b'))->status, 204);
    ASSERT_FALSE(create_raw(bob_, "bobs").empty());
    ASSERT_FALSE(create(admin_, {{"name", "public1"}, {"visibility", "public"}}).empty());
  }
  json list(const std::string& query, const std::string& token) {
    auto r = get("/image/v2/images" + query, token);
    EXPECT_EQ(r->status, 200) << query << " " << r->body;
    return r->status == 200 ? json::parse(r->body) : json::object();
  }
  std::vector<std::string> ids_;
};

TEST_F(ImageListTest, PaginationFollowsNextLinksWithoutGapsOrRepeats) {
  std::vector<std::string> seen;
  std::string next = "/v2/images?limit=3&sort_key=name&sort_dir=asc";
  int pages = 0;
  while (!next.empty() && pages < 10) {
    ASSERT_EQ(next.rfind("/v2/images?", 0), 0u) << next;  // relative to the image endpoint
    auto r = get("/image" + next, alice_);
    ASSERT_EQ(r->status, 200) << next << " " << r->body;
    json page = json::parse(r->body);
    for (const auto& n : names(page)) seen.push_back(n);
    next = page.contains("next") ? page["next"].get<std::string>() : "";
    ++pages;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, (std::vector<std::string>{"img0", "img1", "img2", "img3", "img4", "img5", "img6",
                                            "public1"}));
  // Default order is newest first.
  EXPECT_EQ(names(list("?limit=2", alice_)), (std::vector<std::string>{"public1", "img6"}));
  EXPECT_EQ(names(list("?sort=name:desc&limit=2", alice_)),
            (std::vector<std::string>{"public1", "img6"}));
  EXPECT_EQ(names(list("?sort_key=size&sort_dir=desc&limit=2", alice_)),
            (std::vector<std::string>{"img2", "img1"}));
}

TEST_F(ImageListTest, FiltersSelectImages) {
  using V = std::vector<std::string>;
  const std::string asc = "&sort_key=name&sort_dir=asc";
  EXPECT_EQ(names(list("?name=img3" + asc, alice_)), V{"img3"});
  EXPECT_EQ(names(list("?name=in:img3,img5" + asc, alice_)), (V{"img3", "img5"}));
  EXPECT_EQ(names(list("?visibility=private" + asc, alice_)), (V{"img1", "img3", "img5"}));
  EXPECT_EQ(names(list("?visibility=public" + asc, alice_)), V{"public1"});
  EXPECT_EQ(names(list("?status=active" + asc, alice_)), (V{"img1", "img2"}));
  EXPECT_EQ(names(list("?tag=gpu" + asc, alice_)), (V{"img4", "img5"}));
  EXPECT_EQ(names(list("?tag=gpu&tag=k2" + asc, alice_)), V{"img4"});
  EXPECT_EQ(names(list("?image_type=loginnode" + asc, alice_)), (V{"img0", "img1", "img2"}));
  EXPECT_EQ(names(list("?size_min=500" + asc, alice_)), V{"img2"});
  EXPECT_EQ(names(list("?size_max=500" + asc, alice_)), V{"img1"});
  // A core attribute as a plain filter compares its value (glance), not a property.
  EXPECT_EQ(names(list("?size=1000" + asc, alice_)), V{"img2"});
  EXPECT_EQ(names(list("?size=999" + asc, alice_)), V{});
  EXPECT_EQ(names(list("?min_ram=0&size=100" + asc, alice_)), V{"img1"});
  EXPECT_EQ(names(list("?member_status=all&visibility=shared&name=img0", alice_)), V{"img0"});
  EXPECT_EQ(names(list("?owner=nobody", alice_)), V{});
  EXPECT_EQ(names(list("?name=bobs", alice_)), V{});  // other projects' images stay invisible
  EXPECT_EQ(names(list("?name=bobs", admin_)), V{"bobs"});
}

TEST_F(ImageListTest, BadListParametersAre400) {
  for (const char* q :
       {"?limit=x", "?limit=-1", "?sort_key=secret", "?sort_dir=up", "?sort=name:sideways",
        "?visibility=everyone", "?member_status=x", "?size_min=big", "?os_hidden=maybe",
        "?sort=name&sort_key=id", "?marker=00000000-0000-4000-8000-000000000000"}) {
    auto r = get(std::string("/image/v2/images") + q, alice_);
    EXPECT_EQ(r->status, 400) << q << " " << r->body;
  }
}

}  // namespace
}  // namespace gpucloud::api::testing

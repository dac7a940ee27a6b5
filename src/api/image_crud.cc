// Image v2: create, show, delete and tags, and the image service's whole route table. Listing is
// in image_list.cc, JSON-patch updates in image_patch.cc, data upload/download in image_data.cc.
#include <cctype>
#include <filesystem>

#include "api/image_metadef_impl.h"

namespace gpucloud::api {
namespace image {
namespace {

bool is_uuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

Result<Reply> create(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  const Caller& caller = call.who();
  store::Image img;
  img.id = new_uuid();
  if (body->contains("id")) {
    const json& id = (*body)["id"];
    if (!id.is_string() || !is_uuid(id.get<std::string>())) {
      return bad_request(
          "Invalid value for 'id': a UUID like "
          "'8f3c1d2e-0b4a-4c5d-9e6f-7a8b9c0d1e2f' is required.");
    }
    img.id = id.get<std::string>();
    auto existing = ctx.store().get_image(img.id);
    if (existing.ok())
      return Error::conflict("Image with identifier " + img.id + " already exists!");
    if (existing.error().code != ErrorCode::kNotFound) return existing.error();
  }
  img.owner = caller.project_id;
  img.status = store::ImageStatus::kQueued;
  img.visibility = store::ImageVisibility::kShared;  // glance's default since Pike
  for (const auto& [key, value] : body->items()) {
    if (key == "id") continue;
    if (auto s = set_attribute(img, key, value, caller); !s.ok()) return s.error();
  }
  if (auto s = check_quotas(img); !s.ok()) return s.error();
  img.created_at = img.updated_at = std::chrono::system_clock::now();
  if (auto s = ctx.store().create_image(img); !s.ok()) return s.error();
  auto stored = ctx.store().get_image(img.id);
  if (!stored.ok()) return stored.error();
  Reply r = Reply::ok(image_view(*stored), 201);
  r.headers.push_back({"Location", ctx.base_url + "/image/v2/images/" + img.id});
  return r;
}

Result<Reply> show(ApiContext& ctx, Call& call) {
  auto img = find_visible(ctx, call.who(), call.param("image_id"));
  if (!img.ok()) return img.error();
  return Reply::ok(image_view(*img));
}

Result<Reply> remove(ApiContext& ctx, Call& call) {
  const std::string& id = call.param("image_id");
  auto img = find_writable(ctx, call.who(), id);
  if (!img.ok()) return img.error();
  if (img->is_protected) {
    return forbidden("Image " + id + " is protected and cannot be deleted.");
  }
  if (auto s = delete_with_data(ctx, id); !s.ok()) return s.error();
  return Reply::no_content();
}

Result<Reply> add_tag(ApiContext& ctx, Call& call) {
  auto img = find_writable(ctx, call.who(), call.param("image_id"));
  if (!img.ok()) return img.error();
  const std::string& tag = call.param("tag");
  if (tag.size() > 255) return bad_request("Invalid value for 'tag': longer than 255 characters.");
  if (std::find(img->tags.begin(), img->tags.end(), tag) != img->tags.end()) {
    return Reply::no_content();
  }
  img->tags.push_back(tag);
  if (auto s = check_quotas(*img); !s.ok()) return s.error();
  if (auto s = ctx.store().update_image(*img); !s.ok()) return s.error();
  return Reply::no_content();
}

Result<Reply> delete_tag(ApiContext& ctx, Call& call) {
  auto img = find_writable(ctx, call.who(), call.param("image_id"));
  if (!img.ok()) return img.error();
  const std::string& tag = call.param("tag");
  auto it = std::find(img->tags.begin(), img->tags.end(), tag);
  if (it == img->tags.end()) return Error::not_found("Tag " + tag + " not found.");
  img->tags.erase(it);
  if (auto s = ctx.store().update_image(*img); !s.ok()) return s.error();
  return Reply::no_content();
}

}  // namespace

std::vector<Route> crud_routes(ApiContext& ctx) {
  auto bind = [&ctx](Result<Reply> (*fn)(ApiContext&, Call&)) {
    return [&ctx, fn](Call& call) { return fn(ctx, call); };
  };
  const std::string one = "/image/v2/images/{image_id}";
  return {
      {"POST", "/image/v2/images", Service::kImage, "image:write", bind(create), {}},
      {"GET", one, Service::kImage, "image:read", bind(show), {}},
      {"DELETE", one, Service::kImage, "image:write", bind(remove), {}},
      {"PUT", one + "/tags/{tag}", Service::kImage, "image:write", bind(add_tag), {}},
      {"DELETE", one + "/tags/{tag}", Service::kImage, "image:write", bind(delete_tag), {}},
  };
}

}  // namespace image

std::vector<Route> image_routes(ApiContext& ctx) {
  std::vector<Route> routes;
  for (auto* table :
       {image::version_schema_routes, image::list_routes, image::crud_routes, image::patch_routes,
        image::data_routes, image::member_routes, image::action_routes,
        image::metadef_schema_routes, image::metadef_namespace_routes,
        image::metadef_content_routes, image::metadef_resource_type_routes}) {
    for (auto& r : table(ctx)) routes.push_back(std::move(r));
  }
  return routes;
}

}  // namespace gpucloud::api

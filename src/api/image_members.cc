// Image v2 members: the owner of a `shared` image offers it to other projects (POST, pending);
// each member accepts or rejects it (PUT, only the member itself or an admin); the owner lists
// and removes them. glance's rules (api/v2/image_members.py, api/authorization.py): a member
// sees only its own row, show answers 404 where the others answer 403, 128 members an image.
#include "api/image_impl.h"

namespace gpucloud::api::image {
namespace {

json member_view(const store::ImageMember& m) {
  return {{"image_id", m.image_id},
          {"member_id", m.member_id},
          {"status", store::to_string(m.status)},
          {"created_at", iso8601(m.created_at).substr(0, 19) + "Z"},
          {"updated_at", iso8601(m.updated_at).substr(0, 19) + "Z"},
          {"schema", "/v2/schemas/member"}};
}

bool owns(const Caller& caller, const store::Image& img) {
  return caller.is_admin() || img.owner == caller.project_id;
}

// The image behind a member route: visible to the caller (404 otherwise) and shared (403).
Result<store::Image> shared_image(ApiContext& ctx, const Caller& caller, const std::string& id) {
  auto img = find_visible(ctx, caller, id);
  if (!img.ok()) return img;
  if (img->visibility != store::ImageVisibility::kShared) {
    return forbidden("Error fetching members of image " + id +
                     ": Only shared images have members.");
  }
  return img;
}

// One member row, if the caller may look at it: the image's owner, an admin, or the member
// itself (403 for another member's row, 404 when there is no such member).
Result<store::ImageMember> find_member(ApiContext& ctx, const Caller& caller,
                                       const store::Image& img, const std::string& member_id) {
  if (!owns(caller, img) && member_id != caller.project_id) {
    return forbidden("You cannot get image member for " + member_id);
  }
  auto m = ctx.store().get_image_member(img.id, member_id);
  if (!m.ok() && m.error().code == ErrorCode::kNotFound) {
    return Error::not_found(member_id + " not found in the member list of the image " + img.id +
                            ".");
  }
  return m;
}

Result<Reply> add_member(ApiContext& ctx, Call& call) {
  const Caller& caller = call.who();
  auto img = shared_image(ctx, caller, call.param("image_id"));
  if (!img.ok()) return img.error();
  if (!owns(caller, *img)) return forbidden("You cannot add image member for " + img->id);
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (!body->contains("member")) return bad_request("Member to be added not specified");
  const json& member = (*body)["member"];
  if (!member.is_string() || member.get<std::string>().empty()) {
    return bad_request("Invalid value for 'member': a non-empty project id is required.");
  }
  if (member.get<std::string>().size() > 255) {
    return bad_request("Invalid value for 'member': longer than 255 characters.");
  }
  store::ImageMember m;
  m.image_id = img->id;
  m.member_id = member.get<std::string>();
  m.status = store::ImageMemberStatus::kPending;
  m.created_at = m.updated_at = std::chrono::system_clock::now();
  if (auto s = ctx.store().add_image_member(m, kMaxMembers); !s.ok()) {
    if (s.error().code == ErrorCode::kPayloadTooLarge) {
      return Error{ErrorCode::kPayloadTooLarge,
                   "Image member limit exceeded for image " + img->id + ": " + s.error().message};
    }
    return s.error();
  }
  auto stored = ctx.store().get_image_member(m.image_id, m.member_id);
  if (!stored.ok()) return stored.error();
  return Reply::ok(member_view(*stored));  // glance answers 200, not 201
}

Result<Reply> list_members(ApiContext& ctx, Call& call) {
  const Caller& caller = call.who();
  auto img = shared_image(ctx, caller, call.param("image_id"));
  if (!img.ok()) return img.error();
  auto rows = ctx.store().list_image_members(img->id);
  if (!rows.ok()) return rows.error();
  json members = json::array();
  for (const auto& m : *rows) {
    // A member sees its own row only: who else was offered the image is the owner's business.
    if (owns(caller, *img) || m.member_id == caller.project_id) members.push_back(member_view(m));
  }
  return Reply::ok({{"members", members}, {"schema", "/v2/schemas/members"}});
}

Result<Reply> show_member(ApiContext& ctx, Call& call) {
  auto img = shared_image(ctx, call.who(), call.param("image_id"));
  auto m = img.ok() ? find_member(ctx, call.who(), *img, call.param("member_id"))
                    : Result<store::ImageMember>(img.error());
  if (!m.ok()) {
    // glance turns a refusal into "not found" here, so that members cannot probe each other.
    if (m.error().code == ErrorCode::kForbidden) return Error::not_found(m.error().message);
    return m.error();
  }
  return Reply::ok(member_view(*m));
}

Result<Reply> update_member(ApiContext& ctx, Call& call) {
  const Caller& caller = call.who();
  const std::string& member_id = call.param("member_id");
  auto img = shared_image(ctx, caller, call.param("image_id"));
  if (!img.ok()) return img.error();
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (!body->contains("status")) return bad_request("Status not specified");
  auto m = find_member(ctx, caller, *img, member_id);
  if (!m.ok()) return m.error();
  const json& status = (*body)["status"];
  auto parsed = status.is_string() ? store::parse_image_member_status(status.get<std::string>())
                                   : Result<store::ImageMemberStatus>(Error::invalid(""));
  if (!parsed.ok()) {
    return bad_request(
        "Invalid value for 'status': it must be \"pending\", \"accepted\" or \"rejected\".");
  }
  // The answer is the member's own: the owner who offered the image cannot accept it for them.
  if (!caller.is_admin() && member_id != caller.project_id) {
    return forbidden("You cannot update image member " + member_id +
                     ": only the member itself may accept or reject the image.");
  }
  auto updated = ctx.store().set_image_member_status(img->id, member_id, *parsed);
  if (!updated.ok()) return updated.error();
  return Reply::ok(member_view(*updated));
}

Result<Reply> remove_member(ApiContext& ctx, Call& call) {
  const Caller& caller = call.who();
  const std::string& member_id = call.param("member_id");
  auto img = shared_image(ctx, caller, call.param("image_id"));
  if (!img.ok()) return img.error();
  auto m = find_member(ctx, caller, *img, member_id);
  if (!m.ok()) return m.error();
  if (!owns(caller, *img)) return forbidden("You cannot delete image member for " + img->id);
  if (auto s = ctx.store().delete_image_member(img->id, member_id); !s.ok()) {
    if (s.error().code == ErrorCode::kNotFound) {
      return Error::not_found(member_id + " not found in the member list of the image " + img->id +
                              ".");
    }
    return s.error();
  }
  return Reply::no_content();
}

}  // namespace

std::vector<Route> member_routes(ApiContext& ctx) {
  auto bind = [&ctx](Result<Reply> (*fn)(ApiContext&, Call&)) {
    return [&ctx, fn](Call& call) { return fn(ctx, call); };
  };
  const std::string all = "/image/v2/images/{image_id}/members";
  const std::string one = all + "/{member_id}";
  return {
      {"POST", all, Service::kImage, "image:write", bind(add_member), {}},
      {"GET", all, Service::kImage, "image:read", bind(list_members), {}},
      {"GET", one, Service::kImage, "image:read", bind(show_member), {}},
      {"PUT", one, Service::kImage, "image:write", bind(update_member), {}},
      {"DELETE", one, Service::kImage, "image:write", bind(remove_member), {}},
  };
}

}  // namespace gpucloud::api::image

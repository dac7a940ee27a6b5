// Image v2 actions: deactivate and reactivate (glance's api/v2/image_actions.py). An admin or
// the owner's members (glance's default policy ADMIN_OR_PROJECT_MEMBER) may take an active image
// out of use: it stays listed and readable, but only admins may download its data, and nothing
// boots from it (server create wants an active image). Each action is idempotent on the status
// it leads to; any other status is refused.
#include "api/image_impl.h"

namespace gpucloud::api::image {
namespace {

// `from` -> `to`, or nothing when the image is at `to` already. glance answers 403 for other
// statuses (its domain model raises Forbidden); gpucloud answers 400, the request being wrong
// for the image's state rather than for the caller.
Result<Reply> transition(ApiContext& ctx, Call& call, const char* action, store::ImageStatus from,
                         store::ImageStatus to) {
  const std::string& id = call.param("image_id");
  auto img = find_writable(ctx, call.who(), id);
  if (!img.ok()) return img.error();
  if (img->status == to) return Reply::no_content();
  if (img->status != from) {
    return bad_request(std::string("Not allowed to ") + action + " image in status '" +
                       store::to_string(img->status) + "'");
  }
  // Compare-and-set: an upload, delete or the opposite action in between wins, and this one
  // reports the conflict instead of writing back a status read before it.
  if (auto s = ctx.store().set_image_status(id, from, to); !s.ok()) {
    if (s.error().code == ErrorCode::kNotFound) {
      return Error::not_found("No image found with ID " + id);
    }
    return s.error();
  }
  return Reply::no_content();
}

Result<Reply> deactivate(ApiContext& ctx, Call& call) {
  return transition(ctx, call, "deactivate", store::ImageStatus::kActive,
                    store::ImageStatus::kDeactivated);
}

Result<Reply> reactivate(ApiContext& ctx, Call& call) {
  return transition(ctx, call, "reactivate", store::ImageStatus::kDeactivated,
                    store::ImageStatus::kActive);
}

}  // namespace

std::vector<Route> action_routes(ApiContext& ctx) {
  const std::string one = "/image/v2/images/{image_id}/actions";
  return {
      {"POST",
       one + "/deactivate",
       Service::kImage,
       "image:write",
       [&ctx](Call& call) { return deactivate(ctx, call); },
       {}},
      {"POST",
       one + "/reactivate",
       Service::kImage,
       "image:write",
       [&ctx](Call& call) { return reactivate(ctx, call); },
       {}},
  };
}

}  // namespace gpucloud::api::image

// PATCH /v2/images/{id} with glance's JSON patch (media type
// application/openstack-images-v2.1-json-patch): add / replace / remove of core attributes and
// custom properties. The operations apply to a copy; the store sees it only if all of them pass.
#include "api/image_impl.h"

namespace gpucloud::api::image {
namespace {

bool is_patch_media_type(const std::string& content_type) {
  for (const char* t : {"application/openstack-images-v2.1-json-patch",
                        "application/openstack-images-v2.0-json-patch"}) {
    if (content_type.rfind(t, 0) == 0) return true;
  }
  return false;
}

// "/hw_video_model" -> "hw_video_model", decoding JSON pointer escapes (~1 is '/', ~0 is '~').
Result<std::string> attribute_of(const std::string& path) {
  if (path.size() < 2 || path[0] != '/') {
    return bad_request("Invalid JSON pointer for this resource: '" + path + "'.");
  }
  std::string out;
  for (size_t i = 1; i < path.size(); ++i) {
    if (path[i] == '/') {
      const std::string root = out;
      if (is_read_only(root) || is_reserved(root)) {
        return forbidden("Attribute '" + root + "' is read-only.");
      }
      return bad_request("Invalid JSON pointer for this resource: '" + path +
                         "': nested paths are not supported.");
    }
    if (path[i] == '~') {
      if (i + 1 < path.size() && (path[i + 1] == '0' || path[i + 1] == '1')) {
        out += path[i + 1] == '0' ? '~' : '/';
        ++i;
        continue;
      }
      return bad_request("Invalid JSON pointer for this resource: '" + path + "'.");
    }
    out += path[i];
  }
  return out;
}

Status apply(store::Image& img, const json& op, const Caller& caller) {
  if (!op.is_object() || !op.contains("op") || !op["op"].is_string() || !op.contains("path") ||
      !op["path"].is_string()) {
    return bad_request(
        "Operation objects must contain a string member named 'op' and one named "
        "'path'.");
  }
  const std::string kind = op["op"];
  if (kind != "add" && kind != "replace" && kind != "remove") {
    return bad_request("Invalid operation: '" + kind +
                       "'. It must be one of add, replace, remove.");
  }
  auto key = attribute_of(op["path"]);
  if (!key.ok()) return key.error();
  if (is_reserved(*key)) return forbidden("Attribute '" + *key + "' is reserved.");
  if (is_read_only(*key)) return forbidden("Attribute '" + *key + "' is read-only.");
  const bool custom = !is_core(*key);
  if (kind == "remove") {
    if (!custom)
      return forbidden("Attribute '" + *key + "' is a core attribute and cannot be removed.");
    if (!img.properties.erase(*key)) {
      return Error::conflict("Property " + *key + " does not exist.");
    }
    return {};
  }
  if (!op.contains("value")) {
    return bad_request("Operation '" + kind + "' on '" + *key + "' needs a member named 'value'.");
  }
  if (kind == "replace" && custom && !img.properties.count(*key)) {
    return Error::conflict("Property " + *key + " does not exist.");
  }
  if ((*key == "disk_format" || *key == "container_format") &&
      img.status != store::ImageStatus::kQueued) {
    const std::string current = *key == "disk_format" ? img.disk_format : img.container_format;
    if (!(op["value"].is_string() && op["value"].get<std::string>() == current)) {
      return forbidden("Attribute " + *key + " can be only replaced for a queued image.");
    }
  }
  return set_attribute(img, *key, op["value"], caller);
}

Result<Reply> patch(ApiContext& ctx, Call& call) {
  const std::string content_type = call.req.header("Content-Type");
  if (!is_patch_media_type(content_type)) {
    return error_reply(415, "Unsupported Media Type",
                       "Unsupported Content-Type '" + content_type +
                           "': use application/openstack-images-v2.1-json-patch.");
  }
  if (call.req.body.empty())
    return bad_request("The request body is empty; a JSON patch is required.");
  json ops = json::parse(call.req.body, nullptr, /*allow_exceptions=*/false);
  if (ops.is_discarded()) return bad_request("Malformed request body: the body is not valid JSON.");
  if (!ops.is_array()) {
    return bad_request("Malformed request body: a JSON patch (a list of operations) is required.");
  }
  // The older media type (v2.0) spells each operation as {"replace": "/name", "value": ...}.
  if (content_type.rfind("application/openstack-images-v2.0-json-patch", 0) == 0) {
    for (auto& op : ops) {
      if (!op.is_object() || op.contains("op")) continue;
      for (const char* name : {"add", "remove", "replace"}) {
        if (op.contains(name) && op[name].is_string()) {
          op["path"] = op[name];
          op["op"] = name;
          op.erase(name);
          break;
        }
      }
    }
  }
  auto img = find_writable(ctx, call.who(), call.param("image_id"));
  if (!img.ok()) return img.error();
  store::Image changed = *img;
  for (const auto& op : ops) {
    if (auto s = apply(changed, op, call.who()); !s.ok()) return s.error();
  }
  if (auto s = check_quotas(changed); !s.ok()) return s.error();
  if (auto s = ctx.store().update_image(changed); !s.ok()) return s.error();
  auto stored = ctx.store().get_image(changed.id);
  if (!stored.ok()) return stored.error();
  return Reply::ok(image_view(*stored));
}

}  // namespace

std::vector<Route> patch_routes(ApiContext& ctx) {
  return {{"PATCH",
           "/image/v2/images/{image_id}",
           Service::kImage,
           "image:write",
           [&ctx](Call& call) { return patch(ctx, call); },
           {}}};
}

}  // namespace gpucloud::api::image

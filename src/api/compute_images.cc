// Compute v2.1's image API (nova's proxy to glance, deprecated at 2.36 but served at 2.1):
// /images, /images/detail, /images/{id} and its metadata, answered from the same images and with
// the same visibility as the image API (image_impl.h). Metadata is the image's custom properties.
#include <fmt/format.h>

#include "api/compute_impl.h"
#include "api/image_impl.h"

namespace gpucloud::api {
namespace {

// nova's mapping of glance's statuses, and the progress it shows for each.
const char* nova_status(store::ImageStatus s) {
  switch (s) {
    case store::ImageStatus::kActive:
      return "ACTIVE";
    case store::ImageStatus::kQueued:
    case store::ImageStatus::kSaving:
    case store::ImageStatus::kImporting:
      return "SAVING";
    case store::ImageStatus::kDeleted:
    case store::ImageStatus::kPendingDelete:
      return "DELETED";
    case store::ImageStatus::kKilled:
      return "ERROR";
    case store::ImageStatus::kDeactivated:
      return "UNKNOWN";  // nova's proxy has no name for it either
  }
  return "UNKNOWN";
}

int progress(store::ImageStatus s) {
  switch (s) {
    case store::ImageStatus::kActive:
      return 100;
    case store::ImageStatus::kQueued:
      return 25;
    case store::ImageStatus::kSaving:
      return 50;
    default:
      return 0;
  }
}

json image_links(const ApiContext& ctx, const std::string& id) {
  json links = link_list(ctx.base_url, "/images/" + id);
  links.push_back({{"rel", "alternate"},
                   {"type", "application/vnd.openstack.image"},
                   {"href", ctx.base_url + "/image/images/" + id}});
  return links;
}

json nova_image(const ApiContext& ctx, const store::Image& img, bool detail) {
  json j = {{"id", img.id}, {"name", img.name}, {"links", image_links(ctx, img.id)}};
  if (!detail) return j;
  j["status"] = nova_status(img.status);
  j["progress"] = progress(img.status);
  j["minDisk"] = img.min_disk;
  j["minRam"] = img.min_ram;
  j["created"] = nova_time(img.created_at);
  j["updated"] = nova_time(img.updated_at == store::TimePoint{} ? img.created_at : img.updated_at);
  j["metadata"] = img.properties;
  j["OS-EXT-IMG-SIZE:size"] = img.size ? json(*img.size) : json(nullptr);
  // A snapshot names its server (nova: the instance_uuid property).
  if (auto it = img.properties.find("instance_uuid"); it != img.properties.end()) {
    j["server"] = {{"id", it->second},
                   {"links", link_list(ctx.base_url, "/servers/" + it->second)}};
  }
  return j;
}

// nova's filters: name, status (its own spelling), minDisk, minRam, server, type (the
// image_type property), changes-since is not taken; limit and marker page by id order.
Result<Reply> list_images(ApiContext& ctx, Call& call, bool detail) {
  auto all = ctx.store().list_images();
  if (!all.ok()) return all.error();
  auto number = [&](const char* key) -> Result<std::optional<int64_t>> {
    auto v = call.query(key);
    if (!v) return std::optional<int64_t>();
    try {
      size_t used = 0;
      const int64_t n = std::stoll(*v, &used);
      if (used == v->size() && n >= 0) return std::optional<int64_t>(n);
    } catch (const std::exception&) {
    }
    return bad_request(fmt::format("Invalid {} filter [{}]", key, *v));
  };
  auto min_disk = number("minDisk");
  if (!min_disk.ok()) return min_disk.error();
  auto min_ram = number("minRam");
  if (!min_ram.ok()) return min_ram.error();
  auto limit = number("limit");
  if (!limit.ok()) return limit.error();
  const auto name = call.query("name");
  const auto status = call.query("status");
  const auto server = call.query("server");
  const auto type = call.query("type");
  const auto marker = call.query("marker");
  std::sort(all->begin(), all->end(), [](const store::Image& a, const store::Image& b) {
    return a.created_at > b.created_at;
  });
  // nova asks glance for its default list: shared images of members that accepted them.
  auto mine = image::memberships_of(ctx, call.who());
  if (!mine.ok()) return mine.error();
  json list = json::array();
  bool after_marker = !marker;
  bool marker_seen = false;
  for (const auto& img : *all) {
    if (!image::can_see(call.who(), img, *mine, store::ImageMemberStatus::kAccepted)) continue;
    if (!after_marker) {
      if (img.id == *marker) after_marker = marker_seen = true;
      continue;
    }
    auto prop = [&](const char* k) {
      auto it = img.properties.find(k);
      return it == img.properties.end() ? std::string() : it->second;
    };
    if (name && img.name != *name) continue;
    if (status && *status != nova_status(img.status)) continue;
    if (*min_disk && img.min_disk < **min_disk) continue;
    if (*min_ram && img.min_ram < **min_ram) continue;
    if (server && prop("instance_uuid") != *server &&
        server->find("/servers/" + prop("instance_uuid")) == std::string::npos) {
      continue;
    }
    if (type && prop("image_type") != *type) continue;
    if (*limit && list.size() >= static_cast<size_t>(**limit)) break;
    list.push_back(nova_image(ctx, img, detail));
  }
  if (marker && !marker_seen) return bad_request("marker [" + *marker + "] not found");
  return Reply::ok({{"images", list}});
}

// nova's "Image not found." for an image the caller cannot see; 403 for one it sees and does
// not own (writable).
Result<store::Image> visible(ApiContext& ctx, Call& call) {
  auto img = image::find_visible(ctx, call.who(), call.param("image_id"));
  if (!img.ok() && img.error().code == ErrorCode::kNotFound) {
    return Error::not_found("Image not found.");
  }
  return img;
}

Result<store::Image> writable(ApiContext& ctx, Call& call) {
  auto img = image::find_writable(ctx, call.who(), call.param("image_id"));
  if (!img.ok() && img.error().code == ErrorCode::kNotFound) {
    return Error::not_found("Image not found.");
  }
  return img;
}

// The metadata routes change the image's custom properties as glance's PATCH does (same
// validation: reserved and core names are refused, glance's property quota applies).
Result<json> metadata_body(Call& call, const char* key) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto m = body_member(*body, key);
  if (!m.ok()) return m.error();
  for (auto it = m->begin(); it != m->end(); ++it) {
    if (!it->is_string()) {
      return bad_request(
          fmt::format("Invalid input for field/attribute {}. Value: {}. {} is not "
                      "of type 'string'",
                      it.key(), it->dump(), it->dump()));
    }
  }
  return *m;
}

Status set_properties(ApiContext& ctx, Call& call, store::Image& img, const json& values) {
  for (auto it = values.begin(); it != values.end(); ++it) {
    if (image::is_core(it.key()) || image::is_read_only(it.key()) || image::is_reserved(it.key())) {
      return forbidden("Attribute '" + it.key() + "' is reserved or read-only.");
    }
    if (auto s = image::set_attribute(img, it.key(), *it, call.who()); !s.ok()) return s;
  }
  if (auto s = image::check_quotas(img); !s.ok()) return s;
  return ctx.store().update_image(img);
}

Result<Reply> change_metadata(ApiContext& ctx, Call& call, bool replace) {
  auto img = writable(ctx, call);
  if (!img.ok()) return img.error();
  auto values = metadata_body(call, "metadata");
  if (!values.ok()) return values.error();
  if (replace) img->properties.clear();
  if (auto s = set_properties(ctx, call, *img, *values); !s.ok()) return s.error();
  return Reply::ok({{"metadata", img->properties}});
}

Result<Reply> set_item(ApiContext& ctx, Call& call) {
  auto img = writable(ctx, call);
  if (!img.ok()) return img.error();
  auto meta = metadata_body(call, "meta");
  if (!meta.ok()) return meta.error();
  const std::string& key = call.param("key");
  if (meta->size() != 1 || !meta->contains(key)) {
    return bad_request("Request body and URI mismatch");
  }
  if (auto s = set_properties(ctx, call, *img, *meta); !s.ok()) return s.error();
  return Reply::ok({{"meta", *meta}});
}

Result<Reply> delete_item(ApiContext& ctx, Call& call) {
  auto img = writable(ctx, call);
  if (!img.ok()) return img.error();
  const std::string& key = call.param("key");
  if (img->properties.erase(key) == 0) {
    return Error::not_found("Image " + img->id + " has no metadata with key " + key + ".");
  }
  if (auto s = ctx.store().update_image(*img); !s.ok()) return s.error();
  return Reply::no_content();
}

Result<Reply> delete_image(ApiContext& ctx, Call& call) {
  auto img = writable(ctx, call);
  if (!img.ok()) return img.error();
  if (img->is_protected) return forbidden("Image " + img->id + " is protected.");
  if (auto s = image::delete_with_data(ctx, img->id); !s.ok()) return s.error();
  return Reply::no_content();
}

}  // namespace

std::vector<Route> compute_image_routes(ApiContext& ctx) {
  ApiContext* c = &ctx;
  const std::string images = kCompute + "/images";
  const std::string one = images + "/{image_id}";
  const std::string meta = one + "/metadata";
  auto show = [c](Call& call) -> Result<Reply> {
    auto img = visible(*c, call);
    if (!img.ok()) return img.error();
    return Reply::ok({{"image", nova_image(*c, *img, true)}});
  };
  auto show_meta = [c](Call& call) -> Result<Reply> {
    auto img = visible(*c, call);
    if (!img.ok()) return img.error();
    return Reply::ok({{"metadata", img->properties}});
  };
  auto show_item = [c](Call& call) -> Result<Reply> {
    auto img = visible(*c, call);
    if (!img.ok()) return img.error();
    auto it = img->properties.find(call.param("key"));
    if (it == img->properties.end()) {
      return Error::not_found("Image " + img->id + " has no metadata with key " +
                              call.param("key") + ".");
    }
    return Reply::ok({{"meta", {{it->first, it->second}}}});
  };
  std::vector<Route> r;
  r.push_back({"GET",
               images,
               Service::kCompute,
               "compute:read",
               [c](Call& call) { return list_images(*c, call, false); },
               {}});
  r.push_back({"GET",
               images + "/detail",
               Service::kCompute,
               "compute:read",
               [c](Call& call) { return list_images(*c, call, true); },
               {}});
  r.push_back({"GET", one, Service::kCompute, "compute:read", show, {}});
  r.push_back({"DELETE",
               one,
               Service::kCompute,
               "image:write",
               [c](Call& call) { return delete_image(*c, call); },
               {}});
  r.push_back({"GET", meta, Service::kCompute, "compute:read", show_meta, {}});
  r.push_back({"POST",
               meta,
               Service::kCompute,
               "image:write",
               [c](Call& call) { return change_metadata(*c, call, false); },
               {}});
  r.push_back({"PUT",
               meta,
               Service::kCompute,
               "image:write",
               [c](Call& call) { return change_metadata(*c, call, true); },
               {}});
  r.push_back({"GET", meta + "/{key}", Service::kCompute, "compute:read", show_item, {}});
  r.push_back({"PUT",
               meta + "/{key}",
               Service::kCompute,
               "image:write",
               [c](Call& call) { return set_item(*c, call); },
               {}});
  r.push_back({"DELETE",
               meta + "/{key}",
               Service::kCompute,
               "image:write",
               [c](Call& call) { return delete_item(*c, call); },
               {}});
  end_at_2_35(r);  // glance serves images
  return r;
}

void end_at_2_35(std::vector<Route>& routes) {
  for (Route& route : routes) {
    route.handler = [h = std::move(route.handler)](Call& call) -> Result<Reply> {
      if (call.microversion.at_least(2, 36)) {
        return Error::not_found("The resource could not be found.");
      }
      return h(call);
    };
  }
}

}  // namespace gpucloud::api

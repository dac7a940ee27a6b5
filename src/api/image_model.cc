// The image as glance shows it, who may see and change it, and the validation of every attribute
// a create or a JSON patch may set — one place, so both answer with the same errors.
#include <algorithm>
#include <set>

#include "api/image_impl.h"
#include "api/policy_impl.h"
#include "api/validation_impl.h"

namespace gpucloud::api::image {
namespace {

const std::set<std::string> kReadOnly = {
    "checksum", "created_at", "direct_url", "file",   "id",         "os_hash_algo", "os_hash_value",
    "schema",   "self",       "size",       "status", "updated_at", "locations",    "virtual_size"};
const std::set<std::string> kReserved = {"deleted", "deleted_at", "is_public", "location"};
const std::set<std::string> kCore = {"name",        "visibility",      "protected", "os_hidden",
                                     "min_disk",    "min_ram",         "tags",      "owner",
                                     "disk_format", "container_format"};
const std::set<std::string> kDiskFormats = {"ami", "ari",   "aki", "vhd", "vhdx", "vmdk",
                                            "raw", "qcow2", "vdi", "iso", "ploop"};
const std::set<std::string> kContainerFormats = {"ami", "ari", "aki",    "bare",
                                                 "ovf", "ova", "docker", "compressed"};
constexpr size_t kMaxNameLength = 255;
constexpr size_t kMaxValueLength = 65535;

json nullable(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

Error invalid_field(const std::string& key, const std::string& why) {
  return bad_request("Invalid value for '" + key + "': " + why);
}

Result<std::optional<std::string>> nullable_string(const std::string& key, const json& v,
                                                   size_t max_len) {
  if (v.is_null()) return std::optional<std::string>();
  if (!v.is_string()) return invalid_field(key, "a string or null is required.");
  auto s = v.get<std::string>();
  if (s.size() > max_len) {
    return invalid_field(key, "longer than " + std::to_string(max_len) + " characters.");
  }
  return std::optional<std::string>(s);
}

Result<std::string> enum_value(const std::string& key, const json& v,
                               const std::set<std::string>& allowed) {
  auto s = nullable_string(key, v, kMaxNameLength);
  if (!s.ok()) return s.error();
  if (!*s) return std::string();
  if (!allowed.count(**s)) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    return invalid_field(key, "'" + **s + "' is not one of " + list + ".");
  }
  return **s;
}

Result<int64_t> non_negative(const std::string& key, const json& v) {
  if (!v.is_number_integer()) return invalid_field(key, "an integer is required.");
  const int64_t n = v.get<int64_t>();
  if (n < 0) return invalid_field(key, "cannot be a negative value.");
  if (n > INT32_MAX) return invalid_field(key, "larger than 2147483647.");
  return n;
}

Result<bool> boolean(const std::string& key, const json& v) {
  if (!v.is_boolean()) return invalid_field(key, "a boolean is required.");
  return v.get<bool>();
}

}  // namespace

json image_view(const store::Image& img) {
  json j = {{"id", img.id},
            {"name", nullable(img.name)},
            {"status", store::to_string(img.status)},
            {"visibility", store::to_string(img.visibility)},
            {"protected", img.is_protected},
            {"os_hidden", img.os_hidden},
            {"checksum", nullable(img.checksum)},
            {"os_hash_algo", nullable(img.os_hash_algo)},
            {"os_hash_value", nullable(img.os_hash_value)},
            {"owner", nullable(img.owner)},
            {"size", img.size ? json(*img.size) : json(nullptr)},
            {"virtual_size", img.virtual_size ? json(*img.virtual_size) : json(nullptr)},
            {"min_ram", img.min_ram},
            {"min_disk", img.min_disk},
            {"disk_format", nullable(img.disk_format)},
            {"container_format", nullable(img.container_format)},
            {"created_at", iso8601(img.created_at).substr(0, 19) + "Z"},
            {"updated_at", iso8601(img.updated_at).substr(0, 19) + "Z"},
            {"tags", img.tags},
            {"self", "/v2/images/" + img.id},
            {"file", "/v2/images/" + img.id + "/file"},
            {"schema", "/v2/schemas/image"}};
  for (const auto& [k, v] : img.properties) {
    if (!j.contains(k)) j[k] = v;
  }
  return j;
}

Result<Memberships> memberships_of(ApiContext& ctx, const Caller& caller) {
  Memberships out;
  if (caller.is_admin() || caller.project_id.empty()) return out;  // admins see every image
  auto rows = ctx.store().list_memberships(caller.project_id);
  if (!rows.ok()) return rows.error();
  for (const auto& m : *rows) out[m.image_id] = m.status;
  return out;
}

bool can_see(const Caller& caller, const store::Image& img, const Memberships& memberships,
             std::optional<store::ImageMemberStatus> member_status) {
  if (caller.is_admin() || img.owner == caller.project_id ||
      img.visibility == store::ImageVisibility::kPublic ||
      img.visibility == store::ImageVisibility::kCommunity) {
    return true;
  }
  // Members of an image made private again keep their rows (glance keeps them too), but see
  // nothing until it is shared again.
  if (img.visibility != store::ImageVisibility::kShared) return false;
  auto it = memberships.find(img.id);
  return it != memberships.end() && (!member_status || it->second == *member_status);
}

Result<store::Image> find_visible(ApiContext& ctx, const Caller& caller, const std::string& id) {
  auto img = ctx.store().get_image(id);
  if (!img.ok()) {
    if (img.error().code == ErrorCode::kNotFound) {
      return Error::not_found("No image found with ID " + id);
    }
    return img.error();
  }
  Memberships mine;
  if (!caller.is_admin() && img->owner != caller.project_id &&
      img->visibility == store::ImageVisibility::kShared) {
    auto m = ctx.store().get_image_member(id, caller.project_id);
    if (m.ok()) mine[id] = m->status;
    if (!m.ok() && m.error().code != ErrorCode::kNotFound) return m.error();
  }
  if (!can_see(caller, *img, mine)) return Error::not_found("No image found with ID " + id);
  return img;
}

Result<store::Image> find_writable(ApiContext& ctx, const Caller& caller, const std::string& id) {
  auto img = find_visible(ctx, caller, id);
  if (!img.ok()) return img;
  if (!caller.is_admin() && img->owner != caller.project_id) {
    return forbidden("You are not permitted to modify image " + id +
                     ": it belongs to another "
                     "project.");
  }
  return img;
}

bool is_read_only(const std::string& key) { return kReadOnly.count(key) > 0; }
bool is_reserved(const std::string& key) { return kReserved.count(key) > 0; }
bool is_core(const std::string& key) { return kCore.count(key) > 0; }

Status set_attribute(store::Image& img, const std::string& key, const json& value,
                     const Caller& caller) {
  if (is_reserved(key)) return forbidden("Attribute '" + key + "' is reserved.");
  if (is_read_only(key)) return forbidden("Attribute '" + key + "' is read-only.");
  if (key == "name") {
    auto s = nullable_string(key, value, kMaxNameLength);
    if (!s.ok()) return s.error();
    if (auto c = check_name(s->value_or(""), "name", {kMaxNameLength, true, true}); !c.ok()) {
      return c.error();
    }
    img.name = s->value_or("");
  } else if (key == "visibility") {
    auto v = value.is_string() ? store::parse_image_visibility(value.get<std::string>())
                               : Result<store::ImageVisibility>(Error::invalid(""));
    if (!v.ok()) {
      return invalid_field(key, "must be one of public, private, shared, community.");
    }
    if (*v == store::ImageVisibility::kPublic && img.visibility != *v) {
      if (!authorize(caller, *find_rule("image:publicize")).ok()) {
        return forbidden(
            "You are not authorized to complete publicize_image action: only "
            "admins may make images public.");
      }
    }
    img.visibility = *v;
  } else if (key == "disk_format") {
    auto s = enum_value(key, value, kDiskFormats);
    if (!s.ok()) return s.error();
    img.disk_format = *s;
  } else if (key == "container_format") {
    auto s = enum_value(key, value, kContainerFormats);
    if (!s.ok()) return s.error();
    img.container_format = *s;
  } else if (key == "min_disk" || key == "min_ram") {
    auto n = non_negative(key, value);
    if (!n.ok()) return n.error();
    (key == "min_disk" ? img.min_disk : img.min_ram) = *n;
  } else if (key == "protected" || key == "os_hidden") {
    auto b = boolean(key, value);
    if (!b.ok()) return b.error();
    (key == "protected" ? img.is_protected : img.os_hidden) = *b;
  } else if (key == "tags") {
    if (!value.is_array()) return invalid_field(key, "a list of strings is required.");
    std::vector<std::string> tags;
    for (const auto& t : value) {
      if (!t.is_string()) return invalid_field(key, "a list of strings is required.");
      const auto s = t.get<std::string>();
      if (s.empty() || s.size() > kMaxNameLength) {
        return invalid_field(key, "each tag must have 1 to 255 characters.");
      }
      if (std::find(tags.begin(), tags.end(), s) == tags.end()) tags.push_back(s);
    }
    img.tags = tags;
  } else if (key == "owner") {
    auto s = nullable_string(key, value, kMaxNameLength);
    if (!s.ok()) return s.error();
    const std::string owner = s->value_or("");
    if (owner != img.owner && !caller.is_admin()) {
      return forbidden("You are not permitted to change the owner of an image.");
    }
    img.owner = owner;
  } else {
    if (key.empty() || key.size() > kMaxNameLength) {
      return bad_request("Invalid property name '" + key.substr(0, 64) +
                         "': it must have 1 to 255 characters.");
    }
    if (!value.is_string()) {
      return bad_request("Invalid value for property '" + cut(key) + "': a string is required.");
    }
    if (auto c = check_name(key, "property name", {kMaxNameLength, false, true}); !c.ok()) {
      return c.error();
    }
    auto s = value.get<std::string>();
    if (auto c = check_text(s, key, kMaxValueLength); !c.ok()) return c.error();
    if (s.size() > kMaxValueLength) {
      return bad_request("Invalid value for property '" + key + "': longer than 65535 characters.");
    }
    img.properties[key] = s;
  }
  return {};
}

Status check_quotas(const store::Image& img) {
  if (img.properties.size() > kMaxProperties) {
    return Error{ErrorCode::kPayloadTooLarge, "Attempted to add more properties than allowed (" +
                                                  std::to_string(kMaxProperties) + ")."};
  }
  if (img.tags.size() > kMaxTags) {
    return Error{ErrorCode::kPayloadTooLarge,
                 "Attempted to add more tags than allowed (" + std::to_string(kMaxTags) + ")."};
  }
  return {};
}

Reply error_reply(int status, const std::string& title, const std::string& message) {
  return Reply::ok({{"error", {{"code", status}, {"title", title}, {"message", message}}}}, status);
}

std::filesystem::path image_dir(const ApiContext& ctx) {
  return std::filesystem::path(ctx.options.data_dir) / "images";
}

std::filesystem::path image_file(const ApiContext& ctx, const std::string& id) {
  return image_dir(ctx) / id;
}

}  // namespace gpucloud::api::image

// Internal to api/: glance's Image v2 API, shared by the image_*.cc files — the image's JSON
// representation, who may see or change an image, attribute validation shared by create and
// PATCH, and the streamed data's digests.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/router_impl.h"

namespace gpucloud::api::image {

// Route tables, one per file; image_routes() in image_crud.cc joins them.
std::vector<Route> version_schema_routes(ApiContext& ctx);  // image_versions_schemas.cc
std::vector<Route> crud_routes(ApiContext& ctx);            // image_crud.cc
std::vector<Route> list_routes(ApiContext& ctx);            // image_list.cc
std::vector<Route> patch_routes(ApiContext& ctx);           // image_patch.cc
std::vector<Route> data_routes(ApiContext& ctx);            // image_data.cc
std::vector<Route> member_routes(ApiContext& ctx);          // image_members.cc
std::vector<Route> action_routes(ApiContext& ctx);          // image_actions.cc

// glance's image schema (what GET /v2/schemas/image answers).
const json& image_schema();

// The image as glance shows it: core fields (null when unset), custom properties flattened
// beside them, and the self/file/schema links relative to the image endpoint.
json image_view(const store::Image& img);

// The caller's project's memberships of shared images: image id -> its answer there.
using Memberships = std::map<std::string, store::ImageMemberStatus>;
Result<Memberships> memberships_of(ApiContext& ctx, const Caller& caller);

// Visibility, glance's is_image_visible: admins see everything; others see their project's
// images, public and community ones, and `shared` images their project is a member of. A member
// in any status may look at the image (show, download, boot: it has to see what it is asked to
// accept), which `member_status` nullopt asks for; lists show only the members whose answer is
// `member_status` (glance's filter, `accepted` unless asked otherwise).
bool can_see(const Caller& caller, const store::Image& img, const Memberships& memberships,
             std::optional<store::ImageMemberStatus> member_status = std::nullopt);
// Loads an image the caller may see (a member in any status included); anything else is "not
// found", so ids of others do not leak. Compute's image proxy and server create use it too.
Result<store::Image> find_visible(ApiContext& ctx, const Caller& caller, const std::string& id);
// As find_visible, and the caller must own it (or be admin): a visible image of another project
// is 403, as glance answers.
Result<store::Image> find_writable(ApiContext& ctx, const Caller& caller, const std::string& id);

// Core attributes a request may never set (glance answers 403 "Attribute 'x' is read-only.").
bool is_read_only(const std::string& key);
// Attribute names glance reserves (403 "Attribute 'x' is reserved.").
bool is_reserved(const std::string& key);
// Core attributes that live in their own Image fields rather than in properties.
bool is_core(const std::string& key);

// Sets one attribute (core or custom property) from a request value, validating it and naming
// the field in the error. Checks read-only / reserved names and the publicize policy too.
Status set_attribute(store::Image& img, const std::string& key, const json& value,
                     const Caller& caller);
// glance's limit of custom properties per image (image_property_quota).
constexpr size_t kMaxProperties = 128;
constexpr size_t kMaxTags = 128;
// glance's image_member_quota: members per image.
constexpr size_t kMaxMembers = 128;
Status check_quotas(const store::Image& img);

// A reply carrying an error status our ErrorCode has no name for (415), in the image shape.
Reply error_reply(int status, const std::string& title, const std::string& message);

// Where image data lives: <data_dir>/images/<id>.
std::filesystem::path image_dir(const ApiContext& ctx);
std::filesystem::path image_file(const ApiContext& ctx, const std::string& id);
// Streams an active image's data (204 without data), Content-MD5 set; no visibility check: the
// caller decided (image download, or an agent caching a base image for a spawn).
Result<Reply> stream_data(ApiContext& ctx, Call& call, const store::Image& image);

// PUT /gpucloud/v1/agent/hosts/{host}/snapshots/{image_id}: an agent uploads the snapshot of a
// server its host is shelving (image property instance_uuid, task_state shelving); nothing else.
Result<std::unique_ptr<Upload>> begin_snapshot_upload(ApiContext& ctx, Call& call);
// The data of queued image `id` from the local file `path` (moved away): what an upload does, for
// the in-process hosts' snapshots.
Status import_file(ApiContext& ctx, const std::string& id, const std::string& path);
// The image record, then its data; an image already gone is not an error.
Status delete_with_data(ApiContext& ctx, const std::string& id);

// Lower-case hex of a digest (os_hash_value); the MD5 `checksum` is core's Md5.
std::string to_hex(const uint8_t* data, size_t len);

}  // namespace gpucloud::api::image

// Image v2 version discovery and the JSON schemas glance serves (image, images, member,
// members). The glance client reads /versions to choose v2, builds `image-create` /
// `image-update` options and validates every image it receives (warlock) against
// /v2/schemas/image, so the schema lists exactly the representation image_view() produces;
// custom properties are strings (additionalProperties).
#include <fmt/format.h>

#include "api/image_impl.h"

namespace gpucloud::api::image {
namespace {

// glance's 2.x minor versions; the newest is CURRENT, the older ones SUPPORTED.
constexpr int kCurrentMinor = 9;

json versions(const ApiContext& ctx) {
  json list = json::array();
  for (int minor = kCurrentMinor; minor >= 0; --minor) {
    list.push_back({{"id", fmt::format("v2.{}", minor)},
                    {"status", minor == kCurrentMinor ? "CURRENT" : "SUPPORTED"},
                    {"links", {{{"rel", "self"}, {"href", ctx.base_url + "/image/v2/"}}}}});
  }
  return {{"versions", list}};
}

const char* const kUuidPattern =
    "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$";

json build_image_schema() {
  auto nullable = [](const char* type) { return json::array({"null", type}); };
  auto read_only = [](json p) {
    p["readOnly"] = true;
    return p;
  };
  json props = {
      {"id",
       {{"type", "string"},
        {"pattern", kUuidPattern},
        {"description", "An identifier for the image"}}},
      {"name",
       {{"type", nullable("string")},
        {"maxLength", 255},
        {"description", "Descriptive name for the image"}}},
      {"status", read_only({{"type", "string"},
                            {"enum",
                             {"queued", "saving", "active", "killed", "deleted", "uploading",
                              "importing", "pending_delete", "deactivated"}},
                            {"description", "Status of the image"}})},
      {"visibility",
       {{"type", "string"},
        {"enum", {"community", "public", "private", "shared"}},
        {"description", "Scope of image accessibility"}}},
      {"protected",
       {{"type", "boolean"}, {"description", "If true, image will not be deletable."}}},
      {"os_hidden",
       {{"type", "boolean"},
        {"description", "If true, image will not appear in default image list response."}}},
      {"checksum", read_only({{"type", nullable("string")},
                              {"maxLength", 32},
                              {"description", "md5 hash of image contents."}})},
      {"os_hash_algo", read_only({{"type", nullable("string")},
                                  {"maxLength", 64},
                                  {"description", "Algorithm to calculate the os_hash_value"}})},
      {"os_hash_value", read_only({{"type", nullable("string")},
                                   {"maxLength", 128},
                                   {"description",
                                    "Hexdigest of the image contents using the algorithm specified "
                                    "by the os_hash_algo"}})},
      {"owner",
       {{"type", nullable("string")}, {"maxLength", 255}, {"description", "Owner of the image"}}},
      {"size",
       read_only({{"type", nullable("integer")}, {"description", "Size of image file in bytes"}})},
      {"virtual_size", read_only({{"type", nullable("integer")},
                                  {"description", "Virtual size of image in bytes"}})},
      {"container_format",
       {{"type", nullable("string")},
        {"enum", {nullptr, "ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"}},
        {"description", "Format of the container"}}},
      {"disk_format",
       {{"type", nullable("string")},
        {"enum",
         {nullptr, "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso",
          "ploop"}},
        {"description", "Format of the disk"}}},
      {"created_at",
       read_only({{"type", "string"}, {"description", "Date and time of image registration"}})},
      {"updated_at", read_only({{"type", "string"},
                                {"description", "Date and time of the last image modification"}})},
      {"tags",
       {{"type", "array"},
        {"items", {{"type", "string"}, {"maxLength", 255}}},
        {"description", "List of strings related to the image"}}},
      {"direct_url",
       read_only({{"type", "string"},
                  {"description", "URL to access the image file kept in external store"}})},
      {"min_ram",
       {{"type", "integer"},
        {"minimum", 0},
        {"description", "Amount of ram (in MB) required to boot image."}}},
      {"min_disk",
       {{"type", "integer"},
        {"minimum", 0},
        {"description", "Amount of disk space (in GB) required to boot image."}}},
      {"self", read_only({{"type", "string"}, {"description", "An image self url"}})},
      {"file", read_only({{"type", "string"}, {"description", "An image file url"}})},
      {"schema", read_only({{"type", "string"}, {"description", "An image schema url"}})},
      {"locations",
       {{"type", "array"},
        {"items",
         {{"type", "object"},
          {"required", json::array({"url", "metadata"})},
          {"properties",
           {{"url", {{"type", "string"}, {"maxLength", 255}}},
            {"metadata", {{"type", "object"}}}}}}},
        {"description", "A set of URLs to access the image file kept in external store"}}},
      // Well-known optional properties (is_base false: the client does not make them options).
      {"kernel_id",
       {{"type", nullable("string")},
        {"pattern", kUuidPattern},
        {"is_base", false},
        {"description",
         "ID of image stored in Glance that should be used as the kernel when booting an AMI-style "
         "image."}}},
      {"ramdisk_id",
       {{"type", nullable("string")},
        {"pattern", kUuidPattern},
        {"is_base", false},
        {"description",
         "ID of image stored in Glance that should be used as the ramdisk when booting an "
         "AMI-style image."}}},
      {"architecture",
       {{"type", "string"}, {"is_base", false}, {"description", "Operating system architecture"}}},
      {"os_distro",
       {{"type", "string"},
        {"is_base", false},
        {"description", "Common name of operating system distribution"}}},
      {"os_version",
       {{"type", "string"},
        {"is_base", false},
        {"description", "Operating system version as specified by the distributor"}}},
      {"instance_uuid",
       {{"type", "string"},
        {"is_base", false},
        {"description",
         "Metadata which can be used to record which instance this image is associated with."}}},
  };
  return {{"name", "image"},
          {"properties", props},
          {"additionalProperties", {{"type", "string"}}},
          {"links",
           {{{"href", "{self}"}, {"rel", "self"}},
            {{"href", "{file}"}, {"rel", "enclosure"}},
            {{"href", "{schema}"}, {"rel", "describedby"}}}}};
}

// glance's collection schemas (images, members): the items, paging links and the schema link.
json collection_schema(const std::string& name, const json& item) {
  return {{"name", name},
          {"properties",
           {{name, {{"type", "array"}, {"items", item}}},
            {"first", {{"type", "string"}}},
            {"next", {{"type", "string"}}},
            {"schema", {{"type", "string"}}}}},
          {"links",
           {{{"href", "{first}"}, {"rel", "first"}},
            {{"href", "{next}"}, {"rel", "next"}},
            {{"href", "{schema}"}, {"rel", "describedby"}}}}};
}

json images_schema() { return collection_schema("images", image_schema()); }

// glance's image_members.py: the member schema and its collection (the client validates member
// replies against it; additionalProperties false, as glance's Schema.raw()).
json member_schema() {
  return {
      {"name", "member"},
      {"properties",
       {{"member_id",
         {{"type", "string"}, {"description", "An identifier for the image member (tenantId)"}}},
        {"image_id",
         {{"type", "string"},
          {"pattern", kUuidPattern},
          {"description", "An identifier for the image"}}},
        {"created_at",
         {{"type", "string"}, {"description", "Date and time of image member creation"}}},
        {"updated_at",
         {{"type", "string"},
          {"description", "Date and time of last modification of image member"}}},
        {"status",
         {{"type", "string"},
          {"enum", {"pending", "accepted", "rejected"}},
          {"description", "The status of this image member"}}},
        {"schema", {{"type", "string"}, {"readOnly", true}}}}},
      {"additionalProperties", false}};
}

json members_schema() { return collection_schema("members", member_schema()); }

}  // namespace

const json& image_schema() {
  static const json schema = build_image_schema();
  return schema;
}

std::vector<Route> version_schema_routes(ApiContext& ctx) {
  // glance answers its root with 300 Multiple Choices and /versions with 200.
  auto root = [&ctx](Call&) -> Result<Reply> { return Reply::ok(versions(ctx), 300); };
  auto list = [&ctx](Call&) -> Result<Reply> { return Reply::ok(versions(ctx)); };
  auto schema = [](Call&) -> Result<Reply> { return Reply::ok(image_schema()); };
  auto schemas = [](Call&) -> Result<Reply> { return Reply::ok(images_schema()); };
  auto member = [](Call&) -> Result<Reply> { return Reply::ok(member_schema()); };
  auto members = [](Call&) -> Result<Reply> { return Reply::ok(members_schema()); };
  return {
      {"GET", "/image", Service::kImage, "public", root, {}},
      {"GET", "/image/", Service::kImage, "public", root, {}},
      {"GET", "/image/versions", Service::kImage, "public", list, {}},
      {"GET", "/image/v2/schemas/image", Service::kImage, "image:read", schema, {}},
      {"GET", "/image/v2/schemas/images", Service::kImage, "image:read", schemas, {}},
      {"GET", "/image/v2/schemas/member", Service::kImage, "image:read", member, {}},
      {"GET", "/image/v2/schemas/members", Service::kImage, "image:read", members, {}},
  };
}

}  // namespace gpucloud::api::image

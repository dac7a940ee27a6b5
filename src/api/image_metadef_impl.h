// Internal to api/: glance's metadata definitions (metadefs) API, shared by the image_metadef_*.cc
// files. Namespaces group objects, properties and tags and are associated with resource types;
// glance's default policy lets admins manage them and everyone read the public ones and their own
// project's private ones.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "api/image_impl.h"

namespace gpucloud::api::image {

// Route tables, one per file; image_routes() in image_crud.cc joins them.
std::vector<Route> metadef_namespace_routes(ApiContext& ctx);      // image_metadef_namespaces.cc
std::vector<Route> metadef_content_routes(ApiContext& ctx);        // image_metadef_contents.cc
std::vector<Route> metadef_resource_type_routes(ApiContext& ctx);  // image_metadef_resources.cc
std::vector<Route> metadef_schema_routes(ApiContext& ctx);         // image_metadef_schemas.cc

// glance's limit on namespace, object, property and resource type names (its columns are 80 wide);
// tag names may be 255 long.
constexpr size_t kMaxMetadefName = 80;
constexpr size_t kMaxTagName = 255;

// Loads a namespace the caller may see: admins see every namespace, others the public ones and
// their own project's. Anything else is "not found", so that private names do not leak.
Result<store::MetadefNamespace> find_namespace(ApiContext& ctx, const Caller& caller,
                                               const std::string& name);

// glance's timestamps in metadefs: seconds, UTC ("2026-12-04T06:10:00Z").
std::string metadef_time(store::TimePoint t);
// Links relative to the image endpoint, as glance writes them.
std::string namespace_href(const std::string& ns);

// The JSON views the API answers with (each schema in image_metadef_schemas.cc lists exactly
// these fields).
json object_view(const std::string& ns, const store::MetadefItem& item);
json property_view(const store::MetadefItem& item, bool with_name = true);
json tag_view(const store::MetadefItem& item);
json association_view(const store::MetadefAssociation& a);

// Request bodies, validated with errors naming the field. Each returns the item to store; an
// absent name is taken from `default_name` (updates name the item in the path).
Result<store::MetadefItem> parse_object(const json& body, const std::string& default_name = "");
Result<store::MetadefItem> parse_property(const json& body, const std::string& default_name = "");
Result<store::MetadefItem> parse_tag(const json& body, const std::string& default_name = "");
Result<store::MetadefAssociation> parse_association(const json& body);
// A string field of at most `max` characters ("" allowed unless `non_empty`); the error names it.
Result<std::string> string_field(const json& body, const std::string& field, size_t max,
                                 bool non_empty = false);

}  // namespace gpucloud::api::image

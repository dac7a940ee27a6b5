// glance's JSON schemas of the metadefs under /v2/schemas/metadefs/ (the glance client reads them
// for its md-* commands). Each lists the fields its view in image_metadef_model.cc or
// image_metadef_namespaces.cc writes.
#include "api/image_metadef_impl.h"

namespace gpucloud::api::image {
namespace {

json text(size_t max = 0) {
  json t = {{"type", "string"}};
  if (max > 0) t["maxLength"] = max;
  return t;
}

json stamp() { return {{"type", "string"}, {"readOnly", true}, {"format", "date-time"}}; }

// A property definition (glance's property schema): what a property, an object's properties and
// a namespace's properties accept.
json property_definition() {
  const json count = {{"type", "integer"}, {"minimum", 0}};
  return {{"type", "object"},
          {"required", json::array({"title", "type"})},
          {"properties",
           {{"name", text(kMaxMetadefName)},
            {"title", text()},
            {"description", text()},
            {"operators", {{"type", "array"}, {"items", text()}}},
            {"type",
             {{"type", "string"},
              {"enum", {"array", "boolean", "integer", "number", "object", "string"}}}},
            {"enum", {{"type", "array"}}},
            {"default", json::object()},
            {"readonly", {{"type", "boolean"}}},
            {"minimum", {{"type", "number"}}},
            {"maximum", {{"type", "number"}}},
            {"minLength", count},
            {"maxLength", count},
            {"pattern", {{"type", "string"}, {"format", "regex"}}},
            {"items", {{"type", "object"}}},
            {"uniqueItems", {{"type", "boolean"}}},
            {"additionalItems", {{"type", "boolean"}}},
            {"minItems", count},
            {"maxItems", count}}},
          {"additionalProperties", false}};
}

json association_schema() {
  return {{"name", "resource_type_association"},
          {"properties",
           {{"name", text(kMaxMetadefName)},
            {"prefix", text(kMaxMetadefName)},
            {"properties_target", text(kMaxMetadefName)},
            {"created_at", stamp()},
            {"updated_at", stamp()}}},
          {"required", json::array({"name"})},
          {"additionalProperties", false}};
}

json object_schema() {
  return {{"name", "object"},
          {"properties",
           {{"name", text(kMaxMetadefName)},
            {"description", text()},
            {"required", {{"type", "array"}, {"items", text()}}},
            {"properties", {{"type", "object"}, {"additionalProperties", property_definition()}}},
            {"schema", {{"type", "string"}, {"readOnly", true}}},
            {"self", {{"type", "string"}, {"readOnly", true}}},
            {"created_at", stamp()},
            {"updated_at", stamp()}}},
          {"required", json::array({"name"})},
          {"additionalProperties", false}};
}

json property_schema() {
  json s = property_definition();
  s.erase("type");
  s["name"] = "property";
  s["required"] = json::array({"name", "title", "type"});
  return s;
}

json tag_schema() {
  return {{"name", "tag"},
          {"properties",
           {{"name", text(kMaxTagName)}, {"created_at", stamp()}, {"updated_at", stamp()}}},
          {"required", json::array({"name"})},
          {"additionalProperties", false}};
}

json namespace_schema() {
  json assoc = association_schema();
  assoc.erase("name");
  assoc["type"] = "object";
  json object = object_schema();
  object.erase("name");
  object["type"] = "object";
  return {{"name", "namespace"},
          {"properties",
           {{"namespace", text(kMaxMetadefName)},
            {"display_name", text(kMaxMetadefName)},
            {"description", text(500)},
            {"visibility", {{"type", "string"}, {"enum", {"public", "private"}}}},
            {"protected", {{"type", "boolean"}}},
            {"owner", text(255)},
            {"created_at", stamp()},
            {"updated_at", stamp()},
            {"schema", {{"type", "string"}, {"readOnly", true}}},
            {"self", {{"type", "string"}, {"readOnly", true}}},
            {"resource_type_associations", {{"type", "array"}, {"items", assoc}}},
            {"properties", {{"type", "object"}, {"additionalProperties", property_definition()}}},
            {"objects", {{"type", "array"}, {"items", object}}},
            {"tags",
             {{"type", "array"},
              {"items", {{"type", "object"}, {"properties", {{"name", text(kMaxTagName)}}}}}}}}},
          {"required", json::array({"namespace"})},
          {"additionalProperties", false}};
}

// A collection: its items under `key`, the paging links and the schema link.
json metadef_collection(const std::string& name, const std::string& key, const json& item) {
  json items = item;
  items.erase("name");
  items["type"] = "object";
  return {{"name", name},
          {"properties",
           {{key, {{"type", "array"}, {"items", items}}},
            {"first", {{"type", "string"}}},
            {"next", {{"type", "string"}}},
            {"schema", {{"type", "string"}}}}},
          {"links",
           {{{"rel", "first"}, {"href", "{first}"}},
            {{"rel", "next"}, {"href", "{next}"}},
            {{"rel", "describedby"}, {"href", "{schema}"}}}}};
}

// glance's properties collection is an object keyed by property name.
json properties_schema() {
  json item = property_definition();
  return {{"name", "properties"},
          {"properties",
           {{"properties", {{"type", "object"}, {"additionalProperties", item}}},
            {"schema", {{"type", "string"}}}}}};
}

}  // namespace

std::vector<Route> metadef_schema_routes(ApiContext&) {
  const std::pair<const char*, json> schemas[] = {
      {"namespace", namespace_schema()},
      {"namespaces", metadef_collection("namespaces", "namespaces", namespace_schema())},
      {"object", object_schema()},
      {"objects", metadef_collection("objects", "objects", object_schema())},
      {"property", property_schema()},
      {"properties", properties_schema()},
      {"resource_type", association_schema()},
      {"resource_types", metadef_collection("resource_type_associations",
                                            "resource_type_associations", association_schema())},
      {"tag", tag_schema()},
      {"tags", metadef_collection("tags", "tags", tag_schema())},
  };
  std::vector<Route> routes;
  for (const auto& entry : schemas) {
    // A copy per route (not a captured structured binding, which clang before 16 refuses).
    auto answer = [schema = entry.second](Call&) -> Result<Reply> { return Reply::ok(schema); };
    routes.push_back({"GET",
                      std::string("/image/v2/schemas/metadefs/") + entry.first,
                      Service::kImage,
                      "image:read",
                      answer,
                      {}});
  }
  return routes;
}

}  // namespace gpucloud::api::image

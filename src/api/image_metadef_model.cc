// Metadefs' shared parts: who sees a namespace, the JSON views, and the validation of objects,
// properties, tags and associations (glance's schemas: a property has a title and one of JSON
// schema's types; unknown attributes are refused rather than stored and lost to later readers).
#include <set>

#include "api/image_metadef_impl.h"

namespace gpucloud::api::image {
namespace {

const std::set<std::string> kPropertyTypes = {"array",  "boolean", "integer",
                                              "number", "object",  "string"};
// What a client may send back from a view it read; the server writes these itself.
const std::set<std::string> kServerFields = {"created_at", "updated_at", "self", "schema"};

Error metadef_invalid(const std::string& field, const std::string& why) {
  return bad_request("Invalid value for '" + field + "': " + why);
}

bool is_string_array(const json& v) {
  if (!v.is_array()) return false;
  for (const auto& e : v) {
    if (!e.is_string()) return false;
  }
  return true;
}

bool is_count(const json& v) { return v.is_number_integer() && v.get<int64_t>() >= 0; }

// One property definition (glance's property schema: a title and a type, in an object's
// properties too). Errors name its attributes after `where`
// (a property of an object: "properties.cpu."; a property of its own: "").
Status check_property(const json& def, const std::string& where) {
  if (!def.is_object()) {
    return metadef_invalid(where.substr(0, where.size() - 1), "a JSON object is required.");
  }
  for (const auto& [key, v] : def.items()) {
    const std::string field = where + key;
    if (key == "name" || kServerFields.count(key)) continue;
    if (key == "title" || key == "description" || key == "pattern") {
      if (!v.is_string()) return metadef_invalid(field, "a string is required.");
    } else if (key == "type") {
      if (!v.is_string() || !kPropertyTypes.count(v.get<std::string>())) {
        return metadef_invalid(
            field, "one of array, boolean, integer, number, object, string is required.");
      }
    } else if (key == "enum") {
      if (!v.is_array()) return metadef_invalid(field, "a list is required.");
    } else if (key == "readonly" || key == "uniqueItems" || key == "additionalItems") {
      if (!v.is_boolean()) return metadef_invalid(field, "true or false is required.");
    } else if (key == "minimum" || key == "maximum") {
      if (!v.is_number()) return metadef_invalid(field, "a number is required.");
    } else if (key == "minLength" || key == "maxLength" || key == "minItems" || key == "maxItems") {
      if (!is_count(v)) return metadef_invalid(field, "a non-negative integer is required.");
    } else if (key == "operators") {
      if (!is_string_array(v)) return metadef_invalid(field, "a list of strings is required.");
    } else if (key == "items") {
      if (!v.is_object()) return metadef_invalid(field, "a JSON object is required.");
      if (v.contains("type") &&
          (!v["type"].is_string() || !kPropertyTypes.count(v["type"].get<std::string>()))) {
        return metadef_invalid(field + ".type", "one of JSON schema's types is required.");
      }
    } else if (key != "default") {
      return bad_request("Unknown attribute '" + field + "' in a property definition.");
    }
  }
  if (!def.contains("type")) return bad_request("Attribute '" + where + "type' is required.");
  if (!def.contains("title")) {
    return bad_request("Attribute '" + where + "title' is required.");
  }
  return {};
}

// The name of a new or renamed item: from the body, else `default_name`; never empty.
Result<std::string> item_name(const json& body, const std::string& default_name, size_t max) {
  if (!body.contains("name")) {
    if (default_name.empty()) return bad_request("Attribute 'name' is required.");
    return default_name;
  }
  return string_field(body, "name", max, true);
}

json strip_keys(json def, const std::set<std::string>& keys) {
  for (const auto& k : keys) def.erase(k);
  return def;
}

}  // namespace

Result<std::string> string_field(const json& body, const std::string& field, size_t max,
                                 bool non_empty) {
  const json& v = body.at(field);
  if (!v.is_string()) return metadef_invalid(field, "a string is required.");
  const std::string s = v.get<std::string>();
  if (non_empty && s.empty()) return metadef_invalid(field, "it may not be empty.");
  if (s.size() > max) {
    return metadef_invalid(field, "longer than " + std::to_string(max) + " characters.");
  }
  return s;
}

Result<store::MetadefNamespace> find_namespace(ApiContext& ctx, const Caller& caller,
                                               const std::string& name) {
  auto ns = ctx.store().get_metadef_namespace(name);
  if (!ns.ok()) return ns;
  if (caller.is_admin() || ns->is_public || ns->owner == caller.project_id) return ns;
  return Error::not_found("Metadata definition namespace=" + name + " was not found.");
}

std::string metadef_time(store::TimePoint t) { return iso8601(t).substr(0, 19) + "Z"; }

std::string namespace_href(const std::string& ns) { return "/v2/metadefs/namespaces/" + ns; }

json object_view(const std::string& ns, const store::MetadefItem& item) {
  json v = json::parse(item.definition, nullptr, false);
  if (!v.is_object()) v = json::object();
  v["name"] = item.name;
  v["schema"] = "/v2/schemas/metadefs/object";
  v["self"] = namespace_href(ns) + "/objects/" + item.name;
  v["created_at"] = metadef_time(item.created_at);
  v["updated_at"] = metadef_time(item.updated_at);
  return v;
}

json property_view(const store::MetadefItem& item, bool with_name) {
  json v = json::parse(item.definition, nullptr, false);
  if (!v.is_object()) v = json::object();
  if (with_name) v["name"] = item.name;
  return v;
}

json tag_view(const store::MetadefItem& item) {
  return {{"name", item.name},
          {"created_at", metadef_time(item.created_at)},
          {"updated_at", metadef_time(item.updated_at)}};
}

json association_view(const store::MetadefAssociation& a) {
  json v = {{"name", a.resource_type},
            {"created_at", metadef_time(a.created_at)},
            {"updated_at", metadef_time(a.updated_at)}};
  if (a.prefix) v["prefix"] = *a.prefix;
  if (a.properties_target) v["properties_target"] = *a.properties_target;
  return v;
}

Result<store::MetadefItem> parse_object(const json& body, const std::string& default_name) {
  if (!body.is_object()) return bad_request("An object definition must be a JSON object.");
  store::MetadefItem item;
  item.kind = store::MetadefKind::kObject;
  auto name = item_name(body, default_name, kMaxMetadefName);
  if (!name.ok()) return name.error();
  item.name = *name;
  json def = json::object();
  for (const auto& [key, v] : body.items()) {
    if (key == "name" || kServerFields.count(key)) continue;
    if (key == "description") {
      if (!v.is_string()) return metadef_invalid(key, "a string is required.");
    } else if (key == "required") {
      if (!is_string_array(v)) return metadef_invalid(key, "a list of property names is required.");
    } else if (key == "properties") {
      if (!v.is_object()) return metadef_invalid(key, "a JSON object of properties is required.");
      for (const auto& [prop, pdef] : v.items()) {
        if (auto s = check_property(pdef, "properties." + prop + "."); !s.ok()) return s.error();
      }
    } else {
      return bad_request("Unknown attribute '" + key + "' in an object definition.");
    }
    def[key] = v;
  }
  item.definition = def.dump();
  return item;
}

Result<store::MetadefItem> parse_property(const json& body, const std::string& default_name) {
  if (!body.is_object()) return bad_request("A property definition must be a JSON object.");
  store::MetadefItem item;
  item.kind = store::MetadefKind::kProperty;
  auto name = item_name(body, default_name, kMaxMetadefName);
  if (!name.ok()) return name.error();
  item.name = *name;
  if (auto s = check_property(body, ""); !s.ok()) return s.error();
  item.definition = strip_keys(body, {"name", "created_at", "updated_at", "self", "schema"}).dump();
  return item;
}

Result<store::MetadefItem> parse_tag(const json& body, const std::string& default_name) {
  if (!body.is_object()) return bad_request("A tag must be a JSON object with a 'name'.");
  store::MetadefItem item;
  item.kind = store::MetadefKind::kTag;
  auto name = item_name(body, default_name, kMaxTagName);
  if (!name.ok()) return name.error();
  item.name = *name;
  for (const auto& [key, v] : body.items()) {
    if (key != "name" && !kServerFields.count(key)) {
      return bad_request("Unknown attribute '" + key + "' in a tag.");
    }
  }
  return item;
}

Result<store::MetadefAssociation> parse_association(const json& body) {
  if (!body.is_object()) return bad_request("A resource type association must be a JSON object.");
  store::MetadefAssociation a;
  if (!body.contains("name")) return bad_request("Attribute 'name' is required.");
  for (const auto& [key, v] : body.items()) {
    if (kServerFields.count(key)) continue;
    if (key != "name" && key != "prefix" && key != "properties_target") {
      return bad_request("Unknown attribute '" + key + "' in a resource type association.");
    }
    auto s = string_field(body, key, kMaxMetadefName, key == "name");
    if (!s.ok()) return s.error();
    if (key == "name") a.resource_type = *s;
    if (key == "prefix") a.prefix = *s;
    if (key == "properties_target") a.properties_target = *s;
  }
  return a;
}

}  // namespace gpucloud::api::image

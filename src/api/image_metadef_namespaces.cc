// Metadef namespaces: create (with its resource type associations, objects, properties and tags
// in one request, as glance takes them), list (visibility and resource type filters, paging),
// show (with what it holds), update and delete (403 while protected).
#include <algorithm>
#include <cstdlib>
#include <limits>
#include <set>
#include <sstream>

#include "api/image_metadef_impl.h"

namespace gpucloud::api::image {
namespace {

const std::set<std::string> kNamespaceFields = {"namespace",
                                                "display_name",
                                                "description",
                                                "visibility",
                                                "protected",
                                                "owner",
                                                "resource_type_associations",
                                                "objects",
                                                "properties",
                                                "tags",
                                                "created_at",
                                                "updated_at",
                                                "self",
                                                "schema"};

json namespace_view(const store::MetadefNamespace& ns) {
  json v = {{"namespace", ns.name},
            {"visibility", ns.is_public ? "public" : "private"},
            {"protected", ns.is_protected},
            {"owner", ns.owner},
            {"created_at", metadef_time(ns.created_at)},
            {"updated_at", metadef_time(ns.updated_at)},
            {"self", namespace_href(ns.name)},
            {"schema", "/v2/schemas/metadefs/namespace"}};
  if (ns.display_name) v["display_name"] = *ns.display_name;
  if (ns.description) v["description"] = *ns.description;
  return v;
}

// The namespace's associations added to its view (lists and show carry them, when any).
Status add_associations(ApiContext& ctx, json& view, const std::string& name) {
  auto assocs = ctx.store().list_metadef_associations(name);
  if (!assocs.ok()) return assocs.error();
  if (assocs->empty()) return {};
  json list = json::array();
  for (const auto& a : *assocs) list.push_back(association_view(a));
  view["resource_type_associations"] = list;
  return {};
}

// The namespace's own fields from a create or update body onto `ns`; absent fields keep
// their value. The owner may be given (glance lets admins create for another project).
Status apply_namespace_fields(const json& body, store::MetadefNamespace& ns) {
  for (const auto& [key, v] : body.items()) {
    if (!kNamespaceFields.count(key)) {
      return bad_request("Unknown attribute '" + key + "' in a namespace.");
    }
  }
  if (body.contains("namespace")) {
    auto name = string_field(body, "namespace", kMaxMetadefName, true);
    if (!name.ok()) return name.error();
    if (name->find('/') != std::string::npos) {
      return bad_request("Invalid value for 'namespace': it may not contain '/'.");
    }
    ns.name = *name;
  }
  if (ns.name.empty()) return bad_request("Attribute 'namespace' is required.");
  // Optional text: null clears it.
  auto text = [&body](const char* key, size_t max, std::optional<std::string>& out) -> Status {
    if (!body.contains(key)) return {};
    if (body[key].is_null()) {
      out.reset();
      return {};
    }
    auto s = string_field(body, key, max);
    if (!s.ok()) return s.error();
    out = *s;
    return {};
  };
  if (auto s = text("display_name", kMaxMetadefName, ns.display_name); !s.ok()) return s;
  if (auto s = text("description", 500, ns.description); !s.ok()) return s;
  if (body.contains("visibility")) {
    const json& v = body["visibility"];
    if (v != "public" && v != "private") {
      return bad_request("Invalid value for 'visibility': it must be \"public\" or \"private\".");
    }
    ns.is_public = v == "public";
  }
  if (body.contains("protected")) {
    if (!body["protected"].is_boolean()) {
      return bad_request("Invalid value for 'protected': true or false is required.");
    }
    ns.is_protected = body["protected"].get<bool>();
  }
  if (body.contains("owner")) {
    auto owner = string_field(body, "owner", 255, true);
    if (!owner.ok()) return owner.error();
    ns.owner = *owner;
  }
  return {};
}

Result<Reply> create_namespace(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  store::MetadefNamespace ns;
  ns.owner = call.who().project_id;
  if (auto s = apply_namespace_fields(*body, ns); !s.ok()) return s.error();
  std::vector<store::MetadefAssociation> assocs;
  std::vector<store::MetadefItem> items;
  // Everything is validated before anything is written: a bad object leaves no namespace.
  auto list_of = [&](const char* key) -> Result<json> {
    if (!body->contains(key)) return json::array();
    const json& v = (*body)[key];
    if (!v.is_array()) return bad_request(std::string("Invalid value for '") + key + "': a list.");
    return v;
  };
  auto rtas = list_of("resource_type_associations");
  if (!rtas.ok()) return rtas.error();
  for (const auto& a : *rtas) {
    auto parsed = parse_association(a);
    if (!parsed.ok()) return parsed.error();
    assocs.push_back(*parsed);
  }
  auto objects = list_of("objects");
  if (!objects.ok()) return objects.error();
  for (const auto& o : *objects) {
    auto parsed = parse_object(o);
    if (!parsed.ok()) return parsed.error();
    items.push_back(*parsed);
  }
  auto tags = list_of("tags");
  if (!tags.ok()) return tags.error();
  for (const auto& t : *tags) {
    auto parsed = parse_tag(t);
    if (!parsed.ok()) return parsed.error();
    items.push_back(*parsed);
  }
  if (body->contains("properties")) {
    const json& props = (*body)["properties"];
    if (!props.is_object()) {
      return bad_request("Invalid value for 'properties': a JSON object of properties.");
    }
    for (const auto& [name, def] : props.items()) {
      json with_name = def;
      if (with_name.is_object()) with_name["name"] = name;
      auto parsed = parse_property(with_name);
      if (!parsed.ok()) return parsed.error();
      items.push_back(*parsed);
    }
  }
  if (auto s = ctx.store().create_metadef_namespace(ns, assocs, items); !s.ok()) return s.error();
  auto stored = ctx.store().get_metadef_namespace(ns.name);
  if (!stored.ok()) return stored.error();
  json view = namespace_view(*stored);
  if (auto s = add_associations(ctx, view, ns.name); !s.ok()) return s.error();
  return Reply::ok(view, 201);
}

// glance's list: sort_key created_at (default), updated_at or namespace; sort_dir desc (default)
// or asc; visibility; resource_types (any of, comma-separated); limit and marker (a name).
Result<Reply> list_namespaces(ApiContext& ctx, Call& call) {
  const Caller& caller = call.who();
  auto all = ctx.store().list_metadef_namespaces();
  if (!all.ok()) return all.error();
  const std::string key = call.query("sort_key").value_or("created_at");
  const std::string dir = call.query("sort_dir").value_or("desc");
  if (key != "created_at" && key != "updated_at" && key != "namespace") {
    return bad_request("Invalid value for 'sort_key': created_at, updated_at or namespace.");
  }
  if (dir != "asc" && dir != "desc") {
    return bad_request("Invalid value for 'sort_dir': asc or desc.");
  }
  std::optional<bool> want_public;
  if (auto v = call.query("visibility")) {
    if (*v != "public" && *v != "private") {
      return bad_request("Invalid value for 'visibility': public or private.");
    }
    want_public = *v == "public";
  }
  std::set<std::string> want_types;
  if (auto v = call.query("resource_types")) {
    std::stringstream in(*v);
    for (std::string t; std::getline(in, t, ',');) {
      if (!t.empty()) want_types.insert(t);
    }
  }
  size_t limit = std::numeric_limits<size_t>::max();
  if (auto v = call.query("limit")) {
    char* end = nullptr;
    const long n = std::strtol(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0' || n < 0) {
      return bad_request("Invalid value for 'limit': a non-negative integer is required.");
    }
    limit = static_cast<size_t>(n);
  }
  std::vector<json> views;
  for (const auto& ns : *all) {
    if (!caller.is_admin() && !ns.is_public && ns.owner != caller.project_id) continue;
    if (want_public && ns.is_public != *want_public) continue;
    json view = namespace_view(ns);
    if (auto s = add_associations(ctx, view, ns.name); !s.ok()) return s.error();
    if (!want_types.empty()) {
      bool any = false;
      for (const auto& a : view.value("resource_type_associations", json::array())) {
        any = any || want_types.count(a["name"].get<std::string>());
      }
      if (!any) continue;
    }
    views.push_back(std::move(view));
  }
  // Ties (same second) keep creation order, then the name decides, so markers are stable.
  std::stable_sort(views.begin(), views.end(), [&](const json& a, const json& b) {
    const auto ka = a[key].get<std::string>(), kb = b[key].get<std::string>();
    if (ka != kb) return dir == "asc" ? ka < kb : ka > kb;
    return a["namespace"].get<std::string>() < b["namespace"].get<std::string>();
  });
  size_t start = 0;
  if (auto m = call.query("marker")) {
    auto it = std::find_if(views.begin(), views.end(),
                           [&](const json& v) { return v["namespace"] == *m; });
    if (it == views.end()) return bad_request("Invalid marker: namespace " + *m + " not found.");
    start = static_cast<size_t>(it - views.begin()) + 1;
  }
  json page = json::array();
  for (size_t i = start; i < views.size() && page.size() < limit; ++i) page.push_back(views[i]);
  json out = {{"namespaces", page},
              {"first", "/v2/metadefs/namespaces"},
              {"schema", "/v2/schemas/metadefs/namespaces"}};
  if (limit != std::numeric_limits<size_t>::max() && !page.empty() &&
      start + page.size() < views.size()) {
    out["next"] = "/v2/metadefs/namespaces?marker=" + page.back()["namespace"].get<std::string>() +
                  "&limit=" + std::to_string(limit);
  }
  return Reply::ok(out);
}

Result<Reply> show_namespace(ApiContext& ctx, Call& call) {
  auto ns = find_namespace(ctx, call.who(), call.param("namespace"));
  if (!ns.ok()) return ns.error();
  json view = namespace_view(*ns);
  if (auto s = add_associations(ctx, view, ns->name); !s.ok()) return s.error();
  auto objects = ctx.store().list_metadef_items(ns->name, store::MetadefKind::kObject);
  auto props = ctx.store().list_metadef_items(ns->name, store::MetadefKind::kProperty);
  auto tags = ctx.store().list_metadef_items(ns->name, store::MetadefKind::kTag);
  for (const auto* r : {&objects, &props, &tags}) {
    if (!r->ok()) return r->error();
  }
  if (!objects->empty()) {
    view["objects"] = json::array();
    for (const auto& o : *objects) view["objects"].push_back(object_view(ns->name, o));
  }
  if (!props->empty()) {
    view["properties"] = json::object();
    for (const auto& p : *props) view["properties"][p.name] = property_view(p, false);
  }
  if (!tags->empty()) {
    view["tags"] = json::array();
    for (const auto& t : *tags) view["tags"].push_back({{"name", t.name}});
  }
  return Reply::ok(view);
}

Result<Reply> update_namespace(ApiContext& ctx, Call& call) {
  auto ns = find_namespace(ctx, call.who(), call.param("namespace"));
  if (!ns.ok()) return ns.error();
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  // What a namespace holds changes through its own routes. The glance client's update sends
  // back the whole namespace it showed, contents included, so they are ignored here, as glance
  // ignores them.
  json own = *body;
  for (const char* key : {"resource_type_associations", "objects", "properties", "tags"}) {
    own.erase(key);
  }
  store::MetadefNamespace updated = *ns;
  if (auto s = apply_namespace_fields(own, updated); !s.ok()) return s.error();
  if (auto s = ctx.store().update_metadef_namespace(ns->name, updated); !s.ok()) return s.error();
  auto stored = ctx.store().get_metadef_namespace(updated.name);
  if (!stored.ok()) return stored.error();
  json view = namespace_view(*stored);
  if (auto s = add_associations(ctx, view, stored->name); !s.ok()) return s.error();
  return Reply::ok(view);
}

Result<Reply> delete_namespace(ApiContext& ctx, Call& call) {
  auto ns = find_namespace(ctx, call.who(), call.param("namespace"));
  if (!ns.ok()) return ns.error();
  if (auto s = ctx.store().delete_metadef_namespace(ns->name); !s.ok()) return s.error();
  return Reply::no_content();
}

}  // namespace

std::vector<Route> metadef_namespace_routes(ApiContext& ctx) {
  auto bind = [&ctx](Result<Reply> (*fn)(ApiContext&, Call&)) {
    return [&ctx, fn](Call& call) { return fn(ctx, call); };
  };
  const std::string all = "/image/v2/metadefs/namespaces";
  const std::string one = all + "/{namespace}";
  const std::string read = "image:metadef:read", admin = "image:metadef:admin";
  return {
      {"POST", all, Service::kImage, admin, bind(create_namespace), {}},
      {"GET", all, Service::kImage, read, bind(list_namespaces), {}},
      {"GET", one, Service::kImage, read, bind(show_namespace), {}},
      {"PUT", one, Service::kImage, admin, bind(update_namespace), {}},
      {"DELETE", one, Service::kImage, admin, bind(delete_namespace), {}},
  };
}

}  // namespace gpucloud::api::image

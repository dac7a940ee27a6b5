// What a metadef namespace holds: objects, properties and tags, each listed, created, shown,
// updated (renamed) and deleted under the namespace, which the caller must be able to see. The
// three kinds differ only in their views and validation; the handlers are shared.
#include "api/image_metadef_impl.h"

namespace gpucloud::api::image {
namespace {

using store::MetadefKind;

const char* path_param(MetadefKind kind) {
  switch (kind) {
    case MetadefKind::kObject:
      return "object_name";
    case MetadefKind::kProperty:
      return "property_name";
    case MetadefKind::kTag:
      return "tag_name";
  }
  return "";
}

Result<store::MetadefItem> parse_item(MetadefKind kind, const json& body,
                                      const std::string& default_name) {
  switch (kind) {
    case MetadefKind::kObject:
      return parse_object(body, default_name);
    case MetadefKind::kProperty:
      return parse_property(body, default_name);
    case MetadefKind::kTag:
      return parse_tag(body, default_name);
  }
  return bad_request("unknown kind");
}

json item_view(const std::string& ns, const store::MetadefItem& item) {
  switch (item.kind) {
    case MetadefKind::kObject:
      return object_view(ns, item);
    case MetadefKind::kProperty:
      return property_view(item);
    case MetadefKind::kTag:
      return tag_view(item);
  }
  return json::object();
}

Result<Reply> list_items(ApiContext& ctx, Call& call, MetadefKind kind) {
  auto ns = find_namespace(ctx, call.who(), call.param("namespace"));
  if (!ns.ok()) return ns.error();
  auto items = ctx.store().list_metadef_items(ns->name, kind);
  if (!items.ok()) return items.error();
  switch (kind) {
    case MetadefKind::kObject: {
      json list = json::array();
      for (const auto& i : *items) list.push_back(object_view(ns->name, i));
      return Reply::ok({{"objects", list}, {"schema", "/v2/schemas/metadefs/objects"}});
    }
    case MetadefKind::kProperty: {
      // glance lists properties as one object keyed by name, not as a list.
      json props = json::object();
      for (const auto& i : *items) props[i.name] = property_view(i, false);
      return Reply::ok({{"properties", props}, {"schema", "/v2/schemas/metadefs/properties"}});
    }
    case MetadefKind::kTag: {
      json list = json::array();
      for (const auto& i : *items) list.push_back(tag_view(i));
      return Reply::ok({{"tags", list}});
    }
  }
  return Error::internal("unknown kind");
}

// The stored item, in its view, with `status`.
Result<Reply> answer_item(ApiContext& ctx, const std::string& ns, MetadefKind kind,
                          const std::string& name, int status) {
  auto stored = ctx.store().get_metadef_item(ns, kind, name);
  if (!stored.ok()) return stored.error();
  return Reply::ok(item_view(ns, *stored), status);
}

Result<Reply> create_item(ApiContext& ctx, Call& call, MetadefKind kind) {
  auto ns = find_namespace(ctx, call.who(), call.param("namespace"));
  if (!ns.ok()) return ns.error();
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto item = parse_item(kind, *body, "");
  if (!item.ok()) return item.error();
  if (auto s = ctx.store().add_metadef_items(ns->name, kind, {*item}); !s.ok()) return s.error();
  return answer_item(ctx, ns->name, kind, item->name, 201);
}

Result<Reply> show_item(ApiContext& ctx, Call& call, MetadefKind kind) {
  auto ns = find_namespace(ctx, call.who(), call.param("namespace"));
  if (!ns.ok()) return ns.error();
  return answer_item(ctx, ns->name, kind, call.param(path_param(kind)), 200);
}

Result<Reply> update_item(ApiContext& ctx, Call& call, MetadefKind kind) {
  auto ns = find_namespace(ctx, call.who(), call.param("namespace"));
  if (!ns.ok()) return ns.error();
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  const std::string& name = call.param(path_param(kind));
  auto item = parse_item(kind, *body, name);
  if (!item.ok()) return item.error();
  if (auto s = ctx.store().update_metadef_item(ns->name, name, *item); !s.ok()) return s.error();
  return answer_item(ctx, ns->name, kind, item->name, 200);
}

Result<Reply> delete_item(ApiContext& ctx, Call& call, MetadefKind kind) {
  auto ns = find_namespace(ctx, call.who(), call.param("namespace"));
  if (!ns.ok()) return ns.error();
  const std::string& name = call.param(path_param(kind));
  if (auto s = ctx.store().delete_metadef_item(ns->name, kind, name); !s.ok()) return s.error();
  return Reply::no_content();
}

Result<Reply> delete_all(ApiContext& ctx, Call& call, MetadefKind kind) {
  auto ns = find_namespace(ctx, call.who(), call.param("namespace"));
  if (!ns.ok()) return ns.error();
  if (auto s = ctx.store().delete_metadef_items(ns->name, kind); !s.ok()) return s.error();
  return Reply::no_content();
}

// POST .../tags/{tag_name}: one tag, named by the path; no body.
Result<Reply> create_tag(ApiContext& ctx, Call& call) {
  auto ns = find_namespace(ctx, call.who(), call.param("namespace"));
  if (!ns.ok()) return ns.error();
  auto tag = parse_tag(json{{"name", call.param("tag_name")}});
  if (!tag.ok()) return tag.error();
  if (auto s = ctx.store().add_metadef_items(ns->name, MetadefKind::kTag, {*tag}); !s.ok()) {
    return s.error();
  }
  return answer_item(ctx, ns->name, MetadefKind::kTag, tag->name, 201);
}

// POST .../tags with {"tags": [{"name": ...}, ...]}: replaces the namespace's tags, or adds to
// them with the header X-Openstack-Append: true (glance's create-multiple-tags).
Result<Reply> create_tags(ApiContext& ctx, Call& call) {
  auto ns = find_namespace(ctx, call.who(), call.param("namespace"));
  if (!ns.ok()) return ns.error();
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (!body->contains("tags") || !(*body)["tags"].is_array()) {
    return bad_request("Attribute 'tags' is required: a list of {\"name\": ...} objects.");
  }
  std::vector<store::MetadefItem> tags;
  for (const auto& t : (*body)["tags"]) {
    auto tag = parse_tag(t);
    if (!tag.ok()) return tag.error();
    for (const auto& seen : tags) {
      if (seen.name == tag->name) return Error::conflict("Duplicate tag name: " + tag->name + ".");
    }
    tags.push_back(*tag);
  }
  std::string append = call.req.header("X-Openstack-Append");
  std::transform(append.begin(), append.end(), append.begin(), ::tolower);
  if (!append.empty() && append != "true" && append != "false") {
    return bad_request("Invalid value for header 'X-Openstack-Append': true or false.");
  }
  const bool replace = append != "true";
  if (auto s = ctx.store().add_metadef_items(ns->name, MetadefKind::kTag, tags, replace); !s.ok()) {
    return s.error();
  }
  json list = json::array();
  for (const auto& t : tags) list.push_back({{"name", t.name}});
  return Reply::ok({{"tags", list}}, 201);
}

}  // namespace

std::vector<Route> metadef_content_routes(ApiContext& ctx) {
  using Fn = Result<Reply> (*)(ApiContext&, Call&, MetadefKind);
  auto bind = [&ctx](Fn fn, MetadefKind kind) {
    return [&ctx, fn, kind](Call& call) { return fn(ctx, call, kind); };
  };
  auto bind_tag = [&ctx](Result<Reply> (*fn)(ApiContext&, Call&)) {
    return [&ctx, fn](Call& call) { return fn(ctx, call); };
  };
  const std::string ns = "/image/v2/metadefs/namespaces/{namespace}";
  const std::string read = "image:metadef:read", admin = "image:metadef:admin";
  std::vector<Route> routes;
  const std::pair<MetadefKind, const char*> kinds[] = {{MetadefKind::kObject, "objects"},
                                                       {MetadefKind::kProperty, "properties"},
                                                       {MetadefKind::kTag, "tags"}};
  for (const auto& [kind, folder] : kinds) {
    const std::string all = ns + "/" + folder;
    const std::string one = all + "/{" + path_param(kind) + "}";
    routes.push_back({"GET", all, Service::kImage, read, bind(list_items, kind), {}});
    if (kind == MetadefKind::kTag) {
      routes.push_back({"POST", all, Service::kImage, admin, bind_tag(create_tags), {}});
      routes.push_back({"POST", one, Service::kImage, admin, bind_tag(create_tag), {}});
    } else {
      routes.push_back({"POST", all, Service::kImage, admin, bind(create_item, kind), {}});
    }
    routes.push_back({"DELETE", all, Service::kImage, admin, bind(delete_all, kind), {}});
    routes.push_back({"GET", one, Service::kImage, read, bind(show_item, kind), {}});
    routes.push_back({"PUT", one, Service::kImage, admin, bind(update_item, kind), {}});
    routes.push_back({"DELETE", one, Service::kImage, admin, bind(delete_item, kind), {}});
  }
  return routes;
}

}  // namespace gpucloud::api::image

// Metadef resource types (the kinds of resource a namespace's properties apply to: images,
// flavors, volumes...) and a namespace's associations with them.
#include "api/image_metadef_impl.h"

namespace gpucloud::api::image {
namespace {

Result<Reply> list_resource_types(ApiContext& ctx, Call&) {
  auto types = ctx.store().list_metadef_resource_types();
  if (!types.ok()) return types.error();
  json list = json::array();
  for (const auto& t : *types) {
    list.push_back({{"name", t.name},
                    {"created_at", metadef_time(t.created_at)},
                    {"updated_at", metadef_time(t.updated_at)}});
  }
  return Reply::ok({{"resource_types", list}});
}

Result<Reply> list_associations(ApiContext& ctx, Call& call) {
  auto ns = find_namespace(ctx, call.who(), call.param("namespace"));
  if (!ns.ok()) return ns.error();
  auto assocs = ctx.store().list_metadef_associations(ns->name);
  if (!assocs.ok()) return assocs.error();
  json list = json::array();
  for (const auto& a : *assocs) list.push_back(association_view(a));
  return Reply::ok({{"resource_type_associations", list}});
}

Result<Reply> associate(ApiContext& ctx, Call& call) {
  auto ns = find_namespace(ctx, call.who(), call.param("namespace"));
  if (!ns.ok()) return ns.error();
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto a = parse_association(*body);
  if (!a.ok()) return a.error();
  if (auto s = ctx.store().add_metadef_association(ns->name, *a); !s.ok()) return s.error();
  auto assocs = ctx.store().list_metadef_associations(ns->name);
  if (!assocs.ok()) return assocs.error();
  for (const auto& stored : *assocs) {
    if (stored.resource_type == a->resource_type) {
      return Reply::ok(association_view(stored), 201);
    }
  }
  return Error::not_found("Resource type " + a->resource_type + " was dissociated meanwhile.");
}

Result<Reply> dissociate(ApiContext& ctx, Call& call) {
  auto ns = find_namespace(ctx, call.who(), call.param("namespace"));
  if (!ns.ok()) return ns.error();
  if (auto s = ctx.store().delete_metadef_association(ns->name, call.param("resource_type"));
      !s.ok()) {
    return s.error();
  }
  return Reply::no_content();
}

}  // namespace

std::vector<Route> metadef_resource_type_routes(ApiContext& ctx) {
  auto bind = [&ctx](Result<Reply> (*fn)(ApiContext&, Call&)) {
    return [&ctx, fn](Call& call) { return fn(ctx, call); };
  };
  const std::string all = "/image/v2/metadefs/namespaces/{namespace}/resource_types";
  const std::string read = "image:metadef:read", admin = "image:metadef:admin";
  return {
      {"GET",
       "/image/v2/metadefs/resource_types",
       Service::kImage,
       read,
       bind(list_resource_types),
       {}},
      {"GET", all, Service::kImage, read, bind(list_associations), {}},
      {"POST", all, Service::kImage, admin, bind(associate), {}},
      {"DELETE", all + "/{resource_type}", Service::kImage, admin, bind(dissociate), {}},
  };
}

}  // namespace gpucloud::api::image

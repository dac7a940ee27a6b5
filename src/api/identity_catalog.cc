// Keystone v3 services, regions and endpoints: admins manage them, as keystone; anyone with a
// token may read regions, and admins the rest. These are rows the API keeps and lists: the
// catalog in tokens stays the built-in one (identity_tokens.cc), so an endpoint created here
// never sends a client elsewhere (docs/identity.md says why).
#include "api/identity_impl.h"
#include "api/policy_impl.h"
#include "api/validation_impl.h"

namespace gpucloud::api {
namespace {

json list_links(const std::string& base, const std::string& what) {
  return {{"self", base + "/identity/v3/" + what}, {"previous", nullptr}, {"next", nullptr}};
}

// Whether `v` (a query value or nullopt) lets `value` through.
bool query_allows(const std::optional<std::string>& v, const std::string& value) {
  return !v || *v == value;
}

// An optional string of at most `max` characters; `null` counts as absent.
Result<std::optional<std::string>> text_field(const json& obj, const char* field, const char* where,
                                              size_t max) {
  auto v = opt_string(obj, field, where);
  if (!v.ok() || !*v) return v;
  if (auto s = check_text(**v, std::string(where) + "." + field, max); !s.ok()) return s.error();
  return v;
}

// ---- services ----

json catalog_service_json(const store::CatalogService& s, const std::string& base) {
  json j = {{"id", s.id},
            {"type", s.type},
            {"enabled", s.enabled},
            {"links", {{"self", base + "/identity/v3/services/" + s.id}}}};
  if (s.name) j["name"] = *s.name;
  if (s.description) j["description"] = *s.description;
  return j;
}

Error service_not_found(const std::string& id) {
  return Error::not_found("Could not find service: " + id + ".");
}

// The fields of a POST or PATCH body onto `s`; `create` wants the type.
Status read_service(const json& body, store::CatalogService& s, bool create) {
  if (auto st = check_fields(body, "service", {"type", "name", "description", "enabled"});
      !st.ok()) {
    return st;
  }
  auto type = opt_string(body, "type", "service");
  if (!type.ok()) return type.error();
  if (*type) {
    if (auto st = check_name(**type, "service.type"); !st.ok()) return st;
    s.type = **type;
  } else if (create) {
    return bad_request("Invalid input for field 'service.type': required.");
  }
  auto name = text_field(body, "name", "service", 255);
  if (!name.ok()) return name.error();
  if (body.contains("name")) s.name = *name;
  auto desc = text_field(body, "description", "service", 65535);
  if (!desc.ok()) return desc.error();
  if (body.contains("description")) s.description = *desc;
  auto enabled = opt_bool(body, "enabled", "service", s.enabled);
  if (!enabled.ok()) return enabled.error();
  s.enabled = *enabled;
  return {};
}

Result<Reply> list_services(ApiContext& ctx, Call& call) {
  auto ss = ctx.store().list_services();
  if (!ss.ok()) return ss.error();
  const auto type = call.query("type");
  const auto name = call.query("name");
  json out = json::array();
  for (const auto& s : *ss) {
    if (!query_allows(type, s.type)) continue;
    if (name && s.name != *name) continue;
    out.push_back(catalog_service_json(s, ctx.base_url));
  }
  return Reply::ok({{"services", out}, {"links", list_links(ctx.base_url, "services")}});
}

Result<Reply> show_service(ApiContext& ctx, Call& call) {
  const auto& id = call.param("service_id");
  auto s = ctx.store().get_service(id);
  if (!s.ok()) return service_not_found(id);
  return Reply::ok({{"service", catalog_service_json(*s, ctx.base_url)}});
}

Result<Reply> create_service(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto b = member(*body, "service");
  if (!b.ok()) return b.error();
  store::CatalogService s;
  s.id = new_hex_id();
  if (auto st = read_service(*b, s, true); !st.ok()) return st.error();
  if (auto st = ctx.store().create_service(s); !st.ok()) return st.error();
  return Reply::ok({{"service", catalog_service_json(s, ctx.base_url)}}, 201);
}

Result<Reply> update_service(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto b = member(*body, "service");
  if (!b.ok()) return b.error();
  const auto& id = call.param("service_id");
  auto s = ctx.store().get_service(id);
  if (!s.ok()) return service_not_found(id);
  if (auto st = read_service(*b, *s, false); !st.ok()) return st.error();
  if (auto st = ctx.store().update_service(*s); !st.ok()) {
    if (st.error().code == ErrorCode::kNotFound) return service_not_found(id);
    return st.error();
  }
  return Reply::ok({{"service", catalog_service_json(*s, ctx.base_url)}});
}

Result<Reply> delete_service(ApiContext& ctx, Call& call) {
  const auto& id = call.param("service_id");
  if (auto st = ctx.store().delete_service(id); !st.ok()) {
    if (st.error().code == ErrorCode::kNotFound) return service_not_found(id);
    return st.error();
  }
  return Reply::no_content();
}

// ---- regions ----

json region_json(const store::Region& r, const std::string& base) {
  return {{"id", r.id},
          {"description", r.description},
          {"parent_region_id", r.parent_region_id ? json(*r.parent_region_id) : json(nullptr)},
          {"links", {{"self", base + "/identity/v3/regions/" + r.id}}}};
}

Error region_not_found(const std::string& id) {
  return Error::not_found("Could not find region: " + id + ".");
}

// The store's error for a region write: a missing parent is keystone's 404 naming it.
Error region_error(const Error& e, const store::Region& r) {
  if (e.code == ErrorCode::kNotFound && r.parent_region_id &&
      e.message == "region " + *r.parent_region_id + " does not exist") {
    return region_not_found(*r.parent_region_id);
  }
  if (e.code == ErrorCode::kNotFound) return region_not_found(r.id);
  if (e.code == ErrorCode::kConflict) {
    return Error::conflict("Conflict occurred attempting to store region - Duplicate ID, " + r.id +
                           ".");
  }
  if (e.code == ErrorCode::kInvalidArgument) {
    return bad_request("Invalid input for field 'region.parent_region_id': " + e.message + ".");
  }
  return e;
}

Status read_region(const json& body, store::Region& r) {
  auto desc = text_field(body, "description", "region", 255);
  if (!desc.ok()) return desc.error();
  if (*desc) r.description = **desc;
  auto parent = opt_string(body, "parent_region_id", "region");
  if (!parent.ok()) return parent.error();
  if (body.contains("parent_region_id")) r.parent_region_id = *parent;
  return {};
}

// POST /regions (the id in the body or a new one) and PUT /regions/{region_id}.
Result<Reply> create_region(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto b = member(*body, "region");
  if (!b.ok()) return b.error();
  if (auto st = check_fields(*b, "region", {"id", "description", "parent_region_id"}); !st.ok()) {
    return st.error();
  }
  auto id = opt_string(*b, "id", "region");
  if (!id.ok()) return id.error();
  store::Region r;
  if (call.params.count("region_id")) {
    r.id = call.param("region_id");
    if (*id && **id != r.id) {
      return bad_request("Invalid input for field 'region.id': it differs from the URL's.");
    }
  } else {
    r.id = id->value_or(new_hex_id());
  }
  if (auto st = check_name(r.id, "region.id"); !st.ok()) return st.error();
  if (auto st = read_region(*b, r); !st.ok()) return st.error();
  if (auto st = ctx.store().create_region(r); !st.ok()) return region_error(st.error(), r);
  return Reply::ok({{"region", region_json(r, ctx.base_url)}}, 201);
}

Result<Reply> list_regions(ApiContext& ctx, Call& call) {
  auto rs = ctx.store().list_regions();
  if (!rs.ok()) return rs.error();
  const auto parent = call.query("parent_region_id");
  json out = json::array();
  for (const auto& r : *rs) {
    if (parent && r.parent_region_id != *parent) continue;
    out.push_back(region_json(r, ctx.base_url));
  }
  return Reply::ok({{"regions", out}, {"links", list_links(ctx.base_url, "regions")}});
}

Result<Reply> show_region(ApiContext& ctx, Call& call) {
  const auto& id = call.param("region_id");
  auto r = ctx.store().get_region(id);
  if (!r.ok()) return region_not_found(id);
  return Reply::ok({{"region", region_json(*r, ctx.base_url)}});
}

Result<Reply> update_region(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto b = member(*body, "region");
  if (!b.ok()) return b.error();
  if (auto st = check_fields(*b, "region", {"description", "parent_region_id"}); !st.ok()) {
    return st.error();
  }
  const auto& id = call.param("region_id");
  auto r = ctx.store().get_region(id);
  if (!r.ok()) return region_not_found(id);
  if (auto st = read_region(*b, *r); !st.ok()) return st.error();
  if (auto st = ctx.store().update_region(*r); !st.ok()) return region_error(st.error(), *r);
  return Reply::ok({{"region", region_json(*r, ctx.base_url)}});
}

Result<Reply> delete_region(ApiContext& ctx, Call& call) {
  const auto& id = call.param("region_id");
  if (auto st = ctx.store().delete_region(id); !st.ok()) {
    if (st.error().code == ErrorCode::kNotFound) return region_not_found(id);
    if (st.error().code == ErrorCode::kForbidden) return forbidden(st.error().message);
    return st.error();
  }
  return Reply::no_content();
}

// ---- endpoints ----

}  // namespace

json catalog_endpoint_json(const store::Endpoint& e, const std::string& base) {
  const json region = e.region_id ? json(*e.region_id) : json(nullptr);
  return {{"id", e.id},
          {"service_id", e.service_id},
          {"interface", e.interface},
          {"url", e.url},
          {"region_id", region},
          {"region", region},  // keystone's legacy name, still answered
          {"enabled", e.enabled},
          {"links", {{"self", base + "/identity/v3/endpoints/" + e.id}}}};
}

namespace {

Error endpoint_not_found(const std::string& id) {
  return Error::not_found("Could not find endpoint: " + id + ".");
}

// The fields of a POST or PATCH body onto `e`; `create` wants service_id, interface and url.
// `legacy_region` is set when the region came as keystone's old `region` attribute, which
// creates a region that does not exist yet.
Status read_endpoint(const json& body, store::Endpoint& e, bool create, bool& legacy_region) {
  if (auto st = check_fields(body, "endpoint",
                             {"service_id", "interface", "url", "region_id", "region", "enabled"});
      !st.ok()) {
    return st;
  }
  auto service = opt_string(body, "service_id", "endpoint");
  if (!service.ok()) return service.error();
  if (*service) e.service_id = **service;
  auto interface = opt_string(body, "interface", "endpoint");
  if (!interface.ok()) return interface.error();
  if (*interface) {
    if (**interface != "public" && **interface != "internal" && **interface != "admin") {
      return bad_request("Invalid input for field 'endpoint.interface': " + shown(**interface) +
                         " is not one of 'public', 'internal', 'admin'.");
    }
    e.interface = **interface;
  }
  auto url = opt_string(body, "url", "endpoint");
  if (!url.ok()) return url.error();
  if (*url) {
    if (auto st = check_name(**url, "endpoint.url", {1024}); !st.ok()) return st;
    e.url = **url;
  }
  if (create) {
    for (const auto& [field, value] :
         {std::pair{"service_id", *service}, std::pair{"interface", *interface},
          std::pair{"url", *url}}) {
      if (!value) {
        return bad_request(std::string("Invalid input for field 'endpoint.") + field +
                           "': required.");
      }
    }
  }
  auto region_id = opt_string(body, "region_id", "endpoint");
  if (!region_id.ok()) return region_id.error();
  auto region = opt_string(body, "region", "endpoint");
  if (!region.ok()) return region.error();
  legacy_region = false;
  if (body.contains("region_id")) {
    e.region_id = *region_id;
  } else if (*region) {
    e.region_id = *region;
    legacy_region = true;
  } else if (body.contains("region")) {
    e.region_id.reset();
  }
  if (e.region_id) {
    if (auto st = check_name(*e.region_id, "endpoint.region_id"); !st.ok()) return st;
  }
  // keystone's schema wants a JSON boolean: the string "False" is a 400, not false.
  auto enabled = opt_bool(body, "enabled", "endpoint", e.enabled);
  if (!enabled.ok()) return enabled.error();
  e.enabled = *enabled;
  return {};
}

// The store's kInvalidArgument names the missing service or region.
Error endpoint_error(const Error& e, const store::Endpoint& ep) {
  if (e.code == ErrorCode::kNotFound) return endpoint_not_found(ep.id);
  if (e.code == ErrorCode::kInvalidArgument) {
    const bool service = e.message.rfind("service ", 0) == 0;
    return bad_request(std::string("Invalid input for field 'endpoint.") +
                       (service ? "service_id" : "region_id") + "': " + e.message + ".");
  }
  return e;
}

Result<Reply> list_endpoints(ApiContext& ctx, Call& call) {
  auto es = ctx.store().list_endpoints();
  if (!es.ok()) return es.error();
  const auto service = call.query("service_id");
  const auto interface = call.query("interface");
  const auto region = call.query("region_id");
  json out = json::array();
  for (const auto& e : *es) {
    if (!query_allows(service, e.service_id) || !query_allows(interface, e.interface)) continue;
    if (region && e.region_id != *region) continue;
    out.push_back(catalog_endpoint_json(e, ctx.base_url));
  }
  return Reply::ok({{"endpoints", out}, {"links", list_links(ctx.base_url, "endpoints")}});
}

Result<Reply> show_endpoint(ApiContext& ctx, Call& call) {
  const auto& id = call.param("endpoint_id");
  auto e = ctx.store().get_endpoint(id);
  if (!e.ok()) return endpoint_not_found(id);
  return Reply::ok({{"endpoint", catalog_endpoint_json(*e, ctx.base_url)}});
}

Result<Reply> create_endpoint(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto b = member(*body, "endpoint");
  if (!b.ok()) return b.error();
  store::Endpoint e;
  e.id = new_hex_id();
  bool legacy_region = false;
  if (auto st = read_endpoint(*b, e, true, legacy_region); !st.ok()) return st.error();
  if (auto st = ctx.store().create_endpoint(e, legacy_region); !st.ok()) {
    return endpoint_error(st.error(), e);
  }
  return Reply::ok({{"endpoint", catalog_endpoint_json(e, ctx.base_url)}}, 201);
}

Result<Reply> update_endpoint(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto b = member(*body, "endpoint");
  if (!b.ok()) return b.error();
  const auto& id = call.param("endpoint_id");
  auto e = ctx.store().get_endpoint(id);
  if (!e.ok()) return endpoint_not_found(id);
  bool legacy_region = false;
  if (auto st = read_endpoint(*b, *e, false, legacy_region); !st.ok()) return st.error();
  if (auto st = ctx.store().update_endpoint(*e, legacy_region); !st.ok()) {
    return endpoint_error(st.error(), *e);
  }
  return Reply::ok({{"endpoint", catalog_endpoint_json(*e, ctx.base_url)}});
}

Result<Reply> delete_endpoint(ApiContext& ctx, Call& call) {
  const auto& id = call.param("endpoint_id");
  if (auto st = ctx.store().delete_endpoint(id); !st.ok()) {
    if (st.error().code == ErrorCode::kNotFound) return endpoint_not_found(id);
    return st.error();
  }
  return Reply::no_content();
}

}  // namespace

std::vector<Route> identity_catalog_routes(ApiContext& ctx) {
  std::vector<Route> r;
  auto add = [&r, &ctx](const char* m, const char* p, const char* policy,
                        Result<Reply> (*h)(ApiContext&, Call&)) {
    r.push_back(
        {m, p, Service::kIdentity, policy, [&ctx, h](Call& call) { return h(ctx, call); }, {}});
  };
  // keystone lets any token read regions; services and endpoints it shows to system readers, a
  // scope gpucloud has not, so to admins here.
  add("GET", "/identity/v3/services", "identity:admin", list_services);
  add("POST", "/identity/v3/services", "identity:admin", create_service);
  add("GET", "/identity/v3/services/{service_id}", "identity:admin", show_service);
  add("PATCH", "/identity/v3/services/{service_id}", "identity:admin", update_service);
  add("DELETE", "/identity/v3/services/{service_id}", "identity:admin", delete_service);
  add("GET", "/identity/v3/regions", "identity:read_self", list_regions);
  add("POST", "/identity/v3/regions", "identity:admin", create_region);
  add("GET", "/identity/v3/regions/{region_id}", "identity:read_self", show_region);
  add("PUT", "/identity/v3/regions/{region_id}", "identity:admin", create_region);
  add("PATCH", "/identity/v3/regions/{region_id}", "identity:admin", update_region);
  add("DELETE", "/identity/v3/regions/{region_id}", "identity:admin", delete_region);
  add("GET", "/identity/v3/endpoints", "identity:admin", list_endpoints);
  add("POST", "/identity/v3/endpoints", "identity:admin", create_endpoint);
  add("GET", "/identity/v3/endpoints/{endpoint_id}", "identity:admin", show_endpoint);
  add("PATCH", "/identity/v3/endpoints/{endpoint_id}", "identity:admin", update_endpoint);
  add("DELETE", "/identity/v3/endpoints/{endpoint_id}", "identity:admin", delete_endpoint);
  return r;
}

}  // namespace gpucloud::api

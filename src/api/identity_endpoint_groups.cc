// keystone's OS-EP-FILTER: endpoint groups (a filter on the catalog's endpoints by service,
// region and interface), their association with projects, and projects associated with single
// endpoints. Admins manage and read them, as keystone's defaults (system scope) allow. Like the
// catalog rows they filter (identity_catalog.cc), they do not change the catalog in tokens,
// which is gpucloud's built-in one: docs/identity.md says why.
#include <algorithm>
#include <set>

#include "api/identity_impl.h"
#include "api/policy_impl.h"
#include "api/validation_impl.h"

namespace gpucloud::api {
namespace {

const char* const kEpFilterFilterKeys[] = {"service_id", "region_id", "interface"};

std::string ep_filter_url(const std::string& base, const std::string& tail) {
  return base + "/identity/v3/OS-EP-FILTER/" + tail;
}

json endpoint_group_json(const store::EndpointGroup& g, const std::string& base) {
  json filters = json::object();
  if (g.service_id) filters["service_id"] = *g.service_id;
  if (g.region_id) filters["region_id"] = *g.region_id;
  if (g.interface) filters["interface"] = *g.interface;
  return {{"id", g.id},
          {"name", g.name},
          {"description", g.description ? json(*g.description) : json(nullptr)},
          {"filters", filters},
          {"links", {{"self", ep_filter_url(base, "endpoint_groups/" + g.id)}}}};
}

json ep_filter_collection(const char* key, json items, const std::string& self) {
  return {{key, std::move(items)},
          {"links", {{"self", self}, {"previous", nullptr}, {"next", nullptr}}}};
}

Error endpoint_group_not_found(const std::string& id) {
  return Error::not_found("Could not find endpoint group: " + id + ".");
}

// A store error about the group: kNotFound is keystone's 404 naming it.
Error group_error(const Error& e, const std::string& id) {
  return e.code == ErrorCode::kNotFound ? endpoint_group_not_found(id) : e;
}

// The fields of a POST or PATCH body onto `g`. keystone's schema: name (required on create) and
// description, and filters whose keys are service_id, region_id and interface only; a create
// needs at least one filter. Each value is a string, as the endpoint attribute it matches.
Status read_endpoint_group(const json& body, store::EndpointGroup& g, bool create) {
  if (auto st = check_fields(body, "endpoint_group", {"name", "description", "filters"});
      !st.ok()) {
    return st;
  }
  if (!create && body.empty()) {
    return bad_request(
        "Invalid input for field 'endpoint_group': at least one property is "
        "required.");
  }
  auto name = opt_string(body, "name", "endpoint_group");
  if (!name.ok()) return name.error();
  if (*name) {
    if (auto st = check_name(**name, "endpoint_group.name"); !st.ok()) return st;
    g.name = **name;
  } else if (create || body.contains("name")) {
    return bad_request("Invalid input for field 'endpoint_group.name': required.");
  }
  auto desc = opt_string(body, "description", "endpoint_group");
  if (!desc.ok()) return desc.error();
  if (*desc) {
    if (auto st = check_text(**desc, "endpoint_group.description", 65535); !st.ok()) return st;
  }
  if (body.contains("description")) g.description = *desc;
  if (!body.contains("filters")) {
    if (create) return bad_request("Invalid input for field 'endpoint_group.filters': required.");
    return {};
  }
  const json& f = body["filters"];
  if (!f.is_object()) {
    return bad_request("Invalid input for field 'endpoint_group.filters': not an object.");
  }
  if (create && f.empty()) {
    return bad_request(
        "Invalid input for field 'endpoint_group.filters': filters field is "
        "required and cannot be empty.");
  }
  for (const auto& [key, value] : f.items()) {
    if (std::find(std::begin(kEpFilterFilterKeys), std::end(kEpFilterFilterKeys), key) ==
        std::end(kEpFilterFilterKeys)) {
      return bad_request("Invalid input for field 'endpoint_group.filters." + key +
                         "': the filters are service_id, region_id and interface.");
    }
    if (!value.is_string()) {
      return bad_request("Invalid input for field 'endpoint_group.filters." + key +
                         "': not a string.");
    }
    if (auto st = check_name(value.get<std::string>(), "endpoint_group.filters." + key); !st.ok()) {
      return st;
    }
  }
  auto get = [&f](const char* k) -> std::optional<std::string> {
    if (!f.contains(k)) return std::nullopt;
    return f[k].get<std::string>();
  };
  g.service_id = get("service_id");
  g.region_id = get("region_id");
  g.interface = get("interface");
  return {};
}

Result<Reply> list_endpoint_groups(ApiContext& ctx, Call& call) {
  auto groups = ctx.store().list_endpoint_groups();
  if (!groups.ok()) return groups.error();
  const auto name = call.query("name");
  json out = json::array();
  for (const auto& g : *groups) {
    if (name && g.name != *name) continue;
    out.push_back(endpoint_group_json(g, ctx.base_url));
  }
  return Reply::ok(
      ep_filter_collection("endpoint_groups", out, ep_filter_url(ctx.base_url, "endpoint_groups")));
}

Result<Reply> show_endpoint_group(ApiContext& ctx, Call& call) {
  const auto& id = call.param("endpoint_group_id");
  auto g = ctx.store().get_endpoint_group(id);
  if (!g.ok()) return group_error(g.error(), id);
  return Reply::ok({{"endpoint_group", endpoint_group_json(*g, ctx.base_url)}});
}

Result<Reply> create_endpoint_group(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto b = member(*body, "endpoint_group");
  if (!b.ok()) return b.error();
  store::EndpointGroup g;
  g.id = new_hex_id();
  if (auto st = read_endpoint_group(*b, g, true); !st.ok()) return st.error();
  if (auto st = ctx.store().create_endpoint_group(g); !st.ok()) return st.error();
  return Reply::ok({{"endpoint_group", endpoint_group_json(g, ctx.base_url)}}, 201);
}

Result<Reply> update_endpoint_group(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto b = member(*body, "endpoint_group");
  if (!b.ok()) return b.error();
  const auto& id = call.param("endpoint_group_id");
  auto g = ctx.store().get_endpoint_group(id);
  if (!g.ok()) return group_error(g.error(), id);
  if (auto st = read_endpoint_group(*b, *g, false); !st.ok()) return st.error();
  if (auto st = ctx.store().update_endpoint_group(*g); !st.ok()) return group_error(st.error(), id);
  return Reply::ok({{"endpoint_group", endpoint_group_json(*g, ctx.base_url)}});
}

Result<Reply> delete_endpoint_group(ApiContext& ctx, Call& call) {
  const auto& id = call.param("endpoint_group_id");
  if (auto st = ctx.store().delete_endpoint_group(id); !st.ok()) return group_error(st.error(), id);
  return Reply::no_content();
}

// The catalog's endpoints that `keep` lets through, as keystone lists them.
template <typename Keep>
Result<json> endpoints_json(ApiContext& ctx, Keep keep) {
  auto all = ctx.store().list_endpoints();
  if (!all.ok()) return all.error();
  json out = json::array();
  for (const auto& e : *all) {
    if (keep(e)) out.push_back(catalog_endpoint_json(e, ctx.base_url));
  }
  return out;
}

Result<Reply> list_group_endpoints(ApiContext& ctx, Call& call) {
  const auto& id = call.param("endpoint_group_id");
  auto g = ctx.store().get_endpoint_group(id);
  if (!g.ok()) return group_error(g.error(), id);
  auto out = endpoints_json(ctx, [&g](const store::Endpoint& e) { return g->matches(e); });
  if (!out.ok()) return out.error();
  return Reply::ok(ep_filter_collection(
      "endpoints", *out, ep_filter_url(ctx.base_url, "endpoint_groups/" + id + "/endpoints")));
}

// The projects of `ids` (one that went meanwhile is left out), as keystone lists them.
Result<json> projects_json(ApiContext& ctx, const std::vector<std::string>& ids) {
  json out = json::array();
  for (const auto& id : ids) {
    auto p = ctx.store().get_project(id);
    if (p.ok()) {
      out.push_back(project_json(*p, ctx.base_url));
    } else if (p.error().code != ErrorCode::kNotFound) {
      return p.error();
    }
  }
  return out;
}

Result<Reply> list_group_projects(ApiContext& ctx, Call& call) {
  const auto& id = call.param("endpoint_group_id");
  auto g = ctx.store().get_endpoint_group(id);
  if (!g.ok()) return group_error(g.error(), id);
  auto ids = ctx.store().endpoint_group_project_ids(id);
  if (!ids.ok()) return ids.error();
  auto out = projects_json(ctx, *ids);
  if (!out.ok()) return out.error();
  return Reply::ok(ep_filter_collection(
      "projects", *out, ep_filter_url(ctx.base_url, "endpoint_groups/" + id + "/projects")));
}

// The group and the project of a /endpoint_groups/{g}/projects/{p} route exist (404 naming which).
Status require_group_and_project(ApiContext& ctx, const std::string& group_id,
                                 const std::string& project_id) {
  auto p = ctx.store().get_project(project_id);
  if (!p.ok()) {
    if (p.error().code == ErrorCode::kNotFound) {
      return Error::not_found("Could not find project: " + project_id + ".");
    }
    return p.error();
  }
  auto g = ctx.store().get_endpoint_group(group_id);
  if (!g.ok()) {
    return group_error(g.error(), group_id);
  }
  return {};
}

Result<Reply> show_group_project(ApiContext& ctx, Call& call) {
  const auto& group_id = call.param("endpoint_group_id");
  const auto& project_id = call.param("project_id");
  if (auto st = require_group_and_project(ctx, group_id, project_id); !st.ok()) return st.error();
  auto in = ctx.store().endpoint_group_in_project(group_id, project_id);
  if (!in.ok()) return in.error();
  if (!*in) {
    return Error::not_found("Could not find endpoint group " + group_id + " in project " +
                            project_id + ".");
  }
  return Reply::ok({{"project_endpoint_group",
                     {{"endpoint_group_id", group_id},
                      {"project_id", project_id},
                      {"links",
                       {{"self", ep_filter_url(ctx.base_url, "endpoint_groups/" + group_id +
                                                                 "/projects/" + project_id)}}}}}});
}

// The checks first, for keystone's messages; the store checks again in its transaction (a
// delete between the two is its kNotFound).
Result<Reply> add_group_project(ApiContext& ctx, Call& call) {
  const auto& group_id = call.param("endpoint_group_id");
  const auto& project_id = call.param("project_id");
  if (auto st = require_group_and_project(ctx, group_id, project_id); !st.ok()) return st.error();
  if (auto st = ctx.store().add_endpoint_group_to_project(group_id, project_id); !st.ok()) {
    return st.error();
  }
  return Reply::no_content();
}

Result<Reply> remove_group_project(ApiContext& ctx, Call& call) {
  const auto& group_id = call.param("endpoint_group_id");
  const auto& project_id = call.param("project_id");
  if (auto st = require_group_and_project(ctx, group_id, project_id); !st.ok()) return st.error();
  if (auto st = ctx.store().remove_endpoint_group_from_project(group_id, project_id); !st.ok()) {
    if (st.error().code == ErrorCode::kNotFound) {
      return Error::not_found("Could not find endpoint group " + group_id + " in project " +
                              project_id + ".");
    }
    return st.error();
  }
  return Reply::no_content();
}

Result<store::Project> ep_filter_project(ApiContext& ctx, const std::string& id) {
  auto p = ctx.store().get_project(id);
  if (!p.ok() && p.error().code == ErrorCode::kNotFound) {
    return Error::not_found("Could not find project: " + id + ".");
  }
  return p;
}

Result<Reply> list_project_groups(ApiContext& ctx, Call& call) {
  const auto& project_id = call.param("project_id");
  if (auto p = ep_filter_project(ctx, project_id); !p.ok()) return p.error();
  auto groups = ctx.store().project_endpoint_groups(project_id);
  if (!groups.ok()) return groups.error();
  json out = json::array();
  for (const auto& g : *groups) out.push_back(endpoint_group_json(g, ctx.base_url));
  return Reply::ok(ep_filter_collection(
      "endpoint_groups", out,
      ep_filter_url(ctx.base_url, "projects/" + project_id + "/endpoint_groups")));
}

// keystone's list_endpoints_for_project: the endpoints associated with the project directly, and
// those its endpoint groups' filters let through.
Result<Reply> list_project_endpoints(ApiContext& ctx, Call& call) {
  const auto& project_id = call.param("project_id");
  if (auto p = ep_filter_project(ctx, project_id); !p.ok()) return p.error();
  auto direct = ctx.store().project_endpoint_ids(project_id);
  if (!direct.ok()) return direct.error();
  auto groups = ctx.store().project_endpoint_groups(project_id);
  if (!groups.ok()) return groups.error();
  const std::set<std::string> ids(direct->begin(), direct->end());
  auto out = endpoints_json(ctx, [&](const store::Endpoint& e) {
    if (ids.count(e.id)) return true;
    for (const auto& g : *groups) {
      if (g.matches(e)) return true;
    }
    return false;
  });
  if (!out.ok()) return out.error();
  return Reply::ok(ep_filter_collection(
      "endpoints", *out, ep_filter_url(ctx.base_url, "projects/" + project_id + "/endpoints")));
}

// The endpoint and the project of a /projects/{p}/endpoints/{e} route exist (404 naming which).
Status require_endpoint_and_project(ApiContext& ctx, const std::string& endpoint_id,
                                    const std::string& project_id) {
  auto e = ctx.store().get_endpoint(endpoint_id);
  if (!e.ok()) {
    if (e.error().code == ErrorCode::kNotFound) {
      return Error::not_found("Could not find endpoint: " + endpoint_id + ".");
    }
    return e.error();
  }
  if (auto p = ep_filter_project(ctx, project_id); !p.ok()) return p.error();
  return {};
}

Result<Reply> check_project_endpoint(ApiContext& ctx, Call& call) {
  const auto& endpoint_id = call.param("endpoint_id");
  const auto& project_id = call.param("project_id");
  if (auto st = require_endpoint_and_project(ctx, endpoint_id, project_id); !st.ok()) {
    return st.error();
  }
  auto in = ctx.store().endpoint_in_project(endpoint_id, project_id);
  if (!in.ok()) return in.error();
  if (!*in) {
    return Error::not_found("Could not find endpoint " + endpoint_id + " in project " + project_id +
                            ".");
  }
  return Reply::no_content();
}

Result<Reply> add_project_endpoint(ApiContext& ctx, Call& call) {
  const auto& endpoint_id = call.param("endpoint_id");
  const auto& project_id = call.param("project_id");
  if (auto st = require_endpoint_and_project(ctx, endpoint_id, project_id); !st.ok()) {
    return st.error();
  }
  if (auto st = ctx.store().add_endpoint_to_project(endpoint_id, project_id); !st.ok()) {
    return st.error();
  }
  return Reply::no_content();
}

Result<Reply> remove_project_endpoint(ApiContext& ctx, Call& call) {
  const auto& endpoint_id = call.param("endpoint_id");
  const auto& project_id = call.param("project_id");
  if (auto st = ctx.store().remove_endpoint_from_project(endpoint_id, project_id); !st.ok()) {
    if (st.error().code == ErrorCode::kNotFound) {
      return Error::not_found("Could not find endpoint " + endpoint_id + " in project " +
                              project_id + ".");
    }
    return st.error();
  }
  return Reply::no_content();
}

Result<Reply> list_endpoint_projects(ApiContext& ctx, Call& call) {
  const auto& endpoint_id = call.param("endpoint_id");
  if (auto e = ctx.store().get_endpoint(endpoint_id); !e.ok()) {
    if (e.error().code == ErrorCode::kNotFound) {
      return Error::not_found("Could not find endpoint: " + endpoint_id + ".");
    }
    return e.error();
  }
  auto ids = ctx.store().endpoint_project_ids(endpoint_id);
  if (!ids.ok()) return ids.error();
  auto out = projects_json(ctx, *ids);
  if (!out.ok()) return out.error();
  return Reply::ok(ep_filter_collection(
      "projects", *out, ep_filter_url(ctx.base_url, "endpoints/" + endpoint_id + "/projects")));
}

}  // namespace

std::vector<Route> identity_endpoint_group_routes(ApiContext& ctx) {
  std::vector<Route> r;
  auto add = [&r, &ctx](const char* m, const std::string& p,
                        Result<Reply> (*h)(ApiContext&, Call&)) {
    r.push_back({m,
                 "/identity/v3/OS-EP-FILTER" + p,
                 Service::kIdentity,
                 "identity:admin",
                 [&ctx, h](Call& call) { return h(ctx, call); },
                 {}});
  };
  const std::string group = "/endpoint_groups/{endpoint_group_id}";
  add("GET", "/endpoint_groups", list_endpoint_groups);
  add("POST", "/endpoint_groups", create_endpoint_group);
  add("GET", group, show_endpoint_group);  // HEAD too: keystone's check
  add("PATCH", group, update_endpoint_group);
  add("DELETE", group, delete_endpoint_group);
  add("GET", group + "/endpoints", list_group_endpoints);
  add("GET", group + "/projects", list_group_projects);
  add("GET", group + "/projects/{project_id}", show_group_project);
  add("PUT", group + "/projects/{project_id}", add_group_project);
  add("DELETE", group + "/projects/{project_id}", remove_group_project);
  add("GET", "/projects/{project_id}/endpoint_groups", list_project_groups);
  add("GET", "/projects/{project_id}/endpoints", list_project_endpoints);
  add("GET", "/projects/{project_id}/endpoints/{endpoint_id}", check_project_endpoint);
  add("PUT", "/projects/{project_id}/endpoints/{endpoint_id}", add_project_endpoint);
  add("DELETE", "/projects/{project_id}/endpoints/{endpoint_id}", remove_project_endpoint);
  add("GET", "/endpoints/{endpoint_id}/projects", list_endpoint_projects);
  return r;
}

}  // namespace gpucloud::api

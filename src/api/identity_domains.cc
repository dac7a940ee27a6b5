// Keystone v3 domains and roles: everyone may read them, admins create, update and delete them.
// As keystone: a domain is deleted only once disabled, with its projects, users and roles;
// "default" stays. The built-in roles (admin, member, reader, service) are what policy.cc grants
// by, so they can be neither renamed nor deleted here. A role created with a `domain_id` is that
// domain's own (domain-specific): listed with `?domain_id=` only, and never in a token itself.
#include <algorithm>

#include "api/identity_impl.h"
#include "api/policy_impl.h"
#include "api/validation_impl.h"

namespace gpucloud::api {
namespace {

const std::vector<std::string> kBuiltinRoles = {"admin", "member", "reader", "service"};

bool is_builtin(const std::string& role_id) {
  return std::find(kBuiltinRoles.begin(), kBuiltinRoles.end(), role_id) != kBuiltinRoles.end();
}

json domain_json(const store::Domain& d, const std::string& base) {
  return {{"id", d.id},
          {"name", d.name},
          {"description", d.description},
          {"enabled", d.enabled},
          {"tags", json::array()},
          {"options", json::object()},
          {"links", {{"self", base + "/identity/v3/domains/" + d.id}}}};
}

json role_json(const store::Role& r, const std::string& base) {
  json j = listed_role_json(r, base);
  j["options"] = json::object();
  if (!r.description.empty()) j["description"] = r.description;
  return j;
}

Result<Reply> list_domains(ApiContext& ctx, Call& call) {
  auto ds = ctx.store().list_domains();
  if (!ds.ok()) return ds.error();
  const auto name = call.query("name");
  const auto enabled = keystone_bool_query(call.query("enabled"));
  json out = json::array();
  for (const auto& d : *ds) {
    if (name && d.name != *name) continue;
    if (enabled && d.enabled != *enabled) continue;
    out.push_back(domain_json(d, ctx.base_url));
  }
  return Reply::ok({{"domains", out},
                    {"links",
                     {{"self", ctx.base_url + "/identity/v3/domains"},
                      {"previous", nullptr},
                      {"next", nullptr}}}});
}

Result<Reply> show_domain(ApiContext& ctx, Call& call) {
  const auto& id = call.param("domain_id");
  auto d = ctx.store().get_domain(id);
  if (!d.ok()) return Error::not_found("Could not find domain: " + id + ".");
  return Reply::ok({{"domain", domain_json(*d, ctx.base_url)}});
}

Error domain_conflict(const std::string& name) {
  return Error::conflict(
      "Conflict occurred attempting to store domain - Duplicate entry found with name " + name +
      ".");
}

Result<Reply> create_domain(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto d = member(*body, "domain");
  if (!d.ok()) return d.error();
  if (auto s =
          check_fields(*d, "domain",
                       {"name", "description", "enabled", "explicit_domain_id", "tags", "options"});
      !s.ok())
    return s.error();
  auto name = opt_string(*d, "name", "domain");
  if (!name.ok()) return name.error();
  if (!*name) return bad_request("Invalid input for field 'domain.name': required.");
  if (auto s = check_name(**name, "domain.name", {64}); !s.ok()) return s.error();
  auto desc = opt_string(*d, "description", "domain");
  if (!desc.ok()) return desc.error();
  if (*desc) {
    if (auto s = check_text(**desc, "domain.description", 65535); !s.ok()) return s.error();
  }
  auto enabled = opt_bool(*d, "enabled", "domain", true);
  if (!enabled.ok()) return enabled.error();
  store::Domain domain;
  domain.id = new_hex_id();
  domain.name = **name;
  domain.description = desc->value_or("");
  domain.enabled = *enabled;
  if (auto s = ctx.store().create_domain(domain); !s.ok()) {
    if (s.error().code == ErrorCode::kConflict) return domain_conflict(domain.name);
    return s.error();
  }
  return Reply::ok({{"domain", domain_json(domain, ctx.base_url)}}, 201);
}

Result<Reply> update_domain(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto d = member(*body, "domain");
  if (!d.ok()) return d.error();
  if (auto s = check_fields(*d, "domain", {"name", "description", "enabled", "tags", "options"});
      !s.ok())
    return s.error();
  const auto& id = call.param("domain_id");
  auto domain = ctx.store().get_domain(id);
  if (!domain.ok()) return Error::not_found("Could not find domain: " + id + ".");
  auto name = opt_string(*d, "name", "domain");
  if (!name.ok()) return name.error();
  auto desc = opt_string(*d, "description", "domain");
  if (!desc.ok()) return desc.error();
  auto enabled = opt_bool(*d, "enabled", "domain", domain->enabled);
  if (!enabled.ok()) return enabled.error();
  if (*name) {
    if (auto s = check_name(**name, "domain.name", {64}); !s.ok()) return s.error();
    domain->name = **name;
  }
  if (*desc) {
    if (auto s = check_text(**desc, "domain.description", 65535); !s.ok()) return s.error();
    domain->description = **desc;
  }
  // keystone keeps the default domain enabled: the cloud's own admin lives there.
  if (id == "default" && !*enabled) {
    return forbidden("The default domain cannot be disabled.");
  }
  domain->enabled = *enabled;
  if (auto s = ctx.store().update_domain(*domain); !s.ok()) {
    if (s.error().code == ErrorCode::kConflict) return domain_conflict(domain->name);
    return s.error();
  }
  return Reply::ok({{"domain", domain_json(*domain, ctx.base_url)}});
}

Result<Reply> delete_domain(ApiContext& ctx, Call& call) {
  const auto& id = call.param("domain_id");
  if (auto s = ctx.store().delete_domain(id); !s.ok()) {
    if (s.error().code == ErrorCode::kNotFound) {
      return Error::not_found("Could not find domain: " + id + ".");
    }
    if (s.error().code == ErrorCode::kForbidden && id == "default") {
      return forbidden("The default domain cannot be deleted.");
    }
    if (s.error().code == ErrorCode::kForbidden) {
      return forbidden("Cannot delete a domain that is enabled, please disable it first.");
    }
    return s.error();
  }
  return Reply::no_content();
}

// GET /roles: the global roles, or with `domain_id` that domain's own (keystone lists the two
// apart).
Result<Reply> list_roles(ApiContext& ctx, Call& call) {
  auto rs = ctx.store().list_roles();
  if (!rs.ok()) return rs.error();
  const auto name = call.query("name");
  const auto domain = call.query("domain_id");
  json out = json::array();
  for (const auto& r : *rs) {
    if (r.domain_id != domain) continue;
    if (!name || *name == r.name) out.push_back(role_json(r, ctx.base_url));
  }
  return Reply::ok({{"roles", out},
                    {"links",
                     {{"self", ctx.base_url + "/identity/v3/roles"},
                      {"previous", nullptr},
                      {"next", nullptr}}}});
}

Result<Reply> show_role(ApiContext& ctx, Call& call) {
  const auto& id = call.param("role_id");
  auto r = ctx.store().get_role(id);
  if (!r.ok()) return Error::not_found("Could not find role: " + id + ".");
  return Reply::ok({{"role", role_json(*r, ctx.base_url)}});
}

Error role_conflict(const store::Role& r) {
  return Error::conflict(
      "Conflict occurred attempting to store role - Duplicate entry found with name " + r.name +
      (r.domain_id ? " in domain " + *r.domain_id : std::string()) + ".");
}

Result<Reply> create_role(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto r = member(*body, "role");
  if (!r.ok()) return r.error();
  if (auto s = check_fields(*r, "role", {"name", "description", "domain_id", "options"}); !s.ok())
    return s.error();
  auto name = opt_string(*r, "name", "role");
  if (!name.ok()) return name.error();
  if (!*name) return bad_request("Invalid input for field 'role.name': required.");
  if (auto s = check_name(**name, "role.name"); !s.ok()) return s.error();
  auto desc = opt_string(*r, "description", "role");
  if (!desc.ok()) return desc.error();
  if (*desc) {
    if (auto s = check_text(**desc, "role.description", 255); !s.ok()) return s.error();
  }
  // A domain_id of null is a global role, as none.
  std::optional<std::string> domain;
  if (r->contains("domain_id") && !(*r)["domain_id"].is_null()) {
    auto d = opt_string(*r, "domain_id", "role");
    if (!d.ok()) return d.error();
    domain = *d;
    if (!ctx.store().get_domain(*domain).ok()) {
      return Error::not_found("Could not find domain: " + *domain + ".");
    }
  }
  store::Role role;
  role.id = new_hex_id();
  role.name = **name;
  role.description = desc->value_or("");
  role.domain_id = domain;
  if (auto s = ctx.store().create_role(role); !s.ok()) {
    if (s.error().code == ErrorCode::kConflict) return role_conflict(role);
    if (s.error().code == ErrorCode::kNotFound) {
      return Error::not_found("Could not find domain: " + *domain + ".");
    }
    return s.error();
  }
  return Reply::ok({{"role", role_json(role, ctx.base_url)}}, 201);
}

Result<Reply> update_role(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto r = member(*body, "role");
  if (!r.ok()) return r.error();
  if (auto s = check_fields(*r, "role", {"name", "description", "options"}); !s.ok())
    return s.error();
  const auto& id = call.param("role_id");
  auto role = ctx.store().get_role(id);
  if (!role.ok()) return Error::not_found("Could not find role: " + id + ".");
  auto name = opt_string(*r, "name", "role");
  if (!name.ok()) return name.error();
  auto desc = opt_string(*r, "description", "role");
  if (!desc.ok()) return desc.error();
  if (*name && **name != role->name) {
    if (is_builtin(id)) return forbidden("The built-in role " + id + " cannot be renamed.");
    if (auto s = check_name(**name, "role.name"); !s.ok()) return s.error();
    role->name = **name;
  }
  if (*desc) {
    if (auto s = check_text(**desc, "role.description", 255); !s.ok()) return s.error();
    role->description = **desc;
  }
  if (auto s = ctx.store().update_role(*role); !s.ok()) {
    if (s.error().code == ErrorCode::kConflict) return role_conflict(*role);
    return s.error();
  }
  return Reply::ok({{"role", role_json(*role, ctx.base_url)}});
}

Result<Reply> delete_role(ApiContext& ctx, Call& call) {
  const auto& id = call.param("role_id");
  if (!ctx.store().get_role(id).ok()) return Error::not_found("Could not find role: " + id + ".");
  if (is_builtin(id)) return forbidden("The built-in role " + id + " cannot be deleted.");
  if (auto s = ctx.store().delete_role(id); !s.ok()) {
    if (s.error().code == ErrorCode::kNotFound) {
      return Error::not_found("Could not find role: " + id + ".");
    }
    return s.error();
  }
  return Reply::no_content();
}

}  // namespace

json listed_role_json(const store::Role& r, const std::string& base) {
  return {{"id", r.id},
          {"name", r.name},
          {"domain_id", r.domain_id ? json(*r.domain_id) : json(nullptr)},
          {"links", {{"self", base + "/identity/v3/roles/" + r.id}}}};
}

Status check_role_fits_project(const store::Role& role, const store::Project& project) {
  if (!role.domain_id || *role.domain_id == project.domain_id) return {};
  return forbidden("Project " + project.id + " must be in the same domain as the role " + role.id +
                   " being assigned.");
}

std::optional<bool> keystone_bool_query(const std::optional<std::string>& v) {
  if (!v) return std::nullopt;
  return !(*v == "0" || *v == "false" || *v == "False");
}

std::vector<Route> identity_domain_routes(ApiContext& ctx) {
  std::vector<Route> r;
  auto add = [&r, &ctx](const char* m, const char* p, const char* policy,
                        Result<Reply> (*h)(ApiContext&, Call&)) {
    r.push_back(
        {m, p, Service::kIdentity, policy, [&ctx, h](Call& call) { return h(ctx, call); }, {}});
  };
  add("GET", "/identity/v3/domains", "identity:read_self", list_domains);
  add("POST", "/identity/v3/domains", "identity:admin", create_domain);
  add("GET", "/identity/v3/domains/{domain_id}", "identity:read_self", show_domain);
  add("PATCH", "/identity/v3/domains/{domain_id}", "identity:admin", update_domain);
  add("DELETE", "/identity/v3/domains/{domain_id}", "identity:admin", delete_domain);
  add("GET", "/identity/v3/roles", "identity:read_self", list_roles);
  add("POST", "/identity/v3/roles", "identity:admin", create_role);
  add("GET", "/identity/v3/roles/{role_id}", "identity:read_self", show_role);
  add("PATCH", "/identity/v3/roles/{role_id}", "identity:admin", update_role);
  add("DELETE", "/identity/v3/roles/{role_id}", "identity:admin", delete_role);
  return r;
}

}  // namespace gpucloud::api

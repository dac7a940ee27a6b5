// Keystone v3 role assignments on domains, to users and to groups, and `GET /auth/domains` (the
// domains a user may see). gpucloud issues no domain-scoped token, so these assignments grant no
// access to anything: they are kept and listed as keystone keeps them (docs/identity.md).
#include "api/identity_impl.h"
#include "api/policy_impl.h"

namespace gpucloud::api {

Result<RoleHolder> role_holder(store::Store& st, const Call& call, bool group) {
  RoleHolder h;
  if (group) {
    h.group_id = call.param("group_id");
    if (!st.get_group(h.group_id).ok()) {
      return Error::not_found("Could not find group: " + h.group_id + ".");
    }
  } else {
    h.user_id = call.param("user_id");
    if (!st.get_user(h.user_id).ok()) {
      return Error::not_found("Could not find user: " + h.user_id + ".");
    }
  }
  if (call.params.count("role_id")) {
    auto role = st.get_role(call.param("role_id"));
    if (!role.ok()) return Error::not_found("Could not find role: " + call.param("role_id") + ".");
    h.role = role->held_as();
  }
  return h;
}

namespace {

// The assignment a PUT, HEAD or DELETE names; 404 naming whichever of them does not exist.
Result<store::DomainRoleAssignment> domain_assignment(ApiContext& ctx, Call& call, bool group) {
  store::Store& st = ctx.store();
  const auto& domain_id = call.param("domain_id");
  if (!st.get_domain(domain_id).ok()) {
    return Error::not_found("Could not find domain: " + domain_id + ".");
  }
  auto holder = role_holder(st, call, group);
  if (!holder.ok()) return holder.error();
  store::DomainRoleAssignment a;
  a.domain_id = domain_id;
  a.user_id = holder->user_id;
  a.group_id = holder->group_id;
  a.role = holder->role;
  return a;
}

Result<Reply> put_domain_role(ApiContext& ctx, Call& call, bool group) {
  auto a = domain_assignment(ctx, call, group);
  if (!a.ok()) return a.error();
  if (auto s = ctx.store().assign_domain_role(*a); !s.ok()) return s.error();
  return Reply::no_content();
}

Result<Reply> delete_domain_role(ApiContext& ctx, Call& call, bool group) {
  auto a = domain_assignment(ctx, call, group);
  if (!a.ok()) return a.error();
  if (auto s = ctx.store().unassign_domain_role(*a); !s.ok()) {
    if (s.error().code == ErrorCode::kNotFound) {
      return Error::not_found("Could not find role assignment.");
    }
    return s.error();
  }
  return Reply::no_content();
}

Result<Reply> check_domain_role(ApiContext& ctx, Call& call, bool group) {
  auto a = domain_assignment(ctx, call, group);
  if (!a.ok()) return a.error();
  auto as = ctx.store().list_domain_role_assignments(a->domain_id, a->user_id, a->group_id);
  if (!as.ok()) return as.error();
  for (const auto& x : *as) {
    if (x.role == a->role) return Reply::no_content();
  }
  return Error::not_found("Could not find role assignment.");
}

Result<Reply> list_domain_roles(ApiContext& ctx, Call& call, bool group) {
  auto a = domain_assignment(ctx, call, group);
  if (!a.ok()) return a.error();
  auto as = ctx.store().list_domain_role_assignments(a->domain_id, a->user_id, a->group_id);
  if (!as.ok()) return as.error();
  auto roles = ctx.store().list_roles();
  if (!roles.ok()) return roles.error();
  json out = json::array();
  for (const auto& x : *as) {
    for (const auto& r : *roles) {
      if (r.held_as() == x.role) out.push_back(listed_role_json(r, ctx.base_url));
    }
  }
  return Reply::ok({{"roles", out}, {"links", {{"self", nullptr}}}});
}

// GET /auth/domains: the enabled domains where the caller holds a role, its own or through a
// group. Any token may ask, about its own user only.
Result<Reply> auth_domains(ApiContext& ctx, Call& call) {
  auto ds = ctx.store().list_user_domains(call.who().user_id);
  if (!ds.ok()) return ds.error();
  json out = json::array();
  for (const auto& d : *ds) {
    out.push_back({{"id", d.id},
                   {"name", d.name},
                   {"description", d.description},
                   {"enabled", d.enabled},
                   {"links", {{"self", ctx.base_url + "/identity/v3/domains/" + d.id}}}});
  }
  return Reply::ok({{"domains", out},
                    {"links",
                     {{"self", ctx.base_url + "/identity/v3/auth/domains"},
                      {"previous", nullptr},
                      {"next", nullptr}}}});
}

}  // namespace

std::vector<Route> identity_domain_role_routes(ApiContext& ctx) {
  std::vector<Route> r;
  using DomainRoleHandler = Result<Reply> (*)(ApiContext&, Call&, bool);
  auto add = [&r, &ctx](const char* m, const char* p, DomainRoleHandler h, bool group) {
    r.push_back({m,
                 p,
                 Service::kIdentity,
                 "identity:admin",
                 [&ctx, h, group](Call& call) { return h(ctx, call, group); },
                 {}});
  };
  for (const bool group : {false, true}) {
    const char* one = group ? "/identity/v3/domains/{domain_id}/groups/{group_id}/roles/{role_id}"
                            : "/identity/v3/domains/{domain_id}/users/{user_id}/roles/{role_id}";
    const char* all = group ? "/identity/v3/domains/{domain_id}/groups/{group_id}/roles"
                            : "/identity/v3/domains/{domain_id}/users/{user_id}/roles";
    add("PUT", one, put_domain_role, group);
    add("HEAD", one, check_domain_role, group);
    add("DELETE", one, delete_domain_role, group);
    add("GET", all, list_domain_roles, group);
  }
  r.push_back({"GET",
               "/identity/v3/auth/domains",
               Service::kIdentity,
               "identity:read_self",
               [&ctx](Call& call) { return auth_domains(ctx, call); },
               {}});
  return r;
}

}  // namespace gpucloud::api

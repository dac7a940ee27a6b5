// Keystone v3 role assignments on the system, to users and to groups:
// PUT/HEAD/DELETE /system/{users|groups}/{id}/roles/{role_id} and GET of their .../roles, for
// admins. gpucloud issues no system-scoped token, so these assignments grant nothing: they are
// kept and listed as keystone keeps them (docs/identity.md).
#include <string>

#include "api/identity_impl.h"
#include "api/policy_impl.h"

namespace gpucloud::api {
namespace {

// The assignment a route names; 404 naming whichever of the user or group and the role (when the
// route has one) does not exist.
Result<store::SystemRoleAssignment> system_assignment(ApiContext& ctx, Call& call, bool group) {
  auto holder = role_holder(ctx.store(), call, group);
  if (!holder.ok()) return holder.error();
  store::SystemRoleAssignment a;
  a.user_id = holder->user_id;
  a.group_id = holder->group_id;
  a.role = holder->role;
  return a;
}

Result<Reply> put_system_role(ApiContext& ctx, Call& call, bool group) {
  auto a = system_assignment(ctx, call, group);
  if (!a.ok()) return a.error();
  if (auto s = ctx.store().assign_system_role(*a); !s.ok()) return s.error();
  return Reply::no_content();
}

Result<Reply> delete_system_role(ApiContext& ctx, Call& call, bool group) {
  auto a = system_assignment(ctx, call, group);
  if (!a.ok()) return a.error();
  if (auto s = ctx.store().unassign_system_role(*a); !s.ok()) {
    if (s.error().code == ErrorCode::kNotFound) {
      return Error::not_found("Could not find role assignment.");
    }
    return s.error();
  }
  return Reply::no_content();
}

Result<Reply> check_system_role(ApiContext& ctx, Call& call, bool group) {
  auto a = system_assignment(ctx, call, group);
  if (!a.ok()) return a.error();
  auto as = ctx.store().list_system_role_assignments(a->user_id, a->group_id);
  if (!as.ok()) return as.error();
  for (const auto& x : *as) {
    if (x.role == a->role) return Reply::no_content();
  }
  return Error::not_found("Could not find role assignment.");
}

Result<Reply> list_system_roles(ApiContext& ctx, Call& call, bool group) {
  auto a = system_assignment(ctx, call, group);
  if (!a.ok()) return a.error();
  auto as = ctx.store().list_system_role_assignments(a->user_id, a->group_id);
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

}  // namespace

std::vector<Route> identity_system_role_routes(ApiContext& ctx) {
  std::vector<Route> r;
  using SystemRoleHandler = Result<Reply> (*)(ApiContext&, Call&, bool);
  auto add = [&r, &ctx](const char* m, const char* p, SystemRoleHandler h, bool group) {
    r.push_back({m,
                 p,
                 Service::kIdentity,
                 "identity:admin",
                 [&ctx, h, group](Call& call) { return h(ctx, call, group); },
                 {}});
  };
  for (const bool group : {false, true}) {
    const char* one = group ? "/identity/v3/system/groups/{group_id}/roles/{role_id}"
                            : "/identity/v3/system/users/{user_id}/roles/{role_id}";
    const char* all = group ? "/identity/v3/system/groups/{group_id}/roles"
                            : "/identity/v3/system/users/{user_id}/roles";
    add("PUT", one, put_system_role, group);
    add("HEAD", one, check_system_role, group);
    add("DELETE", one, delete_system_role, group);
    add("GET", all, list_system_roles, group);
  }
  return r;
}

}  // namespace gpucloud::api

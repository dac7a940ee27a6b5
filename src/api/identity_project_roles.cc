// Keystone v3 roles on projects as lists, and roles on projects held by groups:
// GET /projects/{p}/users/{u}/roles (the user's own assignments there, as keystone lists them),
// and PUT/HEAD/DELETE /projects/{p}/groups/{g}/roles/{r} with GET .../roles. A group's roles are
// its members' (the store reads them beside each user's own for every token); removing one
// revokes the members' tokens on the project, in the store.
#include <algorithm>
#include <string>
#include <vector>

#include "api/identity_impl.h"
#include "api/policy_impl.h"

namespace gpucloud::api {
namespace {

// The roles named in `names`, as keystone lists them (in the order of the role list).
Result<json> roles_named(ApiContext& ctx, const std::vector<std::string>& names) {
  auto roles = ctx.store().list_roles();
  if (!roles.ok()) return roles.error();
  json out = json::array();
  for (const auto& r : *roles) {
    if (std::find(names.begin(), names.end(), r.held_as()) != names.end()) {
      out.push_back(listed_role_json(r, ctx.base_url));
    }
  }
  return out;
}

// The assignment a group route names; 404 naming whichever of project, group and role (when the
// route has one) does not exist. A grant (`grant`) of a domain-specific role must be on a project
// of the role's domain (403).
Result<store::GroupRoleAssignment> group_project_assignment(ApiContext& ctx, Call& call,
                                                            bool grant = false) {
  store::Store& st = ctx.store();
  store::GroupRoleAssignment a;
  a.project_id = call.param("project_id");
  a.group_id = call.param("group_id");
  auto project = st.get_project(a.project_id);
  if (!project.ok()) return Error::not_found("Could not find project: " + a.project_id + ".");
  if (!st.get_group(a.group_id).ok()) {
    return Error::not_found("Could not find group: " + a.group_id + ".");
  }
  if (call.params.count("role_id")) {
    auto role = st.get_role(call.param("role_id"));
    if (!role.ok()) return Error::not_found("Could not find role: " + call.param("role_id") + ".");
    if (grant) {
      if (auto s = check_role_fits_project(*role, *project); !s.ok()) return s.error();
    }
    a.role = role->held_as();
  }
  return a;
}

Result<Reply> put_group_project_role(ApiContext& ctx, Call& call) {
  auto a = group_project_assignment(ctx, call, true);
  if (!a.ok()) return a.error();
  if (auto s = ctx.store().assign_group_role(*a); !s.ok()) return s.error();
  return Reply::no_content();
}

Result<Reply> delete_group_project_role(ApiContext& ctx, Call& call) {
  auto a = group_project_assignment(ctx, call);
  if (!a.ok()) return a.error();
  if (auto s = ctx.store().unassign_group_role(*a); !s.ok()) {
    if (s.error().code == ErrorCode::kNotFound) {
      return Error::not_found("Could not find role assignment.");
    }
    return s.error();
  }
  return Reply::no_content();
}

Result<Reply> check_group_project_role(ApiContext& ctx, Call& call) {
  auto a = group_project_assignment(ctx, call);
  if (!a.ok()) return a.error();
  auto as = ctx.store().list_group_role_assignments(a->project_id, a->group_id);
  if (!as.ok()) return as.error();
  for (const auto& x : *as) {
    if (x.role == a->role) return Reply::no_content();
  }
  return Error::not_found("Could not find role assignment.");
}

Result<Reply> list_group_project_roles(ApiContext& ctx, Call& call) {
  auto a = group_project_assignment(ctx, call);
  if (!a.ok()) return a.error();
  auto as = ctx.store().list_group_role_assignments(a->project_id, a->group_id);
  if (!as.ok()) return as.error();
  std::vector<std::string> names;
  for (const auto& x : *as) names.push_back(x.role);
  auto out = roles_named(ctx, names);
  if (!out.ok()) return out.error();
  return Reply::ok({{"roles", *out}, {"links", {{"self", nullptr}}}});
}

// GET /projects/{p}/users/{u}/roles: the user's own assignments (keystone lists the direct ones
// here; its groups' are listed on the group, and both by GET /role_assignments?effective).
Result<Reply> list_user_project_roles(ApiContext& ctx, Call& call) {
  const auto& project_id = call.param("project_id");
  const auto& user_id = call.param("user_id");
  if (!ctx.store().get_project(project_id).ok()) {
    return Error::not_found("Could not find project: " + project_id + ".");
  }
  if (!ctx.store().get_user(user_id).ok()) {
    return Error::not_found("Could not find user: " + user_id + ".");
  }
  auto as = ctx.store().list_role_assignments(user_id, project_id);
  if (!as.ok()) return as.error();
  std::vector<std::string> names;
  for (const auto& x : *as) names.push_back(x.role);
  auto out = roles_named(ctx, names);
  if (!out.ok()) return out.error();
  return Reply::ok({{"roles", *out}, {"links", {{"self", nullptr}}}});
}

}  // namespace

std::vector<Route> identity_project_role_routes(ApiContext& ctx) {
  std::vector<Route> r;
  auto add = [&r, &ctx](const char* m, const char* p, Result<Reply> (*h)(ApiContext&, Call&)) {
    r.push_back({m,
                 p,
                 Service::kIdentity,
                 "identity:admin",
                 [&ctx, h](Call& call) { return h(ctx, call); },
                 {}});
  };
  const char* one = "/identity/v3/projects/{project_id}/groups/{group_id}/roles/{role_id}";
  add("PUT", one, put_group_project_role);
  add("HEAD", one, check_group_project_role);
  add("DELETE", one, delete_group_project_role);
  add("GET", "/identity/v3/projects/{project_id}/groups/{group_id}/roles",
      list_group_project_roles);
  add("GET", "/identity/v3/projects/{project_id}/users/{user_id}/roles", list_user_project_roles);
  return r;
}

}  // namespace gpucloud::api

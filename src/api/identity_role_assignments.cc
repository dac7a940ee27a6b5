// Keystone v3 role assignments: a user's roles on projects (PUT/HEAD/DELETE
// /projects/{p}/users/{u}/roles/{r}; removing one revokes the user's tokens there, in the store)
// and GET /role_assignments, which lists them with the roles on domains
// (identity_domain_roles.cc).
#include <map>

#include "api/identity_impl.h"
#include "api/policy_impl.h"

namespace gpucloud::api {
namespace {

// PUT/DELETE/HEAD /projects/{p}/users/{u}/roles/{r}
Result<store::RoleAssignment> assignment(ApiContext& ctx, Call& call) {
  auto role = ctx.store().get_role(call.param("role_id"));
  if (!role.ok()) return Error::not_found("Could not find role: " + call.param("role_id") + ".");
  if (!ctx.store().get_project(call.param("project_id")).ok()) {
    return Error::not_found("Could not find project: " + call.param("project_id") + ".");
  }
  if (!ctx.store().get_user(call.param("user_id")).ok()) {
    return Error::not_found("Could not find user: " + call.param("user_id") + ".");
  }
  return store::RoleAssignment{call.param("user_id"), call.param("project_id"), role->name};
}

// The domain rows of GET /role_assignments (roles on domains, users' and groups'), filtered by
// user.id, group.id and scope.domain.id; with names when the maps are given.
Result<std::vector<json>> domain_role_assignments_json(
    ApiContext& ctx, Call& call, const std::map<std::string, std::string>& role_ids,
    const std::map<std::string, store::User>* users,
    std::map<std::string, std::string>* domain_names) {
  const auto user_filter = call.query("user.id");
  const auto group_filter = call.query("group.id");
  if (user_filter && group_filter) return std::vector<json>();
  auto as =
      ctx.store().list_domain_role_assignments(call.query("scope.domain.id").value_or(""),
                                               user_filter.value_or(""), group_filter.value_or(""));
  if (!as.ok()) return as.error();
  std::map<std::string, std::string> group_names;
  if (users) {
    auto gs = ctx.store().list_groups();
    if (!gs.ok()) return gs.error();
    for (const auto& g : *gs) group_names[g.id] = g.name;
  }
  std::vector<json> out;
  for (const auto& a : *as) {
    // A user filter asks for users' rows (keystone's effective expansion through groups is not
    // implemented), a group filter for groups'.
    if (user_filter && a.user_id.empty()) continue;
    const auto id = role_ids.find(a.role);
    const std::string role_id = id == role_ids.end() ? a.role : id->second;
    json role = {{"id", role_id}};
    json domain = {{"id", a.domain_id}};
    const bool is_user = !a.user_id.empty();
    json holder = {{"id", is_user ? a.user_id : a.group_id}};
    if (users) {
      role["name"] = a.role;
      domain["name"] = (*domain_names)[a.domain_id];
      if (is_user) {
        if (auto u = users->find(a.user_id); u != users->end()) holder["name"] = u->second.name;
      } else {
        holder["name"] = group_names[a.group_id];
      }
    }
    out.push_back({{"role", role},
                   {is_user ? "user" : "group", holder},
                   {"scope", {{"domain", domain}}},
                   {"links",
                    {{"assignment", ctx.base_url + "/identity/v3/domains/" + a.domain_id +
                                        (is_user ? "/users/" : "/groups/") +
                                        holder["id"].get<std::string>() + "/roles/" + role_id}}}});
  }
  return out;
}

// GET /role_assignments, with keystone's include_names (`openstack role assignment list
// --names`): names beside the ids of role, user, project and their domains.
Result<Reply> list_role_assignments(ApiContext& ctx, Call& call) {
  auto as = ctx.store().list_role_assignments(call.query("user.id").value_or(""),
                                              call.query("scope.project.id").value_or(""));
  if (!as.ok()) return as.error();
  const auto flag = call.query("include_names");
  const bool names = flag && *flag != "0" && *flag != "false" && *flag != "False";
  // Assignments hold role names; the API shows the role's id (the name, for the built-ins).
  auto roles = ctx.store().list_roles();
  if (!roles.ok()) return roles.error();
  std::map<std::string, std::string> role_ids;
  for (const auto& r : *roles) role_ids[r.name] = r.id;
  std::map<std::string, store::User> users;
  std::map<std::string, store::Project> projects;
  std::map<std::string, std::string> domain_names;
  if (names) {
    auto us = ctx.store().list_users();
    if (!us.ok()) return us.error();
    for (auto& u : *us) users[u.id] = std::move(u);
    auto ps = ctx.store().list_projects();
    if (!ps.ok()) return ps.error();
    for (auto& p : *ps) projects[p.id] = std::move(p);
    auto ds = ctx.store().list_domains();
    if (!ds.ok()) return ds.error();
    for (const auto& d : *ds) domain_names[d.id] = d.name;
  }
  auto domain = [&](const std::string& id) -> json {
    return {{"id", id}, {"name", domain_names[id]}};
  };
  json out = json::array();
  // Groups hold roles on domains only, so a group or domain filter leaves out project rows, and
  // a project filter the domain rows.
  const auto group_filter = call.query("group.id");
  const auto domain_filter = call.query("scope.domain.id");
  const bool project_rows = !group_filter && !domain_filter;
  for (const auto& a : project_rows ? *as : std::vector<store::RoleAssignment>()) {
    const auto id = role_ids.find(a.role);
    const std::string role_id = id == role_ids.end() ? a.role : id->second;
    json role = {{"id", role_id}};
    json user = {{"id", a.user_id}};
    json project = {{"id", a.project_id}};
    if (names) {
      role["name"] = a.role;
      if (auto u = users.find(a.user_id); u != users.end()) {
        user["name"] = u->second.name;
        user["domain"] = domain(u->second.domain_id);
      }
      if (auto p = projects.find(a.project_id); p != projects.end()) {
        project["name"] = p->second.name;
        project["domain"] = domain(p->second.domain_id);
      }
    }
    out.push_back({{"role", role},
                   {"user", user},
                   {"scope", {{"project", project}}},
                   {"links",
                    {{"assignment", ctx.base_url + "/identity/v3/projects/" + a.project_id +
                                        "/users/" + a.user_id + "/roles/" + role_id}}}});
  }
  if (!call.query("scope.project.id")) {
    auto ds = domain_role_assignments_json(ctx, call, role_ids, names ? &users : nullptr,
                                           names ? &domain_names : nullptr);
    if (!ds.ok()) return ds.error();
    for (auto& d : *ds) out.push_back(std::move(d));
  }
  return Reply::ok({{"role_assignments", out},
                    {"links",
                     {{"self", ctx.base_url + "/identity/v3/role_assignments"},
                      {"previous", nullptr},
                      {"next", nullptr}}}});
}

}  // namespace

std::vector<Route> identity_role_assignment_routes(ApiContext& ctx) {
  std::vector<Route> r;
  auto add = [&r](const char* m, const char* p, const char* policy, Handler h) {
    r.push_back({m, p, Service::kIdentity, policy, std::move(h), {}});
  };
  add("PUT", "/identity/v3/projects/{project_id}/users/{user_id}/roles/{role_id}", "identity:admin",
      [&ctx](Call& call) -> Result<Reply> {
        auto a = assignment(ctx, call);
        if (!a.ok()) return a.error();
        if (auto s = ctx.store().assign_role(*a); !s.ok()) return s.error();
        return Reply::no_content();
      });
  add("DELETE", "/identity/v3/projects/{project_id}/users/{user_id}/roles/{role_id}",
      "identity:admin", [&ctx](Call& call) -> Result<Reply> {
        auto a = assignment(ctx, call);
        if (!a.ok()) return a.error();
        if (auto s = ctx.store().unassign_role(*a); !s.ok()) return s.error();
        return Reply::no_content();
      });
  add("HEAD", "/identity/v3/projects/{project_id}/users/{user_id}/roles/{role_id}",
      "identity:admin", [&ctx](Call& call) -> Result<Reply> {
        auto a = assignment(ctx, call);
        if (!a.ok()) return a.error();
        auto as = ctx.store().list_role_assignments(a->user_id, a->project_id);
        if (!as.ok()) return as.error();
        for (const auto& x : *as) {
          if (x.role == a->role) return Reply::no_content();
        }
        return Error::not_found("Could not find role assignment.");
      });
  add("GET", "/identity/v3/role_assignments", "identity:admin",
      [&ctx](Call& call) -> Result<Reply> { return list_role_assignments(ctx, call); });
  return r;
}

}  // namespace gpucloud::api

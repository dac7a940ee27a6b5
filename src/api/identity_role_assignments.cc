// Keystone v3 role assignments: a user's roles on projects (PUT/HEAD/DELETE
// /projects/{p}/users/{u}/roles/{r}; removing one revokes the user's tokens there, in the store)
// and GET /role_assignments, which lists them with the groups' roles on projects
// (identity_project_roles.cc), the roles on domains (identity_domain_roles.cc) and on the system
// (identity_system_roles.cc); `effective` adds what inference rules imply and leaves out the
// domain-specific roles, as keystone.
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/identity_impl.h"
#include "api/policy_impl.h"

namespace gpucloud::api {
namespace {

// PUT/DELETE/HEAD /projects/{p}/users/{u}/roles/{r}. A grant (`grant`) of a domain-specific role
// must be on a project of the role's domain (403).
Result<store::RoleAssignment> assignment(ApiContext& ctx, Call& call, bool grant = false) {
  auto role = ctx.store().get_role(call.param("role_id"));
  if (!role.ok()) return Error::not_found("Could not find role: " + call.param("role_id") + ".");
  auto project = ctx.store().get_project(call.param("project_id"));
  if (!project.ok()) {
    return Error::not_found("Could not find project: " + call.param("project_id") + ".");
  }
  if (!ctx.store().get_user(call.param("user_id")).ok()) {
    return Error::not_found("Could not find user: " + call.param("user_id") + ".");
  }
  if (grant) {
    if (auto s = check_role_fits_project(*role, *project); !s.ok()) return s.error();
  }
  return store::RoleAssignment{call.param("user_id"), call.param("project_id"), role->held_as()};
}

// One row of GET /role_assignments before it is shown: who holds which role where, and for an
// effective row the group it comes through.
struct AssignmentRow {
  std::string role;  // as assignments hold it (Role::held_as)
  bool by_group = false;
  std::string holder;  // user or group id
  bool on_domain = false;
  std::string scope;       // project or domain id
  std::string via_group;   // effective rows: the group the user holds the role through
  bool on_system = false;  // a role on the system (scope stays empty)
  // Effective rows from an inference rule: the role assigned, and the one implying this role.
  std::string assigned{};
  std::string prior{};
};

// Every assignment's role, as assignments hold it (a global role's name, a domain-specific
// role's id).
using RolesHeldAs = std::map<std::string, store::Role>;

// keystone's effective listing, past the groups: each row also stands for every role its role
// implies, directly or not (one row each, naming the role that implies it), and the rows of
// domain-specific roles go: they only convey what they imply.
Result<std::vector<AssignmentRow>> with_implied_rows(store::Store& st, const RolesHeldAs& roles,
                                                     std::vector<AssignmentRow> rows) {
  auto rules = st.list_implied_roles("");
  if (!rules.ok()) return rules.error();
  std::map<std::string, const store::Role*> by_id;
  for (const auto& [held, r] : roles) by_id[r.id] = &r;
  std::map<std::string, std::vector<const store::Role*>> implies;  // by prior role id
  for (const auto& rule : *rules) {
    if (by_id.count(rule.implied_role_id)) {
      implies[rule.prior_role_id].push_back(by_id.at(rule.implied_role_id));
    }
  }
  std::vector<AssignmentRow> out;
  for (auto& row : rows) {
    std::vector<AssignmentRow> implied_rows;
    const auto role = roles.find(row.role);
    if (role != roles.end()) {
      std::set<std::string> seen = {role->second.id};
      std::deque<const store::Role*> todo = {&role->second};
      while (!todo.empty()) {
        const store::Role* prior = todo.front();
        todo.pop_front();
        for (const store::Role* implied : implies[prior->id]) {
          if (!seen.insert(implied->id).second) continue;
          AssignmentRow x = row;
          x.role = implied->held_as();
          x.assigned = row.role;
          x.prior = prior->held_as();
          if (!implied->domain_id) implied_rows.push_back(std::move(x));
          todo.push_back(implied);
        }
      }
    }
    // The row itself first, then what it implies.
    if (role == roles.end() || !role->second.domain_id) out.push_back(std::move(row));
    for (auto& x : implied_rows) out.push_back(std::move(x));
  }
  return out;
}

// Every assignment, users' and groups', on projects and domains; with `effective`, each group
// row becomes one row per member (keystone's effective listing).
Result<std::vector<AssignmentRow>> all_assignment_rows(ApiContext& ctx, bool effective) {
  store::Store& st = ctx.store();
  std::vector<AssignmentRow> rows;
  auto users = st.list_role_assignments("", "");
  if (!users.ok()) return users.error();
  for (const auto& a : *users) rows.push_back({a.role, false, a.user_id, false, a.project_id, ""});
  auto groups = st.list_group_role_assignments("", "");
  if (!groups.ok()) return groups.error();
  for (const auto& a : *groups) {
    rows.push_back({a.role, true, a.group_id, false, a.project_id, ""});
  }
  auto domains = st.list_domain_role_assignments("", "", "");
  if (!domains.ok()) return domains.error();
  for (const auto& a : *domains) {
    const bool by_group = a.user_id.empty();
    rows.push_back({a.role, by_group, by_group ? a.group_id : a.user_id, true, a.domain_id, ""});
  }
  auto system = st.list_system_role_assignments("", "");
  if (!system.ok()) return system.error();
  for (const auto& a : *system) {
    const bool by_group = a.user_id.empty();
    rows.push_back({a.role, by_group, by_group ? a.group_id : a.user_id, false, "", "", true});
  }
  if (!effective) return rows;
  std::vector<AssignmentRow> out;
  std::map<std::string, std::vector<store::User>> members;
  for (auto& r : rows) {
    if (!r.by_group) {
      out.push_back(std::move(r));
      continue;
    }
    if (!members.count(r.holder)) {
      auto us = st.list_group_users(r.holder);
      if (!us.ok()) return us.error();
      members[r.holder] = std::move(*us);
    }
    for (const auto& u : members[r.holder]) {
      out.push_back({r.role, false, u.id, r.on_domain, r.scope, r.holder, r.on_system});
    }
  }
  return out;
}

// Names for include_names (`openstack role assignment list --names`).
struct AssignmentNames {
  std::map<std::string, store::User> users;
  std::map<std::string, store::Group> groups;
  std::map<std::string, store::Project> projects;
  std::map<std::string, std::string> domains;
  json domain(const std::string& id) { return {{"id", id}, {"name", domains[id]}}; }
};

Result<AssignmentNames> assignment_names(store::Store& st) {
  AssignmentNames n;
  auto us = st.list_users();
  if (!us.ok()) return us.error();
  for (auto& u : *us) n.users[u.id] = std::move(u);
  auto gs = st.list_groups();
  if (!gs.ok()) return gs.error();
  for (auto& g : *gs) n.groups[g.id] = std::move(g);
  auto ps = st.list_projects();
  if (!ps.ok()) return ps.error();
  for (auto& p : *ps) n.projects[p.id] = std::move(p);
  auto ds = st.list_domains();
  if (!ds.ok()) return ds.error();
  for (const auto& d : *ds) n.domains[d.id] = d.name;
  return n;
}

// The role's id (as held, for a role that went meanwhile).
std::string role_id_of(const RolesHeldAs& roles, const std::string& held_as) {
  const auto r = roles.find(held_as);
  return r == roles.end() ? held_as : r->second.id;
}

json assignment_row_json(const AssignmentRow& a, const RolesHeldAs& roles, AssignmentNames* n,
                         const std::string& base) {
  const std::string role_id = role_id_of(roles, a.role);
  json role = {{"id", role_id}};
  json holder = {{"id", a.holder}};
  json scope = {{"id", a.scope}};
  if (n) {
    const auto r = roles.find(a.role);
    role["name"] = r == roles.end() ? a.role : r->second.name;
    if (r != roles.end() && r->second.domain_id) role["domain"] = n->domain(*r->second.domain_id);
    if (a.by_group) {
      if (auto g = n->groups.find(a.holder); g != n->groups.end()) {
        holder["name"] = g->second.name;
        holder["domain"] = n->domain(g->second.domain_id);
      }
    } else if (auto u = n->users.find(a.holder); u != n->users.end()) {
      holder["name"] = u->second.name;
      holder["domain"] = n->domain(u->second.domain_id);
    }
    if (a.on_system) {
      // keystone names no system.
    } else if (a.on_domain) {
      scope["name"] = n->domains[a.scope];
    } else if (auto p = n->projects.find(a.scope); p != n->projects.end()) {
      scope["name"] = p->second.name;
      scope["domain"] = n->domain(p->second.domain_id);
    }
  }
  // An effective row's assignment is its group's; keystone adds the membership that carries it.
  const bool via_group = !a.via_group.empty();
  const std::string granted_to = via_group    ? "/groups/" + a.via_group
                                 : a.by_group ? "/groups/" + a.holder
                                              : "/users/" + a.holder;
  const std::string where = a.on_system   ? "system"
                            : a.on_domain ? "domains/" + a.scope
                                          : "projects/" + a.scope;
  // A row from an inference rule: the assignment is that of the role assigned, and keystone
  // names the role that implies this one.
  const std::string assigned_id = a.assigned.empty() ? role_id : role_id_of(roles, a.assigned);
  json links = {
      {"assignment", base + "/identity/v3/" + where + granted_to + "/roles/" + assigned_id}};
  if (via_group) {
    links["membership"] = base + "/identity/v3/groups/" + a.via_group + "/users/" + a.holder;
  }
  if (!a.prior.empty()) {
    links["prior_role"] = base + "/identity/v3/roles/" + role_id_of(roles, a.prior);
  }
  return {{"role", role},
          {a.by_group ? "group" : "user", holder},
          {"scope", a.on_system ? json{{"system", {{"all", true}}}}
                                : json{{a.on_domain ? "domain" : "project", scope}}},
          {"links", links}};
}

bool query_flag(Call& call, const char* name) {
  const auto flag = call.query(name);
  return flag && *flag != "0" && *flag != "false" && *flag != "False";
}

// GET /role_assignments, filtered by user.id, group.id, role.id, scope.project.id,
// scope.domain.id and scope.system; `effective` lists what users hold through their groups as their
// own rows, adds the roles implied and leaves out the domain-specific ones, and include_names adds
// the names beside the ids.
Result<Reply> list_role_assignments(ApiContext& ctx, Call& call) {
  // `?effective` with no value counts as true, as keystone's query_filter_is_true.
  const bool effective = query_flag(call, "effective");
  const auto user_filter = call.query("user.id");
  const auto group_filter = call.query("group.id");
  const auto role_filter = call.query("role.id");
  const auto project_filter = call.query("scope.project.id");
  const auto domain_filter = call.query("scope.domain.id");
  const auto system_filter = call.query("scope.system");
  if (effective && group_filter) {
    return bad_request(
        "Invalid input for field 'group.id': combining effective and group filter will always "
        "result in an empty list.");
  }
  auto rows = all_assignment_rows(ctx, effective);
  if (!rows.ok()) return rows.error();
  // Assignments hold role names (ids for domain-specific roles); the API shows the role's id
  // (the name, for the built-ins).
  auto role_list = ctx.store().list_roles();
  if (!role_list.ok()) return role_list.error();
  RolesHeldAs roles;
  for (const auto& r : *role_list) roles[r.held_as()] = r;
  if (effective) {
    rows = with_implied_rows(ctx.store(), roles, std::move(*rows));
    if (!rows.ok()) return rows.error();
  }
  std::optional<AssignmentNames> names;
  if (query_flag(call, "include_names")) {
    auto n = assignment_names(ctx.store());
    if (!n.ok()) return n.error();
    names = std::move(*n);
  }
  json out = json::array();
  for (const auto& a : *rows) {
    const std::string role_id = role_id_of(roles, a.role);
    if (user_filter && (a.by_group || a.holder != *user_filter)) continue;
    if (group_filter && (!a.by_group || a.holder != *group_filter)) continue;
    if (role_filter && role_id != *role_filter) continue;
    if (project_filter && (a.on_domain || a.on_system || a.scope != *project_filter)) continue;
    if (system_filter && !a.on_system) continue;
    if (domain_filter && (!a.on_domain || a.scope != *domain_filter)) continue;
    out.push_back(assignment_row_json(a, roles, names ? &*names : nullptr, ctx.base_url));
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
        auto a = assignment(ctx, call, true);
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

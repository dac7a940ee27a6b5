// Keystone v3: users and role assignments (admin), and what a user may read of their own.
// Projects are in identity_projects.cc, domains and roles in identity_domains.cc.
#include <chrono>
#include <set>

#include "api/identity_impl.h"
#include "api/login_guard_impl.h"
#include "api/policy_impl.h"
#include "api/validation_impl.h"

namespace gpucloud::api {

// Reads an optional string field; a present non-string is an error naming the field.
Result<std::optional<std::string>> opt_string(const json& obj, const char* field,
                                              const char* where) {
  if (!obj.contains(field) || obj[field].is_null()) return std::optional<std::string>();
  if (!obj[field].is_string()) {
    return bad_request(std::string("Invalid input for field '") + where + "." + field +
                       "': string required.");
  }
  return std::optional<std::string>(obj[field].get<std::string>());
}

Result<bool> opt_bool(const json& obj, const char* field, const char* where, bool dflt) {
  if (!obj.contains(field)) return dflt;
  if (!obj[field].is_boolean()) {
    return bad_request(std::string("Invalid input for field '") + where + "." + field +
                       "': boolean required.");
  }
  return obj[field].get<bool>();
}

Result<json> member(const json& body, const char* key) {
  if (!body.contains(key) || !body[key].is_object()) {
    return bad_request(std::string("Invalid input for field '") + key + "': object required.");
  }
  return body[key];
}

Status check_fields(const json& obj, const char* where, std::initializer_list<const char*> known) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool ok = false;
    for (const char* k : known) ok = ok || it.key() == k;
    if (!ok) {
      return bad_request(std::string("Invalid input for field '") + where +
                         "': additional property '" + it.key() + "' is not allowed.");
    }
  }
  return {};
}

json user_json(const store::User& u, const std::string& base) {
  json j = {{"id", u.id},
            {"name", u.name},
            {"domain_id", u.domain_id},
            {"enabled", u.enabled},
            {"password_expires_at", nullptr},
            {"links", {{"self", base + "/identity/v3/users/" + u.id}}}};
  if (!u.email.empty()) j["email"] = u.email;
  if (u.default_project_id) j["default_project_id"] = *u.default_project_id;
  // keystone returns a user's other properties beside its own.
  if (!u.extra.empty()) {
    const json extra = json::parse(u.extra, nullptr, false);
    if (extra.is_object()) {
      for (auto it = extra.begin(); it != extra.end(); ++it) {
        if (!j.contains(it.key())) j[it.key()] = it.value();
      }
    }
  }
  return j;
}

namespace {

// keystone's user schema allows properties of the client's own (additionalProperties): they are
// kept as the user's `extra` and returned with it. `description` is one of them in keystone too.
// `id` and `links` are keystone's to set and never stored.
Status merge_user_extra(const json& body, store::User& user) {
  static const std::set<std::string> kColumns = {"id",
                                                 "links",
                                                 "name",
                                                 "password",
                                                 "email",
                                                 "enabled",
                                                 "domain_id",
                                                 "options",
                                                 "federated",
                                                 "default_project_id",
                                                 "password_expires_at"};
  json extra = json::parse(user.extra.empty() ? "{}" : user.extra, nullptr, false);
  if (!extra.is_object()) extra = json::object();
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (!kColumns.count(it.key())) extra[it.key()] = it.value();
  }
  if (extra.contains("description") && !extra["description"].is_string() &&
      !extra["description"].is_null()) {
    return bad_request("Invalid input for field 'user.description': string or null required.");
  }
  std::string text = extra.empty() ? "" : extra.dump();
  if (text.size() > 65535) {
    return bad_request("Invalid input for field 'user': its properties exceed 65535 bytes.");
  }
  user.extra = std::move(text);
  return {};
}

Result<Reply> create_user(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto u = member(*body, "user");
  if (!u.ok()) return u.error();
  auto name = opt_string(*u, "name", "user");
  if (!name.ok()) return name.error();
  if (!*name) return bad_request("Invalid input for field 'user.name': required.");
  if (auto s = check_name(**name, "user.name"); !s.ok()) return s.error();
  auto password = opt_string(*u, "password", "user");
  if (!password.ok()) return password.error();
  auto email = opt_string(*u, "email", "user");
  if (!email.ok()) return email.error();
  auto project = opt_string(*u, "default_project_id", "user");
  if (!project.ok()) return project.error();
  auto enabled = opt_bool(*u, "enabled", "user", true);
  if (!enabled.ok()) return enabled.error();
  store::User user;
  user.id = new_hex_id();
  user.name = **name;
  user.email = email->value_or("");
  user.enabled = *enabled;
  user.created_at = std::chrono::system_clock::now();
  if (auto s = merge_user_extra(*u, user); !s.ok()) return s.error();
  auto domain = opt_string(*u, "domain_id", "user");
  if (!domain.ok()) return domain.error();
  if (*domain) user.domain_id = **domain;
  // keystone: a user in a domain that does not exist is 404 (DomainNotFound; Tempest's
  // test_create_user_for_non_existent_domain checks it).
  if (!ctx.store().get_domain(user.domain_id).ok()) {
    return Error::not_found("Could not find domain: " + user.domain_id + ".");
  }
  if (*project) {
    auto p = ctx.store().get_project(**project);
    if (!p.ok())
      return bad_request("Invalid input for field 'user.default_project_id': no such project.");
    user.default_project_id = **project;
  }
  if (*password) {
    auto h = ctx.login->passwords.hash(**password);
    if (!h.ok()) return h.error();
    user.password_hash = *h;
  }
  if (auto s = ctx.store().create_user(user); !s.ok()) {
    if (s.error().code == ErrorCode::kConflict) {
      return Error::conflict(
          "Conflict occurred attempting to store user - Duplicate entry found "
          "with name " +
          user.name + ".");
    }
    return s.error();
  }
  return Reply::ok({{"user", user_json(user, ctx.base_url)}}, 201);
}

Result<Reply> update_user(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto u = member(*body, "user");
  if (!u.ok()) return u.error();
  auto user = ctx.store().get_user(call.param("user_id"));
  if (!user.ok()) return Error::not_found("Could not find user: " + call.param("user_id") + ".");
  // keystone: the body may repeat the id and domain, not change them.
  if (u->contains("id") && (*u)["id"] != user->id) {
    return bad_request("Invalid input for field 'user.id': Cannot change user ID.");
  }
  if (u->contains("domain_id") && (*u)["domain_id"] != user->domain_id) {
    return bad_request("Invalid input for field 'user.domain_id': Cannot change Domain ID.");
  }
  if (auto s = merge_user_extra(*u, *user); !s.ok()) return s.error();
  auto name = opt_string(*u, "name", "user");
  if (!name.ok()) return name.error();
  auto password = opt_string(*u, "password", "user");
  if (!password.ok()) return password.error();
  auto enabled = opt_bool(*u, "enabled", "user", user->enabled);
  if (!enabled.ok()) return enabled.error();
  if (*name) {
    if (auto s = check_name(**name, "user.name"); !s.ok()) return s.error();
    user->name = **name;
  }
  user->enabled = *enabled;
  auto email = opt_string(*u, "email", "user");
  if (!email.ok()) return email.error();
  if (*email) user->email = **email;
  if (u->contains("default_project_id")) {
    auto project = opt_string(*u, "default_project_id", "user");
    if (!project.ok()) return project.error();
    if (*project && !ctx.store().get_project(**project).ok()) {
      return bad_request("Invalid input for field 'user.default_project_id': no such project.");
    }
    user->default_project_id = *project;
  }
  if (*password) {
    auto h = ctx.login->passwords.hash(**password);
    if (!h.ok()) return h.error();
    user->password_hash = *h;
  }
  if (auto s = ctx.store().update_user(*user); !s.ok()) {
    if (s.error().code == ErrorCode::kConflict) {
      return Error::conflict(
          "Conflict occurred attempting to store user - Duplicate entry found with name " +
          user->name + ".");
    }
    return s.error();
  }
  return Reply::ok({{"user", user_json(*user, ctx.base_url)}});
}

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

std::vector<Route> identity_admin_routes(ApiContext& ctx) {
  if (!ctx.login) ctx.login = std::make_shared<LoginGuard>(ctx.options.login);
  const std::string base = ctx.base_url;
  std::vector<Route> r;
  auto add = [&r](const char* m, const char* p, const char* policy, Handler h) {
    r.push_back({m, p, Service::kIdentity, policy, std::move(h), {}});
  };
  add("GET", "/identity/v3/users", "identity:admin", [&ctx](Call& call) -> Result<Reply> {
    auto us = ctx.store().list_users();
    if (!us.ok()) return us.error();
    json out = json::array();
    const auto name = call.query("name");
    const auto domain = call.query("domain_id");
    const auto enabled = keystone_bool_query(call.query("enabled"));
    for (const auto& u : *us) {
      if (name && u.name != *name) continue;
      if (domain && u.domain_id != *domain) continue;
      if (enabled && u.enabled != *enabled) continue;
      out.push_back(user_json(u, ctx.base_url));
    }
    return Reply::ok({{"users", out}});
  });
  add("POST", "/identity/v3/users", "identity:admin",
      [&ctx](Call& call) { return create_user(ctx, call); });
  add("GET", "/identity/v3/users/{user_id}", "identity:read_self",
      [&ctx](Call& call) -> Result<Reply> {
        const auto& id = call.param("user_id");
        if (!call.who().is_admin() && call.who().user_id != id) {
          return forbidden("You are not authorized to perform the requested action.");
        }
        auto u = ctx.store().get_user(id);
        if (!u.ok()) return Error::not_found("Could not find user: " + id + ".");
        return Reply::ok({{"user", user_json(*u, ctx.base_url)}});
      });
  add("PATCH", "/identity/v3/users/{user_id}", "identity:admin",
      [&ctx](Call& call) { return update_user(ctx, call); });
  add("DELETE", "/identity/v3/users/{user_id}", "identity:admin",
      [&ctx](Call& call) -> Result<Reply> {
        const auto& id = call.param("user_id");
        if (!ctx.store().get_user(id).ok()) {
          return Error::not_found("Could not find user: " + id + ".");
        }
        if (auto s = ctx.store().delete_user(id); !s.ok()) return s.error();
        return Reply::no_content();
      });
  // The projects a user may scope to (openstack project list as a non-admin).
  auto own_projects = [&ctx](Call& call) -> Result<Reply> {
    const std::string user_id =
        call.params.count("user_id") ? call.param("user_id") : call.who().user_id;
    if (!call.who().is_admin() && call.who().user_id != user_id) {
      return forbidden("You are not authorized to perform the requested action.");
    }
    auto as = ctx.store().list_role_assignments(user_id, "");
    if (!as.ok()) return as.error();
    json out = json::array();
    std::vector<std::string> seen;
    for (const auto& a : *as) {
      if (std::find(seen.begin(), seen.end(), a.project_id) != seen.end()) continue;
      seen.push_back(a.project_id);
      if (auto p = ctx.store().get_project(a.project_id); p.ok()) {
        out.push_back(project_json(*p, ctx.base_url));
      }
    }
    return Reply::ok({{"projects", out}});
  };
  add("GET", "/identity/v3/auth/projects", "identity:read_self", own_projects);
  add("GET", "/identity/v3/users/{user_id}/projects", "identity:read_self", own_projects);
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

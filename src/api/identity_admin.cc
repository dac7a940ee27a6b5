// Keystone v3: users (admin), and what a user may read of their own. Projects are in
// identity_projects.cc, domains and roles in identity_domains.cc, role assignments in
// identity_role_assignments.cc.
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
    // The projects of its own roles and of its groups'.
    auto ids = ctx.store().list_user_project_ids(user_id);
    if (!ids.ok()) return ids.error();
    json out = json::array();
    for (const auto& id : *ids) {
      if (auto p = ctx.store().get_project(id); p.ok()) {
        out.push_back(project_json(*p, ctx.base_url));
      }
    }
    return Reply::ok({{"projects", out}});
  };
  add("GET", "/identity/v3/auth/projects", "identity:read_self", own_projects);
  add("GET", "/identity/v3/users/{user_id}/projects", "identity:read_self", own_projects);
  return r;
}

}  // namespace gpucloud::api

// Keystone v3: version discovery and tokens (issue, re-scope, validate, revoke). Password logins
// are identity_password_login.cc's; only the token's hash is stored.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <map>

#include "api/identity_impl.h"
#include "api/password_login_impl.h"
#include "api/policy_impl.h"

namespace gpucloud::api {
namespace {

// A domain as a token shows it: its id and its name (the id again if it went meanwhile).
json domain_ref(store::Store& st, const std::string& id) {
  auto d = st.get_domain(id);
  return {{"id", id}, {"name", d.ok() ? d->name : id}};
}

Result<store::Project> find_project(store::Store& st, const json& project) {
  if (project.contains("id") && project["id"].is_string()) return st.get_project(project["id"]);
  if (!project.contains("name") || !project["name"].is_string()) {
    return bad_request("Invalid input for field 'scope.project': name or id is required.");
  }
  auto domain = keystone_domain_id(st, project, "scope.project");
  if (!domain.ok()) return domain.error();
  return st.find_project_by_name(project["name"], *domain);
}

json token_body(store::Store& st, const Caller& c, const std::vector<std::string>& methods,
                const std::string& base_url) {
  json t = {{"methods", methods},
            {"user",
             {{"id", c.user_id},
              {"name", c.user_name},
              {"domain", domain_ref(st, c.domain_id)},
              {"password_expires_at", nullptr}}},
            {"audit_ids", json::array({c.token_hash.substr(0, 22)})},
            {"issued_at", iso8601(c.issued_at)},
            {"expires_at", iso8601(c.expires_at)}};
  if (c.oauth_access_token_id) {
    t["OS-OAUTH1"] = {{"access_token_id", *c.oauth_access_token_id},
                      {"consumer_id", c.oauth_consumer_id.value_or("")}};
  }
  if (!c.project_id.empty()) {
    t["project"] = {{"id", c.project_id},
                    {"name", c.project_name},
                    {"domain", domain_ref(st, c.project_domain_id)}};
    t["is_domain"] = false;
    // Assignments hold role names; a token shows each role's id and name, as keystone (its
    // roles are global ones: the store leaves out the domain-specific roles).
    std::map<std::string, std::string> role_ids;
    if (auto rs = st.list_roles(); rs.ok()) {
      for (const auto& r : *rs) role_ids[r.held_as()] = r.id;
    }
    json roles = json::array();
    for (const auto& r : c.roles) {
      const auto id = role_ids.find(r);
      roles.push_back({{"id", id == role_ids.end() ? r : id->second}, {"name", r}});
    }
    t["roles"] = roles;
    t["catalog"] = service_catalog(base_url);
  }
  return {{"token", t}};
}

Result<Reply> issue_token(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  const json& auth = (*body)["auth"];
  if (!auth.is_object()) return bad_request("Invalid input for field 'auth': object required.");
  const json& identity = auth.value("identity", json());
  if (!identity.is_object() || !identity.contains("methods") || !identity["methods"].is_array()) {
    return bad_request("Invalid input for field 'identity.methods': array required.");
  }
  std::vector<std::string> methods;
  for (const auto& m : identity["methods"]) {
    if (!m.is_string()) return bad_request("Invalid input for field 'identity.methods'.");
    methods.push_back(m);
  }
  store::Store& st = ctx.store();

  // Who: a password, or an existing token (re-scoping).
  std::string user_id;
  std::optional<PasswordLogin> login;
  // A token made from another one expires with it (keystone): re-scoping never extends a
  // token's life, however often it is repeated.
  std::optional<store::TimePoint> expires_by;
  std::optional<OAuthLogin> oauth;  // the oauth1 method: scope and roles are the delegation's
  if (methods.size() == 1 && methods[0] == "password") {
    const json& pw = identity.value("password", json());
    if (!pw.is_object() || !pw.contains("user") || !pw["user"].is_object()) {
      return bad_request("Invalid input for field 'identity.password.user': object required.");
    }
    login.emplace(ctx, call);
    auto checked = login->check(pw["user"]);
    if (!checked.ok()) return checked.error();
    if (*checked) return **checked;
    user_id = login->user_id();
  } else if (methods.size() == 1 && methods[0] == "token") {
    const json& tk = identity.value("token", json());
    if (!tk.is_object() || !tk.contains("id") || !tk["id"].is_string()) {
      return bad_request("Invalid input for field 'identity.token.id'.");
    }
    auto caller = validate_token(st, tk["id"]);
    if (!caller.ok()) return caller.error();
    if (caller->oauth_access_token_id) {
      // keystone: a delegated token would otherwise become one with all the user's roles.
      return forbidden(
          "Using an OAuth1-delegated token to create another token is not allowed; ask for a "
          "new token with the oauth1 method instead.");
    }
    user_id = caller->user_id;
    expires_by = caller->expires_at;
    // Every token began with a password (the only other method); keystone lists the methods
    // of the whole chain.
    methods = {"password", "token"};
  } else if (methods.size() == 1 && methods[0] == "oauth1") {
    auto o = oauth1_login(ctx, call);
    if (!o.ok()) return o.error();
    user_id = o->user_id;
    expires_by = o->expires_at;
    oauth = *o;
    methods = {"oauth1"};
  } else {
    return unauthorized("Unsupported authentication method; use password, token or oauth1.");
  }
  auto user = st.get_user(user_id);
  if (!user.ok()) return unauthorized(kBadCredentials);
  // keystone: a user of a disabled domain cannot authenticate.
  if (auto d = st.get_domain(user->domain_id); !d.ok() || !d->enabled) {
    spdlog::warn("identity: login of user {} from {} refused: its domain {} is disabled", user->id,
                 loggable(call.req.remote_address), user->domain_id);
    return unauthorized(kBadCredentials);
  }

  if (oauth && !user->enabled) return unauthorized(kBadCredentials);

  // Scope: the delegation's project, else the requested project, else the user's default
  // project, else unscoped.
  std::optional<store::Project> project;
  bool by_default = false;
  if (oauth) {
    auto p = st.get_project(oauth->project_id);
    if (!p.ok()) return unauthorized(kBadCredentials);
    project = *p;
  } else if (auth.contains("scope")) {
    const json& scope = auth["scope"];
    if (!scope.is_object() || !scope.contains("project") || !scope["project"].is_object()) {
      // Domain and system scopes would need policy rules for what they grant; gpucloud has
      // none, so it issues no such token rather than one that grants too much (docs/identity.md).
      return bad_request(
          "Only project scope is supported: give scope.project (domain- and system-scoped "
          "tokens are not issued by gpucloud).");
    }
    auto p = find_project(st, scope["project"]);
    if (!p.ok()) {
      if (p.error().code == ErrorCode::kNotFound) return unauthorized(kBadCredentials);
      return p.error();
    }
    project = *p;
  } else if (user->default_project_id) {
    auto p = st.get_project(*user->default_project_id);
    if (p.ok()) project = *p;
    by_default = true;
  }

  store::Token token;
  std::vector<std::string> roles;
  if (project) {
    auto domain = st.get_domain(project->domain_id);
    const bool usable = project->enabled && domain.ok() && domain->enabled;
    // The user's own roles and its groups', the same query as every request's validation.
    auto held = st.user_project_roles(user->id, project->id);
    if (!held.ok()) return held.error();
    if (usable) roles = *held;
    if (roles.empty() && by_default) {
      // keystone: a default project the user cannot use gives an unscoped token, not a refusal.
      spdlog::warn("identity: user {} cannot use its default project {}; the token is unscoped",
                   user->id, project->id);
      project.reset();
    } else if (!usable) {
      return unauthorized(kBadCredentials);
    } else if (roles.empty()) {
      spdlog::warn("identity: login of user {} from {} refused: no role on project {}", user->id,
                   loggable(call.req.remote_address), project->id);
      return unauthorized("User " + user->id + " has no access to project " + project->id + ".");
    }
    if (project) {
      roles = with_implied_roles(roles);
      token.project_id = project->id;
    }
    if (oauth) {
      roles = delegated_roles_held(roles, oauth->roles);
      if (roles.empty()) {
        return unauthorized("User " + user->id +
                            " no longer holds the delegated roles on project " + project->id + ".");
      }
      token.oauth_access_token_id = oauth->access_token_id;
    }
  }
  const std::string secret = new_token();
  const auto now = std::chrono::system_clock::now();
  token.token_hash = token_hash(secret);
  token.user_id = user->id;
  token.roles = roles;
  token.issued_at = now;
  token.expires_at = now + ctx.options.token_ttl;
  if (expires_by && *expires_by < token.expires_at) token.expires_at = *expires_by;
  if (auto s = st.store_token(token); !s.ok()) return s.error();

  Caller c;
  c.token_hash = token.token_hash;
  c.user_id = user->id;
  c.user_name = user->name;
  c.domain_id = user->domain_id;
  c.roles = roles;
  c.issued_at = token.issued_at;
  c.expires_at = token.expires_at;
  if (project) {
    c.project_id = project->id;
    c.project_name = project->name;
    c.project_domain_id = project->domain_id;
  }
  if (oauth) {
    c.oauth_access_token_id = oauth->access_token_id;
    c.oauth_consumer_id = oauth->consumer_id;
  }
  if (login) login->succeeded();
  Reply r = Reply::ok(token_body(st, c, methods, ctx.base_url), 201);
  r.headers.emplace_back("X-Subject-Token", secret);
  return r;
}

Result<Caller> subject_token(ApiContext& ctx, Call& call) {
  const std::string subject = call.req.header("X-Subject-Token");
  auto c = validate_token(ctx.store(), subject);
  // keystone answers 404 for an invalid subject token.
  if (!c.ok() && c.error().code == ErrorCode::kUnauthorized) {
    return Error::not_found("Could not find token.");
  }
  if (!c.ok()) return c.error();
  // Only its owner or an admin may look at a token.
  if (c->user_id != call.who().user_id && !call.who().is_admin()) {
    return forbidden("You are not authorized to perform the requested action.");
  }
  return c;
}

}  // namespace

json identity_version(const std::string& base_url) {
  return {{"id", "v3.14"},
          {"status", "stable"},
          {"updated", "2020-04-07T00:00:00Z"},
          {"links", json::array({{{"rel", "self"}, {"href", base_url + "/identity/v3/"}}})},
          {"media-types", json::array({{{"base", "application/json"},
                                        {"type", "application/vnd.openstack.identity-v3+json"}}})}};
}

json service_catalog(const std::string& base_url) {
  auto service = [&](const char* type, const char* name, const std::string& url) {
    json endpoints = json::array();
    for (const char* iface : {"public", "internal", "admin"}) {
      endpoints.push_back({{"id", std::string(name) + "-" + iface},
                           {"interface", iface},
                           {"region", "RegionOne"},
                           {"region_id", "RegionOne"},
                           {"url", url}});
    }
    return json{{"id", name}, {"type", type}, {"name", name}, {"endpoints", endpoints}};
  };
  return json::array({service("identity", "keystone", base_url + "/identity/v3"),
                      service("compute", "nova", base_url + "/compute/v2.1"),
                      service("image", "glance", base_url + "/image")});
}

std::vector<Route> identity_token_routes(ApiContext& ctx) {
  if (!ctx.login) ctx.login = std::make_shared<LoginGuard>(ctx.options.login);
  auto versions = [&ctx](Call&) -> Result<Reply> {
    Reply r =
        Reply::ok({{"versions", {{"values", json::array({identity_version(ctx.base_url)})}}}}, 300);
    return r;
  };
  auto version = [&ctx](Call&) -> Result<Reply> {
    return Reply::ok({{"version", identity_version(ctx.base_url)}});
  };
  return {
      {"GET", "/identity", Service::kIdentity, "public", versions, {}},
      {"GET", "/identity/", Service::kIdentity, "public", versions, {}},
      {"GET", "/identity/v3", Service::kIdentity, "public", version, {}},
      {"GET", "/identity/v3/", Service::kIdentity, "public", version, {}},
      {"POST",
       "/identity/v3/auth/tokens",
       Service::kIdentity,
       "public",
       [&ctx](Call& call) { return issue_token(ctx, call); },
       {}},
      {"GET",
       "/identity/v3/auth/tokens",
       Service::kIdentity,
       "identity:token",
       [&ctx](Call& call) -> Result<Reply> {
         auto c = subject_token(ctx, call);
         if (!c.ok()) return c.error();
         const std::vector<std::string> methods = {c->oauth_access_token_id ? "oauth1"
                                                                            : "password"};
         Reply r = Reply::ok(token_body(ctx.store(), *c, methods, ctx.base_url));
         r.headers.emplace_back("X-Subject-Token", call.req.header("X-Subject-Token"));
         return r;
       },
       {}},
      {"HEAD",
       "/identity/v3/auth/tokens",
       Service::kIdentity,
       "identity:token",
       [&ctx](Call& call) -> Result<Reply> {
         auto c = subject_token(ctx, call);
         if (!c.ok()) return c.error();
         return Reply::ok(json(), 200);
       },
       {}},
      {"DELETE",
       "/identity/v3/auth/tokens",
       Service::kIdentity,
       "identity:token",
       [&ctx](Call& call) -> Result<Reply> {
         auto c = subject_token(ctx, call);
         if (!c.ok()) return c.error();
         if (auto s = ctx.store().revoke_token(c->token_hash); !s.ok()) return s.error();
         return Reply::no_content();
       },
       {}},
      {"GET",
       "/identity/v3/auth/catalog",
       Service::kIdentity,
       "identity:read_self",
       [&ctx](Call&) -> Result<Reply> {
         return Reply::ok({{"catalog", service_catalog(ctx.base_url)}});
       },
       {}},
  };
}

}  // namespace gpucloud::api

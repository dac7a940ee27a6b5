// Keystone v3: version discovery and tokens (issue, validate, revoke). Passwords are checked with
// Argon2id; only the token's hash is stored.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <map>

#include "api/identity_impl.h"
#include "api/login_guard_impl.h"
#include "api/policy_impl.h"

namespace gpucloud::api {
namespace {

constexpr const char* kDefaultDomainId = "default";

// A domain as a token shows it: its id and its name (the id again if it went meanwhile).
json domain_ref(store::Store& st, const std::string& id) {
  auto d = st.get_domain(id);
  return {{"id", id}, {"name", d.ok() ? d->name : id}};
}

// Resolves a user's or project's {"domain": {"id"|"name"}} (the default domain when absent).
// kNotFound for a name no domain has.
Result<std::string> domain_of(store::Store& st, const json& ref, const std::string& field) {
  if (!ref.contains("domain")) return std::string(kDefaultDomainId);
  const json& d = ref["domain"];
  if (!d.is_object()) return bad_request("Invalid input for field '" + field + ".domain'.");
  if (d.contains("id") && d["id"].is_string()) return d["id"].get<std::string>();
  if (d.contains("name") && d["name"].is_string()) {
    const std::string name = d["name"];
    auto ds = st.list_domains();
    if (!ds.ok()) return ds.error();
    for (const auto& x : *ds) {
      if (x.name == name) return x.id;
    }
    return Error::not_found("Could not find domain: " + name + ".");
  }
  return bad_request("Invalid input for field '" + field + ".domain'.");
}

Result<store::Project> find_project(store::Store& st, const json& project) {
  if (project.contains("id") && project["id"].is_string()) return st.get_project(project["id"]);
  if (!project.contains("name") || !project["name"].is_string()) {
    return bad_request("Invalid input for field 'scope.project': name or id is required.");
  }
  auto domain = domain_of(st, project, "scope.project");
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
  if (!c.project_id.empty()) {
    t["project"] = {{"id", c.project_id},
                    {"name", c.project_name},
                    {"domain", domain_ref(st, c.project_domain_id)}};
    t["is_domain"] = false;
    // Assignments hold role names; a token shows each role's id and name, as keystone.
    std::map<std::string, std::string> role_ids;
    if (auto rs = st.list_roles(); rs.ok()) {
      for (const auto& r : *rs) role_ids[r.name] = r.id;
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

const char* kBadCredentials = "The request you have made requires authentication.";

// One password login: the throttle, the lockout ([security_compliance]), exactly one Argon2id
// check whether or not the user exists, and a log line for every failure (user and address,
// never the password).
class PasswordLogin {
 public:
  PasswordLogin(ApiContext& ctx, Call& call)
      : ctx_(ctx), guard_(*ctx.login), address_(call.req.remote_address) {}

  // Passes (nullopt; user_id() is then known), or the answer: an error, or 429 when the name
  // or the address must wait before its next try.
  Result<std::optional<Reply>> check(const json& u) {
    if (!u.contains("password") || !u["password"].is_string()) {
      return bad_request("Invalid input for field 'identity.password.user.password'.");
    }
    const bool by_id = u.contains("id") && u["id"].is_string();
    if (!by_id && (!u.contains("name") || !u["name"].is_string())) {
      return bad_request(
          "Invalid input for field 'identity.password.user': name or id is required.");
    }
    auto domain = domain_of(ctx_.store(), u, "identity.password.user");
    if (!domain.ok()) {
      if (domain.error().code != ErrorCode::kNotFound) return domain.error();
      domain = std::string("?");  // an unknown domain: an unknown user, at the same cost
    }
    named_ = by_id ? u["id"].get<std::string>() : u["name"].get<std::string>();
    key_ = by_id ? "id:" + named_ : "name:" + *domain + "/" + named_;
    const auto now = LoginThrottle::Clock::now();
    const int64_t wait = std::max(guard_.users.wait_seconds(key_, now),
                                  guard_.addresses.wait_seconds(address_, now));
    if (wait > 0) {
      spdlog::warn(
          "identity: login failed for user '{}' from {}: throttled for {} s after {} "
          "failures",
          loggable(named_), loggable(address_), wait, guard_.users.failures(key_));
      return std::optional<Reply>(too_many_requests(wait));
    }
    store::Store& st = ctx_.store();
    Result<store::User> user = Error::not_found("no such domain");
    if (by_id) {
      user = st.get_user(named_);
    } else if (*domain != "?") {
      user = st.find_user_by_name(named_, *domain);
    }
    if (!user.ok() && user.error().code != ErrorCode::kNotFound) return user.error();
    const auto cfg = ctx_.nova_config();
    bool locked = false;
    if (user.ok() && cfg->lockout_failure_attempts) {
      auto f = st.get_login_failures(user->id);
      if (!f.ok()) return f.error();
      had_failures_ = f->count > 0;
      locked = f->count >= *cfg->lockout_failure_attempts && f->last_at &&
               *f->last_at + std::chrono::seconds(cfg->lockout_duration) >
                   std::chrono::system_clock::now();
    }
    // Exactly one Argon2id run on every path: unknown, locked and disabled users included.
    const std::string& hash = user.ok() && !locked ? user->password_hash : std::string();
    const bool password_ok = guard_.passwords.verify(hash, u["password"].get<std::string>());
    const char* reason = !user.ok()       ? "unknown user"
                         : locked         ? "account locked"
                         : !password_ok   ? "wrong password"
                         : !user->enabled ? "user disabled"
                                          : nullptr;
    if (reason) {
      guard_.users.record_failure(key_, now);
      guard_.addresses.record_failure(address_, now);
      int count = guard_.users.failures(key_);
      if (user.ok() && !locked && !password_ok && cfg->lockout_failure_attempts) {
        auto f = st.record_login_failure(user->id, std::chrono::system_clock::now());
        if (!f.ok()) return f.error();
        count = f->count;
        if (f->count >= *cfg->lockout_failure_attempts) {
          spdlog::warn("identity: user '{}' ({}) locked out for {} s after {} failed logins",
                       loggable(named_), user->id, cfg->lockout_duration, f->count);
        }
      }
      spdlog::warn("identity: login failed for user '{}' from {}: {} ({} in a row)",
                   loggable(named_), loggable(address_), reason, count);
      return unauthorized(kBadCredentials);
    }
    user_id_ = user->id;
    return std::optional<Reply>();
  }

  const std::string& user_id() const { return user_id_; }

  // The token was issued: the user's failures are forgotten (the address's are kept).
  void succeeded() {
    guard_.users.record_success(key_);
    if (had_failures_) (void)ctx_.store().clear_login_failures(user_id_);
  }

 private:
  static Reply too_many_requests(int64_t wait) {
    Reply r = Reply::ok({{"error",
                          {{"code", 429},
                           {"title", "Too Many Requests"},
                           {"message", fmt::format("Too many failed logins; try again in {} "
                                                   "seconds.",
                                                   wait)}}}},
                        429);
    r.headers.emplace_back("Retry-After", std::to_string(wait));
    return r;
  }

  ApiContext& ctx_;
  LoginGuard& guard_;
  std::string address_, named_, key_, user_id_;
  bool had_failures_ = false;
};

// POST /users/{user_id}/password: a user changes its own password, proving the old one. Like
// keystone it needs no token (a user whose password no longer logs in can still change it), so
// it is a login in every respect: the same throttle, lockout and single Argon2id check. The new
// password revokes every token of the user (Store::update_user).
Result<Reply> change_password(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (!body->is_object() || !body->contains("user") || !(*body)["user"].is_object()) {
    return bad_request("Invalid input for field 'user': an object is required.");
  }
  const json& u = (*body)["user"];
  for (auto it = u.begin(); it != u.end(); ++it) {
    if (it.key() != "password" && it.key() != "original_password") {
      return bad_request("Invalid input for field 'user': '" + it.key() + "' was unexpected.");
    }
    if (!it->is_string()) {
      return bad_request("Invalid input for field 'user." + it.key() + "': a string is required.");
    }
  }
  if (!u.contains("password") || !u.contains("original_password")) {
    return bad_request(
        "Invalid input for field 'user': 'password' and 'original_password' are "
        "required.");
  }
  const std::string fresh = u["password"].get<std::string>();
  if (fresh.empty()) return bad_request("Invalid input for field 'user.password': it is empty.");
  PasswordLogin login(ctx, call);
  auto checked = login.check({{"id", call.param("user_id")}, {"password", u["original_password"]}});
  if (!checked.ok()) return checked.error();
  if (*checked) return **checked;
  auto user = ctx.store().get_user(login.user_id());
  if (!user.ok()) return user.error();
  auto hash = ctx.login->passwords.hash(fresh);
  if (!hash.ok()) return hash.error();
  user->password_hash = *hash;
  if (auto s = ctx.store().update_user(*user); !s.ok()) return s.error();
  login.succeeded();
  spdlog::info("identity: user {} changed its password; its tokens are revoked", user->id);
  return Reply::no_content();
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
    user_id = caller->user_id;
    expires_by = caller->expires_at;
    // Every token began with a password (the only other method); keystone lists the methods
    // of the whole chain.
    methods = {"password", "token"};
  } else {
    return unauthorized("Unsupported authentication method; use password or token.");
  }
  auto user = st.get_user(user_id);
  if (!user.ok()) return unauthorized(kBadCredentials);
  // keystone: a user of a disabled domain cannot authenticate.
  if (auto d = st.get_domain(user->domain_id); !d.ok() || !d->enabled) {
    spdlog::warn("identity: login of user {} from {} refused: its domain {} is disabled", user->id,
                 loggable(call.req.remote_address), user->domain_id);
    return unauthorized(kBadCredentials);
  }

  // Scope: the requested project, else the user's default project, else unscoped.
  std::optional<store::Project> project;
  bool by_default = false;
  if (auth.contains("scope")) {
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
    auto assignments = st.list_role_assignments(user->id, project->id);
    if (!assignments.ok()) return assignments.error();
    if (usable) {
      for (const auto& a : *assignments) roles.push_back(a.role);
    }
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
      {"POST",
       "/identity/v3/users/{user_id}/password",
       Service::kIdentity,
       "public",
       [&ctx](Call& call) { return change_password(ctx, call); },
       {}},
      {"GET",
       "/identity/v3/auth/tokens",
       Service::kIdentity,
       "identity:token",
       [&ctx](Call& call) -> Result<Reply> {
         auto c = subject_token(ctx, call);
         if (!c.ok()) return c.error();
         Reply r = Reply::ok(token_body(ctx.store(), *c, {"password"}, ctx.base_url));
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

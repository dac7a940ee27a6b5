// keystone's OAuth1 delegation (OS-OAUTH1): an admin registers a consumer; the consumer asks for
// a request token on a project (signed with its secret); a user who holds roles there authorizes
// it for some of them and gives the consumer the verifier; the consumer exchanges the authorized
// request token for an access token, and with it gets keystone tokens that carry the delegated
// roles only (issue_token's "oauth1" method, validate_token). The user lists and deletes its
// access tokens; deleting one revokes the tokens made from it. docs/identity.md has the story.
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "api/identity_impl.h"
#include "api/login_guard_impl.h"
#include "api/oauth1_impl.h"
#include "api/policy_impl.h"
#include "api/validation_impl.h"

namespace gpucloud::api {
namespace {

// Every failure of a signed request is this one 401; the log says which it was.
const char* const kOAuthInvalid = "Invalid OAuth1 signature or credentials.";

// keystone's [oauth1] request_token_duration and access_token_duration defaults.
constexpr std::chrono::seconds kRequestTokenLife{28800};
constexpr std::chrono::seconds kAccessTokenLife{86400};

std::string oauth_url(const std::string& base, const std::string& tail) {
  return base + "/identity/v3/OS-OAUTH1/" + tail;
}

json consumer_json(const store::OAuthConsumer& c, const std::string& base, bool with_secret) {
  json j = {{"id", c.id},
            {"description", c.description ? json(*c.description) : json(nullptr)},
            {"links", {{"self", oauth_url(base, "consumers/" + c.id)}}}};
  if (with_secret) j["secret"] = c.secret;  // shown once, when it is made
  return j;
}

Error consumer_not_found(const std::string& id) {
  return Error::not_found("Could not find consumer: " + id + ".");
}

// The consumer body: a description only (keystone refuses a client-chosen id or secret).
Status read_consumer(const json& body, store::OAuthConsumer& c) {
  if (auto st = check_fields(body, "consumer", {"description"}); !st.ok()) return st;
  auto desc = opt_string(body, "description", "consumer");
  if (!desc.ok()) return desc.error();
  if (*desc) {
    if (auto st = check_text(**desc, "consumer.description", 65535); !st.ok()) return st;
  }
  if (body.contains("description")) c.description = *desc;
  return {};
}

Result<Reply> create_consumer(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  json b = json::object();
  if (body->contains("consumer")) {
    auto m = member(*body, "consumer");
    if (!m.ok()) return m.error();
    b = *m;
  }
  store::OAuthConsumer c;
  c.id = new_hex_id();
  c.secret = new_token();
  if (auto st = read_consumer(b, c); !st.ok()) return st.error();
  if (auto st = ctx.store().create_oauth_consumer(c); !st.ok()) return st.error();
  return Reply::ok({{"consumer", consumer_json(c, ctx.base_url, true)}}, 201);
}

Result<Reply> list_consumers(ApiContext& ctx, Call&) {
  auto all = ctx.store().list_oauth_consumers();
  if (!all.ok()) return all.error();
  json out = json::array();
  for (const auto& c : *all) out.push_back(consumer_json(c, ctx.base_url, false));
  return Reply::ok({{"consumers", out},
                    {"links",
                     {{"self", oauth_url(ctx.base_url, "consumers")},
                      {"previous", nullptr},
                      {"next", nullptr}}}});
}

Result<Reply> show_consumer(ApiContext& ctx, Call& call) {
  const auto& id = call.param("consumer_id");
  auto c = ctx.store().get_oauth_consumer(id);
  if (!c.ok()) return c.error().code == ErrorCode::kNotFound ? consumer_not_found(id) : c.error();
  return Reply::ok({{"consumer", consumer_json(*c, ctx.base_url, false)}});
}

Result<Reply> update_consumer(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto b = member(*body, "consumer");
  if (!b.ok()) return b.error();
  const auto& id = call.param("consumer_id");
  auto c = ctx.store().get_oauth_consumer(id);
  if (!c.ok()) return c.error().code == ErrorCode::kNotFound ? consumer_not_found(id) : c.error();
  if (auto st = read_consumer(*b, *c); !st.ok()) return st.error();
  if (auto st = ctx.store().update_oauth_consumer(*c); !st.ok()) {
    return st.error().code == ErrorCode::kNotFound ? consumer_not_found(id) : st.error();
  }
  return Reply::ok({{"consumer", consumer_json(*c, ctx.base_url, false)}});
}

Result<Reply> delete_consumer(ApiContext& ctx, Call& call) {
  const auto& id = call.param("consumer_id");
  if (auto st = ctx.store().delete_oauth_consumer(id); !st.ok()) {
    return st.error().code == ErrorCode::kNotFound ? consumer_not_found(id) : st.error();
  }
  return Reply::no_content();
}

// A signed consumer request: its parameters and the consumer, the signature checked with the
// consumer's secret and `token_secret`, the nonce recorded (a replay is 401). Every failure
// is the same 401 to the client, with the reason in the server's log only.
struct SignedBy {
  OAuthRequest request;
  store::OAuthConsumer consumer;
};

Result<SignedBy> signed_request(
    ApiContext& ctx, Call& call,
    const std::function<Result<std::string>(const OAuthRequest&, const std::string&)>&
        token_secret) {
  auto r = read_oauth_request(call.req);
  if (!r.ok()) return r.error();
  auto c = ctx.store().get_oauth_consumer(r->get("oauth_consumer_key"));
  if (!c.ok()) {
    if (c.error().code != ErrorCode::kNotFound) return c.error();
    spdlog::warn("identity: OAuth1 request from {} names no consumer",
                 loggable(call.req.remote_address));
    return unauthorized(kOAuthInvalid);
  }
  auto secret = token_secret(*r, c->id);
  if (!secret.ok()) return secret.error();
  if (!oauth_signature_matches(*r, call.req, ctx.base_url, c->secret, *secret)) {
    spdlog::warn("identity: OAuth1 request of consumer {} from {}: the signature does not match",
                 c->id, loggable(call.req.remote_address));
    return unauthorized(kOAuthInvalid);
  }
  if (auto st = ctx.store().use_oauth_nonce(c->id, r->get("oauth_nonce"),
                                            std::chrono::system_clock::now());
      !st.ok()) {
    if (st.error().code != ErrorCode::kConflict) return st.error();
    spdlog::warn("identity: OAuth1 request of consumer {} from {} repeats a nonce (a replay)",
                 c->id, loggable(call.req.remote_address));
    return unauthorized(kOAuthInvalid);
  }
  return SignedBy{std::move(*r), std::move(*c)};
}

// The request or access token a signed request names (`found`, by its oauth_token), when it
// is the signing consumer's: its secret then signs the request with the consumer's.
template <typename T>
Result<std::string> consumers_token(Result<T> found, const std::string& consumer,
                                    std::optional<T>& out) {
  if (!found.ok()) {
    if (found.error().code != ErrorCode::kNotFound) return found.error();
    return unauthorized(kOAuthInvalid);
  }
  if (found->consumer_id != consumer) return unauthorized(kOAuthInvalid);
  out = *found;
  return found->secret;
}

Reply form_reply(const std::string& body) {
  Reply r = Reply::ok(json(), 201);
  r.raw = body;
  r.content_type = "application/x-www-form-urlencoded";
  return r;
}

// POST /OS-OAUTH1/request_token: signed by the consumer alone; the project in the
// Requested-Project-Id header.
Result<Reply> create_request_token(ApiContext& ctx, Call& call) {
  auto s = signed_request(ctx, call, [](const OAuthRequest& r, const std::string&) {
    if (!r.get("oauth_token").empty()) {
      return Result<std::string>(bad_request("A request token is asked for without a token."));
    }
    return Result<std::string>(std::string());
  });
  if (!s.ok()) return s.error();
  const std::string project_id = call.req.header("Requested-Project-Id");
  if (project_id.empty()) {
    return bad_request("Invalid input for field 'Requested-Project-Id': the header is required.");
  }
  if (auto p = ctx.store().get_project(project_id); !p.ok()) {
    if (p.error().code == ErrorCode::kNotFound) {
      return Error::not_found("Could not find project: " + project_id + ".");
    }
    return p.error();
  }
  store::OAuthRequestToken t;
  t.id = new_hex_id();
  t.secret = new_token();
  t.consumer_id = s->consumer.id;
  t.project_id = project_id;
  t.expires_at = std::chrono::system_clock::now() + kRequestTokenLife;
  if (auto st = ctx.store().create_request_token(t); !st.ok()) return st.error();
  return form_reply("oauth_token=" + oauth_percent_encode(t.id) +
                    "&oauth_token_secret=" + oauth_percent_encode(t.secret) +
                    "&oauth_expires_at=" + oauth_percent_encode(iso8601(t.expires_at)));
}

// The roles of an authorize body ([{"id": ...} or {"name": ...}]), by the names assignments
// hold; each must be one the caller holds on the project (with the roles they imply).
Result<std::vector<std::string>> delegated_roles(ApiContext& ctx, const json& body,
                                                 const Caller& who, const std::string& project) {
  if (!body.contains("roles") || !body["roles"].is_array() || body["roles"].empty()) {
    return bad_request("Invalid input for field 'roles': a non-empty list is required.");
  }
  auto all = ctx.store().list_roles();
  if (!all.ok()) return all.error();
  auto held = ctx.store().user_project_roles(who.user_id, project);
  if (!held.ok()) return held.error();
  const auto effective = with_implied_roles(*held);
  std::vector<std::string> out;
  for (const auto& item : body["roles"]) {
    if (!item.is_object() || (!item.contains("id") && !item.contains("name"))) {
      return bad_request("Invalid input for field 'roles': each role needs an id or a name.");
    }
    const char* by = item.contains("id") ? "id" : "name";
    if (!item[by].is_string()) {
      return bad_request("Invalid input for field 'roles." + std::string(by) + "': not a string.");
    }
    const std::string want = item[by];
    auto it = std::find_if(all->begin(), all->end(), [&](const store::Role& r) {
      return std::string(by) == "id" ? r.id == want : (r.name == want && !r.domain_id);
    });
    if (it == all->end()) return Error::not_found("Could not find role: " + want + ".");
    if (std::find(effective.begin(), effective.end(), it->held_as()) == effective.end()) {
      return unauthorized("User " + who.user_id + " does not hold role " + want + " on project " +
                          project + ".");
    }
    if (std::find(out.begin(), out.end(), it->held_as()) == out.end()) {
      out.push_back(it->held_as());
    }
  }
  return out;
}

// PUT /OS-OAUTH1/authorize/{request_token_id}: the user's own token (not a delegated one).
Result<Reply> authorize_request_token(ApiContext& ctx, Call& call) {
  if (call.who().oauth_access_token_id) {
    return forbidden("A token issued through OAuth1 delegation cannot authorize a request token.");
  }
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  const auto& id = call.param("request_token_id");
  auto t = ctx.store().get_request_token(id);
  const auto now = std::chrono::system_clock::now();
  if (!t.ok() || t->expires_at <= now) {
    if (!t.ok() && t.error().code != ErrorCode::kNotFound) return t.error();
    return Error::not_found("Could not find request token: " + id + ".");
  }
  auto roles = delegated_roles(ctx, *body, call.who(), t->project_id);
  if (!roles.ok()) return roles.error();
  const std::string verifier = new_hex_id().substr(0, 16);
  if (auto st = ctx.store().authorize_request_token(id, call.who().user_id, *roles, verifier, now);
      !st.ok()) {
    if (st.error().code == ErrorCode::kNotFound) {
      return Error::not_found("Could not find request token: " + id + ".");
    }
    if (st.error().code == ErrorCode::kConflict) {
      return Error::conflict("Request token " + id + " is already authorized.");
    }
    return st.error();
  }
  return Reply::ok({{"token", {{"oauth_verifier", verifier}}}});
}

// POST /OS-OAUTH1/access_token: signed by the consumer with the authorized request token and
// its verifier.
Result<Reply> create_access_token(ApiContext& ctx, Call& call) {
  std::optional<store::OAuthRequestToken> request;
  auto s = signed_request(ctx, call, [&](const OAuthRequest& r, const std::string& consumer) {
    return consumers_token(ctx.store().get_request_token(r.get("oauth_token")), consumer, request);
  });
  if (!s.ok()) return s.error();
  const auto now = std::chrono::system_clock::now();
  if (request->expires_at <= now) return unauthorized("The request token has expired.");
  if (!request->user_id || !request->verifier) {
    return unauthorized("The request token has not been authorized.");
  }
  const std::string verifier = s->request.get("oauth_verifier");
  if (verifier.size() != request->verifier->size() ||
      sodium_memcmp(verifier.data(), request->verifier->data(), verifier.size()) != 0) {
    return unauthorized("The OAuth verifier does not match.");
  }
  store::OAuthAccessToken a;
  a.id = new_hex_id();
  a.secret = new_token();
  a.consumer_id = request->consumer_id;
  a.user_id = *request->user_id;
  a.project_id = request->project_id;
  a.roles = request->roles;
  a.expires_at = now + kAccessTokenLife;
  if (auto st = ctx.store().exchange_request_token(request->id, a); !st.ok()) {
    if (st.error().code == ErrorCode::kNotFound) return unauthorized(kOAuthInvalid);
    return st.error();
  }
  return form_reply("oauth_token=" + oauth_percent_encode(a.id) +
                    "&oauth_token_secret=" + oauth_percent_encode(a.secret) +
                    "&oauth_expires_at=" + oauth_percent_encode(iso8601(a.expires_at)));
}

json access_token_json(const store::OAuthAccessToken& a, const std::string& base) {
  const std::string self =
      base + "/identity/v3/users/" + a.user_id + "/OS-OAUTH1/access_tokens/" + a.id;
  return {{"id", a.id},
          {"consumer_id", a.consumer_id},
          {"project_id", a.project_id},
          {"authorizing_user_id", a.user_id},
          {"expires_at", iso8601(a.expires_at)},
          {"links", {{"self", self}, {"roles", self + "/roles"}}}};
}

// An access token of the path's user (404 for another's: its id tells nothing).
// keystone's identity:*_access_token(s) policies: the user itself, or an admin.
Status own_access_tokens(const Call& call) {
  if (call.who().oauth_access_token_id) {
    return forbidden("A token issued through OAuth1 delegation cannot manage access tokens.");
  }
  if (!call.who().is_admin() && call.who().user_id != call.param("user_id")) {
    return forbidden("You are not authorized to perform the requested action.");
  }
  return {};
}

Result<store::OAuthAccessToken> users_access_token(ApiContext& ctx, Call& call) {
  if (auto st = own_access_tokens(call); !st.ok()) return st.error();
  const auto& id = call.param("access_token_id");
  auto a = ctx.store().get_access_token(id);
  if (!a.ok() && a.error().code != ErrorCode::kNotFound) return a.error();
  if (!a.ok() || a->user_id != call.param("user_id")) {
    return Error::not_found("Could not find access token: " + id + ".");
  }
  return a;
}

Result<Reply> list_access_tokens(ApiContext& ctx, Call& call) {
  if (auto st = own_access_tokens(call); !st.ok()) return st.error();
  const auto& user = call.param("user_id");
  auto all = ctx.store().list_user_access_tokens(user);
  if (!all.ok()) return all.error();
  json out = json::array();
  for (const auto& a : *all) out.push_back(access_token_json(a, ctx.base_url));
  return Reply::ok(
      {{"access_tokens", out},
       {"links",
        {{"self", ctx.base_url + "/identity/v3/users/" + user + "/OS-OAUTH1/access_tokens"},
         {"previous", nullptr},
         {"next", nullptr}}}});
}

Result<Reply> show_access_token(ApiContext& ctx, Call& call) {
  auto a = users_access_token(ctx, call);
  if (!a.ok()) return a.error();
  return Reply::ok({{"access_token", access_token_json(*a, ctx.base_url)}});
}

Result<Reply> delete_access_token(ApiContext& ctx, Call& call) {
  auto a = users_access_token(ctx, call);
  if (!a.ok()) return a.error();
  if (auto st = ctx.store().delete_access_token(a->id); !st.ok()) {
    if (st.error().code == ErrorCode::kNotFound) {
      return Error::not_found("Could not find access token: " + a->id + ".");
    }
    return st.error();
  }
  return Reply::no_content();
}

// The delegated roles as keystone lists them; the roles that were deleted since are left out.
Result<std::vector<store::Role>> access_token_roles(ApiContext& ctx,
                                                    const store::OAuthAccessToken& a) {
  auto all = ctx.store().list_roles();
  if (!all.ok()) return all.error();
  std::vector<store::Role> out;
  for (const auto& r : *all) {
    if (std::find(a.roles.begin(), a.roles.end(), r.held_as()) != a.roles.end()) out.push_back(r);
  }
  return out;
}

Result<Reply> list_access_token_roles(ApiContext& ctx, Call& call) {
  auto a = users_access_token(ctx, call);
  if (!a.ok()) return a.error();
  auto roles = access_token_roles(ctx, *a);
  if (!roles.ok()) return roles.error();
  json out = json::array();
  for (const auto& r : *roles) out.push_back(listed_role_json(r, ctx.base_url));
  return Reply::ok({{"roles", out}, {"links", {{"previous", nullptr}, {"next", nullptr}}}});
}

Result<Reply> show_access_token_role(ApiContext& ctx, Call& call) {
  auto a = users_access_token(ctx, call);
  if (!a.ok()) return a.error();
  auto roles = access_token_roles(ctx, *a);
  if (!roles.ok()) return roles.error();
  const auto& id = call.param("role_id");
  for (const auto& r : *roles) {
    if (r.id == id) return Reply::ok({{"role", listed_role_json(r, ctx.base_url)}});
  }
  return Error::not_found("Could not find role: " + id + ".");
}

}  // namespace

Result<OAuthLogin> oauth1_login(ApiContext& ctx, Call& call) {
  std::optional<store::OAuthAccessToken> access;
  auto s = signed_request(ctx, call, [&](const OAuthRequest& r, const std::string& consumer) {
    return consumers_token(ctx.store().get_access_token(r.get("oauth_token")), consumer, access);
  });
  if (!s.ok()) return s.error();
  if (access->expires_at <= std::chrono::system_clock::now()) {
    return unauthorized("The OAuth1 access token has expired.");
  }
  return OAuthLogin{access->user_id,     access->project_id, access->id,
                    access->consumer_id, access->roles,      access->expires_at};
}

std::vector<Route> identity_oauth1_routes(ApiContext& ctx) {
  std::vector<Route> r;
  auto add = [&r, &ctx](const char* m, const std::string& p, const char* policy,
                        Result<Reply> (*h)(ApiContext&, Call&)) {
    r.push_back({m,
                 "/identity/v3" + p,
                 Service::kIdentity,
                 policy,
                 [&ctx, h](Call& call) { return h(ctx, call); },
                 {}});
  };
  add("POST", "/OS-OAUTH1/consumers", "identity:admin", create_consumer);
  add("GET", "/OS-OAUTH1/consumers", "identity:admin", list_consumers);
  add("GET", "/OS-OAUTH1/consumers/{consumer_id}", "identity:admin", show_consumer);
  add("PATCH", "/OS-OAUTH1/consumers/{consumer_id}", "identity:admin", update_consumer);
  add("DELETE", "/OS-OAUTH1/consumers/{consumer_id}", "identity:admin", delete_consumer);
  // Signed by the consumer, not authenticated by a token.
  add("POST", "/OS-OAUTH1/request_token", "public", create_request_token);
  add("POST", "/OS-OAUTH1/access_token", "public", create_access_token);
  // Any user, for the roles it holds on the request token's project.
  add("PUT", "/OS-OAUTH1/authorize/{request_token_id}", "identity:read_self",
      authorize_request_token);
  const std::string mine = "/users/{user_id}/OS-OAUTH1/access_tokens";
  add("GET", mine, "identity:read_self", list_access_tokens);
  add("GET", mine + "/{access_token_id}", "identity:read_self", show_access_token);
  add("DELETE", mine + "/{access_token_id}", "identity:read_self", delete_access_token);
  add("GET", mine + "/{access_token_id}/roles", "identity:read_self", list_access_token_roles);
  add("GET", mine + "/{access_token_id}/roles/{role_id}", "identity:read_self",
      show_access_token_role);
  return r;
}

}  // namespace gpucloud::api

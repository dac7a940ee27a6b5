// The portal's session: sign-in turns Keystone credentials into a token the normal way (the
// identity route's own handler) and keeps it in an HttpOnly cookie, so page scripts never hold it.
// The router accepts that cookie in place of X-Auth-Token only together with the X-Requested-With
// header: a cross-site page cannot add a custom header without a CORS preflight this server never
// grants, and SameSite=Strict keeps the cookie off cross-site requests in the first place.
#include <fmt/format.h>

#include "api/identity_impl.h"
#include "api/router_impl.h"

namespace gpucloud::api {
namespace {

constexpr const char* kCookie = "gpucloud_session";
constexpr const char* kCsrfHeader = "X-Requested-With";

// The value of one cookie from the Cookie header, or "".
std::string cookie_value(const HttpRequest& req, std::string_view name) {
  const std::string header = req.header("Cookie");
  size_t pos = 0;
  while (pos < header.size()) {
    size_t end = header.find(';', pos);
    if (end == std::string::npos) end = header.size();
    std::string_view part(header.data() + pos, end - pos);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.size() > name.size() && part.substr(0, name.size()) == name &&
        part[name.size()] == '=') {
      return std::string(part.substr(name.size() + 1));
    }
    pos = end + 1;
  }
  return "";
}

bool secure_cookies(const ApiContext& ctx) {
  return !ctx.options.tls_cert_file.empty() || ctx.base_url.rfind("https://", 0) == 0;
}

std::string session_cookie(const ApiContext& ctx, const std::string& value, int64_t max_age) {
  return fmt::format("{}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{}", kCookie, value,
                     max_age, secure_cookies(ctx) ? "; Secure" : "");
}

Status require_csrf_header(const Call& call) {
  if (call.req.header(kCsrfHeader).empty()) {
    return forbidden(std::string("The portal's requests must carry the ") + kCsrfHeader +
                     " header.");
  }
  return {};
}

json session_json(const Caller& c) {
  return {{"session",
           {{"user", {{"id", c.user_id}, {"name", c.user_name}}},
            {"project", {{"id", c.project_id}, {"name", c.project_name}}},
            {"roles", c.roles},
            {"is_admin", c.is_admin()},
            {"can_launch", c.has_role("member") || c.is_admin()},
            {"expires_at", iso8601(c.expires_at)}}}};
}

// POST /portal/session {"name", "password", "project"?}: the project defaults to the user's own.
Result<Reply> sign_in(ApiContext& ctx, const Handler& issue_token, Call& call) {
  if (auto s = require_csrf_header(call); !s.ok()) return s.error();
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  const json& b = *body;
  if (!b.contains("name") || !b["name"].is_string() || !b.contains("password") ||
      !b["password"].is_string()) {
    return bad_request("Give name and password.");
  }
  json auth = {{"identity",
                {{"methods", {"password"}},
                 {"password",
                  {{"user",
                    {{"name", b["name"]},
                     {"domain", {{"id", "default"}}},
                     {"password", b["password"]}}}}}}}};
  if (b.contains("project") && b["project"].is_string() &&
      !b["project"].get<std::string>().empty()) {
    auth["scope"] = {{"project", {{"name", b["project"]}, {"domain", {{"id", "default"}}}}}};
  }
  HttpRequest inner;
  inner.method = "POST";
  inner.path = inner.target = "/identity/v3/auth/tokens";
  inner.body = json{{"auth", auth}}.dump();
  inner.headers.emplace_back("Content-Type", "application/json");
  inner.remote_address = call.req.remote_address;  // the login throttle counts per address
  inner.request_id = call.req.request_id;
  Call token_call{inner, {}, std::nullopt, {}};
  auto issued = issue_token(token_call);
  if (!issued.ok()) return issued.error();
  std::string secret;
  for (const auto& [k, v] : issued->headers) {
    if (k == "X-Subject-Token") secret = v;
  }
  auto caller = validate_token(ctx.store(), secret);
  if (!caller.ok()) return caller.error();
  if (caller->project_id.empty()) {
    // The portal lists and launches in a project; an unscoped session could do neither.
    (void)ctx.store().revoke_token(caller->token_hash);
    return bad_request("This user has no default project: give the project to sign in to.");
  }
  Reply r = Reply::ok(session_json(*caller), 201);
  r.headers.emplace_back("Set-Cookie", session_cookie(ctx, secret, ctx.options.token_ttl.count()));
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

// DELETE /portal/session: revokes the token and clears the cookie; signing out twice is fine.
Result<Reply> sign_out(ApiContext& ctx, Call& call) {
  if (auto s = require_csrf_header(call); !s.ok()) return s.error();
  const std::string secret = cookie_value(call.req, kCookie);
  if (!secret.empty()) {
    auto caller = validate_token(ctx.store(), secret);
    if (caller.ok()) {
      if (auto s = ctx.store().revoke_token(caller->token_hash); !s.ok()) return s.error();
    }
  }
  Reply r = Reply::no_content();
  r.headers.emplace_back("Set-Cookie", session_cookie(ctx, "", 0));
  return r;
}

}  // namespace

std::string request_token(const HttpRequest& req) {
  std::string token = req.header("X-Auth-Token");
  if (!token.empty() || req.header(kCsrfHeader).empty()) return token;
  return cookie_value(req, kCookie);
}

std::vector<Route> portal_session_routes(ApiContext& ctx) {
  Handler issue_token;
  for (auto& r : identity_token_routes(ctx)) {
    if (r.method == "POST" && r.pattern == "/identity/v3/auth/tokens") issue_token = r.handler;
  }
  return {
      {"POST",
       "/portal/session",
       Service::kPlain,
       "public",
       [&ctx, issue_token](Call& call) { return sign_in(ctx, issue_token, call); },
       {}},
      {"GET",
       "/portal/session",
       Service::kPlain,
       "identity:read_self",
       [](Call& call) -> Result<Reply> {
         Reply r = Reply::ok(session_json(call.who()));
         r.headers.emplace_back("Cache-Control", "no-store");
         return r;
       },
       {}},
      {"DELETE",
       "/portal/session",
       Service::kPlain,
       "public",
       [&ctx](Call& call) { return sign_out(ctx, call); },
       {}},
  };
}

}  // namespace gpucloud::api

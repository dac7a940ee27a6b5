// Internal to api/: the route table's types. Each service (identity, compute, image, portal)
// registers Routes; router.cc wraps every handler with authentication, the policy check, body
// limits, metrics and the one place where an Error becomes an OpenStack JSON error.
#pragma once

#include <httplib.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/api.h"
#include "api/metrics_impl.h"

namespace gpucloud::api {

using nlohmann::json;

// The service a route belongs to: it decides the error body's shape.
enum class Service { kIdentity, kCompute, kImage, kPlain };

// Who is calling, from a validated token.
struct Caller {
  std::string token_hash;
  std::string user_id;
  std::string user_name;
  std::string domain_id = "default";
  std::string project_id;  // token scope; empty when unscoped
  std::string project_name;
  std::vector<std::string> roles;
  store::TimePoint issued_at{};
  store::TimePoint expires_at{};

  bool has_role(std::string_view role) const;
  bool is_admin() const { return has_role("admin"); }
};

// The compute microversions this server implements (advertised in version discovery).
constexpr int kMinComputeMinor = 1;
constexpr int kMaxComputeMinor = 1;

// A compute API microversion, e.g. 2.53.
struct Microversion {
  int major = 2;
  int minor = 1;
  bool at_least(int maj, int min) const { return major > maj || (major == maj && minor >= min); }
};

struct Call {
  const httplib::Request& req;
  httplib::Response& res;
  std::map<std::string, std::string> params;  // from {name} in the route pattern
  std::optional<Caller> caller;               // empty only on public routes
  Microversion microversion;

  const std::string& param(const std::string& name) const { return params.at(name); }
  const Caller& who() const { return *caller; }
  // The body as a JSON object; errors say what is wrong ("malformed JSON: ...").
  Result<json> json_body() const;
  // A query parameter, if given.
  std::optional<std::string> query(const std::string& name) const;
};

// What a handler answers. `body` is sent as JSON unless `raw` is set; status 204 sends nothing.
struct Reply {
  int status = 200;
  json body;
  std::optional<std::string> raw;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  bool streamed = false;  // the handler already set a content provider on res

  static Reply ok(json b, int status = 200) {
    Reply r;
    r.status = status;
    r.body = std::move(b);
    return r;
  }
  static Reply no_content() {
    Reply r;
    r.status = 204;
    return r;
  }
};

using Handler = std::function<Result<Reply>(Call&)>;
// For uploads: the handler reads the body itself, chunk by chunk, never holding it whole.
using UploadHandler = std::function<Result<Reply>(Call&, const httplib::ContentReader& content)>;

struct Route {
  std::string method;   // "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"
  std::string pattern;  // "/compute/v2.1/flavors/{flavor_id}"
  Service service;
  // A rule of the policy table (policy.cc); "public" routes need no token.
  std::string policy;
  Handler handler;
  UploadHandler upload_handler;  // set instead of handler for streamed request bodies
};

struct LoginGuard;  // login_guard_impl.h

// Shared by every service's handlers.
struct ApiContext {
  ServerDeps deps;
  ServerOptions options;
  std::string base_url;
  Metrics metrics;
  // Run once by ApiServer::stop after the HTTP server stopped (e.g. the boot workers' shutdown).
  std::vector<std::function<void()>> stop_hooks;
  // Password logins' throttle and Argon2id bound (made by identity_token_routes).
  std::shared_ptr<LoginGuard> login;
  store::Store& store() const { return *deps.store; }
  std::shared_ptr<const config::NovaConfig> nova_config() const {
    return std::atomic_load(&deps.nova_config);
  }
};

// Route tables, one function per service (each in its own file).
std::vector<Route> identity_token_routes(ApiContext& ctx);     // identity_tokens.cc
std::vector<Route> identity_admin_routes(ApiContext& ctx);     // identity_admin.cc
std::vector<Route> image_routes(ApiContext& ctx);              // image_crud.cc (and image_*.cc)
std::vector<Route> compute_misc_routes(ApiContext& ctx);       // compute_misc.cc
std::vector<Route> compute_flavor_routes(ApiContext& ctx);     // compute_flavors.cc
std::vector<Route> compute_aggregate_routes(ApiContext& ctx);  // compute_aggregates.cc
std::vector<Route> compute_host_routes(ApiContext& ctx);       // compute_hosts.cc
std::vector<Route> compute_server_routes(ApiContext& ctx);     // compute_servers.cc
// compute_servers.cc: starts the server's own conductor unless deps.conductor was given (it
// then stops with the server), before any route can hand it work.
Status start_conductor(ApiContext& ctx);
// controller_routes.cc: GPU quotas, and the Cloud Controller's hooks in the compute API.
std::vector<Route> controller_routes(ApiContext& ctx);
Status admit_gpu_boot(ApiContext& ctx, const store::Flavor& flavor, int64_t instances);
json readiness_json(const store::Instance& i);  // "gpucloud:readiness" in server show
Result<json> gpu_quota_limits(ApiContext& ctx, const std::string& project_id);
std::vector<Route> compute_gpu_routes(ApiContext& ctx);     // compute_gpus.cc
std::vector<Route> portal_session_routes(ApiContext& ctx);  // portal_session.cc
std::vector<Route> agent_routes(ApiContext& ctx);           // agent_routes.cc

// The portal (portal_static.cc, portal_session.cc): its files under /portal/ (registered after
// the route table, so /portal/session stays an API route), and the token a request carries —
// X-Auth-Token, else the portal's session cookie when the X-Requested-With header is present.
void serve_portal_files(httplib::Server& http, ApiContext& ctx);
std::string request_token(const httplib::Request& req);

// Error bodies in each service's shape. The one place an Error becomes HTTP.
int http_status(const Error& e);
// A 5xx gets a generic message naming `request_id` (the detail belongs in the log), never the
// error's own text, which may name the database's user, host, port or schema.
void write_error(Service service, const Error& e, httplib::Response& res,
                 const std::string& request_id = "");

// Helpers for handlers.
Error bad_request(const std::string& message);
Error forbidden(const std::string& message);
Error unauthorized(const std::string& message);
std::string iso8601(store::TimePoint t);  // "2026-11-25T14:30:00.000000Z"
std::string new_uuid();                   // random v4 UUID with dashes
std::string new_hex_id();                 // random 32 hex digits (keystone-style ids)

}  // namespace gpucloud::api

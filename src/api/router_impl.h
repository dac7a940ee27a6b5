// Internal to api/: the route table's types. Each service (identity, compute, image, portal)
// registers Routes; router.cc wraps every handler with authentication, the policy check, body
// limits, metrics and the one place where an Error becomes an OpenStack JSON error.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/api.h"
#include "api/http_message.h"
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
  std::string project_domain_id;  // the scope's domain; empty when unscoped
  std::vector<std::string> roles;
  store::TimePoint issued_at{};
  store::TimePoint expires_at{};
  // A token made through OAuth1 delegation: it grants its access token's roles only, and may not
  // make other tokens or delegate further (keystone's rules).
  std::optional<std::string> oauth_access_token_id, oauth_consumer_id;

  bool has_role(std::string_view role) const;
  bool is_admin() const { return has_role("admin"); }
};

// The compute microversions this server implements (advertised in version discovery).
constexpr int kMinComputeMinor = 1;
constexpr int kMaxComputeMinor = 96;

// A compute API microversion, e.g. 2.53.
struct Microversion {
  int major = 2;
  int minor = 1;
  bool at_least(int maj, int min) const { return major > maj || (major == maj && minor >= min); }
};

struct Call {
  const HttpRequest& req;
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

struct Reply;

// A long poll with nothing to answer yet: the router parks the request (no thread waits) until
// `host` is notified (HostTaskNotifier), the database re-check finds pending tasks for it, or the
// deadline passes; then `again` runs on a worker. `final` (deadline, server stopping) means it must
// answer now; otherwise it may return another wait.
// A LongPollWait's `host` for a request that waits for one agent task's answer: this prefix and
// the task id (the answer route notifies it; the re-check finds answers given to other replicas).
inline constexpr std::string_view kAgentTaskWaitKey = "agent-task:";

struct LongPollWait {
  std::string host;
  std::chrono::steady_clock::time_point deadline;
  std::function<Result<Reply>(bool final)> again;
};

// What a handler answers. `body` is sent as JSON unless `raw` is set; status 204 sends nothing.
struct Reply {
  int status = 200;
  json body;
  std::optional<std::string> raw;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::shared_ptr<FileBody> file;        // streamed from an open file instead of `body`
  std::shared_ptr<LongPollWait> wait;    // nothing yet: park the request
  std::shared_ptr<TunnelTarget> tunnel;  // a WebSocket upgrade relayed there (consoles)

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
  static Reply wait_for(LongPollWait w) {
    Reply r;
    r.wait = std::make_shared<LongPollWait>(std::move(w));
    return r;
  }
};

using Handler = std::function<Result<Reply>(Call&)>;
// Uploads run in two steps around the body. The route's UploadHandler runs once the head is in,
// before any of the body is accepted (checks; glance's image goes to `saving`); the server then
// spools the body to a file (never whole in memory) and calls finish() with it. An upload whose
// body never arrives completely is destroyed unfinished: its destructor undoes the first step.
class Upload {
 public:
  virtual ~Upload() = default;
  virtual Result<Reply> finish(Call& call, SpooledBody& body) = 0;
};
using UploadHandler = std::function<Result<std::unique_ptr<Upload>>(Call&)>;

struct Route {
  std::string method;  // "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"
  // "/compute/v2.1/flavors/{flavor_id}": {name} matches one path segment; a last {name*}
  // matches the rest of the path (possibly empty).
  std::string pattern;
  Service service;
  // A rule of the policy table (policy.cc); "public" routes need no token.
  std::string policy;
  Handler handler;
  UploadHandler upload_handler;  // set instead of handler for streamed request bodies
};

struct LoginGuard;  // login_guard_impl.h

// Shared by every service's handlers.
struct NetworkIds;  // compute_networks.cc

struct ApiContext {
  ServerDeps deps;
  ServerOptions options;
  std::string base_url;
  Metrics metrics;
  // Run once by ApiServer::stop after the HTTP server stopped (e.g. the boot workers' shutdown).
  std::vector<std::function<void()>> stop_hooks;
  // Password logins' throttle and Argon2id bound (made by identity_token_routes or
  // identity_password_routes, whichever runs first).
  std::shared_ptr<LoginGuard> login;
  // The in-process driver's hosts (gpucloud up's simulated ones), read once at start: their
  // guests are reached through deps.driver, every other host's through its agent.
  std::set<std::string> local_hosts;
  // The guest networks' ids seen so far (made by compute_network_routes): a boot that names a
  // network resolves it without reading every host.
  std::shared_ptr<NetworkIds> network_ids;
  bool in_process_host(const std::string& host) const {
    return deps.driver != nullptr && local_hosts.count(host) > 0;
  }
  store::Store& store() const { return *deps.store; }
  std::shared_ptr<const config::NovaConfig> nova_config() const {
    return std::atomic_load(&deps.nova_config);
  }
};

// Route tables, one function per service (each in its own file).
std::vector<Route> identity_token_routes(ApiContext& ctx);     // identity_tokens.cc
std::vector<Route> identity_password_routes(ApiContext& ctx);  // identity_password_login.cc
std::vector<Route> identity_admin_routes(ApiContext& ctx);     // identity_admin.cc
std::vector<Route> identity_project_routes(ApiContext& ctx);   // identity_projects.cc
std::vector<Route> identity_role_assignment_routes(
    ApiContext& ctx);                                                // identity_role_assignments.cc
std::vector<Route> identity_domain_role_routes(ApiContext& ctx);     // identity_domain_roles.cc
std::vector<Route> identity_project_role_routes(ApiContext& ctx);    // identity_project_roles.cc
std::vector<Route> identity_system_role_routes(ApiContext& ctx);     // identity_system_roles.cc
std::vector<Route> identity_implied_role_routes(ApiContext& ctx);    // identity_implied_roles.cc
std::vector<Route> identity_credential_routes(ApiContext& ctx);      // identity_credentials.cc
std::vector<Route> identity_policy_routes(ApiContext& ctx);          // identity_policies.cc
std::vector<Route> identity_domain_routes(ApiContext& ctx);          // identity_domains.cc
std::vector<Route> identity_group_routes(ApiContext& ctx);           // identity_groups.cc
std::vector<Route> identity_catalog_routes(ApiContext& ctx);         // identity_catalog.cc
std::vector<Route> identity_endpoint_group_routes(ApiContext& ctx);  // identity_endpoint_groups.cc
std::vector<Route> identity_domain_config_routes(ApiContext& ctx);   // identity_domain_configs.cc
std::vector<Route> identity_oauth1_routes(ApiContext& ctx);          // identity_oauth1.cc
std::vector<Route> image_routes(ApiContext& ctx);                 // image_crud.cc (and image_*.cc)
std::vector<Route> compute_misc_routes(ApiContext& ctx);          // compute_misc.cc
std::vector<Route> compute_flavor_routes(ApiContext& ctx);        // compute_flavors.cc
std::vector<Route> compute_aggregate_routes(ApiContext& ctx);     // compute_aggregates.cc
std::vector<Route> compute_host_routes(ApiContext& ctx);          // compute_hosts.cc
std::vector<Route> compute_server_routes(ApiContext& ctx);        // compute_servers.cc
std::vector<Route> compute_server_edit_routes(ApiContext& ctx);   // compute_server_edit.cc
std::vector<Route> compute_server_admin_routes(ApiContext& ctx);  // compute_server_admin.cc
std::vector<Route> compute_instance_action_routes(ApiContext& ctx);  // compute_instance_actions.cc
std::vector<Route> compute_image_routes(ApiContext& ctx);            // compute_images.cc
std::vector<Route> compute_usage_routes(ApiContext& ctx);            // compute_usage.cc
std::vector<Route> compute_server_group_routes(ApiContext& ctx);     // compute_server_groups.cc
std::vector<Route> compute_security_group_routes(ApiContext& ctx);   // compute_security_groups.cc
std::vector<Route> compute_server_metadata_routes(ApiContext& ctx);  // compute_server_metadata.cc
std::vector<Route> compute_network_routes(ApiContext& ctx);          // compute_networks.cc
// compute_servers.cc: starts the server's own conductor unless deps.conductor was given (it
// then stops with the server), before any route can hand it work.
Status start_conductor(ApiContext& ctx);
// controller_routes.cc: GPU quotas, and the Cloud Controller's hooks in the compute API.
std::vector<Route> controller_routes(ApiContext& ctx);
Status admit_gpu_boot(ApiContext& ctx, const store::Flavor& flavor, int64_t instances);
json readiness_json(const store::Instance& i);  // "gpucloud:readiness" in server show
Result<json> gpu_quota_limits(ApiContext& ctx, const std::string& project_id);
std::vector<Route> compute_gpu_routes(ApiContext& ctx);     // compute_gpus.cc
std::vector<Route> compute_quota_routes(ApiContext& ctx);   // compute_quotas.cc
std::vector<Route> portal_session_routes(ApiContext& ctx);  // portal_session.cc
std::vector<Route> agent_routes(ApiContext& ctx);           // agent_routes.cc

// The portal (portal_static.cc, portal_session.cc): its files under /portal/ (registered after
// the route table, so /portal/session stays an API route), and the token a request carries —
// X-Auth-Token, else the portal's session cookie when the X-Requested-With header is present.
std::vector<Route> portal_file_routes(ApiContext& ctx);
std::vector<Route> console_routes(ApiContext& ctx);  // compute_consoles.cc
// A page's file under `root` (portal_static.cc): names checked segment by segment, known
// extensions only, revalidated by ETag. The console page runs spice-html5's inline module
// script and opens a WebSocket to this server, so its Content-Security-Policy allows those.
enum class StaticPage { kPortal, kConsole };
Result<Reply> static_file(const std::string& root, const std::string& rel, const HttpRequest& req,
                          StaticPage page);
std::string request_token(const HttpRequest& req);

// Error bodies in each service's shape. The one place an Error becomes HTTP.
int http_status(const Error& e);
// A 5xx gets a generic message naming `request_id` (the detail belongs in the log), never the
// error's own text, which may name the database's user, host, port or schema.
void write_error(Service service, const Error& e, HttpResponse& res,
                 const std::string& request_id = "");
// The same for a status the server itself answers (400, 408, 413, 414, 431, 503...).
void write_error_status(Service service, int status, const std::string& message, HttpResponse& res);
Service service_of_path(std::string_view path);

// Helpers for handlers.
Error bad_request(const std::string& message);
Error forbidden(const std::string& message);
Error unauthorized(const std::string& message);
std::string iso8601(store::TimePoint t);  // "2026-11-25T14:30:00.000000Z"
std::string new_uuid();                   // random v4 UUID with dashes
std::string new_hex_id();                 // random 32 hex digits (keystone-style ids)

}  // namespace gpucloud::api

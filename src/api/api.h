// The HTTP API: Identity v3, Compute v2.1 and Image v2 in the shapes the real openstack, nova and
// glance clients speak, plus /metrics, the agents' API and the portal's static files, over one
// event-driven HTTP server (Boost.Beast, kept private to api/). Every call is authenticated
// (Keystone-style tokens) and authorised by the policy table.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/core.h"
#include "store/store.h"

namespace gpucloud {
class HostTaskNotifier;  // core/host_task_notifier.h
}
namespace gpucloud::compute {
class ComputeDriver;  // compute/compute.h
}
namespace gpucloud::controller {
class Controller;  // controller/controller.h
}
namespace gpucloud::conductor {
class Conductor;  // conductor/conductor.h
}

namespace gpucloud::api {

// Password logins (login_guard_impl.h): failures allowed per user name and per source address
// before each further try must wait (1 s, doubling, up to max_delay_seconds; the answer is 429),
// and how many Argon2id computations (64 MiB each) may run at once.
struct LoginLimits {
  int user_free_failures = 5;
  int address_free_failures = 20;
  int base_delay_seconds = 1;
  int max_delay_seconds = 300;
  int max_concurrent_hashes = 4;
};

struct ServerOptions {
  std::string listen_host = "127.0.0.1";
  int port = 0;               // 0: pick a free port (see ApiServer::port())
  std::string public_url;     // advertised in the catalog; default http(s)://host:port
  std::string tls_cert_file;  // TLS when both are set
  std::string tls_key_file;
  std::string data_dir;                                   // image data lives under data_dir/images
  std::string web_root;                                   // portal files; empty: no portal
  std::chrono::seconds token_ttl{std::chrono::hours(1)};  // keystone's default expiration
  size_t max_json_body = 1 << 20;                         // larger JSON bodies get 413
  uint64_t max_image_size = uint64_t{1} << 40;            // glance's image_size_cap default (1 TiB)
  int threads = 8;        // workers for requests (they block on the database)
  int agent_threads = 4;  // workers for the agents' routes, so API calls that wait for an agent
                          // can never take every thread the agent needs to answer
  int io_threads = 2;     // HTTP I/O threads (they never block)
  size_t max_queued_requests = 4096;  // per worker pool; beyond, 503 with Retry-After
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};  // the whole request head
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};  // keep-alive between requests
  size_t max_connections = 10000;
  size_t max_connections_per_address = 1024;
  std::chrono::milliseconds long_poll_recheck{std::chrono::seconds(1)};  // other replicas' tasks
  // How long a request waits for an agent's answer to a question (the console log) before 409.
  std::chrono::milliseconds agent_answer_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds drain_timeout{std::chrono::seconds(10)};  // graceful stop
  std::string access_log_file;  // "": the access log goes to the normal log
  LoginLimits login;
};

// What the API needs from the rest of gpucloud. The server owns none of it.
struct ServerDeps {
  store::Store* store = nullptr;
  // The configuration the server runs with (aliases for extra-spec validation, filters...).
  // A pointer that the reload logic may swap; read through current_config().
  std::shared_ptr<const config::NovaConfig> nova_config;
  // The in-process compute driver (`gpucloud up`'s simulated hosts, tests): its hosts are
  // called directly. Every other host is served by its agent (`gpucloud agent`). May be null.
  compute::ComputeDriver* driver = nullptr;
  // Carries out boots, deletes and power actions. When null, the server runs its own with
  // `conductor_workers` workers (started and stopped with the server).
  conductor::Conductor* conductor = nullptr;
  int conductor_workers = 4;
  // A task whose owner stops renewing its lease (killed) is taken over this long after.
  std::chrono::milliseconds task_lease{std::chrono::seconds(15)};
  // The Cloud Controller: advisory GPU admission check of boots (none: no check).
  controller::Controller* controller = nullptr;
  // Wakes agents' long polls when a task is created for their host; give the same one to
  // whatever creates agent tasks (the agent task driver). None: the server makes its own, and
  // polls wake by the periodic database re-check only.
  HostTaskNotifier* task_notifier = nullptr;
};

// One route of the table as served: its method, pattern and policy rule (src/api/policy.cc).
struct RouteInfo {
  std::string method;
  std::string pattern;
  std::string policy;
};

class ApiServer {
 public:
  static Result<std::unique_ptr<ApiServer>> create(ServerDeps deps, ServerOptions options);
  ~ApiServer();

  // Binds and serves on background threads; returns once the socket listens. A port in use is
  // an error (the server never shares a port).
  Status start();
  // Graceful: stops accepting, answers parked long polls, lets requests in flight finish (up to
  // drain_timeout), then stops. Idempotent.
  void stop();
  int port() const;
  std::string base_url() const;  // e.g. http://127.0.0.1:5000
  // A reloaded nova.conf; requests in flight keep the one they started with.
  void set_nova_config(std::shared_ptr<const config::NovaConfig> config);
  // The conductor the server runs (its own or the one given in ServerDeps); null before start().
  conductor::Conductor* conductor() const;
  // Every route served, in table order, once start() returned (for the RBAC matrix).
  std::vector<RouteInfo> routes() const;

  struct Impl;

 private:
  explicit ApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The portal's files next to the executable: <prefix>/share/gpucloud/web when installed, the
// source tree's web/ when run from a build directory; "" when there is none.
std::string default_web_root();

// Identity bootstrap (what `keystone-manage bootstrap` does): the roles admin/member/reader,
// a project and an admin user with that password (hashed with Argon2id). Idempotent: an existing
// user keeps its password unless `reset_password`.
struct BootstrapResult {
  std::string project_id;
  std::string user_id;
};
Result<BootstrapResult> bootstrap_identity(store::Store& store, const std::string& project_name,
                                           const std::string& user_name,
                                           const std::string& password,
                                           bool reset_password = false);

// Creates a user with a role on a project (creating the project if needed); for `up`'s demo
// users and for tests.
Result<std::string> ensure_user(store::Store& store, const std::string& project_name,
                                const std::string& user_name, const std::string& password,
                                const std::string& role);

}  // namespace gpucloud::api

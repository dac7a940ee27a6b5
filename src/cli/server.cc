// `gpucloud server`: the API, scheduler and claims against a configured database. Hosts join
// through their agents (`gpucloud agent`); several servers may share one MariaDB.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/serve.h"
#include "cli/serve_controller.h"
#include "compute/compute.h"

namespace gpucloud::cli {

void register_server_init(CLI::App& server);  // server_init.cc: `gpucloud server init`

namespace {

struct ServerArgs {
  std::vector<std::string> config_files;
  std::string database;
  std::string listen = "127.0.0.1";
  int port = 5000;
  std::string data_dir = "/var/lib/gpucloud";
  std::string tls_cert, tls_key;
  ControllerArgs controller;
  std::string public_url;
  std::string web_root;    // "" : the portal files found next to the executable; "none": no portal
  std::string access_log;  // "": the access log goes to the normal log (stderr)
  uint64_t max_image_size = uint64_t{1} << 40;
  int conductor_workers = 4;
  double task_lease = 15;  // seconds
};

int run_server(const ServerArgs& a) {
  auto cfg = load_nova_files(a.config_files, "", "");
  if (!cfg) return 1;
  std::string url = a.database;
  if (url.empty() && cfg->database) url = cfg->database->value.text();
  if (url.empty()) {
    std::fprintf(stderr,
                 "gpucloud server: no database: give --database URL or [database] connection\n");
    return 1;
  }
  std::error_code ec;
  // A data folder made here is the owner's alone (images, perhaps a SQLite database).
  if (std::filesystem::create_directories(a.data_dir, ec)) {
    std::filesystem::permissions(a.data_dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
  }
  auto store = store::open_store(url);
  if (!store.ok()) {
    std::fprintf(stderr, "gpucloud server: %s\n", store.error().message.c_str());
    return 1;
  }
  block_stop_signals();
  if (!a.controller.cloudcontroller.empty()) block_reload_signal();
  api::ServerDeps deps;
  deps.store = store->get();
  deps.nova_config = cfg;
  // Every host is served by its agent: the conductor's calls become agent_tasks rows.
  deps.conductor_workers = a.conductor_workers;
  deps.task_lease = std::chrono::milliseconds(static_cast<int64_t>(a.task_lease * 1000));
  auto cc = start_controller(a.controller, a.config_files, **store, deps);
  if (!cc.ok()) {
    std::fprintf(stderr, "gpucloud server: %s\n", cc.error().message.c_str());
    return 1;
  }
  api::ServerOptions options;
  options.listen_host = a.listen;
  options.port = a.port;
  options.data_dir = a.data_dir;
  options.tls_cert_file = a.tls_cert;
  options.tls_key_file = a.tls_key;
  options.public_url = a.public_url;
  options.access_log_file = a.access_log;
  options.max_image_size = a.max_image_size;
  options.web_root = a.web_root == "none" ? ""
                     : a.web_root.empty() ? api::default_web_root()
                                          : a.web_root;
  auto server = api::ApiServer::create(deps, options);
  if (!server.ok()) {
    std::fprintf(stderr, "gpucloud server: %s\n", server.error().message.c_str());
    return 1;
  }
  if (auto s = (*server)->start(); !s.ok()) {
    std::fprintf(stderr, "gpucloud server: %s\n", s.error().message.c_str());
    return 1;
  }
  if (*cc) (*cc)->attach(**server, **store);
  std::printf("gpucloud server listening on %s (database %s)\n", (*server)->base_url().c_str(),
              (*store)->redacted_url().c_str());
  std::fflush(stdout);
  const char* sig = wait_for_stop_signal();
  std::printf("gpucloud server: %s, stopping\n", sig);
  (*server)->stop();
  cc->reset();
  return 0;
}

}  // namespace

void register_server(CLI::App& app) {
  auto args = std::make_shared<ServerArgs>();
  auto* cmd = app.add_subcommand("server", "run the API server against a database");
  cmd->add_option("--config", args->config_files, "nova.conf-style files, merged in order");
  cmd->add_option("--database", args->database,
                  "database URL (sqlite:///path or mysql://user:pw@host/db); "
                  "default: [database] connection");
  cmd->add_option("--listen", args->listen, "address to listen on");
  cmd->add_option("--conductor-workers", args->conductor_workers,
                  "threads that run boot/delete/power task steps (none waits for an agent)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--task-lease", args->task_lease,
                  "seconds after which another replica takes over the tasks of one that died")
      ->check(CLI::Range(1.0, 3600.0));
  cmd->add_option("--port", args->port, "port to listen on");
  cmd->add_option("--data-dir", args->data_dir, "where image data is kept");
  cmd->add_option("--tls-cert", args->tls_cert, "PEM certificate: serve HTTPS");
  cmd->add_option("--tls-key", args->tls_key, "PEM private key for --tls-cert");
  cmd->add_option("--public-url", args->public_url, "base URL advertised in the catalog");
  cmd->add_option("--access-log", args->access_log,
                  "file for the access log, one line per request (default: the normal log)");
  cmd->add_option("--max-image-size", args->max_image_size,
                  "largest image upload in bytes (glance's image_size_cap)")
      ->capture_default_str();
  cmd->add_option(
      "--web-root", args->web_root,
      "the portal's files (default: web/ found next to the executable; none: no portal)");
  add_controller_options(cmd, args->controller);
  register_server_init(*cmd);
  // `gpucloud server init` runs instead of the server, not before it.
  cmd->callback([args, cmd] {
    if (cmd->get_subcommands().empty()) set_exit_code(run_server(*args));
  });
}

}  // namespace gpucloud::cli

// `gpucloud up`: the whole cloud in one process for a first look — embedded SQLite under a data
// directory, the API on 127.0.0.1, simulated hosts (the fake driver) and the seed document's
// cloud: alias K2_Grid, hosts vmhost1-3, availability zone Denver, aggregates, flavors 1-5 and a
// login-node image. Writes clouds.yaml and openrc with a fresh admin password; stops on Ctrl-C.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/embedded_seed.h"
#include "cli/seed_cloud.h"
#include "cli/serve.h"
#include "cli/serve_controller.h"
#include "cli/up_hosts.h"

namespace gpucloud::cli {
namespace {

struct UpArgs {
  std::string data_dir = "gpucloud-data";
  std::vector<std::string> config_files;
  std::string fake_hosts;
  ControllerArgs controller;
  std::string listen = "127.0.0.1";
  int port = 5000;
  std::string web_root;  // "" : the portal files found next to the executable; "none": no portal
  bool no_demo = false;
  bool exit_when_ready = false;  // for scripts and tests: set up, print, stop
  std::string access_log;        // "": the access log goes to the normal log (stderr)
  uint64_t max_image_size = uint64_t{1} << 40;
};

int run_up(const UpArgs& a) {
  const auto started = std::chrono::steady_clock::now();
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(a.data_dir, ec);
  if (ec) {
    std::fprintf(stderr, "gpucloud up: cannot create %s: %s\n", a.data_dir.c_str(),
                 ec.message().c_str());
    return 1;
  }
  fs::permissions(a.data_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  const std::string data_dir = fs::absolute(a.data_dir).lexically_normal().string();

  auto cfg = load_nova_files(a.config_files, kSeedNovaConf, "(embedded seed nova.conf)");
  if (!cfg) return 1;
  auto store = store::open_store("sqlite:///" + data_dir + "/gpucloud.sqlite");
  if (!store.ok()) {
    std::fprintf(stderr, "gpucloud up: %s\n", store.error().message.c_str());
    return 1;
  }
  // A fresh admin password on every start, so that it is never stored anywhere but the 0600
  // client files.
  const std::string password = random_password();
  auto boot = api::bootstrap_identity(**store, "admin", "admin", password, /*reset=*/true);
  if (!boot.ok()) {
    std::fprintf(stderr, "gpucloud up: %s\n", boot.error().message.c_str());
    return 1;
  }

  block_stop_signals();
  if (!a.controller.cloudcontroller.empty()) block_reload_signal();
  auto hosts = start_up_hosts(**store, *cfg, a.fake_hosts);
  if (!hosts.ok()) {
    std::fprintf(stderr, "gpucloud up: %s\n", hosts.error().message.c_str());
    return 1;
  }
  api::ServerDeps deps;
  deps.store = store->get();
  deps.nova_config = cfg;
  attach_up_hosts(**hosts, deps);
  auto cc = start_controller(a.controller, a.config_files, **store, deps);
  if (!cc.ok()) {
    std::fprintf(stderr, "gpucloud up: %s\n", cc.error().message.c_str());
    return 1;
  }
  api::ServerOptions options;
  options.listen_host = a.listen;
  options.port = a.port;
  options.data_dir = data_dir;
  options.access_log_file = a.access_log;
  options.max_image_size = a.max_image_size;
  options.web_root = a.web_root == "none" ? ""
                     : a.web_root.empty() ? api::default_web_root()
                                          : a.web_root;
  auto server = api::ApiServer::create(deps, options);
  if (!server.ok()) {
    std::fprintf(stderr, "gpucloud up: %s\n", server.error().message.c_str());
    return 1;
  }
  if (auto s = (*server)->start(); !s.ok()) {
    std::fprintf(stderr, "gpucloud up: %s (is another gpucloud running? try --port)\n",
                 s.error().message.c_str());
    return 1;
  }
  if (*cc) (*cc)->attach(**server, **store);
  const std::string base = (*server)->base_url();
  SeedOptions seed{base, "admin", password, "admin", !a.no_demo};
  if (auto s = seed_cloud(seed); !s.ok()) {
    std::fprintf(stderr, "gpucloud up: setting up the seed's cloud failed: %s\n",
                 s.error().message.c_str());
    return 1;
  }
  const CloudCredentials creds{base + "/identity/v3", "admin", password, "admin"};
  if (auto s = write_client_files(data_dir, creds); !s.ok()) {
    std::fprintf(stderr, "gpucloud up: %s\n", s.error().message.c_str());
    return 1;
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf(
      "gpucloud is up in %.2f s: %s\n"
      "  identity  %s/identity/v3\n  compute   %s/compute/v2.1\n  image     %s/image\n"
      "  database  %s\n"
      "  admin credentials: %s/openrc and %s/clouds.yaml (mode 0600)\n\n"
      "Try:\n"
      "  . %s/openrc\n"
      "  openstack flavor list\n"
      "  nova aggregate-list\n"
      "  glance image-list\n"
      "  openstack server create --flavor 4 --image my_new_image --availability-zone Denver "
      "--wait gpu-vm\n"
      "  openstack server show gpu-vm\n\n"
      "Ctrl-C stops gpucloud.\n",
      secs, base.c_str(), base.c_str(), base.c_str(), base.c_str(),
      (*store)->redacted_url().c_str(), data_dir.c_str(), data_dir.c_str(), data_dir.c_str());
  if (!options.web_root.empty()) {
    std::printf("Portal: %s/portal/ (sign in as admin, project admin, password in openrc)\n",
                base.c_str());
  }
  std::fflush(stdout);
  if (!a.exit_when_ready) {
    const char* sig = wait_for_stop_signal();
    std::printf("gpucloud up: %s, stopping\n", sig);
  }
  (*server)->stop();
  cc->reset();
  std::printf("gpucloud up: stopped\n");
  return 0;
}

}  // namespace

void register_up(CLI::App& app) {
  auto args = std::make_shared<UpArgs>();
  auto* cmd = app.add_subcommand(
      "up", "run the whole cloud in one process: API, simulated hosts and the seed's cloud");
  cmd->add_option("--data-dir", args->data_dir, "where the database, images and credentials live")
      ->capture_default_str();
  cmd->add_option("--config", args->config_files,
                  "your own nova.conf (and nova-compute.conf); default: the seed's");
  cmd->add_option("--fake-hosts", args->fake_hosts,
                  "simulated hosts (JSON); default: the seed's vmhost1-3");
  cmd->add_option("--listen", args->listen, "address to listen on")->capture_default_str();
  cmd->add_option("--port", args->port, "port to listen on (0: any free port)")
      ->capture_default_str();
  cmd->add_option("--access-log", args->access_log,
                  "file for the access log, one line per request (default: the normal log)");
  cmd->add_option("--max-image-size", args->max_image_size,
                  "largest image upload in bytes (glance's image_size_cap)")
      ->capture_default_str();
  cmd->add_option(
      "--web-root", args->web_root,
      "the portal's files (default: web/ found next to the executable; none: no portal)");
  cmd->add_flag("--no-demo", args->no_demo,
                "create only flavors 1-5, so that the seed's own nova/glance commands can be run");
  cmd->add_flag("--exit-when-ready", args->exit_when_ready,
                "set everything up, print the summary and stop (for scripts)");
  add_controller_options(cmd, args->controller);
  cmd->callback([args] { set_exit_code(run_up(*args)); });
}

}  // namespace gpucloud::cli

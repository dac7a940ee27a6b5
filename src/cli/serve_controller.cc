#include "cli/serve_controller.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>

#include "conductor/conductor.h"

namespace gpucloud::cli {

void add_controller_options(CLI::App* cmd, ControllerArgs& args) {
  cmd->add_option("--cloudcontroller", args.cloudcontroller,
                  "cloudcontroller.ini: GPU admission check of boots, readiness probes, reload");
  cmd->add_option("--touch-file", args.touch_file,
                  "reload the configuration when this file's mtime changes "
                  "(e.g. /var/www/wsgi/cloudcontroller.wsgi)");
  cmd->add_option("--watch-seconds", args.watch_seconds, "how often the files are checked")
      ->check(CLI::Range(0.05, 3600.0));
}

controller::EndpointSource server_probed_endpoints(compute::ComputeDriver* driver) {
  return [driver](const store::Instance& i) -> std::optional<probe::Endpoint> {
    if (!driver || !i.host) return std::nullopt;
    // hosts() lists the in-process driver's hosts only (agents' hosts are in the database).
    auto hosts = driver->hosts();
    if (!hosts.ok()) return std::nullopt;
    bool here = false;
    for (const auto& h : *hosts) here = here || h.name == *i.host;
    if (!here) return std::nullopt;
    auto g = driver->guest(*i.host, i.uuid);
    // No such guest here (a fake guest is gone once `up` restarts; a libvirt domain that
    // vanished): nothing to probe. The recorded address on its usual ports would reach whatever
    // else listens there (the host's own sshd on 0.0.0.0:22) and call the server READY.
    if (!g.ok()) return probe::Endpoint{"", {}};
    return probe::Endpoint{g->ip_address.empty() ? i.ip_address : g->ip_address,
                           g->forwarded_ports};
  };
}

void block_reload_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

Result<std::unique_ptr<ControllerRuntime>> start_controller(
    const ControllerArgs& args, const std::vector<std::string>& nova_files, store::Store& store,
    api::ServerDeps& deps) {
  if (args.cloudcontroller.empty()) return std::unique_ptr<ControllerRuntime>();
  auto c = controller::Controller::create({args.cloudcontroller, nova_files, args.touch_file});
  if (!c.ok()) return c.error();
  auto rt = std::unique_ptr<ControllerRuntime>(new ControllerRuntime());
  rt->controller_ = std::move(*c);
  controller::Controller* ctl = rt->controller_.get();
  deps.controller = ctl;
  rt->prober_ = std::make_unique<controller::ReadinessProber>(
      store, [ctl] { return ctl->settings()->readiness; }, server_probed_endpoints(deps.driver));
  rt->prober_->start();
  rt->controller_->start_watching(
      std::chrono::milliseconds(static_cast<int64_t>(args.watch_seconds * 1000)));
  block_reload_signal();
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  ControllerRuntime* self = rt.get();
  rt->hup_ = std::thread([self, set] {
    while (true) {
      int sig = 0;
      sigwait(&set, &sig);
      if (self->stopping_) return;
      spdlog::info("controller: SIGHUP, reloading");
      (void)self->controller_->reload();  // a refusal is logged with file:line
    }
  });
  return rt;
}

void ControllerRuntime::attach(api::ApiServer& server, store::Store& store) {
  controller_->on_reload([&server](const std::shared_ptr<const controller::Settings>& s) {
    if (s->nova) server.set_nova_config(s->nova);
  });
  // gpu_query naming the server's own database: the conductor's fleet view already counts.
  if (conductor::Conductor* c = server.conductor()) {
    controller_->count_own_database_with(
        store.redacted_url(), [c](const std::vector<ProductId>& p) { return c->device_counts(p); });
  }
}

ControllerRuntime::~ControllerRuntime() {
  if (hup_.joinable()) {
    stopping_ = true;
    pthread_kill(hup_.native_handle(), SIGHUP);
    hup_.join();
  }
  if (prober_) prober_->stop();
  if (controller_) controller_->stop_watching();
}

}  // namespace gpucloud::cli

// The Cloud Controller inside `gpucloud server` and `gpucloud up`: its options
// (--cloudcontroller, --touch-file), the admission check handed to the API, the readiness prober,
// and reloads on file change and on SIGHUP.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/api.h"
#include "compute/compute.h"
#include "controller/controller.h"

namespace CLI {
class App;
}

namespace gpucloud::cli {

struct ControllerArgs {
  std::string cloudcontroller;  // cloudcontroller.ini; empty: no controller
  std::string touch_file;       // reload when its mtime changes (the seed's .wsgi habit)
  double watch_seconds = 2;
};
void add_controller_options(CLI::App* cmd, ControllerArgs& args);

class ControllerRuntime {
 public:
  ~ControllerRuntime();
  controller::Controller& controller() { return *controller_; }
  // After the server started: reloaded nova.conf files go to the API.
  // The server's conductor counts GPUs for the admission check when gpu_query is `store`.
  void attach(api::ApiServer& server, store::Store& store);

 private:
  friend Result<std::unique_ptr<ControllerRuntime>> start_controller(
      const ControllerArgs&, const std::vector<std::string>&, store::Store&, api::ServerDeps&);
  std::unique_ptr<controller::Controller> controller_;
  std::unique_ptr<controller::ReadinessProber> prober_;
  std::thread hup_;
  std::atomic<bool> stopping_ = false;
};

// Which instances the server's prober probes, and where: guests of the in-process driver's hosts
// (`gpucloud up`'s simulated ones, at their stand-in services' ports). Guests of agents' hosts are
// probed by their agents, the only ones that reach them (docs/controller.md, "Who probes").
controller::EndpointSource server_probed_endpoints(compute::ComputeDriver* driver);

// Blocks SIGHUP in the calling thread and every thread it starts afterwards, so that only the
// controller's thread takes it (call before starting threads, as block_stop_signals()).
void block_reload_signal();

// Null without --cloudcontroller. Blocks SIGHUP (call before other threads start) and handles it
// on its own thread: a reload. Sets deps.controller.
Result<std::unique_ptr<ControllerRuntime>> start_controller(
    const ControllerArgs& args, const std::vector<std::string>& nova_files, store::Store& store,
    api::ServerDeps& deps);

}  // namespace gpucloud::cli

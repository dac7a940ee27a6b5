#include "cli/commands.h"

#include <cstdio>

namespace gpucloud::cli {
namespace {
int g_exit_code = 0;  // set once by the subcommand that ran; read by main()
}  // namespace

int exit_code() { return g_exit_code; }
void set_exit_code(int code) { g_exit_code = code; }

CLI::App* subcommand_group(CLI::App& app, const std::string& name, const std::string& description) {
  auto existing = app.get_subcommands([&](CLI::App* sub) { return sub->get_name() == name; });
  if (!existing.empty()) return existing.front();
  auto* group = app.add_subcommand(name, description);
  group->require_subcommand(1);
  return group;
}

void register_version(CLI::App& app) {
  app.add_subcommand("version", "print gpucloud's version")->callback([] {
    std::printf("gpucloud 0.1.0\n");
  });
}

void register_commands(CLI::App& app) {
  register_version(app);
  register_db(app);
  register_pci_discover(app);
  register_host_doctor(app);
  register_config_check(app);
  register_scheduler_explain(app);
  register_server(app);
  register_up(app);
  register_gpu_check(app);
  register_quota(app);
  register_agent(app);
}

}  // namespace gpucloud::cli

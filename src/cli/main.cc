// gpucloud: one executable, one subcommand per tool (server, agent, up, config check, ...).
#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"gpucloud: a control plane for virtual machines with passed-through GPUs"};
  app.require_subcommand(1);
  gpucloud::cli::register_commands(app);
  CLI11_PARSE(app, argc, argv);
  return gpucloud::cli::exit_code();
}

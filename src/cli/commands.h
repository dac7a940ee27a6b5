// Each subcommand lives in its own file (config_check.cc, ...) and registers itself here.
#pragma once

#include <CLI/CLI.hpp>

namespace gpucloud::cli {

void register_commands(CLI::App& app);

// The exit status that the subcommand that ran asked for.
int exit_code();
void set_exit_code(int code);

// Registration functions, one per subcommand file.
void register_version(CLI::App& app);

}  // namespace gpucloud::cli

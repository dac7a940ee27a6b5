// Each subcommand lives in its own file (config_check.cc, ...) and registers itself here.
#pragma once

#include <CLI/CLI.hpp>

namespace gpucloud::cli {

void register_commands(CLI::App& app);

// The exit status that the subcommand that ran asked for.
int exit_code();
void set_exit_code(int code);

// The subcommand `name` of `app` (e.g. "pci", "host"), created on first use, so that several
// files can add commands under it ("pci discover", "host doctor", ...).
CLI::App* subcommand_group(CLI::App& app, const std::string& name, const std::string& description);

// Registration functions, one per subcommand file.
void register_version(CLI::App& app);
void register_db(CLI::App& app);  // db.cc
void register_pci_discover(CLI::App& app);  // pci_discover.cc
void register_host_doctor(CLI::App& app);   // host_doctor.cc
void register_config_check(CLI::App& app);  // config_check.cc
void register_scheduler_explain(CLI::App& app);  // scheduler_explain.cc
void register_server(CLI::App& app);             // server.cc
void register_up(CLI::App& app);                 // up.cc
void register_gpu_check(CLI::App& app);  // gpu_check.cc
void register_quota(CLI::App& app);      // quota.cc
void register_agent(CLI::App& app);      // agent.cc

}  // namespace gpucloud::cli

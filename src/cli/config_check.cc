// `gpucloud config check FILE...`: reads nova.conf-like files (merged in the order given, as
// nova's --config-file does) and cloudcontroller.ini files, prints what gpucloud understood and
// every problem as `file:line: message`. Exit status: 0 fine, 1 errors, 2 a file cannot be read.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "config/config.h"

namespace gpucloud::cli {
namespace {

std::string at(const config::Location& where) {
  return where.file.empty() ? "nova's default" : where.to_string();
}

void print_nova(const std::vector<config::IniFile>& files, const config::NovaConfig& cfg) {
  std::string names;
  for (const auto& f : files) names += (names.empty() ? "" : ", ") + f.name();
  std::printf("nova configuration (%s):\n", names.c_str());
  std::printf("  PCI aliases:%s\n", cfg.aliases.entries().empty() ? " none" : "");
  for (const auto& a : cfg.aliases.entries()) std::printf("    %s\n", a.describe().c_str());
  std::printf("  device specs:%s\n", cfg.device_specs.empty() ? " none" : "");
  for (const auto& d : cfg.device_specs) {
    std::printf("    %s  (%s)\n", d.value.describe().c_str(), at(d.where).c_str());
  }
  std::string filters;
  for (const auto& f : cfg.enabled_filters) filters += (filters.empty() ? "" : ", ") + f.value;
  std::printf("  enabled filters: %s%s\n", filters.empty() ? "none" : filters.c_str(),
              !cfg.enabled_filters.empty() && cfg.enabled_filters.front().where.file.empty()
                  ? "  (nova's default)"
                  : "");
  std::string available;
  for (const auto& f : cfg.available_filters) {
    available += (available.empty() ? "" : ", ") + f.value;
  }
  std::printf("  available filters: %s\n", available.c_str());
  std::printf("  spice: %s\n", cfg.spice_enabled ? "enabled" : "disabled");
  std::printf("  allocation ratios: cpu %g, ram %g, disk %g\n", cfg.cpu_allocation_ratio,
              cfg.ram_allocation_ratio, cfg.disk_allocation_ratio);
  std::printf("  max attempts: %d\n", cfg.max_attempts);
  if (cfg.host) {
    std::printf("  host: %s  (%s)\n", cfg.host->value.c_str(), at(cfg.host->where).c_str());
  } else {
    std::printf("  host: not set (nova uses the machine's hostname)\n");
  }
  if (cfg.database) {
    std::printf("  database: %s  (%s)\n", cfg.database->value.redacted().c_str(),
                at(cfg.database->where).c_str());
  } else {
    std::printf("  database: not set\n");
  }
}

void print_cloudcontroller(const config::IniFile& file, const config::CloudControllerConfig& cfg) {
  std::printf("cloud controller (%s):\n", file.name().c_str());
  if (cfg.gpu_query) {
    std::printf("  gpu_query: %s  (%s)\n", cfg.gpu_query->value.redacted().c_str(),
                at(cfg.gpu_query->where).c_str());
  } else {
    std::printf("  gpu_query: not set\n");
  }
  std::string ids;
  for (const auto& id : cfg.gpu_pci_ids) ids += (ids.empty() ? "" : " ") + id.value.str();
  std::printf("  GPU product ids: %s\n", ids.empty() ? "none" : ids.c_str());
}

int run(const std::vector<std::string>& paths) {
  bool unreadable = false;
  std::vector<config::IniFile> nova_files;
  std::vector<config::IniFile> cc_files;
  for (const auto& path : paths) {
    // Read with PasteDeploy's rules first, which keep bare keys: cloudcontroller.ini's two
    // lines may come without a section. Any other file is nova.conf-like: read again as oslo's.
    auto file = config::IniFile::load(path, config::IniDialect::kPasteDeploy);
    if (!file) {
      std::fprintf(stderr, "%s\n", file.error().message.c_str());
      unreadable = true;
      continue;
    }
    if (config::looks_like_cloudcontroller(*file)) {
      cc_files.push_back(std::move(*file));
      continue;
    }
    auto nova = config::IniFile::load(path);
    if (!nova) {
      std::fprintf(stderr, "%s\n", nova.error().message.c_str());
      unreadable = true;
      continue;
    }
    nova_files.push_back(std::move(*nova));
  }

  std::vector<config::Problem> problems;
  if (!nova_files.empty()) {
    config::NovaConfig cfg = config::load_nova_config(nova_files);
    print_nova(nova_files, cfg);
    problems.insert(problems.end(), cfg.problems.begin(), cfg.problems.end());
  }
  for (const auto& file : cc_files) {
    config::CloudControllerConfig cfg = config::load_cloudcontroller_config(file);
    print_cloudcontroller(file, cfg);
    problems.insert(problems.end(), cfg.problems.begin(), cfg.problems.end());
  }

  int errors = 0;
  int warnings = 0;
  for (const auto& p : problems) {
    std::printf("%s\n", p.to_string().c_str());
    ++(p.warning ? warnings : errors);
  }
  std::printf("%d error%s, %d warning%s\n", errors, errors == 1 ? "" : "s", warnings,
              warnings == 1 ? "" : "s");
  if (unreadable) return 2;
  return errors > 0 ? 1 : 0;
}

}  // namespace

void register_config_check(CLI::App& app) {
  auto* config = subcommand_group(app, "config", "configuration tools");
  auto* check = config->add_subcommand(
      "check",
      "read nova.conf-like files (merged in order) and cloudcontroller.ini files, "
      "print what gpucloud understood and every problem as file:line: message");
  auto paths = std::make_shared<std::vector<std::string>>();
  check->add_option("files", *paths, "configuration files, e.g. nova.conf nova-compute.conf")
      ->required();
  check->callback([paths] { set_exit_code(run(*paths)); });
}

}  // namespace gpucloud::cli

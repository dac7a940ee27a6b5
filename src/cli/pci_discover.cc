// `gpucloud pci discover [--config FILE...] [--sysfs-root DIR] [--format text|json]`: every PCI
// device of this host, with its names from pci.ids, and whether the device specs allow it and
// which aliases match it. Exit status: 0 listed, 1 the config or sysfs could not be read.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "cli/commands.h"

namespace gpucloud::cli {
namespace {

struct DiscoverOptions {
  std::vector<std::string> configs;
  std::string sysfs_root = "/sys";
  std::string format = "text";
};

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

void print_table(const std::vector<agent::DiscoveredDevice>& devices) {
  std::vector<std::vector<std::string>> rows = {
      {"ADDRESS", "ID", "CLASS", "NUMA", "GROUP", "DRIVER", "TYPE", "ALLOWED", "ALIASES", "NAME"}};
  for (const auto& d : devices) {
    std::string name = d.vendor_name.empty() && d.product_name.empty()
                           ? "-"
                           : d.vendor_name + (d.product_name.empty() ? "" : " " + d.product_name);
    rows.push_back(
        {d.device.address.to_string(), d.device.vendor_id.str() + ":" + d.device.product_id.str(),
         d.class_string().substr(2), d.device.numa_node ? std::to_string(*d.device.numa_node) : "-",
         d.iommu_group ? std::to_string(*d.iommu_group) : "-", d.driver.empty() ? "-" : d.driver,
         gpucloud::to_string(d.device.dev_type), d.allowed ? "yes" : "no",
         d.aliases.empty() ? "-" : join(d.aliases, ","), name});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

int run(const DiscoverOptions& opt) {
  auto config = agent::load_pci_config(opt.configs);
  if (!config) {
    std::fprintf(stderr, "%s\n", config.error().message.c_str());
    return 1;
  }
  for (const auto& w : config->warnings) std::fprintf(stderr, "%s\n", w.c_str());
  auto devices = agent::read_pci_devices(opt.sysfs_root);
  if (!devices) {
    std::fprintf(stderr, "%s\n", devices.error().message.c_str());
    return 1;
  }
  agent::apply_device_specs(*devices, config->device_specs, config->aliases);
  if (opt.format == "json") {
    std::printf("%s\n", agent::devices_to_json(*devices).c_str());
  } else {
    print_table(*devices);
  }
  return 0;
}

}  // namespace

void register_pci_discover(CLI::App& app) {
  auto* pci = subcommand_group(app, "pci", "PCI devices of this host");
  auto* discover = pci->add_subcommand(
      "discover",
      "list every PCI device from sysfs, with names from pci.ids, whether a device "
      "spec allows it and which aliases match it");
  auto opt = std::make_shared<DiscoverOptions>();
  discover->add_option("--config", opt->configs, "nova.conf-like files, merged in order");
  discover->add_option("--sysfs-root", opt->sysfs_root, "where sysfs is mounted")
      ->capture_default_str();
  discover->add_option("--format", opt->format, "output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  discover->callback([opt] { set_exit_code(run(*opt)); });
}

}  // namespace gpucloud::cli

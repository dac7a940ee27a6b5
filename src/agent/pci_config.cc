#include "agent/pci_config.h"

#include "config/config.h"

namespace gpucloud::agent {

Result<PciConfig> load_pci_config(const std::vector<std::string>& paths) {
  PciConfig out;
  if (paths.empty()) return out;
  std::vector<config::IniFile> files;
  for (const auto& path : paths) {
    auto file = config::IniFile::load(path);
    if (!file) return file.error();
    files.push_back(std::move(*file));
  }
  config::NovaConfig nova = config::load_nova_config(files);
  std::string errors;
  for (const auto& p : nova.problems) {
    if (p.warning) {
      out.warnings.push_back(p.to_string());
    } else {
      errors += (errors.empty() ? "" : "\n") + p.to_string();
    }
  }
  if (!errors.empty()) return Error::invalid(errors);
  for (auto& spec : nova.device_specs) out.device_specs.push_back(std::move(spec.value));
  out.aliases = std::move(nova.aliases);
  return out;
}

}  // namespace gpucloud::agent

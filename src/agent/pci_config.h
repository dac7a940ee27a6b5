// The part of nova.conf that the agent applies to its devices: device specs and PCI aliases.
#pragma once

#include <string>
#include <vector>

#include "core/core.h"

namespace gpucloud::agent {

struct PciConfig {
  std::vector<DeviceSpec> device_specs;
  AliasTable aliases;
  std::vector<std::string> warnings;  // "file:line: warning: ..." from the config reader
};

// Reads nova.conf-like files, merged in the order given (as nova's --config-file). Fails when a
// file cannot be read or has errors; the message lists every problem, one per line.
Result<PciConfig> load_pci_config(const std::vector<std::string>& paths);

}  // namespace gpucloud::agent

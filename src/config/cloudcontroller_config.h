// cloudcontroller.ini: the Scyld Cloud Controller's GPU admission settings, as the seed writes
// them: `openstack.gpu_query` (a database URL) and `openstack.gpu_pci_ids` (product ids).
#pragma once

#include <optional>
#include <vector>

#include "config/ini.h"
#include "config/nova_config.h"
#include "core/core.h"

namespace gpucloud::config {

struct CloudControllerConfig {
  std::optional<Located<DatabaseUrl>> gpu_query;
  std::vector<Located<ProductId>> gpu_pci_ids;
  std::vector<Problem> problems;

  bool has_errors() const;
};

CloudControllerConfig load_cloudcontroller_config(const IniFile& file);

// True when the file looks like cloudcontroller.ini (a PasteDeploy [app:...] section or an
// `openstack.` key) rather than nova.conf.
bool looks_like_cloudcontroller(const IniFile& file);

}  // namespace gpucloud::config

#include "cli/up_hosts.h"

#include <spdlog/spdlog.h>

#include "cli/embedded_seed.h"

namespace gpucloud::cli {

Result<std::unique_ptr<UpHosts>> start_up_hosts(store::Store& store,
                                                const config::NovaConfig& config,
                                                const std::string& fake_hosts_path) {
  auto driver = fake_hosts_path.empty() ? compute::make_fake_driver(kSeedFakeHosts)
                                        : compute::load_fake_driver(fake_hosts_path);
  if (!driver.ok()) return driver.error();
  compute::HostRatios ratios{config.cpu_allocation_ratio, config.ram_allocation_ratio,
                             config.disk_allocation_ratio};
  auto hosts = std::make_unique<UpHosts>(store, std::move(*driver), ratios);
  if (auto s = hosts->register_now(); !s.ok()) return s.error();
  hosts->start_heartbeat(std::chrono::seconds(10));
  return hosts;
}

void attach_up_hosts(UpHosts& hosts, api::ServerDeps& deps) { deps.driver = hosts.driver(); }

}  // namespace gpucloud::cli

// What every compute driver shares: the default way to find a guest and its address.
#include "compute/compute.h"

namespace gpucloud::compute {

Result<std::string> ComputeDriver::guest_address(const std::string& host,
                                                 const std::string& instance_uuid) {
  auto g = guest(host, instance_uuid);
  if (!g.ok()) return g.error();
  return g->ip_address;
}

Result<DomainInfo> ComputeDriver::guest(const std::string& host, const std::string& instance_uuid) {
  auto domains = list_domains(host);
  if (!domains.ok()) return domains.error();
  for (auto& d : *domains) {
    if (d.instance_uuid == instance_uuid) return std::move(d);
  }
  return Error::not_found("no guest of instance " + instance_uuid + " on host " + host);
}

Result<std::vector<CleanOutcome>> ComputeDriver::clean(const std::string&,
                                                       const std::vector<CleanDevice>& devices) {
  std::vector<CleanOutcome> out;
  for (const auto& d : devices) out.push_back({d.address, true, "", {"nothing to reset"}});
  return out;
}

}  // namespace gpucloud::compute

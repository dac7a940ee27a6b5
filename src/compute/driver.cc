// What every compute driver shares: the default way to find a guest's address.
#include "compute/compute.h"

namespace gpucloud::compute {

Result<std::string> ComputeDriver::guest_address(const std::string& host,
                                                 const std::string& instance_uuid) {
  auto domains = list_domains(host);
  if (!domains.ok()) return domains.error();
  for (const auto& d : *domains) {
    if (d.instance_uuid == instance_uuid) return d.ip_address;
  }
  return Error::not_found("no guest of instance " + instance_uuid + " on host " + host);
}

}  // namespace gpucloud::compute

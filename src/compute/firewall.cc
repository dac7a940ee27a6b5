// A guest's firewall from its server's security groups (docs/security_groups.md): the store
// resolves the rules (remote groups to their members' addresses), this turns them into what the
// drivers take.
#include "compute/compute.h"

namespace gpucloud::compute {
namespace {

Firewall from_rules(const std::vector<store::IngressRule>& rules) {
  Firewall f;
  for (const auto& r : rules) f.ingress.push_back({r.protocol, r.from_port, r.to_port, r.cidr});
  return f;
}

}  // namespace

Result<std::optional<Firewall>> guest_firewall(store::Store& store,
                                               const std::string& instance_uuid) {
  auto rules = store.ingress_rules("", instance_uuid);
  if (!rules.ok()) return rules.error();
  auto it = rules->find(instance_uuid);
  if (it == rules->end()) return std::optional<Firewall>();
  return std::optional<Firewall>(from_rules(it->second));
}

Result<std::map<std::string, Firewall>> host_firewalls(store::Store& store,
                                                       const std::string& host) {
  auto rules = store.ingress_rules(host);
  if (!rules.ok()) return rules.error();
  std::map<std::string, Firewall> out;
  for (const auto& [uuid, r] : *rules) out[uuid] = from_rules(r);
  return out;
}

}  // namespace gpucloud::compute

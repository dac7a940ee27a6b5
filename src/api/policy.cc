#include <algorithm>

#include "api/policy_impl.h"

namespace gpucloud::api {
namespace {

const std::vector<std::string_view> kAdmin = {"admin"};
const std::vector<std::string_view> kWriters = {"admin", "member"};
const std::vector<std::string_view> kReaders = {"admin", "member", "reader"};
// Agents: keystone's `service` role, which OpenStack gives its services' own users (nova-compute
// talks to placement with it), so an operator can give each agent a user that may report hosts
// and run tasks but cannot touch projects' servers or images; admin works too, for small clouds.
// Like nova-compute's credentials, one agent's may act for any host.
const std::vector<std::string_view> kAgents = {"admin", "service"};

}  // namespace

// The whole table. Roles follow keystone's defaults: reader ⊂ member ⊂ admin (admin implies
// member implies reader, so each role list names every role that grants the rule).
const std::vector<PolicyRule>& policy_table() {
  static const std::vector<PolicyRule> table = {
      {"public", {}, Scope::kPublic, "version discovery, token issue, portal files"},
      {"identity:token", kReaders, Scope::kAnyProject, "validate or revoke tokens"},
      {"identity:read_self", kReaders, Scope::kAnyProject, "read own user, projects, roles"},
      {"identity:admin", kAdmin, Scope::kAnyProject, "manage projects, users, roles"},
      {"compute:read", kReaders, Scope::kAnyProject, "list flavors, limits, AZs, own servers"},
      {"compute:server:read", kReaders, Scope::kOwnProject, "show own project's servers"},
      {"compute:server:write", kWriters, Scope::kOwnProject,
       "create, delete, start, stop, reboot own project's servers, open their consoles"},
      {"compute:quota:read", kReaders, Scope::kAnyProject,
       "show own project's nova quotas (admins: any project's)"},
      {"compute:keypair", kWriters, Scope::kAnyProject, "manage own keypairs"},
      {"compute:admin", kAdmin, Scope::kAnyProject,
       "flavors, extra specs, flavor access, aggregates, hypervisors, services, quotas"},
      {"image:read", kReaders, Scope::kOwnProject, "list, show, download visible images"},
      {"image:write", kWriters, Scope::kOwnProject, "create, upload, update, delete own images"},
      {"image:publicize", kAdmin, Scope::kAnyProject, "make images public"},
      // glance's metadef policies: anyone reads the public namespaces and their own project's
      // (the handlers hide the others as absent); only admins define them.
      {"image:metadef:read", kReaders, Scope::kAnyProject,
       "list and show metadata definitions: public ones and the own project's"},
      {"image:metadef:admin", kAdmin, Scope::kAnyProject,
       "create, update and delete metadata definitions (namespaces, objects, properties, tags, "
       "resource type associations)"},
      {"metrics:read", kAdmin, Scope::kAnyProject, "Prometheus metrics"},
      {"gpucloud:agent", kAgents, Scope::kAnyProject,
       "agents: report hosts, heartbeat, take and answer tasks, report orphans"},
  };
  return table;
}

const PolicyRule* find_rule(std::string_view name) {
  for (const auto& r : policy_table()) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

Status authorize(const Caller& caller, const PolicyRule& rule) {
  if (rule.scope == Scope::kPublic) return {};
  for (auto role : rule.roles) {
    if (caller.has_role(role)) return {};
  }
  return forbidden("Policy doesn't allow " + std::string(rule.name) + " to be performed.");
}

Status check_owner(const Caller& caller, const std::string& owner_project_id,
                   const std::string& what) {
  if (caller.is_admin() || caller.project_id == owner_project_id) return {};
  return Error::not_found(what + " could not be found.");
}

}  // namespace gpucloud::api

// Internal to api/: the policy table — which roles may call which rule, and whether the objects
// must belong to the caller's project. Every route names one rule; policy.cc lists them all.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/router_impl.h"

namespace gpucloud::api {

enum class Scope {
  kPublic,      // no token needed (version discovery, token issue)
  kAnyProject,  // any valid token with one of the roles
  kOwnProject,  // objects of the caller's project only; admins reach every project
};

struct PolicyRule {
  std::string_view name;
  std::vector<std::string_view> roles;  // any of these; empty with kPublic
  Scope scope;
  std::string_view description;
};

const std::vector<PolicyRule>& policy_table();
const PolicyRule* find_rule(std::string_view name);

// The route-level check: may this caller use this rule at all?
Status authorize(const Caller& caller, const PolicyRule& rule);
// The object-level check for kOwnProject rules: admins pass; others must own the object.
// Another project's object is reported as not found, so ids of others do not leak.
Status check_owner(const Caller& caller, const std::string& owner_project_id,
                   const std::string& what);

}  // namespace gpucloud::api

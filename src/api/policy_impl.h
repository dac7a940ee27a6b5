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

// ---- the RBAC matrix (policy_matrix.cc) ----
// Who tests/unit/api/rbac_matrix_test.cc calls every route as, and docs/api.md shows. By the
// matrix's convention, an object named in a path (server, image, key pair, the user or project
// of a read-self route) belongs to the member and their project; routes that only admins may use
// act on a spare user and project.
enum class Persona { kAnonymous, kReader, kMember, kOtherMember, kService, kAdmin };
const std::vector<Persona>& all_personas();
std::string_view persona_name(Persona p);  // "anonymous", "reader", ...

// What the persona gets from a route by the policy table alone: "ok" (past the policy; the handler
// answers), "401", "403", or "404" (another project's object looks absent).
std::string_view expected_outcome(const RouteInfo& route, Persona persona);

// The matrix as a Markdown table, one row per route: docs/api.md holds exactly this text.
std::string policy_matrix_markdown(const std::vector<RouteInfo>& routes);

}  // namespace gpucloud::api

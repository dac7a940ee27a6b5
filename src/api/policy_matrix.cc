// The RBAC matrix: what each persona gets from each route, derived from the policy table (the
// rule's roles decide 401/403) and the ownership conventions of the routes' objects (404 for
// another project's server or image, 403 for another user's token or self-read). The test that
// calls every route against a real server and docs/api.md both come from here.
#include <algorithm>

#include "api/policy_impl.h"

namespace gpucloud::api {
namespace {

bool has_param(const RouteInfo& r, std::string_view param) {
  return r.pattern.find(param) != std::string::npos;
}

std::vector<std::string_view> persona_roles(Persona p) {
  switch (p) {
    case Persona::kAnonymous:
      return {};
    case Persona::kReader:
      return {"reader"};
    case Persona::kMember:
    case Persona::kOtherMember:
      return {"member", "reader"};
    case Persona::kService:
      return {"service"};
    case Persona::kAdmin:
      return {"admin", "member", "reader"};
  }
  return {};
}

}  // namespace

const std::vector<Persona>& all_personas() {
  static const std::vector<Persona> kAll = {Persona::kAnonymous, Persona::kReader,
                                            Persona::kMember,    Persona::kOtherMember,
                                            Persona::kService,   Persona::kAdmin};
  return kAll;
}

std::string_view persona_name(Persona p) {
  switch (p) {
    case Persona::kAnonymous:
      return "anonymous";
    case Persona::kReader:
      return "reader";
    case Persona::kMember:
      return "member";
    case Persona::kOtherMember:
      return "other project";
    case Persona::kService:
      return "service";
    case Persona::kAdmin:
      return "admin";
  }
  return "?";
}

std::string_view expected_outcome(const RouteInfo& route, Persona persona) {
  const PolicyRule* rule = find_rule(route.policy);
  if (!rule) return "?";
  // keystone's OAuth1 consumer steps: public to tokens, but only a consumer's signature gets in.
  if (route.pattern.ends_with("/OS-OAUTH1/request_token") ||
      route.pattern.ends_with("/OS-OAUTH1/access_token")) {
    return "401";
  }
  if (rule->scope == Scope::kPublic) return "ok";
  if (persona == Persona::kAnonymous) return "401";
  const auto roles = persona_roles(persona);
  const bool granted = std::any_of(rule->roles.begin(), rule->roles.end(), [&](auto r) {
    return std::find(roles.begin(), roles.end(), r) != roles.end();
  });
  if (!granted) return "403";
  if (persona == Persona::kAdmin) return "ok";
  const bool member = persona == Persona::kMember;
  const bool other = persona == Persona::kOtherMember;
  // Servers and images of the member's project: absent to other projects (check_owner).
  if (has_param(route, "{server_id}") || has_param(route, "{image_id}")) {
    return other ? "404" : "ok";
  }
  // Key pairs are looked up under the caller's own user: another's name is not found.
  if (rule->name == "compute:keypair" && has_param(route, "{name}")) return member ? "ok" : "404";
  // nova's quotas: a project's own members may read them (compute_quotas.cc).
  if (rule->name == "compute:quota:read") return other ? "403" : "ok";
  // A token's owner (or an admin) may look at it or revoke it.
  if (rule->name == "identity:token") return member ? "ok" : "403";
  // Another project's usage report is not the caller's to read (compute_usage.cc).
  if (route.pattern.find("os-simple-tenant-usage/{project_id}") != std::string::npos) {
    return other ? "403" : "ok";
  }
  if (rule->name == "identity:read_self") {
    if (has_param(route, "{user_id}")) return member ? "ok" : "403";
    if (has_param(route, "{project_id}")) return other ? "403" : "ok";
  }
  return "ok";
}

std::string policy_matrix_markdown(const std::vector<RouteInfo>& routes) {
  std::string out = "| route | policy |";
  std::string rule_line = "|---|---|";
  for (Persona p : all_personas()) {
    out += " " + std::string(persona_name(p)) + " |";
    rule_line += "---|";
  }
  out += "\n" + rule_line + "\n";
  for (const auto& r : routes) {
    out += "| `" + r.method + " " + r.pattern + "` | " + r.policy + " |";
    for (Persona p : all_personas()) {
      const std::string_view o = expected_outcome(r, p);
      out += " " + std::string(o == "ok" ? "✓" : o) + " |";
    }
    out += "\n";
  }
  return out;
}

}  // namespace gpucloud::api

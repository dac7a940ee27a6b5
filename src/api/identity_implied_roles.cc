// Keystone v3 role inference rules (implied roles), for admins: PUT/GET/HEAD/DELETE
// /roles/{prior_role_id}/implies/{implied_role_id}, GET /roles/{prior_role_id}/implies (one
// role's rules) and GET /role_inferences (all of them, by prior role). Whoever holds the prior
// role holds the implied ones too: the store expands the rules where it reads a user's roles for
// every request, so a rule added or deleted holds at the next request (docs/identity.md).
#include <map>
#include <string>
#include <vector>

#include "api/identity_impl.h"
#include "api/policy_impl.h"

namespace gpucloud::api {
namespace {

// A role as keystone shows it in a rule: id, name and link.
json rule_role_json(const store::Role& r, const std::string& base) {
  return {
      {"id", r.id}, {"name", r.name}, {"links", {{"self", base + "/identity/v3/roles/" + r.id}}}};
}

Result<store::Role> role_named_by(ApiContext& ctx, const Call& call, const char* param) {
  const auto& id = call.param(param);
  auto r = ctx.store().get_role(id);
  if (!r.ok()) return Error::not_found("Could not find role: " + id + ".");
  return r;
}

// The two roles a rule route names; 404 naming whichever does not exist.
struct RulePair {
  store::Role prior, implied;
};
Result<RulePair> rule_roles(ApiContext& ctx, const Call& call) {
  auto prior = role_named_by(ctx, call, "prior_role_id");
  if (!prior.ok()) return prior.error();
  auto implied = role_named_by(ctx, call, "implied_role_id");
  if (!implied.ok()) return implied.error();
  return RulePair{std::move(*prior), std::move(*implied)};
}

Reply one_rule(ApiContext& ctx, const RulePair& p, int status) {
  return Reply::ok({{"role_inference",
                     {{"prior_role", rule_role_json(p.prior, ctx.base_url)},
                      {"implies", rule_role_json(p.implied, ctx.base_url)}}},
                    {"links",
                     {{"self", ctx.base_url + "/identity/v3/roles/" + p.prior.id + "/implies/" +
                                   p.implied.id}}}},
                   status);
}

// Whether the rule exists (the roles do).
Result<bool> rule_exists(ApiContext& ctx, const RulePair& p) {
  auto rules = ctx.store().list_implied_roles(p.prior.id);
  if (!rules.ok()) return rules.error();
  for (const auto& r : *rules) {
    if (r.implied_role_id == p.implied.id) return true;
  }
  return false;
}

Error no_rule(const RulePair& p) {
  return Error::not_found(p.prior.id + " does not imply " + p.implied.id + ".");
}

Result<Reply> put_rule(ApiContext& ctx, Call& call) {
  auto p = rule_roles(ctx, call);
  if (!p.ok()) return p.error();
  // The store refuses (403) the admin role as an implied one, a global role implying a
  // domain-specific one and a cycle, and an existing rule (409), as keystone.
  if (auto s = ctx.store().create_implied_role({p->prior.id, p->implied.id}); !s.ok()) {
    return s.error();
  }
  return one_rule(ctx, *p, 201);
}

Result<Reply> show_rule(ApiContext& ctx, Call& call) {
  auto p = rule_roles(ctx, call);
  if (!p.ok()) return p.error();
  auto exists = rule_exists(ctx, *p);
  if (!exists.ok()) return exists.error();
  if (!*exists) return no_rule(*p);
  return one_rule(ctx, *p, 200);
}

Result<Reply> check_rule(ApiContext& ctx, Call& call) {
  auto p = rule_roles(ctx, call);
  if (!p.ok()) return p.error();
  auto exists = rule_exists(ctx, *p);
  if (!exists.ok()) return exists.error();
  if (!*exists) return no_rule(*p);
  return Reply::no_content();
}

Result<Reply> delete_rule(ApiContext& ctx, Call& call) {
  auto p = rule_roles(ctx, call);
  if (!p.ok()) return p.error();
  if (auto s = ctx.store().delete_implied_role({p->prior.id, p->implied.id}); !s.ok()) {
    if (s.error().code == ErrorCode::kNotFound) return no_rule(*p);
    return s.error();
  }
  return Reply::no_content();
}

// The rules as keystone lists them: one entry per prior role with the roles it implies.
Result<json> rules_by_prior(ApiContext& ctx, const std::string& prior_role_id) {
  auto rules = ctx.store().list_implied_roles(prior_role_id);
  if (!rules.ok()) return rules.error();
  auto roles = ctx.store().list_roles();
  if (!roles.ok()) return roles.error();
  std::map<std::string, const store::Role*> by_id;
  for (const auto& r : *roles) by_id[r.id] = &r;
  json out = json::array();
  std::string current;
  for (const auto& rule : *rules) {
    const auto prior = by_id.find(rule.prior_role_id);
    const auto implied = by_id.find(rule.implied_role_id);
    if (prior == by_id.end() || implied == by_id.end()) continue;  // deleted meanwhile
    if (out.empty() || current != rule.prior_role_id) {
      out.push_back({{"prior_role", rule_role_json(*prior->second, ctx.base_url)},
                     {"implies", json::array()}});
      current = rule.prior_role_id;
    }
    out.back()["implies"].push_back(rule_role_json(*implied->second, ctx.base_url));
  }
  return out;
}

Result<Reply> list_role_rules(ApiContext& ctx, Call& call) {
  auto prior = role_named_by(ctx, call, "prior_role_id");
  if (!prior.ok()) return prior.error();
  auto rules = rules_by_prior(ctx, prior->id);
  if (!rules.ok()) return rules.error();
  json inference = rules->empty() ? json{{"prior_role", rule_role_json(*prior, ctx.base_url)},
                                         {"implies", json::array()}}
                                  : (*rules)[0];
  return Reply::ok(
      {{"role_inference", inference},
       {"links", {{"self", ctx.base_url + "/identity/v3/roles/" + prior->id + "/implies"}}}});
}

Result<Reply> list_all_rules(ApiContext& ctx, Call&) {
  auto rules = rules_by_prior(ctx, "");
  if (!rules.ok()) return rules.error();
  return Reply::ok({{"role_inferences", *rules},
                    {"links", {{"self", ctx.base_url + "/identity/v3/role_inferences"}}}});
}

}  // namespace

std::vector<Route> identity_implied_role_routes(ApiContext& ctx) {
  std::vector<Route> r;
  auto add = [&r, &ctx](const char* m, const char* p, Result<Reply> (*h)(ApiContext&, Call&)) {
    r.push_back({m,
                 p,
                 Service::kIdentity,
                 "identity:admin",
                 [&ctx, h](Call& call) { return h(ctx, call); },
                 {}});
  };
  const char* one = "/identity/v3/roles/{prior_role_id}/implies/{implied_role_id}";
  add("PUT", one, put_rule);
  add("GET", one, show_rule);
  add("HEAD", one, check_rule);
  add("DELETE", one, delete_rule);
  add("GET", "/identity/v3/roles/{prior_role_id}/implies", list_role_rules);
  add("GET", "/identity/v3/role_inferences", list_all_rules);
  return r;
}

}  // namespace gpucloud::api

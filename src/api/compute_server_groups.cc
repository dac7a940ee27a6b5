// Compute v2.1: nova's os-server-groups. A group has a policy (affinity, anti-affinity, and from
// 2.15 their soft- forms) and members: the servers booted with the `group` scheduler hint
// (compute_servers.cc), which the scheduler places by the policy and the claim re-checks
// (store claims.cc). Up to 2.63 the policy is a one-item `policies` list beside an always-empty
// `metadata`; 2.64 replaced both with `policy` and `rules` (max_server_per_host).
#include "api/compute_impl.h"
#include "api/policy_impl.h"
#include "api/validation_impl.h"

namespace gpucloud::api {
namespace {

json group_json(const store::ServerGroup& g, const Microversion& mv) {
  json j = {{"id", g.uuid}, {"name", g.name}, {"members", g.members}};
  if (mv.at_least(2, 64)) {
    j["policy"] = g.policy;
    j["rules"] = json::object();
    if (g.max_server_per_host) j["rules"]["max_server_per_host"] = *g.max_server_per_host;
  } else {
    j["policies"] = json::array({g.policy});
    j["metadata"] = json::object();
  }
  if (mv.at_least(2, 13)) {
    j["project_id"] = g.project_id;
    j["user_id"] = g.user_id;
  }
  return j;
}

Error group_not_found(const std::string& id) {
  return Error::not_found("Instance group " + id + " could not be found.");
}

// The policies a microversion accepts: the soft ones came with 2.15.
Status check_policy(const json& v, const char* field, const Microversion& mv) {
  std::vector<std::string> allowed = {"anti-affinity", "affinity"};
  if (mv.at_least(2, 15)) {
    allowed.push_back("soft-anti-affinity");
    allowed.push_back("soft-affinity");
  }
  if (v.is_string()) {
    for (const auto& a : allowed) {
      if (v.get<std::string>() == a) return {};
    }
  }
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "'" : ", '") + a + "'";
  return bad_request(std::string("Invalid input for field/attribute ") + field +
                     ". Value: " + shown(v) + ". " + shown(v) + " is not one of [" + list + "]");
}

// The group of the path's {group_id} if the caller may see it (own project, or admin).
Result<store::ServerGroup> visible_group(ApiContext& ctx, const Call& call) {
  const std::string& id = call.param("group_id");
  auto g = ctx.store().get_server_group(id);
  if (!g.ok()) return g.error().code == ErrorCode::kNotFound ? group_not_found(id) : g.error();
  if (!check_owner(call.who(), g->project_id, "Instance group " + id).ok()) {
    return group_not_found(id);
  }
  return g;
}

Result<Reply> create_group(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (auto s = no_extra_fields(*body, "body", {"server_group"}); !s.ok()) return s.error();
  auto gb = body_member(*body, "server_group");
  if (!gb.ok()) return gb.error();
  const json& b = *gb;
  const Microversion& mv = call.microversion;
  const bool v264 = mv.at_least(2, 64);
  if (auto s = v264 ? no_extra_fields(b, "server_group", {"name", "policy", "rules"})
                    : no_extra_fields(b, "server_group", {"name", "policies"});
      !s.ok())
    return s.error();
  if (!b.contains("name") || !b["name"].is_string()) {
    return bad_request(b.contains("name")
                           ? "Invalid input for field/attribute name. Value: " + shown(b["name"]) +
                                 ". " + shown(b["name"]) + " is not of type 'string'"
                           : "Invalid input for field/attribute server_group. 'name' is a "
                             "required property");
  }
  const std::string name = b["name"].get<std::string>();
  if (auto s = check_name(name, "name", {255, false, false}); !s.ok()) return s.error();

  store::ServerGroup g;
  g.uuid = new_uuid();
  g.name = name;
  g.project_id = call.who().project_id;
  g.user_id = call.who().user_id;
  if (v264) {
    if (!b.contains("policy")) {
      return bad_request(
          "Invalid input for field/attribute server_group. 'policy' is a required property");
    }
    if (auto s = check_policy(b["policy"], "policy", mv); !s.ok()) return s.error();
    g.policy = b["policy"].get<std::string>();
    if (b.contains("rules")) {
      const json& rules = b["rules"];
      if (!rules.is_object()) {
        return bad_request("Invalid input for field/attribute rules. Value: " + shown(rules) +
                           ". " + shown(rules) + " is not of type 'object'");
      }
      if (auto s = no_extra_fields(rules, "rules", {"max_server_per_host"}); !s.ok()) {
        return s.error();
      }
      auto max = int_field(rules, "max_server_per_host", "rules", 1, 2147483647);
      if (!max.ok()) return max.error();
      if (*max) {
        if (g.policy != "anti-affinity") {
          return bad_request("Only anti-affinity policy supports rules.");
        }
        g.max_server_per_host = static_cast<int>(**max);
      }
    }
  } else {
    if (!b.contains("policies")) {
      return bad_request(
          "Invalid input for field/attribute server_group. 'policies' is a required property");
    }
    const json& p = b["policies"];
    if (!p.is_array() || p.size() != 1) {
      return bad_request("Invalid input for field/attribute policies. Value: " + shown(p) + ". " +
                         shown(p) +
                         (p.is_array() ? (p.empty() ? " is too short" : " is too long")
                                       : " is not of type 'array'"));
    }
    if (auto s = check_policy(p[0], "policies[0]", mv); !s.ok()) return s.error();
    g.policy = p[0].get<std::string>();
  }
  if (auto s = ctx.store().create_server_group(g); !s.ok()) return s.error();
  auto made = ctx.store().get_server_group(g.uuid);
  if (!made.ok()) return made.error();
  return Reply::ok({{"server_group", group_json(*made, mv)}});
}

// The caller's project's groups, oldest first; limit and offset page through them.
Result<Reply> list_groups(ApiContext& ctx, Call& call) {
  const Caller& who = call.who();
  // As nova: an admin's all_projects, whatever its value; anyone else's is ignored.
  const bool everyone = who.is_admin() && call.query("all_projects").has_value();
  auto groups = ctx.store().list_server_groups(everyone ? "" : who.project_id);
  if (!groups.ok()) return groups.error();
  json q = json::object();
  for (const char* key : {"limit", "offset"}) {
    if (auto v = call.query(key)) q[key] = *v;
  }
  auto limit = int_field(q, "limit", "query", 0, 2147483647);
  if (!limit.ok()) return limit.error();
  auto offset = int_field(q, "offset", "query", 0, 2147483647);
  if (!offset.ok()) return offset.error();
  json out = json::array();
  const size_t from = static_cast<size_t>(offset->value_or(0));
  for (size_t k = from; k < groups->size(); ++k) {
    if (*limit && static_cast<int64_t>(out.size()) >= **limit) break;
    out.push_back(group_json((*groups)[k], call.microversion));
  }
  return Reply::ok({{"server_groups", out}});
}

Result<Reply> show_group(ApiContext& ctx, Call& call) {
  auto g = visible_group(ctx, call);
  if (!g.ok()) return g.error();
  return Reply::ok({{"server_group", group_json(*g, call.microversion)}});
}

// nova deletes a group whatever its members: they stay where they are.
Result<Reply> delete_group(ApiContext& ctx, Call& call) {
  auto g = visible_group(ctx, call);
  if (!g.ok()) return g.error();
  if (auto s = ctx.store().delete_server_group(g->uuid); !s.ok()) {
    return s.error().code == ErrorCode::kNotFound ? group_not_found(g->uuid) : s.error();
  }
  return Reply::no_content();
}

}  // namespace

std::vector<Route> compute_server_group_routes(ApiContext& ctx) {
  ApiContext* c = &ctx;
  const std::string base = kCompute + "/os-server-groups";
  auto bind = [c](Result<Reply> (*f)(ApiContext&, Call&)) {
    return [c, f](Call& call) { return f(*c, call); };
  };
  return {
      {"POST", base, Service::kCompute, "compute:server:write", bind(create_group), {}},
      {"GET", base, Service::kCompute, "compute:read", bind(list_groups), {}},
      {"GET", base + "/{group_id}", Service::kCompute, "compute:server:read", bind(show_group), {}},
      {"DELETE",
       base + "/{group_id}",
       Service::kCompute,
       "compute:server:write",
       bind(delete_group),
       {}},
  };
}

}  // namespace gpucloud::api

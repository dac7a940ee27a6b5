// Compute v2.1: nova's security groups (os-security-groups, os-security-group-rules, a server's
// os-security-groups and the addSecurityGroup / removeSecurityGroup actions), with the semantics
// of nova-network, which is what Tempest and the openstack client expect from nova's API when
// there is no neutron: names unique in a project, a "default" group that cannot be renamed or
// deleted, ingress rules from a network or from another group's servers. The proxy routes end
// at 2.35 as nova's do (404 from 2.36); the actions and the server's field stay.
//
// Unlike nova's proxies, the rules are enforced: each guest's firewall is computed from its
// groups (store ingress_rules) and set by its host (docs/security_groups.md).
#include <spdlog/spdlog.h>

#include "api/compute_impl.h"
#include "api/validation_impl.h"
#include "compute/compute.h"

namespace gpucloud::api {
namespace {

const std::string sg_kGroups = kCompute + "/os-security-groups";
const std::string sg_kRules = kCompute + "/os-security-group-rules";

bool sg_is_uuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t k = 0; k < s.size(); ++k) {
    const bool dash = k == 8 || k == 13 || k == 18 || k == 23;
    if (dash ? s[k] != '-' : !std::isxdigit(static_cast<unsigned char>(s[k]))) return false;
  }
  return true;
}

bool sg_is_integer(const std::string& s) {
  return !s.empty() && s.size() < 19 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c));
  });
}

// An id from a path or a body. Our ids are UUIDs; an integer (nova-network's ids, which clients
// written for it send) cannot name one of ours, so it is simply not found; anything else is 400.
Status sg_check_id(const std::string& id, const char* what) {
  if (sg_is_uuid(id) || sg_is_integer(id)) return {};
  return bad_request(std::string(what) + " id should be uuid or integer");
}

Error sg_group_not_found(const std::string& id) {
  return Error::not_found("Security group " + id + " not found.");
}

// The group `id` if the caller may see it: its own project's, or any for an admin.
Result<store::SecurityGroup> sg_visible_group(ApiContext& ctx, const Call& call,
                                              const std::string& id) {
  if (auto s = sg_check_id(id, "Security group"); !s.ok()) return s.error();
  if (!sg_is_uuid(id)) return sg_group_not_found(id);
  auto g = ctx.store().get_security_group(id);
  if (!g.ok()) return g.error().code == ErrorCode::kNotFound ? sg_group_not_found(id) : g.error();
  if (g->project_id != call.who().project_id && !call.who().is_admin()) {
    return sg_group_not_found(id);
  }
  return g;
}

json sg_rule_json(ApiContext& ctx, const store::SecurityGroupRule& r,
                  std::map<std::string, json>& remote_cache) {
  json j = {{"id", r.id},
            {"parent_group_id", r.group_id},
            {"ip_protocol", r.protocol.empty() ? json(nullptr) : json(r.protocol)},
            {"from_port", r.from_port ? json(*r.from_port) : json(nullptr)},
            {"to_port", r.to_port ? json(*r.to_port) : json(nullptr)},
            {"ip_range", json::object()},
            {"group", json::object()}};
  if (r.cidr) j["ip_range"] = {{"cidr", *r.cidr}};
  if (r.remote_group_id) {
    auto it = remote_cache.find(*r.remote_group_id);
    if (it == remote_cache.end()) {
      json g = json::object();
      if (auto rg = ctx.store().get_security_group(*r.remote_group_id); rg.ok()) {
        g = {{"name", rg->name}, {"tenant_id", rg->project_id}};
      }
      it = remote_cache.emplace(*r.remote_group_id, g).first;
    }
    j["group"] = it->second;
  }
  return j;
}

json sg_group_json(ApiContext& ctx, const store::SecurityGroup& g) {
  std::map<std::string, json> remote_cache;
  json rules = json::array();
  for (const auto& r : g.rules) rules.push_back(sg_rule_json(ctx, r, remote_cache));
  return {{"id", g.id},
          {"name", g.name},
          {"description", g.description},
          {"tenant_id", g.project_id},
          {"rules", rules}};
}

// nova-network's checks of a group's name and description: strings, at most 255 characters,
// the name not blank.
Status sg_check_property(const json& body, const char* key, bool required) {
  if (!body.contains(key) || body[key].is_null()) {
    if (!required) return {};
    return bad_request(std::string("Security group ") + key + " is not a string or unicode");
  }
  const json& v = body[key];
  if (!v.is_string()) {
    return bad_request(std::string("Security group ") + key + " is not a string or unicode");
  }
  const std::string s = v.get<std::string>();
  if (required && s.find_first_not_of(" \t\r\n") == std::string::npos) {
    return bad_request(std::string("Security group ") + key + " cannot be empty.");
  }
  if (utf8_length(s) > 255) {
    return bad_request(std::string("Security group ") + key +
                       " should not be greater than 255 characters.");
  }
  return check_text(s, std::string("security_group.") + key, 255);
}

Result<json> sg_group_body(const json& body) {
  if (!body.is_object() || !body.contains("security_group") ||
      !body["security_group"].is_object()) {
    return bad_request("The request body is invalid: 'security_group' is required");
  }
  return body["security_group"];
}

// A change to a group's rules or members reaches these guests: hosts served in-process get the
// new firewall now; agents pick it up in their next guest watch pass (GET {host}/view).
void sg_refresh_firewalls(ApiContext& ctx, const std::map<std::string, std::string>& reach) {
  for (const auto& [uuid, host] : reach) {
    if (!ctx.in_process_host(host)) continue;
    auto fw = compute::guest_firewall(ctx.store(), uuid);
    if (!fw.ok() || !*fw) continue;
    if (auto s = ctx.deps.driver->apply_firewall(host, uuid, **fw);
        !s.ok() && s.error().code != ErrorCode::kNotImplemented) {
      spdlog::warn("firewall of {} on {}: {}", uuid, host, s.error().message);
    }
  }
}

void sg_refresh_group(ApiContext& ctx, const std::string& group_id) {
  if (auto reach = ctx.store().security_group_reach(group_id); reach.ok()) {
    sg_refresh_firewalls(ctx, *reach);
  }
}

// ---- groups ----

Result<Reply> sg_list_groups(ApiContext& ctx, Call& call) {
  const Caller& who = call.who();
  // nova makes the project's default group when it is first listed.
  if (auto d = ctx.store().default_security_group(who.project_id, new_uuid()); !d.ok()) {
    return d.error();
  }
  const bool everyone = who.is_admin() && call.query("all_tenants").has_value();
  auto groups = ctx.store().list_security_groups(everyone ? "" : who.project_id);
  if (!groups.ok()) return groups.error();
  json out = json::array();
  for (const auto& g : *groups) out.push_back(sg_group_json(ctx, g));
  return Reply::ok({{"security_groups", out}});
}

Result<Reply> sg_create_group(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto b = sg_group_body(*body);
  if (!b.ok()) return b.error();
  if (auto s = sg_check_property(*b, "name", true); !s.ok()) return s.error();
  if (auto s = sg_check_property(*b, "description", false); !s.ok()) return s.error();
  store::SecurityGroup g;
  g.id = new_uuid();
  g.project_id = call.who().project_id;
  g.name = (*b)["name"].get<std::string>();
  g.description = b->value("description", json("")).is_string()
                      ? b->value("description", std::string())
                      : std::string();
  // The project's default group exists before its first own group (as nova makes it).
  if (auto d = ctx.store().default_security_group(g.project_id, new_uuid()); !d.ok()) {
    return d.error();
  }
  if (auto s = ctx.store().create_security_group(g); !s.ok()) {
    if (s.error().code == ErrorCode::kConflict) return bad_request(s.error().message);
    return s.error();
  }
  auto made = ctx.store().get_security_group(g.id);
  if (!made.ok()) return made.error();
  return Reply::ok({{"security_group", sg_group_json(ctx, *made)}});
}

Result<Reply> sg_show_group(ApiContext& ctx, Call& call) {
  auto g = sg_visible_group(ctx, call, call.param("group_id"));
  if (!g.ok()) return g.error();
  return Reply::ok({{"security_group", sg_group_json(ctx, *g)}});
}

Result<Reply> sg_update_group(ApiContext& ctx, Call& call) {
  const std::string id = call.param("group_id");
  if (auto s = sg_check_id(id, "Security group"); !s.ok()) return s.error();
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto b = sg_group_body(*body);
  if (!b.ok()) return b.error();
  auto g = sg_visible_group(ctx, call, id);
  if (!g.ok()) return g.error();
  if (auto s = sg_check_property(*b, "name", b->contains("name")); !s.ok()) return s.error();
  if (auto s = sg_check_property(*b, "description", false); !s.ok()) return s.error();
  if (g->name == "default") return bad_request("Unable to update system group 'default'");
  const std::string name = b->contains("name") ? (*b)["name"].get<std::string>() : g->name;
  const std::string description = b->contains("description") && (*b)["description"].is_string()
                                      ? (*b)["description"].get<std::string>()
                                      : g->description;
  if (auto s = ctx.store().update_security_group(g->id, name, description); !s.ok()) {
    if (s.error().code == ErrorCode::kConflict) return bad_request(s.error().message);
    return s.error().code == ErrorCode::kNotFound ? sg_group_not_found(id) : s.error();
  }
  auto now = ctx.store().get_security_group(g->id);
  if (!now.ok()) return now.error();
  return Reply::ok({{"security_group", sg_group_json(ctx, *now)}});
}

Result<Reply> sg_delete_group(ApiContext& ctx, Call& call) {
  const std::string id = call.param("group_id");
  auto g = sg_visible_group(ctx, call, id);
  if (!g.ok()) return g.error();
  if (g->name == "default") return bad_request("Unable to delete system group 'default'");
  // The servers whose rules name this group as their remote group lose those rules.
  auto reach = ctx.store().security_group_reach(g->id);
  if (auto s = ctx.store().delete_security_group(g->id); !s.ok()) {
    if (s.error().code == ErrorCode::kConflict) return bad_request(s.error().message);
    return s.error().code == ErrorCode::kNotFound ? sg_group_not_found(id) : s.error();
  }
  if (reach.ok()) sg_refresh_firewalls(ctx, *reach);
  return Reply::ok(nullptr, 202);
}

// ---- rules ----

// A port as nova takes it: an integer, or a string of one.
Result<std::optional<int64_t>> sg_port_value(const json& b, const char* key) {
  if (!b.contains(key) || b[key].is_null()) return std::optional<int64_t>();
  const json& v = b[key];
  if (v.is_number_integer()) return std::optional<int64_t>(v.get<int64_t>());
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    const bool neg = !s.empty() && s[0] == '-';
    if (sg_is_integer(neg ? s.substr(1) : s)) return std::optional<int64_t>(std::stoll(s));
  }
  return bad_request(std::string("Invalid input received: ") + key + " is not an integer.");
}

Result<store::SecurityGroupRule> sg_parse_rule(ApiContext& ctx, const Call& call, const json& body,
                                               store::SecurityGroup& parent) {
  if (!body.is_object() || !body.contains("security_group_rule") ||
      !body["security_group_rule"].is_object()) {
    return bad_request("The request body is invalid: 'security_group_rule' is required");
  }
  const json& b = body["security_group_rule"];
  if (!b.contains("parent_group_id") ||
      !(b["parent_group_id"].is_string() || b["parent_group_id"].is_number_integer())) {
    return bad_request("Security group id should be uuid or integer");
  }
  const std::string parent_id = b["parent_group_id"].is_string()
                                    ? b["parent_group_id"].get<std::string>()
                                    : std::to_string(b["parent_group_id"].get<int64_t>());
  auto p = sg_visible_group(ctx, call, parent_id);
  if (!p.ok()) return p.error();
  parent = *p;

  store::SecurityGroupRule r;
  r.id = new_uuid();
  r.group_id = parent.id;
  if (b.contains("group_id") && !b["group_id"].is_null()) {
    const json& gv = b["group_id"];
    if (!gv.is_string() && !gv.is_number_integer()) {
      return bad_request("Security group id should be uuid or integer");
    }
    const std::string gid = gv.is_string() ? gv.get<std::string>() : gv.dump();
    auto remote = sg_visible_group(ctx, call, gid);
    if (!remote.ok()) return remote.error();
    if (remote->project_id != parent.project_id) return sg_group_not_found(gid);
    r.remote_group_id = remote->id;
  }
  if (b.contains("cidr") && !b["cidr"].is_null()) {
    if (r.remote_group_id)
      return bad_request("A rule takes either a cidr or a group_id, not both.");
    if (!b["cidr"].is_string() || !parse_cidr(b["cidr"].get<std::string>()).ok()) {
      return bad_request("Invalid cidr " + shown(b["cidr"]) + ".");
    }
    r.cidr = b["cidr"].get<std::string>();
  }
  std::string protocol;
  if (b.contains("ip_protocol") && !b["ip_protocol"].is_null()) {
    if (!b["ip_protocol"].is_string()) return bad_request("Invalid IP protocol.");
    protocol = b["ip_protocol"].get<std::string>();
    for (auto& ch : protocol) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (protocol != "tcp" && protocol != "udp" && protocol != "icmp") {
      return bad_request("Invalid IP protocol " + cut(b["ip_protocol"].get<std::string>()) + ".");
    }
  }
  auto from = sg_port_value(b, "from_port");
  if (!from.ok()) return from.error();
  auto to = sg_port_value(b, "to_port");
  if (!to.ok()) return to.error();
  if (protocol.empty()) {
    // Only a remote group's rule may leave the protocol out: all traffic from its servers.
    if (!r.remote_group_id || *from || *to) {
      return bad_request("Not enough parameters to build a valid rule.");
    }
  } else {
    if (!*from || !*to) return bad_request("Not enough parameters to build a valid rule.");
    if (protocol == "icmp") {
      for (int64_t v : {**from, **to}) {
        if (v < -1 || v > 255) {
          return bad_request("ICMP type and code must be integers from -1 to 255.");
        }
      }
    } else {
      for (int64_t v : {**from, **to}) {
        if (v < 1 || v > 65535) {
          return bad_request("Invalid port range " + std::to_string(**from) + ":" +
                             std::to_string(**to) + ". Valid " + protocol +
                             " ports should be between 1-65535");
        }
      }
      if (**from > **to) {
        return bad_request("Invalid port range " + std::to_string(**from) + ":" +
                           std::to_string(**to) +
                           ". Former value cannot be greater than the later");
      }
    }
    r.from_port = static_cast<int>(**from);
    r.to_port = static_cast<int>(**to);
  }
  r.protocol = protocol;
  if (!r.remote_group_id && !r.cidr) r.cidr = "0.0.0.0/0";
  return r;
}

Result<Reply> sg_create_rule(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  store::SecurityGroup parent;
  auto r = sg_parse_rule(ctx, call, *body, parent);
  if (!r.ok()) return r.error();
  if (auto s = ctx.store().add_security_group_rule(*r); !s.ok()) {
    if (s.error().code == ErrorCode::kConflict) return bad_request(s.error().message);
    return s.error();
  }
  sg_refresh_group(ctx, parent.id);
  std::map<std::string, json> remote_cache;
  return Reply::ok({{"security_group_rule", sg_rule_json(ctx, *r, remote_cache)}});
}

Result<Reply> sg_delete_rule(ApiContext& ctx, Call& call) {
  const std::string id = call.param("rule_id");
  if (auto s = sg_check_id(id, "Security group rule"); !s.ok()) return s.error();
  const Error missing = Error::not_found("Security group rule " + id + " not found.");
  if (!sg_is_uuid(id)) return missing;
  auto r = ctx.store().get_security_group_rule(id);
  if (!r.ok()) return r.error().code == ErrorCode::kNotFound ? missing : r.error();
  auto parent = sg_visible_group(ctx, call, r->group_id);
  if (!parent.ok()) return missing;
  if (auto s = ctx.store().delete_security_group_rule(id); !s.ok()) {
    return s.error().code == ErrorCode::kNotFound ? missing : s.error();
  }
  sg_refresh_group(ctx, parent->id);
  return Reply::ok(nullptr, 202);
}

// ---- a server's groups ----

Result<Reply> sg_server_groups(ApiContext& ctx, Call& call) {
  auto i = owned_server(ctx, call);
  if (!i.ok()) return i.error();
  auto groups = ctx.store().instance_security_groups(i->uuid);
  if (!groups.ok()) return groups.error();
  json out = json::array();
  for (const auto& g : *groups) out.push_back(sg_group_json(ctx, g));
  return Reply::ok({{"security_groups", out}});
}

// The project's group named (or with the id) `name`.
Result<store::SecurityGroup> sg_group_by_name(ApiContext& ctx, const std::string& project_id,
                                              const std::string& name) {
  if (name == "default") return ctx.store().default_security_group(project_id, new_uuid());
  auto groups = ctx.store().list_security_groups(project_id);
  if (!groups.ok()) return groups.error();
  for (const auto& g : *groups) {
    if (g.name == name || g.id == name) return g;
  }
  return Error::not_found("Security group " + name + " not found for project " + project_id + ".");
}

Result<std::string> sg_action_group_name(const json& args, const char* action) {
  if (!args.is_object() || !args.contains("name") || !args["name"].is_string()) {
    return bad_request(std::string("Invalid input for field/attribute ") + action +
                       ". 'name' is a required property");
  }
  const std::string name = args["name"].get<std::string>();
  if (name.find_first_not_of(" \t") == std::string::npos) {
    return bad_request("Security group name cannot be empty");
  }
  return name;
}

}  // namespace

Result<std::vector<std::string>> server_security_groups(ApiContext& ctx, const json& server,
                                                        const std::string& project_id) {
  std::vector<std::string> names;
  if (server.contains("security_groups")) {
    for (const auto& g : server["security_groups"]) {
      const std::string n = g["name"].get<std::string>();
      if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    }
  }
  if (names.empty()) names.push_back("default");  // nova's default
  std::vector<std::string> ids;
  for (const auto& n : names) {
    auto g = sg_group_by_name(ctx, project_id, n);
    if (!g.ok()) {
      if (g.error().code != ErrorCode::kNotFound) return g.error();
      return bad_request("Unable to find security group with name or id '" + n + "'.");
    }
    // A group named twice (by name and by id) is joined once.
    if (std::find(ids.begin(), ids.end(), g->id) == ids.end()) ids.push_back(g->id);
  }
  return ids;
}

Result<Reply> security_group_action(ApiContext& ctx, const store::Instance& i,
                                    const std::string& action, const json& args) {
  auto name = sg_action_group_name(args, action.c_str());
  if (!name.ok()) return name.error();
  auto g = sg_group_by_name(ctx, i.project_id, *name);
  if (!g.ok()) return g.error();
  const bool add = action == "addSecurityGroup";
  Status s = add ? ctx.store().add_instance_security_group(i.uuid, g->id)
                 : ctx.store().remove_instance_security_group(i.uuid, g->id);
  if (!s.ok()) {
    if (s.error().code == ErrorCode::kConflict) {
      return bad_request("Security group " + *name +
                         (add ? " is already associated with the instance " + i.uuid
                              : " not associated with the instance " + i.uuid));
    }
    return s.error().code == ErrorCode::kNotFound ? sg_group_not_found(*name) : s.error();
  }
  // The server's own firewall changes, and so do those of servers whose rules name the group.
  std::map<std::string, std::string> reach;
  if (i.host) reach[i.uuid] = *i.host;
  if (auto more = ctx.store().security_group_reach(g->id); more.ok()) reach.merge(*more);
  sg_refresh_firewalls(ctx, reach);
  return Reply::ok(nullptr, 202);
}

json server_security_groups_json(ApiContext& ctx, const store::Instance& i,
                                 const std::vector<std::string>* names) {
  std::vector<std::string> own;
  if (!names) {
    if (auto groups = ctx.store().instance_security_groups(i.uuid); groups.ok()) {
      for (const auto& g : *groups) own.push_back(g.name);
    }
    names = &own;
  }
  json out = json::array();
  for (const auto& n : *names) out.push_back({{"name", n}});
  // A server from before security groups was shown in "default", and is still.
  if (out.empty() && !i.system_metadata.count(store::kSecurityGroupsManaged)) {
    out.push_back({{"name", "default"}});
  }
  return out;
}

std::vector<Route> compute_security_group_routes(ApiContext& ctx) {
  ApiContext* c = &ctx;
  auto bind = [c](Result<Reply> (*f)(ApiContext&, Call&)) {
    return [c, f](Call& call) { return f(*c, call); };
  };
  std::vector<Route> r = {
      {"GET", sg_kGroups, Service::kCompute, "compute:read", bind(sg_list_groups), {}},
      {"POST", sg_kGroups, Service::kCompute, "compute:server:write", bind(sg_create_group), {}},
      {"GET",
       sg_kGroups + "/{group_id}",
       Service::kCompute,
       "compute:read",
       bind(sg_show_group),
       {}},
      {"PUT",
       sg_kGroups + "/{group_id}",
       Service::kCompute,
       "compute:server:write",
       bind(sg_update_group),
       {}},
      {"DELETE",
       sg_kGroups + "/{group_id}",
       Service::kCompute,
       "compute:server:write",
       bind(sg_delete_group),
       {}},
      {"POST", sg_kRules, Service::kCompute, "compute:server:write", bind(sg_create_rule), {}},
      {"DELETE",
       sg_kRules + "/{rule_id}",
       Service::kCompute,
       "compute:server:write",
       bind(sg_delete_rule),
       {}},
      {"GET",
       kCompute + "/servers/{server_id}/os-security-groups",
       Service::kCompute,
       "compute:server:read",
       bind(sg_server_groups),
       {}},
  };
  // The actions and the server's security_groups field stay at 2.36+.
  end_at_2_35(r);
  return r;
}

}  // namespace gpucloud::api

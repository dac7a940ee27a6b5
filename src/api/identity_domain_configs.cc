// Keystone v3 domain configurations (/domains/{domain_id}/config...): admins keep per-domain
// options of the `identity` and `ldap` groups, with keystone's lists of allowed options, its
// 403 for any other group or option, and its 404 for options not set. ldap.password is keystone's
// one sensitive option: stored, never answered (nor logged). The defaults answered are keystone's
// documented defaults. The stored configuration is NOT applied: gpucloud has no domain-specific
// identity drivers and no LDAP, so every domain's users stay in gpucloud's own tables
// (docs/identity.md).
#include "api/identity_impl.h"
#include "api/policy_impl.h"
#include "api/validation_impl.h"

namespace gpucloud::api {
namespace {

// keystone's whitelisted options (keystone/resource/core.py, DomainConfigManager) with the
// defaults keystone's configuration documents for them (keystone/conf/identity.py, ldap.py).
// null where keystone has no default.
const json& dc_defaults() {
  static const json kDefaults = json::parse(R"({
    "identity": {"driver": "sql", "list_limit": null},
    "ldap": {
      "url": "ldap://localhost", "user": null, "suffix": "cn=example,cn=com",
      "query_scope": "one", "page_size": 0, "alias_dereferencing": "default",
      "debug_level": null, "chase_referrals": null, "user_tree_dn": null, "user_filter": null,
      "user_objectclass": "inetOrgPerson", "user_id_attribute": "cn",
      "user_name_attribute": "sn", "user_mail_attribute": "mail",
      "user_description_attribute": "description", "user_pass_attribute": "userPassword",
      "user_enabled_attribute": "enabled", "user_enabled_invert": false,
      "user_enabled_mask": 0, "user_enabled_default": "True",
      "user_attribute_ignore": ["default_project_id"],
      "user_default_project_id_attribute": null, "user_enabled_emulation": false,
      "user_enabled_emulation_dn": null, "user_enabled_emulation_use_group_config": false,
      "user_additional_attribute_mapping": [], "group_tree_dn": null, "group_filter": null,
      "group_objectclass": "groupOfNames", "group_id_attribute": "cn",
      "group_name_attribute": "ou", "group_members_are_ids": false,
      "group_member_attribute": "member", "group_desc_attribute": "description",
      "group_attribute_ignore": [], "group_additional_attribute_mapping": [],
      "tls_cacertfile": null, "tls_cacertdir": null, "use_tls": false,
      "tls_req_cert": "demand", "use_pool": true, "pool_size": 10, "pool_retry_max": 3,
      "pool_retry_delay": 0.1, "pool_connection_timeout": -1,
      "pool_connection_lifetime": 600, "use_auth_pool": true, "auth_pool_size": 100,
      "auth_pool_connection_lifetime": 60
    }
  })");
  return kDefaults;
}

// keystone's sensitive options: kept, never answered.
bool dc_is_sensitive(const std::string& group, const std::string& option) {
  return group == "ldap" && option == "password";
}

bool dc_is_whitelisted(const std::string& group, const std::string& option) {
  const json& d = dc_defaults();
  return d.contains(group) && d[group].contains(option);
}

Error dc_invalid(const std::string& reason) {
  return forbidden("Invalid domain specific configuration: " + reason + ".");
}

// keystone's _assert_valid_group_and_option: "" for none.
Status dc_check_group_option(const std::string& group, const std::string& option) {
  if (group.empty()) return {};
  if (!dc_defaults().contains(group)) {
    return dc_invalid("Group " + group + " is not supported for domain specific configurations");
  }
  if (!option.empty() && !dc_is_whitelisted(group, option) && !dc_is_sensitive(group, option)) {
    return dc_invalid("Option " + option + " in group " + group +
                      " is not supported for domain specific configurations");
  }
  return {};
}

// keystone's _assert_valid_config, then the rows to write. A value is any JSON value (keystone
// keeps what it was given, an integer stays an integer), at most 65535 bytes as text.
Result<std::vector<store::DomainConfigOption>> dc_read_config(const json& config) {
  if (config.empty()) return dc_invalid("No options specified");
  std::vector<store::DomainConfigOption> out;
  for (const auto& [group, options] : config.items()) {
    if (!options.is_object() || options.empty()) {
      return dc_invalid("The value of group " + group +
                        " specified in the config should be a dictionary of options");
    }
    for (const auto& [option, value] : options.items()) {
      if (auto st = dc_check_group_option(group, option); !st.ok()) return st.error();
      std::string text = value.dump();
      if (text.size() > 65535) {
        return bad_request("Invalid input for field 'config." + group + "." + option +
                           "': longer than 65535 bytes.");
      }
      out.push_back({group, option, std::move(text), dc_is_sensitive(group, option)});
    }
  }
  return out;
}

// The body's `config` object; keystone takes a missing one as empty.
Result<json> dc_body_config(Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (!body->is_object()) return bad_request("Invalid input: the body is not a JSON object.");
  if (!body->contains("config")) return json::object();
  const json& config = (*body)["config"];
  if (!config.is_object()) {
    return bad_request("Invalid input for field 'config': " + shown(config) + " is not an object.");
  }
  return config;
}

std::string dc_group_param(const Call& call) {
  return call.params.count("group") ? call.param("group") : "";
}
std::string dc_option_param(const Call& call) {
  return call.params.count("option") ? call.param("option") : "";
}

Error dc_domain_not_found(const std::string& id) {
  return Error::not_found("Could not find domain: " + id + ".");
}

// keystone's DomainConfigNotFound, naming what was asked for.
Error dc_not_found(const std::string& domain_id, const std::string& group,
                   const std::string& option) {
  const std::string what = !option.empty()  ? "option " + option + " in group " + group
                           : !group.empty() ? "group " + group
                                            : "any options";
  return Error::not_found("Could not find " + what + " in domain configuration for domain " +
                          domain_id + ".");
}

// The store's kNotFound names the domain when it is the domain that is missing.
Error dc_store_error(const Error& e, const std::string& domain_id, const std::string& group,
                     const std::string& option) {
  if (e.code != ErrorCode::kNotFound) return e;
  if (e.message.rfind("domain ", 0) == 0) return dc_domain_not_found(domain_id);
  return dc_not_found(domain_id, group, option);
}

Status dc_require_domain(ApiContext& ctx, const std::string& id) {
  auto d = ctx.store().get_domain(id);
  if (!d.ok()) {
    if (d.error().code == ErrorCode::kNotFound) return dc_domain_not_found(id);
    return d.error();
  }
  return {};
}

// The rows as keystone answers them: groups of options, sensitive ones left out.
json dc_config_json(const std::vector<store::DomainConfigOption>& rows) {
  json out = json::object();
  for (const auto& r : rows) {
    if (r.sensitive || dc_is_sensitive(r.group, r.option)) continue;
    auto value = json::parse(r.value, nullptr, false);
    out[r.group][r.option] = value.is_discarded() ? json(nullptr) : value;
  }
  return out;
}

// The domain's whole configuration as answered after a write.
Result<json> dc_current(ApiContext& ctx, const std::string& domain_id) {
  auto rows = ctx.store().list_domain_config(domain_id);
  if (!rows.ok()) return dc_store_error(rows.error(), domain_id, "", "");
  return dc_config_json(*rows);
}

// PUT /domains/{domain_id}/config: the configuration becomes the body's; 201 when the domain had
// none, 200 when it replaced one (keystone).
Result<Reply> dc_create_config(ApiContext& ctx, Call& call) {
  const auto& domain_id = call.param("domain_id");
  if (auto st = dc_require_domain(ctx, domain_id); !st.ok()) return st.error();
  auto config = dc_body_config(call);
  if (!config.ok()) return config.error();
  auto rows = dc_read_config(*config);
  if (!rows.ok()) return rows.error();
  auto before = ctx.store().list_domain_config(domain_id);
  if (!before.ok()) return dc_store_error(before.error(), domain_id, "", "");
  if (auto st = ctx.store().replace_domain_config(domain_id, *rows); !st.ok()) {
    return dc_store_error(st.error(), domain_id, "", "");
  }
  return Reply::ok({{"config", dc_config_json(*rows)}}, before->empty() ? 201 : 200);
}

// GET /domains/{domain_id}/config[/{group}[/{option}]]: what is set, sensitive options left out
// (asking for ldap.password is a 404, as keystone).
Result<Reply> dc_show_config(ApiContext& ctx, Call& call) {
  const auto& domain_id = call.param("domain_id");
  const std::string group = dc_group_param(call), option = dc_option_param(call);
  if (auto st = dc_require_domain(ctx, domain_id); !st.ok()) return st.error();
  if (auto st = dc_check_group_option(group, option); !st.ok()) return st.error();
  auto rows = ctx.store().list_domain_config(domain_id, group, option);
  if (!rows.ok()) return dc_store_error(rows.error(), domain_id, group, option);
  json config = dc_config_json(*rows);
  if (config.empty()) return dc_not_found(domain_id, group, option);
  if (!option.empty()) return Reply::ok({{"config", {{option, config[group][option]}}}});
  return Reply::ok({{"config", config}});
}

// PATCH /domains/{domain_id}/config[/{group}[/{option}]]: the body's options are merged in. A
// group or option in the path must already be set and be all the body holds (keystone); the
// option's body is {"config": {"option": value}}. The answer is the whole configuration.
Result<Reply> dc_update_config(ApiContext& ctx, Call& call) {
  const auto& domain_id = call.param("domain_id");
  const std::string group = dc_group_param(call), option = dc_option_param(call);
  if (auto st = dc_require_domain(ctx, domain_id); !st.ok()) return st.error();
  auto body = dc_body_config(call);
  if (!body.ok()) return body.error();
  json config = *body;
  if (!option.empty()) config = {{group, *body}};
  auto rows = dc_read_config(config);
  if (!rows.ok()) return rows.error();
  if (auto st = dc_check_group_option(group, option); !st.ok()) return st.error();
  if (!group.empty()) {
    if (config.size() != 1 || !config.contains(group)) {
      return dc_invalid("Trying to update group " + group +
                        ", so that, and only that, group must be specified in the config");
    }
    if (!option.empty() && (config[group].size() != 1 || !config[group].contains(option))) {
      return dc_invalid("Trying to update option " + option + " in group " + group +
                        ", so that, and only that, option must be specified in the config");
    }
  }
  if (auto st = ctx.store().update_domain_config(domain_id, *rows, group, option); !st.ok()) {
    return dc_store_error(st.error(), domain_id, group, option);
  }
  auto now = dc_current(ctx, domain_id);
  if (!now.ok()) return now.error();
  return Reply::ok({{"config", *now}});
}

// DELETE /domains/{domain_id}/config[/{group}[/{option}]]: a group or option must be set (404
// otherwise); the whole configuration may be deleted when there is none (keystone).
Result<Reply> dc_delete_config(ApiContext& ctx, Call& call) {
  const auto& domain_id = call.param("domain_id");
  const std::string group = dc_group_param(call), option = dc_option_param(call);
  if (auto st = dc_require_domain(ctx, domain_id); !st.ok()) return st.error();
  if (auto st = dc_check_group_option(group, option); !st.ok()) return st.error();
  auto deleted = ctx.store().delete_domain_config(domain_id, group, option);
  if (!deleted.ok()) return dc_store_error(deleted.error(), domain_id, group, option);
  if (*deleted == 0 && !group.empty()) return dc_not_found(domain_id, group, option);
  return Reply::no_content();
}

// GET /domains/config[/{group}[/{option}]]/default: keystone's defaults for the whitelisted
// options; a sensitive option has no default to read (403, keystone).
Result<Reply> dc_show_default(ApiContext&, Call& call) {
  const std::string group = dc_group_param(call), option = dc_option_param(call);
  if (auto st = dc_check_group_option(group, option); !st.ok()) return st.error();
  const json& d = dc_defaults();
  if (group.empty()) return Reply::ok({{"config", d}});
  if (option.empty()) return Reply::ok({{"config", {{group, d[group]}}}});
  if (!dc_is_whitelisted(group, option)) {
    return dc_invalid("Reading the default for option " + option + " in group " + group +
                      " is not supported");
  }
  return Reply::ok({{"config", {{option, d[group][option]}}}});
}

}  // namespace

std::vector<Route> identity_domain_config_routes(ApiContext& ctx) {
  std::vector<Route> r;
  auto add = [&r, &ctx](const char* m, const char* p, Result<Reply> (*h)(ApiContext&, Call&)) {
    r.push_back({m,
                 p,
                 Service::kIdentity,
                 "identity:admin",
                 [&ctx, h](Call& call) { return h(ctx, call); },
                 {}});
  };
  // keystone gives these to system admins (readers for the GETs), a scope gpucloud has not: to
  // admins here. The defaults come first: /domains/config/... is not a domain's id.
  add("GET", "/identity/v3/domains/config/default", dc_show_default);
  add("GET", "/identity/v3/domains/config/{group}/default", dc_show_default);
  add("GET", "/identity/v3/domains/config/{group}/{option}/default", dc_show_default);
  for (const char* p : {"/identity/v3/domains/{domain_id}/config",
                        "/identity/v3/domains/{domain_id}/config/{group}",
                        "/identity/v3/domains/{domain_id}/config/{group}/{option}"}) {
    add("GET", p, dc_show_config);
    add("PATCH", p, dc_update_config);
    add("DELETE", p, dc_delete_config);
  }
  add("PUT", "/identity/v3/domains/{domain_id}/config", dc_create_config);
  return r;
}

}  // namespace gpucloud::api

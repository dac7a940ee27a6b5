// Keystone v3 groups and their members: admins manage them; a user may list their own groups.
// A group's roles on projects (identity_group_roles.cc) are its members': a membership that goes
// takes them from the member's tokens at once (docs/identity.md).
#include <set>

#include "api/identity_impl.h"
#include "api/policy_impl.h"
#include "api/validation_impl.h"

namespace gpucloud::api {
namespace {

json identity_group_json(const store::Group& g, const std::string& base) {
  json j = {{"id", g.id},
            {"name", g.name},
            {"domain_id", g.domain_id},
            {"description", g.description ? json(*g.description) : json(nullptr)},
            {"links", {{"self", base + "/identity/v3/groups/" + g.id}}}};
  // keystone returns a group's other properties beside its own.
  if (!g.extra.empty()) {
    const json extra = json::parse(g.extra, nullptr, false);
    if (extra.is_object()) {
      for (auto it = extra.begin(); it != extra.end(); ++it) {
        if (!j.contains(it.key())) j[it.key()] = it.value();
      }
    }
  }
  return j;
}

// keystone's group schema allows properties of the client's own (Tempest's test_roles gives its
// group a `project_id`): they are kept as the group's `extra` and returned with it; a PATCH merges
// into them. `id` and `links` are keystone's to set and never stored.
Status merge_group_extra(const json& body, store::Group& group) {
  static const std::set<std::string> kColumns = {"id", "links", "name", "description", "domain_id"};
  json extra = json::parse(group.extra.empty() ? "{}" : group.extra, nullptr, false);
  if (!extra.is_object()) extra = json::object();
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (!kColumns.count(it.key())) extra[it.key()] = it.value();
  }
  std::string text = extra.empty() ? "" : extra.dump();
  if (text.size() > 65535) {
    return bad_request("Invalid input for field 'group': its properties exceed 65535 bytes.");
  }
  group.extra = std::move(text);
  return {};
}

Error group_not_found(const std::string& id) {
  return Error::not_found("Could not find group: " + id + ".");
}

Error group_conflict(const std::string& name) {
  return Error::conflict(
      "Conflict occurred attempting to store group - Duplicate entry found with name " + name +
      ".");
}

Error not_a_member(const std::string& group_id, const std::string& user_id) {
  return Error::not_found("User " + user_id + " is not a member of group " + group_id + ".");
}

// The store's kNotFound for a membership names what was missing (store.h): the group, the user,
// or the membership itself.
Error membership_error(const Error& e, const std::string& group_id, const std::string& user_id) {
  if (e.code != ErrorCode::kNotFound) return e;
  if (e.message.rfind("group ", 0) == 0) return group_not_found(group_id);
  if (e.message == "user " + user_id + " does not exist") {
    return Error::not_found("Could not find user: " + user_id + ".");
  }
  return not_a_member(group_id, user_id);
}

Result<std::optional<std::string>> group_name(const json& g, bool required) {
  auto name = opt_string(g, "name", "group");
  if (!name.ok()) return name.error();
  if (!*name) {
    if (required) return bad_request("Invalid input for field 'group.name': required.");
    return name;
  }
  if (auto s = check_name(**name, "group.name", {64}); !s.ok()) return s.error();
  return name;
}

Result<std::optional<std::string>> group_description(const json& g) {
  auto desc = opt_string(g, "description", "group");
  if (!desc.ok()) return desc.error();
  if (*desc) {
    if (auto s = check_text(**desc, "group.description", 65535); !s.ok()) return s.error();
  }
  return desc;
}

Result<Reply> list_identity_groups(ApiContext& ctx, Call& call) {
  auto gs = ctx.store().list_groups();
  if (!gs.ok()) return gs.error();
  const auto name = call.query("name");
  const auto domain = call.query("domain_id");
  json out = json::array();
  for (const auto& g : *gs) {
    if (name && g.name != *name) continue;
    if (domain && g.domain_id != *domain) continue;
    out.push_back(identity_group_json(g, ctx.base_url));
  }
  return Reply::ok({{"groups", out},
                    {"links",
                     {{"self", ctx.base_url + "/identity/v3/groups"},
                      {"previous", nullptr},
                      {"next", nullptr}}}});
}

Result<Reply> show_identity_group(ApiContext& ctx, Call& call) {
  const auto& id = call.param("group_id");
  auto g = ctx.store().get_group(id);
  if (!g.ok()) return group_not_found(id);
  return Reply::ok({{"group", identity_group_json(*g, ctx.base_url)}});
}

Result<Reply> create_identity_group(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto g = member(*body, "group");
  if (!g.ok()) return g.error();
  auto name = group_name(*g, true);
  if (!name.ok()) return name.error();
  auto desc = group_description(*g);
  if (!desc.ok()) return desc.error();
  auto domain = opt_string(*g, "domain_id", "group");
  if (!domain.ok()) return domain.error();
  store::Group group;
  group.id = new_hex_id();
  group.name = **name;
  group.description = *desc;
  group.domain_id = domain->value_or("default");
  if (auto s = merge_group_extra(*g, group); !s.ok()) return s.error();
  if (auto s = ctx.store().create_group(group); !s.ok()) {
    if (s.error().code == ErrorCode::kConflict) return group_conflict(group.name);
    if (s.error().code == ErrorCode::kNotFound) {
      return Error::not_found("Could not find domain: " + group.domain_id + ".");
    }
    return s.error();
  }
  return Reply::ok({{"group", identity_group_json(group, ctx.base_url)}}, 201);
}

Result<Reply> update_identity_group(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto g = member(*body, "group");
  if (!g.ok()) return g.error();
  const auto& id = call.param("group_id");
  auto group = ctx.store().get_group(id);
  if (!group.ok()) return group_not_found(id);
  auto name = group_name(*g, false);
  if (!name.ok()) return name.error();
  auto desc = group_description(*g);
  if (!desc.ok()) return desc.error();
  // As keystone: the body may repeat the group's id and domain, not change them.
  auto same_id = opt_string(*g, "id", "group");
  if (!same_id.ok()) return same_id.error();
  if (*same_id && **same_id != id) return bad_request("Cannot change the ID of a group.");
  auto domain = opt_string(*g, "domain_id", "group");
  if (!domain.ok()) return domain.error();
  if (*domain && **domain != group->domain_id) return bad_request("Cannot change Domain ID.");
  if (*name) group->name = **name;
  if (g->contains("description")) group->description = *desc;
  if (auto s = merge_group_extra(*g, *group); !s.ok()) return s.error();
  if (auto s = ctx.store().update_group(*group); !s.ok()) {
    if (s.error().code == ErrorCode::kConflict) return group_conflict(group->name);
    if (s.error().code == ErrorCode::kNotFound) return group_not_found(id);
    return s.error();
  }
  return Reply::ok({{"group", identity_group_json(*group, ctx.base_url)}});
}

Result<Reply> delete_identity_group(ApiContext& ctx, Call& call) {
  const auto& id = call.param("group_id");
  if (auto s = ctx.store().delete_group(id); !s.ok()) {
    if (s.error().code == ErrorCode::kNotFound) return group_not_found(id);
    return s.error();
  }
  return Reply::no_content();
}

Result<Reply> list_group_users(ApiContext& ctx, Call& call) {
  const auto& id = call.param("group_id");
  auto us = ctx.store().list_group_users(id);
  if (!us.ok()) {
    if (us.error().code == ErrorCode::kNotFound) return group_not_found(id);
    return us.error();
  }
  json out = json::array();
  for (const auto& u : *us) out.push_back(user_json(u, ctx.base_url));
  return Reply::ok({{"users", out},
                    {"links",
                     {{"self", ctx.base_url + "/identity/v3/groups/" + id + "/users"},
                      {"previous", nullptr},
                      {"next", nullptr}}}});
}

Result<Reply> add_group_user(ApiContext& ctx, Call& call) {
  const auto& group_id = call.param("group_id");
  const auto& user_id = call.param("user_id");
  if (auto s = ctx.store().add_group_member(group_id, user_id); !s.ok()) {
    return membership_error(s.error(), group_id, user_id);
  }
  return Reply::no_content();
}

Result<Reply> check_group_user(ApiContext& ctx, Call& call) {
  const auto& group_id = call.param("group_id");
  const auto& user_id = call.param("user_id");
  auto is_member = ctx.store().is_group_member(group_id, user_id);
  if (!is_member.ok()) return membership_error(is_member.error(), group_id, user_id);
  if (!*is_member) return not_a_member(group_id, user_id);
  return Reply::no_content();
}

Result<Reply> remove_group_user(ApiContext& ctx, Call& call) {
  const auto& group_id = call.param("group_id");
  const auto& user_id = call.param("user_id");
  if (auto s = ctx.store().remove_group_member(group_id, user_id); !s.ok()) {
    return membership_error(s.error(), group_id, user_id);
  }
  return Reply::no_content();
}

// keystone's identity:list_groups_for_user: admins, and the user themself.
Result<Reply> list_user_groups(ApiContext& ctx, Call& call) {
  const auto& user_id = call.param("user_id");
  if (!call.who().is_admin() && call.who().user_id != user_id) {
    return forbidden("You are not authorized to perform the requested action.");
  }
  auto gs = ctx.store().list_user_groups(user_id);
  if (!gs.ok()) {
    if (gs.error().code == ErrorCode::kNotFound) {
      return Error::not_found("Could not find user: " + user_id + ".");
    }
    return gs.error();
  }
  json out = json::array();
  for (const auto& g : *gs) out.push_back(identity_group_json(g, ctx.base_url));
  return Reply::ok({{"groups", out},
                    {"links",
                     {{"self", ctx.base_url + "/identity/v3/users/" + user_id + "/groups"},
                      {"previous", nullptr},
                      {"next", nullptr}}}});
}

}  // namespace

std::vector<Route> identity_group_routes(ApiContext& ctx) {
  std::vector<Route> r;
  auto add = [&r, &ctx](const char* m, const char* p, const char* policy,
                        Result<Reply> (*h)(ApiContext&, Call&)) {
    r.push_back(
        {m, p, Service::kIdentity, policy, [&ctx, h](Call& call) { return h(ctx, call); }, {}});
  };
  // Reading groups is an admin's, as listing users is (keystone wants a system or domain
  // reader, scopes gpucloud has not).
  add("GET", "/identity/v3/groups", "identity:admin", list_identity_groups);
  add("POST", "/identity/v3/groups", "identity:admin", create_identity_group);
  add("GET", "/identity/v3/groups/{group_id}", "identity:admin", show_identity_group);
  add("PATCH", "/identity/v3/groups/{group_id}", "identity:admin", update_identity_group);
  add("DELETE", "/identity/v3/groups/{group_id}", "identity:admin", delete_identity_group);
  add("GET", "/identity/v3/groups/{group_id}/users", "identity:admin", list_group_users);
  add("PUT", "/identity/v3/groups/{group_id}/users/{user_id}", "identity:admin", add_group_user);
  add("HEAD", "/identity/v3/groups/{group_id}/users/{user_id}", "identity:admin", check_group_user);
  add("DELETE", "/identity/v3/groups/{group_id}/users/{user_id}", "identity:admin",
      remove_group_user);
  add("GET", "/identity/v3/users/{user_id}/groups", "identity:read_self", list_user_groups);
  return r;
}

}  // namespace gpucloud::api

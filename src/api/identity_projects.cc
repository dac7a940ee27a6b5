// Keystone v3 projects: their hierarchy (parent_id), tags, and keystone's projects that act as
// domains (is_domain). In keystone a domain is a project with is_domain=true; gpucloud keeps
// domains as their own rows, so a project call that names a domain's id (or asks for
// is_domain=true) is answered from the domain, shown in a project's shape.
#include <chrono>
#include <set>

#include "api/identity_impl.h"
#include "api/policy_impl.h"
#include "api/validation_impl.h"

namespace gpucloud::api {

json project_json(const store::Project& p, const std::string& base) {
  return {{"id", p.id},
          {"name", p.name},
          {"domain_id", p.domain_id},
          {"description", p.description},
          {"enabled", p.enabled},
          {"is_domain", false},
          // keystone: a project at the top of its domain has the domain as its parent.
          {"parent_id", p.parent_id.value_or(p.domain_id)},
          {"tags", p.tags},
          {"links", {{"self", base + "/identity/v3/projects/" + p.id}}}};
}

namespace {

// keystone's project limits: its default max_project_tree_depth, and its tag schema.
constexpr int kMaxProjectDepth = 5;
constexpr size_t kMaxProjectTags = 80;

const char* kNotAuthorized = "You are not authorized to perform the requested action.";

// A domain as keystone shows it through the projects API: a project with is_domain=true, at
// the top of the tree (no domain, no parent).
json domain_project_json(const store::Domain& d, const std::string& base) {
  return {{"id", d.id},
          {"name", d.name},
          {"domain_id", nullptr},
          {"description", d.description},
          {"enabled", d.enabled},
          {"is_domain", true},
          {"parent_id", nullptr},
          {"tags", json::array()},
          {"links", {{"self", base + "/identity/v3/projects/" + d.id}}}};
}

// keystone's tags: strings of 1 to 255 characters without '/' or ',', unique, at most 80.
Result<std::vector<std::string>> project_tags(const json& obj) {
  std::vector<std::string> tags;
  if (!obj.contains("tags") || obj["tags"].is_null()) return tags;
  if (!obj["tags"].is_array()) {
    return bad_request("Invalid input for field 'project.tags': array required.");
  }
  if (obj["tags"].size() > kMaxProjectTags) {
    return bad_request("Invalid input for field 'project.tags': at most 80 tags.");
  }
  std::set<std::string> seen;
  for (const auto& t : obj["tags"]) {
    if (!t.is_string()) {
      return bad_request("Invalid input for field 'project.tags': strings required.");
    }
    const std::string tag = t.get<std::string>();
    if (auto s = check_name(tag, "project.tags", {255}); !s.ok()) return s.error();
    if (tag.find_first_of("/,") != std::string::npos) {
      return bad_request("Invalid input for field 'project.tags': '" + tag +
                         "' contains '/' or ','.");
    }
    if (!seen.insert(tag).second) {
      return bad_request("Invalid input for field 'project.tags': '" + tag + "' is given twice.");
    }
    tags.push_back(tag);
  }
  return tags;
}

// How many projects deep `id` sits: 1 for a project at the top of its domain.
Result<int> project_depth(store::Store& st, const std::string& id) {
  int depth = 0;
  std::optional<std::string> at = id;
  while (at) {
    if (++depth > kMaxProjectDepth + 1) break;  // a deeper tree than allowed: enough to refuse
    auto p = st.get_project(*at);
    if (!p.ok()) return p.error();
    at = p->parent_id;
  }
  return depth;
}

Result<std::optional<std::string>> name_field(const json& p) {
  auto name = opt_string(p, "name", "project");
  if (!name.ok()) return name.error();
  if (*name) {
    if (auto s = check_name(**name, "project.name", {64}); !s.ok()) return s.error();
  }
  return *name;
}

Result<std::optional<std::string>> description_field(const json& p) {
  auto desc = opt_string(p, "description", "project");
  if (!desc.ok()) return desc.error();
  if (*desc) {
    if (auto s = check_text(**desc, "project.description", 65535); !s.ok()) return s.error();
  }
  return *desc;
}

Error project_conflict(const std::string& name) {
  return Error::conflict(
      "Conflict occurred attempting to store project - it is not permitted to have two "
      "projects with the same name in the same domain : " +
      name + ".");
}

// POST /projects with is_domain=true: keystone creates a domain. It has neither a domain nor a
// parent of its own, so naming one is refused rather than ignored.
Result<Reply> create_domain_project(ApiContext& ctx, const json& p, const std::string& name,
                                    const std::string& description, bool enabled) {
  for (const char* field : {"domain_id", "parent_id"}) {
    if (p.contains(field) && !p[field].is_null()) {
      return bad_request(std::string("Invalid input for field 'project.") + field +
                         "': a project acting as a domain has none.");
    }
  }
  if (p.contains("tags") && !p["tags"].is_null() && !p["tags"].empty()) {
    return bad_request(
        "Invalid input for field 'project.tags': a project acting as a domain takes no tags.");
  }
  store::Domain d;
  d.id = new_hex_id();
  d.name = name;
  d.description = description;
  d.enabled = enabled;
  if (auto s = ctx.store().create_domain(d); !s.ok()) {
    if (s.error().code == ErrorCode::kConflict) return project_conflict(name);
    return s.error();
  }
  return Reply::ok({{"project", domain_project_json(d, ctx.base_url)}}, 201);
}

// Where a new project goes: its domain and parent from `domain_id` and `parent_id`, as keystone
// resolves them. A parent_id naming a domain puts the project at the top of that domain.
Status place_project(store::Store& st, const json& p, store::Project& project) {
  auto domain = opt_string(p, "domain_id", "project");
  if (!domain.ok()) return domain.error();
  auto parent = opt_string(p, "parent_id", "project");
  if (!parent.ok()) return parent.error();
  if (*parent) {
    auto pp = st.get_project(**parent);
    if (pp.ok()) {
      if (*domain && **domain != pp->domain_id) {
        return bad_request(
            "Invalid input for field 'project.parent_id': the parent project is in another "
            "domain than project.domain_id.");
      }
      if (!pp->enabled) {
        return bad_request("Invalid input for field 'project.parent_id': the parent project " +
                           pp->id + " is disabled.");
      }
      auto depth = project_depth(st, pp->id);
      if (!depth.ok()) return depth.error();
      if (*depth + 1 > kMaxProjectDepth) {
        return forbidden("Max hierarchy depth reached for " + pp->id + " branch.");
      }
      project.domain_id = pp->domain_id;
      project.parent_id = pp->id;
      return {};
    }
    if (pp.error().code != ErrorCode::kNotFound) return pp.error();
    if (!st.get_domain(**parent).ok()) {
      return Error::not_found("Could not find project: " + **parent + ".");
    }
    if (*domain && **domain != **parent) {
      return bad_request(
          "Invalid input for field 'project.parent_id': it names another domain than "
          "project.domain_id.");
    }
    project.domain_id = **parent;
    return {};
  }
  if (*domain) project.domain_id = **domain;
  // keystone: a project in a domain that does not exist is a validation error (400).
  if (!st.get_domain(project.domain_id).ok()) {
    return bad_request("Could not find domain: " + project.domain_id + ".");
  }
  return {};
}

Result<Reply> create_project(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto p = member(*body, "project");
  if (!p.ok()) return p.error();
  if (auto s = check_fields(*p, "project",
                            {"name", "description", "enabled", "domain_id", "parent_id",
                             "is_domain", "tags", "options"});
      !s.ok())
    return s.error();
  auto name = name_field(*p);
  if (!name.ok()) return name.error();
  if (!*name) return bad_request("Invalid input for field 'project.name': required.");
  auto desc = description_field(*p);
  if (!desc.ok()) return desc.error();
  auto enabled = opt_bool(*p, "enabled", "project", true);
  if (!enabled.ok()) return enabled.error();
  auto is_domain = opt_bool(*p, "is_domain", "project", false);
  if (!is_domain.ok()) return is_domain.error();
  if (*is_domain) return create_domain_project(ctx, *p, **name, desc->value_or(""), *enabled);
  auto tags = project_tags(*p);
  if (!tags.ok()) return tags.error();

  store::Project project;
  project.id = new_hex_id();
  project.name = **name;
  project.description = desc->value_or("");
  project.enabled = *enabled;
  project.tags = *tags;
  project.created_at = std::chrono::system_clock::now();
  if (auto s = place_project(ctx.store(), *p, project); !s.ok()) return s.error();
  if (auto s = ctx.store().create_project(project); !s.ok()) {
    if (s.error().code == ErrorCode::kConflict) return project_conflict(project.name);
    // The parent went or moved since it was read.
    if (s.error().code == ErrorCode::kNotFound) {
      return Error::not_found("Could not find project: " + project.parent_id.value_or("") + ".");
    }
    if (s.error().code == ErrorCode::kInvalidArgument) {
      return bad_request("Invalid input for field 'project.parent_id': " + s.error().message);
    }
    return s.error();
  }
  return Reply::ok({{"project", project_json(project, ctx.base_url)}}, 201);
}

Result<Reply> list_projects(ApiContext& ctx, Call& call) {
  const auto name = call.query("name");
  const auto domain = call.query("domain_id");
  const auto parent = call.query("parent_id");
  const auto enabled = keystone_bool_query(call.query("enabled"));
  json out = json::array();
  // keystone lists either the projects acting as domains or the others, the others by default.
  if (keystone_bool_query(call.query("is_domain")).value_or(false)) {
    auto ds = ctx.store().list_domains();
    if (!ds.ok()) return ds.error();
    for (const auto& d : *ds) {
      if (name && d.name != *name) continue;
      if (enabled && d.enabled != *enabled) continue;
      if (domain || parent) continue;  // a domain has neither
      out.push_back(domain_project_json(d, ctx.base_url));
    }
    return Reply::ok({{"projects", out}});
  }
  auto ps = ctx.store().list_projects();
  if (!ps.ok()) return ps.error();
  for (const auto& p : *ps) {
    if (name && p.name != *name) continue;
    if (domain && p.domain_id != *domain) continue;
    if (enabled && p.enabled != *enabled) continue;
    if (parent && p.parent_id.value_or(p.domain_id) != *parent) continue;
    out.push_back(project_json(p, ctx.base_url));
  }
  return Reply::ok({{"projects", out}});
}

Result<Reply> show_project(ApiContext& ctx, Call& call) {
  const auto& id = call.param("project_id");
  if (!call.who().is_admin() && call.who().project_id != id) return forbidden(kNotAuthorized);
  auto p = ctx.store().get_project(id);
  if (p.ok()) return Reply::ok({{"project", project_json(*p, ctx.base_url)}});
  if (p.error().code != ErrorCode::kNotFound) return p.error();
  auto d = ctx.store().get_domain(id);
  if (!d.ok()) return Error::not_found("Could not find project: " + id + ".");
  return Reply::ok({{"project", domain_project_json(*d, ctx.base_url)}});
}

// PATCH /projects/{id} of a domain: its name, description and enabled, as PATCH /domains.
Result<Reply> update_domain_project(ApiContext& ctx, const json& p, store::Domain d) {
  if (p.contains("tags") && !p["tags"].is_null() && !p["tags"].empty()) {
    return bad_request(
        "Invalid input for field 'project.tags': a project acting as a domain takes no tags.");
  }
  auto name = name_field(p);
  if (!name.ok()) return name.error();
  auto desc = description_field(p);
  if (!desc.ok()) return desc.error();
  auto enabled = opt_bool(p, "enabled", "project", d.enabled);
  if (!enabled.ok()) return enabled.error();
  // As PATCH /domains: the default domain stays enabled, the cloud's own admin lives there.
  if (d.id == "default" && !*enabled) return forbidden("The default domain cannot be disabled.");
  if (*name) d.name = **name;
  if (*desc) d.description = **desc;
  d.enabled = *enabled;
  if (auto s = ctx.store().update_domain(d); !s.ok()) {
    if (s.error().code == ErrorCode::kConflict) return project_conflict(d.name);
    return s.error();
  }
  return Reply::ok({{"project", domain_project_json(d, ctx.base_url)}});
}

// PATCH /projects/{id}: name, description, enabled and tags (`openstack project set`). Disabling
// a project revokes the tokens scoped to it (the store does it in the same transaction). As
// keystone, a project is disabled only after the projects below it, and enabled only under an
// enabled parent, so that an enabled project never sits below a disabled one.
Result<Reply> update_project(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto p = member(*body, "project");
  if (!p.ok()) return p.error();
  if (auto s = check_fields(*p, "project", {"name", "description", "enabled", "tags", "options"});
      !s.ok())
    return s.error();
  const auto& id = call.param("project_id");
  store::Store& st = ctx.store();
  auto project = st.get_project(id);
  if (!project.ok()) {
    if (project.error().code != ErrorCode::kNotFound) return project.error();
    auto d = st.get_domain(id);
    if (!d.ok()) return Error::not_found("Could not find project: " + id + ".");
    return update_domain_project(ctx, *p, *d);
  }
  auto name = name_field(*p);
  if (!name.ok()) return name.error();
  auto desc = description_field(*p);
  if (!desc.ok()) return desc.error();
  auto enabled = opt_bool(*p, "enabled", "project", project->enabled);
  if (!enabled.ok()) return enabled.error();
  if (p->contains("tags")) {
    auto tags = project_tags(*p);
    if (!tags.ok()) return tags.error();
    project->tags = *tags;
  }
  if (project->enabled && !*enabled) {
    auto children = st.list_child_projects(id);
    if (!children.ok()) return children.error();
    for (const auto& c : *children) {
      auto child = st.get_project(c);
      if (child.ok() && child->enabled) {
        return forbidden("Cannot disable project " + id +
                         " since its subtree contains enabled projects.");
      }
    }
  }
  if (!project->enabled && *enabled && project->parent_id) {
    auto parent = st.get_project(*project->parent_id);
    if (parent.ok() && !parent->enabled) {
      return forbidden("Cannot enable project " + id + " since it has disabled parents.");
    }
  }
  if (*name) project->name = **name;
  if (*desc) project->description = **desc;
  project->enabled = *enabled;
  if (auto s = st.update_project(*project); !s.ok()) {
    if (s.error().code == ErrorCode::kConflict) return project_conflict(project->name);
    return s.error();
  }
  return Reply::ok({{"project", project_json(*project, ctx.base_url)}});
}

// DELETE /projects/{id}: a leaf project (keystone refuses one with children: 403), or a domain
// (which must be disabled first, as DELETE /domains).
Result<Reply> delete_project(ApiContext& ctx, Call& call) {
  const auto& id = call.param("project_id");
  store::Store& st = ctx.store();
  auto p = st.get_project(id);
  if (p.ok()) {
    if (auto s = st.delete_project(id); !s.ok()) return s.error();
    return Reply::no_content();
  }
  if (p.error().code != ErrorCode::kNotFound) return p.error();
  if (!st.get_domain(id).ok()) return Error::not_found("Could not find project: " + id + ".");
  if (auto s = st.delete_domain(id); !s.ok()) return s.error();
  return Reply::no_content();
}

}  // namespace

std::vector<Route> identity_project_routes(ApiContext& ctx) {
  std::vector<Route> r;
  auto add = [&r, &ctx](const char* m, const char* p, const char* policy,
                        Result<Reply> (*h)(ApiContext&, Call&)) {
    r.push_back(
        {m, p, Service::kIdentity, policy, [&ctx, h](Call& call) { return h(ctx, call); }, {}});
  };
  add("GET", "/identity/v3/projects", "identity:admin", list_projects);
  add("POST", "/identity/v3/projects", "identity:admin", create_project);
  add("GET", "/identity/v3/projects/{project_id}", "identity:read_self", show_project);
  add("PATCH", "/identity/v3/projects/{project_id}", "identity:admin", update_project);
  add("DELETE", "/identity/v3/projects/{project_id}", "identity:admin", delete_project);
  return r;
}

}  // namespace gpucloud::api

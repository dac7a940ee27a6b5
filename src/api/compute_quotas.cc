// Compute v2.1: nova's quotas (resources per microversion: shown_at) — os-quota-sets (per project,
// or per user in a project with ?user_id=) and os-quota-class-sets (the 'default' class holds the
// defaults). The instances, cores and ram quotas are enforced by the store when a server is created
// (create_instance_with_task); /limits reports them (compute_misc.cc).
#include <fmt/format.h>

#include "api/compute_impl.h"

namespace gpucloud::api {
namespace {

const std::string kQuotaSets = kCompute + "/os-quota-sets";
const std::string kQuotaClasses = kCompute + "/os-quota-class-sets";
constexpr int64_t kMaxLimit = 0x7FFFFFFF;  // nova's db.MAX_INT

// The resources a microversion shows (and takes): nova dropped the network ones at 2.36 (quota
// classes at 2.50, where they gained the server group ones) and file injection at 2.57.
bool shown_at(std::string_view resource, const Microversion& mv, bool quota_class) {
  const bool network = resource == "fixed_ips" || resource == "floating_ips" ||
                       resource == "security_groups" || resource == "security_group_rules" ||
                       resource == "networks";
  const bool injection = resource == "injected_files" ||
                         resource == "injected_file_content_bytes" ||
                         resource == "injected_file_path_bytes";
  const bool groups = resource == "server_groups" || resource == "server_group_members";
  if (injection && mv.at_least(2, 57)) return false;
  if (quota_class) {
    if (groups) return mv.at_least(2, 50);
    return !(network && mv.at_least(2, 50));
  }
  return !(network && mv.at_least(2, 36));
}

json limits_json(const store::QuotaLimits& limits, const std::optional<std::string>& id,
                 const Microversion& mv, bool quota_class = false) {
  json j = json::object();
  if (id) j["id"] = *id;
  for (const auto& r : store::quota_resources()) {
    if (!shown_at(r.name, mv, quota_class)) continue;
    j[std::string(r.name)] = limits.at(std::string(r.name));
  }
  return j;
}

// A member reads their own project's quotas; admins any project's (nova's
// PROJECT_READER_OR_ADMIN for show and detail).
Status may_read(const Caller& who, const std::string& project_id) {
  if (who.is_admin() || who.project_id == project_id) return {};
  return forbidden("Policy doesn't allow os_compute_api:os-quota-sets:show to be performed.");
}

// The body's {"<wrapper>": {resource: limit, ...}} as nova's schema takes it: known resources
// only, each an integer (or a string of one) from -1 to 2^31-1; "force" where allowed.
Result<store::QuotaLimits> parse_limits(const json& body, const char* wrapper, bool* force,
                                        const Microversion& mv) {
  if (auto s = no_extra_fields(body, "body", {wrapper}); !s.ok()) return s.error();
  if (!body.contains(wrapper)) {
    return bad_request(
        fmt::format("Invalid input for field/attribute body. '{}' is a required "
                    "property",
                    wrapper));
  }
  auto set = body_member(body, wrapper);
  if (!set.ok()) return set.error();
  store::QuotaLimits out;
  for (auto it = set->begin(); it != set->end(); ++it) {
    const std::string& key = it.key();
    if (force && key == "force") {
      auto f = bool_field(*set, "force", wrapper);
      if (!f.ok()) return f.error();
      *force = f->value_or(false);
      continue;
    }
    if (!store::is_quota_resource(key) || !shown_at(key, mv, force == nullptr)) {
      return bad_request(
          fmt::format("Invalid input for field/attribute {}. Additional "
                      "properties are not allowed ('{}' was unexpected)",
                      wrapper, key));
    }
    if (it->is_null()) {
      return bad_request(fmt::format(
          "Invalid input for field/attribute {}. Value: None. None is not of type 'integer', "
          "'string'",
          key));
    }
    auto v = int_field(*set, key.c_str(), wrapper, -1, kMaxLimit);
    if (!v.ok()) return v.error();
    out[key] = **v;
  }
  return out;
}

int64_t in_use(const store::QuotaUsage& u, std::string_view resource) {
  if (resource == "instances") return u.instances;
  if (resource == "cores") return u.cores;
  if (resource == "ram") return u.ram;
  if (resource == "key_pairs") return u.key_pairs;
  if (resource == "server_groups") return u.server_groups;
  if (resource == "security_groups") return u.security_groups;
  // Members are counted per group, and so are security group rules (as nova-network did);
  // gpucloud has no floating IPs.
  return 0;
}

Result<Reply> show_quota_set(ApiContext& ctx, Call& call, bool detail) {
  const std::string& project = call.param("project_id");
  if (auto s = may_read(call.who(), project); !s.ok()) return s.error();
  const std::string user = call.query("user_id").value_or("");
  auto limits = ctx.store().project_quotas(project, user);
  if (!limits.ok()) return limits.error();
  if (!detail) return Reply::ok({{"quota_set", limits_json(*limits, project, call.microversion)}});
  // Key pairs are a user's: those of the user asked about, else the caller's.
  auto used = ctx.store().quota_usage(project, user.empty() ? call.who().user_id : user);
  if (!used.ok()) return used.error();
  if (user.empty()) {
    auto project_used = ctx.store().quota_usage(project, "");
    if (!project_used.ok()) return project_used.error();
    project_used->key_pairs = used->key_pairs;
    used = project_used;
  }
  json j = {{"id", project}};
  for (const auto& r : store::quota_resources()) {
    if (!shown_at(r.name, call.microversion, false)) continue;
    j[std::string(r.name)] = {{"limit", limits->at(std::string(r.name))},
                              {"in_use", in_use(*used, r.name)},
                              {"reserved", 0}};
  }
  return Reply::ok({{"quota_set", j}});
}

// PUT: sets the given limits; the others stay. Without "force", a limit below what the project
// (or user) already uses is refused, and a user's limit above the project's, as nova does.
Result<Reply> update_quota_set(ApiContext& ctx, Call& call) {
  const std::string& project = call.param("project_id");
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  bool force = false;
  auto want = parse_limits(*body, "quota_set", &force, call.microversion);
  if (!want.ok()) return want.error();
  // nova asks keystone whether the project exists before it writes a limit for it.
  if (auto p = ctx.store().get_project(project); !p.ok()) {
    if (p.error().code == ErrorCode::kNotFound) {
      return bad_request("Project ID " + project.substr(0, 64) + " is not a valid project.");
    }
    return p.error();
  }
  const std::string user = call.query("user_id").value_or("");
  if (!force) {
    auto used = ctx.store().quota_usage(project, user);
    if (!used.ok()) return used.error();
    auto project_limits = ctx.store().project_quotas(project, "");
    if (!project_limits.ok()) return project_limits.error();
    for (const auto& [resource, limit] : *want) {
      const int64_t minimum = in_use(*used, resource);
      if (limit != -1 && limit < minimum) {
        return bad_request(fmt::format(
            "Quota limit {} for {} must be greater than or equal to already used and reserved {}.",
            limit, resource, minimum));
      }
      const int64_t maximum = user.empty() ? -1 : project_limits->at(resource);
      if (maximum != -1 && (limit == -1 || limit > maximum)) {
        return bad_request(fmt::format("Quota limit {} for {} must be less than or equal to {}.",
                                       limit, resource, maximum));
      }
    }
  }
  if (auto s = ctx.store().set_project_quotas(project, user, *want); !s.ok()) return s.error();
  auto limits = ctx.store().project_quotas(project, user);
  if (!limits.ok()) return limits.error();
  // nova's update answers without "id".
  return Reply::ok({{"quota_set", limits_json(*limits, std::nullopt, call.microversion)}});
}

Result<Reply> delete_quota_set(ApiContext& ctx, Call& call) {
  const std::string user = call.query("user_id").value_or("");
  if (auto s = ctx.store().delete_project_quotas(call.param("project_id"), user); !s.ok()) {
    return s.error();
  }
  return Reply::ok(nullptr, 202);
}

Result<Reply> default_quota_set(ApiContext& ctx, Call& call) {
  auto limits = ctx.store().quota_class("default");
  if (!limits.ok()) return limits.error();
  return Reply::ok(
      {{"quota_set", limits_json(*limits, call.param("project_id"), call.microversion)}});
}

Result<Reply> show_quota_class(ApiContext& ctx, Call& call) {
  const std::string& id = call.param("id");
  auto limits = ctx.store().quota_class(id);
  if (!limits.ok()) return limits.error();
  return Reply::ok({{"quota_class_set", limits_json(*limits, id, call.microversion, true)}});
}

Result<Reply> update_quota_class(ApiContext& ctx, Call& call) {
  const std::string& id = call.param("id");
  if (id.empty() || id.size() > 255) return bad_request("quota class name must be 1-255 long");
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto want = parse_limits(*body, "quota_class_set", nullptr, call.microversion);
  if (!want.ok()) return want.error();
  if (auto s = ctx.store().set_quota_class(id, *want); !s.ok()) return s.error();
  auto limits = ctx.store().quota_class(id);
  if (!limits.ok()) return limits.error();
  return Reply::ok(
      {{"quota_class_set", limits_json(*limits, std::nullopt, call.microversion, true)}});
}

}  // namespace

std::vector<Route> compute_quota_routes(ApiContext& ctx) {
  ApiContext* c = &ctx;
  return {
      {"GET",
       kQuotaSets + "/{project_id}",
       Service::kCompute,
       "compute:quota:read",
       [c](Call& call) { return show_quota_set(*c, call, false); },
       {}},
      {"GET",
       kQuotaSets + "/{project_id}/detail",
       Service::kCompute,
       "compute:quota:read",
       [c](Call& call) { return show_quota_set(*c, call, true); },
       {}},
      {"GET",
       kQuotaSets + "/{project_id}/defaults",
       Service::kCompute,
       "compute:read",
       [c](Call& call) { return default_quota_set(*c, call); },
       {}},
      {"PUT",
       kQuotaSets + "/{project_id}",
       Service::kCompute,
       "compute:admin",
       [c](Call& call) { return update_quota_set(*c, call); },
       {}},
      {"DELETE",
       kQuotaSets + "/{project_id}",
       Service::kCompute,
       "compute:admin",
       [c](Call& call) { return delete_quota_set(*c, call); },
       {}},
      {"GET",
       kQuotaClasses + "/{id}",
       Service::kCompute,
       "compute:admin",
       [c](Call& call) { return show_quota_class(*c, call); },
       {}},
      {"PUT",
       kQuotaClasses + "/{id}",
       Service::kCompute,
       "compute:admin",
       [c](Call& call) { return update_quota_class(*c, call); },
       {}},
  };
}

}  // namespace gpucloud::api

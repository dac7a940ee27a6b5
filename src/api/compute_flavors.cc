// Compute v2.1: flavors, their extra specs (validated) and flavor access.
#include <fmt/format.h>

#include <regex>

#include "api/compute_impl.h"
#include "api/list_query_impl.h"
#include "api/policy_impl.h"
#include "api/validation_impl.h"

namespace gpucloud::api {
namespace {

Error flavor_not_found(const std::string& id) {
  return Error::not_found("Flavor " + id + " could not be found.");
}

// The flavor if the caller may see it: public, the caller's project has access, or admin.
Result<store::Flavor> visible_flavor(ApiContext& ctx, const Call& call, const std::string& id) {
  auto f = ctx.store().get_flavor(id);
  if (!f.ok()) {
    if (f.error().code == ErrorCode::kNotFound) return flavor_not_found(id);
    return f.error();
  }
  if (f->is_public || call.who().is_admin()) return f;
  auto access = ctx.store().list_flavor_access(id);
  if (!access.ok()) return access.error();
  for (const auto& p : *access) {
    if (p == call.who().project_id) return f;
  }
  return flavor_not_found(id);
}

// nova's flavor sort keys (gpucloud has no vcpu_weight or updated_at column) and its default
// order: flavorid ascending.
const ListRules kFlavorRules = {
    {"created_at", "description", "disabled", "ephemeral_gb", "flavorid", "id", "is_public",
     "memory_mb", "name", "root_gb", "rxtx_factor", "swap", "vcpus"},
    {{"flavorid", false}},
    false};

// minRam / minDisk: nova answers 400 "Invalid minRam filter [abc]" for anything but an integer.
Result<std::optional<int64_t>> min_filter(const Call& call, const char* name) {
  auto v = call.query(name);
  if (!v) return std::optional<int64_t>();
  char* end = nullptr;
  errno = 0;
  const long long n = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || errno == ERANGE || n < 0) {
    return bad_request(fmt::format("Invalid {} filter [{}]", name, shown(*v)));
  }
  return std::optional<int64_t>(n);
}

Result<Reply> list_flavors(ApiContext& ctx, Call& call, bool detail) {
  auto q = parse_list_query(call, kFlavorRules);
  if (!q.ok()) return q.error();
  auto min_ram = min_filter(call, "minRam");
  if (!min_ram.ok()) return min_ram.error();
  auto min_disk = min_filter(call, "minDisk");
  if (!min_disk.ok()) return min_disk.error();
  auto all = ctx.store().list_flavors();
  if (!all.ok()) return all.error();
  // nova: is_public defaults to true; admins may ask for "none" (all) or false (private only).
  std::optional<bool> want_public = true;
  if (auto pub = call.query("is_public")) {
    std::string v = *pub;
    for (auto& ch : v) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (v == "none") {
      want_public.reset();
    } else if (v == "false" || v == "0" || v == "no" || v == "f" || v == "n" || v == "off") {
      want_public = false;
    }
  }
  std::vector<ListRow> rows;
  for (const auto& f : *all) {
    if (f.disabled) continue;
    bool visible = f.is_public;
    if (!visible && !call.who().is_admin()) {
      auto access = ctx.store().list_flavor_access(f.id);
      if (!access.ok()) return access.error();
      for (const auto& p : *access) visible = visible || p == call.who().project_id;
    } else if (!visible) {
      visible = true;
    }
    if (!visible) continue;
    if (want_public && call.who().is_admin() && f.is_public != *want_public) continue;
    if (*min_ram && f.memory_mb < **min_ram) continue;
    if (*min_disk && f.root_gb < **min_disk) continue;
    const auto created =
        std::chrono::duration_cast<std::chrono::microseconds>(f.created_at.time_since_epoch())
            .count();
    rows.push_back({f.id,
                    {{"created_at", created},
                     {"description", f.description},
                     {"disabled", f.disabled},
                     {"ephemeral_gb", f.ephemeral_gb},
                     {"flavorid", f.id},
                     {"id", f.id},
                     {"is_public", f.is_public},
                     {"memory_mb", f.memory_mb},
                     {"name", f.name},
                     {"root_gb", f.root_gb},
                     {"rxtx_factor", f.rxtx_factor},
                     {"swap", f.swap_mb},
                     {"vcpus", f.vcpus}},
                    flavor_json(f, ctx.base_url, detail, call.microversion)});
  }
  auto page = list_page(std::move(rows), *q, call, ctx.base_url, "flavors");
  if (!page.ok()) return page.error();
  return Reply::ok(*page);
}

// 2.55: a flavor's description, null or up to 65535 printable characters.
Result<std::string> flavor_description(const json& b) {
  if (!b.contains("description") || b["description"].is_null()) return std::string();
  const json& d = b["description"];
  if (!d.is_string()) {
    return bad_request("Invalid input for field/attribute description. Value: " + shown(d) +
                       ". It is not of type 'string', 'null'");
  }
  if (auto s = check_text(d.get<std::string>(), "description", 65535); !s.ok()) return s.error();
  return d.get<std::string>();
}

// PUT /flavors/{id} (2.55, admin): only the description changes.
Result<Reply> update_flavor(ApiContext& ctx, Call& call) {
  // Below 2.55 nova has no such method: its 404.
  if (!call.microversion.at_least(2, 55))
    return Error::not_found("The resource could not be found.");
  const std::string& id = call.param("flavor_id");
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (auto s = no_extra_fields(*body, "body", {"flavor"}); !s.ok()) return s.error();
  auto fb = body_member(*body, "flavor");
  if (!fb.ok()) return fb.error();
  if (auto s = no_extra_fields(*fb, "flavor", {"description"}); !s.ok()) return s.error();
  if (!fb->contains("description")) {
    return bad_request(
        "Invalid input for field/attribute flavor. 'description' is a required property");
  }
  auto description = flavor_description(*fb);
  if (!description.ok()) return description.error();
  if (auto s = ctx.store().set_flavor_description(id, *description); !s.ok()) {
    return s.error().code == ErrorCode::kNotFound ? flavor_not_found(id) : s.error();
  }
  auto f = ctx.store().get_flavor(id);
  if (!f.ok()) return f.error();
  return Reply::ok({{"flavor", flavor_json(*f, ctx.base_url, true, call.microversion)}});
}

Result<Reply> create_flavor(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (auto s = no_extra_fields(*body, "body", {"flavor"}); !s.ok()) return s.error();
  auto fb = body_member(*body, "flavor");
  if (!fb.ok()) return fb.error();
  const json& b = *fb;
  std::vector<const char*> known = {"name",  "id",          "ram",
                                    "vcpus", "disk",        "OS-FLV-EXT-DATA:ephemeral",
                                    "swap",  "rxtx_factor", "os-flavor-access:is_public"};
  if (call.microversion.at_least(2, 55)) known.push_back("description");
  if (auto s = no_extra_fields(b, "flavor", known); !s.ok()) return s.error();
  store::Flavor f;
  auto description = flavor_description(b);
  if (!description.ok()) return description.error();
  f.description = *description;
  auto name = string_field(b, "name", "flavor", false);
  if (!name.ok()) return name.error();
  if (!*name) {
    return bad_request("Invalid input for field/attribute flavor. 'name' is a required property");
  }
  // nova's parameter_types.name: printable, 1 to 255, no whitespace at either end.
  if (auto s = check_name(**name, "name", {255, false, false}); !s.ok()) return s.error();
  f.name = **name;
  auto id = string_field(b, "id", "flavor");
  if (!id.ok()) {
    // nova also accepts a numeric id.
    if (b["id"].is_number_integer()) {
      id = std::optional<std::string>(std::to_string(b["id"].get<int64_t>()));
    } else {
      return id.error();
    }
  }
  f.id = id->value_or(new_uuid());
  // nova's flavor id pattern: ^(?! )[a-zA-Z0-9. _-]+(?<! )$, 1 to 255 characters.
  static const std::regex kFlavorId("[a-zA-Z0-9._-]([a-zA-Z0-9. _-]{0,253}[a-zA-Z0-9._-])?");
  if (!std::regex_match(f.id, kFlavorId)) {
    return bad_request("Invalid input for field/attribute id. Value: " + shown(f.id) +
                       ". Flavor id must be 1 to 255 of a-z A-Z 0-9 . _ - and inner spaces");
  }
  struct IntSpec {
    const char* key;
    int64_t min, max;
    bool required;
  };
  int64_t values[5] = {0, 0, 0, 0, 0};
  const IntSpec specs[5] = {{"ram", 1, 2147483647, true},
                            {"vcpus", 1, 2147483647, true},
                            {"disk", 0, 2147483647, true},
                            {"OS-FLV-EXT-DATA:ephemeral", 0, 2147483647, false},
                            {"swap", 0, 2147483647, false}};
  for (int i = 0; i < 5; ++i) {
    auto v = int_field(b, specs[i].key, "flavor", specs[i].min, specs[i].max);
    if (!v.ok()) return v.error();
    if (!*v && specs[i].required) {
      return bad_request(fmt::format(
          "Invalid input for field/attribute flavor. '{}' is a required property", specs[i].key));
    }
    values[i] = v->value_or(0);
  }
  f.memory_mb = values[0];
  f.vcpus = static_cast<int>(values[1]);
  f.root_gb = values[2];
  f.ephemeral_gb = values[3];
  f.swap_mb = values[4];
  if (b.contains("rxtx_factor")) {
    // nova: a number above 0 and at most SQL_SP_FLOAT_MAX (the column is a single float).
    constexpr double kFloatMax = 3.40282e+38;
    const json& v = b["rxtx_factor"];
    if (!v.is_number() || !(v.get<double>() > 0) || v.get<double>() > kFloatMax) {
      return bad_request("Invalid input for field/attribute rxtx_factor. Value: " + shown(v) +
                         ". A number above 0 and at most 3.40282e+38 is required");
    }
    f.rxtx_factor = v.get<double>();
  }
  auto pub = bool_field(b, "os-flavor-access:is_public", "flavor");
  if (!pub.ok()) return pub.error();
  f.is_public = pub->value_or(true);
  f.created_at = std::chrono::system_clock::now();
  auto all = ctx.store().list_flavors();
  if (!all.ok()) return all.error();
  for (const auto& other : *all) {
    if (other.id == f.id) return Error::conflict("Flavor with ID " + f.id + " already exists.");
    if (other.name == f.name)
      return Error::conflict("Flavor with name " + f.name + " already exists.");
  }
  if (auto s = ctx.store().create_flavor(f); !s.ok()) return s.error();
  return Reply::ok({{"flavor", flavor_json(f, ctx.base_url, true, call.microversion)}});
}

// Extra-spec values as nova takes them: strings, or numbers turned into their text (nova's
// flavors_extraspecs schema: "NOTE(oomichi): The metadata of flavor_extraspecs should accept
// numbers as its values", then str(value) with the 255-character check). Anything else is a 400
// that shows the value cut; keys and values are checked by validate_extra_specs.
Result<std::map<std::string, std::string>> spec_values(const json& specs) {
  std::map<std::string, std::string> out;
  for (auto it = specs.begin(); it != specs.end(); ++it) {
    if (it->is_string()) {
      out[it.key()] = it->get<std::string>();
    } else if (it->is_number()) {
      out[it.key()] = it->dump();
    } else {
      return bad_request(
          fmt::format("Invalid input for field/attribute {}. Value: {}. {} is not "
                      "of type 'string', 'number'",
                      shown(it.key()), shown(*it), shown(*it)));
    }
  }
  return out;
}

Result<Reply> set_extra_specs(ApiContext& ctx, Call& call) {
  const std::string& id = call.param("flavor_id");
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (auto s = no_extra_fields(*body, "body", {"extra_specs"}); !s.ok()) return s.error();
  auto specs_json = body_member(*body, "extra_specs");
  if (!specs_json.ok()) return specs_json.error();
  auto specs = spec_values(*specs_json);
  if (!specs.ok()) return specs.error();
  if (auto f = ctx.store().get_flavor(id); !f.ok()) {
    return f.error().code == ErrorCode::kNotFound ? flavor_not_found(id) : f.error();
  }
  if (auto s = validate_extra_specs(*specs, compute_config(ctx)->aliases); !s.ok())
    return s.error();
  if (call.microversion.at_least(2, 86)) {
    if (auto s = validate_known_extra_specs(*specs); !s.ok()) return s.error();
  }
  if (auto s = ctx.store().set_flavor_extra_specs(id, *specs); !s.ok()) return s.error();
  return Reply::ok({{"extra_specs", *specs}});
}

Result<Reply> update_extra_spec(ApiContext& ctx, Call& call) {
  const std::string& id = call.param("flavor_id");
  const std::string& key = call.param("key");
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto specs = spec_values(*body);
  if (!specs.ok()) return specs.error();
  if (specs->size() != 1 || specs->begin()->first != key) {
    return bad_request("Request body and URI mismatch");
  }
  if (auto f = ctx.store().get_flavor(id); !f.ok()) {
    return f.error().code == ErrorCode::kNotFound ? flavor_not_found(id) : f.error();
  }
  if (auto s = validate_extra_specs(*specs, compute_config(ctx)->aliases); !s.ok())
    return s.error();
  if (call.microversion.at_least(2, 86)) {
    if (auto s = validate_known_extra_specs(*specs); !s.ok()) return s.error();
  }
  if (auto s = ctx.store().set_flavor_extra_specs(id, *specs); !s.ok()) return s.error();
  return Reply::ok(*specs);
}

Result<Reply> flavor_action(ApiContext& ctx, Call& call) {
  const std::string& id = call.param("flavor_id");
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  const bool add = body->contains("addTenantAccess");
  const bool remove = body->contains("removeTenantAccess");
  if (body->size() != 1 || (!add && !remove)) {
    return bad_request("Invalid action: expected addTenantAccess or removeTenantAccess");
  }
  auto args = body_member(*body, add ? "addTenantAccess" : "removeTenantAccess");
  if (!args.ok()) return args.error();
  if (auto s = no_extra_fields(*args, add ? "addTenantAccess" : "removeTenantAccess", {"tenant"});
      !s.ok())
    return s.error();
  auto tenant = string_field(*args, "tenant", "tenant", false);
  if (!tenant.ok()) return tenant.error();
  if (!*tenant || (*tenant)->empty()) {
    return bad_request("Invalid input for field/attribute tenant. 'tenant' is a required property");
  }
  auto f = ctx.store().get_flavor(id);
  if (!f.ok()) return f.error().code == ErrorCode::kNotFound ? flavor_not_found(id) : f.error();
  if (f->is_public) return Error::conflict("Can not add access to a public flavor.");
  if (add) {
    if (!ctx.store().get_project(**tenant).ok()) {
      return bad_request("Project ID " + **tenant + " is not a valid project.");
    }
    auto access = ctx.store().list_flavor_access(id);
    if (!access.ok()) return access.error();
    for (const auto& p : *access) {
      if (p == **tenant) {
        return Error::conflict("Flavor access already exists for flavor " + id + " and project " +
                               **tenant + " combination.");
      }
    }
    if (auto s = ctx.store().add_flavor_access(id, **tenant); !s.ok()) return s.error();
  } else if (auto s = ctx.store().remove_flavor_access(id, **tenant); !s.ok()) {
    if (s.error().code == ErrorCode::kNotFound) {
      return Error::not_found("Flavor access not found for " + id + " / " + **tenant +
                              " combination.");
    }
    return s.error();
  }
  auto access = ctx.store().list_flavor_access(id);
  if (!access.ok()) return access.error();
  json list = json::array();
  for (const auto& p : *access) list.push_back({{"flavor_id", id}, {"tenant_id", p}});
  return Reply::ok({{"flavor_access", list}});
}

}  // namespace

std::vector<Route> compute_flavor_routes(ApiContext& ctx) {
  ApiContext* c = &ctx;
  const std::string base = kCompute + "/flavors";
  const std::string one = base + "/{flavor_id}";
  std::vector<Route> r;
  r.push_back({"GET",
               base,
               Service::kCompute,
               "compute:read",
               [c](Call& call) { return list_flavors(*c, call, false); },
               {}});
  r.push_back({"GET",
               base + "/detail",
               Service::kCompute,
               "compute:read",
               [c](Call& call) { return list_flavors(*c, call, true); },
               {}});
  r.push_back({"POST",
               base,
               Service::kCompute,
               "compute:admin",
               [c](Call& call) { return create_flavor(*c, call); },
               {}});
  r.push_back(
      {"GET",
       one,
       Service::kCompute,
       "compute:read",
       [c](Call& call) -> Result<Reply> {
         auto f = visible_flavor(*c, call, call.param("flavor_id"));
         if (!f.ok()) return f.error();
         return Reply::ok({{"flavor", flavor_json(*f, c->base_url, true, call.microversion)}});
       },
       {}});
  r.push_back({"PUT",
               one,
               Service::kCompute,
               "compute:admin",
               [c](Call& call) { return update_flavor(*c, call); },
               {}});
  r.push_back({"DELETE",
               one,
               Service::kCompute,
               "compute:admin",
               [c](Call& call) -> Result<Reply> {
                 const std::string& id = call.param("flavor_id");
                 auto s = c->store().delete_flavor(id);
                 if (!s.ok()) {
                   return s.error().code == ErrorCode::kNotFound ? flavor_not_found(id) : s.error();
                 }
                 return Reply::ok(nullptr, 202);
               },
               {}});
  r.push_back({"GET",
               one + "/os-extra_specs",
               Service::kCompute,
               "compute:read",
               [c](Call& call) -> Result<Reply> {
                 auto f = visible_flavor(*c, call, call.param("flavor_id"));
                 if (!f.ok()) return f.error();
                 return Reply::ok({{"extra_specs", f->extra_specs}});
               },
               {}});
  r.push_back({"POST",
               one + "/os-extra_specs",
               Service::kCompute,
               "compute:admin",
               [c](Call& call) { return set_extra_specs(*c, call); },
               {}});
  r.push_back({"GET",
               one + "/os-extra_specs/{key}",
               Service::kCompute,
               "compute:read",
               [c](Call& call) -> Result<Reply> {
                 auto f = visible_flavor(*c, call, call.param("flavor_id"));
                 if (!f.ok()) return f.error();
                 auto it = f->extra_specs.find(call.param("key"));
                 if (it == f->extra_specs.end()) {
                   return Error::not_found("Flavor " + f->id + " has no extra specs with key " +
                                           call.param("key") + ".");
                 }
                 return Reply::ok({{it->first, it->second}});
               },
               {}});
  r.push_back({"PUT",
               one + "/os-extra_specs/{key}",
               Service::kCompute,
               "compute:admin",
               [c](Call& call) { return update_extra_spec(*c, call); },
               {}});
  r.push_back({"DELETE",
               one + "/os-extra_specs/{key}",
               Service::kCompute,
               "compute:admin",
               [c](Call& call) -> Result<Reply> {
                 const std::string& id = call.param("flavor_id");
                 auto s = c->store().delete_flavor_extra_spec(id, call.param("key"));
                 if (!s.ok()) {
                   if (s.error().code != ErrorCode::kNotFound) return s.error();
                   if (!c->store().get_flavor(id).ok()) return flavor_not_found(id);
                   return Error::not_found("Flavor " + id + " has no extra specs with key " +
                                           call.param("key") + ".");
                 }
                 return Reply::ok(nullptr, 200);
               },
               {}});
  r.push_back({"GET",
               one + "/os-flavor-access",
               Service::kCompute,
               "compute:admin",
               [c](Call& call) -> Result<Reply> {
                 const std::string& id = call.param("flavor_id");
                 auto f = c->store().get_flavor(id);
                 if (!f.ok()) {
                   return f.error().code == ErrorCode::kNotFound ? flavor_not_found(id) : f.error();
                 }
                 if (f->is_public) {
                   return Error::not_found("Access list not available for public flavors.");
                 }
                 auto access = c->store().list_flavor_access(id);
                 if (!access.ok()) return access.error();
                 json list = json::array();
                 for (const auto& p : *access)
                   list.push_back({{"flavor_id", id}, {"tenant_id", p}});
                 return Reply::ok({{"flavor_access", list}});
               },
               {}});
  r.push_back({"POST",
               one + "/action",
               Service::kCompute,
               "compute:admin",
               [c](Call& call) { return flavor_action(*c, call); },
               {}});
  return r;
}

}  // namespace gpucloud::api

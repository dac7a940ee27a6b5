// Compute v2.1: host aggregates (os-aggregates) with availability zones and metadata.
#include <fmt/format.h>

#include <regex>

#include "api/compute_impl.h"
#include "api/list_query_impl.h"
#include "api/validation_impl.h"

namespace gpucloud::api {
namespace {

// 2.41 adds the aggregate's uuid.
json aggregate_json(const store::Aggregate& a, const Microversion& mv) {
  json md = a.metadata;
  if (md.is_null()) md = json::object();
  if (a.availability_zone) md["availability_zone"] = *a.availability_zone;
  json j = {{"id", a.id},
            {"name", a.name},
            {"availability_zone", a.availability_zone ? json(*a.availability_zone) : json(nullptr)},
            {"hosts", a.hosts},
            {"metadata", md},
            {"created_at", iso8601(a.created_at)},
            {"updated_at",
             a.updated_at == store::TimePoint{} ? json(nullptr) : json(iso8601(a.updated_at))},
            {"deleted", false},
            {"deleted_at", nullptr}};
  if (mv.at_least(2, 41)) j["uuid"] = a.uuid;
  return j;
}

Result<store::Aggregate> find_aggregate(ApiContext& ctx, const std::string& text) {
  char* end = nullptr;
  const long long id = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || id <= 0) {
    return Error::not_found("Aggregate " + text + " could not be found.");
  }
  auto a = ctx.store().get_aggregate(id);
  if (!a.ok() && a.error().code == ErrorCode::kNotFound) {
    return Error::not_found("Aggregate " + text + " could not be found.");
  }
  return a;
}

Result<std::optional<std::string>> az_field(const json& obj) {
  auto az = string_field(obj, "availability_zone", "aggregate");
  if (!az.ok()) return az.error();
  if (*az) {
    if (auto s = check_name(**az, "availability_zone", {255, false, false}); !s.ok()) {
      return s.error();
    }
  }
  return az;
}

Result<std::string> name_field(const json& obj, bool required) {
  auto name = string_field(obj, "name", "aggregate", false);
  if (!name.ok()) return name.error();
  if (!*name) {
    if (required) {
      return bad_request(
          "Invalid input for field/attribute aggregate. 'name' is a required property");
    }
    return std::string();
  }
  const std::string& n = **name;
  // nova's parameter_types.name: printable, 1 to 255, no whitespace at either end.
  if (auto s = check_name(n, "name", {255, false, false}); !s.ok()) return s.error();
  return n;
}

Status name_free(ApiContext& ctx, const std::string& name, int64_t except_id) {
  auto all = ctx.store().list_aggregates();
  if (!all.ok()) return all.error();
  for (const auto& a : *all) {
    if (a.name == name && a.id != except_id) {
      return Error::conflict("Aggregate " + name + " already exists.");
    }
  }
  return {};
}

// nova refuses to put a host into two different availability zones.
Status az_compatible(ApiContext& ctx, const std::string& host, const store::Aggregate& target,
                     const std::optional<std::string>& az, const char* action) {
  if (!az) return {};
  auto all = ctx.store().list_aggregates();
  if (!all.ok()) return all.error();
  for (const auto& a : *all) {
    if (a.id == target.id || !a.availability_zone || *a.availability_zone == *az) continue;
    for (const auto& h : a.hosts) {
      if (h == host || (host.empty() && std::find(target.hosts.begin(), target.hosts.end(), h) !=
                                            target.hosts.end())) {
        return bad_request(fmt::format(
            "Cannot {} aggregate {}. Reason: One or more hosts already in availability zone(s) "
            "['{}'].",
            action, target.id, *a.availability_zone));
      }
    }
  }
  return {};
}

Result<Reply> create_aggregate(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (auto s = no_extra_fields(*body, "body", {"aggregate"}); !s.ok()) return s.error();
  auto b = body_member(*body, "aggregate");
  if (!b.ok()) return b.error();
  if (auto s = no_extra_fields(*b, "aggregate", {"name", "availability_zone"}); !s.ok()) {
    return s.error();
  }
  auto name = name_field(*b, true);
  if (!name.ok()) return name.error();
  auto az = az_field(*b);
  if (!az.ok()) return az.error();
  if (auto s = name_free(ctx, *name, 0); !s.ok()) return s.error();
  store::Aggregate a;
  a.name = *name;
  a.availability_zone = *az;
  auto created = ctx.store().create_aggregate(a);
  if (!created.ok()) return created.error();
  json j = aggregate_json(*created, call.microversion);
  j.erase("hosts");  // nova's create answers without hosts and metadata
  j.erase("metadata");
  return Reply::ok({{"aggregate", j}});
}

Result<Reply> update_aggregate(ApiContext& ctx, Call& call) {
  auto a = find_aggregate(ctx, call.param("id"));
  if (!a.ok()) return a.error();
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (auto s = no_extra_fields(*body, "body", {"aggregate"}); !s.ok()) return s.error();
  auto b = body_member(*body, "aggregate");
  if (!b.ok()) return b.error();
  if (auto s = no_extra_fields(*b, "aggregate", {"name", "availability_zone"}); !s.ok()) {
    return s.error();
  }
  if (b->empty()) {
    return bad_request(
        "Invalid input for field/attribute aggregate. Value: {}. {} does not have "
        "enough properties");
  }
  auto name = name_field(*b, false);
  if (!name.ok()) return name.error();
  auto az = az_field(*b);
  if (!az.ok()) return az.error();
  const std::string new_name = name->empty() ? a->name : *name;
  if (auto s = name_free(ctx, new_name, a->id); !s.ok()) return s.error();
  const auto new_az = b->contains("availability_zone") ? *az : a->availability_zone;
  if (auto s = az_compatible(ctx, "", *a, new_az, "update"); !s.ok()) return s.error();
  if (auto s = ctx.store().update_aggregate(a->id, new_name, new_az); !s.ok()) return s.error();
  auto updated = ctx.store().get_aggregate(a->id);
  if (!updated.ok()) return updated.error();
  return Reply::ok({{"aggregate", aggregate_json(*updated, call.microversion)}});
}

Result<Reply> aggregate_action(ApiContext& ctx, Call& call) {
  auto a = find_aggregate(ctx, call.param("id"));
  if (!a.ok()) return a.error();
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (body->size() != 1) {
    return bad_request(
        "Invalid input for field/attribute action: exactly one of add_host, "
        "remove_host, set_metadata is required");
  }
  const std::string action = body->begin().key();
  auto args = body_member(*body, action.c_str());
  if (!args.ok()) return args.error();
  Status done;
  if (action == "add_host" || action == "remove_host") {
    if (auto s = no_extra_fields(*args, action.c_str(), {"host"}); !s.ok()) return s.error();
    auto host = string_field(*args, "host", action.c_str(), false);
    if (!host.ok()) return host.error();
    if (!*host || (*host)->empty()) {
      return bad_request("Invalid input for field/attribute " + action +
                         ". 'host' is a required property");
    }
    const std::string& h = **host;
    if (action == "add_host") {
      if (!ctx.store().get_compute_host(h).ok()) {
        return Error::not_found("Compute host " + h + " could not be found.");
      }
      if (std::find(a->hosts.begin(), a->hosts.end(), h) != a->hosts.end()) {
        return Error::conflict(fmt::format("Aggregate {} already has host {}.", a->id, h));
      }
      if (auto s = az_compatible(ctx, h, *a, a->availability_zone, "add host to"); !s.ok()) {
        return s.error();
      }
      done = ctx.store().add_aggregate_host(a->id, h);
    } else {
      if (std::find(a->hosts.begin(), a->hosts.end(), h) == a->hosts.end()) {
        return Error::not_found(
            fmt::format("Cannot remove host {} in aggregate {}: Aggregate {} has no host {}.", h,
                        a->id, a->id, h));
      }
      done = ctx.store().remove_aggregate_host(a->id, h);
    }
  } else if (action == "set_metadata") {
    if (auto s = no_extra_fields(*args, "set_metadata", {"metadata"}); !s.ok()) return s.error();
    auto md = body_member(*args, "metadata");
    if (!md.ok()) return md.error();
    std::map<std::string, std::optional<std::string>> changes;
    std::optional<std::optional<std::string>> az_change;
    for (auto it = md->begin(); it != md->end(); ++it) {
      // nova's aggregate metadata schema: keys ^[a-zA-Z0-9-_:. /]{1,255}$, values strings of
      // at most 255 characters, or null (delete).
      static const std::regex kKey("[a-zA-Z0-9-_:. /]{1,255}");
      if (!std::regex_match(it.key(), kKey)) {
        return bad_request("Invalid input for field/attribute metadata. Value: " + shown(it.key()) +
                           ". Keys must match '^[a-zA-Z0-9-_:. /]{1,255}$'");
      }
      std::optional<std::string> v;
      if (it->is_string()) {
        v = it->get<std::string>();
        if (auto s = check_text(*v, it.key(), 255); !s.ok()) return s.error();
      } else if (!it->is_null()) {
        return bad_request(
            fmt::format("Invalid input for field/attribute {}. Value: {}. {} is "
                        "not of type 'string', 'null'",
                        it.key(), shown(*it), shown(*it)));
      }
      if (it.key() == "availability_zone") {
        az_change = v;
      } else {
        changes[it.key()] = v;
      }
    }
    if (az_change) {
      if (auto s = az_compatible(ctx, "", *a, *az_change, "update"); !s.ok()) return s.error();
      if (auto s = ctx.store().update_aggregate(a->id, a->name, *az_change); !s.ok()) {
        return s.error();
      }
    }
    if (!changes.empty()) done = ctx.store().set_aggregate_metadata(a->id, changes);
  } else {
    return bad_request(
        "Invalid input for field/attribute action. Additional properties are not "
        "allowed ('" +
        action + "' was unexpected)");
  }
  if (!done.ok()) return done.error();
  auto updated = ctx.store().get_aggregate(a->id);
  if (!updated.ok()) return updated.error();
  return Reply::ok({{"aggregate", aggregate_json(*updated, call.microversion)}});
}

// nova lists aggregates unpaged; gpucloud takes the list parameters of servers and flavors too
// (limit, marker by id, sort_key id/name/created_at/updated_at, name as a regular expression), so
// a client that sends them gets what it asked for or a 400, never everything silently.
Result<Reply> list_aggregates(ApiContext& ctx, Call& call) {
  static const ListRules kRules = {
      {"id", "name", "created_at", "updated_at", "availability_zone"}, {{"id", false}}, false};
  auto q = parse_list_query(call, kRules);
  if (!q.ok()) return q.error();
  std::shared_ptr<NameFilter> name;
  if (auto n = call.query("name")) {
    auto f = NameFilter::compile(*n);
    if (!f.ok()) return f.error();
    name = *f;
  }
  auto all = ctx.store().list_aggregates();
  if (!all.ok()) return all.error();
  auto micros = [](store::TimePoint t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  };
  std::vector<ListRow> rows;
  for (const auto& a : *all) {
    if (name && !name->matches(a.name)) continue;
    rows.push_back(
        {std::to_string(a.id),
         {{"id", a.id},
          {"name", a.name},
          {"created_at", micros(a.created_at)},
          {"updated_at", micros(a.updated_at)},
          {"availability_zone", a.availability_zone ? json(*a.availability_zone) : json(nullptr)}},
         aggregate_json(a, call.microversion)});
  }
  auto page = list_page(std::move(rows), *q, call, ctx.base_url, "aggregates");
  if (!page.ok()) return page.error();
  return Reply::ok(*page);
}

}  // namespace

std::vector<Route> compute_aggregate_routes(ApiContext& ctx) {
  ApiContext* c = &ctx;
  const std::string base = kCompute + "/os-aggregates";
  std::vector<Route> r;
  r.push_back({"GET",
               base,
               Service::kCompute,
               "compute:admin",
               [c](Call& call) { return list_aggregates(*c, call); },
               {}});
  r.push_back({"POST",
               base,
               Service::kCompute,
               "compute:admin",
               [c](Call& call) { return create_aggregate(*c, call); },
               {}});
  r.push_back({"GET",
               base + "/{id}",
               Service::kCompute,
               "compute:admin",
               [c](Call& call) -> Result<Reply> {
                 auto a = find_aggregate(*c, call.param("id"));
                 if (!a.ok()) return a.error();
                 return Reply::ok({{"aggregate", aggregate_json(*a, call.microversion)}});
               },
               {}});
  r.push_back({"PUT",
               base + "/{id}",
               Service::kCompute,
               "compute:admin",
               [c](Call& call) { return update_aggregate(*c, call); },
               {}});
  r.push_back({"POST",
               base + "/{id}/action",
               Service::kCompute,
               "compute:admin",
               [c](Call& call) { return aggregate_action(*c, call); },
               {}});
  r.push_back({"DELETE",
               base + "/{id}",
               Service::kCompute,
               "compute:admin",
               [c](Call& call) -> Result<Reply> {
                 auto a = find_aggregate(*c, call.param("id"));
                 if (!a.ok()) return a.error();
                 if (!a->hosts.empty()) {
                   return bad_request(fmt::format(
                       "Cannot perform action 'delete' on aggregate {}. Reason: Host aggregate is "
                       "not empty.",
                       a->id));
                 }
                 if (auto s = c->store().delete_aggregate(a->id); !s.ok()) return s.error();
                 return Reply::ok(nullptr, 200);
               },
               {}});
  return r;
}

}  // namespace gpucloud::api

// Compute v2.1's usage reports: os-simple-tenant-usage (what each project used over a period, per
// server: hours, vCPU-hours, MB-hours, GB-hours, as nova computes them from launch and delete
// times), and os-migrations (always empty: gpucloud never migrates a server, its GPU pins it).
#include <fmt/format.h>

#include <algorithm>

#include "api/compute_impl.h"
#include "api/list_query_impl.h"

namespace gpucloud::api {
namespace {

using Clock = std::chrono::system_clock;

struct Period {
  store::TimePoint start, end;
};

// nova: start and end are ISO 8601 (default: end now, start = end); end before start is 400.
Result<Period> period(const Call& call) {
  Period p{Clock::now(), Clock::now()};
  if (auto e = call.query("end")) {
    auto t = parse_iso8601(*e, "end");
    if (!t.ok()) return bad_request("Invalid end time. " + t.error().message);
    p.end = *t;
  }
  p.start = p.end;
  if (auto s = call.query("start")) {
    auto t = parse_iso8601(*s, "start");
    if (!t.ok()) return bad_request("Invalid start time. " + t.error().message);
    p.start = *t;
  }
  if (p.start > p.end) {
    return bad_request("Invalid start time. The start time cannot occur after the end time.");
  }
  return p;
}

double hours(store::TimePoint a, store::TimePoint b) {
  return b <= a ? 0.0 : std::chrono::duration<double>(b - a).count() / 3600.0;
}

// One project's usage over `p`, built as nova's simple tenant usage does: each server that
// existed during the period counts from max(launch, start) to min(delete or now, end).
json tenant_usage(const std::string& project, const std::vector<store::Instance>& instances,
                  const std::map<std::string, store::Flavor>& flavors, const Period& p,
                  bool detailed) {
  json servers = json::array();
  double total_hours = 0, vcpu_hours = 0, mb_hours = 0, gb_hours = 0;
  const auto now = Clock::now();
  for (const auto& i : instances) {
    if (i.project_id != project) continue;
    const store::TimePoint launched = i.launched_at.value_or(i.created_at);
    const store::TimePoint ended = i.deleted_at.value_or(now);
    if (launched > p.end || ended < p.start) continue;
    const double h = hours(std::max(launched, p.start), std::min(ended, p.end));
    const auto f = flavors.find(i.flavor_id);
    const int vcpus = f == flavors.end() ? 0 : f->second.vcpus;
    const int64_t mb = f == flavors.end() ? 0 : f->second.memory_mb;
    const int64_t gb = f == flavors.end() ? 0 : f->second.root_gb + f->second.ephemeral_gb;
    total_hours += h;
    vcpu_hours += h * vcpus;
    mb_hours += h * static_cast<double>(mb);
    gb_hours += h * static_cast<double>(gb);
    if (!detailed) continue;
    const bool deleted = i.status == store::ServerStatus::kDeleted;
    servers.push_back(
        {{"instance_id", i.uuid},
         {"name", i.name},
         {"hours", h},
         {"vcpus", vcpus},
         {"memory_mb", mb},
         {"local_gb", gb},
         {"tenant_id", i.project_id},
         {"flavor", f == flavors.end() ? i.flavor_id : f->second.name},
         {"started_at", iso8601(launched).substr(0, 26)},
         {"ended_at", deleted ? json(iso8601(ended).substr(0, 26)) : json(nullptr)},
         {"state", deleted ? "terminated" : i.vm_state},
         {"uptime", static_cast<int64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                             (deleted ? ended : now) - launched)
                                             .count())}});
  }
  json u = {{"tenant_id", project},
            {"total_hours", total_hours},
            {"total_vcpus_usage", vcpu_hours},
            {"total_memory_mb_usage", mb_hours},
            {"total_local_gb_usage", gb_hours},
            {"start", iso8601(p.start).substr(0, 26)},
            {"stop", iso8601(p.end).substr(0, 26)}};
  if (detailed) u["server_usages"] = servers;
  return u;
}

Result<std::map<std::string, store::Flavor>> flavor_map(ApiContext& ctx) {
  auto list = ctx.store().list_flavors();
  if (!list.ok()) return list.error();
  std::map<std::string, store::Flavor> out;
  for (auto& f : *list) out[f.id] = std::move(f);
  return out;
}

// GET /os-simple-tenant-usage: admins only (every project that used something in the period).
Result<Reply> all_usages(ApiContext& ctx, Call& call) {
  auto p = period(call);
  if (!p.ok()) return p.error();
  auto instances = ctx.store().list_instances("", true);
  if (!instances.ok()) return instances.error();
  auto flavors = flavor_map(ctx);
  if (!flavors.ok()) return flavors.error();
  const bool detailed = call.query("detailed") == std::optional<std::string>("1");
  std::vector<std::string> projects;
  for (const auto& i : *instances) {
    if (std::find(projects.begin(), projects.end(), i.project_id) == projects.end()) {
      projects.push_back(i.project_id);
    }
  }
  json list = json::array();
  for (const auto& project : projects) {
    json u = tenant_usage(project, *instances, *flavors, *p, detailed);
    if (u["total_hours"].get<double>() > 0 || (detailed && !u["server_usages"].empty())) {
      list.push_back(std::move(u));
    }
  }
  return Reply::ok({{"tenant_usages", list}});
}

// GET /os-simple-tenant-usage/{project_id}: the project's own members, or admins.
Result<Reply> one_usage(ApiContext& ctx, Call& call) {
  const std::string& project = call.param("project_id");
  if (project != call.who().project_id && !call.who().is_admin()) {
    return forbidden(
        "Policy doesn't allow os_compute_api:os-simple-tenant-usage:show to be "
        "performed.");
  }
  auto p = period(call);
  if (!p.ok()) return p.error();
  auto instances = ctx.store().list_instances(project, true);
  if (!instances.ok()) return instances.error();
  auto flavors = flavor_map(ctx);
  if (!flavors.ok()) return flavors.error();
  json u = tenant_usage(project, *instances, *flavors, *p, true);
  if (u["server_usages"].empty()) return Reply::ok({{"tenant_usage", json::object()}});
  return Reply::ok({{"tenant_usage", u}});
}

}  // namespace

std::vector<Route> compute_usage_routes(ApiContext& ctx) {
  ApiContext* c = &ctx;
  std::vector<Route> r;
  r.push_back({"GET",
               kCompute + "/os-simple-tenant-usage",
               Service::kCompute,
               "compute:admin",
               [c](Call& call) { return all_usages(*c, call); },
               {}});
  r.push_back({"GET",
               kCompute + "/os-simple-tenant-usage/{project_id}",
               Service::kCompute,
               "compute:read",
               [c](Call& call) { return one_usage(*c, call); },
               {}});
  r.push_back({"GET",
               kCompute + "/os-migrations",
               Service::kCompute,
               "compute:admin",
               [](Call&) -> Result<Reply> {
                 return Reply::ok({{"migrations", json::array()}});
               },
               {}});
  return r;
}

}  // namespace gpucloud::api

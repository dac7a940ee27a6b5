// The Cloud Controller in the API: the advisory GPU admission check of POST /servers, per-project
// GPU quotas per alias (gpucloud's extension /compute/v2.1/gpucloud-gpu-quotas, admin only; the
// store's claim enforces them), their lines in /limits, readiness in server show and /metrics.
#include <fmt/format.h>

#include "api/compute_impl.h"
#include "controller/controller.h"

namespace gpucloud::api {
namespace {

const std::string kQuotas = kCompute + "/gpucloud-gpu-quotas";

Result<json> project_quotas(ApiContext& ctx, const std::string& project_id) {
  auto quotas = ctx.store().list_gpu_quotas(project_id);
  if (!quotas.ok()) return quotas.error();
  auto usage = ctx.store().gpu_usage(project_id);
  if (!usage.ok()) return usage.error();
  json q = json::object();
  for (const auto& g : *quotas) {
    auto u = usage->find(g.alias);
    q[g.alias] = {{"limit", g.limit}, {"in_use", u == usage->end() ? 0 : u->second}};
  }
  return json{{"project_id", project_id}, {"quotas", q}};
}

Result<Reply> show_quotas(ApiContext& ctx, Call& call) {
  auto q = project_quotas(ctx, call.param("project_id"));
  if (!q.ok()) return q.error();
  return Reply::ok({{"gpu_quotas", *q}});
}

Result<Reply> list_quotas(ApiContext& ctx, Call&) {
  auto quotas = ctx.store().list_gpu_quotas("");
  if (!quotas.ok()) return quotas.error();
  json out = json::array();
  for (const auto& g : *quotas) {
    out.push_back({{"project_id", g.project_id}, {"alias", g.alias}, {"limit", g.limit}});
  }
  return Reply::ok({{"gpu_quotas", out}});
}

// PUT {"gpu_quotas": {"K2_Grid": 2, ...}}: sets each alias's limit; others stay.
Result<Reply> set_quotas(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto q = body_member(*body, "gpu_quotas");
  if (!q.ok()) return q.error();
  const std::string& project = call.param("project_id");
  if (auto p = ctx.store().get_project(project); !p.ok()) return p.error();
  const auto cfg = compute_config(ctx);
  for (const auto& [alias, limit] : q->items()) {
    if (!limit.is_number_integer() || limit.get<int64_t>() < 0 || limit.get<int64_t>() > 1000000) {
      return bad_request("gpu_quotas." + alias + " must be an integer from 0 to 1000000");
    }
    if (!cfg->aliases.names().empty() && !cfg->aliases.contains(alias)) {
      return bad_request("gpu_quotas." + alias + ": no PCI alias of that name is configured");
    }
  }
  for (const auto& [alias, limit] : q->items()) {
    store::GpuQuota g{project, alias, static_cast<int>(limit.get<int64_t>())};
    if (auto s = ctx.store().set_gpu_quota(g); !s.ok()) return s.error();
  }
  return show_quotas(ctx, call);
}

Result<Reply> delete_quota(ApiContext& ctx, Call& call) {
  if (auto s = ctx.store().delete_gpu_quota(call.param("project_id"), call.param("alias"));
      !s.ok()) {
    return s.error();
  }
  return Reply::no_content();
}

// Active servers per readiness state, read at scrape time (the store is shared by replicas).
std::string readiness_metrics(ApiContext& ctx) {
  auto list = ctx.store().list_instances("", false);
  if (!list.ok()) return "";
  std::map<std::string, int> by_state = {{"waiting", 0}, {"ready", 0}, {"timed_out", 0}};
  for (const auto& i : *list) {
    if (i.status == store::ServerStatus::kActive) ++by_state[to_string(i.readiness)];
  }
  std::string out =
      "# HELP gpucloud_server_readiness ACTIVE servers by readiness probe state\n"
      "# TYPE gpucloud_server_readiness gauge\n";
  for (const auto& [state, n] : by_state) {
    out += fmt::format("gpucloud_server_readiness{{state=\"{}\"}} {}\n", state, n);
  }
  return out;
}

}  // namespace

Status admit_gpu_boot(ApiContext& ctx, const store::Flavor& flavor, int64_t instances) {
  if (!ctx.deps.controller) return Status{};
  Status s = ctx.deps.controller->admit_boot(flavor.extra_specs, compute_config(ctx)->aliases,
                                             static_cast<int>(instances));
  if (!s.ok() && s.error().code == ErrorCode::kConflict) {
    ctx.metrics.inc("gpucloud_gpu_admission_refused_total");
  }
  return s;
}

json readiness_json(const store::Instance& i) {
  return {{"state", to_string(i.readiness)},
          {"error", i.readiness_error.empty() ? json(nullptr) : json(i.readiness_error)},
          {"checked_at", i.readiness_at ? json(iso8601(*i.readiness_at)) : json(nullptr)}};
}

Result<json> gpu_quota_limits(ApiContext& ctx, const std::string& project_id) {
  json out = json::object();
  if (project_id.empty()) return out;
  auto q = project_quotas(ctx, project_id);
  if (!q.ok()) return q.error();
  for (const auto& [alias, v] : (*q)["quotas"].items()) {
    out["gpucloud:maxTotalGPUs:" + alias] = v["limit"];
    out["gpucloud:totalGPUsUsed:" + alias] = v["in_use"];
  }
  return out;
}

std::vector<Route> controller_routes(ApiContext& ctx) {
  ctx.metrics.describe("gpucloud_gpu_admission_refused_total",
                       "server creates refused by the Cloud Controller's GPU admission check");
  ctx.metrics.add_collector([&ctx] { return readiness_metrics(ctx); });
  auto bind = [&ctx](Result<Reply> (*f)(ApiContext&, Call&)) {
    return [&ctx, f](Call& call) { return f(ctx, call); };
  };
  return {
      {"GET", kQuotas, Service::kCompute, "compute:admin", bind(list_quotas), nullptr},
      {"GET", kQuotas + "/{project_id}", Service::kCompute, "compute:admin", bind(show_quotas),
       nullptr},
      {"PUT", kQuotas + "/{project_id}", Service::kCompute, "compute:admin", bind(set_quotas),
       nullptr},
      {"DELETE", kQuotas + "/{project_id}/{alias}", Service::kCompute, "compute:admin",
       bind(delete_quota), nullptr},
  };
}

}  // namespace gpucloud::api

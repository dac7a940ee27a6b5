// /healthz and /readyz for load balancers and service managers: unauthenticated, and so they
// say nothing an anonymous caller should not learn — no URL, host name, version string or error
// text, only which check failed. /healthz answers while the process serves HTTP at all;
// /readyz answers 200 only when this replica can do its work: the database answers, its schema
// is the one this binary needs, and the conductor runs.
#include "api/router_impl.h"
#include "conductor/conductor.h"

namespace gpucloud::api {
namespace {

Result<Reply> healthz(Call&) { return Reply::ok({{"status", "ok"}}); }

Result<Reply> readyz(ApiContext& ctx, Call&) {
  json checks = json::object();
  bool ready = true;
  auto info = ctx.store().schema_info();  // one round trip: reachable, and the schema's version
  if (!info.ok()) {
    checks["database"] = "unreachable";
    checks["schema"] = "unknown";
    ready = false;
  } else {
    checks["database"] = "ok";
    if (info->current == info->latest) {
      checks["schema"] = "ok";
    } else {
      // Older: `gpucloud db upgrade` is pending; newer: this replica is older than the schema.
      checks["schema"] = info->current < info->latest ? "behind" : "ahead";
      ready = false;
    }
  }
  // The conductor carries out every boot and delete: a replica whose conductor stopped must
  // not get new requests.
  const bool conductor = ctx.deps.conductor && ctx.deps.conductor->running();
  checks["conductor"] = conductor ? "ok" : "stopped";
  ready = ready && conductor;
  return Reply::ok({{"status", ready ? "ok" : "unavailable"}, {"checks", checks}},
                   ready ? 200 : 503);
}

}  // namespace

std::vector<Route> health_routes(ApiContext& ctx) {
  ApiContext* c = &ctx;
  return {
      {"GET", "/healthz", Service::kPlain, "public", healthz, {}},
      {"GET",
       "/readyz",
       Service::kPlain,
       "public",
       [c](Call& call) { return readyz(*c, call); },
       {}},
  };
}

}  // namespace gpucloud::api

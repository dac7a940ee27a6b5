// Compute v2.1: nova's os-instance-actions, who asked for what on a server. The API records an
// action when it accepts a request (create, delete, stop, start, reboot, lock, unlock, shelve,
// unshelve); the rows outlive the server (2.21: a deleted server's actions stay readable).
#include <spdlog/spdlog.h>

#include "api/compute_impl.h"
#include "api/list_query_impl.h"
#include "api/policy_impl.h"

namespace gpucloud::api {
namespace {

// nova's instance action times: "2026-12-03T07:00:15.000000" (no zone; UTC).
std::string action_time(store::TimePoint t) {
  std::string s = nova_time(t);  // "...T07:00:15Z"
  if (!s.empty() && s.back() == 'Z') s.pop_back();
  return s + ".000000";
}

json action_json(const store::InstanceAction& a, const Microversion& mv) {
  json j = {{"action", a.action},
            {"instance_uuid", a.instance_uuid},
            {"message", a.message ? json(*a.message) : json(nullptr)},
            {"project_id", a.project_id},
            {"request_id", a.request_id},
            {"start_time", action_time(a.start_time)},
            {"user_id", a.user_id}};
  if (mv.at_least(2, 58)) j["updated_at"] = action_time(a.updated_at);
  return j;
}

// The server, deleted ones too from 2.21 (nova reads deleted instances there); another
// project's is 404 as for every server route.
Result<store::Instance> action_server(ApiContext& ctx, const Call& call) {
  const std::string& id = call.param("server_id");
  auto i = ctx.store().get_instance(id);
  if (!i.ok()) return i.error().code == ErrorCode::kNotFound ? server_not_found(id) : i.error();
  if (i->status == store::ServerStatus::kDeleted && !call.microversion.at_least(2, 21)) {
    return server_not_found(id);
  }
  if (!check_owner(call.who(), i->project_id, "Instance " + id).ok()) return server_not_found(id);
  return i;
}

Result<Reply> list_actions(ApiContext& ctx, const Call& call) {
  auto i = action_server(ctx, call);
  if (!i.ok()) return i.error();
  auto actions = ctx.store().list_instance_actions(i->uuid);
  if (!actions.ok()) return actions.error();
  const Microversion& mv = call.microversion;
  // 2.58: limit, marker (a request id), changes-since; 2.66: changes-before.
  std::optional<int64_t> limit;
  std::optional<std::string> marker;
  std::optional<store::TimePoint> since, before;
  if (mv.at_least(2, 58)) {
    // nova's list parameters (list_query.cc); actions take no sort_key.
    auto q = parse_list_query(call, {{}, {{"start_time", true}}, true});
    if (!q.ok()) return q.error();
    limit = q->limit;
    marker = q->marker;
    since = q->changes_since;
  }
  if (mv.at_least(2, 66)) {
    if (auto s = call.query("changes-before")) {
      auto t = parse_iso8601(*s, "changes-before");
      if (!t.ok()) return t.error();
      before = *t;
    }
  }
  if (since && before && *since > *before) {
    return bad_request("The value of changes-since must be less than or equal to changes-before.");
  }
  bool after_marker = !marker;
  if (marker) {
    bool found = false;
    for (const auto& a : *actions) found = found || a.request_id == *marker;
    if (!found) return bad_request("Marker " + *marker + " could not be found.");
  }
  json out = json::array();
  for (const auto& a : *actions) {
    if (!after_marker) {
      after_marker = a.request_id == *marker;
      continue;
    }
    if (since && a.updated_at < *since) continue;
    if (before && a.updated_at > *before) continue;
    if (limit && static_cast<int64_t>(out.size()) >= std::min<int64_t>(*limit, 1000)) break;
    out.push_back(action_json(a, mv));
  }
  return Reply::ok({{"instanceActions", out}});
}

// One action. gpucloud records no per-step events (nova's compute manager writes those as it
// works); `events` is the empty list nova shows for an action whose events are not recorded.
Result<Reply> show_action(ApiContext& ctx, const Call& call) {
  auto i = action_server(ctx, call);
  if (!i.ok()) return i.error();
  auto actions = ctx.store().list_instance_actions(i->uuid);
  if (!actions.ok()) return actions.error();
  const std::string& request_id = call.param("request_id");
  for (const auto& a : *actions) {
    if (a.request_id != request_id) continue;
    json j = action_json(a, call.microversion);
    // Before 2.51 nova shows events to admins only.
    if (call.microversion.at_least(2, 51) || call.who().is_admin()) j["events"] = json::array();
    return Reply::ok({{"instanceAction", j}});
  }
  return Error::not_found("Action for request_id " + request_id + " on instance " + i->uuid +
                          " not found");
}

}  // namespace

void record_instance_action(ApiContext& ctx, const Call& call, const std::string& instance_uuid,
                            const std::string& action) {
  store::InstanceAction a;
  a.instance_uuid = instance_uuid;
  a.request_id = call.req.request_id;
  a.action = action;
  a.user_id = call.who().user_id;
  a.project_id = call.who().project_id;
  a.start_time = a.updated_at = std::chrono::system_clock::now();
  // The request itself has succeeded (its state change is committed); a failure here loses
  // only the record, which the log keeps instead.
  if (auto s = ctx.store().record_instance_action(a); !s.ok()) {
    spdlog::warn("instance {}: action {} of request {} not recorded: {}", instance_uuid, action,
                 a.request_id, s.error().message);
  }
}

std::vector<Route> compute_instance_action_routes(ApiContext& ctx) {
  ApiContext* c = &ctx;
  const std::string base = kCompute + "/servers/{server_id}/os-instance-actions";
  std::vector<Route> r;
  r.push_back({"GET",
               base,
               Service::kCompute,
               "compute:server:read",
               [c](Call& call) { return list_actions(*c, call); },
               {}});
  r.push_back({"GET",
               base + "/{request_id}",
               Service::kCompute,
               "compute:server:read",
               [c](Call& call) { return show_action(*c, call); },
               {}});
  return r;
}

}  // namespace gpucloud::api

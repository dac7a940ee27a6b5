// The agents' API (gpucloud's own, not OpenStack's): under /gpucloud/v1/agent/hosts/{host} an
// agent registers and reports its host, heartbeats, long-polls its tasks, answers them, reads
// the server's view of its host and stores reports (orphans) that admins read. docs/agent.md
// lists every route.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "api/agent_guests_impl.h"
#include "api/compute_impl.h"
#include "api/image_impl.h"
#include "compute/compute.h"
#include "conductor/conductor.h"
#include "core/host_task_notifier.h"

namespace gpucloud::api {
namespace {

const std::string kAgent = "/gpucloud/v1/agent";
// Long polls are parked without a thread (long_poll.h); bounded so that an agent notices a server
// restart quickly and a dead agent's request does not linger.
constexpr int kMaxWaitSeconds = 20;

Status check_host_name(const std::string& host) {
  if (host.empty() || host.size() > 255) return bad_request("host: 1 to 255 characters required");
  return {};
}

json task_json(const store::AgentTask& t) {
  json payload = json::parse(t.payload, nullptr, false);
  return {{"id", t.id},
          {"kind", t.kind},
          {"instance_uuid", t.instance_uuid},
          {"state", store::to_string(t.state)},
          {"payload", payload.is_discarded() ? json::object() : payload},
          {"created_at", iso8601(t.created_at)}};
}

// PUT {host}: {"host": {<host resources>, "doctor_status": "..."}}.
Result<Reply> report_host(ApiContext& ctx, Call& call) {
  const std::string name = call.param("host");
  if (auto s = check_host_name(name); !s.ok()) return s.error();
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto host = body_member(*body, "host");
  if (!host.ok()) return host.error();
  std::string doctor;
  if (host->contains("doctor_status")) {
    if (!(*host)["doctor_status"].is_string()) {
      return bad_request("host.doctor_status: a string is required");
    }
    doctor = (*host)["doctor_status"].get<std::string>();
    host->erase("doctor_status");
  }
  auto resources = compute::host_resources_from_json(host->dump());
  if (!resources.ok()) return bad_request("host." + resources.error().message);
  if (!resources->name.empty() && resources->name != name) {
    return bad_request("host.name: '" + resources->name + "' differs from the URL's '" + name +
                       "'");
  }
  resources->name = name;
  auto cfg = compute_config(ctx);
  const compute::HostRatios ratios{cfg->cpu_allocation_ratio, cfg->ram_allocation_ratio,
                                   cfg->disk_allocation_ratio};
  if (auto s = compute::register_host(*resources, ctx.store(), ratios); !s.ok()) return s.error();
  if (auto s = ctx.store().set_doctor_status(name, doctor); !s.ok()) return s.error();
  auto row = ctx.store().get_compute_host(name);
  if (!row.ok()) return row.error();
  spdlog::info("agent of host {} reported {} vcpus, {} MB, {} PCI devices{}", name,
               resources->vcpus, resources->memory_mb, resources->pci_devices.size(),
               doctor.empty() ? "" : ", doctor: " + doctor);
  return Reply::ok({{"host",
                     {{"name", name},
                      {"id", row->id},
                      {"uuid", row->uuid},
                      {"doctor_status", row->doctor_status},
                      {"service_down_time", cfg->service_down_time}}}});
}

Result<Reply> heartbeat(ApiContext& ctx, Call& call) {
  const std::string name = call.param("host");
  if (auto s = ctx.store().record_heartbeat(name, std::chrono::system_clock::now()); !s.ok()) {
    // kNotFound tells the agent to register again (e.g. after the database was replaced).
    return s.error();
  }
  return Reply::ok({{"service_down_time", compute_config(ctx)->service_down_time}});
}

// Takes up to `max` pending tasks; none yet and time left: a wait (parked, no thread) that the
// host's notification, the database re-check (tasks of another replica) or the deadline ends.
Result<Reply> take_or_wait(ApiContext& ctx, const std::string& host, int max,
                           std::chrono::steady_clock::time_point deadline, bool final) {
  auto tasks = ctx.store().take_agent_tasks(host, max);
  if (!tasks.ok()) return tasks.error();
  if (tasks->empty() && !final && std::chrono::steady_clock::now() < deadline) {
    return Reply::wait_for({host, deadline, [&ctx, host, max, deadline](bool last) {
                              return take_or_wait(ctx, host, max, deadline, last);
                            }});
  }
  json list = json::array();
  for (const auto& t : *tasks) list.push_back(task_json(t));
  return Reply::ok({{"tasks", list}});
}

// GET {host}/tasks?wait=S&max=N: the host's pending tasks, now running; waits up to S seconds
// for one to appear.
Result<Reply> take_tasks(ApiContext& ctx, Call& call) {
  const std::string name = call.param("host");
  int wait = 0, max = 10;
  if (auto w = call.query("wait")) {
    char* end = nullptr;
    long v = std::strtol(w->c_str(), &end, 10);
    if (w->empty() || *end != '\0' || v < 0) return bad_request("wait: a whole number of seconds");
    wait = static_cast<int>(std::min<long>(v, kMaxWaitSeconds));
  }
  if (auto m = call.query("max")) {
    char* end = nullptr;
    long v = std::strtol(m->c_str(), &end, 10);
    if (m->empty() || *end != '\0' || v < 1 || v > 100) return bad_request("max: 1 to 100");
    max = static_cast<int>(v);
  }
  if (auto h = ctx.store().get_compute_host(name); !h.ok()) return h.error();
  // The agent polls only when it holds no task: whatever is still running was lost on the way
  // (e.g. taken by an earlier poll whose agent had already exited) and is handed out again.
  if (auto n = ctx.store().requeue_agent_tasks(name); !n.ok()) {
    return n.error();
  } else if (*n > 0) {
    spdlog::warn("host {}: {} unanswered task(s) handed out again", name, *n);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait);
  return take_or_wait(ctx, name, max, deadline, wait == 0);
}

// GET {host}/tasks/{task_id}: one of the host's tasks, with its state and message. The agent asks
// before a spawn it took in a batch: one the server failed meanwhile (its server deleted) is not
// worth an image download and a guest.
Result<Reply> show_task(ApiContext& ctx, Call& call) {
  auto t = ctx.store().get_agent_task(call.param("task_id"));
  if (!t.ok()) return t.error();
  if (t->host != call.param("host")) {
    return Error::not_found("agent task " + t->id + " not found on host " + call.param("host"));
  }
  json j = task_json(*t);
  j.erase("payload");
  j["message"] = t->message;
  return Reply::ok({{"task", j}});
}

// POST {host}/tasks/{task_id}: {"result": {"succeeded": bool, "message": "..."}}.
Result<Reply> finish_task(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto result = body_member(*body, "result");
  if (!result.ok()) return result.error();
  if (auto s = no_extra_fields(*result, "result", {"succeeded", "message", "details"}); !s.ok())
    return s.error();
  if (!result->contains("succeeded") || !(*result)["succeeded"].is_boolean()) {
    return bad_request("result.succeeded: a boolean is required");
  }
  auto message = string_field(*result, "message", "result");
  if (!message.ok()) return message.error();
  json details = result->value("details", json::object());
  if (!details.is_object()) return bad_request("result.details: an object is required");
  const bool ok = (*result)["succeeded"].get<bool>();
  if (auto s = ctx.store().finish_agent_task(call.param("task_id"), call.param("host"), ok,
                                             message->value_or(""), details.dump());
      !s.ok())
    return s.error();
  if (ctx.deps.conductor) ctx.deps.conductor->agent_task_finished(call.param("task_id"));
  // A request parked on this task's answer (console_output_action) resumes now.
  if (ctx.deps.task_notifier) {
    ctx.deps.task_notifier->notify(std::string(kAgentTaskWaitKey) + call.param("task_id"));
  }
  return Reply::no_content();
}

// GET {host}/view: what the server believes runs on the host, for the agent's orphan check.
Result<Reply> host_view(ApiContext& ctx, Call& call) {
  const std::string name = call.param("host");
  auto host = ctx.store().get_compute_host(name);
  if (!host.ok()) return host.error();
  auto instances = ctx.store().list_host_instances(name);
  if (!instances.ok()) return instances.error();
  // Each guest's firewall as its security groups say now (docs/security_groups.md); null for a
  // server from before them. The agent sets it when it differs from what it set last.
  auto firewalls = compute::host_firewalls(ctx.store(), name);
  if (!firewalls.ok()) return firewalls.error();
  json list = json::array();
  std::map<std::string, std::string> service_urls;
  for (const auto& i : *instances) {
    json one = {{"uuid", i.uuid}, {"status", store::to_string(i.status)}};
    one.update(guest_view_fields(ctx, i, service_urls));
    auto fw = firewalls->find(i.uuid);
    one["firewall"] =
        fw == firewalls->end() ? json(nullptr) : json::parse(compute::firewall_to_json(fw->second));
    list.push_back(std::move(one));
  }
  store::PciDeviceFilter f;
  f.compute_node_id = host->id;
  auto devices = ctx.store().list_pci_devices(f);
  if (!devices.ok()) return devices.error();
  json devs = json::array();
  for (const auto& d : *devices) {
    devs.push_back({{"address", d.address.to_string()},
                    {"vendor_id", d.vendor_id.str()},
                    {"product_id", d.product_id.str()},
                    {"status", store::to_string(d.status)},
                    {"instance_uuid", d.instance_uuid ? json(*d.instance_uuid) : json(nullptr)}});
  }
  return Reply::ok(
      {{"instances", list}, {"pci_devices", devs}, {"probe", guest_probe_settings(ctx)}});
}

// PUT {host}/reports/{kind}: {"report": {...}}; the last one per host and kind is kept.
Result<Reply> put_report(ApiContext& ctx, Call& call) {
  const std::string name = call.param("host");
  const std::string kind = call.param("kind");
  if (kind != "orphans") return Error::not_found("Unknown report kind '" + kind + "'");
  if (auto h = ctx.store().get_compute_host(name); !h.ok()) return h.error();
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto report = body_member(*body, "report");
  if (!report.ok()) return report.error();
  store::AgentReport r{name, kind, report->dump(), std::chrono::system_clock::now()};
  if (auto s = ctx.store().put_agent_report(r); !s.ok()) return s.error();
  return Reply::no_content();
}

Result<Reply> list_reports(ApiContext& ctx, const std::string& host) {
  auto reports = ctx.store().list_agent_reports(host);
  if (!reports.ok()) return reports.error();
  json list = json::array();
  for (const auto& r : *reports) {
    json body = json::parse(r.report, nullptr, false);
    list.push_back({{"host", r.host},
                    {"kind", r.kind},
                    {"reported_at", iso8601(r.reported_at)},
                    {"report", body.is_discarded() ? json::object() : body}});
  }
  return Reply::ok({{"reports", list}});
}

// POST {host}/release-claims: {"instances": [uuid...]} from an agent repairing leaked claims.
// An instance the server still believes runs on this host lost its domain: it goes to ERROR
// with a fault saying so before its devices are released; BUILD instances are left alone.
Result<Reply> release_claims(ApiContext& ctx, Call& call) {
  const std::string name = call.param("host");
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (!body->contains("instances") || !(*body)["instances"].is_array()) {
    return bad_request("instances: a list of instance uuids is required");
  }
  json released = json::array(), skipped = json::array();
  for (size_t k = 0; k < (*body)["instances"].size(); ++k) {
    const json& u = (*body)["instances"][k];
    if (!u.is_string()) return bad_request(fmt::format("instances[{}]: a string is required", k));
    const std::string uuid = u.get<std::string>();
    store::PciDeviceFilter f;
    f.instance_uuid = uuid;
    auto devices = ctx.store().list_pci_devices(f);
    if (!devices.ok()) return devices.error();
    auto host = ctx.store().get_compute_host(name);
    if (!host.ok()) return host.error();
    bool on_host = false;
    for (const auto& d : *devices) on_host = on_host || d.compute_node_id == host->id;
    if (!on_host) {
      skipped.push_back({{"instance_uuid", uuid}, {"reason", "holds no device on this host"}});
      continue;
    }
    auto inst = ctx.store().get_instance(uuid);
    if (inst.ok() && inst->status == store::ServerStatus::kBuild) {
      skipped.push_back({{"instance_uuid", uuid}, {"reason", "still building"}});
      continue;
    }
    if (inst.ok() && inst->status != store::ServerStatus::kDeleted && inst->host == name) {
      store::InstanceFault fault;
      fault.code = 500;
      fault.message = "The domain of instance " + uuid + " is gone from host " + name +
                      "; its devices were released by the agent's repair.";
      fault.created_at = std::chrono::system_clock::now();
      // A compare-and-set: a server deleted (or being built) meanwhile is not written back.
      store::InstanceTransition err;
      err.from = {store::ServerStatus::kActive, store::ServerStatus::kShutoff,
                  store::ServerStatus::kError};
      err.status = store::ServerStatus::kError;
      err.vm_state = "error";
      err.power = store::PowerState::kNoState;
      err.fault = fault;
      if (auto s = ctx.store().transition_instance(uuid, err);
          !s.ok() && s.error().code == ErrorCode::kConflict) {
        skipped.push_back({{"instance_uuid", uuid}, {"reason", s.error().message}});
        continue;
      }
    }
    // Checked again where the claims are released: a rebuild or unshelve begun meanwhile keeps
    // them.
    if (auto s = ctx.store().release_idle_claims(uuid); !s.ok()) {
      if (s.error().code != ErrorCode::kConflict) return s.error();
      skipped.push_back({{"instance_uuid", uuid}, {"reason", s.error().message}});
      continue;
    }
    spdlog::warn("agent of host {} released the leaked claims of {}", name, uuid);
    released.push_back(uuid);
  }
  return Reply::ok({{"released", released}, {"skipped", skipped}});
}

}  // namespace

std::vector<Route> agent_routes(ApiContext& ctx) {
  ApiContext* c = &ctx;
  const std::string one = kAgent + "/hosts/{host}";
  std::vector<Route> r;
  auto add = [&](const char* method, std::string pattern, const char* policy, Handler h) {
    r.push_back({method, std::move(pattern), Service::kPlain, policy, std::move(h), {}});
  };
  add("PUT", one, "gpucloud:agent", [c](Call& call) { return report_host(*c, call); });
  add("POST", one + "/heartbeat", "gpucloud:agent",
      [c](Call& call) { return heartbeat(*c, call); });
  add("GET", one + "/tasks", "gpucloud:agent", [c](Call& call) { return take_tasks(*c, call); });
  add("GET", one + "/tasks/{task_id}", "gpucloud:agent",
      [c](Call& call) { return show_task(*c, call); });
  add("POST", one + "/tasks/{task_id}", "gpucloud:agent",
      [c](Call& call) { return finish_task(*c, call); });
  add("GET", one + "/view", "gpucloud:agent", [c](Call& call) { return host_view(*c, call); });
  add("PUT", one + "/guests", "gpucloud:agent",
      [c](Call& call) { return report_guests(*c, call); });
  add("PUT", one + "/reports/{kind}", "gpucloud:agent",
      [c](Call& call) { return put_report(*c, call); });
  add("POST", one + "/release-claims", "gpucloud:agent",
      [c](Call& call) { return release_claims(*c, call); });
  // An agent caches the base image of a spawn it was given; images of every project, as the
  // spawn's instance may be any project's.
  add("GET", kAgent + "/images/{image_id}/file", "gpucloud:agent", [c](Call& call) {
    auto img = c->store().get_image(call.param("image_id"));
    if (!img.ok()) return Result<Reply>(img.error());
    return image::stream_data(*c, call, *img);
  });
  // A shelve's snapshot, streamed to disk as any image upload (image_data.cc says who may).
  Route snapshot{"PUT", one + "/snapshots/{image_id}", Service::kPlain, "gpucloud:agent", {}, {}};
  snapshot.upload_handler = [c](Call& call) { return image::begin_snapshot_upload(*c, call); };
  r.push_back(std::move(snapshot));
  add("GET", one + "/reports", "compute:admin",
      [c](Call& call) { return list_reports(*c, call.param("host")); });
  add("GET", kAgent + "/reports", "compute:admin", [c](Call&) { return list_reports(*c, ""); });
  return r;
}

}  // namespace gpucloud::api

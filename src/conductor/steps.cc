// The steps of each task (docs/conductor.md draws them). Each step is idempotent: a replica that
// takes a task over after a crash runs the step it finds in the row again. Every change of the
// instance is a compare-and-set on the state the step expects; when it fails because the instance
// was deleted, the step undoes what the task did (the guest, the claim) instead of overwriting.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "conductor/conductor_impl.h"

namespace gpucloud::conductor {
namespace {

using Next = Conductor::Impl::Next;
using store::ServerStatus;

std::string random_uuid() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const uint64_t a = rng(), b = rng();
  return fmt::format("{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xffff, a & 0xfff,
                     0x8000 | ((b >> 48) & 0x3fff), b & 0xffffffffffffULL);
}

// The claim of one placement as the store takes it: the host's resources and, per alias, the
// requested number of matching devices.
store::ClaimRequest claim_request(const store::Instance& inst, const scheduler::RequestSpec& spec,
                                  const scheduler::Placement& placement) {
  store::ClaimRequest req;
  req.instance_uuid = inst.uuid;
  req.project_id = inst.project_id;
  req.host = placement.host;
  req.resources.vcpus = static_cast<int>(placement.resources.vcpus);
  req.resources.memory_mb = placement.resources.memory_mb;
  req.resources.disk_gb = placement.resources.disk_gb;
  // The scheduler's devices, request after request: a multi-device request claims exactly the
  // ones it chose (one NVLink partition, PCIe switch or NUMA node); a single device is any free
  // one, so that boots on one host do not queue for the same device.
  if (spec.group) req.server_group = spec.group->uuid;
  size_t next = 0;
  for (const auto& pr : spec.pci_requests) {
    store::DeviceRequest dr;
    dr.alias = pr.alias;
    dr.request_id = random_uuid();
    dr.count = pr.count;
    for (const auto& a : pr.specs) dr.matches.push_back({a.vendor_id, a.product_id, a.device_type});
    if (pr.count > 1 && next + pr.count <= placement.pci_devices.size()) {
      dr.addresses.assign(placement.pci_devices.begin() + next,
                          placement.pci_devices.begin() + next + pr.count);
    }
    next += pr.count;
    req.devices.push_back(std::move(dr));
  }
  return req;
}

// A boot builds from BUILD/scheduling; an unshelve rebuilds a SHELVED_OFFLOADED server, from
// task_state unshelving, on whatever host now fits (as nova's unshelve of an offloaded server).
bool is_unshelve(const store::LifecycleTask& t) { return t.kind == "unshelve"; }
ServerStatus building_status(const store::LifecycleTask& t) {
  return is_unshelve(t) ? ServerStatus::kShelvedOffloaded : ServerStatus::kBuild;
}
const char* first_task_state(const store::LifecycleTask& t) {
  return is_unshelve(t) ? "unshelving" : "scheduling";
}

}  // namespace

// The image a boot starts from: the server's, or for an unshelve its shelve's snapshot.
Result<store::Image> Conductor::Impl::boot_image(const store::LifecycleTask& t,
                                                 const store::Instance& inst) {
  if (!is_unshelve(t)) return store.get_image(inst.image_id);
  auto id = store.system_metadata(inst.uuid, "shelved_image_id");
  if (!id.ok()) return id.error();
  if (!*id || (*id)->empty()) {
    return Error::not_found("Instance " + inst.uuid + " has no shelved snapshot image.");
  }
  return store.get_image(**id);
}

// ---- boot: schedule -> spawn (-> spawn_wait) -> active; undo_destroy -> undo_release ----

Next Conductor::Impl::step_boot(store::LifecycleTask& t) {
  if (t.step == "undo_destroy") return destroy_guest(t, "undo_destroy_wait", "undo_release");
  if (t.step == "undo_destroy_wait") {
    auto a = take_answer(t);
    if (!a) return Next::kPark;
    if (a->state != store::AgentTaskState::kSucceeded) {
      spdlog::warn("undoing the boot of {}: destroy on {} failed: {}", t.instance_uuid,
                   t.host.value_or("?"), a->message);
    }
    t.agent_task_id.reset();
    t.step = "undo_release";
    return Next::kContinue;
  }
  if (t.step == "undo_release") {
    if (auto s = store.release_claims(t.instance_uuid); !s.ok()) return retry_later(t);
    if (t.host) {
      fleet.forget(*t.host);
      start_cleaning(*t.host);
    }
    ++boots_undone;
    spdlog::info("boot of {} undone: the server was deleted while it was built", t.instance_uuid);
    return Next::kDone;
  }

  auto inst = store.get_instance(t.instance_uuid);
  if (!inst.ok()) {
    if (inst.error().code != ErrorCode::kNotFound) return retry_later(t);
    return Next::kDone;
  }
  if (inst->status == ServerStatus::kDeleted) {
    // Delete won. The guest exists only if the spawn was sent.
    const bool spawned = t.step == "spawn_wait" || (t.step == "spawn" && t.attempts > 1);
    if (!forget_call(t)) return retry_later(t);  // the spawn's answer no longer matters
    t.step = spawned ? "undo_destroy" : "undo_release";
    return Next::kContinue;
  }
  // Finished by an earlier owner (an unshelve that failed back to SHELVED_OFFLOADED: no task). An
  // unshelve that died between its activation and deleting the snapshot deletes it now.
  if (inst->status != building_status(t)) {
    if (is_unshelve(t) && inst->status == ServerStatus::kActive) forget_snapshot(inst->uuid);
    return Next::kDone;
  }
  if (is_unshelve(t) && !inst->task_state) return Next::kDone;

  if (t.step == "schedule") {
    if (inst->task_state == "spawning" && inst->host) {
      // The move to spawning committed although this replica saw an error (a COMMIT whose
      // outcome was unknown): the claim on that host is made; go on with the spawn.
      t.host = inst->host;
      t.step = "spawn";
      return Next::kContinue;
    }
    return schedule(t, *inst);
  }

  if (t.step == "spawn") {
    const std::string host = t.host.value_or("");
    auto flavor = store.get_flavor(inst->flavor_id);
    if (!flavor.ok())
      return fail_boot(t, "Flavor " + inst->flavor_id + " could not be found.", 404);
    auto image = boot_image(t, *inst);
    if (!image.ok()) {
      if (image.error().code != ErrorCode::kNotFound) return retry_later(t);
      return fail_boot(t, image.error().message, 404);
    }
    store::PciDeviceFilter mine;
    mine.instance_uuid = inst->uuid;
    auto devices = store.list_pci_devices(mine);
    if (!devices.ok()) {
      return fail_boot(t, "Build of instance aborted: " + devices.error().message, 500);
    }
    // The guest's firewall goes with the spawn: the guest must never run without it.
    auto firewall = compute::guest_firewall(store, inst->uuid);
    if (!firewall.ok()) return retry_later(t);
    auto reserved = compute::reserved_guest_addresses(store, host);
    if (!reserved.ok()) return retry_later(t);
    if (!is_local(host)) {
      if (!agent_host_up(host)) {
        // The host went down after the view last saw it up (the view re-reads liveness every
        // second): give the claim back and schedule again, as nova reschedules a failed build.
        spdlog::info("boot of {}: host {} went down; scheduling again", inst->uuid, host);
        if (auto s = store.release_claims(inst->uuid, false); !s.ok()) return retry_later(t);
        fleet.forget(host);
        if (auto n = fleet.refresh(); n.ok()) fleet_reloads += *n;
        store::InstanceTransition back;
        back.from = {building_status(t)};
        back.from_task = "spawning";
        back.task_state = first_task_state(t);
        if (auto s = store.transition_instance(inst->uuid, back); !s.ok()) {
          return s.error().code == ErrorCode::kConflict ? Next::kDone : retry_later(t);
        }
        t.host.reset();
        t.step = "schedule";
        return Next::kContinue;
      }
      t.step = "spawn_wait";
      return call_agent(
          t, "spawn",
          compute::spawn_payload(*inst, *flavor, *image, *devices, *firewall, *reserved));
    }
    // In-process host: the call is quick and local. A resumed or retried spawn (activation
    // failed on a database error) may find its guest there.
    (void)local->destroy(host, inst->uuid);
    if (auto s = spawn_local(host, *inst, *flavor, *image, *devices, *firewall, *reserved);
        !s.ok()) {
      return fail_boot(t, "Build of instance " + inst->uuid + " aborted: " + s.error().message,
                       500);
    }
    std::string ip;
    if (auto a = local->guest_address(host, inst->uuid); a.ok()) ip = *a;
    t.step = "active";
    return activate(t, ip);
  }

  if (t.step == "spawn_wait") {
    auto a = take_answer(t);
    if (!a) return Next::kPark;
    if (a->state != store::AgentTaskState::kSucceeded) {
      return fail_boot(t,
                       "Build of instance " + inst->uuid + " aborted: host " + t.host.value_or("") +
                           ": spawn failed: " + a->message,
                       500);
    }
    // The agent sends the guest's address with its answer; none leaves readiness waiting.
    auto details = nlohmann::json::parse(a->result, nullptr, false);
    std::string ip = details.is_object() ? details.value("ip_address", "") : "";
    t.step = "active";
    return activate(t, ip);
  }

  spdlog::error("conductor: boot of {} at unknown step '{}'", t.instance_uuid, t.step);
  return fail_boot(t, "Build of instance aborted: internal error", 500);
}

Next Conductor::Impl::schedule(store::LifecycleTask& t, const store::Instance& inst) {
  ++scheduling_attempts;
  // A task taken over may hold the claim its first owner made before dying.
  if (t.attempts > 1) (void)store.release_claims(inst.uuid, false);  // no guest had it yet
  auto flavor = store.get_flavor(inst.flavor_id);
  if (!flavor.ok()) return fail_boot(t, "Flavor " + inst.flavor_id + " could not be found.", 404);
  auto image = boot_image(t, inst);
  if (!image.ok()) {
    if (image.error().code != ErrorCode::kNotFound) return retry_later(t);
    return fail_boot(t, image.error().message, 404);
  }
  auto cfg = config();
  auto spec = request_spec_for(*flavor, *image, inst.availability_zone, *cfg);
  if (!spec.ok()) return fail_boot(t, spec.error().message, 400);
  if (auto h = inst.system_metadata.find("requested_host"); h != inst.system_metadata.end()) {
    spec->requested_host = h->second;  // an admin's (2.74 boot, 2.91 unshelve); "" for none
    // The legacy "zone:host" of a boot; an unshelve clears it.
    auto forced = inst.system_metadata.find("force_host");
    spec->force_host =
        !h->second.empty() && forced != inst.system_metadata.end() && forced->second == "true";
  }
  // The guest network the boot asked for by uuid, kept by name (the API resolved it).
  if (auto n = inst.system_metadata.find("network"); n != inst.system_metadata.end()) {
    spec->network = n->second;
  }
  scheduler::SchedulerOptions opts = scheduler::options_from(*cfg);
  auto sched = scheduler::Scheduler::create(opts);
  if (!sched.ok()) return fail_boot(t, "Scheduler configuration: " + sched.error().message, 500);
  // The server group the instance was booted into, if any: where its other servers are is read
  // again every round, since the members being scheduled beside this one move it.
  auto group = store.server_group_of(inst.uuid);
  if (!group.ok()) return retry_later(t);
  if (*group) {
    // As nova: a policy nobody enforces fails the boot rather than being ignored.
    const std::string& policy = (*group)->policy;
    const char* needed = policy == "affinity"        ? "ServerGroupAffinityFilter"
                         : policy == "anti-affinity" ? "ServerGroupAntiAffinityFilter"
                         : policy == "soft-affinity" ? "ServerGroupSoftAffinityWeigher"
                                                     : "ServerGroupSoftAntiAffinityWeigher";
    const auto& names = policy.rfind("soft-", 0) == 0 ? opts.weighers : opts.enabled_filters;
    if (std::find(names.begin(), names.end(), needed) == names.end()) {
      ++scheduling_failures;
      return fail_boot(t,
                       "No valid host was found. " + std::string(needed) +
                           " not configured (server group " + (*group)->uuid + ", policy " +
                           policy + ")",
                       500);
    }
  }
  auto read_group = [&]() -> bool {
    if (!*group) return true;
    auto hosts = store.server_group_hosts((*group)->uuid, inst.uuid);
    if (!hosts.ok()) return false;
    spec->group = scheduler::GroupSpec{(*group)->uuid, (*group)->policy,
                                       (*group)->max_server_per_host.value_or(1), *hosts};
    return true;
  };

  std::string fault;
  std::string lost;
  // Lost races are contention, not exhaustion: re-read what changed and try again, a few rounds,
  // after a short random pause so that replicas whose views chose alike do not collide in step
  // again. A boot fails with "no valid host" only when the refreshed view has no candidate.
  constexpr int kRounds = 6;
  thread_local std::mt19937 rng{std::random_device{}()};
  for (int round = 0; round < kRounds; ++round) {
    if (round > 0) {
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 5 * round)(rng)));
      if (auto n = fleet.refresh(); n.ok()) fleet_reloads += *n;
    }
    if (!read_group()) return retry_later(t);
    scheduler::Selection sel = fleet.select(*sched, *spec);
    if (!sel.ok() || sel.candidates.empty() || sel.candidates.front().empty()) {
      fault = sel.fault.empty() ? "no candidate host" : sel.fault;
      if (round == 0) continue;
      break;
    }
    const auto& candidates = sel.candidates.front();
    for (size_t k = 0; k < candidates.size(); ++k) {
      const auto& placement = candidates[k];
      if (k > 0) fleet.reserve(placement);
      auto claimed = store.claim(claim_request(inst, *spec, placement));
      if (!claimed.ok()) {
        fleet.forget(placement.host);
        if (claimed.error().code == ErrorCode::kConflict) {
          ++claims_retried;
          lost += (lost.empty() ? "" : ", ") + placement.host;
          continue;
        }
        if (claimed.error().code == ErrorCode::kForbidden) {
          ++scheduling_failures;
          return fail_boot(t, claimed.error().message, 403);  // quota: no host can help
        }
        return fail_boot(t, "Build of instance aborted: " + claimed.error().message, 500);
      }
      // Claimed. The instance must still be the boot we scheduled: a DELETE in between wins.
      store::InstanceTransition tr;
      tr.from = {building_status(t)};
      tr.from_task = first_task_state(t);
      tr.task_state = "spawning";
      tr.host = placement.host;
      if (auto s = store.transition_instance(inst.uuid, tr); !s.ok()) {
        if (s.error().code != ErrorCode::kConflict) {
          // A database failure may hide a commit: the claim stays if the move did happen.
          auto now = store.get_instance(inst.uuid);
          if (!now.ok()) return retry_later(t);
          if (now->status == building_status(t) && now->task_state == "spawning" &&
              now->host == placement.host) {
            t.host = placement.host;
            t.step = "spawn";
            return Next::kContinue;
          }
        }
        (void)store.release_claims(inst.uuid, false);
        fleet.forget(placement.host);
        if (s.error().code == ErrorCode::kConflict) {
          ++boots_undone;
          return Next::kDone;
        }
        return retry_later(t);
      }
      t.host = placement.host;
      t.step = "spawn";
      return Next::kContinue;
    }
    fault = "lost the race for every candidate host (" + lost + ")";
  }
  ++scheduling_failures;
  return fail_boot(t, "No valid host was found. " + fault, 500);
}

Next Conductor::Impl::activate(store::LifecycleTask& t, const std::string& ip) {
  if (auto s = store.allocate_claims(t.instance_uuid); !s.ok()) {
    return fail_boot(t, "Build of instance aborted: " + s.error().message, 500);
  }
  store::InstanceTransition tr;
  tr.from = {building_status(t)};
  tr.from_task = "spawning";
  tr.status = ServerStatus::kActive;
  tr.vm_state = "active";
  tr.task_state = std::nullopt;
  tr.power = store::PowerState::kRunning;
  tr.ip_address = ip;
  tr.stamp_launched = true;
  if (auto s = store.transition_instance(t.instance_uuid, tr); s.ok()) {
    if (is_unshelve(t)) forget_snapshot(t.instance_uuid);  // nova deletes it once unshelved
    return Next::kDone;
  } else if (s.error().code != ErrorCode::kConflict) {
    // The database failed (a node restarting, a COMMIT with unknown outcome): the spawn's answer
    // is read again and this step runs again. Undoing here would destroy a healthy guest.
    return retry_later(t);
  }
  auto inst = store.get_instance(t.instance_uuid);
  if (!inst.ok() && inst.error().code != ErrorCode::kNotFound) return retry_later(t);
  if (inst.ok() && inst->status == ServerStatus::kActive) {  // resumed
    if (is_unshelve(t)) forget_snapshot(t.instance_uuid);
    return Next::kDone;
  }
  // Deleted while it spawned (or changed by someone else): the guest goes, then the claim.
  t.step = "undo_destroy";
  return Next::kContinue;
}

Next Conductor::Impl::fail_boot(store::LifecycleTask& t, const std::string& message, int code) {
  // The claim must not outlive the boot: on a database error the step runs again. Once past
  // scheduling a guest may have touched the GPUs: they are cleaned.
  const bool used = t.step != "schedule";
  if (auto s = store.release_claims(t.instance_uuid, used); !s.ok()) return retry_later(t);
  if (t.host) {
    fleet.forget(*t.host);
    if (used) start_cleaning(*t.host);
  }
  store::InstanceTransition tr;
  tr.from = {building_status(t)};
  tr.status = ServerStatus::kError;
  tr.vm_state = "error";
  tr.task_state = std::nullopt;
  tr.power = store::PowerState::kNoState;
  if (is_unshelve(t)) {
    // As nova: a failed unshelve leaves the server shelved (with the fault), its snapshot kept
    // for the next try.
    tr.status = ServerStatus::kShelvedOffloaded;
    tr.vm_state = "shelved_offloaded";
    tr.power = store::PowerState::kShutdown;
    tr.clear_host = true;
  }
  store::InstanceFault f;
  f.code = code;
  f.message = message;
  f.created_at = std::chrono::system_clock::now();
  tr.fault = f;
  // kConflict: deleted meanwhile, and nothing is left to show the fault on.
  (void)store.transition_instance(t.instance_uuid, tr);
  spdlog::info("{} of {} failed: {}", t.kind, t.instance_uuid, message);
  return Next::kDone;
}

Next Conductor::Impl::destroy_guest(store::LifecycleTask& t, const std::string& wait_step,
                                    const std::string& next_step) {
  const std::string host = t.host.value_or("");
  t.step = next_step;
  if (host.empty()) return Next::kContinue;
  if (is_local(host)) {
    if (auto s = local->destroy(host, t.instance_uuid);
        !s.ok() && s.error().code != ErrorCode::kNotFound) {
      spdlog::warn("destroy of {} on {}: {}", t.instance_uuid, host, s.error().message);
    }
    return Next::kContinue;
  }
  if (!agent_host_up(host)) {
    // nova's local delete: the database forgets the guest now; the agent reports the domain
    // as an orphan when it returns (and removes it when told to repair).
    spdlog::warn("destroy of {}: host {} is down; deleting from the database only", t.instance_uuid,
                 host);
    return Next::kContinue;
  }
  t.step = wait_step;
  return call_agent(t, "destroy", "{}");
}

// ---- delete: destroy (-> destroy_wait) -> release ----

Next Conductor::Impl::step_delete(store::LifecycleTask& t) {
  if (t.step == "destroy") return destroy_guest(t, "destroy_wait", "release");
  if (t.step == "destroy_wait") {
    auto a = take_answer(t);
    if (!a) return Next::kPark;
    if (a->state != store::AgentTaskState::kSucceeded) {
      spdlog::warn(
          "delete of {}: destroy on {} failed: {}; releasing its claims (the agent "
          "reports the domain as an orphan if it is still there)",
          t.instance_uuid, t.host.value_or("?"), a->message);
    }
    t.agent_task_id.reset();
    t.step = "release";
    return Next::kContinue;
  }
  if (t.step == "release") {
    if (auto s = store.release_claims(t.instance_uuid); !s.ok()) return retry_later(t);
    if (t.host) {
      fleet.forget(*t.host);
      start_cleaning(*t.host);
    }
    return Next::kDone;
  }
  spdlog::error("conductor: delete of {} at unknown step '{}'", t.instance_uuid, t.step);
  t.step = "release";
  return Next::kContinue;
}

// ---- stop, start, reboot: call (-> call_wait) ----

namespace {

// The task_state an action holds while it runs (nova's task_states), and where it ends.
struct PowerAction {
  const char* task_state;
  ServerStatus status;
  const char* vm_state;
  store::PowerState power;
};
PowerAction power_action(const std::string& kind) {
  if (kind == "stop")
    return {"powering-off", ServerStatus::kShutoff, "stopped", store::PowerState::kShutdown};
  if (kind == "start")
    return {"powering-on", ServerStatus::kActive, "active", store::PowerState::kRunning};
  if (kind == "reboot")
    return {"rebooting", ServerStatus::kActive, "active", store::PowerState::kRunning};
  return {"rebooting_hard", ServerStatus::kActive, "active", store::PowerState::kRunning};
}

}  // namespace

const char* power_task_state(const std::string& kind) { return power_action(kind).task_state; }

Next Conductor::Impl::step_power(store::LifecycleTask& t) {
  const PowerAction act = power_action(t.kind);
  const std::string host = t.host.value_or("");
  Status outcome;
  if (t.step == "call") {
    auto inst = store.get_instance(t.instance_uuid);
    if (!inst.ok() || inst->status == ServerStatus::kDeleted) return Next::kDone;
    if (is_local(host)) {
      if (t.kind == "stop") {
        outcome = local->power_off(host, t.instance_uuid);
      } else if (t.kind == "start") {
        outcome = local->power_on(host, t.instance_uuid);
      } else {
        outcome = local->reboot(host, t.instance_uuid, t.kind == "reboot_hard");
      }
    } else if (!agent_host_up(host)) {
      outcome = Error::unavailable("Compute host " + host +
                                   " is down: its agent has not reported for longer than "
                                   "service_down_time");
    } else {
      t.step = "call_wait";
      const std::string kind = t.kind == "stop"    ? "power_off"
                               : t.kind == "start" ? "power_on"
                                                   : t.kind;
      return call_agent(t, kind, "{}");
    }
  } else if (t.step == "call_wait") {
    auto a = take_answer(t);
    if (!a) return Next::kPark;
    if (a->state != store::AgentTaskState::kSucceeded) {
      outcome = Error::unavailable("host " + host + ": " + t.kind + " failed: " + a->message);
    }
  } else {
    spdlog::error("conductor: {} of {} at unknown step '{}'", t.kind, t.instance_uuid, t.step);
    outcome = Error::invalid("unknown step");
  }
  store::InstanceTransition tr;
  tr.from = {ServerStatus::kActive, ServerStatus::kShutoff, ServerStatus::kError};
  tr.from_task = act.task_state;
  tr.task_state = std::nullopt;
  if (outcome.ok()) {
    tr.status = act.status;
    tr.vm_state = act.vm_state;
    tr.power = act.power;
  } else {
    // As nova: the action failed, the server stays as it was, and the error is logged.
    spdlog::warn("{} of {} failed: {}", t.kind, t.instance_uuid, outcome.error().message);
  }
  (void)store.transition_instance(t.instance_uuid, tr);  // kConflict: deleted meanwhile
  return Next::kDone;
}

// ---- shelve: call (-> snapshot_wait) -> offload (-> offload_wait) -> release ----

Next Conductor::Impl::step_shelve(store::LifecycleTask& t) {
  const std::string host = t.host.value_or("");
  if (t.step == "call") {
    auto inst = store.get_instance(t.instance_uuid);
    if (!inst.ok()) {
      return inst.error().code == ErrorCode::kNotFound ? Next::kDone : retry_later(t);
    }
    // Deleted meanwhile (its delete task removes the guest and the claims), or already done.
    if (inst->status == ServerStatus::kDeleted || inst->task_state != "shelving") {
      return Next::kDone;
    }
    auto id = store.system_metadata(t.instance_uuid, "shelved_image_id");
    if (!id.ok()) return retry_later(t);
    if (!*id || (*id)->empty()) return shelve_failed(t, "no snapshot image was recorded");
    const std::string image_id = **id;
    auto image = store.get_image(image_id);
    if (!image.ok()) {
      if (image.error().code != ErrorCode::kNotFound) return retry_later(t);
      return shelve_failed(t, "its snapshot image " + image_id + " was deleted");
    }
    if (image->status == store::ImageStatus::kActive) {  // resumed after the snapshot was stored
      t.step = "offload";
      return Next::kContinue;
    }
    if (is_local(host)) {
      if (!options.import_image) return shelve_failed(t, "this server cannot store snapshots");
      const auto path = std::filesystem::temp_directory_path() / ("gpucloud-snapshot-" + image_id);
      Status s = compute::snapshot_guest(*local, host, t.instance_uuid, path.string());
      if (s.ok()) s = options.import_image(image_id, path.string());
      std::error_code ec;
      std::filesystem::remove(path, ec);
      if (!s.ok()) return shelve_failed(t, s.error().message);
      t.step = "offload";
      return Next::kContinue;
    }
    if (!agent_host_up(host)) {
      return shelve_failed(t, "compute host " + host +
                                  " is down: its agent has not reported for longer than "
                                  "service_down_time");
    }
    t.step = "snapshot_wait";
    return call_agent(t, "snapshot", nlohmann::json{{"image_id", image_id}}.dump());
  }
  if (t.step == "snapshot_wait") {
    auto a = take_answer(t);
    if (!a) return Next::kPark;
    t.agent_task_id.reset();
    if (a->state != store::AgentTaskState::kSucceeded) {
      // An agent that died after its upload and ran the task again finds the image written
      // (409): only this host's agent could write it, for this shelve, so the snapshot is done.
      auto id = store.system_metadata(t.instance_uuid, "shelved_image_id");
      if (!id.ok()) return retry_later(t);
      auto image = *id ? store.get_image(**id) : Result<store::Image>(Error::not_found(""));
      if (!image.ok() || image->status != store::ImageStatus::kActive) {
        return shelve_failed(t, "host " + host + ": snapshot failed: " + a->message);
      }
      spdlog::info("shelve of {}: the snapshot failed ({}) but its image was stored; going on",
                   t.instance_uuid, a->message);
    }
    t.step = "offload";
    return Next::kContinue;
  }
  if (t.step == "offload") return destroy_guest(t, "offload_wait", "release");
  if (t.step == "offload_wait") {
    auto a = take_answer(t);
    if (!a) return Next::kPark;
    if (a->state != store::AgentTaskState::kSucceeded) {
      spdlog::warn(
          "shelve of {}: destroy on {} failed: {}; offloading anyway (the agent reports the "
          "domain as an orphan if it is still there)",
          t.instance_uuid, host, a->message);
    }
    t.agent_task_id.reset();
    t.step = "release";
    return Next::kContinue;
  }
  if (t.step == "release") {
    // The guest is gone: its GPUs go to cleaning and its host's resources are free, as nova's
    // shelve offload gives them back.
    if (auto s = store.release_claims(t.instance_uuid); !s.ok()) return retry_later(t);
    if (!host.empty()) {
      fleet.forget(host);
      start_cleaning(host);
    }
    store::InstanceTransition tr;
    tr.from = {ServerStatus::kActive, ServerStatus::kShutoff};
    tr.from_task = "shelving";
    tr.status = ServerStatus::kShelvedOffloaded;
    tr.vm_state = "shelved_offloaded";
    tr.power = store::PowerState::kShutdown;
    tr.task_state = std::nullopt;
    tr.clear_host = true;
    if (auto s = store.transition_instance(t.instance_uuid, tr);
        !s.ok() && s.error().code != ErrorCode::kConflict) {
      return retry_later(t);
    }  // kConflict: deleted meanwhile; its delete task found nothing left to do
    return Next::kDone;
  }
  spdlog::error("conductor: shelve of {} at unknown step '{}'", t.instance_uuid, t.step);
  return shelve_failed(t, "internal error");
}

Next Conductor::Impl::shelve_failed(store::LifecycleTask& t, const std::string& message) {
  // As nova: the server stays as it was (a guest the snapshot powered off is back on), the
  // error is logged, and the snapshot image goes.
  spdlog::warn("shelve of {} failed: {}", t.instance_uuid, message);
  forget_snapshot(t.instance_uuid);
  store::InstanceTransition tr;
  tr.from = {ServerStatus::kActive, ServerStatus::kShutoff};
  tr.from_task = "shelving";
  tr.task_state = std::nullopt;
  store::InstanceFault f;
  f.code = 500;
  f.message = "Shelve of instance " + t.instance_uuid + " failed: " + message;
  f.created_at = std::chrono::system_clock::now();
  tr.fault = f;
  if (auto s = store.transition_instance(t.instance_uuid, tr);
      !s.ok() && s.error().code != ErrorCode::kConflict) {
    return retry_later(t);
  }
  return Next::kDone;
}

void Conductor::Impl::forget_snapshot(const std::string& instance_uuid) {
  auto id = store.system_metadata(instance_uuid, "shelved_image_id");
  if (!id.ok() || !*id) return;
  if (!(*id)->empty() && options.delete_image) {
    if (auto s = options.delete_image(**id); !s.ok()) {
      spdlog::warn("instance {}: its shelve snapshot image {} stays: {}", instance_uuid, **id,
                   s.error().message);
      return;
    }
  }
  (void)store.set_system_metadata(instance_uuid, "shelved_image_id", std::nullopt);
}

}  // namespace gpucloud::conductor

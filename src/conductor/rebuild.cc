// nova's rebuild: the guest is destroyed and spawned again on the same host, with the same
// claimed GPUs, from the image the API recorded (the same one, or a new one).
//   call: destroy (-> destroy_wait) -> spawn (-> spawn_wait) -> finish (-> stop_wait)
// The API set task_state "rebuilding"; finish clears it: ACTIVE, or SHUTOFF again (powered off
// after the spawn) when the server was stopped, as nova does. A failed spawn leaves the server in
// ERROR with the reason as its fault, no guest, no claims and no host (its GPUs go back through
// cleaning, as after a failed boot). A delete during the rebuild wins, and, as for a boot, the
// rebuild undoes its own work (the delete makes no task of its own: Store::begin_delete): whatever
// step it is at, the guest is destroyed and then the claims released, so no GPU goes back to the
// pool while a guest this task made may still hold it.
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "conductor/conductor_impl.h"

namespace gpucloud::conductor {

using store::ServerStatus;

namespace {

const std::vector<ServerStatus> kRebuildable = {ServerStatus::kActive, ServerStatus::kShutoff,
                                                ServerStatus::kError};

}  // namespace

// The server shows ERROR with the fault at once; task_state stays "rebuilding" (a delete meanwhile
// still leaves the cleanup to this task) until the guest is destroyed and the claims released:
// no GPU stays held by an ERROR server, and without a host it cannot be rebuilt onto devices it
// no longer holds.
auto Conductor::Impl::rebuild_failed(store::LifecycleTask& t, const std::string& message) -> Next {
  spdlog::warn("rebuild of {} failed: {}", t.instance_uuid, message);
  if (!forget_call(t)) return retry_later(t);
  store::InstanceTransition tr;
  tr.from = kRebuildable;
  tr.from_task = "rebuilding";
  tr.status = ServerStatus::kError;
  tr.vm_state = "error";
  tr.power = store::PowerState::kNoState;
  tr.task_state = "rebuilding";
  tr.fault = store::InstanceFault{
      500, "Rebuild of instance " + t.instance_uuid + " failed: " + message, "", {}};
  if (auto s = store.transition_instance(t.instance_uuid, tr);
      !s.ok() && s.error().code != ErrorCode::kConflict) {
    return retry_later(t);
  }
  // kConflict: deleted meanwhile; the read at the next step sends the task to its undo.
  t.step = "fail_destroy";
  return Next::kContinue;
}

auto Conductor::Impl::step_rebuild(store::LifecycleTask& t) -> Next {
  const std::string host = t.host.value_or("");
  // Undo after a delete: the guest, then the claims.
  if (t.step == "undo_destroy") return destroy_guest(t, "undo_destroy_wait", "undo_release");
  if (t.step == "undo_destroy_wait") {
    auto a = take_answer(t);
    if (!a) return Next::kPark;
    if (a->state != store::AgentTaskState::kSucceeded) {
      spdlog::warn("undoing the rebuild of {}: destroy on {} failed: {}", t.instance_uuid, host,
                   a->message);
    }
    t.agent_task_id.reset();
    t.step = "undo_release";
    return Next::kContinue;
  }
  if (t.step == "undo_release") {
    if (auto s = store.release_claims(t.instance_uuid); !s.ok()) return retry_later(t);
    fleet.forget(host);
    start_cleaning(host);
    spdlog::info("rebuild of {} undone: the server was deleted while it was rebuilt",
                 t.instance_uuid);
    return Next::kDone;
  }

  auto inst = store.get_instance(t.instance_uuid);
  if (!inst.ok()) return inst.error().code == ErrorCode::kNotFound ? Next::kDone : retry_later(t);
  if (inst->status == ServerStatus::kDeleted) {
    if (!forget_call(t)) return retry_later(t);  // an answer still to come no longer matters
    t.step = "undo_destroy";
    return Next::kContinue;
  }

  if (t.step == "fail_destroy") return destroy_guest(t, "fail_destroy_wait", "fail_release");
  if (t.step == "fail_destroy_wait") {
    if (!take_answer(t)) return Next::kPark;
    t.agent_task_id.reset();
    t.step = "fail_release";
    return Next::kContinue;
  }
  if (t.step == "fail_release") {
    if (auto s = store.release_claims(t.instance_uuid); !s.ok()) return retry_later(t);
    fleet.forget(host);
    start_cleaning(host);
    store::InstanceTransition tr;
    tr.from = {ServerStatus::kError};
    tr.from_task = "rebuilding";
    tr.task_state = std::nullopt;
    tr.clear_host = true;
    if (auto s = store.transition_instance(t.instance_uuid, tr);
        !s.ok() && s.error().code != ErrorCode::kConflict) {
      return retry_later(t);
    }
    return Next::kDone;
  }
  if (t.step == "call") {  // begin_action's first step: the destroy
    return destroy_guest(t, "destroy_wait", "spawn");
  }
  if (t.step == "destroy_wait") {
    auto a = take_answer(t);
    if (!a) return Next::kPark;
    t.agent_task_id.reset();
    if (a->state != store::AgentTaskState::kSucceeded) {
      return rebuild_failed(t, "destroy on " + host + " failed: " + a->message);
    }
    t.step = "spawn";
    return Next::kContinue;
  }
  if (t.step == "spawn") {
    auto flavor = store.get_flavor(inst->flavor_id);
    if (!flavor.ok()) return rebuild_failed(t, "flavor " + inst->flavor_id + " is gone");
    auto image = store.get_image(inst->image_id);
    if (!image.ok()) {
      if (image.error().code != ErrorCode::kNotFound) return retry_later(t);
      return rebuild_failed(t, "image " + inst->image_id + " is gone");
    }
    store::PciDeviceFilter mine;
    mine.instance_uuid = inst->uuid;
    auto devices = store.list_pci_devices(mine);
    if (!devices.ok()) return retry_later(t);
    auto firewall = compute::guest_firewall(store, inst->uuid);
    if (!firewall.ok()) return retry_later(t);
    auto reserved = compute::reserved_guest_addresses(store, host);
    if (!reserved.ok()) return retry_later(t);
    if (is_local(host)) {
      (void)local->destroy(host, inst->uuid);  // a resumed step may find its own guest
      if (auto s = spawn_local(host, *inst, *flavor, *image, *devices, *firewall, *reserved);
          !s.ok()) {
        return rebuild_failed(t, s.error().message);
      }
      std::string ip;
      if (auto a = local->guest_address(host, inst->uuid); a.ok()) ip = *a;
      t.step = "finish";
      if (!ip.empty()) (void)store.set_system_metadata(inst->uuid, "rebuild_ip", ip);
      return Next::kContinue;
    }
    if (!agent_host_up(host)) return rebuild_failed(t, "compute host " + host + " is down");
    t.step = "spawn_wait";
    return call_agent(
        t, "spawn", compute::spawn_payload(*inst, *flavor, *image, *devices, *firewall, *reserved));
  }
  if (t.step == "spawn_wait") {
    auto a = take_answer(t);
    if (!a) return Next::kPark;
    t.agent_task_id.reset();
    if (a->state != store::AgentTaskState::kSucceeded) {
      return rebuild_failed(t, "spawn on " + host + " failed: " + a->message);
    }
    auto details = nlohmann::json::parse(a->result, nullptr, false);
    const std::string ip = details.is_object() ? details.value("ip_address", "") : "";
    if (!ip.empty()) (void)store.set_system_metadata(inst->uuid, "rebuild_ip", ip);
    t.step = "finish";
    return Next::kContinue;
  }
  if (t.step == "finish" || t.step == "stop_wait") {
    if (t.step == "finish" && inst->status == ServerStatus::kShutoff) {
      // nova powers a server that was stopped off again once it is rebuilt.
      if (is_local(host)) {
        (void)local->power_off(host, inst->uuid);
      } else if (agent_host_up(host)) {
        t.step = "stop_wait";
        return call_agent(t, "power_off", "{}");
      }
    }
    if (t.step == "stop_wait") {
      auto a = take_answer(t);
      if (!a) return Next::kPark;
      t.agent_task_id.reset();
    }
    auto ip = store.system_metadata(inst->uuid, "rebuild_ip");
    if (!ip.ok()) return retry_later(t);
    store::InstanceTransition tr;
    tr.from = kRebuildable;
    tr.from_task = "rebuilding";
    tr.task_state = std::nullopt;
    const bool stopped = inst->status == ServerStatus::kShutoff;
    tr.status = stopped ? ServerStatus::kShutoff : ServerStatus::kActive;
    tr.vm_state = stopped ? "stopped" : "active";
    tr.power = stopped ? store::PowerState::kShutdown : store::PowerState::kRunning;
    if (*ip) tr.ip_address = **ip;
    tr.stamp_launched = true;
    if (auto s = store.transition_instance(inst->uuid, tr); !s.ok()) {
      if (s.error().code != ErrorCode::kConflict) return retry_later(t);
      return Next::kContinue;  // deleted meanwhile: read again, and undo
    }
    (void)store.set_system_metadata(inst->uuid, "rebuild_ip", std::nullopt);
    return Next::kDone;
  }
  spdlog::error("conductor: rebuild of {} at unknown step '{}'", t.instance_uuid, t.step);
  return rebuild_failed(t, "internal error");
}

}  // namespace gpucloud::conductor

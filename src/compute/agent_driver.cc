// The server's compute driver for hosts served by agents. A call becomes an agent_tasks row in
// the database (the single source of truth: a server restart loses no task, and any server
// sharing the database sees the answer); the calling thread then polls the row until the agent
// answers or the timeout passes. Hosts of the in-process driver (`gpucloud up`'s fake hosts)
// are called directly.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "compute/compute.h"

namespace gpucloud::compute {
namespace {

class AgentDriver : public AgentTaskDriver {
 public:
  AgentDriver(store::Store& store, ComputeDriver* local, AgentDriverOptions options)
      : store_(store), local_(local), options_(options) {}

  void cancel_waits() override { cancelled_ = true; }

  std::string type() const override { return local_ ? local_->type() + "+agent" : "agent"; }

  Result<std::vector<HostResources>> hosts() override {
    if (!local_) return std::vector<HostResources>{};
    return local_->hosts();
  }

  Status spawn(const store::Instance& instance, const store::Flavor& flavor,
               const store::Image& image,
               const std::vector<store::PciDeviceRecord>& devices) override {
    const std::string host = instance.host.value_or("");
    if (is_local(host)) return local_->spawn(instance, flavor, image, devices);
    return call(host, "spawn", instance.uuid, spawn_payload(instance, flavor, image, devices));
  }
  Status destroy(const std::string& host, const std::string& uuid) override {
    if (is_local(host)) return local_->destroy(host, uuid);
    if (!host_is_up(host)) {
      // nova's local delete: the database forgets the server now; the agent finds the domain
      // an orphan when it comes back (and removes it when configured to repair).
      spdlog::warn("destroy of {}: host {} is down; deleting from the database only", uuid, host);
      return {};
    }
    return call(host, "destroy", uuid, "{}");
  }
  Status power_on(const std::string& host, const std::string& uuid) override {
    if (is_local(host)) return local_->power_on(host, uuid);
    return call_if_up(host, "power_on", uuid);
  }
  Status power_off(const std::string& host, const std::string& uuid) override {
    if (is_local(host)) return local_->power_off(host, uuid);
    return call_if_up(host, "power_off", uuid);
  }
  Status reboot(const std::string& host, const std::string& uuid, bool hard) override {
    if (is_local(host)) return local_->reboot(host, uuid, hard);
    return call_if_up(host, hard ? "reboot_hard" : "reboot", uuid);
  }
  // The address the agent sent with its answer to the guest's latest spawn (details
  // `ip_address`); "" when it sent none, which leaves readiness probes waiting.
  Result<std::string> guest_address(const std::string& host, const std::string& uuid) override {
    if (is_local(host)) return local_->guest_address(host, uuid);
    auto tasks = store_.list_agent_tasks(host);
    if (!tasks.ok()) return tasks.error();
    std::string ip;
    for (const auto& t : *tasks) {  // oldest first: the last spawn wins
      if (t.kind != "spawn" || t.instance_uuid != uuid) continue;
      if (t.state != store::AgentTaskState::kSucceeded) continue;
      auto details = nlohmann::json::parse(t.result, nullptr, false);
      ip = details.is_object() ? details.value("ip_address", "") : "";
    }
    return ip;
  }
  Result<std::vector<DomainInfo>> list_domains(const std::string& host) override {
    if (is_local(host)) return local_->list_domains(host);
    return Error::invalid("host " + host + " is served by an agent; its domains are in the " +
                          "agent's orphan report");
  }

 private:
  bool is_local(const std::string& host) {
    if (!local_) return false;
    auto hosts = local_->hosts();
    if (!hosts.ok()) return false;
    return std::any_of(hosts->begin(), hosts->end(),
                       [&](const HostResources& h) { return h.name == host; });
  }

  bool host_is_up(const std::string& host) {
    auto h = store_.get_compute_host(host);
    if (!h.ok() || h->forced_down || !h->heartbeat_at) return false;
    return std::chrono::system_clock::now() - *h->heartbeat_at < options_.service_down_time;
  }

  Status call_if_up(const std::string& host, const std::string& kind, const std::string& uuid) {
    if (!host_is_up(host)) {
      return Error::unavailable("Compute host " + host +
                                " is down: its agent has not reported "
                                "for longer than service_down_time");
    }
    return call(host, kind, uuid, "{}");
  }

  Status call(const std::string& host, const std::string& kind, const std::string& uuid,
              const std::string& payload) {
    if (host.empty()) return Error::invalid(kind + " of " + uuid + ": no host");
    store::AgentTask t;
    t.host = host;
    t.kind = kind;
    t.instance_uuid = uuid;
    t.payload = payload;
    auto created = store_.create_agent_task(t);
    if (!created.ok()) return created.error();
    const std::string id = created->id;
    const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
    for (;;) {
      auto now = store_.get_agent_task(id);
      if (now.ok()) {
        if (now->state == store::AgentTaskState::kSucceeded) return {};
        if (now->state == store::AgentTaskState::kFailed) {
          return Error::unavailable("host " + host + ": " + kind + " failed: " + now->message);
        }
      }
      if (cancelled_) {
        return Error::unavailable("the server is stopping; task " + id + " stays queued");
      }
      if (std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(options_.poll);
    }
    const std::string why =
        "the agent of host " + host + " did not answer " + kind + " within " +
        std::to_string(std::chrono::duration_cast<std::chrono::seconds>(options_.timeout).count()) +
        " s";
    // Failing the row keeps a late agent from running it; if the agent answered in between,
    // its answer stands.
    auto fin = store_.finish_agent_task(id, host, false, why, "{}");
    if (!fin.ok() && fin.error().code == ErrorCode::kConflict) {
      auto late = store_.get_agent_task(id);
      if (late.ok() && late->state == store::AgentTaskState::kSucceeded) return {};
      if (late.ok()) {
        return Error::unavailable("host " + host + ": " + kind + " failed: " + late->message);
      }
    }
    return Error::unavailable(why);
  }

  store::Store& store_;
  ComputeDriver* local_;
  AgentDriverOptions options_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

std::unique_ptr<AgentTaskDriver> make_agent_driver(store::Store& store, ComputeDriver* local,
                                                   AgentDriverOptions options) {
  return std::make_unique<AgentDriver>(store, local, options);
}

}  // namespace gpucloud::compute

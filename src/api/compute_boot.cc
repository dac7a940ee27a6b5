// Server boots in the background: read the cloud from the store, schedule with nova's filters,
// claim through the store (a lost race moves on to the next host), spawn through the compute
// driver, then allocate the devices and mark the server ACTIVE — or release everything and mark
// it ERROR with the scheduler's explanation as its fault.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "api/compute_impl.h"
#include "compute/compute.h"

namespace gpucloud::api {
namespace {

scheduler::PciDeviceStatus scheduler_status(store::PciDeviceStatus s) {
  switch (s) {
    case store::PciDeviceStatus::kAvailable:
      return scheduler::PciDeviceStatus::kAvailable;
    case store::PciDeviceStatus::kClaimed:
      return scheduler::PciDeviceStatus::kClaimed;
    case store::PciDeviceStatus::kAllocated:
      return scheduler::PciDeviceStatus::kAllocated;
    case store::PciDeviceStatus::kRemoved:
    case store::PciDeviceStatus::kDeleted:
      return scheduler::PciDeviceStatus::kRemoved;
    default:
      return scheduler::PciDeviceStatus::kUnavailable;
  }
}

// ComputeCapabilitiesFilter's keys: nested objects flattened with ':'.
void flatten(const json& j, const std::string& prefix,
             std::map<std::string, std::string, std::less<>>& out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string key = prefix.empty() ? it.key() : prefix + ":" + it.key();
    if (it->is_object()) {
      flatten(*it, key, out);
    } else if (it->is_string()) {
      out[key] = it->get<std::string>();
    } else {
      out[key] = it->dump();
    }
  }
}

// The store as the scheduler's Claimer: one transaction per try; kConflict is a lost race, and
// a quota refusal (kForbidden) ends scheduling with that reason, since no other host can help.
class StoreClaimer : public scheduler::Claimer {
 public:
  StoreClaimer(ApiContext& ctx, const store::Instance& instance, const scheduler::RequestSpec& spec)
      : ctx_(ctx), instance_(instance), spec_(spec) {}

  Result<scheduler::ClaimResult> claim(const scheduler::Placement& placement) override {
    store::ClaimRequest req;
    req.instance_uuid = instance_.uuid;
    req.project_id = instance_.project_id;
    req.host = placement.host;
    req.resources.vcpus = static_cast<int>(placement.resources.vcpus);
    req.resources.memory_mb = placement.resources.memory_mb;
    req.resources.disk_gb = placement.resources.disk_gb;
    for (const auto& pr : spec_.pci_requests) {
      store::DeviceRequest dr;
      dr.alias = pr.alias;
      dr.request_id = new_uuid();
      dr.count = pr.count;
      for (const auto& a : pr.specs)
        dr.matches.push_back({a.vendor_id, a.product_id, a.device_type});
      req.devices.push_back(std::move(dr));
    }
    auto r = ctx_.store().claim(req);
    if (r.ok()) return scheduler::ClaimResult::kClaimed;
    if (r.error().code == ErrorCode::kConflict) {
      ctx_.metrics.inc("gpucloud_claims_retried_total");
      spdlog::info("claim for {} on {} lost: {}", instance_.uuid, placement.host,
                   r.error().message);
      return scheduler::ClaimResult::kLostRace;
    }
    if (r.error().code == ErrorCode::kForbidden) refused_ = r.error();
    return r.error();
  }

  const std::optional<Error>& refused() const { return refused_; }

 private:
  ApiContext& ctx_;
  const store::Instance& instance_;
  const scheduler::RequestSpec& spec_;
  std::optional<Error> refused_;
};

}  // namespace

// The device as the alias matcher and the scheduler see it.
PciDevice to_device(const store::PciDeviceRecord& d) {
  PciDevice p;
  p.address = d.address;
  p.vendor_id = d.vendor_id;
  p.product_id = d.product_id;
  p.dev_type = d.dev_type;
  p.parent_addr = d.parent_addr;
  p.numa_node = d.numa_node;
  return p;
}

std::vector<std::string> driver_host_names(ApiContext& ctx) {
  std::vector<std::string> out;
  if (!ctx.deps.driver) return out;
  auto hosts = ctx.deps.driver->hosts();
  if (!hosts.ok()) return out;
  for (const auto& h : *hosts) out.push_back(h.name);
  return out;
}

bool host_up(const store::ComputeHost& host, const std::vector<std::string>& driver_hosts,
             std::chrono::seconds down_after) {
  if (host.forced_down) return false;
  if (std::find(driver_hosts.begin(), driver_hosts.end(), host.name) != driver_hosts.end()) {
    return true;
  }
  return host.heartbeat_at && std::chrono::system_clock::now() - *host.heartbeat_at < down_after;
}

Result<std::vector<scheduler::HostState>> load_host_states(
    store::Store& store, const std::vector<std::string>& driver_hosts,
    std::chrono::seconds down_after) {
  auto hosts = store.list_compute_hosts();
  if (!hosts.ok()) return hosts.error();
  auto aggs = store.list_aggregates();
  if (!aggs.ok()) return aggs.error();
  auto devices = store.list_pci_devices({});
  if (!devices.ok()) return devices.error();
  std::vector<scheduler::HostState> out;
  for (const auto& h : *hosts) {
    scheduler::HostState s;
    s.name = h.name;
    for (const auto& a : *aggs) {
      if (std::find(a.hosts.begin(), a.hosts.end(), h.name) == a.hosts.end()) continue;
      s.aggregates.push_back(a.name);
      for (const auto& [k, v] : a.metadata) s.aggregate_metadata[k].insert(v);
      if (a.availability_zone)
        s.aggregate_metadata["availability_zone"].insert(*a.availability_zone);
    }
    s.total = {h.vcpus - h.reserved_host_cpus, h.memory_mb - h.reserved_host_memory_mb,
               h.disk_gb - h.reserved_host_disk_mb / 1024};
    s.used = {h.vcpus_used, h.memory_mb_used, h.disk_gb_used};
    s.cpu_allocation_ratio = h.cpu_allocation_ratio;
    s.ram_allocation_ratio = h.ram_allocation_ratio;
    s.disk_allocation_ratio = h.disk_allocation_ratio;
    s.enabled = h.enabled;
    s.disabled_reason = h.disabled_reason;
    s.heartbeat_fresh = host_up(h, driver_hosts, down_after);
    // The agent writes its doctor summary starting with "fail" when passthrough is not ready.
    s.doctor_ok = h.doctor_status.rfind("fail", 0) != 0 && h.doctor_status.rfind("FAIL", 0) != 0;
    json caps = json::parse(h.capabilities_json, nullptr, false);
    if (caps.is_object()) flatten(caps, "", s.capabilities);
    s.capabilities["hypervisor_type"] = h.hypervisor_type;
    std::string arch = "x86_64";
    if (auto it = s.capabilities.find("cpu_info:arch"); it != s.capabilities.end())
      arch = it->second;
    std::string hv = h.hypervisor_type;
    for (auto& c : hv) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    s.supported_instances = {{arch, hv, "hvm"}};
    if (hv == "qemu") s.supported_instances.push_back({arch, "kvm", "hvm"});
    for (const auto& d : *devices) {
      if (d.compute_node_id != h.id || d.deleted != 0) continue;
      s.add_pci_device(to_device(d), scheduler_status(d.status));
    }
    out.push_back(std::move(s));
  }
  return out;
}

BootService::BootService(ApiContext& ctx, int workers) : ctx_(ctx) {
  for (int i = 0; i < std::max(1, workers); ++i) threads_.emplace_back([this] { run(); });
}

BootService::~BootService() { stop(); }

void BootService::enqueue(std::string instance_uuid) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(instance_uuid));
  }
  cv_.notify_one();
}

void BootService::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void BootService::run() {
  for (;;) {
    std::string uuid;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      uuid = std::move(queue_.front());
      queue_.pop_front();
    }
    try {
      boot(uuid);
    } catch (const std::exception& e) {
      spdlog::error("boot of {}: unexpected exception: {}", uuid, e.what());
      fail(uuid, "Build of instance " + uuid + " aborted: internal error", 500);
    }
  }
}

void BootService::fail(const std::string& uuid, const std::string& message, int code) {
  store::InstanceFault fault;
  fault.code = code;
  fault.message = message;
  fault.created_at = std::chrono::system_clock::now();
  auto inst = ctx_.store().get_instance(uuid);
  if (inst.ok() && inst->status == store::ServerStatus::kDeleted) return;
  (void)ctx_.store().release_claims(uuid);
  (void)ctx_.store().set_instance_fault(uuid, fault);
  (void)ctx_.store().set_instance_status(uuid, store::ServerStatus::kError, "error", std::nullopt,
                                         store::PowerState::kNoState);
}

void BootService::boot(const std::string& uuid) {
  store::Store& st = ctx_.store();
  auto inst = st.get_instance(uuid);
  if (!inst.ok() || inst->status != store::ServerStatus::kBuild) return;
  ctx_.metrics.inc("gpucloud_scheduling_attempts_total");
  compute::ComputeDriver* driver = ctx_.deps.driver;
  if (!driver) return fail(uuid, "No valid host was found. No compute driver is configured.", 500);
  auto flavor = st.get_flavor(inst->flavor_id);
  if (!flavor.ok()) return fail(uuid, "Flavor " + inst->flavor_id + " could not be found.", 404);
  auto image = st.get_image(inst->image_id);
  if (!image.ok()) return fail(uuid, "Image " + inst->image_id + " could not be found.", 404);
  auto cfg = compute_config(ctx_);
  auto spec = request_spec_for(*flavor, *image, inst->availability_zone, *cfg);
  if (!spec.ok()) return fail(uuid, spec.error().message, 400);
  const auto managed = driver_host_names(ctx_);
  auto hosts = load_host_states(st, managed, std::chrono::seconds(cfg->service_down_time));
  if (!hosts.ok()) return fail(uuid, "Build of instance aborted: " + hosts.error().message, 500);
  scheduler::SchedulerOptions opts = scheduler::options_from(*cfg);
  opts.default_availability_zone = kDefaultZone;
  auto sched = scheduler::Scheduler::create(opts);
  if (!sched.ok()) return fail(uuid, "Scheduler configuration: " + sched.error().message, 500);
  StoreClaimer claimer(ctx_, *inst, *spec);
  auto outcome = sched->schedule_and_claim(*hosts, *spec, claimer);
  if (claimer.refused()) {
    ctx_.metrics.inc("gpucloud_scheduling_failures_total");
    return fail(uuid, claimer.refused()->message, 403);
  }
  if (!outcome.ok() || outcome.claimed.empty()) {
    ctx_.metrics.inc("gpucloud_scheduling_failures_total");
    return fail(uuid, "No valid host was found. " + outcome.fault, 500);
  }
  const std::string host = outcome.claimed.front().host;
  (void)st.set_instance_host(uuid, host);
  auto now_inst = st.get_instance(uuid);
  if (!now_inst.ok() || now_inst->status == store::ServerStatus::kDeleted) {
    (void)st.release_claims(uuid);  // deleted while we scheduled
    return;
  }
  store::PciDeviceFilter mine;
  mine.instance_uuid = uuid;
  auto devices = st.list_pci_devices(mine);
  if (!devices.ok())
    return fail(uuid, "Build of instance aborted: " + devices.error().message, 500);
  if (auto s = driver->spawn(*now_inst, *flavor, *image, *devices); !s.ok()) {
    return fail(uuid, "Build of instance " + uuid + " aborted: " + s.error().message, 500);
  }
  if (auto s = st.allocate_claims(uuid); !s.ok()) {
    (void)driver->destroy(host, uuid);
    return fail(uuid, "Build of instance aborted: " + s.error().message, 500);
  }
  auto final_inst = st.get_instance(uuid);
  if (!final_inst.ok() || final_inst->status == store::ServerStatus::kDeleted) {
    (void)driver->destroy(host, uuid);
    (void)st.release_claims(uuid);
    return;
  }
  final_inst->status = store::ServerStatus::kActive;
  final_inst->vm_state = "active";
  final_inst->task_state = std::nullopt;
  final_inst->power_state = store::PowerState::kRunning;
  // The readiness probes need the guest's address; a driver that cannot tell yet leaves it
  // empty, and the server stays `waiting` rather than failing a guest that runs.
  if (auto ip = driver->guest_address(host, uuid); ip.ok()) {
    final_inst->ip_address = *ip;
  } else {
    spdlog::warn("address of {} on {}: {}", uuid, host, ip.error().message);
  }
  final_inst->launched_at = std::chrono::system_clock::now();
  final_inst->updated_at = *final_inst->launched_at;
  if (auto s = st.update_instance(*final_inst); !s.ok()) {
    spdlog::error("marking {} ACTIVE: {}", uuid, s.error().message);
  }
}

void add_compute_metrics(ApiContext& ctx) {
  ctx.metrics.describe("gpucloud_scheduling_attempts_total", "Server boots scheduled");
  ctx.metrics.describe("gpucloud_scheduling_failures_total",
                       "Server boots that found no valid host");
  ctx.metrics.describe("gpucloud_claims_retried_total",
                       "Claims lost to a concurrent boot (moved on to the next host)");
  ApiContext* c = &ctx;
  ctx.metrics.add_collector([c]() -> std::string {
    auto hosts = c->store().list_compute_hosts();
    auto devices = c->store().list_pci_devices({});
    if (!hosts.ok() || !devices.ok()) return "";
    auto cfg = compute_config(*c);
    std::map<int64_t, std::string> names;
    for (const auto& h : *hosts) names[h.id] = h.name;
    // (alias, host, state) -> count; every alias and host appears, zeros included.
    std::map<std::tuple<std::string, std::string, std::string>, int> per_host;
    std::map<std::pair<std::string, std::string>, int> per_alias;
    const char* states[] = {"free", "claimed", "allocated"};
    for (const auto& alias : cfg->aliases.names()) {
      for (const char* s : states) per_alias[{alias, s}] += 0;
    }
    for (const auto& d : *devices) {
      if (d.deleted != 0) continue;
      std::string state = d.status == store::PciDeviceStatus::kAvailable   ? "free"
                          : d.status == store::PciDeviceStatus::kClaimed   ? "claimed"
                          : d.status == store::PciDeviceStatus::kAllocated ? "allocated"
                                                                           : "";
      if (state.empty()) continue;
      for (const auto& alias : cfg->aliases.names()) {
        if (!cfg->aliases.matches(alias, to_device(d))) continue;
        for (const char* s : states) per_host[{alias, names[d.compute_node_id], s}] += 0;
        per_host[{alias, names[d.compute_node_id], state}] += 1;
        per_alias[{alias, state}] += 1;
      }
    }
    std::string out =
        "# HELP gpucloud_gpus GPUs per alias by state (free, claimed, allocated)\n"
        "# TYPE gpucloud_gpus gauge\n";
    for (const auto& [k, n] : per_alias) {
      out += fmt::format("gpucloud_gpus{} {}\n",
                         format_labels({{"alias", k.first}, {"state", k.second}}), n);
    }
    out +=
        "# HELP gpucloud_host_gpus GPUs per alias and host by state\n"
        "# TYPE gpucloud_host_gpus gauge\n";
    for (const auto& [k, n] : per_host) {
      out += fmt::format(
          "gpucloud_host_gpus{} {}\n",
          format_labels(
              {{"alias", std::get<0>(k)}, {"host", std::get<1>(k)}, {"state", std::get<2>(k)}}),
          n);
    }
    return out;
  });
}

}  // namespace gpucloud::api

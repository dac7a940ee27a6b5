// The compute gauges and counters on /metrics: GPUs per alias and host by state, per project
// (and its quota), and what the conductor did (scheduling attempts and failures, lost claim
// races, resumed tasks).
#include <fmt/format.h>

#include "api/compute_impl.h"
#include "compute/compute.h"

namespace gpucloud::api {

std::vector<std::string> driver_host_names(ApiContext& ctx) {
  return conductor::local_host_names(ctx.deps.driver);
}

void add_compute_metrics(ApiContext& ctx) {
  ApiContext* c = &ctx;
  ctx.metrics.add_collector([c]() -> std::string {
    if (!c->deps.conductor) return "";
    const conductor::Counters n = c->deps.conductor->counters();
    std::string out;
    const auto counter = [&out](const char* name, const char* help, long long v) {
      out += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n{0} {2}\n", name, help, v);
    };
    counter("gpucloud_scheduling_attempts_total", "Server boots scheduled", n.scheduling_attempts);
    counter("gpucloud_scheduling_failures_total", "Server boots that found no valid host",
            n.scheduling_failures);
    counter("gpucloud_claims_retried_total",
            "Claims lost to a concurrent boot (moved on to the next host)", n.claims_retried);
    counter("gpucloud_conductor_tasks_resumed_total",
            "Conductor tasks taken over after their owner's lease ran out", n.tasks_resumed);
    counter("gpucloud_conductor_boots_undone_total",
            "Boots that found their server deleted and undid their own work", n.boots_undone);
    out += fmt::format(
        "# HELP gpucloud_fleet_view_hosts Hosts in this replica's fleet view\n"
        "# TYPE gpucloud_fleet_view_hosts gauge\ngpucloud_fleet_view_hosts {}\n",
        n.fleet_hosts);
    return out;
  });
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
    const char* states[] = {"free", "claimed", "allocated", "cleaning", "unavailable"};
    for (const auto& alias : cfg->aliases.names()) {
      for (const char* s : states) per_alias[{alias, s}] += 0;
    }
    for (const auto& d : *devices) {
      if (d.deleted != 0) continue;
      std::string state = d.status == store::PciDeviceStatus::kAvailable     ? "free"
                          : d.status == store::PciDeviceStatus::kClaimed     ? "claimed"
                          : d.status == store::PciDeviceStatus::kAllocated   ? "allocated"
                          : d.status == store::PciDeviceStatus::kCleaning    ? "cleaning"
                          : d.status == store::PciDeviceStatus::kUnavailable ? "unavailable"
                                                                             : "";
      if (state.empty()) continue;
      for (const auto& alias : cfg->aliases.names()) {
        if (!cfg->aliases.matches(alias, conductor::to_device(d))) continue;
        for (const char* s : states) per_host[{alias, names[d.compute_node_id], s}] += 0;
        per_host[{alias, names[d.compute_node_id], state}] += 1;
        per_alias[{alias, state}] += 1;
      }
    }
    std::string out =
        "# HELP gpucloud_gpus GPUs per alias by state (free, claimed, allocated, cleaning, "
        "unavailable)\n"
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
  // Governance: what each project holds per model, and its quota.
  ctx.metrics.add_collector([c]() -> std::string {
    auto rows = project_gpu_usage(*c, "");
    if (!rows.ok()) return "";
    std::string out =
        "# HELP gpucloud_project_gpus GPUs per project and alias: in_use (its servers run on "
        "them), reserved (claimed for its boots)\n"
        "# TYPE gpucloud_project_gpus gauge\n";
    std::string quotas =
        "# HELP gpucloud_project_gpu_quota GPU quota per project and alias\n"
        "# TYPE gpucloud_project_gpu_quota gauge\n";
    for (const auto& r : *rows) {
      for (const auto& [state, n] : {std::pair{"in_use", r.in_use}, {"reserved", r.reserved}}) {
        out += fmt::format(
            "gpucloud_project_gpus{} {}\n",
            format_labels({{"project", r.project_id}, {"alias", r.alias}, {"state", state}}), n);
      }
      if (r.quota) {
        quotas +=
            fmt::format("gpucloud_project_gpu_quota{} {}\n",
                        format_labels({{"project", r.project_id}, {"alias", r.alias}}), *r.quota);
      }
    }
    return out + quotas;
  });
}

}  // namespace gpucloud::api

// Scheduler benchmark, side by side with nova (not a test). Builds a synthetic cloud (a quarter of
// the hosts with 8 GPUs, two per PCIe switch, four per NUMA node; zone / gpu / rack aggregates),
// schedules 10k requests (one in four a GPU request) with select + consume, and prints
// decisions/s and p50/p99. In the same run it times nova's own filters on the same cloud
// (bench/scheduler_nova.py, Debian python3-nova), checks that both pass the same hosts, and prints
// the ratio. Then it times multi-GPU decisions (2, 4 and 8 GPUs kept in one switch or NUMA node,
// preferred and gpucloud:topology=strict) beside the 1-GPU one on the same cloud.
//
//   bench_scheduler [--hosts 1000,10000] [--requests 10000] [--nova-requests 200,30]
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "scheduler/scheduler.h"

using namespace gpucloud;
using namespace gpucloud::scheduler;

namespace {

// The same formulas as make_cloud() in scheduler_nova.py.
std::vector<HostState> make_cloud(int n) {
  std::vector<HostState> hosts;
  hosts.reserve(n);
  for (int i = 0; i < n; ++i) {
    HostState h;
    char name[32];
    std::snprintf(name, sizeof name, "host%05d", i);
    h.name = name;
    bool gpu = i % 4 == 0;
    int rack = i / 40;
    h.aggregates = {"zone-az" + std::to_string(i % 3), gpu ? "GPU" : "nonGPU",
                    "rack-" + std::to_string(rack)};
    h.aggregate_metadata["availability_zone"].insert("az" + std::to_string(i % 3));
    h.aggregate_metadata["gpu"].insert(gpu ? "true" : "false");
    h.aggregate_metadata["rack"].insert(std::to_string(rack));
    h.total = {64, 262144, 4000};
    h.used = {(i * 7) % 48, ((i * 13) % 200) * 1024, (i * 11) % 3000};
    h.cpu_allocation_ratio = 4.0;
    h.enabled = i % 97 != 0;
    h.heartbeat_fresh = i % 89 != 0;
    h.supported_instances = {{"x86_64", "kvm", "hvm"}};
    if (gpu) {
      int allocated = (i / 4) % 5;
      for (int d = 0; d < 8; ++d) {
        PciDevice dev;
        dev.address = {0, static_cast<uint32_t>(0x80 + d), 0, 0};
        dev.vendor_id = VendorId::parse("10de").value();
        dev.product_id = ProductId::parse("11bf").value();
        dev.numa_node = d < 4 ? 0 : 1;
        char sw[16];
        std::snprintf(sw, sizeof sw, "0000:%02x:00.0", 0x70 + d / 2);
        h.add_pci_device(dev,
                         d < allocated ? PciDeviceStatus::kAllocated : PciDeviceStatus::kAvailable,
                         {"", sw});
      }
    }
    hosts.push_back(std::move(h));
  }
  return hosts;
}

RequestSpec make_request(int r, const AliasTable& aliases) {
  bool gpu = r % 4 == 0;
  FlavorSpec f{"bench", 4, 8192, 40, 0, 0, {{"gpu", gpu ? "true" : "false"}}};
  if (gpu) f.extra_specs["pci_passthrough:alias"] = "K2_Grid:1";
  return make_request_spec(f, {}, "az" + std::to_string(r % 3), 1, aliases).value();
}

// CPU time of this thread: the shared build machine runs other work, and preemption would
// otherwise dominate the tail. scheduler_nova.py measures the same way (time.thread_time()).
double thread_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct Stats {
  double per_s = 0, p50_ms = 0, p99_ms = 0;
};

Stats stats(std::vector<double> secs) {
  std::sort(secs.begin(), secs.end());
  double total = 0;
  for (double s : secs) total += s;
  return {secs.size() / total, secs[secs.size() / 2] * 1e3,
          secs[std::min(secs.size() - 1, secs.size() * 99 / 100)] * 1e3};
}

std::vector<int> parse_list(const char* s) {
  std::vector<int> out;
  for (const char* p = s; *p;) {
    out.push_back(std::atoi(p));
    const char* c = std::strchr(p, ',');
    if (!c) break;
    p = c + 1;
  }
  return out;
}

// Times `filters` (+ weighing, choosing and consuming) for `count` requests; also returns the
// number of hosts that passed the first `check` requests on the untouched cloud.
Stats run_ours(const std::vector<std::string>& filters, const std::vector<HostState>& cloud,
               int count, const AliasTable& aliases) {
  SchedulerOptions o;
  o.enabled_filters = filters;
  o.aliases = aliases;
  Scheduler sched = Scheduler::create(o).value();
  std::vector<HostState> hosts = cloud;
  std::unordered_map<std::string, size_t> position;
  for (size_t i = 0; i < hosts.size(); ++i) position[hosts[i].name] = i;
  // Built once, as a scheduler serving many requests keeps it (nova's HostManager keeps its host
  // states between requests too); kept in step after each consume, inside the timed part.
  double t_index = thread_seconds();
  HostIndex index(hosts);
  std::printf("    index of %zu hosts built in %.1f ms\n", hosts.size(),
              (thread_seconds() - t_index) * 1e3);
  std::vector<RequestSpec> requests;
  for (int r = 0; r < count; ++r) requests.push_back(make_request(r, aliases));
  std::vector<double> secs;
  secs.reserve(count);
  int placed = 0;
  for (int r = 0; r < count; ++r) {
    double t0 = thread_seconds();
    Selection sel = sched.select(hosts, index, requests[r], /*explain=*/false);
    if (sel.ok()) {
      const Placement& p = sel.candidates[0][0];
      size_t i = position[p.host];
      consume(hosts[i], p);
      index.update(i, hosts[i]);
      ++placed;
    }
    secs.push_back(thread_seconds() - t0);
  }
  std::printf("    placed %d of %d\n", placed, count);
  return stats(secs);
}

// Decisions only (select, no consume: the cloud stays as it is, so every request has the same
// hosts to choose from) with nova's 4 filters; `placed` counts those that found a host.
Stats time_selects(const std::vector<HostState>& cloud, const RequestSpec& req, int count,
                   const AliasTable& aliases, int& placed) {
  SchedulerOptions o;
  o.enabled_filters = {"AvailabilityZoneFilter", "ComputeFilter",
                       "AggregateInstanceExtraSpecsFilter", "PciPassthroughFilter"};
  o.aliases = aliases;
  Scheduler sched = Scheduler::create(o).value();
  HostIndex index(cloud);
  std::vector<double> secs;
  placed = 0;
  for (int r = 0; r < count; ++r) {
    double t0 = thread_seconds();
    Selection sel = sched.select(cloud, index, req, /*explain=*/false);
    secs.push_back(thread_seconds() - t0);
    placed += sel.ok();
  }
  return stats(secs);
}

// GPU requests of `gpus` K2s, preferred or strict topology.
Stats run_multi(const std::vector<HostState>& cloud, int gpus, bool strict, int count,
                const AliasTable& aliases, int& placed) {
  FlavorSpec f{"bench", 4, 8192, 40, 0, 0, {{"gpu", "true"}}};
  f.extra_specs["pci_passthrough:alias"] = "K2_Grid:" + std::to_string(gpus);
  if (strict) f.extra_specs["gpucloud:topology"] = "strict";
  return time_selects(cloud, make_request_spec(f, {}, "", 1, aliases).value(), count, aliases,
                      placed);
}

// A plain request with or without a guest network asked for (networks: [{uuid}]), every host on
// that network: what the network check adds to a decision.
Stats run_network(const std::vector<HostState>& cloud, bool with_network, int count,
                  const AliasTable& aliases, int& placed) {
  FlavorSpec f{"bench", 2, 4096, 40, 0, 0, {{"gpu", "false"}}};
  RequestSpec req = make_request_spec(f, {}, "", 1, aliases).value();
  if (with_network) req.network = "default";
  return time_selects(cloud, req, count, aliases, placed);
}

std::vector<int> passed_counts(const std::vector<HostState>& cloud, int check,
                               const AliasTable& aliases) {
  SchedulerOptions o;
  o.aliases = aliases;
  auto filters = FilterRegistry::builtin()
                     .create({"AvailabilityZoneFilter", "ComputeFilter",
                              "AggregateInstanceExtraSpecsFilter", "PciPassthroughFilter"},
                             o)
                     .value();
  std::vector<int> out;
  for (int r = 0; r < check; ++r) {
    RequestSpec req = make_request(r, aliases);
    int n = 0;
    for (const auto& h : cloud) {
      bool ok = true;
      for (const auto& f : filters) ok = ok && f->passes(h, req);
      n += ok;
    }
    out.push_back(n);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes = {1000, 10000};
  std::vector<int> nova_requests = {200, 30};
  int requests = 10000;
  const int check = 8;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--hosts")) sizes = parse_list(argv[i + 1]);
    if (!std::strcmp(argv[i], "--requests")) requests = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--nova-requests")) nova_requests = parse_list(argv[i + 1]);
  }
  AliasTable aliases;
  (void)aliases.add(
      PciAlias::parse(R"({"name":"K2_Grid","vendor_id":"10de","product_id":"11bf"})").value());
  const std::vector<std::string> nova4 = {"AvailabilityZoneFilter", "ComputeFilter",
                                          "AggregateInstanceExtraSpecsFilter",
                                          "PciPassthroughFilter"};
  const std::vector<std::string> seed = {
      "RetryFilter",          "AvailabilityZoneFilter",           "RamFilter",
      "ComputeFilter",        "ComputeCapabilitiesFilter",        "ImagePropertiesFilter",
      "PciPassthroughFilter", "AggregateInstanceExtraSpecsFilter"};
  for (size_t s = 0; s < sizes.size(); ++s) {
    int n = sizes[s];
    auto cloud = make_cloud(n);
    std::printf("== %d hosts (%d with 8 GPUs), %d requests (1 in 4 asks for a GPU)\n", n,
                (n + 3) / 4, requests);
    std::printf("  gpucloud, nova's 4 filters + weighers + consume:\n");
    Stats ours = run_ours(nova4, cloud, requests, aliases);
    std::printf("    %.0f decisions/s, p50 %.3f ms, p99 %.3f ms\n", ours.per_s, ours.p50_ms,
                ours.p99_ms);
    std::printf("  gpucloud, the seed's 8 filters + weighers + consume:\n");
    Stats full = run_ours(seed, cloud, requests, aliases);
    std::printf("    %.0f decisions/s, p50 %.3f ms, p99 %.3f ms\n", full.per_s, full.p50_ms,
                full.p99_ms);

    int nr = s < nova_requests.size() ? nova_requests[s] : nova_requests.back();
    std::string cmd = "/usr/bin/python3 " + std::string(GPUCLOUD_BENCH_DIR) +
                      "/scheduler_nova.py " + std::to_string(n) + " " + std::to_string(nr) + " " +
                      std::to_string(check);
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    size_t got;
    while (p && (got = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, got);
    if (!p || pclose(p) != 0) {
      std::printf("  nova: could not run `%s` (is python3-nova installed?)\n", cmd.c_str());
      continue;
    }
    auto j = nlohmann::json::parse(out.substr(out.rfind('{')));
    double nova_per_s = j["decisions_per_s"];
    std::printf("  nova %s (python3-nova), the same 4 filters, filtering only, %d requests:\n",
                j["nova"].get<std::string>().c_str(), nr);
    std::printf("    %.1f decisions/s, p50 %.3f ms, p99 %.3f ms\n", nova_per_s,
                j["p50_ms"].get<double>(), j["p99_ms"].get<double>());
    auto ours_passed = passed_counts(cloud, check, aliases);
    bool agree = j["passed"].get<std::vector<int>>() == ours_passed;
    std::printf("  agreement on the first %d requests (hosts passed): %s\n", check,
                agree ? "same" : "DIFFERENT");
    if (!agree) {
      std::printf("    nova %s, gpucloud %s\n", j["passed"].dump().c_str(),
                  nlohmann::json(ours_passed).dump().c_str());
    }
    std::printf("  ratio gpucloud/nova (decisions/s, 4 filters): %.0fx\n\n",
                ours.per_s / nova_per_s);
  }
  // A requested network at the largest size, every host on it (the check keeps them all).
  {
    const int big = sizes.back();
    auto hosts = make_cloud(big);
    for (auto& h : hosts) h.capabilities["guest_network:name"] = "default";
    std::printf("== a requested guest network at %d hosts (select only, %d each)\n", big, 2000);
    for (bool with_network : {false, true}) {
      int placed = 0;
      Stats st = run_network(hosts, with_network, 2000, aliases, placed);
      std::printf("  %s: %.0f decisions/s, p50 %.3f ms, p99 %.3f ms (%s)\n",
                  with_network ? "networks: [{uuid}]" : "no network       ", st.per_s, st.p50_ms,
                  st.p99_ms, placed == 2000 ? "placed" : "NOT ALL PLACED");
    }
  }
  // Multi-GPU placement at the first size (1,000 hosts by default): the same decision with the
  // devices kept together, beside the 1-GPU one.
  const int n = sizes.front();
  auto cloud = make_cloud(n);
  std::printf("== multi-GPU decisions at %d hosts (select only, %d each)\n", n, 2000);
  for (int gpus : {1, 2, 4, 8}) {
    for (bool strict : {false, true}) {
      if (gpus == 1 && strict) continue;
      int placed = 0;
      Stats st = run_multi(cloud, gpus, strict, 2000, aliases, placed);
      std::printf("  %d GPU%s%s: %.0f decisions/s, p50 %.3f ms, p99 %.3f ms (%s)\n", gpus,
                  gpus > 1 ? "s" : "", strict ? ", strict" : (gpus > 1 ? ", preferred" : ""),
                  st.per_s, st.p50_ms, st.p99_ms, placed ? "placed" : "no host");
    }
  }
  return 0;
}

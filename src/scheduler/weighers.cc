// Weighers: RAMWeigher (spread by free RAM), PCIWeigher (keep PCI hosts free) and the server
// group soft policies' ServerGroupSoftAffinityWeigher / ServerGroupSoftAntiAffinityWeigher,
// weighed the way nova's weights.py does it.
#include <algorithm>
#include <cstdlib>

#include "scheduler/host_index.h"
#include "scheduler/scheduler_impl.h"

namespace gpucloud::scheduler {
namespace {

// nova's PCIWeigher.MAX_DEVS.
constexpr int kMaxPciDevs = 100;

// nova (scheduler/utils.py get_weight_multiplier): an aggregate's metadata key of the same name
// overrides the configured multiplier; with several values the smallest wins; a value that is
// not a number is ignored (nova logs a warning and uses the configured one).
double multiplier(const HostState& host, std::string_view key, double configured) {
  auto it = host.aggregate_metadata.find(key);
  if (it == host.aggregate_metadata.end() || it->second.empty()) return configured;
  double best = 0;
  bool first = true;
  for (const auto& v : it->second) {
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    if (end == v.c_str() || *end != '\0') return configured;
    best = first ? d : std::min(best, d);
    first = false;
  }
  return best;
}

struct WeigherDef {
  const char* name;
  std::string_view multiplier_key;
  double SchedulerOptions::*configured;
  std::optional<double> minval;
  double (*raw)(const HostView& hosts, size_t i, const RequestSpec& request);
  // A server group weigher weighs (and shows in explanations) only for its group policy.
  const char* group_policy = nullptr;
};

// RAMWeigher: more free RAM wins (spreading); clamped at 0, which is also the normalization floor.
double ram_raw(const HostView& hosts, size_t i, const RequestSpec&) {
  return static_cast<double>(std::max<int64_t>(0, hosts.index().numbers[i].free_ram_mb));
}

// PCIWeigher: fewer free PCI devices wins, whatever the request. For a GPU request (only GPU
// hosts pass) that stacks GPUs onto the fullest GPU host; for any other request hosts without
// PCI devices weigh most, so GPU hosts stay free for GPU requests.
double pci_raw(const HostView& hosts, size_t i, const RequestSpec&) {
  const int64_t free = hosts.index().numbers[i].free_pci;
  return static_cast<double>(kMaxPciDevs - std::min<int64_t>(free, kMaxPciDevs - 1));
}

// The request's server group's servers on the host.
double group_servers(const HostView& hosts, size_t i, const RequestSpec& request) {
  auto it = request.group->hosts.find(hosts[i].name);
  return it == request.group->hosts.end() ? 0 : it->second;
}

// ServerGroupSoftAffinityWeigher: more of the group's servers wins (stacking them).
double soft_affinity_raw(const HostView& hosts, size_t i, const RequestSpec& request) {
  return group_servers(hosts, i, request);
}

// ServerGroupSoftAntiAffinityWeigher: fewer of the group's servers wins (spreading them).
double soft_anti_affinity_raw(const HostView& hosts, size_t i, const RequestSpec& request) {
  return -group_servers(hosts, i, request);
}

const WeigherDef kWeighers[] = {
    {"RAMWeigher", "ram_weight_multiplier", &SchedulerOptions::ram_weight_multiplier, 0.0, ram_raw},
    {"PCIWeigher", "pci_weight_multiplier", &SchedulerOptions::pci_weight_multiplier, std::nullopt,
     pci_raw},
    {"ServerGroupSoftAffinityWeigher", "soft_affinity_weight_multiplier",
     &SchedulerOptions::soft_affinity_weight_multiplier, std::nullopt, soft_affinity_raw,
     "soft-affinity"},
    {"ServerGroupSoftAntiAffinityWeigher", "soft_anti_affinity_weight_multiplier",
     &SchedulerOptions::soft_anti_affinity_weight_multiplier, std::nullopt, soft_anti_affinity_raw,
     "soft-anti-affinity"},
};

}  // namespace

std::vector<double> weigh_hosts(const HostView& hosts, const std::vector<size_t>& passed,
                                const RequestSpec& request, const SchedulerOptions& options,
                                std::vector<std::vector<std::pair<std::string, double>>>* scores) {
  const HostIndex::Data& index = hosts.index();
  std::vector<double> total(passed.size(), 0.0);
  if (scores) scores->assign(passed.size(), {});
  // nova does not weigh a single host at all: its weight stays 0.
  if (passed.size() <= 1) return total;
  std::vector<double> raw(passed.size());
  for (const auto& w : kWeighers) {
    if (std::find(options.weighers.begin(), options.weighers.end(), w.name) ==
        options.weighers.end())
      continue;
    if (w.group_policy && !(request.group && request.group->policy == w.group_policy)) continue;
    for (size_t k = 0; k < passed.size(); ++k) raw[k] = w.raw(hosts, passed[k], request);
    double lo = w.minval ? *w.minval : *std::min_element(raw.begin(), raw.end());
    double hi = *std::max_element(raw.begin(), raw.end());
    const double configured = options.*(w.configured);
    const uint32_t key = index.key_id(w.multiplier_key);
    for (size_t k = 0; k < passed.size(); ++k) {
      // nova's normalize(): every value equal -> all 0.
      double normalized = hi == lo ? 0.0 : (raw[k] - lo) / (hi - lo);
      // Only hosts whose aggregates set the key can differ from the configured multiplier.
      double m = key != HostIndex::Data::kNone && index.keys[key].holders.test(passed[k])
                     ? multiplier(hosts[passed[k]], w.multiplier_key, configured)
                     : configured;
      double score = m * normalized;
      total[k] += score;
      if (scores) (*scores)[k].emplace_back(w.name, score);
    }
  }
  return total;
}

}  // namespace gpucloud::scheduler

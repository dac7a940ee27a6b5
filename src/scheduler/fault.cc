// The fault message an instance gets when no host fits: which PCI devices were missing where, and
// which hosts each filter excluded and why, e.g.
//   no host has 1 free K2_Grid (10de:11bf): vmhost3 has 0 of 2 free; vmhost1, vmhost2 excluded
//   by AggregateInstanceExtraSpecsFilter (gpu=true, host has gpu=false)
// A host counts against the first filter that refused it, in enabled_filters order, except that
// PciPassthroughFilter only counts when it is the host's sole refusal: "vmhost1 has 0 of 0 free"
// says nothing useful about a host that the aggregates keep away from GPU flavors anyway, while
// "vmhost3 has 0 of 2 free" is exactly why a GPU host that fits otherwise was refused.
#include <algorithm>

#include "scheduler/host_index.h"
#include "scheduler/scheduler_impl.h"

namespace gpucloud::scheduler {

namespace {
const std::string kPciFilter = "PciPassthroughFilter";
}  // namespace

std::optional<FilterVerdict> pinned_out(const HostState& host, const RequestSpec& request) {
  if (!request.requested_host.empty() && host.name != request.requested_host) {
    return FilterVerdict{"RequestedHost",
                         Verdict::fail("host " + request.requested_host + " was requested")};
  }
  if (!request.network.empty()) {
    auto it = host.capabilities.find("guest_network:name");
    if (it == host.capabilities.end() || it->second != request.network) {
      return FilterVerdict{
          "RequestedNetwork",
          Verdict::fail(
              "network '" + request.network + "' was requested; the host's guests get " +
              (it == host.capabilities.end() ? "no known network" : "'" + it->second + "'"))};
    }
  }
  return std::nullopt;
}

std::vector<HostReport> refusal_reports(const std::vector<std::shared_ptr<const Filter>>& filters,
                                        const HostView& hosts, const RequestSpec& request) {
  std::vector<HostBits> passes;
  for (const auto& f : filters) {
    passes.emplace_back(hosts.size(), true);
    f->narrow(hosts, request, passes.back());
  }
  std::vector<HostReport> reports;
  reports.reserve(hosts.size());
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (auto out = pinned_out(hosts[i], request)) {
      reports.push_back({hosts[i].name, false, {std::move(*out)}, std::nullopt, {}});
      continue;
    }
    const Filter* first = nullptr;
    const Filter* pci = nullptr;
    for (size_t k = 0; k < filters.size() && first == nullptr; ++k) {
      if (passes[k].test(i)) continue;
      if (filters[k]->name() != kPciFilter) {
        first = filters[k].get();
      } else if (pci == nullptr) {
        pci = filters[k].get();
      }
    }
    const HostState& host = hosts[i];
    HostReport r{host.name, first == nullptr && pci == nullptr, {}, std::nullopt, {}};
    if (const Filter* named = first != nullptr ? first : pci) {
      r.filters.push_back({named->name(), named->filter(host, request)});
    }
    reports.push_back(std::move(r));
  }
  return reports;
}

std::string summarize_fault(const std::vector<HostReport>& reports,
                            const std::vector<const HostState*>& hosts, const RequestSpec& request,
                            int instance_index) {
  std::string prefix;
  if (request.num_instances > 1) {
    prefix = "instance " + std::to_string(instance_index + 1) + " of " +
             std::to_string(request.num_instances) + ": ";
  }
  if (reports.empty()) return prefix + "no valid host: there are no compute hosts";

  std::string headline;
  std::vector<std::string> pci_parts;
  // (filter, reason) -> hosts, in order of first appearance.
  std::vector<std::pair<std::pair<std::string, std::string>, std::vector<std::string>>> groups;
  for (size_t i = 0; i < reports.size(); ++i) {
    const FilterVerdict* first = nullptr;
    const FilterVerdict* pci = nullptr;
    for (const auto& fv : reports[i].filters) {
      if (fv.verdict.passed) continue;
      if (fv.filter == kPciFilter) {
        if (pci == nullptr) pci = &fv;
      } else if (first == nullptr) {
        first = &fv;
      }
    }
    if (first == nullptr) first = pci;
    if (first == nullptr) continue;
    if (first == pci) {
      const PciRequest* missing = nullptr;
      int largest = 0;
      if (!fit_pci_requests(*hosts[i], request, &missing, &largest) && missing != nullptr) {
        if (headline.empty()) headline = "no host has " + missing->describe("free");
        auto [free, total] = count_matching_devices(*hosts[i], *missing);
        std::string part = reports[i].host + " has " + std::to_string(free) + " of " +
                           std::to_string(total) + " free";
        if (largest > 0 || (request.topology_strict && free >= missing->count)) {
          part += " but at most " + std::to_string(largest) +
                  " in one NVLink partition, PCIe switch or NUMA node (gpucloud:topology=strict)";
        } else if (free >= missing->count) {
          part += " (none on the guest's NUMA node)";
        }
        pci_parts.push_back(std::move(part));
        continue;
      }
    }
    auto key = std::make_pair(first->filter, first->verdict.reason);
    auto it =
        std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == key; });
    if (it == groups.end()) {
      groups.push_back({key, {}});
      it = std::prev(groups.end());
    }
    it->second.push_back(reports[i].host);
  }
  if (headline.empty()) {
    headline = "no valid host for flavor '" + request.flavor.name + "'";
  }
  std::string parts;
  for (auto& p : pci_parts) parts += (parts.empty() ? "" : "; ") + p;
  for (const auto& [key, names] : groups) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    std::string part = list + " excluded by " + key.first;
    if (!key.second.empty()) part += " (" + key.second + ")";
    parts += (parts.empty() ? "" : "; ") + part;
  }
  return prefix + headline + (parts.empty() ? "" : ": " + parts);
}

}  // namespace gpucloud::scheduler

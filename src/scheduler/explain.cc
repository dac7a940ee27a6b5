// `gpucloud scheduler explain` output: every host with every filter's verdict and reason, the
// weights of the hosts that passed, the chosen hosts or the fault. Formats: docs/scheduler.md.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "scheduler/scheduler.h"

namespace gpucloud::scheduler {
namespace {

std::string fixed(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

}  // namespace

std::string explain_text(const Scheduler& scheduler, const Scenario& scenario,
                         const Selection& selection) {
  const RequestSpec& r = scenario.request;
  std::string out;
  out += "request: flavor '" + r.flavor.name + "' (" + std::to_string(r.flavor.vcpus) + " vCPU, " +
         std::to_string(r.flavor.memory_mb) + " MB RAM, " + std::to_string(r.requested().disk_gb) +
         " GB disk), " + std::to_string(r.num_instances) + " instance(s), availability zone " +
         (r.availability_zone.empty() ? "any" : "'" + r.availability_zone + "'") + "\n";
  if (!r.flavor.extra_specs.empty()) {
    std::vector<std::string> specs;
    for (const auto& [k, v] : r.flavor.extra_specs) specs.push_back(k + "=" + v);
    out += "  extra specs: " + join(specs, ", ") + "\n";
  }
  for (const auto& p : r.pci_requests) {
    out +=
        std::string("  PCI: ") + p.describe() + ", numa_policy " + to_string(p.numa_policy) + "\n";
  }
  out += "filters: " + join(scheduler.filter_names(), ", ") + "\n";
  if (!selection.request_error.empty()) {
    out += "\nrequest refused before filtering: " + selection.request_error + "\n";
    return out;
  }

  size_t width = 0;
  for (const auto& n : scheduler.filter_names()) width = std::max(width, n.size());
  for (const auto& h : selection.hosts) {
    out += "\n" + h.host + ": ";
    if (h.passed) {
      out += "passed, weight " + fixed(h.weight.value_or(0));
      std::vector<std::string> parts;
      for (const auto& [w, s] : h.weigher_scores) parts.push_back(w + " " + fixed(s));
      if (!parts.empty()) out += " (" + join(parts, ", ") + ")";
      if (parts.empty()) out += " (the only host that passed: nova does not weigh it)";
      out += "\n";
    } else {
      out += "excluded\n";
    }
    for (const auto& fv : h.filters) {
      std::string name = fv.filter;
      name.resize(width, ' ');
      out +=
          "  " + name + "  " + (fv.verdict.passed ? "pass" : "FAIL  " + fv.verdict.reason) + "\n";
    }
  }
  out += "\n";
  if (selection.ok()) {
    out += "selected: " + join(selection.selected(), ", ") + "\n";
  } else {
    auto chosen = selection.selected();
    if (!chosen.empty()) out += "selected: " + join(chosen, ", ") + "\n";
    out += "no valid host: " + selection.fault + "\n";
  }
  return out;
}

std::string explain_json(const Scheduler& scheduler, const Scenario&, const Selection& selection) {
  using nlohmann::json;
  json hosts = json::array();
  for (const auto& h : selection.hosts) {
    json filters = json::array();
    for (const auto& fv : h.filters) {
      filters.push_back({{"name", fv.filter},
                         {"passed", fv.verdict.passed},
                         {"reason", fv.verdict.passed ? json(nullptr) : json(fv.verdict.reason)}});
    }
    json weighers = json::object();
    for (const auto& [w, s] : h.weigher_scores) weighers[w] = s;
    hosts.push_back({{"name", h.host},
                     {"passed", h.passed},
                     {"filters", filters},
                     {"weight", h.weight ? json(*h.weight) : json(nullptr)},
                     {"weighers", weighers}});
  }
  json candidates = json::array();
  for (const auto& c : selection.candidates) {
    json names = json::array();
    for (const auto& p : c) names.push_back(p.host);
    candidates.push_back(names);
  }
  json out = {{"filters", scheduler.filter_names()},
              {"hosts", hosts},
              {"selected", selection.selected()},
              {"candidates", candidates},
              {"fault", selection.ok() ? json(nullptr) : json(selection.fault)},
              {"request_error",
               selection.request_error.empty() ? json(nullptr) : json(selection.request_error)}};
  return out.dump(2) + "\n";
}

}  // namespace gpucloud::scheduler
